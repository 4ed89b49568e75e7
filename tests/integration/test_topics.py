"""``catmatch topics`` against the real broker: idempotent create, lag, delete, errors."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from catmatch import cli
from transport.admin import TopicSpec, admin_client, delete_topics, ensure_topics
from transport.broker.config import free_ports
from transport.errors import KafkaUnreachable
from transport.metadata import group_lag

pytestmark = pytest.mark.integration

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def names(kafka_config: dict[str, Any]) -> Iterator[dict[str, str]]:
    """Fresh pipeline topic names; whatever a test created is deleted afterwards."""
    tag = uuid.uuid4().hex[:10]
    topics = {"input": f"in-{tag}", "output": f"out-{tag}", "dead_letter": f"dlq-{tag}"}
    yield topics
    delete_topics(kafka_config, topics.values())


@pytest.fixture
def catmatch(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    kafka_bootstrap: str,
    names: dict[str, str],
) -> Run:
    """Run ``catmatch topics ...`` (the real ``cli.main``) against the session broker."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("catmatch.commands.topics",))
    monkeypatch.delenv("CATMATCH_CONFIG", raising=False)
    monkeypatch.setenv("CATMATCH_KAFKA__BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("CATMATCH_WORKER__WORKERS", "2")
    for key, name in names.items():
        monkeypatch.setenv(f"CATMATCH_TOPICS__{key.upper()}", name)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        rc = cli.main(["topics", *argv])
        out, err = capsys.readouterr()
        return rc, out, err

    return run


def _table(out: str) -> dict[str, str]:
    """``name  status`` lines as a dict."""
    return dict(line.split(None, 1) for line in out.strip().splitlines())


def _partitions(conf: dict[str, Any], topic: str) -> int:
    return len(admin_client(conf).list_topics(topic, timeout=10).topics[topic].partitions)


def test_create_is_idempotent_and_reports_existing_topics(
    catmatch: Run, names: dict[str, str], kafka_config: dict[str, Any]
) -> None:
    rc, out, _ = catmatch("create")
    assert rc == 0
    lines = _table(out)
    assert lines == {name: "created" for name in names.values()}
    assert all(_partitions(kafka_config, name) == 2 for name in names.values())

    rc, out, _ = catmatch("create")
    assert rc == 0
    lines = _table(out)
    assert lines == {name: "exists (2 partitions)" for name in names.values()}


def test_create_warns_and_keeps_fewer_partitions(
    catmatch: Run,
    names: dict[str, str],
    kafka_config: dict[str, Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert catmatch("create", "--partitions", "1")[0] == 0
    rc, out, _ = catmatch("create", "--partitions", "3")
    assert rc == 0
    assert _table(out)[names["input"]] == "exists (1 partitions; 3 wanted, not changed)"
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(names["input"] in w and "fewer than the 3 wanted" in w for w in warnings)
    assert _partitions(kafka_config, names["input"]) == 1


def test_ensure_topics_creates_only_the_missing_ones(
    kafka_config: dict[str, Any], topic_factory
) -> None:
    existing = topic_factory(partitions=2)
    fresh = f"fresh-{uuid.uuid4().hex[:10]}"
    specs = [TopicSpec(existing, partitions=2), TopicSpec(fresh, partitions=4)]
    try:
        assert ensure_topics(kafka_config, specs) == {
            existing: "exists (2 partitions)",
            fresh: "created",
        }
        assert _partitions(kafka_config, fresh) == 4
    finally:
        delete_topics(kafka_config, [fresh])


def test_describe_shows_committed_offsets_and_lag(
    catmatch: Run, names: dict[str, str], kafka_config: dict[str, Any], group_id: str
) -> None:
    assert catmatch("create", "--partitions", "1")[0] == 0
    topic = names["input"]
    producer = Producer(kafka_config)
    for i in range(5):
        producer.produce(topic, value=f"m{i}".encode())
    assert producer.flush(30) == 0
    consumer = Consumer({**kafka_config, "group.id": group_id})
    consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
    consumer.close()

    lags = group_lag(kafka_config, group_id, [topic, names["output"]])
    by_topic = {lag.topic: lag for lag in lags}
    assert (by_topic[topic].committed, by_topic[topic].end, by_topic[topic].lag) == (2, 5, 3)
    assert (by_topic[names["output"]].committed, by_topic[names["output"]].lag) == (None, 0)
    never = group_lag(kafka_config, f"none-{group_id}", [topic])
    assert (never[0].committed, never[0].lag) == (None, 5)

    rc, out, _ = catmatch("describe", "--group", group_id)
    assert rc == 0
    section = out.split(f"{topic}:", 1)[1].split("total lag", 2)
    assert section[1].split()[0] == "3"
    row = section[0].strip().splitlines()[-1].split()
    assert row == ["0", "1", "1", "0", "5", "2", "3"]


def test_list_and_delete(catmatch: Run, names: dict[str, str]) -> None:
    assert catmatch("create")[0] == 0
    rc, out, _ = catmatch("list")
    assert rc == 0
    assert _table(out)[names["input"]] == "2 partitions"
    assert "__consumer_offsets" not in _table(out)

    rc, _, err = catmatch("delete")
    assert rc == 2 and "--yes" in err

    rc, out, _ = catmatch("delete", "--yes", names["input"], names["output"])
    assert rc == 0
    assert _table(out) == {names["input"]: "deleted", names["output"]: "deleted"}
    deadline = time.monotonic() + 30
    while names["input"] in _table(catmatch("list")[1]) and time.monotonic() < deadline:
        pass  # metadata catches up with the deletion within a moment
    listed = _table(catmatch("list")[1])
    assert names["input"] not in listed and names["dead_letter"] in listed
    rc, out, _ = catmatch("delete", "--yes", names["input"], names["dead_letter"])
    assert _table(out) == {names["input"]: "not found", names["dead_letter"]: "deleted"}


def test_unreachable_broker_is_a_quick_user_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (port,) = free_ports("127.0.0.1", 1)  # nothing listens there
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("catmatch.commands.topics",))
    monkeypatch.delenv("CATMATCH_CONFIG", raising=False)
    monkeypatch.setenv("CATMATCH_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{port}")
    started = time.monotonic()
    rc = cli.main(["topics", "create", "--timeout", "1.5"])
    elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(
        f"catmatch: error: Kafka at 127.0.0.1:{port} is not reachable within 1.5 s"
    )
    assert out == ""
    assert elapsed < 6

    with pytest.raises(KafkaUnreachable, match="not reachable"):
        group_lag({"bootstrap.servers": f"127.0.0.1:{port}"}, "g", ["t"], timeout=0.5)
