"""The embedded broker's pure parts: server.properties, cluster ids, tool checks, jar cache."""

from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from catmatch.commands import broker as command
from core.settings import BrokerSettings, Settings
from transport.admin import pipeline_topic_specs
from transport.broker import config, datadir, jars
from transport.broker.server import EmbeddedKafka
from transport.errors import BrokerError


def _parse(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_server_properties_single_node_kraft_on_loopback(tmp_path: Path) -> None:
    props = _parse(
        config.render_server_properties(
            host="127.0.0.1", port=19092, controller_port=19093, log_dir=tmp_path, num_partitions=3
        )
    )
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path)
    assert props["num.partitions"] == "3"
    assert props["auto.create.topics.enable"] == "false"
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["transaction.state.log.replication.factor"] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert "zookeeper.connect" not in props
    assert "0.0.0.0" not in "".join(props.values())


def test_server_properties_overrides_win(tmp_path: Path) -> None:
    text = config.render_server_properties(
        host="127.0.0.1",
        port=1,
        controller_port=2,
        log_dir=tmp_path,
        num_partitions=1,
        overrides={
            "num.partitions": 7,
            "log.retention.ms": 1000,
            "auto.create.topics.enable": True,
        },
    )
    props = _parse(text)
    assert props["num.partitions"] == "7"
    assert props["log.retention.ms"] == "1000"
    assert props["auto.create.topics.enable"] == "true"
    assert len(re.findall(r"^num\.partitions=", text, re.MULTILINE)) == 1


def test_cluster_id_looks_like_kafkas() -> None:
    ids = {datadir.new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cluster_id)
        assert not cluster_id.startswith("-")


