"""The pipeline a drill runs on: all real processes on loopback, faults injected from outside.

A broker (or a 3-node cluster), a predictor (``python -m predictor``) behind a fault proxy,
N workers (``python -m worker --workers 1 --instance-id worker-<i>``, one process each, as
Kubernetes runs them), products produced at a steady rate, and an independent
``read_committed`` reader that counts what came out. The processes come from the harness
(:class:`~toolbox.harness.stack.Stack`): everything lives in a work directory with one log
per process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from core.errors import CatmatchError
from core.settings import KafkaSettings, Settings, load_settings
from toolbox.drills.rotation import DrillTokens
from toolbox.harness.children import child_env
from toolbox.harness.faults import FaultProxy
from toolbox.harness.predictor import PredictorProcess
from toolbox.harness.secure import role_user
from toolbox.harness.stack import Broker, Stack
from toolbox.harness.workers import WorkerProcess, wait_assigned
from toolbox.produce.sender import produce_products
from toolbox.readers import read_to_end
from training.generator import generate_products
from transport.acls import PipelineNames
from transport.admin import TopicSpec, ensure_topics
from transport.clients import new_producer
from transport.configuration import producer_config
from transport.metadata import group_lag

log = logging.getLogger(__name__)

PREDICTOR_START_TIMEOUT_S = 180.0
# A secured broker makes open connections log in again this often, so a drill that changes
# a password sees it bite within seconds (the broker's default: 60 s).
DRILL_BROKER_PROPERTIES = {"connections.max.reauth.ms": 5000}


@dataclass
class DrillOptions:
    """What a drill runs with."""

    model_dir: Path
    work_dir: Path
    products: int = 2000
    rate: float = 200.0
    guarantee: str = "exactly_once"
    workers: int = 2
    nodes: int = 1
    timeout_s: float = 300.0
    security: str = "none"  # sasl_ssl / sasl_plaintext: every client logs in with its role's ACLs
    tokens: bool = False  # the predictor requires a bearer token; both sides read token files


@dataclass
class Outcome:
    """What came out, read from outside the pipeline."""

    results: int = 0
    distinct: int = 0
    ids: set[str] = field(default_factory=set)
    dead_letters: Counter[str] = field(default_factory=Counter)
    dead_letter_keys: set[bytes] = field(default_factory=set)
    first_after: float | None = None  # broker timestamp (s) of the first result after a mark
    last: float | None = None


class Pipeline:
    """Start with :meth:`up`, stop with :meth:`down`; faults in between."""

    def __init__(self, options: DrillOptions) -> None:
        self.o = options
        self.work = options.work_dir
        self.group = f"drill-{int(time.time())}"
        self.topics = ("drill-in", "drill-out", "drill-dlq")
        # The children read only the configuration written for them, not this process's.
        broker = load_settings().broker.model_copy(update={"security": options.security})
        self.stack = Stack(self.work, broker, env=child_env(inherit_settings=False))
        self.broker: Broker | None = None
        self.predictor: PredictorProcess | None = None
        self.proxy: FaultProxy | None = None
        self.workers: dict[int, WorkerProcess] = {}
        self._producer_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.restarts = 0  # workers that exited on their own and were started again
        # Who logs in as what: the workers (role worker) and the drill itself (producer,
        # reader, operator); on a broker without security both are the plain settings.
        self.users: dict[str, KafkaSettings] = {}
        self.names = PipelineNames(*self.topics, self.group,
                                   exactly_once=options.guarantee == "exactly_once")
        # The bearer token's Secrets (predictor and workers), when the drill needs one.
        self.tokens = DrillTokens(self.work / "secrets") if options.tokens else None

    # -- the parts ------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return self.stack.bootstrap

    @property
    def admin_config(self) -> dict[str, Any]:
        """The broker's super user (plain settings on a broker without security)."""
        assert self.broker is not None
        return self.broker.client_config()

    def up(self) -> Pipeline:
        self.broker = self.stack.broker(nodes=self.o.nodes, num_partitions=1,
                                        properties=DRILL_BROKER_PROPERTIES)
        self.users = {
            "worker": role_user(self.broker, "drill-worker", ["worker"], self.names),
            "driver": role_user(self.broker, "drill-driver", ["producer", "reader", "operator"],
                                self.names),
        }
        rf, config = (3, {"min.insync.replicas": "2"}) if self.o.nodes > 1 else (1, {})
        ensure_topics(self.admin_config, [
            TopicSpec(t, partitions=self.o.workers, replication_factor=rf, config=config)
            for t in self.topics
        ], timeout=60)
        env = dict(self.stack.env)
        if self.tokens is not None:
            env["CATMATCH_SERVE__TOKEN_FILE"] = str(self.tokens.predictor_dir)
        self.predictor = self.stack.predictor(self.o.model_dir, env=env,
                                              start_timeout_s=PREDICTOR_START_TIMEOUT_S)
        self.proxy = FaultProxy(self.predictor.url).start()
        self.stack.callback(self.proxy.stop)
        self._write_config()
        for i in range(self.o.workers):
            self.workers[i] = self.stack.worker(f"worker-{i}", args=[
                "--config", str(self.work / "worker.yaml"), "--instance-id", f"worker-{i}",
            ])
        wait_assigned(self.workers.values())
        threading.Thread(target=self._restart_exited, name="drill-kubelet", daemon=True).start()
        return self

    def _restart_exited(self) -> None:
        """What Kubernetes' restartPolicy: Always does for a worker pod that exits."""
        while not self._stopping.wait(1.0):
            for index, proc in list(self.workers.items()):
                if not proc.running and not self._stopping.is_set():
                    log.warning("worker %d is not running; starting it again", index)
                    self.restarts += 1
                    proc.start()

    def down(self) -> None:
        self._stopping.set()
        if self._producer_thread is not None:
            self._producer_thread.join(self.o.timeout_s)
        self.stack.close()

    @property
    def producing(self) -> bool:
        """Whether products are still being produced."""
        return self._producer_thread is not None and self._producer_thread.is_alive()

    def restart_predictor(self) -> None:
        """Start the predictor again (on its port) after a kill; wait until it is ready."""
        assert self.predictor is not None
        self.predictor.start(timeout_s=PREDICTOR_START_TIMEOUT_S)

    def settings(self, user: str = "driver") -> Settings:
        """The settings of the drill's clients (``driver``) or of its workers (``worker``)."""
        in_, out, dlq = self.topics
        sections: dict[str, Any] = {
            "kafka": self.users.get(user) or {"bootstrap_servers": self.bootstrap},
            "topics": {"input": in_, "output": out, "dead_letter": dlq},
            "predictor": {"url": self.proxy.url if self.proxy else "", "timeout_s": 10,
                          "backoff_initial_s": 0.1, "backoff_max_s": 2.0,
                          "token_file": self.tokens.worker_file if self.tokens else None},
            "worker": {
                "group_id": self.group, "processing_guarantee": self.o.guarantee,
                "tokenizer_path": str(self.o.model_dir / "tokenizer.json"),
                "metrics_port": 0, "batch_size": 32, "commit_interval_ms": 100,
                "transaction_timeout_s": 10.0, "stall_timeout_s": 60.0,
            },
        }
        return Settings(**sections)

    def _write_config(self) -> None:
        settings = self.settings("worker")
        data = json.loads(settings.model_dump_json())
        if settings.kafka.sasl_password is not None:  # dumped as ******
            data["kafka"]["sasl_password"] = settings.kafka.sasl_password.get_secret_value()
        path = self.work / "worker.yaml"
        path.touch(mode=0o600)
        path.write_text(yaml.safe_dump(data))

    # -- input and output -----------------------------------------------------------------

    def produce_in_background(self, count: int, seed: int = 11) -> list[str]:
        """Start producing ``count`` products at the drill's rate; returns their ids."""
        products = [p.message for p in generate_products(count, seed)]
        settings = self.settings()

        def run() -> None:
            produce_products(settings, products, rate=self.o.rate)

        self._producer_thread = threading.Thread(target=run, name="drill-producer", daemon=True)
        self._producer_thread.start()
        return [p["product_id"] for p in products]

    def produce_raw(self, records: list[tuple[bytes, bytes | None]]) -> None:
        """Produce ``(key, value)`` pairs as they are (tombstones included)."""
        producer = new_producer(producer_config(self.settings().kafka), quiet=True)
        for key, value in records:
            producer.produce(self.topics[0], value=value, key=key)
            producer.poll(0)
        if producer.flush(60):
            raise RuntimeError("hostile records not delivered")

    def wait_for(self, ids: list[str], since: float | None = None) -> tuple[Outcome, bool]:
        """Read until every id has a result or the drill's timeout; counts from outside.

        A read that fails (the cluster is still recovering) is tried again a second later.
        """
        deadline = time.monotonic() + self.o.timeout_s
        wanted = set(ids)
        outcome = Outcome()
        while time.monotonic() < deadline:
            try:
                outcome = self.read(since)
            except CatmatchError as exc:
                log.warning("reading the outputs failed, trying again: %s", exc)
            if wanted <= outcome.ids:
                return outcome, True
            time.sleep(1.0)
        return outcome, False

    def read(self, since: float | None = None) -> Outcome:
        """Every result and dead letter so far, read committed (see
        :func:`toolbox.readers.read_to_end`)."""
        settings = self.settings()
        out = Outcome()
        ids: Counter[str] = Counter()
        for msg in read_to_end(settings, self.topics[1]):
            ids[(msg.json() or {}).get("product_id", "")] += 1
            if msg.timestamp_ms is None:
                continue
            ts = msg.timestamp_ms / 1000
            out.last = max(out.last or ts, ts)
            if since is not None and ts >= since:
                out.first_after = min(out.first_after or ts, ts)
        for msg in read_to_end(settings, self.topics[2]):
            out.dead_letters[(msg.json() or {}).get("error_class", "?")] += 1
            out.dead_letter_keys.add(msg.key or b"")
        out.results, out.distinct, out.ids = sum(ids.values()), len(ids), set(ids)
        return out

    def committed_to_end(self) -> bool:
        """Whether the group's committed offsets reached the end of the input."""
        try:
            lags = group_lag(self.admin_config, self.group,
                             [self.topics[0]], timeout=10)
        except Exception:  # noqa: BLE001 - reported as not known
            return False
        return all(lag.lag == 0 for lag in lags)
