"""The processes a benchmark runs, on the process harness: broker, predictors, workers,
naive workers.

Each comes from :class:`toolbox.harness.stack.Stack` (a log under the work directory, stopped
when its block or the run ends) and is watched by the :class:`~toolbox.bench.sysstat.Sampler`
while it runs.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from core.names import DEFAULT_MODEL_NAME
from core.settings import Settings
from toolbox.bench.sysstat import Sampler
from toolbox.errors import ToolboxError
from toolbox.harness.children import LOOPBACK, ChildProcess, free_port, scrape
from toolbox.harness.secure import kafka_env, role_user
from toolbox.harness.stack import Stack
from toolbox.harness.workers import wait_assigned
from transport.acls import PipelineNames, apply_grants, principal_of, role_grants
from transport.admin import TopicSpec, ensure_topics
from transport.broker import EmbeddedKafka
from transport.configuration import connection_config

PREDICTOR_START_TIMEOUT_S = 300.0
NOOP_START_TIMEOUT_S = 60.0


def threads_env(env: dict[str, str], threads: int | None) -> dict[str, str]:
    """``env`` with the predictor's thread budget (``OMP_NUM_THREADS``), when one is given."""
    return {**env, "OMP_NUM_THREADS": str(threads)} if threads else env


class BenchStack:
    """A broker plus the benchmarked processes around it.

    ``env`` is the environment of the workers started from now on (a script comparing two
    trees of code changes it between runs). On a secured broker (``broker.security``) the
    benchmark's producer and collector log in as ``bench-client`` (roles producer and
    reader of each run's topics, :attr:`client_conf`) and each worker as a user of its own
    with the worker role; the naive worker is for plain brokers only.
    """

    def __init__(self, settings: Settings, work: Path, exits: ExitStack, sampler: Sampler) -> None:
        self.work = work
        self.sampler = sampler
        self.harness = exits.enter_context(Stack(work, settings.broker))
        self.env = dict(self.harness.env)
        kafka = self.harness.broker()
        self.kafka = kafka
        self.bootstrap = kafka.bootstrap_servers
        self.client = role_user(kafka, "bench-client", [], PipelineNames("", "", "", ""))
        self.urls: dict[str, str] = {}  # server name -> URL
        self.pids: dict[str, int] = {}  # worker name -> pid
        self.procs: dict[str, ChildProcess] = {}  # worker name -> process
        if isinstance(kafka, EmbeddedKafka) and kafka.pid is not None:
            sampler.watch("broker", kafka.pid)

    def topics(self, name: str) -> tuple[str, str, str]:
        tag = uuid.uuid4().hex[:6]
        topics = (f"bench-{name}-{tag}-in", f"bench-{name}-{tag}-out", f"bench-{name}-{tag}-dlq")
        ensure_topics(self.kafka.client_config(),
                      [TopicSpec(t, partitions=1) for t in topics], timeout=30)
        if self.kafka.security is not None:
            names = PipelineNames(*topics, group="")
            grants = role_grants("producer", names) + role_grants("reader", names)
            apply_grants(self.kafka.client_config(), grants,
                         principal_of(str(self.client.sasl_username)))
        return topics

    @property
    def client_conf(self) -> dict[str, object]:
        """The librdkafka connection settings of the benchmark's own producer and collector."""
        return connection_config(self.client)

    def log(self, name: str) -> Path:
        return self.harness.log(name)

    def _watch(self, name: str, proc: ChildProcess) -> int:
        pid = proc.pid
        if pid is None:
            raise RuntimeError(f"{name} is not running")
        self.sampler.watch(name, pid)
        self.procs[name] = proc
        return pid

    def predictor(self, model_dir: Path, name: str = "predictor", threads: int | None = None
                  ) -> str:
        """The real KServe predictor on ``model_dir`` (CPU, ``threads`` intra-op threads when
        given); returns its URL."""
        proc = self.harness.predictor(model_dir, name=name, env=threads_env(self.env, threads),
                                      start_timeout_s=PREDICTOR_START_TIMEOUT_S)
        self._watch(name, proc)
        self.urls[name] = proc.url
        return proc.url

    def noop(self, name: str = "noop") -> str:
        """The built-in no-op V2 predictor; returns its URL."""
        port = free_port()
        proc = self.harness.child(
            name, [sys.executable, "-m", "toolbox.bench.noop", "--port", str(port)], self.env
        )
        url = f"http://{LOOPBACK}:{port}"
        proc.wait_http(f"{url}/v2/models/{DEFAULT_MODEL_NAME}/ready", NOOP_START_TIMEOUT_S)
        self._watch(name, proc)
        self.urls[name] = url
        return url

    @contextmanager
    def worker(self, name: str, topics: tuple[str, str, str], url: str, model_dir: Path,
               **worker: object) -> Iterator[int]:
        """``python -m worker`` (one process) on ``topics``; yields its metrics port.

        The result cache is off unless ``cache=True``: every product reaches the predictor.
        """
        cache = bool(worker.pop("cache", False))
        entries = worker.pop("cache_entries", None)
        group = f"bench-{uuid.uuid4().hex[:8]}"
        exactly_once = worker.get("processing_guarantee") == "exactly_once"
        user = role_user(self.kafka, f"bench-worker-{group}", ["worker"],
                         PipelineNames(*topics, group, exactly_once))
        env = {
            **self.env,
            "CATMATCH_CACHE__ENABLED": "true" if cache else "false",
            **kafka_env(user),
            "CATMATCH_TOPICS__INPUT": topics[0],
            "CATMATCH_TOPICS__OUTPUT": topics[1],
            "CATMATCH_TOPICS__DEAD_LETTER": topics[2],
            "CATMATCH_PREDICTOR__URL": url,
            "CATMATCH_WORKER__GROUP_ID": group,
            "CATMATCH_WORKER__TOKENIZER_PATH": str(model_dir / "tokenizer.json"),
            **{f"CATMATCH_WORKER__{k.upper()}": str(v) for k, v in worker.items()},
        }
        if entries is not None:
            env["CATMATCH_CACHE__MAX_ENTRIES"] = str(entries)
        proc = self.harness.worker(name, env, args=["--log-level", "WARNING"])
        try:
            wait_assigned([proc])
            self.pids[name] = self._watch(name, proc)
            yield proc.metrics_port
        finally:
            self.sampler.forget(name)
            proc.stop()

    @contextmanager
    def naive(self, name: str, topics: tuple[str, str, str], url: str, model_dir: Path
              ) -> Iterator[ChildProcess]:
        """The naive one-at-a-time worker."""
        if self.kafka.security is not None:
            raise ToolboxError("the naive worker runs on a plain broker only")
        cmd = [sys.executable, "-m", "toolbox.bench.naive", "--bootstrap", self.bootstrap,
               "--input", topics[0], "--output", topics[1], "--url", url,
               "--tokenizer-dir", str(model_dir)]
        proc = self.harness.child(name, cmd, self.env)
        try:
            self._watch(name, proc)
            yield proc
        finally:
            self.sampler.forget(name)
            proc.stop()


