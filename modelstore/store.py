"""The versioned model store: publish immutable versions, promote them to dev/ops, roll back.

Layout under the store root (a path, ``file://`` URI or a mounted PVC)::

    <root>/<name>/registry.json   versions, deployments (env -> version), history
    <root>/<name>/.lock           exclusive lock for registry changes
    <root>/<name>/v1/ ...         one complete, read-only model directory per version

The registry is the only source of truth: a version directory it does not list (a crash
between copying and registering) is never listed and is removed by the next publish.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from modelstore.backends import StorageBackend, backend_for_uri
from modelstore.cards import CARD_FILE, card_bytes, check_model_dir, digests
from modelstore.errors import StoreError
from modelstore.registry import (
    DeploymentEvent,
    FileEntry,
    Registry,
    VersionEntry,
    check_name,
    is_version_dir,
)

log = logging.getLogger(__name__)

REGISTRY_FILE = "registry.json"
LOCK_FILE = ".lock"
STALE_STAGING_S = 6 * 3600.0
DEFAULT_CACHE_DIR = Path.home() / ".cache" / "catmatch" / "models"


class ModelVersion(VersionEntry):
    """One published version, as the registry lists it, plus where it lives."""

    name: str
    uri: str
    path: Path | None = Field(default=None, description="Local directory (local backends).")


class ModelStore:
    """Versions and deployments of models kept in one storage backend."""

    def __init__(
        self,
        backend: StorageBackend,
        *,
        cache_dir: Path | None = None,
        lock_timeout_s: float = 60.0,
    ) -> None:
        self.backend = backend
        self.cache_dir = Path(cache_dir) if cache_dir else DEFAULT_CACHE_DIR
        self.lock_timeout_s = lock_timeout_s

    @classmethod
    def from_uri(cls, uri: str | Path, *, cache_dir: Path | None = None) -> ModelStore:
        """A store at a path or ``file://`` URI (``gs://``/``s3://`` raise :class:`StoreError`)."""
        return cls(backend_for_uri(uri), cache_dir=cache_dir)

    def __repr__(self) -> str:
        return f"ModelStore({self.backend.uri!r})"

    @property
    def uri(self) -> str:
        return self.backend.uri

    # -- reading -------------------------------------------------------------------------

    def models(self) -> list[str]:
        """Names of the models that have a registry in this store."""
        return [
            name
            for name in self.backend.list_dir("")
            if not name.startswith(".") and self.backend.exists(f"{name}/{REGISTRY_FILE}")
        ]

    def registry(self, name: str) -> Registry:
        """The model's registry (empty when nothing was published yet)."""
        check_name(name)
        key = f"{name}/{REGISTRY_FILE}"
        try:
            data = self.backend.read_bytes(key)
        except FileNotFoundError:
            return Registry(name=name)
        registry = Registry.from_json(data, self.backend.uri_for(key))
        if registry.name != name:
            raise StoreError(f"{self.backend.uri_for(key)} is the registry of {registry.name!r}")
        return registry

    def versions(self, name: str) -> list[ModelVersion]:
        """All versions, oldest first."""
        return [self._version(name, entry) for entry in self.registry(name).versions]

    def get(self, name: str, version: str) -> ModelVersion:
        """One version (``v3`` or ``3``)."""
        return self._version(name, self._existing(name).entry(version))

    def resolve(self, name: str, ref: str) -> ModelVersion:
        """``v3``/``3``, ``latest``, ``dev``/``ops`` or ``production`` (= ``ops``)."""
        return self._version(name, self._existing(name).resolve(ref))

    def local_path(self, name: str, version: str) -> Path:
        """A local directory to load the version from (downloaded first for remote stores)."""
        entry = self._existing(name).entry(version)
        key = f"{name}/{entry.version}"
        try:
            return self.backend.get_dir(key, self.cache_dir / name / entry.version)
        except FileNotFoundError:
            raise StoreError(f"{self.backend.uri_for(key)} is registered but missing") from None

    def history(self, name: str, env: str | None = None) -> list[DeploymentEvent]:
        """Deployment events, oldest first (one environment's when ``env`` is given)."""
        return self.registry(name).events(env)

    def deployed(self, name: str) -> dict[str, str]:
        """Environment → deployed version."""
        return dict(self.registry(name).deployments)

    # -- changing ------------------------------------------------------------------------

    def publish(
        self,
        name: str,
        staging_dir: Path,
        *,
        runtime: str = "transformers",
        metrics: Mapping[str, Any] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> ModelVersion:
        """Copy a complete model directory in as the next version (``v1``, ``v2``, ...).

        The copy is staged beside the versions and renamed into place under the model's
        lock; a failure at any point leaves no version directory and no registry entry.
        The version's ``catmatch.json`` gets ``name`` and ``version`` set.
        """
        check_name(name)
        src = Path(staging_dir)
        card = check_model_dir(src, runtime)
        files = digests(src)
        staging_key = self.backend.stage_dir(src, name)
        try:
            with self.backend.lock(f"{name}/{LOCK_FILE}", self.lock_timeout_s):
                registry = self.registry(name)
                self._remove_orphans(name, registry)
                version = registry.next_version()
                created = datetime.now(UTC)
                data = card_bytes(card, name, version, runtime, created, metrics)
                self.backend.write_bytes(f"{staging_key}/{CARD_FILE}", data)
                files[CARD_FILE] = FileEntry(
                    size=len(data), sha256=hashlib.sha256(data).hexdigest()
                )
                entry = VersionEntry(
                    version=version,
                    created=created,
                    runtime=runtime,
                    metrics=dict(metrics or {}),
                    info=dict(info or {}),
                    files=dict(sorted(files.items())),
                )
                version_key = f"{name}/{version}"
                self.backend.commit_dir(staging_key, version_key)
                try:
                    registry.add_version(entry)
                    self._save(registry)
                except BaseException:
                    self.backend.remove_dir(version_key)
                    raise
        finally:
            if self.backend.exists(staging_key):
                self.backend.remove_dir(staging_key)
        log.info("published %s %s from %s", name, version, src)
        return self._version(name, entry)

    def promote(
        self,
        name: str,
        version: str,
        env: str,
        *,
        actor: str | None = None,
        note: str | None = None,
    ) -> DeploymentEvent:
        """Deploy a version to ``dev`` or ``ops`` and record who did it."""
        self._require(name)
        with self.backend.lock(f"{name}/{LOCK_FILE}", self.lock_timeout_s):
            registry = self.registry(name)
            event = registry.promote(env, version, actor=actor, note=note)
            self._save(registry)
        log.info(
            "promoted %s %s to %s (was %s)", name, event.version, event.env, event.previous_version
        )
        return event

    def rollback(
        self, name: str, env: str, *, actor: str | None = None, note: str | None = None
    ) -> DeploymentEvent:
        """Redeploy the version ``env`` had before the current one (:class:`StoreError` if none)."""
        self._require(name)
        with self.backend.lock(f"{name}/{LOCK_FILE}", self.lock_timeout_s):
            registry = self.registry(name)
            event = registry.rollback(env, actor=actor, note=note)
            self._save(registry)
        log.info(
            "rolled back %s in %s from %s to %s",
            name,
            event.env,
            event.previous_version,
            event.version,
        )
        return event

    # -- internals -----------------------------------------------------------------------

    def _require(self, name: str) -> None:
        """:class:`StoreError` unless ``name`` has a registry in this store."""
        check_name(name)
        if not self.backend.exists(f"{name}/{REGISTRY_FILE}"):
            known = ", ".join(self.models()) or "none"
            raise StoreError(f"no model {name!r} in {self.uri} (models: {known})")

    def _existing(self, name: str) -> Registry:
        self._require(name)
        return self.registry(name)

    def _save(self, registry: Registry) -> None:
        self.backend.write_bytes(f"{registry.name}/{REGISTRY_FILE}", registry.to_json())

    def _remove_orphans(self, name: str, registry: Registry) -> None:
        """Drop version dirs the registry does not list and stale staging copies (under lock)."""
        known = set(registry.version_names())
        for child in self.backend.list_dir(name):
            if is_version_dir(child) and child not in known:
                log.warning(
                    "removing %s/%s: not in the registry (interrupted publish)", name, child
                )
                self.backend.remove_dir(f"{name}/{child}")
        for key in self.backend.cleanup_staging(name, STALE_STAGING_S):
            log.warning("removed stale staging copy %s", key)

    def _version(self, name: str, entry: VersionEntry) -> ModelVersion:
        key = f"{name}/{entry.version}"
        return ModelVersion(
            name=name,
            **entry.model_dump(),
            uri=self.backend.uri_for(key),
            path=self.backend.local_dir(key),
        )
