"""``catmatch bench``: five modes side by side in one run, then the load schedules.

Modes (each a fresh 1-partition topic pre-filled with generated products, throughput from
the broker timestamps of the first and last result, so start-up is not counted):

1. ``model``: the model in process at each batch size (its own process, nothing else busy);
2. ``predictor``: the KServe predictor over HTTP, V2 INT64 requests back to back;
3. ``pipeline``: one real worker + the real predictor;
4. ``worker_noop``: the worker + the built-in no-op predictor (the worker's own ceiling);
5. ``naive`` / ``naive_noop``: a one-message-at-a-time worker against the same predictors.

Then the schedules (:mod:`toolbox.bench.schedules`) run on the pipeline at fractions of
the rate that mode 3 measured, with end-to-end latency (product ``event_time`` to the result's
broker timestamp), batch sizes and predictor time from the worker's metrics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.settings import Settings
from toolbox.bench import httpload
from toolbox.bench.kafkaio import Collector, progress, send
from toolbox.bench.schedules import SCHEDULES, plan
from toolbox.bench.stack import BenchStack, hist_delta, histograms, threads_env
from toolbox.bench.sysstat import Sampler
from toolbox.errors import ToolboxError

BATCH = "catmatch_worker_batch_size"
PREDICT = "catmatch_worker_predictor_request_seconds"


@dataclass
class SuiteConfig:
    model_dir: Path
    work: Path
    count: int = 1500  # products per mode against the real predictor
    noop_count: int = 100_000
    noop_passes: int = 3  # measured passes of mode 4 after its warm-up; the median counts
    naive_count: int = 300
    naive_noop_count: int = 2000
    batch_sizes: list[int] = field(default_factory=lambda: [1, 8, 32, 64])
    seconds: float = 5.0  # per batch size, model and predictor
    schedule_seconds: float = 20.0
    idle_s: float = 30.0
    schedules: tuple[str, ...] = SCHEDULES
    worker_batch_size: int | None = None  # default: worker.batch_size (the worker's default)
    batch_wait_ms: int | None = None  # default: the worker's (worker.batch_wait_ms)
    # The predictor's intra-op threads, i.e. its CPU budget (OMP_NUM_THREADS for the model
    # in process and the predictor); default: what it picks itself (the CPU quota or cores).
    predictor_threads: int | None = None
    timeout_s: float = 900.0


def model_in_process(cfg: SuiteConfig) -> list[dict[str, float]]:
    cmd = [sys.executable, "-m", "toolbox.bench.model", "--model-dir", str(cfg.model_dir),
           "--batch-sizes", ",".join(map(str, cfg.batch_sizes)), "--seconds", str(cfg.seconds)]
    progress("model in process", 0, 1)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=cfg.timeout_s,
                          env=threads_env(dict(os.environ), cfg.predictor_threads))
    if done.returncode != 0:
        raise ToolboxError(f"in-process model run failed:\n{done.stderr[-2000:]}")
    progress("model in process", 1, 1, end=True)
    rows: list[dict[str, float]] = json.loads(done.stdout.strip().splitlines()[-1])["rows"]
    return rows


def predictor_http(cfg: SuiteConfig, url: str, rounds: int = 3) -> list[dict[str, float]]:
    """Per batch size, the best of ``rounds`` interleaved rounds (as for the model)."""
    bodies = {size: httpload.v2_bodies(cfg.model_dir, size) for size in cfg.batch_sizes}
    best: dict[int, dict[str, float]] = {}
    total = rounds * len(cfg.batch_sizes)
    for r in range(rounds):
        for i, size in enumerate(cfg.batch_sizes):
            progress("predictor over HTTP", r * len(cfg.batch_sizes) + i, total)
            row = httpload.load(url, "category-match", bodies[size], size, cfg.seconds / rounds)
            if size not in best or row["texts_per_s"] > best[size]["texts_per_s"]:
                best[size] = row
    progress("predictor over HTTP", total, total, end=True)
    return [best[size] for size in cfg.batch_sizes]


def _wait(cfg: SuiteConfig) -> dict[str, object]:
    return {} if cfg.batch_wait_ms is None else {"batch_wait_ms": cfg.batch_wait_ms}


def _span_rate(stamps: dict[str, int]) -> tuple[float, float]:
    ts = sorted(stamps.values())
    span = (ts[-1] - ts[0]) / 1000
    return (len(ts) - 1) / span if span > 0 else float("inf"), span


def backlog(stack: BenchStack, cfg: SuiteConfig, mode: str, url: str, count: int,
            naive: bool, batch_size: int) -> dict[str, Any]:
    """One mode: pre-fill a topic with ``count`` products, start the worker, time results."""
    topics = stack.topics(mode)
    sent = send(stack.client_conf, topics[0], mode, [0.0] * count)
    collector = Collector(stack.client_conf, topics[1])
    row: dict[str, Any] = {"mode": mode, "count": count}
    server = "noop" if url == stack.urls.get("noop") else "predictor"
    try:
        if naive:
            with stack.naive(mode, topics, url, cfg.model_dir):
                stack.sampler.sample()
                t0 = time.time()
                stamps = collector.wait(sent, cfg.timeout_s, mode, [stack.procs[mode]])
                row.update(stack.sampler.usage(mode, t0))
                row["server_cpu_cores"] = stack.sampler.usage(server, t0)["cpu_cores"]
        else:
            with stack.worker(mode, topics, url, cfg.model_dir, batch_size=batch_size,
                              **_wait(cfg)) as port:
                before = histograms(port)
                stack.sampler.sample()
                t0 = time.time()
                stamps = collector.wait(sent, cfg.timeout_s, mode, [stack.procs[mode]])
                after = histograms(port)
                row.update(stack.sampler.usage(mode, t0))
                row["server_cpu_cores"] = stack.sampler.usage(server, t0)["cpu_cores"]
                row["batch_mean"] = hist_delta(before, after, BATCH)["mean"]
                row["predict_ms"] = 1000 * hist_delta(before, after, PREDICT)["mean"]
        row["duplicates"] = collector.duplicates
    finally:
        collector.close()
    row["per_s"], row["seconds"] = _span_rate(stamps)
    return row


def worker_ceiling(stack: BenchStack, cfg: SuiteConfig, noop: str, batch: int
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Mode 4: a warm-up pass, then ``cfg.noop_passes`` measured passes; returns the warm-up
    and the median pass (with every pass's rate in ``passes_per_s``).

    The warm-up is there for the broker: its JVM compiles its hot paths during the first
    ~100,000 records and meanwhile takes CPU the worker would use (first passes measured
    20-35% slower here). The median of several passes, because one pass of a few seconds
    on a shared machine moves by +-20%."""
    warmup = backlog(stack, cfg, "worker_noop", noop, cfg.noop_count, False, batch)
    passes = [backlog(stack, cfg, "worker_noop", noop, cfg.noop_count, False, batch)
              for _ in range(cfg.noop_passes)]
    ranked = sorted(passes, key=lambda r: r["per_s"])
    median = dict(ranked[len(ranked) // 2])
    median["passes_per_s"] = [r["per_s"] for r in passes]
    return warmup, median


def schedules(stack: BenchStack, cfg: SuiteConfig, url: str, max_rate: float, batch_size: int
              ) -> list[dict[str, Any]]:
    """The load schedules on one long-running pipeline worker."""
    topics = stack.topics("schedules")
    collector = Collector(stack.client_conf, topics[1])
    rows = []
    try:
        with stack.worker("pipeline_schedules", topics, url, cfg.model_dir,
                          batch_size=batch_size, **_wait(cfg)) as port:
            for name in cfg.schedules:
                offsets = plan(name, max_rate, cfg.schedule_seconds, cfg.idle_s)
                before = histograms(port)
                stack.sampler.sample()
                t0 = time.time()
                progress(f"schedule {name} (sending)", 0, len(offsets))
                sent = send(stack.client_conf, topics[0], name, offsets)
                stamps = collector.wait(sent, cfg.timeout_s, f"schedule {name}",
                                        [stack.procs["pipeline_schedules"]])
                t1 = time.time()
                after = histograms(port)
                lat = sorted(stamps[p] / 1000 - sent[p] for p in sent)
                first_send = min(sent.values())
                span = max(stamps.values()) / 1000 - first_send
                row: dict[str, Any] = {
                    "schedule": name, "count": len(sent),
                    "offered_per_s": len(offsets) / max(offsets[-1] - offsets[0], 1e-9)
                    if offsets[-1] > offsets[0] else float("inf"),
                    "per_s": len(sent) / span if span > 0 else float("inf"),
                    "latencies_ms": [1000 * x for x in lat],
                    "p50_ms": 1000 * httpload.percentile(lat, 0.5),
                    "p99_ms": 1000 * httpload.percentile(lat, 0.99),
                    "max_ms": 1000 * lat[-1],
                    "batch_mean": hist_delta(before, after, BATCH)["mean"],
                    "predict_ms": 1000 * hist_delta(before, after, PREDICT)["mean"],
                    "predict_p99_ms": 1000 * hist_delta(before, after, PREDICT)["p99"],
                    "start": t0, "end": t1,
                    **stack.sampler.usage("pipeline_schedules", t0),
                }
                rows.append(row)
    finally:
        collector.close()
    return rows


def run_suite(settings: Settings, cfg: SuiteConfig) -> dict[str, Any]:
    """Every mode, then the schedules; returns the raw results (JSON-serialisable)."""
    started = time.time()
    results: dict[str, Any] = {"config": {k: str(v) for k, v in vars(cfg).items()},
                               "started": started, "loadavg_start": os.getloadavg()[0]}
    results["model"] = model_in_process(cfg)
    best = max(results["model"], key=lambda r: r["texts_per_s"])
    results["best_batch_size"] = int(best["batch_size"])
    # The worker's largest batch (adaptive batching picks its size up to it): by default the
    # worker's own default, so modes 3 and 4 measure the worker as shipped. Not the best
    # in-process size: on a shared machine that one is noise, and batch 1 would cap the worker.
    batch = cfg.worker_batch_size or settings.worker.batch_size
    results["worker_batch_size"] = batch
    results["batch_wait_ms"] = cfg.batch_wait_ms
    results["predictor_threads"] = cfg.predictor_threads
    sampler = Sampler().start()
    with ExitStack() as exits:
        stack = BenchStack(settings, cfg.work, exits, sampler)
        url = stack.predictor(cfg.model_dir, threads=cfg.predictor_threads)
        noop = stack.noop()
        results["predictor"] = predictor_http(cfg, url)
        pipeline = backlog(stack, cfg, "pipeline", url, cfg.count, False, batch)
        results["warmup"], noop_row = worker_ceiling(stack, cfg, noop, batch)
        results["modes"] = [pipeline, noop_row] + [
            backlog(stack, cfg, mode, u, n, True, batch)
            for mode, u, n in (("naive", url, cfg.naive_count),
                               ("naive_noop", noop, cfg.naive_noop_count))
        ]
        max_rate = results["modes"][0]["per_s"]
        results["schedules"] = schedules(stack, cfg, url, max_rate, batch)
        sampler.stop()
        results["rss"] = [
            {"t": s.t - started, "name": s.name, "rss_mb": s.rss / 2**20}
            for s in sampler.samples
        ]
    results["finished"] = time.time()
    results["loadavg_end"] = os.getloadavg()[0]
    return results
