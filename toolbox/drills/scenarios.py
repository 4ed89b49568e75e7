"""The drills: each injects one fault (or hostile input) into a running pipeline and counts.

Every drill produces ``products`` valid products at a steady rate, injects its fault while
they flow, and waits until each product has a result. The report says, counted from outside
with a ``read_committed`` reader: products in, distinct results, duplicates, lost, dead
letters (all of them must be hostile input, never a valid product), seconds from the end of
the fault to the first new result (``recovered_s``) and to the last one (``drained_s``), and
whether the group's offsets reached the end of the input.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from toolbox.drills.hostile import HOSTILE, hostile_records
from toolbox.drills.pipeline import DrillOptions, Pipeline
from toolbox.drills.rotation import rotate
from toolbox.errors import HarnessError
from toolbox.harness.faults import Fault
from transport.acls import apply_grants, principal_of, revoke_grants, role_grants
from transport.broker import EmbeddedKafka, EmbeddedKafkaCluster
from transport.metadata import partition_leader
from transport.users import upsert_scram_user

log = logging.getLogger(__name__)

# Seconds of traffic before the fault is injected.
WARM_UP_S = 3.0
# How long the login and ACL drills keep the workers refused.
REFUSED_S = 15.0


@dataclass
class DrillReport:
    drill: str
    guarantee: str
    products: int
    hostile: int
    distinct: int
    duplicates: int
    lost: int
    dead_letters: int
    hostile_dead_lettered: int
    valid_dead_lettered: int
    recovered_s: float | None
    drained_s: float | None
    committed_to_end: bool
    worker_restarts: int
    wall_s: float
    unauthorized: int = 0  # 401/403 answers the workers got (injected ones included)
    tokens: bool = False  # the predictor required a token: any refused batch is a failure

    @property
    def passed(self) -> bool:
        exact = self.duplicates == 0 or self.guarantee != "exactly_once"
        refused = self.tokens and self.unauthorized > 0
        return (self.lost == 0 and exact and self.valid_dead_lettered == 0 and not refused
                and self.hostile_dead_lettered == self.hostile and self.committed_to_end)

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "passed": self.passed}


Fault_ = Callable[[Pipeline], None]


def _pause() -> None:
    time.sleep(WARM_UP_S)


def kill_worker(p: Pipeline) -> None:
    """SIGKILL worker 0 mid-stream; the drill's restart policy starts it again (a pod)."""
    p.workers[0].kill()
    time.sleep(2.0)


def kill_predictor(p: Pipeline) -> None:
    """SIGKILL the predictor; started again 5 s later (a cold start)."""
    assert p.predictor is not None
    p.predictor.kill()
    time.sleep(5.0)
    p.restart_predictor()


def predictor_fault(status: int, seconds: float = 10.0) -> Fault_:
    """The predictor answers ``status`` to every request for ``seconds``."""
    def inject(p: Pipeline) -> None:
        assert p.proxy is not None
        p.proxy.set(Fault(status=status))
        time.sleep(seconds)
        p.proxy.set(None)
    return inject


def rotate_token(p: Pipeline) -> None:
    """Rotate the predictor's bearer token while products flow (:mod:`toolbox.drills.rotation`):
    the next token added, the workers switched, the old token removed."""
    if p.tokens is None or p.predictor is None:
        raise HarnessError("the token-rotation drill needs a pipeline with tokens")
    rotate(p.tokens, p.predictor.url, p.predictor.model_name)
    if not p.producing:
        raise HarnessError("the products ran out before the rotation ended, so it was not a "
                           "mid-stream rotation: raise --products or lower --rate")


def restart_broker(p: Pipeline) -> None:
    """SIGKILL the (single) broker; started again on the same data dir 2 s later."""
    assert isinstance(p.broker, EmbeddedKafka)
    p.broker.kill()
    time.sleep(2.0)
    p.broker.start(timeout=120)


def kill_leader(p: Pipeline) -> None:
    """SIGKILL the leader of input partition 0 of the cluster; restarted 5 s later."""
    assert isinstance(p.broker, EmbeddedKafkaCluster)
    leader = partition_leader(p.admin_config, p.topics[0], 0, 30)
    node = p.broker.node(leader)
    node.kill()
    time.sleep(5.0)
    node.start(timeout=120)
    p.broker.wait_isr(p.topics[0], range(p.o.workers), 3, timeout=120)


def rolling_restart(p: Pipeline) -> None:
    """Stop and start every node of the cluster in turn, waiting for full ISR in between."""
    assert isinstance(p.broker, EmbeddedKafkaCluster)
    for node in p.broker.nodes:
        node.stop()
        node.start(timeout=120)
        p.broker.wait_isr(p.topics[0], range(p.o.workers), 3, timeout=120)


def wrong_password(p: Pipeline) -> None:
    """The workers' SCRAM password is changed on the cluster for ``REFUSED_S`` (they still
    use the old one: every login is refused once their sessions re-authenticate), then set
    back; the workers must wait, lose nothing and go on by themselves."""
    user = p.users["worker"]
    assert user.sasl_username is not None and user.sasl_password is not None
    upsert_scram_user(p.admin_config, user.sasl_username, secrets.token_urlsafe(12))
    time.sleep(REFUSED_S)
    upsert_scram_user(p.admin_config, user.sasl_username,
                      user.sasl_password.get_secret_value())


