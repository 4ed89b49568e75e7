"""The versioned model store (issue #4): immutable versions, dev/ops deployments, rollback.

Usage::

    from catmatch.modelstore import ModelStore
    store = ModelStore.from_uri("models")                    # a path, file://, (gs://, s3://)
    mv = store.publish("category-match", out_dir, runtime="transformers", metrics={...})
    store.promote("category-match", mv.version, "dev", actor="ci")
    model_dir = store.local_path("category-match", store.resolve("category-match", "dev").version)

See ``docs/MODEL_STORE.md``.
"""

from catmatch.modelstore.backends import LocalBackend, StorageBackend, backend_for_uri
from catmatch.modelstore.errors import StoreError
from catmatch.modelstore.registry import ENVS, DeploymentEvent, Registry, VersionEntry
from catmatch.modelstore.store import (
    DEFAULT_MODEL_NAME,
    DEFAULT_STORE_URI,
    ModelStore,
    ModelVersion,
    store_settings,
)

__all__ = [
    "DEFAULT_MODEL_NAME",
    "DEFAULT_STORE_URI",
    "ENVS",
    "DeploymentEvent",
    "LocalBackend",
    "ModelStore",
    "ModelVersion",
    "Registry",
    "StorageBackend",
    "StoreError",
    "VersionEntry",
    "backend_for_uri",
    "store_settings",
]
