"""``catmatch work``: run the worker fleet (one process per input partition by default)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from catmatch.errors import UserError
from catmatch.settings import Settings

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("work", help="consume products, classify them, produce labels")
    p.add_argument("--workers", type=int, help="processes (default: input topic partitions)")
    p.add_argument("--instance-id", help="this worker's id / static group member (one worker)")
    p.add_argument("--predictor-url", help="KServe InferenceService URL")
    p.add_argument("--tokenizer", help="path of the served model's tokenizer.json")
    p.set_defaults(func=run)


def input_partitions(settings: Settings, timeout_s: float = 5.0) -> int | None:
    """Partitions of the input topic, or ``None`` when it cannot be read."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(settings.kafka.client_config())
    try:
        meta = admin.list_topics(settings.topics.input, timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - any failure means "unknown"
        log.warning("cannot read partitions of %s: %s", settings.topics.input, exc)
        return None
    topic = meta.topics.get(settings.topics.input)
    if topic is None or topic.error is not None:
        return None
    return len(topic.partitions)


def run(args: argparse.Namespace, settings: Settings) -> int:
    updates = {}
    if args.predictor_url:
        updates["predictor"] = settings.predictor.model_copy(update={"url": args.predictor_url})
    if args.tokenizer:
        tokenizer = Path(args.tokenizer)
        updates["worker"] = settings.worker.model_copy(update={"tokenizer_path": tokenizer})
    settings = settings.model_copy(update=updates)
    if not settings.worker.model_ref and not settings.worker.tokenizer_path.is_file():
        raise UserError(
            f"tokenizer not found at {settings.worker.tokenizer_path}: build a model first "
            "(catmatch model seed) or set CATMATCH_WORKER__TOKENIZER_PATH"
        )
    workers = args.workers or input_partitions(settings) or settings.worker.workers
    if workers == 1 or args.instance_id:
        from worker.supervisor import serve_one

        asyncio.run(serve_one(settings, 0, args.instance_id))
        return 0
    from worker.supervisor import Supervisor

    log.info("starting %d workers", workers)
    return Supervisor(settings, workers, args.log_level.upper()).run()
