"""Small value types every Kafka-facing layer shares.

``TP`` is the one name for a topic-partition as a plain, hashable ``(topic, partition)``
pair. confluent-kafka's ``TopicPartition`` class (which also carries an offset, metadata
and an error) keeps its own name and is used only at the librdkafka boundary.
"""

from __future__ import annotations

TP = tuple[str, int]
"""``(topic, partition)``: a key for per-partition state (offsets, batches, records)."""
