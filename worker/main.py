"""Start the worker fleet: ``python -m worker`` (the worker image) or ``catmatch work``.

Both take the same options (:func:`add_arguments`) and call :func:`run`: one worker in this
process when asked for one (the container case: one pod per partition, signals go straight
to the worker), else a :class:`~worker.supervisor.Supervisor` of N processes, by default one
per input partition.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from core.errors import CatmatchError
from core.settings import Settings, load_settings
from transport.configuration import admin_config
from transport.metadata import partition_count
from worker.errors import WorkerError
from worker.supervisor import Supervisor, serve_one

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The worker's own options (``--config`` and ``--log-level`` are the caller's)."""
    parser.add_argument("--workers", type=int, help="processes (default: input topic partitions)")
    parser.add_argument("--instance-id", help="this worker's id / static group member (one worker)")
    parser.add_argument("--predictor-url", help="KServe InferenceService URL")
    parser.add_argument("--tokenizer", help="path of the served model's tokenizer.json")


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run until SIGTERM/SIGINT; returns the exit code."""
    updates: dict[str, BaseModel] = {}
    if args.predictor_url:
        updates["predictor"] = settings.predictor.model_copy(update={"url": args.predictor_url})
    if args.tokenizer:
        tokenizer = Path(args.tokenizer)
        updates["worker"] = settings.worker.model_copy(update={"tokenizer_path": tokenizer})
    settings = settings.model_copy(update=updates)
    w = settings.worker
    if not w.model_ref and w.input_mode == "tokens" and not w.tokenizer_path.is_file():
        raise WorkerError(
            f"tokenizer not found at {w.tokenizer_path}: build a model first "
            "(catmatch model seed) or set CATMATCH_WORKER__TOKENIZER_PATH"
        )
    workers = (
        args.workers
        or partition_count(admin_config(settings.kafka), settings.topics.input)
        or w.workers
    )
    if workers == 1 or args.instance_id:
        asyncio.run(serve_one(settings, 0, args.instance_id))
        return 0
    log.info("starting %d workers", workers)
    return Supervisor(settings, workers, args.log_level.upper()).run()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m worker [--config FILE] [--log-level L] [--workers N] ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m worker",
        description="Consume products, classify them with the predictor, produce labels.",
    )
    parser.add_argument("--config", help="YAML settings file (default: $CATMATCH_CONFIG)")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING, ERROR")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s",
    )
    try:
        return run(args, load_settings(args.config))
    except CatmatchError as exc:
        print(f"worker: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
