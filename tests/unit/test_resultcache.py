"""The result cache: keys, entries, the LRU, and the two tiers against a real Redis."""

from __future__ import annotations

import asyncio

import pytest

from core.settings import CacheSettings
from resultcache import (
    CachedPrediction,
    Keyspace,
    LruCache,
    RedisCache,
    ResultCache,
    Tier,
    normalize,
)
from resultcache import cache as cache_module

SPACE = Keyspace("category-match", "v3", top_k=3, max_length=128)


def test_normalize_folds_only_what_cannot_change_an_answer() -> None:
    assert normalize("  Kettle \t 1.7\u00a0l \n") == "Kettle 1.7 l"
    assert normalize("Cafe\u0301 grinder") == normalize("Caf\u00e9 grinder")  # NFC
    assert normalize("KETTLE") != normalize("kettle")  # a cased tokenizer tells them apart
    assert normalize("kettle!") != normalize("kettle")


def test_keys_change_with_the_model_version_and_every_answer_shaping_setting() -> None:
    key = SPACE.key("Stainless steel kettle")
    assert SPACE.key("  Stainless  steel kettle ") == key
    others = [
        Keyspace("category-match", "v4", 3, 128).key("Stainless steel kettle"),
        Keyspace("other-model", "v3", 3, 128).key("Stainless steel kettle"),
        Keyspace("category-match", "v3", 5, 128).key("Stainless steel kettle"),
        Keyspace("category-match", "v3", 3, 64).key("Stainless steel kettle"),
        Keyspace("category-match", "v3", 3, 128, prefix="x").key("Stainless steel kettle"),
        SPACE.key("Stainless steel kettles"),
    ]
    assert len({key, *others}) == len(others) + 1
    assert len(SPACE.key("x" * 100_000)) == len(key)  # the text is hashed
    assert SPACE.key("\ud800 lone surrogate")  # no UnicodeEncodeError


def test_entries_round_trip_and_foreign_values_are_misses() -> None:
    entry = CachedPrediction("Kitchen", 4, 0.91, [("Kitchen", 4, 0.91), ("Garden", 1, 0.05)])
    assert CachedPrediction.from_bytes(entry.to_bytes()) == entry
    for junk in (b"", b"not json", b"[1, 2]", b'{"a": 1}', b'["x", "y", "z", []]'):
        assert CachedPrediction.from_bytes(junk) is None


def test_lru_evicts_the_least_recently_used_and_expires_old_entries(monkeypatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now[0])
    lru = LruCache(max_entries=2, ttl_s=10)
    lru.put_many([("a", b"1"), ("b", b"2")])
    assert lru.get_many(["a"]) == [b"1"]  # a is now the most recent
    lru.put_many([("c", b"3")])
    assert lru.get_many(["a", "b", "c"]) == [b"1", None, b"3"]
    now[0] += 11
    assert lru.get_many(["a", "c"]) == [None, None]
    assert len(lru) == 0


def test_memory_tier_counts_hits_and_misses() -> None:
    seen: dict[str, int] = {}
    cache = ResultCache(LruCache(10, 60), observe=lambda t, n: seen.__setitem__(t, n))

    async def go() -> list[bytes | None]:
        await cache.put_many([("k1", b"v1")])
        return await cache.get_many(["k1", "k2", "k3"])

    assert asyncio.run(go()) == [b"v1", None, None]
    assert seen == {Tier.MEMORY: 1, Tier.MISS: 2}


def test_settings_build_the_configured_tiers() -> None:
    assert ResultCache.from_settings(CacheSettings(enabled=False)) is None
    assert ResultCache.from_settings(CacheSettings(max_entries=0)) is None
    only_memory = ResultCache.from_settings(CacheSettings())
    assert only_memory is not None and only_memory.redis is None
    both = ResultCache.from_settings(CacheSettings(redis_url="redis://127.0.0.1:1/0"))
    assert both is not None and both.memory is not None and both.redis is not None
    assert "redis://" not in repr(CacheSettings(redis_url="redis://:pw@h:1/0"))


@pytest.mark.integration
def test_processes_share_answers_through_redis(redis_server) -> None:
    """What one process cached, another finds in Redis and then in its own memory."""
    seen: list[tuple[str, int]] = []

    def make() -> ResultCache:
        redis = RedisCache(redis_server.url, ttl_s=60, timeout_s=1)
        return ResultCache(LruCache(100, 60), redis, observe=lambda t, n: seen.append((t, n)))

    async def go() -> None:
        writer, reader = make(), make()
        await writer.put_many([("k1", b"v1"), ("k2", b"v2")])
        assert await reader.get_many(["k1", "k2", "k3"]) == [b"v1", b"v2", None]
        assert await reader.get_many(["k1", "k2"]) == [b"v1", b"v2"]
        await writer.close()
        await reader.close()

    asyncio.run(go())
    assert seen == [(Tier.REDIS, 2), (Tier.MISS, 1), (Tier.MEMORY, 2)]


@pytest.mark.integration
def test_a_dead_redis_turns_into_misses_then_is_used_again(redis_server) -> None:
    errors: list[int] = []
    redis = RedisCache(
        redis_server.url, ttl_s=60, timeout_s=0.5, retry_after_s=0.5,
        on_error=lambda: errors.append(1),
    )
    cache = ResultCache(None, redis)

    async def go() -> None:
        await cache.put_many([("k", b"v")])
        assert await cache.get_many(["k"]) == [b"v"]
        redis_server.kill()
        assert await cache.get_many(["k"]) == [None]  # a miss, not an exception
        assert errors and not redis.available
        await cache.put_many([("k2", b"v2")])  # skipped while Redis is out
        redis_server.start()  # the same port, empty (no persistence)
        await asyncio.sleep(0.6)
        await cache.put_many([("k3", b"v3")])
        assert await cache.get_many(["k", "k3"]) == [None, b"v3"]
        await cache.close()

    asyncio.run(go())
    assert len(errors) == 1  # one failure, then Redis was skipped until retry_after_s
