"""A multi-node Apache Kafka cluster (KRaft) on loopback, for failure drills.

Every node is an :class:`~transport.broker.server.EmbeddedKafka`: one JVM that is both
broker and controller, with its own data dir (``<data_dir>/node-<id>``) and its own client
and controller ports. The nodes share a cluster id (``<data_dir>/cluster.id``) and form a
static controller quorum (``controller.quorum.voters``, every node a voter)::

    with EmbeddedKafkaCluster(settings.broker, data_dir=tmp, nodes=3) as cluster:
        print(cluster.bootstrap_servers)        # 127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3
        leader = cluster.leader_of("orders", 0)
        cluster.node(leader).kill()              # SIGKILL; .stop() is a clean shutdown
        cluster.node(leader).start()             # same data dir, same ports
        cluster.wait_isr("orders", None, size=3, timeout=60)

Ports are chosen once (free ones unless given) and kept for the object's lifetime, so a
restarted node comes back where its clients and peers expect it. A static quorum also lets
a whole cluster start again on other ports with the same data dir.
"""

from __future__ import annotations

import atexit
import logging
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from core.services import Service
from core.settings import BrokerSettings, KafkaSettings
from transport import admin, metadata
from transport.broker import config, datadir, jars
from transport.broker.security import BrokerSecurity, prepare_security, security_dir
from transport.broker.server import EmbeddedKafka
from transport.errors import BrokerError

log = logging.getLogger(__name__)

DEFAULT_NODES = 3
PORT_STRIDE = 2
QUORUMLESS_GRACE_S = 2.0
# Three JVMs share a few cores: fewer request threads each, and a dead broker is fenced
# (its partitions get new leaders) after 6 s without a heartbeat instead of 9 s.
CLUSTER_PROPERTIES: Mapping[str, object] = {
    "num.network.threads": 2,
    "num.io.threads": 2,
    "broker.heartbeat.interval.ms": 1000,
    "broker.session.timeout.ms": 6000,
}


def node_ports(base: int, nodes: int, stride: int = PORT_STRIDE) -> list[int]:
    """Ports of ``nodes`` nodes from a base port: ``base, base + stride, ...``; 0 = free ones.

    With the default stride, client ports from 9092 and controller ports from 9093
    interleave: node 1 gets 9092/9093, node 2 9094/9095, node 3 9096/9097.
    """
    return [base + stride * i if base else 0 for i in range(nodes)]


def default_replication(nodes: int) -> tuple[int, int]:
    """``(replication factor, min.insync.replicas)`` for a cluster of ``nodes``:
    3 and 2 from three nodes on (one broker may fail without blocking ``acks=all``)."""
    factor = min(nodes, 3)
    return factor, max(factor - 1, 1)


def default_cluster_dir(broker: BrokerSettings) -> Path:
    """The cluster's default data dir, next to the single broker's (``var/kafka-cluster``)."""
    data_dir = Path(broker.data_dir)
    return data_dir.with_name(f"{data_dir.name}-cluster")


