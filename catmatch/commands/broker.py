"""``catmatch broker``: run the embedded Apache Kafka (one node, or ``--nodes N``) until
Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from catmatch.errors import UserError
from catmatch.options import Subparsers, add_command
from core.settings import Settings
from transport.broker import EmbeddedKafka, EmbeddedKafkaCluster, jars
from transport.broker.cluster import default_cluster_dir, default_replication, node_ports

BOOTSTRAP_ENV = "CATMATCH_KAFKA__BOOTSTRAP_SERVERS"
TOPICS_RF_ENV = "CATMATCH_TOPICS__REPLICATION_FACTOR"
TOPICS_CONFIG_ENV = "CATMATCH_TOPICS__CONFIG"


def topics_env(replication_factor: int = 3, min_insync_replicas: int = 2) -> str:
    """The settings that make ``catmatch topics create`` replicate the pipeline topics."""
    config = json.dumps({"min.insync.replicas": str(min_insync_replicas)}, separators=(",", ":"))
    return f"{TOPICS_RF_ENV}={replication_factor} {TOPICS_CONFIG_ENV}='{config}'"


def register(subparsers: Subparsers) -> None:
    parser = add_command(
        subparsers,
        "broker",
        "run Apache Kafka (KRaft) on loopback for development: one node or --nodes N",
        (
            "Run a single-node Apache Kafka (KRaft, no ZooKeeper) on loopback. The jars are "
            "resolved once from Maven Central (needs Java 17+ and Maven). Data survives "
            f"restarts with the same --data-dir. With {BOOTSTRAP_ENV} set to another "
            "address you use a real cluster and nothing is started. "
            "With --nodes 3, a 3-node cluster for failure drills: each node a broker and "
            "controller JVM (one voter of the controller quorum) on its own ports, "
            "port+2(i-1) and controller-port+2(i-1) for node i (9092/9093, 9094/9095, "
            "9096/9097 by default), data in <data-dir>/node-<i>; internal topics get "
            "replication factor 3 and min.insync.replicas 2. For the pipeline topics, "
            f"run `{topics_env()} catmatch topics create`."
        ),
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="broker data (default: broker.data_dir; with --nodes > 1 a sibling "
        "<data_dir>-cluster)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help="client port (default: broker.port; 0 = any); node i of --nodes: port+2(i-1)",
    )
    parser.add_argument(
        "--controller-port",
        type=int,
        help="KRaft controller port (default: broker.controller_port); node i: +2(i-1)",
    )
    parser.add_argument(
        "--nodes",
        type=int,
        default=1,
        help="how many nodes (default 1); 3 for failure drills (internal topics: replication "
        f"factor 3, min.insync.replicas 2; pipeline topics: `{topics_env()} catmatch topics "
        "create`)",
    )
    parser.add_argument(
        "--security",
        choices=("none", "sasl_plaintext", "sasl_ssl"),
        help="none (default: broker.security): plaintext, no logins, no ACLs. sasl_ssl: TLS "
        "with a CA and certificate made in <data-dir>/security, SCRAM-SHA-512 logins, ACLs "
        "enforced (what no ACL allows is denied) and one super user, admin, whose settings "
        "are written to <data-dir>/security/admin.env; sasl_plaintext: the same without TLS. "
        "Other users and their ACLs: catmatch acls",
    )
    parser.add_argument(
        "--fetch-only", action="store_true", help="only resolve the Kafka jars (warms a CI cache)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the broker to be ready"
    )
    parser.set_defaults(func=run)


def _serve(kafka: EmbeddedKafka | EmbeddedKafkaCluster, timeout: float,
           watch: Callable[[], NoReturn]) -> int:
    """Start ``kafka``, ``watch`` it until Ctrl-C, then stop it in order. SIGTERM behaves like
    Ctrl-C (KeyboardInterrupt)."""
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        kafka.start(timeout=timeout)
        try:
            watch()
        except KeyboardInterrupt:
            print("stopping Kafka ...", file=sys.stderr, flush=True)
        return 0
    finally:
        kafka.stop()
        signal.signal(signal.SIGTERM, previous)


def _other_cluster(own: set[str]) -> bool:
    """Whether ``$CATMATCH_KAFKA__BOOTSTRAP_SERVERS`` names brokers other than ``own``; then
    nothing is started, and it says so."""
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    wanted = {address.strip() for address in external.split(",") if address.strip()}
    if wanted and not wanted <= own:
        print(f"{BOOTSTRAP_ENV}={external}: using that Kafka cluster; no broker started.")
        return True
    return False


def _secured_note(kafka: EmbeddedKafka | EmbeddedKafkaCluster) -> str:
    """How to log in to a secured broker (nothing for a plain one)."""
    security = kafka.security
    if security is None:
        return ""
    ca = f", CA {security.ca_location}" if security.ca_location is not None else ""
    return (
        f"\nsecured ({security.protocol}, SCRAM-SHA-512{ca}); to act as the super user: "
        f"source {security.env_path}; other users and their ACLs: catmatch acls --help"
    )


def run(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "security", None):
        settings = settings.model_copy(
            update={"broker": settings.broker.model_copy(update={"security": args.security})}
        )
    broker = settings.broker
    if args.fetch_only:
        libs = jars.ensure_jars(broker)
        print(f"Kafka {broker.kafka_version} jars: {libs}")
        return 0
    port = broker.port if args.port is None else args.port
    nodes = getattr(args, "nodes", 1)
    if nodes < 1:
        raise UserError(f"--nodes must be at least 1, not {nodes}")
    if nodes > 1:
        return _run_cluster(args, settings, nodes, port)
    if _other_cluster({f"{broker.host}:{port}"}):
        return 0

    kafka = EmbeddedKafka(
        broker, data_dir=args.data_dir, port=port, controller_port=args.controller_port
    )

    def watch() -> NoReturn:
        print(
            f"Apache Kafka {broker.kafka_version} ready: bootstrap.servers="
            f"{kafka.bootstrap_servers} (data {kafka.data_dir}, log {kafka.log_path}); "
            f"Ctrl-C stops it{_secured_note(kafka)}",
            flush=True,
        )
        while kafka.wait(timeout=1.0) is None:
            pass
        raise UserError(
            f"the broker exited unexpectedly; last lines of {kafka.log_path}:\n{kafka.log_tail()}"
        )

    return _serve(kafka, args.timeout, watch)


def _run_cluster(args: argparse.Namespace, settings: Settings, nodes: int, port: int) -> int:
    broker = settings.broker
    controller_port = (
        broker.controller_port if args.controller_port is None else args.controller_port
    )
    ports = node_ports(port, nodes)
    controller_ports = node_ports(controller_port, nodes)
    if _other_cluster({f"{broker.host}:{p}" for p in ports if p}):
        return 0

    cluster = EmbeddedKafkaCluster(
        broker,
        data_dir=args.data_dir or default_cluster_dir(broker),
        nodes=nodes,
        ports=ports,
        controller_ports=controller_ports,
    )
    factor, min_isr = default_replication(nodes)

    def watch() -> NoReturn:
        print(
            f"Apache Kafka {broker.kafka_version} ready, {nodes} nodes: bootstrap.servers="
            f"{cluster.bootstrap_servers} (data {cluster.data_dir}, logs "
            f"{cluster.data_dir}/node-*/broker.log); Ctrl-C stops it{_secured_note(cluster)}",
            flush=True,
        )
        print(
            f"for replicated pipeline topics: export {BOOTSTRAP_ENV}="
            f"{cluster.bootstrap_servers} {topics_env(factor, min_isr)}",
            flush=True,
        )
        down: list[int] = []
        while True:
            exited = cluster.wait(timeout=1.0, ignore=down)
            if exited is None:
                continue
            # A killed node is a failure drill: go on while the quorum holds.
            node = cluster.node(exited)
            code = node.stop()
            down.append(exited)
            running = cluster.running_nodes
            if len(running) < cluster.majority:
                raise UserError(
                    f"node {exited} exited (status {code}) and the cluster lost its "
                    f"controller quorum (running: {running or 'none'}); last lines of "
                    f"{node.log_path}:\n{node.log_tail()}"
                )
            print(
                f"node {exited} exited (status {code}, log {node.log_path}); the cluster "
                f"goes on with nodes {', '.join(map(str, running))}",
                file=sys.stderr,
                flush=True,
            )

    return _serve(cluster, args.timeout, watch)
