"""The secured-broker tests again, on a secured 3-node KRaft cluster, and one node killed.

The cluster (``kafka_secure_cluster``: SASL_SSL, SCRAM-SHA-512, ACLs enforced, one CA and
super user for all nodes; topics replicated to all three with ``min.insync.replicas`` 2)
starts once for this module. Its ``kafka_secure`` fixture replaces the session's single
secured broker, so the tests imported below from ``test_kafka_security.py`` and
``test_secured_clients.py`` run here a second time, unchanged, against the cluster:

- every role's clients with only their ACLs: the worker under both guarantees (N products
  in, N results out, none twice under exactly-once, the whole input committed), topics
  create and the topic Job, produce, tail, status, topics describe, dlq stats and replay,
  KEDA's lag calls;
- the refusals: a plaintext client, another user's password, a CA the client does not
  trust, the producer role reading the output or writing the dead-letter topic.

And the failure the cluster exists for: the leader of the input topic is SIGKILLed while
products flow through a worker with only its role's ACLs, under both guarantees, and
nothing is lost (nor duplicated under exactly-once).
"""

from __future__ import annotations

import time

import pytest

from tests.fixtures.kafka import SecureKafka
from tests.integration.secure_harness import label_as_roles
from tests.integration.test_kafka_security import (  # noqa: F401 - collected again here
    test_a_client_that_does_not_trust_the_ca_is_refused,
    test_a_plaintext_client_is_refused,
    test_a_worker_with_only_its_role_labels_every_product,
    test_another_users_password_is_refused,
    test_the_producer_role_can_write_the_input_and_nothing_else,
    test_the_secured_broker_lets_the_super_user_in,
)
from tests.integration.test_secured_clients import (  # noqa: F401 - its fixtures, and a test
    names,
    run_as,
    test_each_client_works_with_only_its_roles_acls,
)
from transport.broker import EmbeddedKafkaCluster

pytestmark = pytest.mark.integration

NODES = 3
ISR_BOUND_S = 60.0


@pytest.fixture
def kafka_secure(kafka_secure_cluster: SecureKafka) -> SecureKafka:
    """The module's secured cluster with every node running (the kill test restarts its
    node, but a failed one may leave it down)."""
    cluster = kafka_secure_cluster.broker
    assert isinstance(cluster, EmbeddedKafkaCluster)
    if not cluster.is_running:
        cluster.start(timeout=120)
    return kafka_secure_cluster


def test_the_cluster_has_three_secured_nodes(kafka_secure):
    cluster = kafka_secure.broker
    assert isinstance(cluster, EmbeddedKafkaCluster)
    assert len(cluster.bootstrap_servers.split(",")) == NODES
    assert cluster.security is not None and cluster.security.protocol == "SASL_SSL"
    assert all(node.security == cluster.security for node in cluster.nodes)
    cluster.wait_brokers(timeout=30)  # every node in the metadata, asked as admin over SASL_SSL


@pytest.mark.parametrize("guarantee", ["at_least_once", "exactly_once"])
def test_a_node_killed_mid_stream_loses_nothing(
    kafka_secure, secure_names, predictor_server, tiny_model_dir, guarantee
):
    cluster = kafka_secure.broker
    n = 400
    killed: dict[str, float] = {}

    def kill_the_input_leader() -> None:
        leader = cluster.leader_of(secure_names.input, 0)
        killed["node"] = leader
        killed["output_leader"] = cluster.leader_of(secure_names.output, 0)
        cluster.node(leader).kill()
        killed["at"] = time.monotonic()

    try:
        results = label_as_roles(kafka_secure, secure_names, predictor_server, tiny_model_dir,
                                 guarantee, n, mid_stream=kill_the_input_leader, rate=100.0)
        drained_s = time.monotonic() - killed["at"]
        assert not cluster.node(int(killed["node"])).is_running, "the node came back early"
    finally:
        if "node" in killed:
            cluster.node(int(killed["node"])).start(timeout=120)
    restarted = time.monotonic()
    cluster.wait_isr(secure_names.input, None, NODES, timeout=ISR_BOUND_S)
    print(f"\n{guarantee}: killed node {killed['node']:.0f} (input leader; output leader "
          f"{killed['output_leader']:.0f}); every result and commit {drained_s:.1f} s after "
          f"the kill; {sum(results.values()) - len(results)} duplicates; ISR back to {NODES} "
          f"{time.monotonic() - restarted:.1f} s after the restart")
    assert sorted(results) == [f"p-{i:05d}" for i in range(n)]  # nothing lost
    if guarantee == "exactly_once":
        assert set(results.values()) == {1}, results.most_common(3)
