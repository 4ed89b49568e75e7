"""The dead letter produced to ``category-match-dlq`` for a message that cannot be classified.

The original bytes are kept (base64) so the message can be replayed after a fix
(``catmatch dlq replay``). When they would make the dead letter too large for the output
topic, only a prefix is kept, with the original's length and SHA-256, and
``original_truncated`` (and the header ``catmatch.original_truncated: 1``) says so; such a
dead letter cannot be replayed. The same error class and reason also travel as Kafka headers
(``HEADER_*``), so tools can filter without parsing the body.

JSON shape (``schema_version`` 1)::

    {"schema_version": 1, "error_class": "invalid_json", "reason": "Expecting value: ...",
     "original_key_b64": "c2t1LTE=", "original_value_b64": "bm90IGpzb24=",
     "source_topic": "category-match-in", "source_partition": 0, "source_offset": 17,
     "failed_time": "2026-11-26T12:00:00Z", "worker_id": "worker-0",
     "original_truncated": false, "original_size": 8, "original_sha256": "5e2b..."}
"""

from __future__ import annotations

import base64
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict

DEAD_LETTER_SCHEMA_VERSION = 1

HEADER_ERROR_CLASS = "catmatch.error.class"
HEADER_ERROR_REASON = "catmatch.error.reason"
HEADER_SOURCE_TOPIC = "catmatch.source.topic"
HEADER_SOURCE_PARTITION = "catmatch.source.partition"
HEADER_SOURCE_OFFSET = "catmatch.source.offset"
HEADER_ORIGINAL_TRUNCATED = "catmatch.original_truncated"
# Set by `catmatch dlq replay` on the re-sent input message: how often it was replayed.
HEADER_REPLAY_COUNT = "catmatch.replay_count"


class ErrorClass(StrEnum):
    """Why a message was dead-lettered. Also the ``reason`` label of the DLQ metric."""

    INVALID_JSON = "invalid_json"
    INVALID_SCHEMA = "invalid_schema"
    EMPTY_TEXT = "empty_text"
    TOO_LARGE = "too_large"
    TOO_DEEP = "too_deep"  # JSON nested deeper than the worker decodes
    PREDICTOR_REJECTED = "predictor_rejected"  # refused alone while its batch siblings passed
    WORKER_CRASH = "worker_crash"  # the worker failed on it repeatedly (a crash loop, healed)
    OUTPUT_REJECTED = "output_rejected"  # the broker refused its result record for good
    UNPROCESSABLE = "unprocessable"  # an unexpected error while decoding/tokenizing/encoding it


class DeadLetter(BaseModel):
    """A message that could not be classified, with the reason."""

    model_config = ConfigDict(frozen=True)

    schema_version: int = DEAD_LETTER_SCHEMA_VERSION
    error_class: ErrorClass
    reason: str
    original_key_b64: str | None = None
    original_value_b64: str
    source_topic: str
    source_partition: int
    source_offset: int
    failed_time: AwareDatetime
    worker_id: str | None = None
    original_truncated: bool = False
    original_size: int | None = None
    original_sha256: str | None = None

    def original_value(self) -> bytes:
        """The message value as it was consumed (only a prefix when ``original_truncated``)."""
        return base64.b64decode(self.original_value_b64)

    def headers(self) -> list[tuple[str, bytes]]:
        """Kafka headers that repeat the error class, reason and source coordinates."""
        return [
            (HEADER_ERROR_CLASS, self.error_class.value.encode()),
            (HEADER_ERROR_REASON, self.reason.encode()[:1024]),
            (HEADER_SOURCE_TOPIC, self.source_topic.encode()),
            (HEADER_SOURCE_PARTITION, str(self.source_partition).encode()),
            (HEADER_SOURCE_OFFSET, str(self.source_offset).encode()),
            *([(HEADER_ORIGINAL_TRUNCATED, b"1")] if self.original_truncated else []),
        ]


def b64(data: bytes | None) -> str | None:
    """Base64 text of ``data`` (``None`` stays ``None``)."""
    return None if data is None else base64.b64encode(data).decode("ascii")
