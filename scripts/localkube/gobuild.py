"""Go programs built from the module proxy with a wrapper module.

``go install module@version`` refuses a module whose go.mod has ``replace`` directives
(k8s.io/kubernetes replaces its 31 staging modules with local paths; the operators pin
forks and old versions). A wrapper module does what the release's own go.mod would: it
``require``s the release, carries the release's replace lines (local paths turned into
versions, see :func:`derive_replaces`), imports the main packages from a ``tools.go``
behind a build tag, and ``go build``s them with ``CGO_ENABLED=0 -trimpath``.

Every build shares one module cache and one build cache (``~/.cache/category-match/go``):
the first build downloads, later ones reuse. Builds hold a shared lock on those caches;
:func:`prune_build_cache` deletes the build cache (1-3 GB per target) only when no build
holds it. Each build's wall time goes to ``builds.json`` beside the caches.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localkube import paths
from localkube.proc import Unavailable, du, log, run

DEFAULT_PROXY = "https://proxy.golang.org"
# Where `go` is missing or too old: this Go release from the module proxy (the
# golang.org/toolchain module `go` itself switches to), checked against its go.sum hash.
GO_TOOLCHAIN = "go1.24.13"
GO_TOOLCHAIN_H1 = {"linux-amd64": "h1:5sgfUhn9QCgVl4UYj32GrIYFHI3bi2UX55tNfupXwxc="}
KEEP_RECORDS = 200  # builds.json keeps the last ones


@dataclass(frozen=True)
class GoTarget:
    """One release built from the module proxy.

    ``binaries`` maps each output name to its main package. ``replace`` adds or overrides
    replace lines (old path, optionally ``path@version``, to ``new@version``): the fixes
    for modules the proxy refuses. ``staging`` turns the release's ``./staging/src/X``
    replaces into ``X`` at that version (Kubernetes). ``ldflags`` is formatted with
    ``version`` (without the v) and ``date`` (the release's tag time).
    """

    name: str
    module: str
    version: str
    binaries: Mapping[str, str]
    replace: Mapping[str, str] = field(default_factory=dict)
    staging: str | None = None
    ldflags: str = ""
    go_min: tuple[int, int] = (1, 23)

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"


# -- replace lines (pure) --------------------------------------------------------------------


@dataclass(frozen=True)
class Replace:
    """``old [old_version] => new [new_version]``; no ``new_version`` means a local path."""

    old: str
    old_version: str | None
    new: str
    new_version: str | None

    @property
    def local(self) -> bool:
        return self.new_version is None

    def line(self) -> str:
        left = f"{self.old} {self.old_version}" if self.old_version else self.old
        right = f"{self.new} {self.new_version}" if self.new_version else self.new
        return f"{left} => {right}"


def _strip_comment(line: str) -> str:
    return line.split("//", 1)[0].strip()


def parse_replaces(go_mod: str) -> list[Replace]:
    """The ``replace`` directives of a go.mod, single-line and block form."""
    found: list[Replace] = []
    block = False
    for raw in go_mod.splitlines():
        line = _strip_comment(raw)
        if block:
            if line == ")":
                block = False
                continue
            body = line
        elif re.match(r"replace\s*\($", line):
            block = True
            continue
        elif line.startswith("replace "):
            body = line[len("replace ") :]
        else:
            continue
        if "=>" not in body:
            continue
        left, right = (part.split() for part in body.split("=>", 1))
        if not left or not right or len(left) > 2 or len(right) > 2:
            raise ValueError(f"unexpected replace directive: {raw.strip()!r}")
        found.append(
            Replace(
                left[0],
                left[1] if len(left) == 2 else None,
                right[0],
                right[1] if len(right) == 2 else None,
            )
        )
    return found


def _parse_override(old: str, new: str) -> Replace:
    old_path, _, old_version = old.partition("@")
    new_path, _, new_version = new.partition("@")
    if not new_version:
        raise ValueError(f"override {old} => {new}: the new side needs @version")
    return Replace(old_path, old_version or None, new_path, new_version)


def derive_replaces(
    go_mod: str, *, staging: str | None = None, overrides: Mapping[str, str] | None = None
) -> list[Replace]:
    """The replace lines a wrapper module needs to build like the release does.

    Versioned replaces are copied. A local ``./staging/src/X`` replace becomes ``X =>
    X staging`` when ``staging`` is given. ``overrides`` (``old[@v]`` -> ``new@v``) win over
    the release's line for the same old path, or are added. A local replace left over
    cannot be built from the proxy and raises.
    """
    extra = {k.partition("@")[0]: _parse_override(k, v) for k, v in (overrides or {}).items()}
    out: list[Replace] = []
    for rep in parse_replaces(go_mod):
        if rep.old in extra:
            continue
        if rep.local:
            staged = re.fullmatch(r"\./staging/src/(.+)", rep.new)
            if staging and staged and staged.group(1) == rep.old:
                out.append(Replace(rep.old, None, rep.old, staging))
                continue
            raise ValueError(
                f"{rep.line()}: a local path the module proxy cannot serve; "
                "give this module an override"
            )
        out.append(rep)
    return out + list(extra.values())


def wrapper_go_mod(target: GoTarget, replaces: Sequence[Replace]) -> str:
    """The wrapper's go.mod: the release required, its replace lines (tidy fills the rest)."""
    lines = "".join(f"\t{r.line()}\n" for r in replaces)
    block = f"\nreplace (\n{lines})\n" if replaces else ""
    name = re.sub(r"[^a-z0-9.-]", "-", target.key.lower())
    return (
        f"module catmatch.local/build/{name}\n\ngo {'.'.join(map(str, target.go_min))}\n\n"
        f"require {target.module} {target.version}\n{block}"
    )


def tools_go(packages: Sequence[str]) -> str:
    """A file that only ``go mod tidy`` reads (build tag): it pins the main packages."""
    imports = "".join(f'\t_ "{p}"\n' for p in sorted(set(packages)))
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports})\n"


