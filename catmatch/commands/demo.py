"""``catmatch demo``: the whole pipeline on embedded defaults, end to end, then a clean stop.

Starts an Apache Kafka broker (fresh data dir under ``var/demo``), a Redis for the shared
result cache (when ``redis-server`` is installed), the KServe predictor, the worker fleet,
produces synthetic products plus a few malformed messages, prints labelled results, dead
letters and the throughput, sends the first products again under new ids (answered from the
result cache), and shuts everything down.

The model: the newest version in the model store when ``catmatch train`` has published one
(``--model-ref``, default ``latest``; ``--store-name category-match-tfidf`` serves the TF-IDF
baseline with the sklearn runtime), else the seed model, built offline first if missing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import ExitStack, closing
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from catmatch import procs
from catmatch.commands.tail import iter_messages
from catmatch.errors import UserError
from catmatch.produce.sender import produce_generated, produce_products
from core.categories import same_category
from core.names import LATEST
from core.settings import KafkaSettings, Settings
from modelstore import ModelStore, StoreError
from resultcache.server import RedisServer
from training.generator import generate_products, read_truth
from transport.admin import ensure_topics, pipeline_topic_specs
from transport.broker import EmbeddedKafka
from transport.broker.config import free_ports

MALFORMED = [
    b"this is not json",
    b'{"product_id": "bad-1"}',
    b'{"product_id": "bad-2", "title": "   "}',
    b'{"product_id": "bad-3", "title": "Kettle", "price": -5}',
    b"[1, 2, 3]",
]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run broker + predictor + workers + producer end to end")
    p.add_argument("--count", type=int, default=400, help="synthetic products to classify")
    p.add_argument("--workers", type=int, default=2, help="worker processes = partitions")
    p.add_argument("--rate", type=float, default=0, help="products/s (0 = as fast as possible)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--show", type=int, default=15, help="results to print")
    p.add_argument("--work-dir", type=Path, default=Path("var/demo"))
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for all labels")
    p.add_argument("--model-ref", default=LATEST,
                   help="store version to serve when the store has the model: latest, dev, "
                   "production, vN; 'seed' always serves the seed model")
    p.add_argument("--store", help="model store (default: models.store_uri)")
    p.add_argument("--store-name", help="model name in the store (default: models.name)")
    p.set_defaults(func=run)


def _say(text: str) -> None:
    print(f"==> {text}", flush=True)


def _free_port() -> int:
    return free_ports("127.0.0.1", 1)[0]


def store_model(args: argparse.Namespace, settings: Settings) -> tuple[str, str, str] | None:
    """``(store uri, name, version)`` to serve from the store, or ``None`` for the seed."""
    if args.model_ref == "seed":
        return None
    uri = args.store or settings.models.store_uri
    name = args.store_name or settings.models.name
    try:
        store = ModelStore.from_uri(uri)
        version = store.resolve(name, args.model_ref).version
    except (StoreError, OSError) as exc:
        if args.store or args.store_name or args.model_ref != LATEST:
            raise UserError(f"cannot serve {name} {args.model_ref} from {uri}: {exc}") from None
        return None
    return str(store.uri), name, str(version)


def ensure_model(settings: Settings) -> Path:
    """The served model directory; the seed model is built offline when there is none."""
    model_dir = settings.serve.model_dir
    if (model_dir / "config.json").is_file() and (model_dir / "tokenizer.json").is_file():
        return model_dir
    _say(f"no model in {model_dir}: building the seed model offline (once, ~1-3 min)")
    from training.builders import build_seed_model  # numpy and torch: only when building

    return build_seed_model(model_dir)


def run(args: argparse.Namespace, settings: Settings) -> int:
    work = args.work_dir
    if work.exists():
        shutil.rmtree(work)
    (work / "logs").mkdir(parents=True)
    from_store = store_model(args, settings)
    if from_store is None:
        model_dir = ensure_model(settings)
        what = f"the seed model ({model_dir})"
        serve_args = ["--model-dir", str(model_dir)]
        worker_env = {"CATMATCH_WORKER__TOKENIZER_PATH": str(model_dir / "tokenizer.json")}
    else:
        uri, name, version = from_store
        what = f"{name} {version} from the model store {uri}"
        serve_args = ["--store", uri, "--store-name", name, "--model-ref", version]
        worker_env = {
            "CATMATCH_MODELS__STORE_URI": uri,
            "CATMATCH_MODELS__NAME": name,
            "CATMATCH_WORKER__MODEL_REF": version,
        }

    with ExitStack() as stack:
        _say("starting Apache Kafka (KRaft, single node) on loopback")
        kafka = stack.enter_context(
            EmbeddedKafka(settings.broker, data_dir=work / "kafka", port=0, controller_port=0)
        )
        settings = settings.model_copy(
            update={
                "kafka": KafkaSettings(bootstrap_servers=kafka.bootstrap_servers),
                "topics": settings.topics.model_copy(update={"partitions": args.workers}),
            }
        )
        _say(f"broker ready at {kafka.bootstrap_servers}")
        specs = pipeline_topic_specs(settings, args.workers)
        for name, state in ensure_topics(settings.kafka.client_config(), specs).items():
            print(f"    topic {name}: {state}")

        env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
        if shutil.which("redis-server") and settings.cache.enabled:
            redis = stack.enter_context(RedisServer(work / "redis"))
            env["CATMATCH_CACHE__REDIS_URL"] = redis.url
            _say(f"Redis (shared result cache) ready at {redis.url}")
        else:
            _say("no redis-server installed: each worker keeps its own in-process result cache")

        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        _say(f"starting the KServe predictor with {what} on {url}")
        plog = work / "logs" / "predictor.log"
        predictor = stack.enter_context(
            procs.managed(
                [
                    sys.executable,
                    "-m",
                    "predictor",
                    *serve_args,
                    "--model-name",
                    settings.serve.model_name,
                    "--http-port",
                    str(port),
                    "--host",
                    "127.0.0.1",
                ],
                env,
                plog,
            )
        )
        ready = f"{url}/v2/models/{settings.serve.model_name}/ready"
        procs.wait_http(ready, predictor, 300, plog)
        _say("predictor ready")

        wenv = {
            **env,
            "CATMATCH_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "CATMATCH_PREDICTOR__URL": url,
            "CATMATCH_PREDICTOR__MODEL_NAME": settings.serve.model_name,
            "CATMATCH_WORKER__METRICS_PORT": str(_free_port()),
            **worker_env,
        }
        _say(f"starting {args.workers} workers (group {settings.worker.group_id})")
        wlog = work / "logs" / "workers.log"
        workers = stack.enter_context(
            procs.managed(
                [sys.executable, "-m", "catmatch", "work", "--workers", str(args.workers)],
                wenv,
                wlog,
            )
        )
        base = int(wenv["CATMATCH_WORKER__METRICS_PORT"])
        ports = [base + i for i in range(args.workers)]
        procs.wait_assigned(ports, [workers], wlog)
        status = _produce_and_report(args, settings, work, workers)
        _replay(args, settings, work, ports)
        _say("stopping workers, predictor and broker")
        return status


def _produce_and_report(
    args: argparse.Namespace, settings: Settings, work: Path, workers: subprocess.Popen
) -> int:
    truth_path = work / "truth.csv"
    _say(f"producing {args.count} synthetic products and {len(MALFORMED)} malformed messages")
    started = time.monotonic()
    report = produce_generated(
        settings, args.count, args.seed, truth_path=truth_path, rate=args.rate
    )
    bad = produce_products(settings, MALFORMED, raw=True)
    print(f"    {report.summary()}; malformed: {bad.summary()}")

    results: dict[str, dict] = {}  # product id -> its (first) label
    labels = 0
    print(f"\n{'product':<14} {'label':<58} {'score':>5}  title")
    titles = _titles(args.count, args.seed)
    stream = iter_messages(
        settings, settings.topics.output, from_beginning=True, idle_timeout=args.timeout
    )
    with closing(stream):
        for msg in stream:
            result = msg.json()
            labels += 1
            if result["product_id"] in results:
                continue
            results[result["product_id"]] = result
            if len(results) <= args.show:
                title = titles.get(result["product_id"], "")[:50]
                print(
                    f"{result['product_id']:<14} {result['label'][:58]:<58} "
                    f"{result['score']:5.2f}  {title}"
                )
            if len(results) == report.delivered:
                break
            if workers.poll() is not None:
                raise UserError(f"workers exited with {workers.returncode}; see {work}/logs")
    elapsed = time.monotonic() - started
    if len(results) < report.delivered:
        raise UserError(f"only {len(results)}/{report.delivered} labels arrived; see {work}/logs")

    print("\ndead letters:")
    for msg in iter_messages(
        settings,
        settings.topics.dead_letter,
        from_beginning=True,
        count=len(MALFORMED),
        idle_timeout=30,
    ):
        letter = msg.json()
        print(
            f"    offset {letter['source_offset']:>4}  {letter['error_class']:<15} "
            f"{letter['reason'][:70]}"
        )

    truth = read_truth(truth_path)
    agree = sum(same_category(r["label"], truth[pid]) for pid, r in results.items())
    first = next(iter(results.values()))
    print()
    _say(
        f"{len(results)}/{report.delivered} products labelled ({labels - len(results)} labelled "
        f"twice), model {first['model_name']} version {first['model_version']}"
    )
    _say(
        f"end to end: {elapsed:.1f}s, {len(results) / elapsed:.0f} products/s "
        f"({args.workers} workers, CPU predictor)"
    )
    note = (
        "seed model: a linear probe on HS descriptions, not trained on shop titles"
        if first["model_version"].startswith("seed")
        else "a trained model; the generator's titles resemble its synthetic training titles"
    )
    _say(f"agreement with the synthetic categories: {agree / len(results):.0%} ({note})")
    return 0


def _replay(args: argparse.Namespace, settings: Settings, work: Path, ports: list[int]) -> None:
    """Send the first products again under new ids: the result cache answers them."""
    count = min(args.count, 100)
    before = _cache_lookups(ports)
    again = []
    for product in generate_products(count, args.seed):
        message = dict(product.message, product_id=f"again-{product.message['product_id']}")
        again.append(json.dumps(message).encode())
    produce_products(settings, again, raw=True)
    seen: set[str] = set()
    stream = iter_messages(
        settings, settings.topics.output, from_beginning=True, idle_timeout=args.timeout
    )
    with closing(stream):
        for msg in stream:
            pid = msg.json()["product_id"]
            if pid.startswith("again-"):
                seen.add(pid)
            if len(seen) == count:
                break
    if len(seen) < count:
        raise UserError(f"only {len(seen)}/{count} repeated products came back; see {work}/logs")
    after = _cache_lookups(ports)
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    _say(
        f"{count} products sent again under new ids: result cache "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(delta.items()))
    )


def _cache_lookups(ports: list[int]) -> dict[str, float]:
    """``catmatch_worker_cache_lookups_total`` per result, summed over the workers."""
    totals: dict[str, float] = {}
    for port in ports:
        text = procs.scrape(f"http://127.0.0.1:{port}/metrics")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == "catmatch_worker_cache_lookups_total":
                    result = sample.labels["result"]
                    totals[result] = totals.get(result, 0.0) + sample.value
    return totals


def _titles(count: int, seed: int) -> dict[str, str]:
    return {p.message["product_id"]: p.message["title"] for p in generate_products(count, seed)}
