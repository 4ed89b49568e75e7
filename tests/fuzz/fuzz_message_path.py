"""Coverage-guided fuzzing of the worker's message path with atheris (libFuzzer).

    python tests/fuzz/fuzz_message_path.py tests/fuzz/corpus -max_total_time=60

A crash (any exception) stops the run and writes the input to ``crash-*``; add it to the
corpus once fixed. ``make test`` runs a bounded fuzz from a copy of the corpus.
"""

from __future__ import annotations

import sys
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports(include=["schemas", "worker"]):
    import schemas  # noqa: F401
    import worker.messages  # noqa: F401
    import worker.outputs  # noqa: F401
    import worker.validation  # noqa: F401

from tests.fuzz.message_path import check, run  # noqa: E402 - after the instrumented imports


def split(data: bytes) -> tuple[bytes | None, bytes | None, list[tuple[str, bytes]] | None]:
    """``value, key, headers`` from a fuzz input: the first byte says which parts follow
    (1: a key of length byte + bytes, 2: a 4-byte replay-count header, 4: a tombstone);
    the rest is the message value, so corpus files read as messages."""
    flags, rest = (data[0], data[1:]) if data else (0, b"")
    key = headers = None
    if flags & 1:
        size = rest[0] if rest else 0
        key, rest = rest[1 : 1 + size], rest[1 + size :]
    if flags & 2:
        headers, rest = [("catmatch.replay_count", rest[:4])], rest[4:]
    return (None if flags & 4 else rest), key, headers


def one_input(data: bytes) -> None:
    value, key, headers = split(data)
    check(run(value, key, headers), value)


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
