"""``catmatch broker``: run the embedded single-node Apache Kafka until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

from catmatch.errors import UserError
from core.settings import Settings
from transport.broker import EmbeddedKafka, jars

BOOTSTRAP_ENV = "CATMATCH_KAFKA__BOOTSTRAP_SERVERS"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "broker",
        help="run a single-node Apache Kafka (KRaft) on loopback for development",
        description=(
            "Run a single-node Apache Kafka (KRaft, no ZooKeeper) on loopback. The jars are "
            "resolved once from Maven Central (needs Java 17+ and Maven). Data survives "
            f"restarts with the same --data-dir. With {BOOTSTRAP_ENV} set to another "
            "address you use a real cluster and nothing is started."
        ),
    )
    parser.add_argument("--data-dir", type=Path, help="broker data (default: broker.data_dir)")
    parser.add_argument("--port", type=int, help="client port (default: broker.port; 0 = any)")
    parser.add_argument(
        "--controller-port",
        type=int,
        help="KRaft controller port (default: broker.controller_port)",
    )
    parser.add_argument(
        "--fetch-only", action="store_true", help="only resolve the Kafka jars (warms a CI cache)"
    )
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for the broker to be ready"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    broker = settings.broker
    if args.fetch_only:
        libs = jars.ensure_jars(broker)
        print(f"Kafka {broker.kafka_version} jars: {libs}")
        return 0
    port = broker.port if args.port is None else args.port
    external = os.environ.get(BOOTSTRAP_ENV, "").strip()
    if external and external != f"{broker.host}:{port}":
        print(f"{BOOTSTRAP_ENV}={external}: using that Kafka cluster; no broker started.")
        return 0

    kafka = EmbeddedKafka(
        broker, data_dir=args.data_dir, port=port, controller_port=args.controller_port
    )
    # SIGTERM behaves like Ctrl-C: KeyboardInterrupt, then the JVM is stopped in order.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        kafka.start(timeout=args.timeout)
        print(
            f"Apache Kafka {broker.kafka_version} ready: bootstrap.servers="
            f"{kafka.bootstrap_servers} (data {kafka.data_dir}, log {kafka.log_path}); "
            "Ctrl-C stops it",
            flush=True,
        )
        try:
            while kafka.wait(timeout=1.0) is None:
                pass
        except KeyboardInterrupt:
            print("stopping Kafka ...", file=sys.stderr, flush=True)
            return 0
        raise UserError(
            f"the broker exited unexpectedly; last lines of {kafka.log_path}:\n{kafka.log_tail()}"
        )
    finally:
        kafka.stop()
        signal.signal(signal.SIGTERM, previous)
