"""Which model versions a :class:`~predictor.model.CategoryModel` serves, and how they load.

The choice between the two sources is made once, when the model is built:

- :class:`FixedVersion`: a model directory, loaded once; its ``catmatch.json`` version is
  the only one served.
- :class:`FollowedVersions`: a model-store reference (:class:`~predictor.store_source.StoreSource`)
  on a :class:`~predictor.live.VersionManager`, which follows promotions and rollbacks with
  background loads and atomic swaps, and keeps recent versions loaded for pinned requests.

Both meet :class:`Versions`, so the request path asks "what is live" and "serve this pinned
version" without knowing which source it has. :class:`LoadOptions` turns a directory into a
warmed-up :class:`Loaded` runtime for either.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from predictor.batches import DEFAULT_MAX_BATCH_SIZE, Limits
from predictor.live import DEFAULT_CACHE_SIZE, DEFAULT_POLL_INTERVAL_S, VersionManager
from predictor.loading import Device
from predictor.model_cache import Served, VersionNotLoaded
from predictor.pinning import VersionConflict
from predictor.runtimes import ModelRuntime, RuntimeName, load_runtime
from predictor.store_source import StoreSource

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Loaded:
    """A loaded model (a runtime object, see :mod:`predictor.runtimes`) and its limits."""

    classifier: ModelRuntime
    limits: Limits


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """How every version of one deployment is loaded and what its requests may ask."""

    runtime: RuntimeName = "auto"
    device: Device = "auto"
    max_length: int = 128
    top_k: int = 3
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE

    def load(self, model_dir: Path) -> Loaded:
        """Load ``model_dir`` with the configured runtime and warm it up (blocking)."""
        classifier = load_runtime(
            model_dir, self.runtime, device=self.device, max_length=self.max_length
        )
        classifier.warm_up()
        return Loaded(classifier, classifier.limits(self.max_batch_size, self.top_k))


class Versions(Protocol):
    """The versions one model serves, whatever their source."""

    @property
    def current(self) -> Served[Loaded] | None:
        """The live snapshot (``None`` before :meth:`start`)."""
        ...

    def start(self) -> Served[Loaded]:
        """Load the first version, synchronously (errors propagate)."""
        ...

    def pinned(self, version: str) -> Served[Loaded]:
        """A loaded version other than the live one. Raises :class:`VersionConflict`."""
        ...

    def watch(self) -> bool:
        """Follow the source in the background; True when it can move at all."""
        ...

    def close(self) -> None:
        """Stop following (nothing to do for a fixed version)."""
        ...


class FixedVersion:
    """One model directory, loaded once."""

    def __init__(self, name: str, model_dir: Path, options: LoadOptions) -> None:
        self.name = name
        self.model_dir = Path(model_dir)
        self.options = options
        self.current: Served[Loaded] | None = None

    def start(self) -> Served[Loaded]:
        loaded = self.options.load(self.model_dir)
        self.current = Served(self.name, loaded.classifier.version, loaded)
        return self.current

    def pinned(self, version: str) -> Served[Loaded]:
        live = self.current.version if self.current is not None else "none"
        raise VersionConflict(self.name, version, live)

    def watch(self) -> bool:
        return False

    def close(self) -> None:
        return None


class FollowedVersions:
    """A model-store reference: the version it resolves to, swapped when it moves.

    ``name`` is the served (URL) name; the store's own model name is ``source.name``.
    """

    def __init__(
        self,
        name: str,
        source: StoreSource,
        options: LoadOptions,
        *,
        cache_size: int = DEFAULT_CACHE_SIZE,
        poll_interval_s: float = DEFAULT_POLL_INTERVAL_S,
    ) -> None:
        self.name = name
        self.source = source
        self.options = options
        self.poll_interval_s = poll_interval_s
        self.manager: VersionManager[Loaded] = VersionManager(
            source.name,
            source.resolve,
            self._load,
            change_token=source.change_token,
            cache_size=cache_size,
            on_evict=release_memory,
        )

    @property
    def current(self) -> Served[Loaded] | None:
        return self.manager.current if self.manager.loaded else None

    def start(self) -> Served[Loaded]:
        return self.manager.start()

    def pinned(self, version: str) -> Served[Loaded]:
        try:
            return self.manager.lookup(version)
        except VersionNotLoaded as exc:
            raise VersionConflict(self.name, version, exc.live) from None

    def watch(self) -> bool:
        if not self.source.follows:
            return False
        self.manager.watch(self.poll_interval_s)
        return True

    def close(self) -> None:
        self.manager.close()

    def _load(self, version: str) -> Loaded:
        loaded = self.options.load(self.source.local_path(version))
        if loaded.classifier.version != version:
            log.warning(
                "%s %s: catmatch.json says version %r; reporting the store's %s",
                self.source.name,
                version,
                loaded.classifier.version,
                version,
            )
        return loaded


def release_memory(served: Served[Loaded]) -> None:
    """Give a version's GPU memory back once it left the cache.

    In-flight requests may still hold it; the memory is freed when the last one finishes.
    """
    if getattr(served.model.classifier.device, "type", None) == "cuda":
        import torch

        torch.cuda.empty_cache()
