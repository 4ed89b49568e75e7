"""Crash records in committed-offset metadata."""

from worker.crashloop import CrashRecord, after_failure


def test_a_record_round_trips_through_offset_metadata_and_stays_small():
    record = CrashRecord(10, 41, 2, "RuntimeError: " + "x" * 5000)
    back = CrashRecord.from_metadata(record.to_metadata())
    assert back is not None and (back.first, back.last, back.count) == (10, 41, 2)
    assert len(record.to_metadata()) < 1024


def test_foreign_or_missing_metadata_is_no_record():
    assert CrashRecord.from_metadata(None) is None
    assert CrashRecord.from_metadata("") is None
    assert CrashRecord.from_metadata("written by another tool") is None
    assert CrashRecord.from_metadata('{"crash": {"first": "x"}}') is None


def test_failures_on_the_same_messages_count_up_and_narrow_the_range():
    first = after_failure(None, 100, 163, "boom")
    assert (first.first, first.last, first.count) == (100, 163, 1)
    second = after_failure(first, 120, 180, "boom")
    assert (second.first, second.last, second.count) == (120, 163, 2)
    assert second.covers(120) and second.covers(163) and not second.covers(164)
    elsewhere = after_failure(second, 500, 510, "other")
    assert (elsewhere.first, elsewhere.count) == (500, 1)
