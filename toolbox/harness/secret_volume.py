"""A Kubernetes Secret volume on local disk, updated the way the kubelet updates one.

The kubelet's atomic writer keeps each key as a symlink ``<key> -> ..data/<key>``; ``..data``
is itself a symlink to a timestamped hidden directory. An update writes a new timestamped
directory, then renames a fresh ``..data`` link over the old one (one ``rename``), so a
reader sees either every old key or every new one. Token rotation tests and the
``token-rotation`` drill write the predictor's and the workers' tokens through this.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path


class SecretVolume:
    """The directory ``root``, holding the keys of the last :meth:`write`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._generation = 0
        self._current: Path | None = None

    def key(self, name: str) -> Path:
        """Where key ``name`` is read (a workers' ``predictor.token_file``)."""
        return self.root / name

    def write(self, **keys: str) -> None:
        """Replace the whole Secret with ``keys`` (one value per key, with a newline)."""
        self._generation += 1
        data = self.root / f"..{os.getpid()}_{self._generation:06d}"
        data.mkdir(mode=0o700)
        for name, value in keys.items():
            target = data / name
            target.write_text(value + "\n")
            target.chmod(0o600)
        link = self.root / "..data_tmp"
        link.symlink_to(data.name)
        os.replace(link, self.root / "..data")
        for name in keys:
            if not self.key(name).is_symlink():
                self.key(name).symlink_to(f"..data/{name}")
        for entry in self.root.iterdir():
            if not entry.name.startswith(".") and entry.name not in keys:
                entry.unlink()
        if self._current is not None:
            shutil.rmtree(self._current)
        self._current = data
