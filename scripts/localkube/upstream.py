"""The operators' own manifests, read from their Go modules (the releases we build).

A release's module zip carries its install manifests (CRDs, RBAC, Deployments, webhook
configurations); ``go mod download -json MODULE@VERSION`` puts it in the project's shared
module cache and names the folder. The files are YAML and this package is standard-library
only, so the running cluster's kubectl turns them into JSON
(``kubectl create --dry-run=client -o json``: parsed, not sent). Documents of a kind the
cluster cannot know (cert-manager's Certificate and Issuer, with no cert-manager here) are
dropped by their top-level ``kind:`` before kubectl sees them.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from localkube import gobuild, paths

Obj = dict[str, Any]
Kubectl = Callable[..., Any]  # Node.kubectl: (*args, stdin=...) -> CompletedProcess

_KIND = re.compile(r"^kind:\s*(\S+)\s*$", re.MULTILINE)


def module_dir(module: str, version: str) -> Path:
    """The extracted module in the shared cache (downloaded when missing)."""
    escaped = re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), module)  # the cache's case
    cached = paths.GO / "mod" / f"{escaped}@{version}"
    if (cached / "go.mod").is_file():
        return cached
    go, env = gobuild.find_go(), gobuild.go_env()
    with tempfile.TemporaryDirectory(prefix="catmatch-upstream-") as tmp:
        info = gobuild.download(go, env, Path(tmp), module, version)
    return Path(info["Dir"])


def documents(text: str) -> list[str]:
    """The YAML documents of a stream (split on ``---`` lines), empty ones dropped."""
    docs = re.split(r"^---[ \t]*$", text, flags=re.MULTILINE)
    return [d for d in docs if d.strip() and _KIND.search(d)]


def kind_of(doc: str) -> str:
    found = _KIND.search(doc)
    return found.group(1) if found else ""


def decode_stream(text: str) -> list[Obj]:
    """Concatenated JSON values (kubectl prints one per document) -> objects; Lists opened."""
    decoder = json.JSONDecoder()
    out: list[Obj] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            return out
        value, pos = decoder.raw_decode(text, pos)
        out += value.get("items", []) if value.get("kind") == "List" else [value]


def load(kubectl: Kubectl, files: Sequence[Path], skip_kinds: Iterable[str] = ()) -> list[Obj]:
    """The objects of ``files`` as JSON, in order, without the kinds in ``skip_kinds``."""
    skip = set(skip_kinds)
    docs = [d for f in files for d in documents(f.read_text()) if kind_of(d) not in skip]
    if not docs:
        return []
    stream = "\n---\n".join(docs)
    out = kubectl("create", "--dry-run=client", "--validate=false", "-o", "json", "-f", "-",
                  stdin=stream)  # fmt: skip
    objects = decode_stream(out.stdout)
    for obj in objects:  # what a release file may carry that is the server's to write
        obj.pop("status", None)
        obj.get("metadata", {}).pop("creationTimestamp", None)
    return objects
