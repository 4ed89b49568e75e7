"""A pipeline's processes on loopback, started in order and stopped in reverse.

:class:`Stack` is what the demo, the benchmark and the drills run on: the embedded broker (one
node or a cluster), Redis, predictors, workers and any other child, each logging to
``<work>/logs/<name>.log``. Closing the stack (or leaving its ``with`` block, also on an
error) stops everything it started, the last started first. :func:`start_broker` and
:func:`start_redis` are the same starts for callers that manage the lifetime themselves (the
test fixtures); :func:`fresh_dir` empties a run's directory first.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from core.settings import BrokerSettings
from resultcache.server import RedisServer
from toolbox.harness.children import LOOPBACK, ChildProcess, child_env
from toolbox.harness.predictor import START_TIMEOUT_S, PredictorProcess
from toolbox.harness.workers import WorkerProcess
from transport.broker import EmbeddedKafka, EmbeddedKafkaCluster
from transport.broker.config import free_ports

Broker = EmbeddedKafka | EmbeddedKafkaCluster
BROKER_START_TIMEOUT_S = 120.0
CLUSTER_START_TIMEOUT_S = 180.0
CLUSTER_HEAP = "384m"  # per node: three JVMs share the machine with everything else


def start_broker(
    settings: BrokerSettings,
    data_dir: Path,
    *,
    nodes: int = 1,
    num_partitions: int | None = None,
    timeout_s: float | None = None,
    security: str | None = None,
    properties: Mapping[str, object] | None = None,
) -> Broker:
    """A started broker (``nodes`` = 1) or cluster on free loopback ports.

    ``security``: ``sasl_ssl`` or ``sasl_plaintext`` for a secured one (default
    ``broker.security``); ``properties``: extra ``server.properties`` entries.

    A single node keeps its ports when it is started again on its data (a broker restart);
    a cluster picks its ports once, at its first start. Each node of a cluster gets
    :data:`CLUSTER_HEAP`, replication factor 3 and ``min.insync.replicas`` 2 for its
    internal topics.
    """
    if nodes > 1:
        cluster = EmbeddedKafkaCluster(settings, data_dir=data_dir, nodes=nodes,
                                       num_partitions=num_partitions, heap=CLUSTER_HEAP,
                                       security=security, properties=properties)
        return cluster.start(timeout=timeout_s or CLUSTER_START_TIMEOUT_S)
    port, controller_port = free_ports(LOOPBACK, 2)
    kafka = EmbeddedKafka(settings, data_dir=data_dir, port=port,
                          controller_port=controller_port, num_partitions=num_partitions,
                          security=security, properties=properties)
    return kafka.start(timeout=timeout_s or BROKER_START_TIMEOUT_S)


def start_redis(data_dir: Path) -> RedisServer:
    """A started, empty ``redis-server`` on a free loopback port."""
    return RedisServer(data_dir).start()


def fresh_dir(path: Path) -> Path:
    """``path`` as an empty directory (whatever an earlier run left there is removed)."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


class Stack(ExitStack):
    """The processes of one run, each logging under ``work/logs``; an :class:`ExitStack`
    whose :meth:`close` (or the end of its ``with`` block) stops them, the last first.

    Args:
        work: the run's directory (the broker's data, Redis's, the logs).
        broker: the ``broker`` settings section (jars, version, heap).
        env: the environment of every child (default: this one, offline).
    """

    def __init__(
        self, work: Path, broker: BrokerSettings, *, env: Mapping[str, str] | None = None
    ) -> None:
        super().__init__()
        self.work = work
        self.broker_settings = broker
        self.env = dict(env) if env is not None else child_env()
        (work / "logs").mkdir(parents=True, exist_ok=True)
        self.kafka: Broker | None = None

    def log(self, name: str) -> Path:
        return self.work / "logs" / f"{name}.log"

    @property
    def bootstrap(self) -> str:
        """The broker's ``bootstrap.servers`` (after :meth:`broker`)."""
        if self.kafka is None:
            raise RuntimeError("no broker started on this stack")
        return self.kafka.bootstrap_servers

    def broker(self, *, nodes: int = 1, num_partitions: int | None = None,
               properties: Mapping[str, object] | None = None) -> Broker:
        """Start the broker (or a cluster of ``nodes``) on ``work/kafka`` (secured as
        ``broker.security`` says; ``properties``: extra ``server.properties`` entries)."""
        kafka = start_broker(self.broker_settings, self.work / "kafka", nodes=nodes,
                             num_partitions=num_partitions, properties=properties)
        self.callback(kafka.stop)
        self.kafka = kafka
        return kafka

    def redis(self) -> RedisServer:
        """Start Redis on ``work/redis``."""
        return self.enter_context(RedisServer(self.work / "redis"))

    def predictor(
        self,
        model_dir: Path | None,
        *,
        name: str = "predictor",
        start_timeout_s: float = START_TIMEOUT_S,
        env: Mapping[str, str] | None = None,
        **options: Any,
    ) -> PredictorProcess:
        """Start a predictor (see :class:`PredictorProcess` for ``options``); wait until ready."""
        proc = PredictorProcess(model_dir, self.log(name), env=env or self.env, **options)
        self.callback(proc.stop)
        return proc.start(timeout_s=start_timeout_s)

    def worker(
        self,
        name: str,
        env: Mapping[str, str] | None = None,
        *,
        workers: int = 1,
        metrics_port: int | None = None,
        args: Sequence[str] = (),
    ) -> WorkerProcess:
        """Start ``python -m worker`` (see :class:`WorkerProcess`); it is not awaited."""
        proc = WorkerProcess(name, self.log(name), env or self.env, workers=workers,
                             metrics_port=metrics_port, args=args)
        self.callback(proc.stop)
        return proc.start()

    def child(self, name: str, command: Sequence[str],
              env: Mapping[str, str] | None = None) -> ChildProcess:
        """Start any other command as a child of the stack."""
        proc = ChildProcess(name, command, self.log(name), env or self.env)
        self.callback(proc.stop)
        return proc.start()