def test_cluster_id_is_kept_in_the_data_dir(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    first = datadir.cluster_id_for(tmp_path, log_dir)
    assert datadir.cluster_id_for(tmp_path, log_dir) == first
    (log_dir / "meta.properties").write_text("#x\nnode.id=1\ncluster.id=FormattedId_1234567890\n")
    assert datadir.cluster_id_for(tmp_path, log_dir) == "FormattedId_1234567890"
    assert (tmp_path / datadir.CLUSTER_ID_FILE).read_text().strip() == "FormattedId_1234567890"


@pytest.mark.parametrize(
    ("text", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_292"', 8),
        ('openjdk version "11.0.2" 2019-01-15', 11),
        ("no version here", None),
    ],
)
def test_parse_java_version(text: str, major: int | None) -> None:
    assert jars.parse_java_version(text) == major


def _which(missing: set[str]):
    return lambda name: None if name in missing else f"/usr/bin/{name}"


def test_missing_java_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(jars.shutil, "which", _which({"java"}))
    with pytest.raises(BrokerError) as info:
        jars.check_tools(need_mvn=True)
    message = str(info.value)
    assert "java" in message and "apt-get install openjdk-17-jre-headless" in message
    assert "\n" not in message


def test_missing_java_and_maven_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(jars.shutil, "which", _which({"java", "mvn"}))
    with pytest.raises(BrokerError) as info:
        jars.check_tools(need_mvn=True)
    message = str(info.value)
    assert "apt-get install openjdk-17-jre-headless maven" in message
    assert "\n" not in message


def test_missing_maven_only_matters_when_resolving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(jars.shutil, "which", _which({"mvn"}))
    monkeypatch.setattr(jars, "_java_version", lambda java: 17)
    assert jars.check_tools(need_mvn=False) == "/usr/bin/java"
    with pytest.raises(BrokerError, match=r"mvn .*apt-get install maven"):
        jars.check_tools(need_mvn=True)


def test_old_java_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(jars.shutil, "which", _which(set()))
    monkeypatch.setattr(jars, "_java_version", lambda java: 11)
    with pytest.raises(BrokerError, match=r"Java 11 but Kafka 4 needs Java 17\+"):
        jars.check_tools(need_mvn=False)


@pytest.fixture
def fake_tools(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Pretend java/mvn exist; record mvn calls, which create the expected jar."""
    calls: list[list[str]] = []
    monkeypatch.setattr(jars, "check_tools", lambda need_mvn: "/usr/bin/java")

    def fake_run(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        out = Path(next(a for a in cmd if a.startswith("-DoutputDirectory="))[18:])
        version = next(a for a in cmd if a.startswith("-Dkafka.version="))[16:]
        out.mkdir(parents=True)
        (out / f"kafka_2.13-{version}.jar").write_bytes(b"PK")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(jars.subprocess, "run", fake_run)
    return calls


def test_ensure_jars_resolves_once(tmp_path: Path, fake_tools: list[list[str]]) -> None:
    broker = BrokerSettings(jars_dir=tmp_path, kafka_version="4.1.0")
    libs = jars.ensure_jars(broker)
    assert libs == tmp_path / "4.1.0" / "libs"
    assert (libs / "kafka_2.13-4.1.0.jar").is_file()
    assert jars.is_resolved(broker)
    assert jars.ensure_jars(broker) == libs
    assert len(fake_tools) == 1
    cmd = fake_tools[0]
    assert "dependency:copy-dependencies" in cmd and "-DincludeScope=runtime" in cmd
    assert cmd[cmd.index("-f") + 1] == str(jars.POM_PATH)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".4.1.0")] == []


def test_ensure_jars_again_when_the_pom_changed(
    tmp_path: Path, fake_tools: list[list[str]]
) -> None:
    broker = BrokerSettings(jars_dir=tmp_path)
    jars.ensure_jars(broker)
    marker = tmp_path / broker.kafka_version / jars.MARKER_NAME
    marker.write_text(json.dumps({**json.loads(marker.read_text()), "pom_sha256": "old"}))
    assert not jars.is_resolved(broker)
    jars.ensure_jars(broker)
    assert len(fake_tools) == 2
    assert jars.is_resolved(broker)


def test_failed_maven_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(jars, "check_tools", lambda need_mvn: "/usr/bin/java")
    output = (
        "\x1b[0m[ERROR] Failed to execute goal: Could not resolve dependencies for x\n[ERROR] \n"
    )
    monkeypatch.setattr(
        jars.subprocess,
        "run",
        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, output, ""),
    )
    broker = BrokerSettings(jars_dir=tmp_path)
    with pytest.raises(BrokerError, match="Could not resolve dependencies for x"):
        jars.ensure_jars(broker)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".lock"]
    assert not jars.is_resolved(broker)


def test_broker_command_defers_to_an_explicit_cluster(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def must_not_start(self: EmbeddedKafka, timeout: float = 0) -> None:
        raise AssertionError("started a broker")

    monkeypatch.setattr(EmbeddedKafka, "start", must_not_start)
    monkeypatch.setenv(command.BOOTSTRAP_ENV, "kafka.example.com:9092")
    args = argparse.Namespace(
        fetch_only=False, port=None, data_dir=None, controller_port=None, timeout=1.0
    )
    assert command.run(args, Settings()) == 0
    out = capsys.readouterr().out
    assert "kafka.example.com:9092" in out and len(out.strip().splitlines()) == 1


def test_broker_command_starts_when_the_env_names_its_own_address(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    class Started(Exception):
        pass

    def fake_start(self: EmbeddedKafka, timeout: float = 0) -> None:
        raise Started

    monkeypatch.setattr(EmbeddedKafka, "start", fake_start)
    monkeypatch.setenv(command.BOOTSTRAP_ENV, "127.0.0.1:9555")
    args = argparse.Namespace(
        fetch_only=False, port=9555, data_dir=tmp_path, controller_port=None, timeout=1.0
    )
    with pytest.raises(Started):
        command.run(args, Settings())


def test_port_zero_picks_distinct_free_ports() -> None:
    kafka = EmbeddedKafka(BrokerSettings(), port=0, controller_port=0)
    with pytest.raises(RuntimeError):
        _ = kafka.bootstrap_servers
    kafka._pick_ports()
    assert kafka.port and kafka.controller_port and kafka.port != kafka.controller_port
    assert kafka.bootstrap_servers == f"127.0.0.1:{kafka.port}"


def test_port_in_use_is_a_user_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        kafka = EmbeddedKafka(BrokerSettings(), port=port, controller_port=0)
        with pytest.raises(BrokerError, match=f"port {port} on 127.0.0.1 is in use"):
            kafka._pick_ports()


def test_pipeline_topic_specs_follow_the_settings() -> None:
    settings = Settings(topics={"config": {"retention.ms": "3600000"}}, worker={"workers": 3})
    specs = pipeline_topic_specs(settings)
    assert [s.name for s in specs] == [
        "category-match-in",
        "category-match-out",
        "category-match-dlq",
    ]
    assert {s.partitions for s in specs} == {3}
    assert specs[0].config == {"retention.ms": "3600000"}
    assert {s.partitions for s in pipeline_topic_specs(settings, partitions=5)} == {5}


def test_fetch_only_resolves_and_starts_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    resolved: list[BrokerSettings] = []

    def fake_ensure_jars(broker: BrokerSettings) -> Path:
        resolved.append(broker)
        return tmp_path / "libs"

    def must_not_start(self: EmbeddedKafka, timeout: float = 0) -> None:
        raise AssertionError("started a broker")

    monkeypatch.setattr(jars, "ensure_jars", fake_ensure_jars)
    monkeypatch.setattr(EmbeddedKafka, "start", must_not_start)
    monkeypatch.setenv(command.BOOTSTRAP_ENV, "kafka.example.com:9092")  # CI may set it
    args = argparse.Namespace(
        fetch_only=True, port=None, data_dir=None, controller_port=None, timeout=1.0
    )
    assert command.run(args, Settings()) == 0
    assert len(resolved) == 1
    assert str(tmp_path / "libs") in capsys.readouterr().out


def test_data_dir_lock_is_exclusive_until_released(tmp_path: Path) -> None:
    first = datadir.lock_data_dir(tmp_path)
    with pytest.raises(BrokerError, match=r"in use by another broker \(process \d+\)"):
        datadir.lock_data_dir(tmp_path)
    first.close()
    datadir.lock_data_dir(tmp_path).close()
