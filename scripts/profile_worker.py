#!/usr/bin/env python
"""Where the worker's time goes: each step of the hot path alone, then a whole-worker profile.

1. Micro-benchmarks of the per-product steps on generated products (no I/O): JSON decode,
   pydantic validation, tokenizing in batches of 256 (with and without the tokenizer's own
   Rust threads).
2. ``--profile N``: ``python -m worker`` as deployed (default settings, result cache off)
   against the no-op V2 predictor (``toolbox.bench.noop``) on a real broker: a warm-up pass
   of N products, then a pass of N sampled by py-spy (``pip install py-spy``; not a project
   dependency) over all threads. It prints the samples per thread and the event-loop
   thread's functions. py-spy attributes time spent in C (librdkafka, orjson, pydantic-core,
   the tokenizer) to the Python line that called it.

    .venv/bin/python scripts/profile_worker.py [--model-dir var/models/seed] \\
        [--profile 150000 --seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson  # noqa: E402
from confluent_kafka import Message  # noqa: E402

from core.settings import load_settings  # noqa: E402
from schemas.product import ProductMessage, product_text  # noqa: E402
from toolbox.bench.stack import BenchStack  # noqa: E402
from toolbox.bench.suite import SuiteConfig, backlog  # noqa: E402
from toolbox.bench.sysstat import Sampler  # noqa: E402
from training.generator import generate_products  # noqa: E402
from transport.consumer import position  # noqa: E402
from worker.messages import MessagePath  # noqa: E402
from worker.offsets import OffsetTracker  # noqa: E402
from worker.outputs import Labelled, OutputBuilder, count_outputs  # noqa: E402
from worker.predictor_client import parse_response  # noqa: E402
from worker.supervisor import tune_gc  # noqa: E402
from worker.tokenization import BatchTokenizer  # noqa: E402
from worker.validation import validate_many  # noqa: E402


def per_product(name: str, fn, n: int) -> None:
    started = time.perf_counter()
    fn()
    print(f"  {name:<52} {(time.perf_counter() - started) / n * 1e6:6.1f} µs/product")


def steps(model: Path, count: int = 20000) -> None:
    """Each hot-path step alone, twice (the second run is the one to read)."""
    messages = [p.message for p in generate_products(count, seed=2)]
    raw = [json.dumps(m).encode() for m in messages]
    tokenizer = BatchTokenizer(model / "tokenizer.json", 128)
    texts = [product_text(ProductMessage.model_validate(m)) for m in messages]
    parallel = os.environ.get("TOKENIZERS_PARALLELISM")
    print(f"steps ({count} generated products):")
    for _ in range(2):
        per_product("orjson.loads", lambda: [orjson.loads(r) for r in raw], count)
        per_product("pydantic ProductMessage.model_validate",
                    lambda: [ProductMessage.model_validate(m) for m in messages], count)
        per_product("pydantic, one call per batch of 256 (the worker's)",
                    lambda: [validate_many(messages[i:i + 256]) for i in range(0, count, 256)],
                    count)
        for threads in ("true", "false"):  # read by the tokenizer at each call
            os.environ["TOKENIZERS_PARALLELISM"] = threads
            cpu = time.process_time()
            per_product(f"tokenize, batches of 256, Rust threads {threads}",
                        lambda: [tokenizer.tokenize(texts[i:i + 256])
                                 for i in range(0, count, 256)], count)
            print(f"  {'  (CPU of all threads)':<52} "
                  f"{(time.process_time() - cpu) / count * 1e6:6.1f} µs/product")
    if parallel is None:
        os.environ.pop("TOKENIZERS_PARALLELISM", None)
    else:
        os.environ["TOKENIZERS_PARALLELISM"] = parallel
    message_path(messages, count)


def message_path(messages: list[dict[str, object]], count: int) -> None:
    """The worker's synchronous path around the predictor, per batch of 256: consumed bytes
    -> products (``MessagePath.triage``), a V2 response read back, result records, counts and
    offsets; first with Python's default garbage collector, then with the worker's
    (:func:`worker.supervisor.tune_gc`)."""
    now = datetime.now(UTC).isoformat()
    msgs = [Message(topic="in", partition=0, offset=i, key=b"k",
                    value=orjson.dumps({**m, "event_time": now}))
            for i, m in enumerate(messages)]
    path = MessagePath(OutputBuilder("out", "dlq", "w", 1 << 20), 64 * 1024, 32)
    k = 3
    body = orjson.dumps({"model_name": "m", "model_version": "1", "outputs": [
        {"name": "label", "shape": [256], "data": ["Machinery"] * 256},
        {"name": "label_id", "shape": [256], "data": [15] * 256},
        {"name": "score", "shape": [256], "data": [0.9] * 256},
        {"name": "top_k_label", "shape": [256, k], "data": ["A", "B", "C"] * 256},
        {"name": "top_k_label_id", "shape": [256, k], "data": [1, 2, 3] * 256},
        {"name": "top_k_score", "shape": [256, k], "data": [0.5, 0.3, 0.2] * 256}]})

    def run() -> None:
        tracker = OffsetTracker()
        for b in range(0, count - 255, 256):
            batch = msgs[b:b + 256]
            tickets = tracker.track_many(map(position, batch))
            out, valid = path.triage(batch)
            result = parse_response(orjson.loads(body), 256)
            when = datetime.now(UTC)
            for (m, p, _), pred in zip(valid, result.predictions, strict=False):
                out.append(path.output(m, p, Labelled(pred, "m", "1"), when))
            count_outputs(out)
            tracker.done(tickets)

    print("message path: decode, validate, read the response, build and count records:")
    for label in ("Python's default GC", "the worker's GC (frozen start-up heap, 50,000)"):
        if label.startswith("the worker"):
            tune_gc()
        for _ in range(3):
            per_product(label, run, count - count % 256)


def profile(model: Path, count: int, seconds: int) -> None:
    """``python -m worker`` (as deployed: default settings, result cache off) against the
    no-op predictor on a real broker, sampled by py-spy while it works through ``count``
    pre-produced products, after a warm-up pass of the same size (the broker's JIT)."""
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as exits:
        sampler = Sampler().start()
        work = Path(tmp)
        stack = BenchStack(settings, work, exits, sampler)
        noop = stack.noop()
        cfg = SuiteConfig(model_dir=model, work=work)
        batch = settings.worker.batch_size
        warm = backlog(stack, cfg, "warmup", noop, count, False, batch)
        print(f"warm-up pass: {warm['per_s']:.0f} products/s")
        raw = work / "spy.txt"
        recorder = threading.Thread(target=_record, args=(stack, spy, raw, seconds), daemon=True)
        recorder.start()
        row = backlog(stack, cfg, "profiled", noop, count, False, batch)
        recorder.join()
        sampler.stop()
        cpu_us = row["cpu_cores"] / row["per_s"] * 1e6
        print(f"profiled pass: {row['per_s']:.0f} products/s, worker {row['cpu_cores']:.2f} "
              f"cores = {cpu_us:.1f} µs of CPU per product (py-spy's sampling included)")
        _report(raw.read_text() if raw.exists() else "")


def _record(stack: BenchStack, spy: str, out: Path, seconds: int) -> None:
    """py-spy on the profiled worker once it runs, for ``seconds`` (or until it exits)."""
    deadline = time.monotonic() + 120
    while "profiled" not in stack.pids and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = stack.pids.get("profiled")
    if pid is None:
        return
    done = subprocess.run([spy, "record", "-p", str(pid), "-d", str(seconds), "-r", "250",
                           "--threads", "--format", "raw", "-o", str(out)],
                          check=False, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"py-spy failed ({done.returncode}): {done.stderr.strip()[-500:]}", file=sys.stderr)


# py-spy's raw format starts each stack with its thread: 'thread (1234): MainThread' (some
# versions print the id in hex and quote the name).
_THREAD = re.compile(r'^thread \((?:0x)?[0-9a-fA-F]+\):\s*"?([^"]*)"?$')


def _report(raw: str, top: int = 25) -> None:
    """Samples per thread, then the event-loop thread's functions by inclusive and own share."""
    threads: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    main = 0
    for line in raw.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        frames = stack.split(";")
        thread = _THREAD.sub(r"\1", frames[0]).strip()
        threads[thread] += int(n)
        if "MainThread" not in thread:
            continue
        main += int(n)
        names = [re.sub(r" \(.*?([^/]+\.py):\d+\)", r" (\1)", f) for f in frames[1:]]
        if names:
            own[names[-1]] += int(n)
        for name in set(names):
            inclusive[name] += int(n)
    total = sum(threads.values()) or 1
    print("samples per thread (share of all samples):")
    for name, n in threads.most_common():
        print(f"  {n / total:6.1%}  {name}")
    if not main:
        return
    print(f"event-loop thread, inclusive ({main} samples):")
    for name, n in inclusive.most_common(top):
        print(f"  {n / main:6.1%}  {name}")
    print("event-loop thread, own time:")
    for name, n in own.most_common(top):
        print(f"  {n / main:6.1%}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=Path("var/models/seed"))
    parser.add_argument("--profile", type=int, default=0,
                        help="products per pass of the py-spy run (0: steps only)")
    parser.add_argument("--seconds", type=int, default=4, help="py-spy sampling time")
    args = parser.parse_args()
    steps(args.model_dir)
    if args.profile:
        profile(args.model_dir, args.profile, args.seconds)


if __name__ == "__main__":
    main()
