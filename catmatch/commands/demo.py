"""``catmatch demo``: the whole pipeline on embedded defaults, end to end, then a clean stop.

Starts an Apache Kafka broker (fresh data dir under ``var/demo``), a Redis for the shared
result cache (when ``redis-server`` is installed), the KServe predictor, the worker fleet,
produces synthetic products plus a few malformed messages, prints labelled results, dead
letters and the throughput, sends the first products again under new ids (answered from the
result cache), and shuts everything down.

The model: the newest version in the model store when ``catmatch train`` has published one
(``--model-ref``, default ``latest``; ``--store-name category-match-tfidf`` serves the TF-IDF
baseline with the sklearn runtime), else the demo model: TF-IDF character n-grams on HS
descriptions and synthetic shop titles (English and Korean), built offline first if missing
(well under a minute) and served on the sklearn runtime. ``--model-ref seed`` serves the
older seed model. The demo states the served model's accuracy on the hand-written titles.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path
from typing import Any

from catmatch.console import say
from catmatch.errors import UserError
from catmatch.options import Subparsers, add_command
from core.categories import same_category
from core.names import LATEST
from core.settings import Settings
from toolbox import demo
from toolbox.harness.children import free_port
from toolbox.harness.secure import kafka_env, role_user
from toolbox.harness.stack import Stack, fresh_dir
from toolbox.harness.workers import WorkerProcess, wait_assigned
from toolbox.produce.sender import produce_generated, produce_products
from toolbox.readers import iter_messages
from training.generator import read_truth
from transport.acls import PipelineNames
from transport.admin import ensure_topics, pipeline_topic_specs

PREDICTOR_START_TIMEOUT_S = 300.0


def register(sub: Subparsers) -> None:
    p = add_command(sub, "demo", "run broker + predictor + workers + producer end to end")
    p.add_argument("--count", type=int, default=400, help="synthetic products to classify")
    p.add_argument("--security", choices=("none", "sasl_plaintext", "sasl_ssl"), default="none",
                   help="secure the broker (TLS, SCRAM logins, ACLs): the workers and the demo "
                   "itself then log in as users holding only their roles' ACLs (catmatch acls)")
    p.add_argument("--workers", type=int, default=2, help="worker processes = partitions")
    p.add_argument("--rate", type=float, default=0, help="products/s (0 = as fast as possible)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--show", type=int, default=15, help="results to print")
    p.add_argument("--work-dir", type=Path, default=Path("var/demo"))
    p.add_argument("--timeout", type=float, default=600, help="seconds to wait for all labels")
    p.add_argument("--model-ref", default=LATEST,
                   help="store version to serve when the store has the model: latest, dev, "
                   "production, vN; 'demo' always serves the demo TF-IDF model, 'seed' the "
                   "seed model")
    p.add_argument("--store", help="model store (default: models.store_uri)")
    p.add_argument("--store-name", help="model name in the store (default: models.name)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    work = fresh_dir(args.work_dir)
    served = demo.choose_model(settings, args.model_ref, args.store, args.store_name, say)
    broker = settings.broker.model_copy(update={"security": args.security})
    with Stack(work, broker) as stack:
        say("starting Apache Kafka (KRaft, single node) on loopback")
        kafka = stack.broker()
        names = PipelineNames.from_settings(settings)
        worker_kafka = role_user(kafka, "demo-worker", ["worker"], names)
        client_kafka = role_user(kafka, "demo-client", ["producer", "reader", "operator"], names)
        settings = settings.model_copy(
            update={
                "kafka": client_kafka,
                "topics": settings.topics.model_copy(update={"partitions": args.workers}),
            }
        )
        say(f"broker ready at {kafka.bootstrap_servers}")
        if kafka.security is not None:
            say(f"secured ({kafka.security.protocol}, SCRAM-SHA-512, ACLs enforced): the "
                "workers log in as demo-worker (role worker), the demo as demo-client "
                "(producer, reader, operator)")
        specs = pipeline_topic_specs(settings, args.workers)
        for name, state in ensure_topics(kafka.client_config(), specs).items():
            print(f"    topic {name}: {state}")

        if shutil.which("redis-server") and settings.cache.enabled:
            redis = stack.redis()
            stack.env["CATMATCH_CACHE__REDIS_URL"] = redis.url
            say(f"Redis (shared result cache) ready at {redis.url}")
        else:
            say("no redis-server installed: each worker keeps its own in-process result cache")

        port = free_port()
        url = f"http://127.0.0.1:{port}"
        say(f"starting the KServe predictor with {served.what} on {url}")
        stack.predictor(
            served.model_dir, model_name=settings.serve.model_name, port=port, device=None,
            extra_args=served.predictor_args, start_timeout_s=PREDICTOR_START_TIMEOUT_S,
        )
        say("predictor ready")

        say(f"starting {args.workers} workers (group {settings.worker.group_id})")
        workers = stack.worker("workers", {
            **stack.env,
            **kafka_env(worker_kafka),
            "CATMATCH_PREDICTOR__URL": url,
            "CATMATCH_PREDICTOR__MODEL_NAME": settings.serve.model_name,
            **served.worker_env,
        }, workers=args.workers)
        wait_assigned([workers])
        status = _produce_and_report(args, settings, work, workers, served)
        _send_again(args, settings, work, workers)
        say("stopping workers, predictor and broker")
        return status


def _produce_and_report(
    args: argparse.Namespace, settings: Settings, work: Path, workers: WorkerProcess,
    served: demo.ServedModel,
) -> int:
    truth_path = work / "truth.csv"
    say(f"producing {args.count} synthetic products and {len(demo.MALFORMED)} malformed "
         "messages")
    started = time.monotonic()
    report = produce_generated(
        settings, args.count, args.seed, truth_path=truth_path, rate=args.rate
    )
    bad = produce_products(settings, demo.MALFORMED, raw=True)
    print(f"    {report.summary()}; malformed: {bad.summary()}")

    results: dict[str, dict[str, Any]] = {}  # product id -> its (first) label
    labels = 0
    print(f"\n{'product':<14} {'label':<58} {'score':>5}  title")
    titles = demo.titles(args.count, args.seed)
    for result, first in demo.read_results(settings, args.timeout, workers):
        labels += 1
        if not first:
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
    elapsed = time.monotonic() - started
    if len(results) < report.delivered:
        raise UserError(f"only {len(results)}/{report.delivered} labels arrived; see {work}/logs")

    print("\ndead letters:")
    for msg in iter_messages(
        settings,
        settings.topics.dead_letter,
        from_beginning=True,
        count=len(demo.MALFORMED),
        idle_timeout=30,
    ):
        letter = msg.json()
        print(
            f"    offset {letter['source_offset']:>4}  {letter['error_class']:<15} "
            f"{letter['reason'][:70]}"
        )

    truth = read_truth(truth_path)
    agree = sum(same_category(r["label"], truth[pid]) for pid, r in results.items())
    first_result = next(iter(results.values()))
    print()
    say(
        f"{len(results)}/{report.delivered} products labelled ({labels - len(results)} labelled "
        f"twice), model {first_result['model_name']} version {first_result['model_version']}"
    )
    say(
        f"end to end: {elapsed:.1f}s, {len(results) / elapsed:.0f} products/s "
        f"({args.workers} workers, CPU predictor)"
    )
    version = first_result["model_version"]
    note = (
        "seed model: a linear probe on HS descriptions, not trained on shop titles"
        if version.startswith("seed")
        else "demo model: trained on titles of another generator seed, so this flatters it"
        if version.startswith("demo")
        else "a trained model; the generator's titles resemble its synthetic training titles"
    )
    say(f"agreement with the synthetic categories: {agree / len(results):.0%} ({note})")
    say(f"the served model is {demo.accuracy_note(served.metrics)}")
    uncertain = sum(bool(r.get("uncertain")) for r in results.values())
    say(f"{uncertain} of {len(results)} results carry uncertain=true (calibrated score below "
        f"worker.min_score {settings.worker.min_score}): route those to a person")
    return 0


def _send_again(
    args: argparse.Namespace, settings: Settings, work: Path, workers: WorkerProcess
) -> None:
    """Send the first products again under new ids: the result cache answers them."""
    count = min(args.count, 100)
    urls = [workers.metrics_url(i) for i in range(args.workers)]
    before = demo.cache_lookups(urls)
    labelled = demo.send_again(settings, count, args.seed, args.timeout, workers)
    if labelled < count:
        raise UserError(f"only {labelled}/{count} repeated products came back; see {work}/logs")
    after = demo.cache_lookups(urls)
    delta = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in after}
    say(
        f"{count} products sent again under new ids: result cache "
        + ", ".join(f"{k} {v:.0f}" for k, v in sorted(delta.items()))
    )
