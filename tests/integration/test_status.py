"""``catmatch status`` against the real broker, a real worker and the real predictor."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer

from catmatch import cli
from core.settings import PredictorClientSettings, load_settings
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import (
    pipeline_settings,
    produce,
    running_worker,
    wait_committed,
)
from toolbox.status import collect_status, predictor_status
from transport.broker.config import free_ports

pytestmark = pytest.mark.integration

Status = Callable[..., Any]


def product(i: int) -> tuple[bytes, bytes]:
    pid = f"p-{i:05d}"
    return pid.encode(), json.dumps({"product_id": pid, "title": f"Oak table model {i}"}).encode()


def produce_to(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for i in range(count):
        key, value = product(10_000 + partition * 1_000 + i)
        producer.produce(topic, key=key, value=value, partition=partition)
    assert producer.flush(30) == 0


@pytest.fixture
def topics(topic_factory: Callable[..., str]) -> tuple[str, str, str]:
    return (
        topic_factory(partitions=2, prefix="in"),
        topic_factory(partitions=2, prefix="out"),
        topic_factory(partitions=1, prefix="dlq"),
    )


@pytest.fixture
def status(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kafka_bootstrap: str,
    topics: tuple[str, str, str],
    predictor_server: Any,
) -> Status:
    """``catmatch status --json ...`` through the real ``cli.main``; returns the JSON."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("catmatch.commands.status",))
    monkeypatch.delenv("CATMATCH_CONFIG", raising=False)
    monkeypatch.setenv("CATMATCH_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    for key, name in zip(("INPUT", "OUTPUT", "DEAD_LETTER"), topics, strict=True):
        monkeypatch.setenv(f"CATMATCH_TOPICS__{key}", name)
    monkeypatch.setenv("CATMATCH_PREDICTOR__URL", predictor_server.url)
    monkeypatch.setenv("CATMATCH_PREDICTOR__MODEL_NAME", predictor_server.model_name)

    def run(*argv: str, as_json: bool = True) -> Any:
        capsys.readouterr()
        assert cli.main(["status", *(["--json"] if as_json else []), *argv]) == 0
        out = capsys.readouterr().out
        return json.loads(out) if as_json else out

    return run


def test_status_json_shows_topics_group_lag_dead_letters_and_predictor(
    status: Status,
    kafka_bootstrap: str,
    kafka_config: dict[str, Any],
    topics: tuple[str, str, str],
    predictor_server: Any,
    tiny_model_dir: Any,
) -> None:
    settings = pipeline_settings(
        kafka_bootstrap,
        topics,
        predictor_server.url,
        tiny_model_dir,
        model_name=predictor_server.model_name,
    )
    group = settings.worker.group_id
    records = [product(i) for i in range(20)] + [(b"bad-1", b"not json"), (b"bad-2", b"{")]
    produce(kafka_bootstrap, topics[0], records)

    with running_worker(settings):
        assert len(consume_all(kafka_config, topics[1], expected=20, timeout=60)) == 20
        ends = wait_committed(kafka_bootstrap, settings, 2, timeout=60)
        assert sum(ends.values()) == 22

        # Worker running, everything consumed: one member owns both partitions, no lag.
        report = status("--group", group, "--interval", "0.5")
        assert [(t["name"], t["role"], t["exists"]) for t in report["topics"]] == [
            (topics[0], "input", True),
            (topics[1], "output", True),
            (topics[2], "dead_letter", True),
        ]
        by_role = {t["role"]: t for t in report["topics"]}
        assert [p["partition"] for p in by_role["input"]["partitions"]] == [0, 1]
        assert [p["partition"] for p in by_role["dead_letter"]["partitions"]] == [0]
        assert by_role["input"]["messages"] == 22
        assert by_role["output"]["messages"] == 20
        assert by_role["dead_letter"]["messages"] == 2
        assert all(t["rate_per_s"] == 0 for t in report["topics"])  # nothing moved meanwhile
        assert report["rates"]["method"] == "end offsets sampled twice"
        assert report["rates"]["interval_s"] >= 0.5

        grp = report["group"]
        assert grp["id"] == group and grp["state"] == "STABLE" and grp["error"] is None
        (member,) = grp["members"]
        assert member["partitions"] == [
            {"topic": topics[0], "partition": 0},
            {"topic": topics[0], "partition": 1},
        ]
        assert member["name"] == (member["instance_id"] or member["client_id"])
        assert member["member_id"] and member["host"]
        lag = report["lag"]
        assert lag["topic"] == topics[0] and lag["total"] == 0
        rows = [(r["partition"], r["end"], r["committed"], r["lag"]) for r in lag["partitions"]]
        assert rows == [(p, ends[p], ends[p], 0) for p in (0, 1)]
        assert {r["owner"] for r in lag["partitions"]} == {member["name"]}

        dead = report["dead_letters"]
        assert dead["topic"] == topics[2] and dead["error"] is None
        assert dead["total"] == 2 and dead["by_class"] == {"invalid_json": 2}

        pred = report["predictor"]
        assert pred["state"] == "ready" and pred["http_status"] == 200
        assert pred["model"] == predictor_server.model_name
        assert "input_ids" in pred["inputs"]
        assert pred["live_version"] is None  # a model directory, not the store: no version

        screen = status("--group", group, "--interval", "0", as_json=False)
        assert f"{topics[0]:<32} input" in screen
        assert f"lag on {topics[0]}: 0 in total" in screen
        assert f"dead letters in {topics[2]}: 2  (invalid_json 2)" in screen
        assert f"predictor {predictor_server.url} model category-match: ready" in screen

    # Worker stopped, new messages on both partitions: exact lag per partition, no members.
    produce_to(kafka_bootstrap, topics[0], 0, 5)
    produce_to(kafka_bootstrap, topics[0], 1, 3)
    report = status("--group", group, "--interval", "0")
    assert report["rates"] is None
    assert report["group"]["members"] == []
    assert report["group"]["state"] == "EMPTY"
    assert [(r["partition"], r["lag"], r["owner"]) for r in report["lag"]["partitions"]] == [
        (0, 5, None),
        (1, 3, None),
    ]
    assert report["lag"]["total"] == 8


def test_rates_come_from_offsets_sampled_twice(
    status: Status, kafka_bootstrap: str, topics: tuple[str, str, str]
) -> None:
    settings = load_settings()  # the environment the status fixture set
    first, sample = collect_status(settings, interval_s=0, dead_letters=False)
    assert first["rates"] is None and first["topics"][0]["rate_per_s"] is None
    produce(kafka_bootstrap, topics[0], (product(i) for i in range(30)))
    time.sleep(0.5)
    second, _ = collect_status(settings, previous=sample, dead_letters=False)
    seconds = second["rates"]["interval_s"]
    assert seconds >= 0.5
    assert second["topics"][0]["rate_per_s"] * seconds == pytest.approx(30, abs=0.1)
    assert second["topics"][1]["rate_per_s"] == 0
    assert second["lag"]["total"] == 30  # a group that never committed: everything is lag
    assert second["dead_letters"] is None


def test_predictor_states_and_the_live_version_of_a_store_predictor(
    two_version_store: Any, predictor_factory: Callable[..., Any]
) -> None:
    port = free_ports("127.0.0.1", 1)[0]
    down = predictor_status(PredictorClientSettings(url=f"http://127.0.0.1:{port}"), 2.0)
    assert down.state == "unreachable" and down.http_status is None and down.error

    server = predictor_factory(
        extra_args=[
            "--store", two_version_store.uri, "--store-name", "category-match",
            "--model-ref", "dev", "--poll-interval", "0.2",
        ],
    )  # fmt: skip
    client = PredictorClientSettings(url=server.url, model_name=server.model_name)
    live = predictor_status(client)
    assert (live.state, live.live_version, live.version_source) == ("ready", "v1", "metrics")
    missing = predictor_status(client.model_copy(update={"model_name": f"m-{uuid.uuid4().hex}"}))
    assert missing.state == "not_found" and missing.http_status == 404

    two_version_store.promote("category-match", "v2", "dev", actor="test")
    deadline = time.monotonic() + 60
    while predictor_status(client).live_version != "v2":
        assert time.monotonic() < deadline, "the live version never became v2"
        time.sleep(0.2)
