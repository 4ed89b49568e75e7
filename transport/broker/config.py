"""The embedded broker's ``server.properties`` and its ports (no JVM)."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from pathlib import Path

NODE_ID = 1


def render_server_properties(
    *,
    host: str,
    port: int,
    controller_port: int,
    log_dir: Path,
    num_partitions: int,
    node_id: int = NODE_ID,
    quorum_voters: str | None = None,
    replication_factor: int = 1,
    min_insync_replicas: int = 1,
    protocol: str = "PLAINTEXT",
    overrides: Mapping[str, object] | None = None,
) -> str:
    """A KRaft (combined broker + controller) config listening on ``host`` only.

    Alone (the default) the node is a single-node cluster: its own controller quorum
    (``controller.quorum.bootstrap.servers``, formatted ``--standalone``) and replication
    factors of 1. As one node of a cluster it gets its ``node_id``, the static
    ``quorum_voters`` (``id@host:port,...``, the same on every node; see
    :func:`quorum_voters`) and the replication factor and ``min.insync.replicas`` that the
    default topics and the internal topics (offsets, transactions, share state) use.

    The initial rebalance delay is 0 so consumer groups form at once; topics are never
    auto-created (``catmatch topics create`` makes them).

    ``protocol`` is the security protocol of the client listener (which is named after it
    and also carries the traffic between brokers) and of the controller listener; a
    secured broker's SASL and TLS settings come in ``overrides``
    (:meth:`transport.broker.security.BrokerSecurity.server_properties`).
    """
    if replication_factor < 1 or not 1 <= min_insync_replicas <= replication_factor:
        raise ValueError(
            f"need 1 <= min.insync.replicas ({min_insync_replicas}) <= replication factor "
            f"({replication_factor})"
        )
    quorum_key, quorum_value = (
        ("controller.quorum.voters", quorum_voters)
        if quorum_voters
        else ("controller.quorum.bootstrap.servers", f"{host}:{controller_port}")
    )
    props: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        quorum_key: quorum_value,
        "listeners": f"{protocol}://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"{protocol}://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": protocol,
        "listener.security.protocol.map": f"{protocol}:{protocol},CONTROLLER:{protocol}",
        "log.dirs": str(log_dir),
        "num.partitions": num_partitions,
        "default.replication.factor": replication_factor,
    }
    if min_insync_replicas != 1:  # Kafka's default; left out so single-node output is stable
        props["min.insync.replicas"] = min_insync_replicas
    props |= {
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": replication_factor,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": replication_factor,
        "transaction.state.log.min.isr": min_insync_replicas,
        "transaction.state.log.num.partitions": 10,
        "share.coordinator.state.topic.replication.factor": replication_factor,
        "share.coordinator.state.topic.min.isr": min_insync_replicas,
        "group.initial.rebalance.delay.ms": 0,
        "delete.topic.enable": "true",
    }
    props.update(overrides or {})
    lines = ["# Written by `catmatch broker` on every start; edits are overwritten."]
    lines += [f"{key}={_value(value)}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


def quorum_voters(host: str, controller_ports: Mapping[int, int]) -> str:
    """``controller.quorum.voters`` for controllers on ``host``: ``{node id: port}`` →
    ``"1@host:port1,2@host:port2,..."`` in node id order."""
    return ",".join(f"{node}@{host}:{port}" for node, port in sorted(controller_ports.items()))


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def free_ports(host: str, count: int) -> list[int]:
    """``count`` distinct free TCP ports on ``host`` (bound together, then released)."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on ``host:port`` (or it cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False
