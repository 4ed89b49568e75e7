"""Benchmark: worker throughput end to end, on a real broker and a real KServe predictor.

For each model and each batch size, a fresh input topic is filled with generated products,
one worker runs against it, and the throughput is taken from the broker timestamps of the
first and last result (so start-up and group join are not counted). All configurations run
side by side in one invocation; compare the ratios, not the absolute numbers, on a shared
machine. Models:

- ``tiny``: random 2-layer BERT (pipeline-bound), ``seed``: the seed MiniLM (model-bound);
- ``trained``/``tfidf``: the newest ``category-match`` / ``category-match-tfidf`` versions
  in ``--store`` (what ``catmatch train`` publishes); ``tfidf`` is served by the sklearn
  runtime and the worker sends raw texts (``worker.input_mode: text``).

``--guarantees at_least_once,exactly_once`` runs each configuration under both delivery
guarantees (exactly once: Kafka transactions, read back with ``read_committed``).

    .venv/bin/python scripts/bench_pipeline.py [--count 2000] [--batch-sizes 1,8,32,64]
        [--models tiny,seed] [--store models] [--guarantees at_least_once]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.settings import load_settings  # noqa: E402
from tests.fixtures.kafka import consume_all  # noqa: E402
from tests.fixtures.predictor import free_port  # noqa: E402
from tests.integration.worker_harness import WorkerThread, pipeline_settings, produce  # noqa: E402
from training.generator import generate_products  # noqa: E402
from transport.admin import TopicSpec, ensure_topics  # noqa: E402
from transport.broker import EmbeddedKafka  # noqa: E402


def start_predictor(model_dir: Path, port: int, log: Path) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "predictor",
        "--model-dir",
        str(model_dir),
        "--http-port",
        str(port),
        "--host",
        "127.0.0.1",
        "--device",
        "cpu",
    ]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v2/models/category-match/ready"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback
                if resp.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit(f"predictor did not start: {log.read_text()[-2000:]}")


def run_config(
    bootstrap: str, url: str, model_dir: Path, count: int, batch_size: int, input_mode: str,
    guarantee: str = "at_least_once",
) -> dict:
    config = {"bootstrap.servers": bootstrap}
    topics = tuple(f"bench-{p}-{uuid.uuid4().hex[:8]}" for p in ("in", "out", "dlq"))
    ensure_topics(config, [TopicSpec(t, partitions=1) for t in topics], timeout=30)
    records = (
        (p.message["product_id"].encode(), json.dumps(p.message).encode())
        for p in generate_products(count, seed=1)
    )
    produce(bootstrap, topics[0], records)
    settings = pipeline_settings(
        bootstrap,
        topics,
        url,
        model_dir,
        batch_size=batch_size,
        batch_wait_ms=20,
        max_inflight_batches=2,
        commit_interval_ms=200,
        input_mode=input_mode,
        processing_guarantee=guarantee,
    )
    worker = WorkerThread(settings).start()
    try:
        out = consume_all(config, topics[1], expected=count, timeout=900)
    finally:
        worker.stop()
    assert len(out) >= count, f"only {len(out)} of {count} results"
    stamps = sorted(m.timestamp()[1] for m in out)
    span_s = (stamps[-1] - stamps[0]) / 1000
    return {
        "guarantee": guarantee,
        "batch_size": batch_size,
        "count": count,
        "seconds": span_s,
        "per_s": (count - 1) / span_s if span_s else float("inf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000, help="products per tiny-model run")
    parser.add_argument("--seed-count", type=int, default=600, help="products per seed run")
    parser.add_argument("--batch-sizes", default="1,8,32,64")
    parser.add_argument("--models", default="tiny,seed", help="tiny, seed, trained, tfidf")
    parser.add_argument("--store", default=None, help="model store (default models.store_uri)")
    parser.add_argument("--guarantees", default="at_least_once",
                        help="at_least_once and/or exactly_once, comma-separated")
    args = parser.parse_args()
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    settings = load_settings()
    rows = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedKafka(
            settings.broker, data_dir=Path(tmp) / "kafka", port=0, controller_port=0
        ) as kafka,
    ):
        for model in args.models.split(","):
            input_mode = "tokens"
            if model == "tiny":
                from training.builders import build_tiny_model

                model_dir = build_tiny_model(Path(tmp) / "tiny")
                count = args.count
            elif model in ("trained", "tfidf"):
                from modelstore import ModelStore

                store = ModelStore.from_uri(args.store or settings.models.store_uri)
                name = settings.models.name + ("-tfidf" if model == "tfidf" else "")
                model_dir = store.local_path(name, store.resolve(name, "latest").version)
                count = args.count if model == "tfidf" else args.seed_count
                input_mode = "text" if model == "tfidf" else "tokens"
            else:
                model_dir = settings.serve.model_dir
                if not (model_dir / "config.json").exists():
                    from training.builders import build_seed_model

                    build_seed_model(model_dir)
                count = args.seed_count
            port = free_port()
            proc = start_predictor(model_dir, port, Path(tmp) / f"{model}.log")
            try:
                for guarantee in args.guarantees.split(","):
                    for size in sizes:
                        row = run_config(
                            kafka.bootstrap_servers, f"http://127.0.0.1:{port}", model_dir,
                            count, size, input_mode, guarantee,
                        )
                        row["model"] = model
                        rows.append(row)
                        print(
                            f"{model:7} {guarantee:13} batch {size:3}: {row['per_s']:8.0f} "
                            f"products/s ({count} in {row['seconds']:.2f}s)",
                            flush=True,
                        )
            finally:
                proc.terminate()
                proc.wait(60)
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d}, {platform.node()}, {os.cpu_count()} cores, "
        f"{platform.processor() or platform.machine()}"
    )
    print(f"| model | guarantee | batch size | products/s | vs batch {sizes[0]} "
          "| vs at least once |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        same = [r for r in rows if r["model"] == row["model"]]
        base = next(
            r for r in same if r["guarantee"] == row["guarantee"] and r["batch_size"] == sizes[0]
        )
        alo = next((r for r in same if r["guarantee"] == "at_least_once"
                    and r["batch_size"] == row["batch_size"]), None)
        vs_alo = f"{row['per_s'] / alo['per_s']:.2f}x" if alo else "-"
        print(
            f"| {row['model']} | {row['guarantee']} | {row['batch_size']} | "
            f"{row['per_s']:.0f} | {row['per_s'] / base['per_s']:.2f}x | {vs_alo} |"
        )


if __name__ == "__main__":
    main()
