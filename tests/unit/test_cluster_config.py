"""The 3-node cluster's pure parts: per-node server.properties, ports, ids, format arguments."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from catmatch.commands import broker as command
from catmatch.errors import UserError
from core.settings import BrokerSettings, Settings
from transport.broker import EmbeddedKafka, EmbeddedKafkaCluster, config, datadir
from transport.broker.cluster import (
    CLUSTER_PROPERTIES,
    default_cluster_dir,
    default_replication,
    node_ports,
)
from transport.errors import BrokerError

# What `catmatch broker` (one node) wrote before clusters existed: it must not change.
SINGLE_NODE = """\
# Written by `catmatch broker` on every start; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:19093
listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093
advertised.listeners=PLAINTEXT://127.0.0.1:19092
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=/data/logs
num.partitions=3
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
delete.topic.enable=true
"""


def _parse(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def _cluster(tmp_path: Path, **kwargs: object) -> EmbeddedKafkaCluster:
    """A 3-node cluster on fixed ports whose nodes exist but run nothing."""
    options: dict[str, object] = {
        "data_dir": tmp_path,
        "ports": [19092, 19094, 19096],
        "controller_ports": [19093, 19095, 19097],
        **kwargs,
    }
    cluster = EmbeddedKafkaCluster(BrokerSettings(), **options)
    cluster._nodes = cluster._make_nodes()
    for node in cluster.nodes:  # as EmbeddedKafka.launch() sets them (no port check here)
        node.port, node.controller_port = node._want_port, node._want_controller_port
    return cluster


def test_single_node_output_is_unchanged() -> None:
    text = config.render_server_properties(
        host="127.0.0.1",
        port=19092,
        controller_port=19093,
        log_dir=Path("/data/logs"),
        num_partitions=3,
    )
    assert text == SINGLE_NODE


def test_single_node_embedded_kafka_renders_the_same(tmp_path: Path) -> None:
    kafka = EmbeddedKafka(BrokerSettings(), data_dir=tmp_path, port=19092, controller_port=19093)
    kafka.port, kafka.controller_port = 19092, 19093
    text = kafka.render_properties().replace(str(tmp_path.resolve() / "logs"), "/data/logs")
    assert text == SINGLE_NODE.replace("num.partitions=3", "num.partitions=2")
    assert kafka.format_args()[:2] == ["format", "--standalone"]


def test_each_node_has_its_id_listeners_and_log_dir(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    rendered = {node.node_id: _parse(node.render_properties()) for node in cluster.nodes}
    assert sorted(rendered) == [1, 2, 3]
    for node_id, client, controller in [(1, 19092, 19093), (2, 19094, 19095), (3, 19096, 19097)]:
        props = rendered[node_id]
        assert props["node.id"] == str(node_id)
        assert props["process.roles"] == "broker,controller"
        assert props["listeners"] == (
            f"PLAINTEXT://127.0.0.1:{client},CONTROLLER://127.0.0.1:{controller}"
        )
        assert props["advertised.listeners"] == f"PLAINTEXT://127.0.0.1:{client}"
        assert props["log.dirs"] == str((tmp_path / f"node-{node_id}" / "logs").resolve())
        assert "0.0.0.0" not in "".join(props.values())
    assert cluster.bootstrap_servers == "127.0.0.1:19092,127.0.0.1:19094,127.0.0.1:19096"
    assert [n.data_dir for n in cluster.nodes] == [tmp_path / f"node-{i}" for i in (1, 2, 3)]


def test_every_node_names_the_same_three_voters(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path)
    voters = "1@127.0.0.1:19093,2@127.0.0.1:19095,3@127.0.0.1:19097"
    assert cluster.quorum_voters == voters
    for node in cluster.nodes:
        props = _parse(node.render_properties())
        assert props["controller.quorum.voters"] == voters
        assert "controller.quorum.bootstrap.servers" not in props
        # A static quorum: formatted without a voter set of its own.
        args = node.format_args()
        assert "--no-initial-controllers" in args
        assert "--standalone" not in args and "--initial-controllers" not in args


def test_replication_defaults_are_three_with_min_isr_two(tmp_path: Path) -> None:
    for node in _cluster(tmp_path).nodes:
        props = _parse(node.render_properties())
        assert props["default.replication.factor"] == "3"
        assert props["min.insync.replicas"] == "2"
        assert props["offsets.topic.replication.factor"] == "3"
        assert props["transaction.state.log.replication.factor"] == "3"
        assert props["transaction.state.log.min.isr"] == "2"
        assert props["share.coordinator.state.topic.replication.factor"] == "3"
        assert props["share.coordinator.state.topic.min.isr"] == "2"
        for key, value in CLUSTER_PROPERTIES.items():
            assert props[key] == str(value)
        assert int(props["broker.heartbeat.interval.ms"]) < int(props["broker.session.timeout.ms"])


def test_cluster_properties_and_replication_can_be_overridden(tmp_path: Path) -> None:
    cluster = _cluster(
        tmp_path,
        replication_factor=2,
        min_insync_replicas=1,
        properties={"broker.session.timeout.ms": 9000, "log.retention.ms": 1000},
    )
    props = _parse(cluster.node(2).render_properties())
    assert props["default.replication.factor"] == "2"
    assert "min.insync.replicas" not in props  # Kafka's default, 1
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["broker.session.timeout.ms"] == "9000"
    assert props["log.retention.ms"] == "1000"


def test_render_rejects_min_isr_above_the_replication_factor(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"min.insync.replicas \(3\)"):
        config.render_server_properties(
            host="127.0.0.1",
            port=1,
            controller_port=2,
            log_dir=tmp_path,
            num_partitions=1,
            replication_factor=2,
            min_insync_replicas=3,
        )


def test_quorum_voters_are_in_node_id_order() -> None:
    assert config.quorum_voters("127.0.0.1", {3: 7, 1: 5, 2: 6}) == (
        "1@127.0.0.1:5,2@127.0.0.1:6,3@127.0.0.1:7"
    )


def test_node_ports_interleave_from_the_defaults() -> None:
    assert node_ports(9092, 3) == [9092, 9094, 9096]
    assert node_ports(9093, 3) == [9093, 9095, 9097]
    assert node_ports(0, 3) == [0, 0, 0]
    assert node_ports(9092, 1) == [9092]


def test_default_replication_by_node_count() -> None:
    assert default_replication(1) == (1, 1)
    assert default_replication(2) == (2, 1)
    assert default_replication(3) == (3, 2)
    assert default_replication(5) == (3, 2)


def test_default_cluster_dir_is_next_to_the_single_broker() -> None:
    assert default_cluster_dir(BrokerSettings(data_dir=Path("var/kafka"))) == Path(
        "var/kafka-cluster"
    )
    assert EmbeddedKafkaCluster(BrokerSettings()).data_dir == Path("var/kafka-cluster")


def test_free_ports_are_picked_once_and_distinct(tmp_path: Path) -> None:
    cluster = EmbeddedKafkaCluster(BrokerSettings(), data_dir=tmp_path)
    with pytest.raises(RuntimeError, match="not been started"):
        _ = cluster.nodes
    cluster._nodes = cluster._make_nodes()
    for node in cluster.nodes:
        node._pick_ports()
    ports = [p for n in cluster.nodes for p in (n.port, n.controller_port)]
    assert len(set(ports)) == 6 and all(ports)
    # A node restarted later keeps them: they are explicit now, not 0.
    assert [n._want_port for n in cluster.nodes] == [n.port for n in cluster.nodes]
    assert [n._want_controller_port for n in cluster.nodes] == [
        n.controller_port for n in cluster.nodes
    ]


def test_nodes_share_one_saved_cluster_id(tmp_path: Path) -> None:
    first = _cluster(tmp_path)
    assert first.cluster_id is not None
    assert {n._want_cluster_id for n in first.nodes} == {first.cluster_id}
    assert (tmp_path / datadir.CLUSTER_ID_FILE).read_text().strip() == first.cluster_id
    assert _cluster(tmp_path).cluster_id == first.cluster_id


def test_a_formatted_node_decides_the_cluster_id(tmp_path: Path) -> None:
    (tmp_path / "node-2" / "logs").mkdir(parents=True)
    (tmp_path / "node-2" / "logs" / "meta.properties").write_text(
        "node.id=2\ncluster.id=FormattedId_1234567890\n"
    )
    assert _cluster(tmp_path).cluster_id == "FormattedId_1234567890"
    (tmp_path / "node-3" / "logs").mkdir(parents=True)
    (tmp_path / "node-3" / "logs" / "meta.properties").write_text(
        "node.id=3\ncluster.id=OtherClusterId_0987654\n"
    )
    with pytest.raises(BrokerError, match="different clusters"):
        _cluster(tmp_path)


def test_a_node_formatted_for_another_cluster_is_refused(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    (log_dir / "meta.properties").write_text("cluster.id=FormattedId_1234567890\n")
    with pytest.raises(BrokerError, match="belongs to cluster FormattedId_1234567890"):
        datadir.cluster_id_for(tmp_path, log_dir, wanted="WantedId_123456789012")
    assert datadir.cluster_id_for(tmp_path, log_dir, wanted="FormattedId_1234567890") == (
        "FormattedId_1234567890"
    )
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / datadir.CLUSTER_ID_FILE).write_text("SavedId_1234567890123\n")
    assert datadir.cluster_id_for(fresh, fresh / "logs", wanted="WantedId_123456789012") == (
        "WantedId_123456789012"
    )


def test_bad_cluster_shapes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least one node"):
        EmbeddedKafkaCluster(BrokerSettings(), nodes=0)
    with pytest.raises(ValueError, match="2 ports for 3 nodes"):
        EmbeddedKafkaCluster(BrokerSettings(), ports=[1, 2])
    with pytest.raises(ValueError, match="replication factor 4 with 3 nodes"):
        EmbeddedKafkaCluster(BrokerSettings(), replication_factor=4)
    clash = EmbeddedKafkaCluster(
        BrokerSettings(),
        data_dir=tmp_path,
        ports=[9092, 9094, 9096],
        controller_ports=[9093, 9094, 9095],
    )
    with pytest.raises(BrokerError, match="ports overlap"):
        clash._make_nodes()


def test_heap_is_per_node(tmp_path: Path) -> None:
    cluster = _cluster(tmp_path, heap="384m")
    for node in cluster.nodes:
        cmd = node._java_cmd("java", "libs/*", "kafka.Kafka")
        assert "-Xmx384m" in cmd


def test_stop_before_start_is_a_no_op(tmp_path: Path) -> None:
    assert EmbeddedKafkaCluster(BrokerSettings(), data_dir=tmp_path).stop() == {}


def _args(**kwargs: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "fetch_only": False,
        "port": None,
        "data_dir": None,
        "controller_port": None,
        "timeout": 1.0,
        "nodes": 3,
    }
    values.update(kwargs)
    return argparse.Namespace(**values)


class Started(Exception):
    pass


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[EmbeddedKafkaCluster]:
    """Record the clusters the command would start (and start none)."""
    clusters: list[EmbeddedKafkaCluster] = []

    def fake_start(self: EmbeddedKafkaCluster, timeout: float = 0) -> None:
        clusters.append(self)
        raise Started

    monkeypatch.setattr(EmbeddedKafkaCluster, "start", fake_start)
    monkeypatch.delenv(command.BOOTSTRAP_ENV, raising=False)
    return clusters


def test_broker_command_nodes_3_uses_interleaved_default_ports(
    started: list[EmbeddedKafkaCluster],
) -> None:
    with pytest.raises(Started):
        command.run(_args(), Settings())
    (cluster,) = started
    assert cluster.node_ids == [1, 2, 3]
    assert cluster._want_ports == [9092, 9094, 9096]
    assert cluster._want_controller_ports == [9093, 9095, 9097]
    assert cluster.data_dir == Path("var/kafka-cluster")
    assert (cluster.replication_factor, cluster.min_insync_replicas) == (3, 2)


def test_broker_command_nodes_3_with_port_zero_and_a_data_dir(
    started: list[EmbeddedKafkaCluster], tmp_path: Path
) -> None:
    with pytest.raises(Started):
        command.run(_args(port=0, controller_port=0, data_dir=tmp_path), Settings())
    (cluster,) = started
    assert cluster._want_ports == [0, 0, 0] and cluster._want_controller_ports == [0, 0, 0]
    assert cluster.data_dir == tmp_path


def test_broker_command_nodes_3_defers_to_another_cluster(
    started: list[EmbeddedKafkaCluster],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(command.BOOTSTRAP_ENV, "kafka.example.com:9092")
    assert command.run(_args(), Settings()) == 0
    assert started == []
    assert "kafka.example.com:9092" in capsys.readouterr().out


def test_broker_command_nodes_3_starts_when_the_env_names_its_nodes(
    started: list[EmbeddedKafkaCluster], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(command.BOOTSTRAP_ENV, "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096")
    with pytest.raises(Started):
        command.run(_args(), Settings())
    assert len(started) == 1


def test_broker_command_rejects_zero_nodes() -> None:
    with pytest.raises(UserError, match="at least 1"):
        command.run(_args(nodes=0), Settings())


def test_topics_env_hint_parses_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    hint = command.topics_env(3, 2)
    for assignment in hint.split(" "):
        name, _, value = assignment.partition("=")
        monkeypatch.setenv(name, value.strip("'"))
    topics = Settings().topics
    assert topics.replication_factor == 3
    assert topics.config == {"min.insync.replicas": "2"}


class _FakeNode:
    def __init__(self, node_id: int, running: bool) -> None:
        self.node_id = node_id
        self.is_running = running


def test_wait_reports_a_node_that_exited_once(tmp_path: Path) -> None:
    cluster = EmbeddedKafkaCluster(BrokerSettings(), data_dir=tmp_path)
    assert cluster.majority == 2
    cluster._nodes = [_FakeNode(1, True), _FakeNode(2, False), _FakeNode(3, True)]  # type: ignore[list-item]
    assert cluster.wait(timeout=0.1) == 2
    assert cluster.wait(timeout=0.1, ignore=[2]) is None
    assert cluster.running_nodes == [1, 3]
    assert not cluster.is_running
