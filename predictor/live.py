"""The live model version: serve what a model-store reference points at and follow it.

:class:`VersionManager` holds the version that serves requests (one :class:`Served`
snapshot, swapped with a single reference assignment) and an LRU cache of loaded versions.
A watcher thread polls the store (a cheap change token first, then ``resolve``); when the
reference moves (promote, rollback) it loads the new version on that thread, and only then
swaps. Requests read :attr:`VersionManager.current` once and keep that snapshot to the end,
so in-flight requests finish on the old version, and nobody ever sees a half-loaded one. A
version that fails to load is logged and retried later; the old one keeps serving.

The snapshot and the cache are :mod:`predictor.model_cache`. Nothing here imports torch: the
load function is passed in (:mod:`predictor.versions` gives one that loads a runtime), so
the unit tests drive it with fakes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from prometheus_client import Counter, Histogram, Info

from predictor.model_cache import ModelCache, Served, VersionNotLoaded

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_POLL_INTERVAL_S = 5.0
DEFAULT_CACHE_SIZE = 2
DEFAULT_RETRY_AFTER_S = 30.0

LIVE_VERSION = Info(
    "catmatch_predictor_model", "The model version that serves requests now.", ["model"]
)
SWAPS = Counter(
    "catmatch_predictor_model_swaps_total", "Switches of the live model version.", ["model"]
)
LOADS = Counter(
    "catmatch_predictor_model_loads_total",
    "Model version loads (weights read from disk), by result.",
    ["model", "result"],
)
CACHE_HITS = Counter(
    "catmatch_predictor_model_cache_hits_total",
    "Switches served from the loaded-model cache, without a load.",
    ["model"],
)
LOAD_SECONDS = Histogram(
    "catmatch_predictor_model_load_seconds",
    "Time to load and warm up one model version.",
    ["model"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)


class VersionManager(Generic[T]):
    """The live version of one model, its loaded-model cache and the watcher thread.

    Args:
        name: model name (cache key, metric label).
        resolve: returns the version the reference points at now (may raise).
        load: loads a version, blocking (may raise); called on the watcher thread.
        change_token: cheap value that changes whenever the registry may have changed
            (``None`` from it, or no function: resolve on every poll).
        cache_size: loaded versions kept, the live one included (>= 1).
        retry_after_s: wait before loading a version again after it failed (sooner when
            the registry changes).
        on_evict: called with each version dropped from the cache (free GPU memory, ...).
    """

    def __init__(
        self,
        name: str,
        resolve: Callable[[], str],
        load: Callable[[str], T],
        *,
        change_token: Callable[[], Hashable | None] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        retry_after_s: float = DEFAULT_RETRY_AFTER_S,
        on_evict: Callable[[Served[T]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self._resolve = resolve
        self._load = load
        self._change_token = change_token
        self._cache: ModelCache[T] = ModelCache(cache_size)
        self._retry_after_s = retry_after_s
        self._on_evict = on_evict
        self._clock = clock
        self._current: Served[T] | None = None
        self._last_token: Hashable | None = None
        self._failed: tuple[str, float] | None = None  # (version, retry at)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._lock = threading.Lock()  # guards the cache and the swap
        self._switch_lock = threading.Lock()  # one poll/switch at a time
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading (any thread) --------------------------------------------------------------

    @property
    def current(self) -> Served[T]:
        """The live snapshot (a single attribute read: never half-switched)."""
        served = self._current
        if served is None:
            raise RuntimeError(f"model {self.name} is not loaded yet")
        return served

    @property
    def loaded(self) -> bool:
        return self._current is not None

    def lookup(self, version: str) -> Served[T]:
        """The live snapshot if it is ``version``, else the cached one, else raise.

        Raises:
            VersionNotLoaded: neither live nor cached (names the live version).
        """
        current = self.current
        if current.version == version:
            return current
        with self._lock:
            served = self._cache.peek(self.name, version)
        if served is None:
            raise VersionNotLoaded(self.name, version, current.version)
        return served

    def cached_versions(self) -> list[str]:
        with self._lock:
            return self._cache.versions()

    # -- switching -------------------------------------------------------------------------

    def start(self) -> Served[T]:
        """Resolve and load the first version, synchronously (errors propagate)."""
        with self._switch_lock:
            self._last_token = self._token()
            version = self._resolve()
            served = Served(self.name, version, self._timed_load(version))
            self._install(served)
            return served

    def poll(self) -> bool:
        """Check the store once; switch if the reference moved. True when it switched."""
        with self._switch_lock:
            try:
                token = self._token()
            except OSError as exc:
                log.warning("model %s: cannot check the registry: %s", self.name, exc)
                return False
            now = self._clock()
            retry_due = self._failed is not None and now >= self._failed[1]
            changed = token is not None and token != self._last_token
            if token is not None and not changed and not retry_due:
                return False
            try:
                version = self._resolve()
            except Exception as exc:  # noqa: BLE001 - keep serving whatever went wrong
                log.warning(
                    "model %s: cannot resolve the reference: %s; still serving %s",
                    self.name, exc, self.current.version,
                )
                return False
            self._last_token = token
            if version == self.current.version:
                self._failed = None
                return False
            failed = self._failed
            if failed is not None and failed[0] == version and not retry_due and not changed:
                return False
            return self._switch(version, now)

    def switch_to(self, version: str) -> bool:
        """Make ``version`` live now (from the cache or loaded); False when loading failed."""
        with self._switch_lock:
            if version == self.current.version:
                return True
            return self._switch(version, self._clock())

    def _switch(self, version: str, now: float) -> bool:
        with self._lock:
            cached = self._cache.get(self.name, version)
        if cached is not None:
            CACHE_HITS.labels(self.name).inc()
            log.info("model %s: %s is cached, switching without a reload", self.name, version)
            self._install(cached)
            return True
        log.info("model %s: loading %s in the background", self.name, version)
        try:
            model = self._timed_load(version)
        except Exception:
            self._failed = (version, now + self._retry_after_s)
            log.exception(
                "model %s: loading %s failed; still serving %s (retry in %.0f s or when the "
                "registry changes)",
                self.name, version, self.current.version, self._retry_after_s,
            )
            return False
        self._install(Served(self.name, version, model))
        return True

    def _timed_load(self, version: str) -> T:
        started = time.perf_counter()
        try:
            model = self._load(version)
        except Exception:
            LOADS.labels(self.name, "error").inc()
            raise
        elapsed = time.perf_counter() - started
        LOADS.labels(self.name, "ok").inc()
        LOAD_SECONDS.labels(self.name).observe(elapsed)
        log.info("model %s: loaded %s in %.2f s", self.name, version, elapsed)
        return model

    def _install(self, served: Served[T]) -> None:
        with self._lock:
            previous = self._current
            evicted = self._cache.put(served)
            self._current = served  # the swap: one reference assignment
            self._failed = None
        LIVE_VERSION.labels(self.name).info({"version": served.version})
        if previous is not None and previous is not served:
            SWAPS.labels(self.name).inc()
            log.info(
                "model %s: now serving %s (was %s; cached %s)",
                self.name, served.version, previous.version, self.cached_versions(),
            )
        for old in evicted:
            log.info("model %s: unloaded %s (dropped from the cache)", self.name, old.version)
            if self._on_evict is not None:
                self._on_evict(old)

    def _token(self) -> Hashable | None:
        return self._change_token() if self._change_token is not None else None

    # -- the watcher thread ----------------------------------------------------------------

    def watch(self, interval_s: float = DEFAULT_POLL_INTERVAL_S) -> None:
        """Poll every ``interval_s`` seconds on a daemon thread (no-op if already watching)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._watch_loop, args=(interval_s,), name="model-watch", daemon=True
        )
        self._thread.start()
        log.info("model %s: watching the store every %.3g s", self.name, interval_s)

    @property
    def watching(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _watch_loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.poll()
            except Exception:
                log.exception("model %s: poll failed", self.name)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the watcher thread (a load in progress finishes first, up to ``timeout_s``)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def __getstate__(self) -> dict[str, Any]:
        # ModelServer(workers=N) pickles the model into each child: ship only the live version.
        state = self.__dict__.copy()
        for key in ("_lock", "_switch_lock", "_stop", "_thread"):
            state.pop(key)
        cache: ModelCache[T] = ModelCache(self._cache.capacity)
        if self._current is not None:
            cache.put(self._current)
        state["_cache"] = cache
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()
