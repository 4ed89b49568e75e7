"""``catmatch status``: collect one report, a JSON-ready dict (:mod:`toolbox.status.screen`
formats it).

Rates come from the topics' end offsets sampled twice (``interval_s`` apart, or since the
previous refresh under ``--watch``): messages per second arriving on the input topic,
results and dead letters written, and the worker group's committed position moving
(``processed_per_s``). Offsets also count Kafka's transaction markers (one per partition
and commit under ``exactly_once``), so low rates of a transactional pipeline read high.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import CatmatchError
from core.settings import Settings
from toolbox.dlq import DlqStats, dlq_stats
from toolbox.status.kafka import (
    GroupInfo,
    Member,
    OffsetSample,
    PartitionInfo,
    cluster_metadata,
    describe_group,
    partitions,
    sample_offsets,
)
from toolbox.status.predictor import predictor_status
from transport.configuration import admin_config

ROLES = ("input", "output", "dead_letter")


@dataclass
class DlqCache:
    """The last dead-letter count and the end offsets it was read at: the topic is read
    again only when they moved (so ``--watch`` does not reread a large topic every time)."""

    ends: dict[int, int] | None = None
    stats: DlqStats | None = None

    def get(self, ends: dict[int, int], read: Callable[[], DlqStats]) -> DlqStats:
        if self.stats is None or ends != self.ends:
            self.stats, self.ends = read(), dict(ends)
        return self.stats


def _rate(before: dict[int, int], after: dict[int, int], seconds: float) -> float | None:
    if seconds <= 0 or not after:
        return None
    moved = sum(after[p] - before.get(p, after[p]) for p in after)
    return round(max(moved, 0) / seconds, 3)


def _processed_rate(before: OffsetSample, after: OffsetSample) -> float | None:
    seconds = after.at - before.at
    pairs = [(before.committed.get(p), c) for p, c in after.committed.items() if c is not None]
    if seconds <= 0 or not pairs:
        return None
    moved = sum(c - (b if b is not None else c) for b, c in pairs)
    return round(max(moved, 0) / seconds, 3)


def _member_json(member: Member) -> dict[str, Any]:
    partitions = [{"topic": t, "partition": p} for t, p in member.partitions]
    return {"name": member.name, **asdict(member), "partitions": partitions}


def _group_json(group: GroupInfo) -> dict[str, Any]:
    fields = asdict(group)
    del fields["group_id"]
    return {"id": group.group_id, **fields, "members": [_member_json(m) for m in group.members]}


def _topic_json(
    name: str,
    role: str,
    parts: list[PartitionInfo] | None,
    before: OffsetSample | None,
    after: OffsetSample,
) -> dict[str, Any]:
    if parts is None:
        return {
            "name": name,
            "role": role,
            "exists": False,
            "partitions": [],
            "messages": None,
            "rate_per_s": None,
        }
    ends, starts = after.ends.get(name, {}), after.starts.get(name, {})
    rate = None
    if before is not None:
        rate = _rate(before.ends.get(name, {}), ends, after.at - before.at)
    return {
        "name": name,
        "role": role,
        "exists": True,
        "partitions": [
            {
                "partition": p.partition,
                "leader": p.leader,
                "replicas": p.replicas,
                "isr": p.isr,
                "start": starts.get(p.partition),
                "end": ends.get(p.partition),
            }
            for p in parts
        ],
        "messages": sum(ends.get(p.partition, 0) - starts.get(p.partition, 0) for p in parts),
        "rate_per_s": rate,
    }


def collect_status(
    settings: Settings,
    *,
    group: str | None = None,
    previous: OffsetSample | None = None,
    interval_s: float = 2.0,
    timeout: float = 10.0,
    dead_letters: bool = True,
    dlq_cache: DlqCache | None = None,
) -> tuple[dict[str, Any], OffsetSample]:
    """One status report and the offsets it ended with (pass them as ``previous`` to the
    next call to get rates over the time between the two calls without sleeping).

    Without ``previous`` and with ``interval_s`` > 0 the offsets are sampled twice,
    ``interval_s`` apart; with neither, the rates are None.

    Raises:
        KafkaUnreachable: no broker answered within ``timeout``.
    """
    conf = admin_config(settings.kafka)
    group_id = group or settings.worker.group_id
    names = {
        "input": settings.topics.input,
        "output": settings.topics.output,
        "dead_letter": settings.topics.dead_letter,
    }
    admin, metadata = cluster_metadata(conf, timeout)
    parts = {role: partitions(metadata, name) for role, name in names.items()}
    input_topic = names["input"] if parts["input"] is not None else None
    others = {
        names[role]: [p.partition for p in parts[role] or []]
        for role in ("output", "dead_letter")
        if parts[role] is not None
    }

    def sample() -> OffsetSample:
        return sample_offsets(conf, group_id, input_topic, others, timeout)

    # First: it waits for a group coordinator that is still loading (see sample_offsets).
    group_info = describe_group(admin, group_id, timeout)
    before = previous
    if before is None and interval_s > 0:
        before = sample()
        time.sleep(interval_s)
    after = sample()

    lag_rows = []
    for p in parts["input"] or []:
        owner = group_info.owner(names["input"], p.partition)
        lag_rows.append(
            {
                "partition": p.partition,
                "end": after.ends.get(names["input"], {}).get(p.partition),
                "committed": after.committed.get(p.partition),
                "lag": after.lags.get(p.partition),
                "owner": owner.name if owner is not None else None,
            }
        )

    report: dict[str, Any] = {
        "time": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "kafka": {"bootstrap_servers": settings.kafka.bootstrap_servers},
        "topics": [_topic_json(names[r], r, parts[r], before, after) for r in ROLES],
        "group": _group_json(group_info),
        "lag": {
            "topic": names["input"],
            "total": sum(r["lag"] or 0 for r in lag_rows) if input_topic else None,
            "processed_per_s": _processed_rate(before, after) if before else None,
            "partitions": lag_rows,
        },
        "rates": None
        if before is None
        else {
            "method": "end offsets sampled twice",
            "interval_s": round(after.at - before.at, 3),
        },
        "dead_letters": None,
        "predictor": predictor_status(settings.predictor, timeout=min(timeout, 5.0)).to_json(),
    }
    if dead_letters:
        report["dead_letters"] = _dead_letters(
            settings, names["dead_letter"], after, timeout, dlq_cache or DlqCache()
        )
    return report, after


def _dead_letters(
    settings: Settings, topic: str, after: OffsetSample, timeout: float, cache: DlqCache
) -> dict[str, Any]:
    if topic not in after.ends:
        return {"topic": topic, "total": None, "by_class": {}, "error": "topic does not exist"}
    try:
        stats = cache.get(
            after.ends[topic], lambda: dlq_stats(settings, topic=topic, connect_timeout=timeout)
        )
    except CatmatchError as exc:  # shown on the screen; the rest of the report still counts
        return {"topic": topic, "total": None, "by_class": {}, "error": str(exc)}
    return {
        "topic": topic,
        "total": stats.total,
        "unreadable": stats.unreadable,
        "truncated": stats.truncated,
        "by_class": {name: cls.count for name, cls in stats.classes()},
        "newest": stats.to_json()["newest"],
        "error": None,
    }
