"""The processes a benchmark runs on loopback: broker, predictors, workers, naive workers.

Every process is started with a log under the work directory, watched by the
:class:`~catmatch.bench.sysstat.Sampler` while it runs, and stopped when its block ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from catmatch import procs
from catmatch.bench.sysstat import Sampler
from core.settings import Settings
from transport.admin import TopicSpec, ensure_topics
from transport.broker import EmbeddedKafka
from transport.broker.config import free_ports


def threads_env(env: dict[str, str], threads: int | None) -> dict[str, str]:
    """``env`` with the predictor's thread budget (``OMP_NUM_THREADS``), when one is given."""
    return {**env, "OMP_NUM_THREADS": str(threads)} if threads else env


def free_port() -> int:
    return free_ports("127.0.0.1", 1)[0]


class Stack:
    """A broker plus the helpers to start the benchmarked processes around it."""

    def __init__(self, settings: Settings, work: Path, exits: ExitStack, sampler: Sampler) -> None:
        self.work = work
        (work / "logs").mkdir(parents=True, exist_ok=True)
        self.sampler = sampler
        self.exits = exits
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        self.kafka = exits.enter_context(
            EmbeddedKafka(settings.broker, data_dir=work / "kafka", port=0, controller_port=0)
        )
        self.bootstrap = self.kafka.bootstrap_servers
        self.urls: dict[str, str] = {}  # server name -> URL
        self.pids: dict[str, int] = {}  # worker name -> pid
        self.procs: dict[str, subprocess.Popen[bytes]] = {}  # worker name -> process
        if self.kafka.pid is not None:
            sampler.watch("broker", self.kafka.pid)

    def topics(self, name: str) -> tuple[str, str, str]:
        tag = uuid.uuid4().hex[:6]
        topics = (f"bench-{name}-{tag}-in", f"bench-{name}-{tag}-out", f"bench-{name}-{tag}-dlq")
        ensure_topics({"bootstrap.servers": self.bootstrap},
                      [TopicSpec(t, partitions=1) for t in topics], timeout=30)
        return topics

    def log(self, name: str) -> Path:
        return self.work / "logs" / f"{name}.log"

    def predictor(self, model_dir: Path, name: str = "predictor", threads: int | None = None
                  ) -> str:
        """The real KServe predictor on ``model_dir`` (CPU, ``threads`` intra-op threads when
        given); returns its URL."""
        port = free_port()
        cmd = [sys.executable, "-m", "predictor", "--model-dir", str(model_dir),
               "--http-port", str(port), "--host", "127.0.0.1", "--device", "cpu"]
        proc = self.exits.enter_context(
            procs.managed(cmd, threads_env(self.env, threads), self.log(name))
        )
        url = f"http://127.0.0.1:{port}"
        procs.wait_http(f"{url}/v2/models/category-match/ready", proc, 300, self.log(name))
        self.sampler.watch(name, proc.pid)
        self.urls[name] = url
        return url

    def noop(self, name: str = "noop") -> str:
        """The built-in no-op V2 predictor; returns its URL."""
        port = free_port()
        cmd = [sys.executable, "-m", "catmatch.bench.noop", "--port", str(port)]
        proc = self.exits.enter_context(procs.managed(cmd, self.env, self.log(name)))
        url = f"http://127.0.0.1:{port}"
        procs.wait_http(f"{url}/v2/models/category-match/ready", proc, 60, self.log(name))
        self.sampler.watch(name, proc.pid)
        self.urls[name] = url
        return url

    @contextmanager
    def worker(self, name: str, topics: tuple[str, str, str], url: str, model_dir: Path,
               **worker: object) -> Iterator[int]:
        """``python -m worker`` (one process) on ``topics``; yields its metrics port.

        The result cache is off unless ``cache=True``: every product reaches the predictor.
        """
        port = free_port()
        cache = bool(worker.pop("cache", False))
        entries = worker.pop("cache_entries", None)
        env = {
            **self.env,
            "CATMATCH_CACHE__ENABLED": "true" if cache else "false",
            "CATMATCH_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap,
            "CATMATCH_TOPICS__INPUT": topics[0],
            "CATMATCH_TOPICS__OUTPUT": topics[1],
            "CATMATCH_TOPICS__DEAD_LETTER": topics[2],
            "CATMATCH_PREDICTOR__URL": url,
            "CATMATCH_WORKER__GROUP_ID": f"bench-{uuid.uuid4().hex[:8]}",
            "CATMATCH_WORKER__TOKENIZER_PATH": str(model_dir / "tokenizer.json"),
            "CATMATCH_WORKER__METRICS_PORT": str(port),
            **{f"CATMATCH_WORKER__{k.upper()}": str(v) for k, v in worker.items()},
        }
        if entries is not None:
            env["CATMATCH_CACHE__MAX_ENTRIES"] = str(entries)
        cmd = [sys.executable, "-m", "worker", "--workers", "1", "--log-level", "WARNING"]
        with procs.managed(cmd, env, self.log(name)) as proc:
            procs.wait_assigned([port], [proc], self.log(name))
            self.sampler.watch(name, proc.pid)
            self.pids[name] = proc.pid
            self.procs[name] = proc
            try:
                yield port
            finally:
                self.sampler.forget(name)

    @contextmanager
    def naive(self, name: str, topics: tuple[str, str, str], url: str, model_dir: Path
              ) -> Iterator[int]:
        """The naive one-at-a-time worker; yields its pid."""
        cmd = [sys.executable, "-m", "catmatch.bench.naive", "--bootstrap", self.bootstrap,
               "--input", topics[0], "--output", topics[1], "--url", url,
               "--tokenizer-dir", str(model_dir)]
        with procs.managed(cmd, self.env, self.log(name)) as proc:
            self.sampler.watch(name, proc.pid)
            self.procs[name] = proc
            try:
                yield proc.pid
            finally:
                self.sampler.forget(name)


Hist = dict[str, tuple[float, float, list[tuple[float, float]]]]


def histograms(port: int) -> Hist:
    """Per worker histogram: ``(sum, count, [(le, cumulative count)])``, labels summed."""
    text = procs.scrape(f"http://127.0.0.1:{port}/metrics")
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
