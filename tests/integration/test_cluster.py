"""Failure drills on a real 3-node Kafka cluster: a SIGKILLed leader, a rolling restart.

Topics have replication factor 3 and ``min.insync.replicas`` 2, so one node may be down
while an idempotent ``acks=all`` producer keeps writing; every acknowledged message must be
readable afterwards (exactly once after the leader kill).
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from confluent_kafka import (
    Consumer,
    KafkaError,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import ConfigResource, ResourceType

from tests.fixtures.kafka import consume_all, kafka_jvms_under
from transport.admin import TopicSpec, admin_client, ensure_topics
from transport.broker import EmbeddedKafkaCluster
from transport.metadata import partitions_of

pytestmark = pytest.mark.integration

# The real ``catmatch.cli.main`` with only the broker subcommand (as in test_broker.py).
CLI = (
    "import sys, catmatch.cli as cli; cli.COMMAND_MODULES = ('catmatch.commands.broker',); "
    "sys.exit(cli.main(sys.argv[1:]))"
)

PARTITIONS = 3
MESSAGES = 2_000
ISR_BOUND_S = 60.0


@pytest.fixture
def cluster(kafka_cluster: EmbeddedKafkaCluster) -> EmbeddedKafkaCluster:
    """The module's cluster with every node running (an earlier test may have left one down)."""
    if not kafka_cluster.is_running:
        kafka_cluster.start(timeout=120)
    return kafka_cluster


def _replicated_topic(cluster: EmbeddedKafkaCluster) -> str:
    name = f"drill-{uuid.uuid4().hex[:12]}"
    spec = TopicSpec(
        name, partitions=PARTITIONS, replication_factor=3, config={"min.insync.replicas": "2"}
    )
    assert ensure_topics(cluster.client_config(), [spec], timeout=30) == {name: "created"}
    cluster.wait_isr(name, None, 3, timeout=30)
    return name


class Deliveries:
    """Delivery reports of one producer: the acknowledged values and the errors."""

    def __init__(self) -> None:
        self.acked: list[bytes] = []
        self.errors: list[KafkaError] = []
        self.fatal: list[KafkaError] = []

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.acked.append(msg.value())
        else:
            self.errors.append(err)

    def on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal.append(err)


def _producer(cluster: EmbeddedKafkaCluster, deliveries: Deliveries) -> Producer:
    return Producer(
        {
            **cluster.client_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 5,
            "error_cb": deliveries.on_error,
            "logger": logging.getLogger("drill.producer"),
        }
    )


def _value(i: int) -> bytes:
    return f"m-{i:05d}".encode()


