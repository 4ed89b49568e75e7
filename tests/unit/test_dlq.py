"""``catmatch dlq``: the pure rules (no Kafka): times, selection, stats, replay counts."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from schemas.dead_letter import (
    HEADER_ORIGINAL_TRUNCATED,
    HEADER_REPLAY_COUNT,
    DeadLetter,
    ErrorClass,
    b64,
)
from toolbox.dlq.records import (
    Selection,
    parse_error_classes,
    parse_time,
    read_entry,
    replay_count,
)
from toolbox.dlq.replay import Decision, ReplayReport, decide, plan_replay, replay_message
from toolbox.dlq.stats import collect_stats, format_stats, normalise_reason
from toolbox.errors import InvalidRequest
from toolbox.readers import ConsumedMessage

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
DLQ = "category-match-dlq"


def letter(
    error_class: ErrorClass = ErrorClass.INVALID_JSON,
    reason: str = "not JSON: Expecting value",
    *,
    key: bytes | None = b"sku-1",
    value: bytes = b"not json",
    failed: datetime = NOW,
    truncated: bool = False,
) -> DeadLetter:
    return DeadLetter(
        error_class=error_class,
        reason=reason,
        original_key_b64=b64(key),
        original_value_b64=b64(value) or "",
        source_topic="category-match-in",
        source_partition=0,
        source_offset=7,
        failed_time=failed,
        original_truncated=truncated,
    )


def record(
    dead: DeadLetter | bytes | None, *, count: int | None = None, offset: int = 0
) -> ConsumedMessage:
    if isinstance(dead, DeadLetter):
        value: bytes | None = dead.model_dump_json().encode()
        headers = [(k, v) for k, v in dead.headers()]
    else:
        value, headers = dead, []
    if count is not None:
        headers.append((HEADER_REPLAY_COUNT, str(count).encode()))
    return ConsumedMessage(
        topic=DLQ, partition=0, offset=offset, key=b"k", value=value, headers=tuple(headers)
    )


# --- times -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("2h", NOW - timedelta(hours=2)),
        ("1d", NOW - timedelta(days=1)),
        ("90s", NOW - timedelta(seconds=90)),
        ("1w", NOW - timedelta(weeks=1)),
        ("1.5h", NOW - timedelta(minutes=90)),
        ("2026-11-25T08:30:00Z", datetime(2026, 11, 25, 8, 30, tzinfo=UTC)),
        ("2026-11-25T09:30:00+01:00", datetime(2026, 11, 25, 8, 30, tzinfo=UTC)),
        ("2026-11-25T08:30:00", datetime(2026, 11, 25, 8, 30, tzinfo=UTC)),  # no zone: UTC
        ("2026-11-25", datetime(2026, 11, 25, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    parsed = parse_time(text, now=NOW)
    assert parsed == expected and parsed.tzinfo is not None


@pytest.mark.parametrize("text", ["yesterday", "", "3x", "-2h", "2026-13-01"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(InvalidRequest, match="not a time"):
        parse_time(text, now=NOW)


def test_relative_time_defaults_to_now() -> None:
    before = datetime.now(UTC)
    assert before - timedelta(hours=1, seconds=1) <= parse_time("1h") <= datetime.now(UTC)


# --- selection -------------------------------------------------------------------------------


def test_parse_error_classes() -> None:
    assert parse_error_classes(None) == frozenset()
    assert parse_error_classes(["invalid_json,too_large", "empty_text"]) == {
        ErrorClass.INVALID_JSON,
        ErrorClass.TOO_LARGE,
        ErrorClass.EMPTY_TEXT,
    }
    with pytest.raises(InvalidRequest, match="unknown error class: nope .*known: .*invalid_json"):
        parse_error_classes(["invalid_json", "nope"])


def test_selection_by_class_and_window() -> None:
    old = letter(failed=NOW - timedelta(days=2))
    new = letter(ErrorClass.TOO_LARGE, failed=NOW)
    assert Selection().matches(old) and Selection().matches(new)
    by_class = Selection(error_classes=frozenset({ErrorClass.TOO_LARGE}))
    assert not by_class.matches(old) and by_class.matches(new)
    since = Selection(since=NOW - timedelta(days=1))
    assert not since.matches(old) and since.matches(new)
    until = Selection(until=NOW)  # exclusive
    assert until.matches(old) and not until.matches(new)
    assert Selection(since=NOW, until=NOW + timedelta(seconds=1)).matches(new)  # inclusive
    with pytest.raises(InvalidRequest, match="--since must be before --until"):
        Selection(since=NOW, until=NOW)


# --- records and replay counts ---------------------------------------------------------------


def test_replay_count_header() -> None:
    assert replay_count([]) == 0
    assert replay_count([("other", b"5")]) == 0
    assert replay_count([(HEADER_REPLAY_COUNT, b"2")]) == 2
    assert replay_count([(HEADER_REPLAY_COUNT, b" 3 ")]) == 3
    assert replay_count([(HEADER_REPLAY_COUNT, b"x")]) == 0
    assert replay_count([(HEADER_REPLAY_COUNT, b"-4")]) == 0
    assert replay_count([(HEADER_REPLAY_COUNT, None)]) == 0
    assert replay_count([(HEADER_REPLAY_COUNT, b"\xff")]) == 0
    assert replay_count([(HEADER_REPLAY_COUNT, b"1"), (HEADER_REPLAY_COUNT, b"4")]) == 4


def test_read_entry_decodes_the_original() -> None:
    entry = read_entry(record(letter(key=b"sku-9", value=b'{"a":1}'), count=1))
    assert entry is not None
    assert (entry.original_key, entry.original_value, entry.replay_count) == (
        b"sku-9", b'{"a":1}', 1
    )
    no_key = read_entry(record(letter(key=None)))
    assert no_key is not None and no_key.original_key is None and no_key.replay_count == 0


@pytest.mark.parametrize(
    "value",
    [
        None,
        b"",
        b"garbage \xff",
        b"[1, 2]",
        b'{"error_class": "invalid_json"}',  # fields missing
        json.dumps({**json.loads(letter().model_dump_json()), "error_class": "new"}).encode(),
        json.dumps({**json.loads(letter().model_dump_json()), "original_value_b64": "!!"}).encode(),
        json.dumps({**json.loads(letter().model_dump_json()), "failed_time": "2026-01-01T00:00"})
        .encode(),  # naive time
    ],
)
def test_unreadable_records(value: bytes | None) -> None:
    assert read_entry(record(value)) is None


def test_truncated_by_field_or_header() -> None:
    by_field = read_entry(record(letter(truncated=True)))
    assert by_field is not None and by_field.truncated
    plain = letter()
    by_header = ConsumedMessage(DLQ, 0, 0, None, plain.model_dump_json().encode(),
                                ((HEADER_ORIGINAL_TRUNCATED, b"1"),))
    entry = read_entry(by_header)
    assert entry is not None and entry.truncated
    entry = read_entry(record(plain))
    assert entry is not None and not entry.truncated


def test_decide_and_replay_message() -> None:
    fresh = read_entry(record(letter(key=b"k1", value=b"v1")))
    twice = read_entry(record(letter(), count=2))
    at_max = read_entry(record(letter(), count=3))
    cut = read_entry(record(letter(truncated=True)))
    assert fresh and twice and at_max and cut
    assert decide(fresh, 3) is Decision.REPLAY
    assert decide(twice, 3) is Decision.REPLAY
    assert decide(at_max, 3) is Decision.MAX_REPLAYS
    assert decide(at_max, 4) is Decision.REPLAY
    assert decide(cut, 3) is Decision.TRUNCATED
    message = replay_message(fresh)
    assert (message.key, message.value) == (b"k1", b"v1")
    assert message.headers == [(HEADER_REPLAY_COUNT, b"1")]
    assert replay_message(twice).headers == [(HEADER_REPLAY_COUNT, b"3")]


def test_plan_replay_counts_everything() -> None:
    records = [
        record(letter(ErrorClass.INVALID_JSON, key=b"a", value=b"A"), offset=0),
        record(letter(ErrorClass.INVALID_SCHEMA, key=b"b", value=b"B"), offset=1),
        record(letter(ErrorClass.INVALID_JSON, truncated=True), offset=2),
        record(letter(ErrorClass.INVALID_JSON), count=3, offset=3),
        record(b"garbage", offset=4),
        record(letter(ErrorClass.INVALID_JSON, key=None, value=b"C"), count=1, offset=5),
        record(letter(ErrorClass.INVALID_JSON, failed=NOW - timedelta(days=3)), offset=6),
    ]
    report = ReplayReport(topic="dlq", target="in")
    selection = Selection(
        error_classes=frozenset({ErrorClass.INVALID_JSON}), since=NOW - timedelta(days=1)
    )
    planned = list(plan_replay(records, report, selection, max_replays=3))
    assert [(m.key, m.value, m.headers[0][1]) for m in planned] == [
        (b"a", b"A", b"1"), (None, b"C", b"2")
    ]
    assert (report.scanned, report.selected, report.sent) == (7, 4, 2)
    assert (report.skipped_truncated, report.refused_max_replays, report.unreadable) == (1, 1, 1)
    assert report.summary().startswith("replayed 0 to in; selected 4")

    limited = ReplayReport(topic="dlq", target="in", dry_run=True)
    assert [m.value for m in plan_replay(records, limited, Selection(), limit=2)] == [b"A", b"B"]
    assert limited.scanned == 2 and limited.to_json()["would_replay"] == 2
    assert limited.summary().startswith("would replay 2 to in")


# --- stats -----------------------------------------------------------------------------------


def test_normalise_reason() -> None:
    assert normalise_reason("  a\n\tb   c ") == "a b c"
    long = "x" * 200
    assert normalise_reason(long) == "x" * 77 + "..." and len(normalise_reason(long)) == 80
    assert normalise_reason("y" * 80) == "y" * 80


def test_collect_stats() -> None:
    long_reason = "title: String should have at most 512 characters " + "z" * 100
    records = [
        record(letter(ErrorClass.INVALID_JSON, "not JSON:   Expecting value",
                      failed=NOW - timedelta(hours=3))),
        record(letter(ErrorClass.INVALID_JSON, "not JSON: Expecting value")),
        record(letter(ErrorClass.INVALID_JSON, "empty message value"), count=1),
        record(letter(ErrorClass.INVALID_SCHEMA, long_reason + "1")),
        record(letter(ErrorClass.INVALID_SCHEMA, long_reason + "2", truncated=True)),
        record(letter(ErrorClass.TOO_LARGE, "big", failed=NOW - timedelta(days=5))),
        record(b"\x00garbage"),
        record(None),
    ]
    stats = collect_stats(records, "dlq")
    assert (stats.scanned, stats.total, stats.unreadable, stats.truncated) == (8, 8, 2, 1)
    assert stats.replayed_before == 1
    assert stats.oldest == NOW - timedelta(days=5) and stats.newest == NOW
    assert [(name, cls.count) for name, cls in stats.classes()] == [
        ("invalid_json", 3), ("invalid_schema", 2), ("too_large", 1)
    ]
    assert stats.by_class["invalid_json"].reasons == {
        "not JSON: Expecting value": 2, "empty message value": 1
    }
    assert stats.by_class["invalid_schema"].reasons == {normalise_reason(long_reason): 2}
    assert stats.by_class["invalid_schema"].truncated == 1

    data = stats.to_json(top=1)
    assert json.loads(json.dumps(data)) == data
    assert data["total"] == 8 and data["replayable"] == 5 and data["oldest"].endswith("Z")
    assert data["by_class"]["invalid_json"] == {
        "count": 3, "truncated": 0,
        "reasons": [{"reason": "not JSON: Expecting value", "count": 2}],
    }
    text = format_stats(stats, top=1)
    assert "dlq: 8 dead letter(s)" in text and "unreadable (not dead-letter JSON): 2" in text
    assert "truncated (not replayable): 1" in text and "(1 more reason(s))" in text

    recent = collect_stats(records, "dlq", since=NOW - timedelta(hours=1))
    assert (recent.scanned, recent.total, recent.unreadable) == (8, 6, 2)  # unreadable: always
    assert recent.oldest == NOW and "too_large" not in recent.by_class


def test_stats_of_an_empty_topic() -> None:
    stats = collect_stats([], "dlq")
    assert stats.to_json()["total"] == 0 and stats.to_json()["oldest"] is None
    assert format_stats(stats).splitlines()[0] == "dlq: 0 dead letter(s)"


def test_dead_letter_headers_roundtrip_through_base64() -> None:
    dead = letter(value=bytes(range(256)))
    entry = read_entry(record(dead))
    assert entry is not None and entry.original_value == bytes(range(256))
    assert base64.b64decode(dead.original_value_b64) == entry.original_value
