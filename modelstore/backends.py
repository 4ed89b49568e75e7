"""Where model versions live: a small storage interface and the local-filesystem backend.

Keys are ``/``-separated paths relative to the store root (``category-match/registry.json``,
``category-match/v3``). The store needs only these operations, so an object-storage backend
(GCS, S3) can implement them with conditional writes and a lock object; none exists yet and
:func:`backend_for_uri` says so for ``gs://`` and ``s3://`` URIs.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import tempfile
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from modelstore.errors import StoreError

log = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"
LOCK_POLL_S = 0.05
FILE_MODE = 0o444
DIR_MODE = 0o555
PRIVATE_FILE_MODE = 0o600  # while staged: writable by us only
PRIVATE_DIR_MODE = 0o700
MISSING_BACKENDS = {
    "gs": "Google Cloud Storage",
    "s3": "S3",
}


class StorageBackend(ABC):
    """The storage operations :class:`~modelstore.store.ModelStore` needs."""

    uri: str

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The object's bytes. Raises ``FileNotFoundError`` when it does not exist."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Replace the object atomically: readers see the old or the new bytes, never a mix."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether a file or directory exists at ``key``."""

    @abstractmethod
    def list_dir(self, key: str) -> list[str]:
        """Names of the direct children of ``key`` (sorted; empty when it does not exist)."""

    @abstractmethod
    def stage_dir(self, src: Path, parent: str) -> str:
        """Copy a local directory to a fresh staging key under ``parent``; return that key."""

    @abstractmethod
    def commit_dir(self, staging_key: str, key: str) -> None:
        """Make a staged directory appear at ``key`` in one step, read-only from then on.

        Raises ``FileExistsError`` when ``key`` exists (versions are never overwritten).
        """

    @abstractmethod
    def remove_dir(self, key: str) -> None:
        """Delete a directory tree (staging leftovers, uncommitted versions)."""

    @abstractmethod
    def cleanup_staging(self, parent: str, max_age_s: float) -> list[str]:
        """Remove staging directories under ``parent`` older than ``max_age_s``; their keys."""

    @abstractmethod
    def get_dir(self, key: str, cache_dir: Path) -> Path:
        """A local directory with the tree at ``key`` (remote backends download to the cache)."""

    @abstractmethod
    def lock(self, key: str, timeout_s: float) -> contextlib.AbstractContextManager[None]:
        """An exclusive lock named ``key`` across processes (and hosts sharing the storage)."""

    @abstractmethod
    def uri_for(self, key: str) -> str:
        """The URI of ``key`` (what a KServe ``storageUri`` or a loader would be given)."""

    def local_dir(self, key: str) -> Path | None:
        """The local filesystem path of ``key`` when the storage is a filesystem, else ``None``."""
        return None


class LocalBackend(StorageBackend):
    """A directory on a local or mounted filesystem (a plain path, ``file://``, a PVC)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()
        self.uri = self.root.as_uri()

    def __repr__(self) -> str:
        return f"LocalBackend({str(self.root)!r})"

    def path(self, key: str) -> Path:
        """The filesystem path of ``key``; refuses keys that leave the root."""
        parts = [p for p in key.split("/") if p]
        if any(p in (".", "..") for p in parts):
            raise StoreError(f"invalid store key: {key!r}")
        return self.root.joinpath(*parts)

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def write_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        _fsync_dir(target.parent)

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def list_dir(self, key: str) -> list[str]:
        path = self.path(key)
        return sorted(p.name for p in path.iterdir()) if path.is_dir() else []

    def stage_dir(self, src: Path, parent: str) -> str:
        parent_path = self.path(parent)
        parent_path.mkdir(parents=True, exist_ok=True)
        name = f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        staging = parent_path / name
        try:
            shutil.copytree(src, staging, symlinks=False)
            for dirpath, _, filenames in os.walk(staging):
                os.chmod(dirpath, PRIVATE_DIR_MODE)
                for fname in filenames:
                    os.chmod(os.path.join(dirpath, fname), PRIVATE_FILE_MODE)
        except BaseException:
            _rmtree(staging)
            raise
        return f"{parent}/{name}"

    def commit_dir(self, staging_key: str, key: str) -> None:
        staging, target = self.path(staging_key), self.path(key)
        if target.exists():
            raise FileExistsError(f"{target} exists")
        for dirpath, dirnames, filenames in os.walk(staging):
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), FILE_MODE)
            for name in dirnames:
                os.chmod(os.path.join(dirpath, name), DIR_MODE)
        os.rename(staging, target)
        target.chmod(DIR_MODE)
        _fsync_dir(target.parent)

    def remove_dir(self, key: str) -> None:
        _rmtree(self.path(key))

    def cleanup_staging(self, parent: str, max_age_s: float) -> list[str]:
        removed = []
        now = time.time()
        for name in self.list_dir(parent):
            path = self.path(f"{parent}/{name}")
            if not name.startswith(STAGING_PREFIX):
                continue
            with contextlib.suppress(FileNotFoundError):
                if now - path.stat().st_mtime > max_age_s:
                    _rmtree(path)
                    removed.append(f"{parent}/{name}")
        return removed

    def get_dir(self, key: str, cache_dir: Path) -> Path:
        path = self.path(key)
        if not path.is_dir():
            raise FileNotFoundError(f"{path} does not exist")
        return path

    @contextlib.contextmanager
    def lock(self, key: str, timeout_s: float) -> Iterator[None]:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout_s
        with open(path, "a+b") as fh:
            while True:
                try:
                    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as exc:
                    if exc.errno not in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                        raise
                    if time.monotonic() >= deadline:
                        raise StoreError(
                            f"timed out after {timeout_s:g} s waiting for the lock {path}"
                        ) from None
                    time.sleep(LOCK_POLL_S)
            try:
                yield
            finally:
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

    def uri_for(self, key: str) -> str:
        return self.path(key).as_uri()

    def local_dir(self, key: str) -> Path | None:
        return self.path(key)


def backend_for_uri(uri: str | Path) -> StorageBackend:
    """The backend for a store URI: a path or ``file://`` → :class:`LocalBackend`.

    Raises:
        StoreError: ``gs://``/``s3://`` (no backend installed yet) or another scheme.
    """
    if isinstance(uri, Path):
        return LocalBackend(uri)
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme == "":
        return LocalBackend(Path(uri))
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StoreError(f"file:// URI with a remote host is not supported: {uri}")
        return LocalBackend(Path(unquote(parsed.path)))
    if scheme in MISSING_BACKENDS:
        raise StoreError(
            f"{scheme}:// model store backend not available: install a "
            f"{MISSING_BACKENDS[scheme]} backend (none ships with category-match yet; "
            "implement modelstore.backends.StorageBackend) or mount the bucket and "
            "use a local path"
        )
    raise StoreError(f"unsupported model store URI {uri!r}: use a path or file://")


def _fsync_dir(path: Path) -> None:
    """Persist a rename/replace in ``path`` (best effort: some filesystems refuse)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _rmtree(path: Path) -> None:
    """Remove a tree, including one whose directories were made read-only."""
    if path.is_symlink() or path.is_file():
        path.unlink()
        return
    if not path.exists():
        return
    path.chmod(PRIVATE_DIR_MODE)
    for dirpath, dirnames, _ in os.walk(path):
        for name in dirnames:
            with contextlib.suppress(OSError):
                os.chmod(os.path.join(dirpath, name), PRIVATE_DIR_MODE)
    shutil.rmtree(path)