# -- Go itself -------------------------------------------------------------------------------


def go_version(go: str) -> tuple[int, ...]:
    try:
        env = {**os.environ, "GOTOOLCHAIN": "local"}
        out = run([go, "env", "GOVERSION"], timeout=60, env=env)
    except (RuntimeError, OSError):
        return ()
    found = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    return tuple(int(n) for n in found.groups()) if found else ()


def find_go(minimum: tuple[int, int] = (1, 23)) -> str:
    """``go`` from PATH when recent enough, else the pinned toolchain (when that suffices)."""
    go = shutil.which("go")
    if go and go_version(go) >= minimum:
        return go
    if tuple(int(n) for n in GO_TOOLCHAIN[2:].split(".")[:2]) < minimum:
        raise Unavailable(f"Go >= {'.'.join(map(str, minimum))} is needed and not installed")
    return str(ensure_go_toolchain())


def _h1(archive: Path) -> str:
    """The go.sum hash of a module zip (golang.org/x/mod/sumdb/dirhash.HashZip)."""
    lines = []
    with zipfile.ZipFile(archive) as zf:
        for name in sorted(zf.namelist()):
            digest = hashlib.sha256()
            with zf.open(name) as fh:
                for chunk in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(chunk)
            lines.append(f"{digest.hexdigest()}  {name}\n")
    return "h1:" + base64.b64encode(hashlib.sha256("".join(lines).encode()).digest()).decode()


def ensure_go_toolchain() -> Path:
    """Go {GO_TOOLCHAIN} from the module proxy (golang.org/toolchain), hash-checked."""
    dest = paths.K8S / GO_TOOLCHAIN
    go = dest / "bin" / "go"
    if os.access(go, os.X_OK):
        return go
    machine = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64"}.get(os.uname().machine)
    platform = f"{sys.platform}-{machine}"
    if platform not in GO_TOOLCHAIN_H1:
        raise Unavailable(f"no recent Go here and no pinned toolchain for {platform}")
    version = f"v0.0.1-{GO_TOOLCHAIN}.{platform}"
    env = {**os.environ, "GOPROXY": os.environ.get("GOPROXY") or DEFAULT_PROXY}
    url = proxy_url(env, "golang.org/toolchain", version)
    if url is None:
        raise Unavailable(f"no recent Go here and GOPROXY={env['GOPROXY']} is no proxy URL")
    url = url.removesuffix(".info") + ".zip"
    log(f"no recent Go found: fetching {GO_TOOLCHAIN} from {url}", "go")
    staged = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    try:
        archive = staged / "toolchain.zip"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(archive, "wb") as out:  # noqa: S310
                shutil.copyfileobj(resp, out)
        except (urllib.error.URLError, OSError) as exc:
            raise Unavailable(f"no recent Go here and {url} cannot be fetched: {exc}") from exc
        if (got := _h1(archive)) != GO_TOOLCHAIN_H1[platform]:
            raise RuntimeError(f"{url}: hash {got}, expected {GO_TOOLCHAIN_H1[platform]}")
        prefix = f"golang.org/toolchain@{version}/"
        root = staged / "go"
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                if not info.filename.startswith(prefix) or ".." in info.filename.split("/"):
                    raise RuntimeError(f"{url}: unexpected entry {info.filename}")
                info.filename = info.filename[len(prefix) :]
                if info.filename:
                    zf.extract(info, root)
        for tool in [*(root / "bin").iterdir(), *(root / "pkg" / "tool").glob("*/*")]:
            tool.chmod(0o755)
        archive.unlink()
        shutil.rmtree(dest, ignore_errors=True)
        root.rename(dest)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return go


