"""The versioned model store: immutable versions, dev/ops deployments, rollback.

Usage::

    from modelstore import ModelStore
    store = ModelStore.from_uri("models")                    # a path, file://, (gs://, s3://)
    mv = store.publish("category-match", out_dir, runtime="transformers", metrics={...})
    store.promote("category-match", mv.version, "dev", actor="ci")
    model_dir = store.local_path("category-match", store.resolve("category-match", "dev").version)

See ``docs/MODEL_STORE.md``.
"""

from modelstore.backends import LocalBackend, StorageBackend, backend_for_uri
from modelstore.errors import StoreError
from modelstore.registry import DeploymentEvent, Registry, VersionEntry
from modelstore.store import ModelStore, ModelVersion

__all__ = [
    "DeploymentEvent",
    "LocalBackend",
    "ModelStore",
    "ModelVersion",
    "Registry",
    "StorageBackend",
    "StoreError",
    "VersionEntry",
    "backend_for_uri",
]
