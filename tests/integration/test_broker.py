"""The embedded Apache Kafka broker: roundtrip, ``catmatch broker`` start/stop, restart."""

from __future__ import annotations

import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from core.settings import load_settings
from tests.fixtures.kafka import consume_all, kafka_jvms_under
from transport.admin import TopicSpec, ensure_topics
from transport.broker import EmbeddedKafka
from transport.broker.config import free_ports
from transport.errors import BrokerError

pytestmark = pytest.mark.integration

# Runs the real ``catmatch.cli.main`` with only the broker subcommand registered, so this test
# does not depend on the other subcommand modules importing cleanly.
CLI = (
    "import sys, catmatch.cli as cli; cli.COMMAND_MODULES = ('catmatch.commands.broker',); "
    "sys.exit(cli.main(sys.argv[1:]))"
)


def _produce(conf: dict[str, Any], topic: str, values: list[bytes]) -> None:
    producer = Producer({**conf, "enable.idempotence": True})
    for i, value in enumerate(values):
        producer.produce(topic, value=value, key=str(i).encode())
    assert producer.flush(30) == 0


def test_produce_consume_roundtrip(kafka_config: dict[str, Any], topic_factory) -> None:
    topic = topic_factory(partitions=3)
    values = [f"message {i}".encode() for i in range(30)]
    _produce(kafka_config, topic, values)
    messages = consume_all(kafka_config, topic, expected=30, timeout=30)
    assert sorted(m.value() for m in messages) == sorted(values)
    assert {m.partition() for m in messages} <= {0, 1, 2}
    for partition in {m.partition() for m in messages}:
        offsets = [m.offset() for m in messages if m.partition() == partition]
        assert offsets == list(range(len(offsets)))


def _read_lines(stream: Any, lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _wait_for_line(lines: queue.Queue[str], needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            break
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"no line with {needle!r} within {timeout} s; got {seen}")




def _refuses(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def test_cli_broker_stops_on_sigterm_and_restart_keeps_data(tmp_path: Path) -> None:
    data_dir = tmp_path / "kafka"
    port, controller_port = free_ports("127.0.0.1", 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATMATCH_KAFKA__")}
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "broker", "--data-dir", str(data_dir),
         "--port", str(port), "--controller-port", str(controller_port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    try:
        ready = _wait_for_line(lines, "ready", timeout=180)
        assert f"bootstrap.servers=127.0.0.1:{port}" in ready
        conf = {"bootstrap.servers": f"127.0.0.1:{port}"}
        topic = "kept-topic"
        assert ensure_topics(conf, [TopicSpec(topic, partitions=2)]) == {topic: "created"}
        _produce(conf, topic, [b"a", b"b", b"c", b"d", b"e"])
        assert kafka_jvms_under(data_dir), "no broker JVM found"
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    assert rc == 0, proc.stderr.read() if proc.stderr else ""
    assert kafka_jvms_under(data_dir) == []
    assert _refuses(port)
    cluster_id = (data_dir / "cluster.id").read_text().strip()

    kafka = EmbeddedKafka(load_settings().broker, data_dir=data_dir, port=0, controller_port=0)
    with kafka:
        assert kafka.cluster_id == cluster_id
        conf = {"bootstrap.servers": kafka.bootstrap_servers}
        assert ensure_topics(conf, [TopicSpec(topic, partitions=2)]) == {
            topic: "exists (2 partitions)"
        }
        messages = consume_all(conf, topic, expected=5, timeout=30)
        assert sorted(m.value() for m in messages) == [b"a", b"b", b"c", b"d", b"e"]

        # A second broker on the same data dir would corrupt it: refused before any JVM.
        clash = EmbeddedKafka(load_settings().broker, data_dir=data_dir, port=0, controller_port=0)
        with pytest.raises(BrokerError, match="in use by another broker"):
            clash.start(timeout=60)
        assert clash.pid is None
        assert len(kafka_jvms_under(data_dir)) == 1
    assert kafka_jvms_under(data_dir) == []


def test_broker_that_dies_reports_its_log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # Skip our own port check so that Kafka itself fails to bind and exits.
        monkeypatch.setattr("transport.broker.config.port_in_use", lambda host, port: False)
        kafka = EmbeddedKafka(
            load_settings().broker, data_dir=tmp_path, port=port, controller_port=0
        )
        started = time.monotonic()
        with pytest.raises(BrokerError) as info:
            kafka.start(timeout=90)
    assert "exited before" in str(info.value)
    assert "last lines of" in str(info.value) and str(port) in str(info.value)
    assert time.monotonic() - started < 60
    assert not kafka.is_running and kafka_jvms_under(tmp_path) == []