# -- the module proxy ------------------------------------------------------------------------


def go_env() -> dict[str, str]:
    """The shared caches, never the user's own; no cgo; the local Go only."""
    env = {
        **os.environ,
        "GOMODCACHE": str(paths.GO / "mod"),
        "GOCACHE": str(paths.GO / "cache"),
        "GOPATH": str(paths.GO / "path"),
        "GOFLAGS": "-modcacherw -buildvcs=false",
        "GOWORK": "off",
        "CGO_ENABLED": "0",
        "GOTOOLCHAIN": "local",
    }
    env.setdefault("GOPROXY", f"{DEFAULT_PROXY},direct")
    return env


def proxy_url(env: Mapping[str, str], module: str, version: str) -> str | None:
    first = re.split(r"[,|]", env.get("GOPROXY", DEFAULT_PROXY))[0]
    if not first.startswith(("http://", "https://")):
        return None  # off / direct / file: nothing to probe
    escaped = re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), module)
    return f"{first.rstrip('/')}/{escaped}/@v/{version}.info"


def check_proxy(env: Mapping[str, str], module: str, version: str) -> None:
    """Unavailable when the module proxy cannot be reached at all (no network)."""
    url = proxy_url(env, module, version)
    if url is None:
        return
    try:
        with urllib.request.urlopen(url, timeout=20):  # noqa: S310 (an https proxy URL)
            pass
    except urllib.error.HTTPError as exc:
        if exc.code >= 500:
            raise Unavailable(f"the Go module proxy fails ({url}): {exc}") from exc
        raise RuntimeError(f"the Go module proxy does not serve {module}@{version}: {exc}") from exc
    except (urllib.error.URLError, OSError) as exc:
        raise Unavailable(f"the Go module proxy is not reachable ({url}): {exc}") from exc


def download(
    go: str, env: Mapping[str, str], cwd: Path, module: str, version: str, *, zip_only: bool = False
) -> dict[str, str]:
    """``go mod download -json``: the module checked against the checksum database. With
    ``zip_only`` its zip is enough, so a module whose go.mod wants a newer Go than this
    one (which then fails to extract it) still counts."""
    out = run(
        [go, "mod", "download", "-json", f"{module}@{version}"],
        env=env,
        cwd=cwd,
        check=False,
        nice=True,
    )
    try:
        info: dict[str, str] = json.loads(out.stdout)
    except json.JSONDecodeError:
        info = {"Error": (out.stdout + out.stderr).strip()[-4000:]}
    if zip_only and info.get("Sum") and Path(info.get("Zip", "")).is_file():
        return info
    if info.get("Error") or out.returncode:
        raise RuntimeError(f"go mod download {module}@{version}: {info.get('Error', out.stderr)}")
    return info


# -- caches and records ----------------------------------------------------------------------


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, mode)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def caches_in_use() -> contextlib.AbstractContextManager[None]:
    """Held (shared) by every build: the build cache is not pruned under it."""
    return _flock(paths.GO / ".in-use", fcntl.LOCK_SH)


def prune_build_cache() -> int:
    """Delete the shared build cache when no build holds it; returns the bytes freed.

    The module cache stays: it is what makes the next build of any target quick to start.
    """
    cache = paths.GO / "cache"
    lock = paths.GO / ".in-use"
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0  # another build runs
        try:
            freed = du(cache)
            shutil.rmtree(cache, ignore_errors=True)
            return freed
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def record(entry: Mapping[str, object]) -> None:
    """Append one build's timings to builds.json (the docs' cold and warm figures)."""
    with _flock(paths.BUILDS_JSON.with_suffix(".lock"), fcntl.LOCK_EX):
        try:
            data = json.loads(paths.BUILDS_JSON.read_text())
        except (OSError, json.JSONDecodeError):
            data = {"builds": []}
        data["builds"] = [*data["builds"], dict(entry)][-KEEP_RECORDS:]
        tmp = paths.BUILDS_JSON.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(paths.BUILDS_JSON)


def records() -> list[dict[str, Any]]:
    try:
        return list(json.loads(paths.BUILDS_JSON.read_text())["builds"])
    except (OSError, json.JSONDecodeError, KeyError):
        return []


# -- build -----------------------------------------------------------------------------------


def target_dir(target: GoTarget) -> Path:
    return paths.K8S / target.key


def built(target: GoTarget, names: Sequence[str] | None = None) -> dict[str, Path]:
    """The binaries of ``target`` already in the cache (all of ``names`` or nothing)."""
    dest = target_dir(target)
    wanted = list(names or target.binaries)
    found = {n: dest / n for n in wanted if os.access(dest / n, os.X_OK)}
    return found if len(found) == len(wanted) and (dest / "build.json").is_file() else {}


