"""What goes into a version: checking the staged directory, its card and its file digests."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from core.modelformat import (
    METADATA_FILE,
    MODEL_SUFFIXES,
    ModelMetadata,
    check_onnx_dir,
    read_json_object,
    sklearn_model_files,
)
from core.modelformat import check_model_dir as check_transformers_dir
from core.names import RUNTIMES, Runtime
from modelstore.errors import StoreError
from modelstore.registry import FileEntry

CARD_FILE = METADATA_FILE


def check_model_dir(src: Path, runtime: str) -> dict[str, Any]:
    """Refuse what cannot be served; return the directory's ``catmatch.json`` (or ``{}``)."""
    if runtime not in RUNTIMES:
        raise StoreError(f"unknown runtime {runtime!r}: use {', '.join(RUNTIMES)}")
    if not src.is_dir():
        raise StoreError(f"model directory not found: {src}")
    if runtime in (Runtime.TRANSFORMERS, Runtime.ONNX):
        check = check_transformers_dir if runtime == Runtime.TRANSFORMERS else check_onnx_dir
        try:
            check(src)
        except FileNotFoundError as exc:
            raise StoreError(str(exc)) from None
    else:
        if not sklearn_model_files(src):
            raise StoreError(f"{src} has no sklearn model file ({', '.join(MODEL_SUFFIXES)})")
    try:
        return read_json_object(src / CARD_FILE)
    except ValueError as exc:
        raise StoreError(str(exc)) from None


def card_bytes(
    card: dict[str, Any],
    name: str,
    version: str,
    runtime: str,
    created: datetime,
    metrics: Mapping[str, Any] | None,
) -> bytes:
    """The version's ``catmatch.json``: the staged card with name, version and runtime set."""
    updated = {**card, "name": name, "version": version}
    updated.setdefault("runtime", runtime)
    updated.setdefault("created", created.isoformat().replace("+00:00", "Z"))
    if metrics and not updated.get("metrics"):
        updated["metrics"] = dict(metrics)
    try:
        ModelMetadata.model_validate(updated)
    except ValueError as exc:
        raise StoreError(f"invalid {CARD_FILE} in the staging directory: {exc}") from None
    return (json.dumps(updated, indent=2) + "\n").encode()


def digests(src: Path) -> dict[str, FileEntry]:
    """Size and SHA-256 of every file under ``src`` except the card (rewritten on publish)."""
    files = {}
    for path in sorted(p for p in src.rglob("*") if p.is_file()):
        rel = path.relative_to(src).as_posix()
        if rel == CARD_FILE:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        files[rel] = FileEntry(size=path.stat().st_size, sha256=digest.hexdigest())
    return files
