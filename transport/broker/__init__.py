"""The embedded Apache Kafka broker (KRaft) behind ``catmatch broker``.

Importing this package starts nothing: :class:`EmbeddedKafka` starts a broker JVM on
``start()``, :class:`EmbeddedKafkaCluster` several as one cluster (``--nodes 3``);
:func:`ensure_jars` resolves the Kafka jars from Maven Central once.
"""

from transport.broker.cluster import EmbeddedKafkaCluster
from transport.broker.jars import check_tools, ensure_jars, is_resolved, libs_dir
from transport.broker.server import EmbeddedKafka

__all__ = [
    "EmbeddedKafka",
    "EmbeddedKafkaCluster",
    "check_tools",
    "ensure_jars",
    "is_resolved",
    "libs_dir",
]