def acl_revoked(p: Pipeline) -> None:
    """The workers lose Write on the output topic for ``REFUSED_S``, then get it back: results
    wait (never dead-lettered, never committed past), then flow again."""
    user = p.users["worker"]
    assert user.sasl_username is not None
    principal = principal_of(user.sasl_username)
    grants = [g for g in role_grants("worker", p.names)
              if g.name == p.topics[1] and g.operation == "Write"]
    revoke_grants(p.admin_config, grants, principal)
    time.sleep(REFUSED_S)
    apply_grants(p.admin_config, grants, principal)


@dataclass(frozen=True)
class Drill:
    name: str
    about: str
    fault: Fault_ | None = None
    nodes: int = 1
    hostile: bool = False
    security: str | None = None  # the drill needs a secured broker (logins, ACLs)
    tokens: bool = False  # the predictor requires a bearer token (token files on both sides)
    min_input_s: float = 0.0  # the input lasts at least this long (the rate is lowered)


DRILLS: dict[str, Drill] = {d.name: d for d in [
    Drill("hostile", f"{len(HOSTILE)} hostile messages among the products", hostile=True),
    Drill("worker-kill", "SIGKILL a worker mid-stream, restart it 2 s later", kill_worker),
    Drill("predictor-kill", "SIGKILL the predictor, restart it 5 s later", kill_predictor),
    Drill("predictor-403", "the predictor refuses everything (403) for 10 s",
          predictor_fault(403)),
    Drill("predictor-500", "the predictor fails everything (500) for 10 s",
          predictor_fault(500)),
    Drill("broker-restart", "SIGKILL the broker, restart it on its data 2 s later",
          restart_broker),
    Drill("leader-kill", "3 brokers: SIGKILL the input leader, restart it 5 s later",
          kill_leader, nodes=3),
    Drill("rolling-restart", "3 brokers: restart each one in turn", rolling_restart, nodes=3),
    Drill("wrong-password", f"secured: the workers' password changes for {REFUSED_S:.0f} s, "
          "then back", wrong_password, security="sasl_ssl"),
    Drill("acl-revoked", f"secured: the workers lose Write on the output topic for "
          f"{REFUSED_S:.0f} s", acl_revoked, security="sasl_ssl"),
    Drill("token-rotation", "rotate the predictor token mid-stream: add the next, switch "
          "the workers, remove the old", rotate_token, tokens=True, min_input_s=20.0),
]}


def run_drill(drill: Drill, options: DrillOptions) -> DrillReport:
    """Run one drill on a fresh pipeline and report what came out."""
    started = time.monotonic()
    options.nodes = drill.nodes
    if drill.security is not None and options.security == "none":
        options.security = drill.security
    options.tokens = options.tokens or drill.tokens
    if drill.min_input_s and options.products / options.rate < drill.min_input_s:
        options.rate = options.products / drill.min_input_s
        log.info("%s: producing at %.0f/s so that the input lasts %.0f s", drill.name,
                 options.rate, drill.min_input_s)
    pipeline = Pipeline(options)
    try:
        pipeline.up()  # a failed start still stops what it started, below
        ids = pipeline.produce_in_background(options.products)
        hostile = hostile_records() if drill.hostile else []
        if hostile:
            pipeline.produce_raw(hostile)
        fault_end = None
        if drill.fault is not None:
            _pause()
            drill.fault(pipeline)
            fault_end = time.time()
        outcome, _ = pipeline.wait_for(ids, since=fault_end)
        time.sleep(2.0)  # let last commits and dead letters land
        outcome = pipeline.read(since=fault_end)
        committed = pipeline.committed_to_end()
    finally:
        pipeline.down()
    hostile_keys = {k for k, _ in hostile}
    valid_dead = len(outcome.dead_letter_keys - hostile_keys)
    return DrillReport(
        drill=drill.name,
        guarantee=options.guarantee,
        products=len(ids),
        hostile=len(hostile),
        distinct=len(outcome.ids & set(ids)),
        duplicates=outcome.results - outcome.distinct,
        lost=len(set(ids) - outcome.ids),
        dead_letters=sum(outcome.dead_letters.values()),
        hostile_dead_lettered=len(outcome.dead_letter_keys & hostile_keys),
        valid_dead_lettered=valid_dead,
        recovered_s=_since(fault_end, outcome.first_after),
        drained_s=_since(fault_end, outcome.last),
        committed_to_end=committed,
        worker_restarts=pipeline.restarts,
        wall_s=round(time.monotonic() - started, 1),
        unauthorized=_refused(pipeline),
        tokens=options.tokens,
    )


def _refused(pipeline: Pipeline) -> int:
    """The 401/403 answers the workers got through the fault proxy."""
    seen = pipeline.proxy.seen if pipeline.proxy is not None else {}
    return seen.get(401, 0) + seen.get(403, 0)


def _since(mark: float | None, ts: float | None) -> float | None:
    return None if mark is None or ts is None else round(max(ts - mark, 0.0), 1)
