"""``catmatch produce`` and ``catmatch tail`` against the real broker."""

from __future__ import annotations

import argparse
import io
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition

import schemas
from catmatch.commands import produce as produce_command
from catmatch.commands import tail as tail_command
from core.settings import Settings, load_settings
from schemas import ProductMessage
from tests.fixtures.kafka import consume_all
from toolbox.produce import produce_products
from toolbox.readers import iter_messages
from training.generator import SYNTHETIC_HEADER, generate_products, read_truth
from transport.errors import TopicError

pytestmark = pytest.mark.integration

MALFORMED = Path(schemas.__file__).parent / "examples" / "malformed_products.jsonl"


@pytest.fixture
def settings(kafka_bootstrap: str) -> Settings:
    return load_settings(kafka={"bootstrap_servers": kafka_bootstrap})


def _parse(register: Callable[[Any], None], argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(argv)


def _end_offsets(kafka_config: dict[str, Any], topic: str, partitions: int) -> int:
    consumer = Consumer({**kafka_config, "group.id": f"w-{uuid.uuid4().hex}"})
    try:
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(partitions)
        )
    finally:
        consumer.close()


def test_produce_200_generated_products(
    settings: Settings, kafka_config: dict[str, Any], topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(partitions=2)
    expected = [p.message for p in generate_products(200, seed=3)]
    report = produce_products(settings, expected, topic=topic, headers=[SYNTHETIC_HEADER])
    assert (report.delivered, report.failed, report.invalid, report.sent) == (200, 0, 0, 200)

    messages = consume_all(kafka_config, topic, 200, timeout=30)
    assert len(messages) == 200
    assert _end_offsets(kafka_config, topic, 2) == 200  # exactly 200: nothing duplicated
    by_id = {m["product_id"]: m for m in expected}
    for msg in messages:
        product = ProductMessage.model_validate_json(msg.value())
        assert msg.key().decode() == product.product_id
        assert product.title == by_id[product.product_id]["title"]
        assert product.event_time is not None
        assert SYNTHETIC_HEADER in (msg.headers() or [])
        assert "category" not in json.loads(msg.value())
    assert {m.key().decode() for m in messages} == set(by_id)


def test_produce_command_generate_writes_truth(
    settings: Settings,
    topic_factory: Callable[..., str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    topic = topic_factory()
    truth = tmp_path / "truth.csv"
    args = _parse(
        produce_command.register,
        [
            "produce",
            "--generate",
            "--count",
            "50",
            "--seed",
            "8",
            "--topic",
            topic,
            "--with-truth",
            str(truth),
            "--quiet",
            "--rate",
            "2000",
        ],
    )
    assert produce_command.run(args, settings) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1] == "delivered 50, failed 0"
    rows = read_truth(truth)
    assert len(rows) == 50 and rows["gen-8-0"] == next(generate_products(1, seed=8)).category.name


def test_raw_mode_sends_malformed_lines_as_they_are(
    settings: Settings,
    kafka_config: dict[str, Any],
    topic_factory: Callable[..., str],
    capsys: pytest.CaptureFixture,
) -> None:
    topic = topic_factory()
    lines = [line for line in MALFORMED.read_bytes().splitlines() if line.strip()]
    args = _parse(
        produce_command.register,
        [
            "produce",
            str(MALFORMED),
            "--raw",
            "--topic",
            topic,
            "--quiet",
        ],
    )
    assert produce_command.run(args, settings) == 0
    assert capsys.readouterr().out.strip() == f"delivered {len(lines)}, failed 0"
    messages = consume_all(kafka_config, topic, len(lines), timeout=30)
    assert [m.value() for m in messages] == lines
    keys = [m.key() for m in messages]
    assert keys[0] is None and b"bad-3" in keys


def test_invalid_records_are_reported_and_not_sent(
    settings: Settings,
    kafka_config: dict[str, Any],
    topic_factory: Callable[..., str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    topic = topic_factory()
    source = tmp_path / "mixed.jsonl"
    good = [json.dumps({"product_id": f"ok-{i}", "title": f"Thing {i}"}) for i in range(3)]
    source.write_text("\n".join([good[0], *MALFORMED.read_text().splitlines(), *good[1:]]) + "\n")
    args = _parse(produce_command.register, ["produce", str(source), "--topic", topic])
    assert produce_command.run(args, settings) == 1  # invalid input → non-zero exit
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines()[-1] == "delivered 3, failed 0"
    assert "line 2: not valid JSON" in captured.err
    assert "skipped 16 invalid record(s)" in captured.err
    messages = consume_all(kafka_config, topic, 3, timeout=30)
    assert sorted(m.key() for m in messages) == [b"ok-0", b"ok-1", b"ok-2"]


def test_produce_to_a_missing_topic_is_a_user_error(settings: Settings) -> None:
    with pytest.raises(TopicError, match="does not exist"):
        produce_products(settings, [], topic=f"missing-{uuid.uuid4().hex}")


def test_tail_iterates_and_stops_after_count(
    settings: Settings, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(partitions=2)
    produce_products(settings, [p.message for p in generate_products(30, seed=1)], topic=topic)
    got = list(iter_messages(settings, topic, from_beginning=True, count=10, idle_timeout=30))
    assert len(got) == 10
    assert all(ProductMessage.model_validate_json(m.value or b"") for m in got)
    everything = list(iter_messages(settings, topic, from_beginning=True, idle_timeout=3))
    assert len(everything) == 30


def test_tail_command_prints_n_lines_and_exits(
    settings: Settings, topic_factory: Callable[..., str], capsys: pytest.CaptureFixture
) -> None:
    topic = topic_factory()
    results = [
        {
            "product_id": f"p{i}",
            "label": "Works of art",
            "label_id": 20,
            "score": 0.5,
            "model_name": "m",
            "model_version": "v7",
            "processed_time": "2026-01-01T00:00:00Z",
        }
        for i in range(8)
    ]
    produce_products(settings, [json.dumps(r) for r in results], topic=topic, raw=True)
    args = _parse(
        tail_command.register,
        [
            "tail",
            "--topic",
            topic,
            "--from-beginning",
            "--count",
            "5",
            "--timeout",
            "30",
        ],
    )
    assert tail_command.run(args, settings) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == [f"p{i}\tWorks of art\t0.500\tv7" for i in range(5)]

    args = _parse(
        tail_command.register,
        [
            "tail",
            "--topic",
            topic,
            "--from-beginning",
            "--count",
            "20",
            "--timeout",
            "2",
            "--json",
        ],
    )
    assert tail_command.run(args, settings) == 1  # only 8 of 20 before the idle timeout
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert printed == results


def test_tail_of_a_missing_topic_is_a_user_error(settings: Settings) -> None:
    with pytest.raises(TopicError, match="does not exist"):
        next(iter_messages(settings, f"missing-{uuid.uuid4().hex}", idle_timeout=1))


def test_produce_reads_stdin_and_csv(
    settings: Settings,
    kafka_config: dict[str, Any],
    topic_factory: Callable[..., str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture,
) -> None:
    topic = topic_factory()
    stdin = b'{"product_id": "in-1", "title": "Tea"}\n{"product_id": "in-2", "title": "Mug"}\n'
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    args = _parse(produce_command.register, ["produce", "-", "--topic", topic, "--quiet"])
    assert produce_command.run(args, settings) == 0
    csv_file = Path(schemas.__file__).parent / "examples" / "products.csv"
    args = _parse(
        produce_command.register,
        [
            "produce",
            str(csv_file),
            "--topic",
            topic,
            "--quiet",
            "--count",
            "4",
        ],
    )
    assert produce_command.run(args, settings) == 0
    assert capsys.readouterr().out.splitlines() == [
        "delivered 2, failed 0",
        "delivered 4, failed 0",
    ]
    messages = consume_all(kafka_config, topic, 6, timeout=30)
    keys = [m.key() for m in messages]
    assert keys == [b"in-1", b"in-2", b"sku-2001", b"sku-2002", b"sku-2003", b"sku-2004"]
    first_csv = json.loads(messages[2].value())
    assert first_csv["category_hints"] == ["kitchen", "bestseller"] and first_csv["price"] == 39.95
