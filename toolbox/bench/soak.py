"""``catmatch bench soak``: one worker against the no-op predictor for many products, RSS
sampled throughout.

Every product has a unique title, so the worker's in-process result cache (an LRU) fills up to
``cache.max_entries`` and then stays full; the warm-up lasts until the cache is full (1.2x its
size, at least 10% of the run). RSS growth is measured from the end of the warm-up: the
peak RSS after it, relative to the RSS when it ended.
"""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.settings import Settings
from toolbox.bench.kafkaio import Collector, progress, send
from toolbox.bench.stack import BenchStack
from toolbox.bench.sysstat import Sampler, rss_bytes
from toolbox.errors import InvalidRequest, ToolboxError
from toolbox.harness.children import LOOPBACK, scrape


@dataclass
class SoakConfig:
    work: Path
    model_dir: Path  # only its tokenizer.json is used
    count: int = 1_000_000
    cache_entries: int = 50_000
    batch_size: int = 256
    timeout_s: float = 1800.0
    chunk: int = 50_000  # products per producer call


def _cache_entries(port: int) -> float:
    for line in scrape(f"http://{LOOPBACK}:{port}/metrics").splitlines():
        if line.startswith("catmatch_worker_cache_entries "):
            return float(line.split()[1])
    return float("nan")


def run_soak(settings: Settings, cfg: SoakConfig) -> dict[str, Any]:
    started = time.time()
    warmup = max(int(1.2 * cfg.cache_entries), cfg.count // 10)
    if warmup >= cfg.count:
        raise InvalidRequest(f"--count {cfg.count} is too small: the warm-up alone is {warmup} "
                        "products (1.2x --cache-entries, at least 10%)")
    samples: list[dict[str, Any]] = []
    with ExitStack() as exits:
        sampler = Sampler()
        stack = BenchStack(settings, cfg.work, exits, sampler)
        url = stack.noop()
        topics = stack.topics("soak")
        collector = Collector(stack.client_conf, topics[1])
        exits.callback(collector.close)
        errors: list[BaseException] = []

        def produce() -> None:
            try:
                for start in range(0, cfg.count, cfg.chunk):
                    n = min(cfg.chunk, cfg.count - start)
                    send(stack.client_conf, topics[0], "soak", [0.0] * n, unique_titles=True,
                         start_n=start)
            except BaseException as exc:  # noqa: BLE001 - reported by the main thread
                errors.append(exc)

        with stack.worker("worker", topics, url, cfg.model_dir, cache=True,
                          cache_entries=cfg.cache_entries, batch_size=cfg.batch_size) as port:
            pid = stack.pids["worker"]
            producer = threading.Thread(target=produce, name="soak-producer", daemon=True)
            producer.start()
            deadline = time.monotonic() + cfg.timeout_s
            done = 0
            while time.monotonic() < deadline and not errors:
                done = collector.size()
                rss = rss_bytes(pid)
                if rss is not None:
                    samples.append({"t": time.time() - started, "done": done,
                                    "name": "worker", "rss_mb": rss / 2**20})
                progress("soak", done, cfg.count)
                if done >= cfg.count:
                    break
                stack.procs["worker"].check()
                time.sleep(1.0)
            progress("soak", done, cfg.count, end=True)
            entries = _cache_entries(port)
            producer.join(60)
        if errors:
            raise ToolboxError(f"soak producer failed: {errors[0]}")
        if done < cfg.count:
            raise ToolboxError(f"soak: only {done} of {cfg.count} products labelled")
        duplicates = collector.duplicates
    after = [s for s in samples if s["done"] >= warmup]
    base = after[0]["rss_mb"] if after else float("nan")
    peak = max(s["rss_mb"] for s in after) if after else float("nan")
    span = (samples[-1]["t"] - samples[0]["t"]) if samples else 0.0
    return {
        "count": cfg.count, "labelled": done, "duplicates": duplicates,
        "warmup_products": warmup, "cache_max_entries": cfg.cache_entries,
        "cache_entries_at_end": entries, "rss_start_mb": samples[0]["rss_mb"],
        "rss_after_warmup_mb": base, "rss_peak_after_warmup_mb": peak,
        "rss_end_mb": samples[-1]["rss_mb"], "growth": (peak - base) / base,
        "seconds": span, "per_s": done / span if span else float("nan"),
        "samples": samples, "started": started,
    }
