"""Loaded model versions: the :class:`Served` snapshot a request holds, and the LRU of them.

:class:`ModelCache` keeps the versions :class:`~predictor.live.VersionManager` has loaded,
keyed by ``(name, version)``; the live one is always the most recently used, so it is never
the one evicted. Nothing here loads anything or starts threads.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Served(Generic[T]):
    """One loaded version: what a request grabs once and uses to the end."""

    name: str
    version: str
    model: T


class VersionNotLoaded(LookupError):
    """A request asked for a version that is neither live nor cached."""

    def __init__(self, name: str, requested: str, live: str) -> None:
        super().__init__(
            f"model {name} version {requested} is not loaded here; the live version is {live}"
        )
        self.name, self.requested, self.live = name, requested, live


class ModelCache(Generic[T]):
    """Loaded versions keyed by ``(name, version)``, least recently used evicted first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"cache capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._items: OrderedDict[tuple[str, str], Served[T]] = OrderedDict()

    def get(self, name: str, version: str) -> Served[T] | None:
        """The entry, marked most recently used; ``None`` when absent."""
        key = (name, version)
        served = self._items.get(key)
        if served is not None:
            self._items.move_to_end(key)
        return served

    def peek(self, name: str, version: str) -> Served[T] | None:
        """The entry without changing the eviction order."""
        return self._items.get((name, version))

    def put(self, served: Served[T]) -> list[Served[T]]:
        """Add (or refresh) an entry as most recently used; return what was evicted."""
        key = (served.name, served.version)
        self._items[key] = served
        self._items.move_to_end(key)
        evicted = []
        while len(self._items) > self.capacity:
            evicted.append(self._items.popitem(last=False)[1])
        return evicted

    def versions(self) -> list[str]:
        """Cached versions, least recently used first."""
        return [version for _, version in self._items]
