#!/usr/bin/env python
"""Where the worker's time goes: each step of the hot path alone, then a whole-worker profile.

1. Micro-benchmarks of the per-product steps on generated products (no I/O): JSON decode,
   pydantic validation, tokenizing in batches of 256 (with and without the tokenizer's own
   Rust threads).
2. ``--profile N``: one in-process worker (default settings, result cache off) against the
   no-op V2 predictor (``catmatch.bench.noop``) on a real broker, N unique products
   pre-produced, profiled with yappi over all threads on the CPU clock (``pip install
   yappi``; not a project dependency). yappi slows the worker ~4x and cannot see inside the
   tokenizer's Rust threads: read its shares, not its speed.

    .venv/bin/python scripts/profile_worker.py [--model-dir var/models/seed] [--profile 60000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402

from core.settings import CacheSettings, load_settings  # noqa: E402
from schemas.product import ProductMessage, product_text  # noqa: E402
from tests.fixtures.kafka import consume_all  # noqa: E402
from tests.fixtures.predictor import free_port  # noqa: E402
from tests.integration.worker_harness import WorkerThread, pipeline_settings, produce  # noqa: E402
from training.generator import generate_products  # noqa: E402
from transport.admin import TopicSpec, ensure_topics  # noqa: E402
from transport.broker import EmbeddedKafka  # noqa: E402
from worker.tokenization import BatchTokenizer  # noqa: E402


def per_product(name: str, fn, n: int) -> None:
    started = time.perf_counter()
    fn()
    print(f"  {name:<44} {(time.perf_counter() - started) / n * 1e6:6.1f} µs/product")


def steps(model: Path, count: int = 20000) -> None:
    """Each hot-path step alone, twice (the second run is the one to read)."""
    messages = [p.message for p in generate_products(count, seed=2)]
    raw = [json.dumps(m).encode() for m in messages]
    tokenizer = BatchTokenizer(model / "tokenizer.json", 128)
    texts = [product_text(ProductMessage.model_validate(m)) for m in messages]
    threads = os.environ.get("TOKENIZERS_PARALLELISM", "true")
    print(f"steps ({count} generated products; TOKENIZERS_PARALLELISM={threads}):")
    for _ in range(2):
        per_product("orjson.loads", lambda: [orjson.loads(r) for r in raw], count)
        per_product("pydantic ProductMessage.model_validate",
                    lambda: [ProductMessage.model_validate(m) for m in messages], count)
        per_product("tokenize, batches of 256",
                    lambda: [tokenizer.encode(texts[i:i + 256]) for i in range(0, count, 256)],
                    count)


def profile(model: Path, count: int) -> None:
    import yappi
    with tempfile.TemporaryDirectory() as tmp, EmbeddedKafka(
        load_settings().broker, data_dir=Path(tmp) / "k", port=0, controller_port=0
    ) as kafka:
        _profile_against(kafka.bootstrap_servers, model, count, yappi)


def _profile_against(bootstrap: str, model: Path, count: int, yappi) -> None:  # noqa: ANN001
    port = free_port()
    noop = subprocess.Popen([sys.executable, "-m", "catmatch.bench.noop", "--port", str(port)])
    try:
        time.sleep(1.5)
        topics = tuple(f"prof-{p}-{uuid.uuid4().hex[:6]}" for p in ("in", "out", "dlq"))
        specs = [TopicSpec(t, partitions=1) for t in topics]
        ensure_topics({"bootstrap.servers": bootstrap}, specs, timeout=30)
        products = generate_products(count, seed=1)
        produce(bootstrap, topics[0], (
            (p.message["product_id"].encode(), json.dumps(p.message).encode()) for p in products
        ))
        defaults = load_settings().worker
        settings = pipeline_settings(
            bootstrap, topics, f"http://127.0.0.1:{port}", model,
            batch_size=defaults.batch_size, commit_interval_ms=defaults.commit_interval_ms,
        ).model_copy(update={"cache": CacheSettings(enabled=False)})
        yappi.set_clock_type("cpu")
        yappi.start(builtins=True)
        worker = WorkerThread(settings).start()
        out = consume_all({"bootstrap.servers": bootstrap}, topics[1], expected=count,
                          timeout=600)
        yappi.stop()
        worker.stop()
    finally:
        noop.terminate()
    stamps = sorted(m.timestamp()[1] for m in out)
    rate = (len(out) - 1) / ((stamps[-1] - stamps[0]) / 1000)
    print(f"profile: {len(out)} results, {rate:.0f}/s under yappi")
    threads = sorted(yappi.get_thread_stats(), key=lambda t: -t.ttot)
    total = sum(t.ttot for t in threads)
    for t in threads:
        print(f"  thread {t.name:<20} {t.ttot:7.2f} s CPU  {t.ttot / total:5.1%}")
    print("  functions by own CPU time:")
    for f in sorted(yappi.get_func_stats(), key=lambda f: -f.tsub)[:30]:
        where = f"{f.module.split('/')[-1]}:{f.name}"
        print(f"  {f.tsub:7.2f} s {f.tsub / total:5.1%} {f.ncall:>9} calls  {where}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("var/models/seed"))
    parser.add_argument("--profile", type=int, default=0, help="products for the yappi run")
    args = parser.parse_args()
    steps(args.model_dir)
    if args.profile:
        profile(args.model_dir, args.profile)


if __name__ == "__main__":
    main()