def ensure(target: GoTarget, names: Sequence[str] | None = None) -> dict[str, Path]:
    """The binaries ``names`` (default: all) of ``target``, built into the cache if missing.

    A target built earlier with fewer binaries gets the missing ones added (kube-apiserver
    and kubectl for the dry run first, the node's binaries later).
    """
    wanted = list(names or target.binaries)
    unknown = set(wanted) - set(target.binaries)
    if unknown:
        raise ValueError(f"{target.name} builds no {sorted(unknown)}")
    if found := built(target, wanted):
        return found  # without waiting for a build of other binaries of the same target
    dest = target_dir(target)
    with _flock(dest.with_name(f".{dest.name}.lock"), fcntl.LOCK_EX):
        if found := built(target, wanted):
            return found
        missing = [n for n in wanted if not os.access(dest / n, os.X_OK)]
        with caches_in_use():
            _build(target, missing or wanted, dest)
    return {n: dest / n for n in wanted}


def _build(target: GoTarget, names: Sequence[str], dest: Path) -> None:
    go = find_go(target.go_min)
    env = go_env()
    src = paths.GO / "wrappers" / target.key
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    started = time.monotonic()
    downloads = paths.GO / "mod" / "cache" / "download" / _escape(target.module) / "@v"
    cold = {
        "build_cache_bytes": du(paths.GO / "cache"),
        "module_cached": (downloads / f"{target.version}.zip").is_file(),
    }
    check_proxy(env, target.module, target.version)
    go_version_text = run([go, "env", "GOVERSION"], env=env).stdout.strip()
    what = f"{', '.join(names)} from {target.module}@{target.version}"
    log(f"building {what} ({go_version_text})", "go")
    info = download(go, env, src, target.module, target.version)
    replaces = derive_replaces(
        Path(info["GoMod"]).read_text(), staging=target.staging, overrides=target.replace
    )
    (src / "go.mod").write_text(wrapper_go_mod(target, replaces))
    packages = [target.binaries[n] for n in names]
    (src / "tools.go").write_text(tools_go(packages))
    run([go, "mod", "tidy"], env=env, cwd=src, nice=True)
    tidied = time.monotonic()
    date = json.loads(Path(info["Info"]).read_text())["Time"]
    ldflags = " ".join(
        ["-s -w", target.ldflags.format(version=target.version.lstrip("v"), date=date)]
    ).strip()
    out = src / "bin"
    times: dict[str, float] = {}
    for name, package in zip(names, packages, strict=True):
        t = time.monotonic()
        build = [go, "build", "-p=2", "-trimpath", "-ldflags", ldflags, "-o", out / name, package]
        run(build, env=env, cwd=src, nice=True, timeout=3600)
        times[name] = round(time.monotonic() - t, 1)
    done = time.monotonic()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        meta = json.loads((dest / "build.json").read_text())
    except (OSError, json.JSONDecodeError):
        meta = {}
    for name in names:
        (out / name).replace(dest / name)
    sizes = {n: (dest / n).stat().st_size for n in names}
    meta.update(
        {
            "module": target.module,
            "version": target.version,
            "go": go_version_text,
            "ldflags": ldflags,
            "replaces": [r.line() for r in replaces],
        }
    )
    meta.setdefault("binaries", {}).update(
        {
            n: {"package": target.binaries[n], "bytes": sizes[n], "compile_s": times[n]}
            for n in names
        }
    )
    (dest / "build.json").write_text(json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    entry = {
        "target": target.key,
        "binaries": list(names),
        "finished": datetime.now(UTC).isoformat(timespec="seconds"),
        "modules_s": round(tidied - started, 1),
        "compile_s": round(done - tidied, 1),
        "wall_s": round(done - started, 1),
        "bytes": sum(sizes.values()),
        # Cold: the shared build cache was (nearly) empty; a build running beside this one
        # fills it too, so the bytes are kept as well.
        "cold_build_cache": cold["build_cache_bytes"] < 50 * 2**20,
        "build_cache_bytes_before": cold["build_cache_bytes"],
        "module_was_cached": cold["module_cached"],
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "go_caches_bytes_after": du(paths.GO / "cache") + du(paths.GO / "mod"),
    }
    record(entry)
    log(
        f"built {target.key} ({', '.join(names)}) in {entry['wall_s']} s "
        f"(modules {entry['modules_s']} s, compile {entry['compile_s']} s), "
        f"{entry['bytes'] / 2**20:.0f} MiB",
        "go",
    )


def _escape(module: str) -> str:
    """The module cache's case encoding (Upper -> !lower)."""
    return re.sub(r"[A-Z]", lambda m: "!" + m.group(0).lower(), module)
