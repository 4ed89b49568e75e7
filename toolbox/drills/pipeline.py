"""The pipeline a drill runs on: all real processes on loopback, faults injected from outside.

A broker (or a 3-node cluster), a predictor (``python -m predictor``) behind a fault proxy,
N workers (``python -m worker --workers 1 --instance-id worker-<i>``, one process each, as
Kubernetes runs them), products produced at a steady rate, and an independent
``read_committed`` reader that counts what came out. Everything lives in a work directory
with one log per process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from catmatch import procs
from catmatch.drills.faults import FaultProxy
from catmatch.produce.sender import produce_products
from core.settings import Settings, load_settings
from training.generator import generate_products
from transport.admin import TopicSpec, ensure_topics
from transport.broker import EmbeddedKafka, EmbeddedKafkaCluster
from transport.broker.config import free_ports
from transport.clients import new_producer
from transport.configuration import producer_config
from transport.metadata import group_lag

log = logging.getLogger(__name__)

READ_COMMITTED = {"isolation.level": "read_committed"}


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
        (self.work / "logs").mkdir(parents=True, exist_ok=True)
        self.group = f"drill-{int(time.time())}"
        self.topics = ("drill-in", "drill-out", "drill-dlq")
        self.broker: EmbeddedKafka | EmbeddedKafkaCluster | None = None
        self.predictor: subprocess.Popen[bytes] | None = None
        self.proxy: FaultProxy | None = None
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.ports = free_ports("127.0.0.1", 2 + options.workers)
        self._producer_thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.restarts = 0  # workers that exited on their own and were started again

    # -- the parts ------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None
        return self.broker.bootstrap_servers

    def up(self) -> Pipeline:
        base = load_settings().broker
        if self.o.nodes > 1:
            self.broker = EmbeddedKafkaCluster(
                base, data_dir=self.work / "kafka", nodes=self.o.nodes, num_partitions=1,
                heap="384m",
            ).start(timeout=180)
        else:
            kafka_port, controller_port = free_ports("127.0.0.1", 2)
            self.broker = EmbeddedKafka(
                base, data_dir=self.work / "kafka", port=kafka_port,
                controller_port=controller_port, num_partitions=1,
            ).start(timeout=120)
        rf, config = (3, {"min.insync.replicas": "2"}) if self.o.nodes > 1 else (1, {})
        ensure_topics({"bootstrap.servers": self.bootstrap}, [
            TopicSpec(t, partitions=self.o.workers, replication_factor=rf, config=config)
            for t in self.topics
        ], timeout=60)
        self.start_predictor()
        self.proxy = FaultProxy(f"http://127.0.0.1:{self.ports[0]}", port=self.ports[1]).start()
        self._write_config()
        for i in range(self.o.workers):
            self.start_worker(i)
        procs.wait_assigned(self.worker_ports, list(self.workers.values()),
                            self.work / "logs" / "worker-0.log")
        threading.Thread(target=self._restart_exited, name="drill-kubelet", daemon=True).start()
        return self

    def _restart_exited(self) -> None:
        """What Kubernetes' restartPolicy: Always does for a worker pod that exits."""
        while not self._stopping.wait(1.0):
            for index, proc in list(self.workers.items()):
                if proc.poll() is not None and not self._stopping.is_set():
                    log.warning("worker %d exited with %s; starting it again", index,
                                proc.returncode)
                    self.restarts += 1
                    self.start_worker(index)

    def down(self) -> None:
        self._stopping.set()
        if self._producer_thread is not None:
            self._producer_thread.join(self.o.timeout_s)
        for proc in self.workers.values():
            procs.stop(proc)
        if self.predictor is not None:
            procs.stop(self.predictor)
        if self.proxy is not None:
            self.proxy.stop()
        if self.broker is not None:
            self.broker.stop()

    @property
    def worker_ports(self) -> list[int]:
        return self.ports[2:]

    def settings(self) -> Settings:
        in_, out, dlq = self.topics
        return Settings(**{
            "kafka": {"bootstrap_servers": self.bootstrap},
            "topics": {"input": in_, "output": out, "dead_letter": dlq},
            "predictor": {"url": self.proxy.url if self.proxy else "", "timeout_s": 10,
                          "backoff_initial_s": 0.1, "backoff_max_s": 2.0},
            "worker": {
                "group_id": self.group, "processing_guarantee": self.o.guarantee,
                "tokenizer_path": str(self.o.model_dir / "tokenizer.json"),
                "metrics_port": 0, "batch_size": 32, "commit_interval_ms": 100,
                "transaction_timeout_s": 10.0, "stall_timeout_s": 60.0,
            },
        })

    def _write_config(self) -> None:
        data = json.loads(self.settings().model_dump_json())
        (self.work / "worker.yaml").write_text(yaml.safe_dump(data))

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CATMATCH_")}
        return {**env, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}

    def start_predictor(self) -> None:
        log_path = self.work / "logs" / "predictor.log"
        self.predictor = procs.start([
            sys.executable, "-m", "predictor", "--model-dir", str(self.o.model_dir),
            "--http-port", str(self.ports[0]), "--host", "127.0.0.1", "--device", "cpu",
        ], self._env(), log_path)
        procs.wait_http(f"http://127.0.0.1:{self.ports[0]}/v2/health/ready", self.predictor,
                        180, log_path)

    def start_worker(self, index: int) -> None:
        env = {**self._env(), "CATMATCH_WORKER__METRICS_PORT": str(self.worker_ports[index])}
        self.workers[index] = procs.start([
            sys.executable, "-m", "worker", "--config", str(self.work / "worker.yaml"),
            "--workers", "1", "--instance-id", f"worker-{index}",
        ], env, self.work / "logs" / f"worker-{index}.log")

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
        """Read until every id has a result or the drill's timeout; counts from outside."""
        deadline = time.monotonic() + self.o.timeout_s
        wanted = set(ids)
        outcome = Outcome()
        while time.monotonic() < deadline:
            outcome = self.read(since)
            if wanted <= outcome.ids:
                return outcome, True
            time.sleep(1.0)
        return outcome, False

    def read(self, since: float | None = None) -> Outcome:
        out = Outcome()
        ids: Counter[str] = Counter()
        for msg in self._read_all(self.topics[1]):
            ids[json.loads(msg.value() or b"{}").get("product_id", "")] += 1
            ts = msg.timestamp()[1] / 1000
            out.last = max(out.last or ts, ts)
            if since is not None and ts >= since:
                out.first_after = min(out.first_after or ts, ts)
        for msg in self._read_all(self.topics[2]):
            letter = json.loads(msg.value() or b"{}")
            out.dead_letters[letter.get("error_class", "?")] += 1
            out.dead_letter_keys.add(msg.key() or b"")
        out.results, out.distinct, out.ids = sum(ids.values()), len(ids), set(ids)
        return out

    def _read_all(self, topic: str) -> Iterator[Any]:
        consumer = Consumer({
            "bootstrap.servers": self.bootstrap, "group.id": f"drill-reader-{time.time()}",
            "enable.auto.commit": False, "enable.partition.eof": True, **READ_COMMITTED,
        })
        try:
            parts = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(self.o.workers)]
            consumer.assign(parts)
            done: set[int] = set()
            idle_until = time.monotonic() + 10
            while len(done) < len(parts) and time.monotonic() < idle_until:
                for msg in consumer.consume(1000, 0.5):
                    err = msg.error()
                    if err is None:
                        yield msg
                    elif err.code() == KafkaError._PARTITION_EOF:
                        done.add(msg.partition() or 0)
        finally:
            consumer.close()

    def committed_to_end(self) -> bool:
        """Whether the group's committed offsets reached the end of the input."""
        try:
            lags = group_lag({"bootstrap.servers": self.bootstrap}, self.group,
                             [self.topics[0]], timeout=10)
        except Exception:  # noqa: BLE001 - reported as not known
            return False
        return all(lag.lag == 0 for lag in lags)
