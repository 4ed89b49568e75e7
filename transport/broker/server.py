"""A single-node Apache Kafka (KRaft, broker + controller in one JVM) as a child process.

Used by ``catmatch broker``, the test fixtures, the demo and the end-to-end scripts::

    with EmbeddedKafka(settings.broker, data_dir=tmp, port=0, controller_port=0) as kafka:
        print(kafka.bootstrap_servers)

The data dir keeps ``server.properties``, the cluster id, the Kafka log dir (``logs/``) and
the JVM's output (``broker.log``); starting again with the same data dir keeps the topics
and their messages. :class:`~transport.broker.cluster.EmbeddedKafkaCluster` runs several
of them as one cluster (``node_id``, ``quorum_voters``, ``cluster_id``, replication).
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import signal
import subprocess
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from core.services import Service
from core.settings import BrokerSettings, KafkaSettings
from transport.admin import wait_for_broker
from transport.broker import config, datadir, jars
from transport.broker.security import (
    BrokerSecurity,
    SecurityMode,
    check_mode,
    listener_overrides,
    prepare_security,
    record_mode,
    security_dir,
)
from transport.errors import BrokerError

log = logging.getLogger(__name__)

FORMAT_TIMEOUT_S = 120.0
_STACK_FRAME = re.compile(r"\s+(at |\.\.\. \d+ more)")


class EmbeddedKafka(Service):
    """One Kafka broker JVM on loopback, started and stopped by this process.

    Args:
        broker: the ``broker`` settings section (jars dir, version, heap, defaults).
        data_dir: overrides ``broker.data_dir``.
        host: overrides ``broker.host``; listeners bind only there.
        port: client port; 0 picks a free one at each start.
        controller_port: KRaft controller port; 0 picks a free one at each start.
        num_partitions: the broker's default partition count (``broker.partitions``).
        properties: extra ``server.properties`` entries (win over the defaults).
        die_with_parent: on Linux, the JVM gets SIGTERM if the thread that started it dies
            (so a killed test run leaves no broker behind).
        node_id: Kafka's ``node.id``.
        quorum_voters: the static controller quorum of a cluster (``id@host:port,...``);
            None: this node is its own single-voter quorum (formatted ``--standalone``).
        cluster_id: the cluster id to format with (all nodes of a cluster share one);
            None: the data dir's own (see :func:`datadir.cluster_id_for`).
        replication_factor: of new topics and of the internal topics.
        min_insync_replicas: ``min.insync.replicas`` (also of the transaction state log).
        security: ``sasl_ssl`` or ``sasl_plaintext`` (material made in
            ``<data_dir>/security`` at the first start), a prepared
            :class:`~transport.broker.security.BrokerSecurity` (a cluster's nodes share
            one), or ``"none"``; default ``broker.security``. See
            :mod:`transport.broker.security`.
    """

    def __init__(
        self,
        broker: BrokerSettings | None = None,
        *,
        data_dir: str | Path | None = None,
        host: str | None = None,
        port: int | None = None,
        controller_port: int | None = None,
        num_partitions: int | None = None,
        properties: Mapping[str, object] | None = None,
        die_with_parent: bool = True,
        node_id: int = config.NODE_ID,
        quorum_voters: str | None = None,
        cluster_id: str | None = None,
        replication_factor: int = 1,
        min_insync_replicas: int = 1,
        security: SecurityMode | BrokerSecurity | str | None = None,
    ) -> None:
        self.settings = broker or BrokerSettings()
        self.data_dir = Path(data_dir if data_dir is not None else self.settings.data_dir)
        self.host = host or self.settings.host
        self._want_port = self.settings.port if port is None else port
        self._want_controller_port = (
            self.settings.controller_port if controller_port is None else controller_port
        )
        self.num_partitions = num_partitions or self.settings.partitions
        self.properties = dict(properties or {})
        self.die_with_parent = die_with_parent
        self.node_id = node_id
        self.quorum_voters = quorum_voters
        self.replication_factor = replication_factor
        self.min_insync_replicas = min_insync_replicas
        self._want_cluster_id = cluster_id
        wanted = self.settings.security if security is None else security
        self._want_security = None if wanted == "none" else wanted
        self.security: BrokerSecurity | None = (
            wanted if isinstance(wanted, BrokerSecurity) else None
        )
        self.port: int | None = None
        self.controller_port: int | None = None
        self.cluster_id: str | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None
        self._lock_file: IO[str] | None = None

    @property
    def log_dir(self) -> Path:
        """Kafka's ``log.dirs`` (the message data)."""
        return self.data_dir / "logs"

    @property
    def log_path(self) -> Path:
        """The JVM's stdout/stderr."""
        return self.data_dir / "broker.log"

    @property
    def properties_path(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` for clients; only valid once started."""
        if self.port is None:
            raise RuntimeError("the broker has not been started")
        return f"{self.host}:{self.port}"

    @property
    def security_mode(self) -> str:
        """``none``, ``sasl_plaintext`` or ``sasl_ssl``."""
        wanted = self._want_security
        if isinstance(wanted, BrokerSecurity):
            return wanted.mode
        return wanted or "none"

    def client_config(self) -> dict[str, Any]:
        """librdkafka connection settings for this broker, as the super user when secured."""
        if self.security is None:
            return {"bootstrap.servers": self.bootstrap_servers}
        return self.security.client_config(self.bootstrap_servers)

    def kafka_settings(self, username: str | None = None, password: str | None = None
                       ) -> KafkaSettings:
        """The ``kafka`` settings section for clients of this broker: the super user by
        default, or ``username`` with ``password`` (a secured broker only)."""
        if self.security is None:
            if username is not None:
                raise ValueError("a broker without security has no users")
            return KafkaSettings(bootstrap_servers=self.bootstrap_servers)
        if username is None:
            return self.security.kafka_settings(self.bootstrap_servers)
        return self.security.kafka_settings(self.bootstrap_servers, username, password)

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 90.0) -> EmbeddedKafka:
        """Resolve the jars if needed, format the data dir once, start, wait until ready.

        Args:
            timeout: seconds for the broker to answer after the JVM starts (jar resolution
                and formatting have their own limits).

        Raises:
            BrokerError: missing Java/Maven, a port in use, or the broker failed to start
                (the message ends with the last lines of ``broker.log``).
        """
        self.launch()
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def launch(self) -> EmbeddedKafka:
        """:meth:`start` without waiting: the JVM runs but may not answer yet.

        A node of a multi-node cluster answers only once a quorum of controllers runs, so
        the cluster launches every node first and then waits (:meth:`wait_ready`).
        """
        if self.is_running:
            raise RuntimeError(f"the broker is already running (pid {self.pid})")
        java = jars.check_tools(need_mvn=not jars.is_resolved(self.settings))
        libs = jars.ensure_jars(self.settings)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = datadir.lock_data_dir(self.data_dir)
        try:
            check_mode(self.data_dir, self.log_dir, self.security_mode)
            self._prepare_security()
            self._pick_ports()
            self._prepare_and_launch(java, libs)
        except BaseException:
            self.stop()
            raise
        atexit.register(self.stop)
        return self

    def _prepare_security(self) -> None:
        wanted = self._want_security
        if isinstance(wanted, BrokerSecurity) or wanted is None:
            self.security = wanted
            return
        if wanted not in ("sasl_plaintext", "sasl_ssl"):
            raise BrokerError(f"unknown broker security {wanted!r}: none, sasl_plaintext, "
                              "sasl_ssl")
        mode: SecurityMode = "sasl_ssl" if wanted == "sasl_ssl" else "sasl_plaintext"
        self.security = prepare_security(mode, security_dir(self.data_dir), self.host)

    def _prepare_and_launch(self, java: str, libs: Path) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.cluster_id = datadir.cluster_id_for(
            self.data_dir, self.log_dir, wanted=self._want_cluster_id
        )
        self.properties_path.write_text(self.render_properties())
        classpath = f"{libs}{os.sep}*"
        if not (self.log_dir / "meta.properties").is_file():
            self._format(java, classpath)
            record_mode(self.data_dir, self.security_mode)
        self._launch(java, classpath)

    def render_properties(self) -> str:
        """This node's ``server.properties`` (written to the data dir at each start)."""
        return config.render_server_properties(
            host=self.host,
            port=self.port or 0,
            controller_port=self.controller_port or 0,
            log_dir=self.log_dir.resolve(),
            num_partitions=self.num_partitions,
            node_id=self.node_id,
            quorum_voters=self.quorum_voters,
            replication_factor=self.replication_factor,
            min_insync_replicas=self.min_insync_replicas,
            protocol=self.security.protocol if self.security is not None else "PLAINTEXT",
            overrides={**listener_overrides(self.security), **self.properties},
        )

    def _pick_ports(self) -> None:
        wanted = [self._want_port, self._want_controller_port]
        free = iter(config.free_ports(self.host, wanted.count(0)))
        self.port, self.controller_port = (port or next(free) for port in wanted)
        if self.port == self.controller_port:
            raise BrokerError(f"client and controller port are both {self.port}")
        for port in (self.port, self.controller_port):
            if config.port_in_use(self.host, port):
                raise BrokerError(
                    f"port {port} on {self.host} is in use (another broker?): "
                    "stop it or pick other ports (--port/--controller-port)"
                )

    def _java_cmd(
        self, java: str, classpath: str, *args: str, short_lived: bool = False
    ) -> list[str]:
        # A short-lived tool (the storage formatter) starts ~2x faster without the C2 JIT.
        jit = ["-XX:TieredStopAtLevel=1"] if short_lived else []
        cmd = [
            java,
            *jit,
            f"-Xmx{self.settings.heap}",
            "-Djava.awt.headless=true",
            "-XX:+ExitOnOutOfMemoryError",
            f"-Dlog4j2.configurationFile={jars.LOG4J2_PATH}",
            "-cp",
            classpath,
            *args,
        ]
        setpriv = shutil.which("setpriv") if self.die_with_parent else None
        return [setpriv, "--pdeathsig", "TERM", *cmd] if setpriv else cmd

    def format_args(self) -> list[str]:
        """The ``kafka.tools.StorageTool`` arguments that format this node's log dir.

        A single node is a one-voter dynamic quorum (``--standalone``). A cluster node has
        its voters in ``controller.quorum.voters`` (a static quorum, so ports may change
        between starts): ``--no-initial-controllers`` writes no voter set into the log.
        (Kafka 4.1 would also accept ``--standalone`` there and write a one-voter set that
        contradicts the configured voters.)
        """
        quorum = ["--no-initial-controllers"] if self.quorum_voters else ["--standalone"]
        scram = self.security.format_args() if self.security is not None else []
        return [
            "format",
            *quorum,
            *scram,
            "-t",
            str(self.cluster_id),
            "-c",
            str(self.properties_path),
        ]

    def _format(self, java: str, classpath: str) -> None:
        cmd = self._java_cmd(
            java,
            classpath,
            "kafka.tools.StorageTool",
            *self.format_args(),
            short_lived=True,
        )
        log.info("formatting %s (cluster id %s)", self.log_dir, self.cluster_id)
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=FORMAT_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BrokerError(
                f"formatting {self.log_dir} took over {FORMAT_TIMEOUT_S:.0f} s"
            ) from exc
        if proc.returncode != 0:
            output = (proc.stdout + proc.stderr).strip().splitlines()
            raise BrokerError(
                f"formatting {self.log_dir} failed: {output[-1] if output else proc.returncode}"
            )

    def _launch(self, java: str, classpath: str) -> None:
        cmd = self._java_cmd(java, classpath, "kafka.Kafka", str(self.properties_path))
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_file.write(
            f"\n--- catmatch: starting Kafka on {self.bootstrap_servers}\n".encode()
        )
        self._log_file.flush()
        log.debug("starting %s", " ".join(cmd))
        # Own session: a Ctrl-C in the terminal reaches only us; we stop the JVM in order.
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float) -> None:
        """Wait until the launched broker answers metadata requests on its client port.

        Raises:
            BrokerError: it did not within ``timeout`` seconds, or the JVM exited (the
                message ends with the last lines of ``broker.log``).
        """
        try:
            self.startup_seconds = wait_for_broker(
                self.bootstrap_servers,
                timeout,
                alive=lambda: self.is_running,
                broker_id=self.node_id,
                client_config=self.client_config(),
            )
        except (TimeoutError, ChildProcessError) as exc:
            raise BrokerError(f"{exc}; last lines of {self.log_path}:\n{self.log_tail()}") from exc
        log.info("Kafka ready on %s in %.1f s", self.bootstrap_servers, self.startup_seconds)

    def log_tail(self, lines: int = 12) -> str:
        """The last ``lines`` lines of ``broker.log``, Java stack frames left out."""
        try:
            with open(self.log_path, errors="replace") as fh:
                recent = deque(fh, maxlen=2000)
        except OSError:
            return "(no broker log)"
        kept = [line for line in recent if not _STACK_FRAME.match(line)]
        return "".join(kept[-lines:]).rstrip()

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the JVM (SIGTERM: a controlled shutdown), SIGKILL after ``timeout`` seconds.

        Returns:
            The JVM's exit status, or None if it was not started.
        """
        return self._end(graceful=True, timeout=timeout)

    def terminate(self) -> None:
        """Send SIGTERM (a controlled shutdown) and return at once; :meth:`stop` or
        :meth:`kill` then waits and releases the data dir."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)

    def kill(self) -> int | None:
        """SIGKILL the JVM: a crash, no controlled shutdown (for failure drills).

        The data dir is released as by :meth:`stop`; :meth:`start` brings the node back on
        the same data dir (and the same ports, when they were given explicitly).

        Returns:
            The JVM's exit status (``-9``), or None if it was not started.
        """
        return self._end(graceful=False, timeout=30.0)

    def _end(self, *, graceful: bool, timeout: float) -> int | None:
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        code = None
        if proc is not None:
            if proc.poll() is None and graceful:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    log.warning(
                        "Kafka (pid %d) ignored SIGTERM for %g s: killing it", proc.pid, timeout
                    )
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            code = proc.returncode
        if self._log_file is not None:
            if code is not None:
                self._log_file.write(f"--- catmatch: Kafka exited with status {code}\n".encode())
            self._log_file.close()
            self._log_file = None
        if self._lock_file is not None:
            self._lock_file.close()  # releases the flock
            self._lock_file = None
        return code

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the JVM to exit on its own; returns its status (None on timeout)."""
        if self._proc is None:
            return None
        try:
            return self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

