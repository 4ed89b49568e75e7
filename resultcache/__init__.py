"""The result cache: (model version, normalised text) → prediction, shared by the workers and
the predictor's ``/predict``.

A hit skips the predictor (and, in the worker, the tokenizer). The model version is part of
every key, so a model swap invalidates the cache by construction: nothing cached for one
version is ever returned for another. Two tiers: an in-process LRU in front of an optional
Redis that every worker and predictor replica shares. The cache is an optimisation only: a
Redis that is down, slow or full degrades to misses, never to errors.
"""

from resultcache.cache import LruCache, RedisCache, ResultCache, Tier
from resultcache.keys import Keyspace, normalize
from resultcache.readthrough import read_through
from resultcache.values import CachedPrediction

__all__ = [
    "CachedPrediction",
    "Keyspace",
    "LruCache",
    "RedisCache",
    "ResultCache",
    "Tier",
    "normalize",
    "read_through",
]
