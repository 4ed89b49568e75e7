"""The embedded broker's data dir: its cluster id and an exclusive lock.

Layout: ``server.properties`` (rewritten at each start), ``cluster.id``, ``logs/`` (Kafka's
``log.dirs``, formatted once), ``broker.log`` (the JVM's output) and ``.catmatch.lock``.
"""

from __future__ import annotations

import base64
import fcntl
import os
import uuid
from pathlib import Path
from typing import IO

from transport.errors import BrokerError

CLUSTER_ID_FILE = "cluster.id"
LOCK_NAME = ".catmatch.lock"


def new_cluster_id() -> str:
    """A random Kafka cluster id: a UUID as 22 URL-safe base64 characters (like Kafka's)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):  # Kafka's Uuid avoids ids that look like options
            return text


def read_meta_properties(log_dir: Path) -> dict[str, str]:
    """``meta.properties`` of a formatted log dir (empty when not formatted)."""
    path = log_dir / "meta.properties"
    if not path.is_file():
        return {}
    props = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            props[key.strip()] = value.strip()
    return props


def cluster_id_for(data_dir: Path, log_dir: Path, wanted: str | None = None) -> str:
    """The cluster id of ``data_dir``: the formatted one, the saved one, or a new saved one.

    ``wanted`` (a cluster's shared id) wins over a saved one, but not over a formatted one.

    Raises:
        BrokerError: ``log_dir`` is formatted with another id than ``wanted``.
    """
    formatted = read_meta_properties(log_dir).get("cluster.id")
    path = data_dir / CLUSTER_ID_FILE
    if formatted and wanted and formatted != wanted:
        raise BrokerError(
            f"{log_dir} belongs to cluster {formatted}, not {wanted}: "
            "use another data dir (or delete this one)"
        )
    if formatted:
        cluster_id = formatted
    elif wanted:
        cluster_id = wanted
    elif path.is_file() and path.read_text().strip():
        cluster_id = path.read_text().strip()
    else:
        cluster_id = new_cluster_id()
    path.write_text(cluster_id + "\n")
    return cluster_id


def lock_data_dir(data_dir: Path) -> IO[str]:
    """Lock ``data_dir`` for this process; close the returned file to release it.

    Two brokers on one data dir corrupt its metadata log before Kafka notices, so a second
    start is refused here, before any JVM runs.

    Raises:
        BrokerError: another process holds the lock.
    """
    lock = open(data_dir / LOCK_NAME, "a+")  # noqa: SIM115 - the caller closes it
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        owner = lock.read().strip() or "?"
        lock.close()
        raise BrokerError(
            f"{data_dir} is in use by another broker (process {owner}): "
            "stop it or use another --data-dir"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock
