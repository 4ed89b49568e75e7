"""The two tiers and the cache in front of them.

:class:`LruCache` is a bounded in-process LRU with a time-to-live. :class:`RedisCache` shares
entries among processes; each of its failures (down, slow, refusing) is logged, counted and
turns the lookup into a miss, and for ``retry_after_s`` afterwards Redis is skipped, so a
dead Redis costs one timeout, not one per batch. :class:`ResultCache` asks the LRU first,
then Redis for what the LRU lacks, and copies Redis hits into the LRU.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from core.settings import CacheSettings

log = logging.getLogger(__name__)

Observer = Callable[[str, int], None]


class Tier(enum.StrEnum):
    """Where a lookup was answered (the ``result`` label of the cache metrics)."""

    MEMORY = "hit_memory"
    REDIS = "hit_redis"
    MISS = "miss"


class LruCache:
    """At most ``max_entries`` values, least recently used evicted first; entries older
    than ``ttl_s`` are misses. Not thread-safe: one event loop owns it."""

    def __init__(self, max_entries: int, ttl_s: float) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        now = time.monotonic()
        entries = self._entries
        found: list[bytes | None] = []
        for key in keys:
            entry = entries.get(key)
            if entry is None:
                found.append(None)
            elif entry[0] < now:
                del entries[key]
                found.append(None)
            else:
                entries.move_to_end(key)
                found.append(entry[1])
        return found

    def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        expires = time.monotonic() + self.ttl_s
        entries = self._entries
        for key, value in items:
            entries[key] = (expires, value)
            entries.move_to_end(key)
        while len(entries) > self.max_entries:
            entries.popitem(last=False)


class RedisCache:
    """Entries in Redis with ``PX`` expiry, read with one ``MGET`` and written with one
    pipelined round trip per batch."""

    def __init__(
        self,
        url: str,
        ttl_s: float,
        timeout_s: float,
        *,
        retry_after_s: float = 5.0,
        on_error: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.ttl_ms = max(1, int(ttl_s * 1000))
        self.timeout_s = timeout_s
        self.retry_after_s = retry_after_s
        self._on_error = on_error
        self._client: Any = None
        self._skip_until = 0.0

    def _redis(self) -> Any:
        if self._client is None:
            import redis.asyncio

            self._client = redis.asyncio.Redis.from_url(
                self.url,
                socket_timeout=self.timeout_s,
                socket_connect_timeout=self.timeout_s,
                retry_on_timeout=False,
            )
        return self._client

    @property
    def available(self) -> bool:
        """False while Redis is skipped after a failure."""
        return time.monotonic() >= self._skip_until

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None] | None:
        """The values (``None`` where missing), or ``None`` when Redis cannot answer."""
        if not keys or not self.available:
            return None
        try:
            values = await asyncio.wait_for(self._redis().mget(list(keys)), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - any failure of a cache is a miss
            self._failed("read", exc)
            return None
        return [v if isinstance(v, bytes) else None for v in values]

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        if not items or not self.available:
            return
        try:
            async with self._redis().pipeline(transaction=False) as pipe:
                for key, value in items:
                    pipe.set(key, value, px=self.ttl_ms)
                await asyncio.wait_for(pipe.execute(), self.timeout_s)
        except Exception as exc:  # noqa: BLE001 - a lost write only costs a later miss
            self._failed("write", exc)

    def _failed(self, what: str, exc: BaseException) -> None:
        if self.available:  # log once per outage, not per batch
            log.warning(
                "result cache: Redis %s failed (%s: %s); skipping Redis for %.0f s",
                what, type(exc).__name__, exc, self.retry_after_s,
            )
        self._skip_until = time.monotonic() + self.retry_after_s
        if self._on_error is not None:
            self._on_error()

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await client.aclose()
            except Exception as exc:  # noqa: BLE001 - closing a broken connection
                log.debug("closing the Redis client: %s", exc)


class ResultCache:
    """The LRU, then Redis. ``observe(tier, n)`` counts each lookup's outcome."""

    def __init__(
        self,
        memory: LruCache | None = None,
        redis: RedisCache | None = None,
        observe: Observer | None = None,
    ) -> None:
        if memory is None and redis is None:
            raise ValueError("a result cache needs at least one tier")
        self.memory = memory
        self.redis = redis
        self._observe = observe

    @classmethod
    def from_settings(
        cls,
        settings: CacheSettings,
        observe: Observer | None = None,
        on_error: Callable[[], None] | None = None,
    ) -> ResultCache | None:
        """The configured cache, or ``None`` when it is off (or has no tier)."""
        if not settings.enabled:
            return None
        memory = LruCache(settings.max_entries, settings.ttl_s) if settings.max_entries else None
        redis = None
        if settings.redis_url is not None:
            redis = RedisCache(
                settings.redis_url.get_secret_value(),
                settings.ttl_s,
                settings.redis_timeout_s,
                on_error=on_error,
            )
        if memory is None and redis is None:
            return None
        return cls(memory, redis, observe)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        found: list[bytes | None] = (
            self.memory.get_many(keys) if self.memory is not None else [None] * len(keys)
        )
        in_memory = sum(v is not None for v in found)
        in_redis = 0
        if self.redis is not None and in_memory < len(keys):
            missing = [i for i, v in enumerate(found) if v is None]
            values = await self.redis.get_many([keys[i] for i in missing])
            if values is not None:
                copied: list[tuple[str, bytes]] = []
                for i, value in zip(missing, values, strict=True):
                    if value is not None:
                        found[i] = value
                        copied.append((keys[i], value))
                in_redis = len(copied)
                if copied and self.memory is not None:
                    self.memory.put_many(copied)
        if self._observe is not None:
            for tier, n in (
                (Tier.MEMORY, in_memory),
                (Tier.REDIS, in_redis),
                (Tier.MISS, len(keys) - in_memory - in_redis),
            ):
                if n:
                    self._observe(tier, n)
        return found

    async def put_many(self, items: Sequence[tuple[str, bytes]]) -> None:
        if self.memory is not None:
            self.memory.put_many(items)
        if self.redis is not None:
            await self.redis.put_many(items)

    def __len__(self) -> int:
        """Entries in the in-process tier."""
        return len(self.memory) if self.memory is not None else 0

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.close()
