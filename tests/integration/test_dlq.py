"""``catmatch dlq stats`` and ``catmatch dlq replay`` against the real broker."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from catmatch.cli import main
from core.settings import Settings, load_settings
from schemas.dead_letter import HEADER_REPLAY_COUNT, DeadLetter, ErrorClass, b64
from tests.fixtures.kafka import consume_all
from toolbox.dlq import Selection, dlq_stats, parse_time, replay
from transport.errors import TopicError

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
Headers = list[tuple[str, bytes]]


def dead_letter(
    error_class: ErrorClass,
    key: bytes | None,
    value: bytes,
    ago: timedelta,
    *,
    truncated: bool = False,
) -> DeadLetter:
    return DeadLetter(
        error_class=error_class,
        reason=f"{error_class.value} because of {value[:10]!r}",
        original_key_b64=b64(key),
        original_value_b64=b64(value) or "",
        source_topic="category-match-in",
        source_partition=0,
        source_offset=1,
        failed_time=NOW - ago,
        worker_id="worker-0",
        original_truncated=truncated,
        original_size=len(value) * (10 if truncated else 1),
    )


def as_record(dead: DeadLetter, count: int | None = None) -> tuple[bytes | None, bytes, Headers]:
    headers = dead.headers()
    if count is not None:
        headers.append((HEADER_REPLAY_COUNT, str(count).encode()))
    key = None if dead.original_key_b64 is None else base64.b64decode(dead.original_key_b64)
    return key, dead.model_dump_json().encode(), headers  # keyed like the worker's


# (key, value, headers) of the dead-letter topic, and the original (key, value) of each.
A = dead_letter(ErrorClass.INVALID_JSON, b"sku-a", b"not json a", timedelta(hours=1))
B = dead_letter(
    ErrorClass.INVALID_SCHEMA, b"sku-b", b'{"product_id": "sku-b"}', timedelta(minutes=30)
)
C = dead_letter(ErrorClass.INVALID_JSON, None, b"\x00\xff binary", timedelta(minutes=10))
D = dead_letter(ErrorClass.TOO_LARGE, b"sku-d", b'{"title": "aaaa', timedelta(minutes=20),
                truncated=True)
E = dead_letter(ErrorClass.INVALID_JSON, b"sku-e", b"looping", timedelta(minutes=5))
G = dead_letter(ErrorClass.PREDICTOR_REJECTED, b"sku-g", b'{"p": 1}', timedelta(days=3))
GARBAGE: tuple[bytes | None, bytes, Headers] = (b"x", b"this is not a dead letter", [])
RECORDS = [
    as_record(A),
    as_record(B),
    as_record(C, count=1),
    as_record(D),
    as_record(E, count=3),  # at the default --max-replays: refused
    GARBAGE,
    as_record(G),
]


@pytest.fixture
def settings(kafka_bootstrap: str) -> Settings:
    return load_settings(kafka={"bootstrap_servers": kafka_bootstrap})


@pytest.fixture
def dlq(kafka_config: dict[str, Any], topic_factory: Callable[..., str]) -> str:
    topic = topic_factory(partitions=2, prefix="dlq")
    producer = Producer(kafka_config)
    for i, (key, value, headers) in enumerate(RECORDS):
        producer.produce(topic, value, key, partition=i % 2, headers=headers)
    assert producer.flush(30) == 0
    return topic


def end_offset(kafka_config: dict[str, Any], topic: str) -> int:
    consumer = Consumer({**kafka_config, "group.id": f"w-{uuid.uuid4().hex}"})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)[1]
    finally:
        consumer.close()


def arrived(kafka_config: dict[str, Any], topic: str, expected: int) -> set[Any]:
    messages = consume_all(kafka_config, topic, expected, timeout=30)
    assert len(messages) == expected
    assert end_offset(kafka_config, topic) == expected  # nothing more, nothing duplicated
    return {(m.key(), m.value(), tuple(m.headers() or ())) for m in messages}


def count(n: int) -> tuple[tuple[str, bytes], ...]:
    return ((HEADER_REPLAY_COUNT, str(n).encode()),)


def test_stats_counts_classes_reasons_and_unreadable(settings: Settings, dlq: str) -> None:
    stats = dlq_stats(settings, topic=dlq)
    assert (stats.scanned, stats.total, stats.unreadable, stats.truncated) == (7, 7, 1, 1)
    assert stats.replayed_before == 2
    assert {name: cls.count for name, cls in stats.by_class.items()} == {
        "invalid_json": 3, "invalid_schema": 1, "too_large": 1, "predictor_rejected": 1
    }
    assert stats.by_class["invalid_schema"].reasons == {B.reason: 1}
    assert stats.oldest == G.failed_time and stats.newest == E.failed_time

    recent = dlq_stats(settings, topic=dlq, since=parse_time("2h"))
    assert (recent.total, recent.unreadable) == (6, 1)
    assert "predictor_rejected" not in recent.by_class


def test_replay_selected_dead_letters(
    settings: Settings, kafka_config: dict[str, Any], topic_factory: Callable[..., str], dlq: str
) -> None:
    target = topic_factory(prefix="in")
    selection = Selection(
        error_classes=frozenset({ErrorClass.INVALID_JSON, ErrorClass.INVALID_SCHEMA}),
        since=parse_time("2h"),
    )
    dry = replay(settings, selection, topic=dlq, to=target, dry_run=True)
    assert (dry.selected, dry.sent, dry.replayed, dry.refused_max_replays) == (4, 3, 0, 1)
    assert end_offset(kafka_config, target) == 0  # a dry run produces nothing

    report = replay(settings, selection, topic=dlq, to=target)
    assert (report.scanned, report.selected, report.replayed, report.failed) == (7, 4, 3, 0)
    assert (report.skipped_truncated, report.refused_max_replays, report.unreadable) == (0, 1, 1)
    assert arrived(kafka_config, target, 3) == {
        (b"sku-a", b"not json a", count(1)),
        (b"sku-b", b'{"product_id": "sku-b"}', count(1)),
        (None, b"\x00\xff binary", count(2)),  # replayed once before
    }

    limited = topic_factory(prefix="in")
    report = replay(settings, Selection(until=NOW - timedelta(days=1)), topic=dlq, to=limited,
                    limit=1)
    assert (report.selected, report.replayed) == (1, 1)
    assert arrived(kafka_config, limited, 1) == {(b"sku-g", b'{"p": 1}', count(1))}


def test_cli_stats_and_replay(
    kafka_bootstrap: str,
    kafka_config: dict[str, Any],
    topic_factory: Callable[..., str],
    dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    target = topic_factory(prefix="in")
    monkeypatch.delenv("CATMATCH_CONFIG", raising=False)
    monkeypatch.setenv("CATMATCH_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("CATMATCH_TOPICS__DEAD_LETTER", dlq)
    monkeypatch.setenv("CATMATCH_TOPICS__INPUT", target)

    assert main(["dlq", "stats", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["total"], data["unreadable"], data["truncated"]) == (7, 1, 1)
    assert data["replayable"] == 5
    assert data["by_class"]["invalid_json"]["count"] == 3
    assert main(["dlq", "stats"]) == 0
    text = capsys.readouterr().out
    assert f"{dlq}: 7 dead letter(s)" in text and "truncated (not replayable): 1" in text

    assert main(["dlq", "replay", "--dry-run"]) == 0
    assert capsys.readouterr().out.startswith(f"would replay 4 to {target}; selected 6")
    assert end_offset(kafka_config, target) == 0

    assert main(["dlq", "replay", "--max-replays", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {k: data[k] for k in ("selected", "replayed", "skipped_truncated",
                                 "refused_max_replays", "unreadable", "failed")} == {
        "selected": 6, "replayed": 3, "skipped_truncated": 1,
        "refused_max_replays": 2, "unreadable": 1, "failed": 0,
    }  # with --max-replays 1, C (replayed once) is refused as well as E
    keys = {m[0] for m in arrived(kafka_config, target, 3)}
    assert keys == {b"sku-a", b"sku-b", b"sku-g"}


def test_missing_topics_and_bad_arguments(
    settings: Settings,
    kafka_bootstrap: str,
    dlq: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    missing = f"missing-{uuid.uuid4().hex}"
    with pytest.raises(TopicError, match="does not exist"):
        dlq_stats(settings, topic=missing, connect_timeout=5)
    with pytest.raises(TopicError, match="does not exist"):
        replay(settings, topic=dlq, to=missing, connect_timeout=5)
    monkeypatch.delenv("CATMATCH_CONFIG", raising=False)
    monkeypatch.setenv("CATMATCH_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    assert main(["dlq", "stats", "--topic", missing, "--timeout", "5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("catmatch: error: topic") and len(err.splitlines()) == 1
    assert main(["dlq", "replay", "--topic", dlq, "--error-class", "nope"]) == 2
    assert "unknown error class: nope" in capsys.readouterr().err
    assert main(["dlq", "replay", "--topic", dlq, "--to", dlq]) == 2
    assert "into itself" in capsys.readouterr().err


def test_reading_stops_at_transaction_markers(
    settings: Settings, kafka_config: dict[str, Any], topic_factory: Callable[..., str]
) -> None:
    """A dead-letter topic written with transactions (exactly_once workers) ends in commit
    markers, which a reader never receives: reading must still stop, and skip aborted ones."""
    topic = topic_factory(prefix="dlq")
    producer = Producer({**kafka_config, "transactional.id": f"tx-{uuid.uuid4().hex}"})
    producer.init_transactions(30)
    for commit in (True, False, True):
        producer.begin_transaction()
        for key, value, headers in RECORDS[:2]:
            producer.produce(topic, value, key, headers=headers)
        if commit:
            producer.commit_transaction(30)
        else:
            producer.abort_transaction(30)
    stats = dlq_stats(settings, topic=topic)
    assert (stats.total, stats.unreadable) == (4, 0)

    producer.begin_transaction()  # left open: its records lie beyond the last stable offset
    producer.produce(topic, RECORDS[2][1], RECORDS[2][0], headers=RECORDS[2][2])
    assert producer.flush(30) == 0
    started = time.monotonic()
    stats = dlq_stats(settings, topic=topic, connect_timeout=5)
    assert (stats.total, stats.unreadable) == (4, 0)
    assert time.monotonic() - started < 10  # did not wait for the transaction
    producer.abort_transaction(30)