def _log_ends(cluster: EmbeddedKafkaCluster, topic: str) -> dict[int, int]:
    """High watermark per partition: what the log holds (no transactions: one offset each)."""
    partitions = partitions_of(admin_client(cluster.client_config()), topic, 10)
    consumer = Consumer({**cluster.client_config(), "group.id": f"wm-{uuid.uuid4().hex}"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in sorted(partitions)
        }
    finally:
        consumer.close()


def _read_back(
    cluster: EmbeddedKafkaCluster, topic: str, expected: list[bytes], *, exactly_once: bool
) -> dict[bytes, list[tuple[int, int]]]:
    """Read ``topic`` up to its high watermarks and check it against ``expected``.

    Always: no expected value is missing, none is unexpected, and each partition holds its
    values in produce order. With ``exactly_once`` also: no value twice. Returns the
    duplicates (value -> ``(partition, offset)`` of each copy) for the caller to report.
    """
    ends = _log_ends(cluster, topic)
    messages = consume_all(cluster.client_config(), topic, sum(ends.values()), timeout=60)
    values = [m.value() for m in messages]
    counts = Counter(values)
    missing = sorted(set(expected) - set(counts))
    duplicates = {
        v: [(m.partition(), m.offset()) for m in messages if m.value() == v]
        for v, n in counts.items()
        if n > 1
    }
    unexpected = sorted(set(counts) - set(expected))
    summary = (
        f"read {len(values)} of {sum(ends.values())} in the log ({ends}), "
        f"{len(expected)} produced; missing {len(missing)} {missing[:5]}, "
        f"duplicates {len(duplicates)} {dict(list(duplicates.items())[:5])}, "
        f"unexpected {unexpected[:5]}"
    )
    assert len(values) == sum(ends.values()), summary
    assert (missing, unexpected) == ([], []), summary
    if exactly_once:
        assert duplicates == {}, summary
    by_partition: dict[int, list[bytes]] = defaultdict(list)
    for message in messages:
        if message.value() not in by_partition[message.partition()]:  # first copies
            by_partition[message.partition()].append(message.value())
    for partition, in_order in by_partition.items():
        assert in_order == sorted(in_order), f"partition {partition} out of order"
    return duplicates




def test_cli_broker_nodes_3_runs_a_cluster_until_sigterm(tmp_path: Path) -> None:
    """Runs first, before the module's cluster starts: no six JVMs on two cores."""
    data_dir = tmp_path / "cluster"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATMATCH_KAFKA__")}
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "broker", "--nodes", "3", "--port", "0",
         "--controller-port", "0", "--data-dir", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(
        target=lambda: [lines.put(line) for line in proc.stdout or []], daemon=True
    ).start()
    try:
        ready = lines.get(timeout=180)
        assert "ready, 3 nodes: bootstrap.servers=" in ready, ready
        bootstrap = ready.split("bootstrap.servers=")[1].split()[0]
        assert len(bootstrap.split(",")) == 3
        hint = lines.get(timeout=10)
        assert "CATMATCH_TOPICS__REPLICATION_FACTOR=3" in hint
        assert """CATMATCH_TOPICS__CONFIG='{"min.insync.replicas":"2"}'""" in hint
        metadata = admin_client({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
        assert set(metadata.brokers) == {1, 2, 3}
        assert len(kafka_jvms_under(data_dir)) == 3
        assert sorted(p.name for p in data_dir.glob("node-*")) == ["node-1", "node-2", "node-3"]
        # A node killed from outside is a drill, not the end: the quorum still holds.
        (node_2,) = kafka_jvms_under(data_dir / "node-2")
        os.kill(node_2, signal.SIGKILL)
        time.sleep(2)
        assert proc.poll() is None, "the command stopped when one node died"
        assert len(kafka_jvms_under(data_dir)) == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    stderr = proc.stderr.read() if proc.stderr else ""
    assert rc == 0, stderr
    assert "node 2 exited (status -9" in stderr and "goes on with nodes 1, 3" in stderr
    assert kafka_jvms_under(data_dir) == []


def test_cluster_has_three_brokers_and_replicates_topics(cluster: EmbeddedKafkaCluster) -> None:
    metadata = admin_client(cluster.client_config()).list_topics(timeout=10)
    assert set(metadata.brokers) == {1, 2, 3}
    assert len(cluster.bootstrap_servers.split(",")) == 3
    assert {node.cluster_id for node in cluster.nodes} == {cluster.cluster_id}
    ports = {p for node in cluster.nodes for p in (node.port, node.controller_port)}
    assert len(ports) == 6

    topic = _replicated_topic(cluster)
    isr = cluster.wait_isr(topic, None, 3, timeout=30)
    assert isr == {p: [1, 2, 3] for p in range(PARTITIONS)}
    partitions = partitions_of(admin_client(cluster.client_config()), topic, 10)
    assert all(sorted(p.replicas) == [1, 2, 3] for p in partitions.values())
    assert {cluster.leader_of(topic, p) for p in range(PARTITIONS)} <= {1, 2, 3}

    admin = admin_client(cluster.client_config())
    resource = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([resource])[resource].result(timeout=10)
    assert configs["min.insync.replicas"].value == "2"


def test_killed_leader_mid_stream_loses_nothing(cluster: EmbeddedKafkaCluster) -> None:
    topic = _replicated_topic(cluster)
    leader = cluster.leader_of(topic, 0)
    deliveries = Deliveries()
    producer = _producer(cluster, deliveries)
    expected = [_value(i) for i in range(MESSAGES)]
    killed_at = None
    for i, value in enumerate(expected):
        producer.produce(
            topic, key=str(i).encode(), value=value, on_delivery=deliveries.on_delivery
        )
        if i % 50 == 49:
            producer.poll(0.01)  # paced: some messages are in flight at the kill
        if i == MESSAGES // 2:
            # Mid-stream: once the stream flows (the producer id is fetched first) and
            # while produced messages still wait for acknowledgement.
            deadline = time.monotonic() + 30
            while len(deliveries.acked) < MESSAGES // 4 and time.monotonic() < deadline:
                producer.poll(0.01)
            acked_before_kill = len(deliveries.acked)
            assert MESSAGES // 4 <= acked_before_kill <= MESSAGES // 2 + 1
            cluster.node(leader).kill()
            killed_at = time.monotonic()
    assert killed_at is not None
    assert producer.flush(60) == 0, "not all messages delivered within 60 s of the kill"
    failover_s = time.monotonic() - killed_at
    assert deliveries.errors == [] and deliveries.fatal == []
    assert len(deliveries.acked) == MESSAGES
    assert cluster.leader_of(topic, 0) != leader
    assert not cluster.node(leader).is_running

    restarted = time.monotonic()
    cluster.node(leader).start(timeout=60)
    cluster.wait_isr(topic, None, 3, timeout=ISR_BOUND_S)
    isr_back_s = time.monotonic() - restarted
    print(
        f"\nkilled node {leader} with {acked_before_kill}/{MESSAGES // 2 + 1} produced "
        f"acknowledged; fail-over and flush {failover_s:.1f} s; ISR back to 3 in "
        f"{isr_back_s:.1f} s after the restart"
    )
    assert isr_back_s < ISR_BOUND_S

    _read_back(cluster, topic, expected, exactly_once=True)


def test_rolling_restart_while_producing_loses_nothing(cluster: EmbeddedKafkaCluster) -> None:
    topic = _replicated_topic(cluster)
    deliveries = Deliveries()
    producer = _producer(cluster, deliveries)
    produced: list[bytes] = []
    failures: list[BaseException] = []
    done = threading.Event()

    def produce() -> None:
        i = 0
        try:
            while not done.is_set():
                value = _value(i)
                producer.produce(
                    topic, key=str(i).encode(), value=value, on_delivery=deliveries.on_delivery
                )
                produced.append(value)
                i += 1
                producer.poll(0.005)
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    thread = threading.Thread(target=produce, name="drill-producer", daemon=True)
    thread.start()
    timings = []
    try:
        time.sleep(0.5)
        for node in cluster.nodes:
            before = len(deliveries.acked)
            began = time.monotonic()
            node.stop()
            assert not node.is_running
            stopped = time.monotonic()
            node.start(timeout=60)
            cluster.wait_isr(topic, None, 3, timeout=ISR_BOUND_S)
            timings.append(
                f"node {node.node_id}: stop {stopped - began:.1f} s, "
                f"start + ISR 3 {time.monotonic() - stopped:.1f} s"
            )
            assert len(deliveries.acked) > before, (
                f"nothing acknowledged around node {node.node_id}"
            )
    finally:
        done.set()
        thread.join(timeout=10)
    assert not thread.is_alive() and failures == []
    assert producer.flush(60) == 0
    assert deliveries.errors == [] and deliveries.fatal == []
    assert len(deliveries.acked) == len(produced) > 100
    # Nothing lost is the cluster's promise. No duplicates is the idempotent producer's,
    # and librdkafka's can break it while leaders move (confluentinc/librdkafka#4953, open):
    # report them here; the leader-kill test above holds the producer to exactly once.
    duplicates = _read_back(cluster, topic, produced, exactly_once=False)
    print(
        f"\nrolling restart, {len(produced)} messages, {len(duplicates)} duplicated: "
        + "; ".join(timings)
    )
    if duplicates:
        print(f"duplicates (partition, offset): {dict(list(duplicates.items())[:5])}")
