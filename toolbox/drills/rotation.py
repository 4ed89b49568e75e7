"""The ``token-rotation`` drill: rotate the predictor's bearer token while products flow.

The drill's predictor reads its accepted tokens from a Secret-like directory
(``serve.token_file``) and its workers read theirs from another (``predictor.token_file``);
:class:`DrillTokens` writes both the way the kubelet updates a Secret volume
(:class:`~toolbox.harness.secret_volume.SecretVolume`). :func:`rotate` is the procedure of
docs/SECURITY.md, each step awaited from outside before the next:

1. the predictor accepts the next token as well (``current`` + ``next``), checked with a
   request that carries it;
2. the workers' Secret switches to the next token, and the drill waits until the predictor
   counts no more requests under ``current`` (``catmatch_predictor_auth_accepted_total``);
3. the old token goes, checked with a request that carries it (401).

Every 401/403 a worker got on the way is counted at the fault proxy (the report's
``unauthorized``); the drill passes only with none, no product lost or dead-lettered, and no
duplicate under exactly-once.
"""

from __future__ import annotations

import logging
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from toolbox.errors import HarnessError
from toolbox.harness.children import scrape
from toolbox.harness.secret_volume import SecretVolume

log = logging.getLogger(__name__)

STEP_TIMEOUT_S = 60.0
# The workers have switched when no request has used the old token for this long: a few
# token-file checks (1 s each) plus a batch in flight.
QUIET_S = 3.0
ACCEPTED = "catmatch_predictor_auth_accepted_total"


class DrillTokens:
    """The predictor's and the workers' token Secrets of one drill, under ``root``."""

    def __init__(self, root: Path) -> None:
        self.predictor = SecretVolume(root / "predictor-tokens")
        self.workers = SecretVolume(root / "worker-token")
        self.current = secrets.token_urlsafe(24)
        self.predictor.write(current=self.current)
        self.workers.write(token=self.current)

    @property
    def predictor_dir(self) -> Path:
        """The predictor's ``serve.token_file``."""
        return self.predictor.root

    @property
    def worker_file(self) -> Path:
        """The workers' ``predictor.token_file``."""
        return self.workers.key("token")


def rotate(tokens: DrillTokens, url: str, model: str) -> None:
    """Rotate the token of the predictor at ``url`` and of its workers (a drill fault)."""
    old, new = tokens.current, secrets.token_urlsafe(24)

    tokens.predictor.write(current=old, next=new)
    _wait(lambda: _status(url, model, new) == 200, "the predictor to accept the next token")
    log.info("rotation 1/3: the predictor accepts both tokens")

    tokens.workers.write(token=new)
    _wait(lambda: _quiet(url, "current"), "the workers to stop sending the old token")
    log.info("rotation 2/3: no request carries the old token any more")

    tokens.predictor.write(next=new)
    _wait(lambda: _status(url, model, old) == 401, "the predictor to refuse the old token")
    tokens.current = new
    log.info("rotation 3/3: the old token is refused")


def _status(url: str, model: str, token: str) -> int:
    """The status of an API call (model metadata) that carries ``token``."""
    request = urllib.request.Request(  # noqa: S310 - the drill's own predictor on loopback
        f"{url}/v2/models/{model}", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0


def _accepted(url: str, credential: str) -> float:
    for family in text_string_to_metric_families(scrape(f"{url}/metrics")):
        for sample in family.samples:
            if sample.name == ACCEPTED and sample.labels.get("credential") == credential:
                return float(sample.value)
    return 0.0


def _quiet(url: str, credential: str) -> bool:
    """Whether no request used ``credential`` during the last :data:`QUIET_S` seconds."""
    before = _accepted(url, credential)
    time.sleep(QUIET_S)
    return _accepted(url, credential) == before


def _wait(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT_S
    while not done():
        if time.monotonic() > deadline:
            raise HarnessError(f"token rotation: timed out waiting for {what}")
        time.sleep(0.2)