class EmbeddedKafkaCluster(Service):
    """``nodes`` Kafka JVMs (broker + controller each) on loopback, as one cluster.

    Args:
        broker: the ``broker`` settings section (jars, version, heap, partitions).
        data_dir: the cluster's data (default: :func:`default_cluster_dir`).
        nodes: how many nodes; their ids are 1..nodes.
        host: overrides ``broker.host``.
        ports: client port per node; None or 0 entries: free ports, picked at the first
            :meth:`start` and kept from then on.
        controller_ports: controller port per node, likewise.
        num_partitions: the default partition count of new topics.
        replication_factor: of new topics and of the internal topics (default
            :func:`default_replication`).
        min_insync_replicas: ``min.insync.replicas`` of new topics and of the
            transaction state log (default :func:`default_replication`).
        heap: each JVM's ``-Xmx`` (default ``broker.heap``).
        properties: extra ``server.properties`` entries for every node (win over the
            defaults and :data:`CLUSTER_PROPERTIES`).
        die_with_parent: see :class:`EmbeddedKafka`.
        security: ``sasl_ssl`` or ``sasl_plaintext`` (default ``broker.security``): every
            node gets the same CA, certificate and super user, made once in
            ``<data_dir>/security``.
    """

    def __init__(
        self,
        broker: BrokerSettings | None = None,
        *,
        data_dir: str | Path | None = None,
        nodes: int = DEFAULT_NODES,
        host: str | None = None,
        ports: Sequence[int] | None = None,
        controller_ports: Sequence[int] | None = None,
        num_partitions: int | None = None,
        replication_factor: int | None = None,
        min_insync_replicas: int | None = None,
        heap: str | None = None,
        properties: Mapping[str, object] | None = None,
        die_with_parent: bool = True,
        security: str | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError(f"a cluster needs at least one node, not {nodes}")
        settings = broker or BrokerSettings()
        self.settings = settings.model_copy(update={"heap": heap}) if heap else settings
        self.data_dir = Path(data_dir) if data_dir is not None else default_cluster_dir(settings)
        self.host = host or self.settings.host
        self.node_ids = list(range(1, nodes + 1))
        self._want_ports = self._wanted("ports", ports, nodes)
        self._want_controller_ports = self._wanted("controller_ports", controller_ports, nodes)
        self.num_partitions = num_partitions or self.settings.partitions
        factor, min_isr = default_replication(nodes)
        self.replication_factor = replication_factor or factor
        self.min_insync_replicas = min_insync_replicas or min(min_isr, self.replication_factor)
        if not 1 <= self.replication_factor <= nodes:
            raise ValueError(f"replication factor {self.replication_factor} with {nodes} nodes")
        self.properties = {**CLUSTER_PROPERTIES, **(properties or {})}
        self.die_with_parent = die_with_parent
        self.security_mode = self.settings.security if security is None else security
        self.security: BrokerSecurity | None = None
        self.cluster_id: str | None = None
        self.startup_seconds: float | None = None
        self._nodes: list[EmbeddedKafka] | None = None
        self._lock_file: IO[str] | None = None

    @staticmethod
    def _wanted(name: str, ports: Sequence[int] | None, nodes: int) -> list[int]:
        wanted = list(ports) if ports is not None else [0] * nodes
        if len(wanted) != nodes:
            raise ValueError(f"{name}: {len(wanted)} ports for {nodes} nodes")
        return wanted

    # -- the nodes -----------------------------------------------------------------------

    @property
    def nodes(self) -> list[EmbeddedKafka]:
        """The nodes in id order (1, 2, ...); available once :meth:`start` was called."""
        if self._nodes is None:
            raise RuntimeError("the cluster has not been started")
        return list(self._nodes)

    def node(self, node_id: int) -> EmbeddedKafka:
        """The node with Kafka ``node.id`` ``node_id`` (1-based)."""
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        raise KeyError(f"no node {node_id} (nodes {self.node_ids})")

    def node_dir(self, node_id: int) -> Path:
        """Data dir of one node (``server.properties``, ``logs/``, ``broker.log``)."""
        return self.data_dir / f"node-{node_id}"

    @property
    def running_nodes(self) -> list[int]:
        """Ids of the nodes whose JVM runs."""
        return [n.node_id for n in self._nodes or [] if n.is_running]

    @property
    def is_running(self) -> bool:
        """Whether every node's JVM runs."""
        return self._nodes is not None and all(n.is_running for n in self._nodes)

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of every node, comma-separated; only valid once started."""
        return ",".join(node.bootstrap_servers for node in self.nodes)

    @property
    def quorum_voters(self) -> str:
        """``controller.quorum.voters`` of the nodes (``1@host:port,...``)."""
        return config.quorum_voters(
            self.host, {n.node_id: n.controller_port or 0 for n in self.nodes}
        )

    def client_config(self) -> dict[str, Any]:
        """librdkafka connection settings for the cluster, as the super user when secured."""
        if self.security is None:
            return {"bootstrap.servers": self.bootstrap_servers}
        return self.security.client_config(self.bootstrap_servers)

    def kafka_settings(self, username: str | None = None, password: str | None = None
                       ) -> KafkaSettings:
        """The ``kafka`` settings for clients (see :meth:`EmbeddedKafka.kafka_settings`)."""
        if self.security is None:
            if username is not None:
                raise ValueError("a cluster without security has no users")
            return KafkaSettings(bootstrap_servers=self.bootstrap_servers)
        if username is None:
            return self.security.kafka_settings(self.bootstrap_servers)
        return self.security.kafka_settings(self.bootstrap_servers, username, password)

    # -- start and stop ------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> EmbeddedKafkaCluster:
        """Start every node that does not run; wait until all brokers are in the metadata.

        Also brings back nodes that were killed or stopped (on their data dir and ports).

        Args:
            timeout: seconds for the whole cluster to be ready after the JVMs start.

        Raises:
            BrokerError: missing Java/Maven, a port in use, the data dir held by another
                process, or a node failed to start (with the last lines of its log); every
                node is stopped then.
        """
        jars.check_tools(need_mvn=not jars.is_resolved(self.settings))
        jars.ensure_jars(self.settings)
        if self._lock_file is None:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._lock_file = datadir.lock_data_dir(self.data_dir)
        started = time.monotonic()
        try:
            if self._nodes is None:
                self._nodes = self._make_nodes()
            for node in self._nodes:
                if not node.is_running:
                    node.launch()
            self._wait_all(timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        atexit.unregister(self.stop)
        atexit.register(self.stop)
        log.info(
            "Kafka cluster of %d nodes ready on %s in %.1f s",
            len(self.node_ids),
            self.bootstrap_servers,
            self.startup_seconds,
        )
        return self

    def _make_nodes(self) -> list[EmbeddedKafka]:
        wanted = self._want_ports + self._want_controller_ports
        chosen = [p for p in wanted if p]
        if len(set(chosen)) != len(chosen):
            raise BrokerError(f"the nodes' ports overlap: {wanted}")
        free = iter(config.free_ports(self.host, wanted.count(0)))
        ports = [p or next(free) for p in wanted]
        count = len(self.node_ids)
        client, controller = ports[:count], ports[count:]
        self.cluster_id = self._cluster_id()
        if self.security_mode in ("sasl_ssl", "sasl_plaintext"):
            self.security = prepare_security(
                "sasl_ssl" if self.security_mode == "sasl_ssl" else "sasl_plaintext",
                security_dir(self.data_dir), self.host,
            )
        elif self.security_mode != "none":
            raise BrokerError(f"unknown broker security {self.security_mode!r}: none, "
                              "sasl_plaintext, sasl_ssl")
        voters = config.quorum_voters(self.host, dict(zip(self.node_ids, controller, strict=True)))
        return [
            EmbeddedKafka(
                self.settings,
                data_dir=self.node_dir(node_id),
                host=self.host,
                port=client[i],
                controller_port=controller[i],
                num_partitions=self.num_partitions,
                properties=self.properties,
                die_with_parent=self.die_with_parent,
                node_id=node_id,
                quorum_voters=voters,
                cluster_id=self.cluster_id,
                replication_factor=self.replication_factor,
                min_insync_replicas=self.min_insync_replicas,
                security=self.security or "none",
            )
            for i, node_id in enumerate(self.node_ids)
        ]

    def _cluster_id(self) -> str:
        """The id the nodes are formatted with, else the saved one, else a new saved one."""
        metas = [datadir.read_meta_properties(self.node_dir(i) / "logs") for i in self.node_ids]
        formatted = {meta["cluster.id"] for meta in metas if meta.get("cluster.id")}
        if len(formatted) > 1:
            raise BrokerError(
                f"the nodes under {self.data_dir} belong to different clusters "
                f"({', '.join(sorted(formatted))}): use another data dir"
            )
        wanted = formatted.pop() if formatted else None
        first_log_dir = self.node_dir(self.node_ids[0]) / "logs"
        return datadir.cluster_id_for(self.data_dir, first_log_dir, wanted=wanted)

    def _wait_all(self, timeout: float) -> None:
        nodes = self.nodes
        try:
            admin.wait_brokers(
                self.client_config(),
                self.node_ids,
                timeout,
                alive=lambda: all(n.is_running for n in nodes),
            )
        except ChildProcessError:
            dead = next(n for n in nodes if not n.is_running)
            raise BrokerError(
                f"node {dead.node_id} exited before the cluster was ready; last lines of "
                f"{dead.log_path}:\n{dead.log_tail()}"
            ) from None
        except TimeoutError as exc:
            tails = "\n".join(
                f"--- node {n.node_id} ({n.log_path}):\n{n.log_tail(5)}" for n in nodes
            )
            raise BrokerError(f"the cluster was not ready: {exc}\n{tails}") from None

    def stop(self, timeout: float = 30.0) -> dict[int, int | None]:
        """Stop every node (SIGTERM to all at once) and release the data dir.

        A node's broker shuts down in a controlled way (``controlled.shutdown.enable``),
        which needs a controller quorum. Once most nodes are gone the rest can only wait for
        it, so they get :data:`QUORUMLESS_GRACE_S` seconds, then SIGKILL (as does any node
        still running after ``timeout`` seconds); usually that is the last node. Its logs
        are recovered at the next start.

        Returns:
            ``{node id: exit status}`` (None for a node that did not run).
        """
        atexit.unregister(self.stop)
        nodes = self._nodes or []
        for node in nodes:
            node.terminate()
        majority = self.majority
        deadline = time.monotonic() + timeout
        quorumless_since: float | None = None
        while (running := [n for n in nodes if n.is_running]) and time.monotonic() < deadline:
            if len(running) < majority:
                quorumless_since = quorumless_since or time.monotonic()
                if time.monotonic() - quorumless_since >= QUORUMLESS_GRACE_S:
                    break
            time.sleep(0.1)
        codes: dict[int, int | None] = {}
        for node in nodes:
            if node.is_running:
                log.debug("node %d still waits for a controller quorum: killing it", node.node_id)
                codes[node.node_id] = node.kill()
            else:
                codes[node.node_id] = node.stop()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        return codes

    def wait(self, timeout: float | None = None, ignore: Collection[int] = ()) -> int | None:
        """Wait until a node's JVM exits; returns its id (None on timeout).

        Args:
            timeout: seconds; None waits for ever.
            ignore: ids of nodes known to be down already.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            for node in self.nodes:
                if node.node_id not in ignore and not node.is_running:
                    return node.node_id
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(0.2 if deadline is None else min(0.2, max(deadline - time.monotonic(), 0)))

    @property
    def majority(self) -> int:
        """How many nodes the controller quorum needs (2 of 3)."""
        return len(self.node_ids) // 2 + 1


    # -- drills --------------------------------------------------------------------------

    def leader_of(self, topic: str, partition: int, timeout: float = 30.0) -> int:
        """The node id that leads ``topic``/``partition`` (:func:`metadata.partition_leader`)."""
        return metadata.partition_leader(self.client_config(), topic, partition, timeout)

    def wait_isr(
        self,
        topic: str,
        partitions: Iterable[int] | None = None,
        size: int | None = None,
        timeout: float = 60.0,
    ) -> dict[int, list[int]]:
        """Wait until every partition's ISR has ``size`` replicas (default: the cluster's
        replication factor); see :func:`metadata.wait_isr`."""
        size = self.replication_factor if size is None else size
        return metadata.wait_isr(self.client_config(), topic, partitions, size, timeout)

    def wait_brokers(self, timeout: float = 60.0) -> None:
        """Wait until every node's broker is in the metadata again (e.g. after restarts)."""
        try:
            admin.wait_brokers(self.client_config(), self.node_ids, timeout)
        except TimeoutError as exc:
            raise BrokerError(str(exc)) from None
