"""Read-through: answers from the cache where it has them, one computation for the rest.

The worker (:mod:`worker.pipeline`) and the predictor's ``/predict`` share this one
lookup-then-fill; each says how its answers are read from and written to entries.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from resultcache.cache import ResultCache

T = TypeVar("T")


async def read_through(
    cache: ResultCache | None,
    keys: Sequence[str | None],
    compute: Callable[[list[int]], Awaitable[list[T]]],
    *,
    read: Callable[[bytes], T | None],
    write: Callable[[int, T], tuple[str, bytes] | None],
) -> tuple[list[T], int]:
    """The answers to ``len(keys)`` questions, in order, and how many came from the cache.

    Args:
        cache: the cache; ``None`` computes everything.
        keys: each question's lookup key, ``None`` where there is none to look up (yet).
        compute: the answers to the questions at these indices, in their order: one call,
            for the misses only, not made when everything was a hit.
        read: an entry's answer, or ``None`` when the entry is unusable (a miss).
        write: the ``(key, entry)`` to store for the computed answer at index ``i``, or
            ``None`` to store nothing (an error is never cached).
    """
    answers: list[T | None] = [None] * len(keys)
    if cache is not None:
        looked_up = [i for i, key in enumerate(keys) if key is not None]
        if looked_up:
            found = await cache.get_many([keys[i] or "" for i in looked_up])
            for i, raw in zip(looked_up, found, strict=True):
                if raw is not None:
                    answers[i] = read(raw)
    missing = [i for i, answer in enumerate(answers) if answer is None]
    hits = len(keys) - len(missing)
    if missing:
        items: list[tuple[str, bytes]] = []
        for i, answer in zip(missing, await compute(missing), strict=True):
            answers[i] = answer
            item = write(i, answer) if cache is not None else None
            if item is not None:
                items.append(item)
        if items and cache is not None:
            await cache.put_many(items)
    return [answer for answer in answers if answer is not None], hits
