"""``python -m transport.topics create``: make the pipeline topics from a settings file.

The worker image carries ``core``, ``schemas`` and ``transport`` but not the ``catmatch``
CLI, so the chart's topic Job (a Helm/Argo CD pre-sync hook) runs this instead of
``catmatch topics create``. Both build the same specs (:func:`pipeline_topic_specs`) and call
the same idempotent :func:`ensure_topics`.

Exit status: 0 when the three topics exist afterwards (made now or before), 1 when Kafka did
not answer within ``--timeout`` or a creation failed (the Job's pod retries), 2 for bad
arguments.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from core.errors import CatmatchError
from core.settings import load_settings
from transport.admin import ensure_topics, pipeline_topic_specs
from transport.configuration import admin_config

log = logging.getLogger("transport.topics")


def build_parser() -> argparse.ArgumentParser:
    """The command line: one action, ``create``."""
    parser = argparse.ArgumentParser(
        prog="python -m transport.topics", description="Create the pipeline topics."
    )
    actions = parser.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create the missing topics (idempotent)")
    create.add_argument("--config", help="settings YAML (default: $CATMATCH_CONFIG)")
    create.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the brokers"
    )
    create.add_argument("--partitions", type=int, help="partitions per topic (default: settings)")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parsed arguments; exits with status 2 on bad ones (argparse's convention)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.timeout <= 0:
        parser.error("--timeout must be positive")
    if args.partitions is not None and args.partitions < 1:
        parser.error("--partitions must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(args.config)
        specs = pipeline_topic_specs(settings, args.partitions)
        result = ensure_topics(admin_config(settings.kafka), specs, timeout=args.timeout)
    except CatmatchError as exc:
        log.error("%s", exc)
        return 1
    for name, status in result.items():
        log.info("%s: %s", name, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
