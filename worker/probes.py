"""Liveness and readiness of one worker, including "stuck": work waiting, nothing moving.

While the brokers refuse the worker (a login, a certificate, an ACL: :mod:`transport.access`)
it is not ready, and it is not stuck either: nothing a restart could fix, so liveness holds
and no crash loop starts; the worker keeps trying and goes on once the credential or the ACL
is back. An :class:`AccessProbe` notices a login that works again while nothing flows.

A worker is *stuck* when it owns partitions with work waiting (a backlog to consume,
messages in flight or finished but uncommitted) and the predictor is not the reason (it is
ready and the predictor circuit is closed), yet no commit has moved a position for
``stall_timeout_s``. Liveness then fails (Kubernetes restarts the pod; the supervisor
restarts the process) and ``catmatch_worker_progress_stalled`` is 1. Waiting for a cold or
faulty predictor is not stuck: that is what the worker is supposed to do.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from transport.access import ACCESS, LOGIN
from transport.clients import new_admin
from transport.consumer import AsyncConsumer
from transport.logs import CONNECTION
from transport.types import TP
from worker.circuit import PredictorCircuit
from worker.inflight import InFlight
from worker.lifecycle import Stopping
from worker.membership import Membership
from worker.offsets import OffsetTracker
from worker.partitions import PartitionBook
from worker.predictor_client import PredictorClient, PredictorState

log = logging.getLogger(__name__)

# The event loop itself must come round at least this often.
LOOP_STALL_S = 60.0
# How often the loop refreshes what the probes judge (backlog, pending, predictor).
REFRESH_EVERY_S = 2.0


@dataclass
class Progress:
    """What the event loop last saw; the probes read it from the health server."""

    stall_timeout_s: float
    loop_heartbeat: float = field(default_factory=time.monotonic)
    advanced_at: float = field(default_factory=time.monotonic)  # a commit moved a position
    backlog: int = 0
    pending: int = 0
    uncommitted: int = 0
    assigned: int = 0
    predictor_waiting: bool = False  # not ready, or a predictor fault holds the stream
    refused: bool = False  # the brokers refuse a login, a certificate or an ACL

    def advanced(self, _positions: dict[TP, int] | None = None) -> None:
        """A commit moved positions (so the brokers are reachable, too)."""
        self.advanced_at = time.monotonic()
        CONNECTION.ok()

    def work_waiting(self) -> bool:
        return self.assigned > 0 and (self.backlog + self.pending + self.uncommitted) > 0

    def stalled_s(self, now: float | None = None) -> float:
        """Seconds without progress while work is waiting for the worker (0.0 otherwise)."""
        now = time.monotonic() if now is None else now
        if not self.work_waiting() or self.predictor_waiting or self.refused:
            return 0.0
        return max(now - self.advanced_at, 0.0)

    def stuck(self, now: float | None = None) -> bool:
        return self.stalled_s(now) >= self.stall_timeout_s

    def loop_stalled_s(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        return max(now - self.loop_heartbeat, 0.0)

    def quiet(self, now: float | None = None) -> None:
        """Nothing to do counts as progress: the stall clock starts when work arrives."""
        if not self.work_waiting() or self.predictor_waiting or self.refused:
            self.advanced_at = time.monotonic() if now is None else now


@dataclass
class WorkerProbes:
    """``/healthz`` and ``/readyz`` of one worker, from what its collaborators report."""

    worker_id: str
    progress: Progress
    stopping: Stopping
    membership: Membership
    book: PartitionBook
    tracker: OffsetTracker
    batches: InFlight
    consumer: AsyncConsumer
    client: PredictorClient
    circuit: PredictorCircuit
    access: AccessProbe | None = None
    _refreshed: float = field(default_factory=time.monotonic)
    _stuck: bool = False

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        p = self.progress
        loop_stalled, stalled = p.loop_stalled_s(), p.stalled_s()
        ok = loop_stalled < LOOP_STALL_S and not p.stuck() and self.stopping.error is None
        return ok, {
            "worker": self.worker_id,
            "loop_stalled_s": round(loop_stalled, 3),
            "progress_stalled_s": round(stalled, 3),
            "stall_timeout_s": p.stall_timeout_s,
            "stuck": p.stuck(),
        }

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        subscribed = self.membership.subscribed
        refused = ACCESS.denials()
        ok = (subscribed and not self.stopping.requested and self.stopping.error is None
              and not refused)
        return ok, {
            "worker": self.worker_id,
            "subscribed": subscribed,
            "assigned": sorted(f"{t}[{p}]" for t, p in self.book.assigned),
            "predictor": self.client.state.value,
            "predictor_fault": self.circuit.kind if self.circuit.is_open else None,
            "inflight_batches": self.batches.inflight,
            "paused": self.membership.paused,
            "backlog": self.progress.backlog,
            "kafka": {None: "unknown", True: "up", False: "down"}[CONNECTION.up],
            "kafka_refused": [{"kind": d.kind, "why": d.message} for d in refused],
        }

    async def tick(self) -> None:
        """Beat, and refresh what liveness judges every ``REFRESH_EVERY_S``."""
        now = self.progress.loop_heartbeat = time.monotonic()
        if now - self._refreshed >= REFRESH_EVERY_S:
            await self.refresh()
            self._refreshed = time.monotonic()

    async def refresh(self) -> None:
        """Backlog, pending and uncommitted work, and whether the predictor is the reason."""
        p = self.progress
        p.backlog = await self.consumer.backlog()
        p.pending = self.tracker.pending_count()
        p.uncommitted = len(self.tracker.commit_positions())
        p.assigned = len(self.book.assigned)
        state = self.client.state
        p.predictor_waiting = self.circuit.is_open or state in (
            PredictorState.NOT_READY, PredictorState.FAILING
        )
        p.refused = ACCESS.blocked
        if p.refused and self.access is not None:
            await self.access.check()
        p.quiet()
        stuck = p.stuck()
        if stuck != self._stuck:  # log the edges only
            log.error("%s %s: %s", self.worker_id,
                      "is stuck" if stuck else "is moving again",
                      f"no progress for {p.stalled_s():.0f} s with backlog {p.backlog}, "
                      f"{p.pending} in flight, predictor {state}")
            self._stuck = stuck


class AccessProbe:
    """Asks the brokers for the input topic's metadata while a login is refused: an answer
    means the credential works again, even when no record flows to show it.

    One quiet admin client, made on first use, called off the event loop.
    """

    def __init__(self, admin_conf: Mapping[str, Any], topic: str, timeout_s: float = 2.0
                 ) -> None:
        self._conf = dict(admin_conf)
        self._topic = topic
        self._timeout_s = timeout_s
        self._admin: AdminClient | None = None

    async def check(self) -> None:
        if ACCESS.login_denial() is None:
            return
        if await asyncio.to_thread(self._answered):
            ACCESS.cleared(LOGIN)

    def _answered(self) -> bool:
        if self._admin is None:
            self._admin = new_admin(self._conf)
        try:
            metadata = self._admin.list_topics(self._topic, timeout=self._timeout_s)
        except KafkaException:
            return False
        return bool(metadata.brokers)
