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
    overrides: Mapping[str, object] | None = None,
) -> str:
    """A single-node KRaft (combined broker + controller) config listening on ``host`` only.

    Replication factors are 1 and the initial rebalance delay is 0 so consumer groups form
    at once; topics are never auto-created (``catmatch topics create`` makes them).
    """
    props: dict[str, object] = {
        "process.roles": "broker,controller",
        "node.id": NODE_ID,
        "controller.quorum.bootstrap.servers": f"{host}:{controller_port}",
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": num_partitions,
        "default.replication.factor": 1,
        "auto.create.topics.enable": "false",
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 10,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "transaction.state.log.num.partitions": 10,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        "group.initial.rebalance.delay.ms": 0,
        "delete.topic.enable": "true",
    }
    props.update(overrides or {})
    lines = ["# Written by `catmatch broker` on every start; edits are overwritten."]
    lines += [f"{key}={_value(value)}" for key, value in props.items()]
    return "\n".join(lines) + "\n"


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