Hist = dict[str, tuple[float, float, list[tuple[float, float]]]]


def histograms(port: int) -> Hist:
    """Per worker histogram: ``(sum, count, [(le, cumulative count)])``, labels summed."""
    text = scrape(f"http://{LOOPBACK}:{port}/metrics")
    out: Hist = {}
    for family in text_string_to_metric_families(text):
        if family.type != "histogram":
            continue
        total, count = 0.0, 0.0
        buckets: dict[float, float] = {}
        for s in family.samples:
            if s.name.endswith("_sum"):
                total += s.value
            elif s.name.endswith("_count"):
                count += s.value
            elif s.name.endswith("_bucket"):
                le = float(s.labels["le"])
                buckets[le] = buckets.get(le, 0.0) + s.value
        out[family.name] = (total, count, sorted(buckets.items()))
    return out


def hist_delta(before: Hist, after: Hist, name: str) -> dict[str, float]:
    """Mean and p99 (bucket upper bound) of histogram ``name`` between two scrapes."""
    s1, c1, b1 = after.get(name, (0.0, 0.0, []))
    s0, c0, b0 = before.get(name, (0.0, 0.0, []))
    count = c1 - c0
    if count <= 0:
        return {"mean": float("nan"), "p99": float("nan"), "count": 0.0}
    prev = dict(b0)
    p99 = float("nan")
    for le, cum in b1:
        if cum - prev.get(le, 0.0) >= 0.99 * count:
            p99 = le
            break
    return {"mean": (s1 - s0) / count, "p99": p99, "count": count}
