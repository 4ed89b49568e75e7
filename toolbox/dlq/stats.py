"""``catmatch dlq stats``: what is in the dead-letter topic, by error class and reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.settings import Settings
from toolbox.dlq.records import Entry, read_entry
from toolbox.readers import ConsumedMessage, read_to_end

REASON_WIDTH = 80
DEFAULT_TOP = 5


def normalise_reason(reason: str, width: int = REASON_WIDTH) -> str:
    """One line, runs of whitespace as one space, at most ``width`` characters (cut ones end
    in ``...``), so reasons that differ only far into their text count together."""
    text = " ".join(reason.split())
    return text if len(text) <= width else text[: width - 3] + "..."


@dataclass
class ClassStats:
    """The dead letters of one error class."""

    count: int = 0
    truncated: int = 0
    reasons: Counter[str] = field(default_factory=Counter)


@dataclass
class DlqStats:
    """Counts over a dead-letter topic (dead letters failed at or after ``since``)."""

    topic: str
    since: datetime | None = None
    scanned: int = 0  # records read, in the window or not
    total: int = 0  # dead letters in the window, plus every unreadable record
    unreadable: int = 0  # not valid DeadLetter JSON: counted whatever their time
    truncated: int = 0  # only a prefix of the original kept: cannot be replayed
    replayed_before: int = 0  # carry a replay count > 0
    oldest: datetime | None = None
    newest: datetime | None = None
    by_class: dict[str, ClassStats] = field(default_factory=dict)

    def add(self, record: ConsumedMessage) -> None:
        """Count one record of the topic."""
        self.scanned += 1
        entry = read_entry(record)
        if entry is None:
            self.unreadable += 1
            self.total += 1
            return
        if self.since is not None and entry.letter.failed_time < self.since:
            return
        self._add_entry(entry)

    def _add_entry(self, entry: Entry) -> None:
        letter = entry.letter
        self.total += 1
        stats = self.by_class.setdefault(letter.error_class.value, ClassStats())
        stats.count += 1
        stats.reasons[normalise_reason(letter.reason)] += 1
        if entry.truncated:
            stats.truncated += 1
            self.truncated += 1
        if entry.replay_count > 0:
            self.replayed_before += 1
        if self.oldest is None or letter.failed_time < self.oldest:
            self.oldest = letter.failed_time
        if self.newest is None or letter.failed_time > self.newest:
            self.newest = letter.failed_time

    def classes(self) -> list[tuple[str, ClassStats]]:
        """Error classes, most frequent first (then by name)."""
        return sorted(self.by_class.items(), key=lambda item: (-item[1].count, item[0]))

    def to_json(self, top: int = DEFAULT_TOP) -> dict[str, Any]:
        """One JSON-ready object (``--json``)."""
        return {
            "topic": self.topic,
            "since": _iso(self.since),
            "scanned": self.scanned,
            "total": self.total,
            "unreadable": self.unreadable,
            "truncated": self.truncated,
            "replayable": self.total - self.unreadable - self.truncated,
            "replayed_before": self.replayed_before,
            "oldest": _iso(self.oldest),
            "newest": _iso(self.newest),
            "by_class": {
                name: {
                    "count": stats.count,
                    "truncated": stats.truncated,
                    "reasons": [
                        {"reason": reason, "count": count}
                        for reason, count in _top(stats.reasons, top)
                    ],
                }
                for name, stats in self.classes()
            },
        }


def collect_stats(
    records: Iterable[ConsumedMessage], topic: str, since: datetime | None = None
) -> DlqStats:
    """Aggregate records (pure: no Kafka)."""
    stats = DlqStats(topic=topic, since=since)
    for record in records:
        stats.add(record)
    return stats


def dlq_stats(
    settings: Settings,
    *,
    topic: str | None = None,
    since: datetime | None = None,
    connect_timeout: float = 10.0,
) -> DlqStats:
    """Read the whole dead-letter topic (``topics.dead_letter`` unless ``topic``) and count.

    Raises:
        KafkaUnreachable, TopicError, ReadStalled: see :func:`toolbox.readers.read_to_end`.
    """
    topic = topic or settings.topics.dead_letter
    records = read_to_end(settings, topic, connect_timeout=connect_timeout)
    return collect_stats(records, topic, since)


def format_stats(stats: DlqStats, top: int = DEFAULT_TOP) -> str:
    """The human report: totals, time range, then each class with its top reasons."""
    window = f" since {_iso(stats.since)}" if stats.since else ""
    lines = [f"{stats.topic}: {stats.total} dead letter(s){window}"]
    if stats.oldest is not None:
        lines.append(f"  failed between {_iso(stats.oldest)} and {_iso(stats.newest)}")
    lines.append(f"  truncated (not replayable): {stats.truncated}")
    lines.append(f"  unreadable (not dead-letter JSON): {stats.unreadable}")
    if stats.replayed_before:
        lines.append(f"  replayed before (replay count > 0): {stats.replayed_before}")
    if stats.by_class:
        width = max(len(name) for name in stats.by_class)
        lines.append("by error class:")
        for name, cls in stats.classes():
            extra = f"  ({cls.truncated} truncated)" if cls.truncated else ""
            lines.append(f"  {name:<{width}}  {cls.count:>7}{extra}")
            for reason, count in _top(cls.reasons, top):
                lines.append(f"      {count:>7}  {reason}")
            hidden = len(cls.reasons) - top
            if hidden > 0:
                lines.append(f"      ({hidden} more reason(s))")
    return "\n".join(lines)


def _top(reasons: Counter[str], top: int) -> list[tuple[str, int]]:
    return sorted(reasons.items(), key=lambda item: (-item[1], item[0]))[:top]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
