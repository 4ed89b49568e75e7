"""``catmatch topics``: create, list, describe (with consumer lag) and delete the topics.

The operations live in :mod:`transport.admin`; this module parses arguments and prints.
"""

from __future__ import annotations

import argparse
from typing import Any

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_actions, add_command, add_connect_timeout
from core.settings import Settings
from transport.admin import (
    admin_client,
    delete_topics,
    ensure_topics,
    pipeline_topic_specs,
    pipeline_topics,
    wait_reachable,
)
from transport.configuration import admin_config
from transport.errors import TopicError
from transport.metadata import PartitionLag, group_lag
from transport.types import TP


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "topics",
        "create/list/describe/delete the pipeline topics",
        "Manage the input, output and dead-letter topics of the pipeline.",
    )
    sub = add_actions(parser, "topics_command")

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        action = add_command(sub, name, help_text, help_text)
        add_connect_timeout(action)
        action.set_defaults(func=run)
        return action

    create = add("create", "create the pipeline topics if missing (idempotent)")
    create.add_argument(
        "--partitions",
        type=int,
        help="partitions per topic (default: topics.partitions or workers)",
    )
    listing = add("list", "list the topics and their partition counts")
    listing.add_argument("--all", action="store_true", help="include internal topics (__*)")
    describe = add("describe", "partitions, end offsets and the worker group's lag per partition")
    describe.add_argument("names", nargs="*", help="topics (default: the pipeline topics)")
    describe.add_argument("--group", help="consumer group (default: worker.group_id)")
    delete = add("delete", "delete topics (default: the pipeline topics)")
    delete.add_argument("names", nargs="*", help="topics (default: the pipeline topics)")
    delete.add_argument("--yes", action="store_true", help="really delete")


def run(args: argparse.Namespace, settings: Settings) -> int:
    conf = admin_config(settings.kafka)
    action = args.topics_command
    if action == "create":
        return _create(args, settings, conf)
    if action == "list":
        return _list(args, conf)
    if action == "describe":
        return _describe(args, settings, conf)
    return _delete(args, settings, conf)


def _create(args: argparse.Namespace, settings: Settings, conf: dict[str, Any]) -> int:
    if args.partitions is not None and args.partitions < 1:
        raise UserError("--partitions must be at least 1")
    specs = pipeline_topic_specs(settings, args.partitions)
    result = ensure_topics(conf, specs, timeout=args.timeout)
    width = max(len(name) for name in result)
    for name, status in result.items():
        print(f"{name:<{width}}  {status}")
    return 0


def _list(args: argparse.Namespace, conf: dict[str, Any]) -> int:
    admin = admin_client(conf)
    metadata = wait_reachable(admin, args.timeout, str(conf.get("bootstrap.servers", "")))
    for name in sorted(metadata.topics):
        if name.startswith("__") and not args.all:
            continue
        print(f"{name}  {len(metadata.topics[name].partitions)} partitions")
    return 0


def _describe(args: argparse.Namespace, settings: Settings, conf: dict[str, Any]) -> int:
    names = args.names or pipeline_topics(settings)
    group = args.group or settings.worker.group_id
    admin = admin_client(conf)
    metadata = wait_reachable(admin, args.timeout, str(conf.get("bootstrap.servers", "")))
    missing = [name for name in names if name not in metadata.topics]
    if missing:
        raise TopicError(
            f"no such topic: {', '.join(missing)} (create with `catmatch topics create`)"
        )
    lags: dict[TP, PartitionLag] = {
        (lag.topic, lag.partition): lag
        for lag in group_lag(conf, group, names, timeout=args.timeout)
    }
    for name in names:
        partitions = metadata.topics[name].partitions
        print(f"{name}: {len(partitions)} partitions; group {group}")
        print(
            f"  {'partition':>9} {'leader':>6} {'replicas':>8} {'start':>10} {'end':>10} "
            f"{'committed':>10} {'lag':>8}"
        )
        total = 0
        for index in sorted(partitions):
            part, lag = partitions[index], lags[(name, index)]
            committed = "-" if lag.committed is None else str(lag.committed)
            total += lag.lag
            print(
                f"  {index:>9} {part.leader:>6} {len(part.replicas):>8} {lag.start:>10} "
                f"{lag.end:>10} {committed:>10} {lag.lag:>8}"
            )
        print(f"  total lag {total}")
    return 0


def _delete(args: argparse.Namespace, settings: Settings, conf: dict[str, Any]) -> int:
    names = args.names or pipeline_topics(settings)
    if not args.yes:
        raise UserError(f"this deletes {', '.join(names)} and their messages: add --yes")
    for name, status in delete_topics(conf, names, timeout=args.timeout).items():
        print(f"{name}  {status}")
    return 0
