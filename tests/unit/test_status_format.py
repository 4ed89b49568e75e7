"""``catmatch status``: the screen, the rates, the dead-letter cache, --json and --watch."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from catmatch import cli
from catmatch.commands import status as status_command
from toolbox.dlq import DlqStats
from toolbox.status import DlqCache, format_status, live_version_from_metrics
from toolbox.status.kafka import OffsetSample
from toolbox.status.predictor import _state
from toolbox.status.report import _processed_rate, _rate
from transport.errors import KafkaUnreachable


def report(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "time": "2026-12-01T10:00:00Z",
        "kafka": {"bootstrap_servers": "kafka:9092"},
        "topics": [
            {"name": "category-match-in", "role": "input", "exists": True,
             "partitions": [{"partition": 0}, {"partition": 1}], "messages": 12345,
             "rate_per_s": 41.5},
            {"name": "category-match-out", "role": "output", "exists": True,
             "partitions": [{"partition": 0}, {"partition": 1}], "messages": 12000,
             "rate_per_s": 40.0},
            {"name": "category-match-dlq", "role": "dead_letter", "exists": False,
             "partitions": [], "messages": None, "rate_per_s": None},
        ],  # fmt: skip
        "group": {
            "id": "category-match",
            "state": "STABLE",
            "assignor": "cooperative-sticky",
            "coordinator": 1,
            "error": None,
            "members": [
                {"name": "category-match-worker-0", "member_id": "m0", "client_id": "c",
                 "instance_id": "category-match-worker-0", "host": "/10.0.0.7",
                 "partitions": [{"topic": "category-match-in", "partition": 0}]},
            ],  # fmt: skip
        },
        "lag": {
            "topic": "category-match-in",
            "total": 345,
            "processed_per_s": 39.25,
            "partitions": [
                {"partition": 0, "end": 6200, "committed": 6000, "lag": 200,
                 "owner": "category-match-worker-0"},
                {"partition": 1, "end": 6145, "committed": None, "lag": 145, "owner": None},
            ],  # fmt: skip
        },
        "rates": {"method": "end offsets sampled twice", "interval_s": 2.004},
        "dead_letters": {"topic": "category-match-dlq", "total": 1234, "error": None,
                         "by_class": {"invalid_json": 1200, "too_large": 34}},  # fmt: skip
        "predictor": {"url": "http://predictor", "model": "category-match", "state": "ready",
                      "http_status": 200, "live_version": "v7", "version_source": "metrics",
                      "error": None},  # fmt: skip
    }
    base.update(changes)
    return base


def test_the_screen() -> None:
    assert format_status(report()) == "\n".join(
        [
            "category-match status  2026-12-01T10:00:00Z  Kafka kafka:9092",
            "",
            "topic                            role          partitions     messages         rate",
            "category-match-in                input                  2       12,345       41.5/s",
            "category-match-out               results                2       12,000       40.0/s",
            "category-match-dlq               dead letters      missing (catmatch topics create)",
            "",
            "group category-match: STABLE, 1 member(s), cooperative-sticky",
            "lag on category-match-in: 345 in total, processed 39.2/s",
            "  partition          end    committed        lag  owner",
            "          0        6,200        6,000        200  category-match-worker-0",
            "          1        6,145            -        145  (unassigned)",
            "  member category-match-worker-0 on /10.0.0.7: category-match-in/0",
            "",
            "dead letters in category-match-dlq: 1,234  (invalid_json 1,200  too_large 34)",
            "predictor http://predictor model category-match: ready, live version v7 "
            "(from metrics)",
            "",
            "rates: end offsets sampled twice, 2.004 s apart",
        ]
    )


def test_the_screen_when_things_are_wrong() -> None:
    text = format_status(
        report(
            group={"id": "g", "state": "UNKNOWN", "assignor": "", "coordinator": None,
                   "members": [], "error": "cannot describe group g: timed out"},
            dead_letters=None,
            rates=None,
            predictor={"url": "http://p", "model": "m", "state": "not_ready", "http_status": 503,
                       "live_version": None, "version_source": None, "error": "model loading"},
        )  # fmt: skip
    )
    assert "group g: cannot describe group g: timed out" in text
    assert "dead letters: not read (--no-dlq)" in text
    assert "predictor http://p model m: not_ready HTTP 503, live version unknown" in text
    assert "  model loading" in text
    assert "rates:" not in text


def test_rates_from_two_samples() -> None:
    assert _rate({0: 10, 1: 5}, {0: 30, 1: 5}, 2.0) == 10.0
    assert _rate({0: 10}, {0: 10, 1: 7}, 2.0) == 0.0  # a new partition has no before
    assert _rate({0: 10}, {0: 10}, 0.0) is None
    before = OffsetSample(at=1.0, ends={}, starts={}, committed={0: 100, 1: None})
    after = OffsetSample(at=3.0, ends={}, starts={}, committed={0: 160, 1: 50})
    assert _processed_rate(before, after) == 30.0  # partition 1 had nothing committed before
    idle = OffsetSample(at=3.0, ends={}, starts={}, committed={0: None})
    assert _processed_rate(before, idle) is None


def test_dead_letters_are_read_again_only_when_the_topic_moved() -> None:
    cache, reads = DlqCache(), []

    def read() -> DlqStats:
        reads.append(1)
        return DlqStats(topic="dlq", total=len(reads))

    assert cache.get({0: 5}, read).total == 1
    assert cache.get({0: 5}, read).total == 1
    assert cache.get({0: 6}, read).total == 2
    assert len(reads) == 2


def test_live_version_from_the_predictors_metrics() -> None:
    text = (
        "# TYPE catmatch_predictor_model_info gauge\n"
        'catmatch_predictor_model_info{model="category-match-tfidf",version="v4"} 1.0\n'
    )
    assert live_version_from_metrics(text, "category-match") == "v4"  # the only model
    two = text + 'catmatch_predictor_model_info{model="category-match",version="v9"} 1.0\n'
    assert live_version_from_metrics(two, "category-match") == "v9"
    assert live_version_from_metrics(two, "another") is None
    assert live_version_from_metrics("request_predict_seconds_count 3\n", "m") is None


@pytest.mark.parametrize(
    ("status", "state"),
    [(200, "ready"), (503, "not_ready"), (500, "not_ready"), (401, "unauthorized"),
     (403, "unauthorized"), (404, "not_found"), (None, "unreachable")],
)  # fmt: skip
def test_predictor_states(status: int | None, state: str) -> None:
    assert _state(status) == state


def test_json_and_watch(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--watch refreshes (rates from the previous sample) until Ctrl-C, which exits 0; a
    Kafka outage under --watch is shown, not fatal; --json prints one object per report."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("catmatch.commands.status",))
    monkeypatch.delenv("CATMATCH_CONFIG", raising=False)
    calls: list[Any] = []

    def fake_collect(settings: Any, **kwargs: Any) -> tuple[dict[str, Any], OffsetSample]:
        calls.append(kwargs["previous"])
        if len(calls) == 2:
            raise KafkaUnreachable("Kafka at kafka:9092 is not reachable within 10 s")
        return report(), OffsetSample(at=float(len(calls)), ends={}, starts={}, committed={})

    sleeps: list[float] = []

    def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        if len(sleeps) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(status_command, "collect_status", fake_collect)
    monkeypatch.setattr(time, "sleep", fake_sleep)  # the one catmatch status calls
    assert cli.main(["status", "--json", "--watch", "5"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 and sleeps == [5, 5, 5]
    assert json.loads(lines[0])["predictor"]["live_version"] == "v7"
    assert json.loads(lines[1]) == {"error": "Kafka at kafka:9092 is not reachable within 10 s"}
    assert json.loads(lines[2])["lag"]["total"] == 345
    assert calls[0] is None and calls[1].at == 1.0 and calls[2] is None  # no stale sample

    # Without --watch a Kafka outage is the usual one-line error and exit status 2.
    calls.clear()
    calls.append(None)  # the next call is the second: it raises
    assert cli.main(["status"]) == 2
    assert "not reachable" in capsys.readouterr().err
