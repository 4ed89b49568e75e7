"""A model-store reference as the predictor follows it: resolve, change token, local path."""

from __future__ import annotations

from collections.abc import Hashable
from pathlib import Path

from core.names import MOVING_REFS
from modelstore import ModelStore
from modelstore.store import REGISTRY_FILE


class StoreSource:
    """A model-store reference (``dev``, ``production``, ``v3``) for a VersionManager."""

    def __init__(self, store: ModelStore, name: str, ref: str) -> None:
        self.store = store
        self.name = name
        self.ref = ref.strip()

    @classmethod
    def from_uri(cls, uri: str, name: str, ref: str) -> StoreSource:
        return cls(ModelStore.from_uri(uri), name, ref)

    @property
    def follows(self) -> bool:
        """Whether the reference can move (an alias or ``latest``), i.e. worth watching."""
        return self.ref in MOVING_REFS

    def resolve(self) -> str:
        return str(self.store.resolve(self.name, self.ref).version)

    def local_path(self, version: str) -> Path:
        return Path(self.store.local_path(self.name, version))

    def change_token(self) -> Hashable | None:
        """``(mtime_ns, size, inode)`` of a local ``registry.json`` (replaced atomically on
        every change); ``None`` for stores without a local file (then every poll resolves)."""
        path = self.store.backend.local_dir(f"{self.name}/{REGISTRY_FILE}")
        if path is None:
            return None
        st = Path(path).stat()
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def __repr__(self) -> str:
        return f"StoreSource({self.store.uri!r}, {self.name!r}, {self.ref!r})"
