"""Crash loops on the same input: detected across restarts, healed by dead-lettering.

An unexpected error (a bug, not bad input: bad input is dead-lettered where it is found)
stops the worker, and the supervisor or Kubernetes restarts it at the last committed offset.
If the same messages make it fail again and again, the partition never advances and the
fleet restarts forever. So each time a batch fails unexpectedly, the worker commits its
partition's position with a :class:`CrashRecord` in the offset's metadata (Kafka keeps a
short string with each committed offset): the failing offset range and how many times it
failed. The record survives the restart and follows the partition to whichever worker
takes it over. Once the same range has failed ``crash_loop_threshold`` times, the worker
processes those messages one at a time, and one that fails again is dead-lettered as
``worker_crash`` with the last line of the traceback. A second failure inside the range stops
the worker again (a bug that hits every message must not dead-letter the stream).

A process killed outright (SIGKILL, out of memory) writes no record; only the restart
backoff applies to it.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Kafka's offset.metadata.max.bytes defaults to 4096; stay well below.
MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class CrashRecord:
    """Offsets ``first..last`` of one partition made the worker fail ``count`` times."""

    first: int
    last: int
    count: int
    error: str = ""

    def covers(self, offset: int) -> bool:
        return self.first <= offset <= self.last

    def to_metadata(self) -> str:
        """The committed-offset metadata string."""
        body = {"first": self.first, "last": self.last, "count": self.count,
                "error": self.error[:MAX_ERROR_CHARS]}
        return json.dumps({"crash": body}, separators=(",", ":"))

    @classmethod
    def from_metadata(cls, metadata: str | None) -> CrashRecord | None:
        """The record in a committed offset's metadata (``None`` if there is none)."""
        if not metadata:
            return None
        try:
            body = json.loads(metadata)["crash"]
            return cls(int(body["first"]), int(body["last"]), int(body["count"]),
                       str(body.get("error", "")))
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring committed-offset metadata that is not ours: %.80r", metadata)
            return None

    def heal_reason(self) -> str:
        return f"the worker failed {self.count} times on offsets {self.first}..{self.last}"


def after_failure(
    previous: CrashRecord | None, first: int, last: int, error: str
) -> CrashRecord:
    """The record after a batch of offsets ``first..last`` failed.

    The same messages failing again (the ranges overlap) count up and narrow the range to
    the overlap, where the culprit must be; a failure elsewhere starts a new count.
    """
    if previous is not None and previous.first <= last and first <= previous.last:
        return CrashRecord(
            max(first, previous.first), min(last, previous.last), previous.count + 1, error
        )
    return CrashRecord(first, last, 1, error)
