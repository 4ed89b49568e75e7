"""Everything ``make test-cluster`` needs, built once and cached: ``cluster.py prepare``.

``make cluster-prepare`` runs it (CI starts it in the background at nice 19 while ``make
test`` runs); ``make test-cluster`` runs it again, which first waits for a running one (an
exclusive lock) and then finds every step cached. The steps, in order:

1. the Debian packages of the node (and Prometheus, Git for the cluster tests);
2. Kubernetes and CoreDNS, then the operators the tests install (Go builds; each records
   its wall time in ``builds.json`` itself);
3. the node's own images: pause, CoreDNS, the Debian base, one image per operator binary,
   Argo CD's image (the base with Git, tini, Redis, helm and the argocd binary);
4. helm; the project's virtualenv (``scripts/bootstrap.sh``, only when missing or stale);
5. the seed model and its ONNX export (when missing), the Kafka jars;
6. the app images, from what HEAD holds (``images.build_context``): ``buildah bud`` with its
   layer cache, then handed to the node only when it lacks this very build.

A step that did work appends its wall time to ``builds.json`` (target ``prepare:<step>``);
the last run's steps, cached or not, are in ``prepare.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localkube import argocd, gobuild, host, images, operators, paths, release, targets
from localkube.node import prepare_binaries
from localkube.proc import log, run

# What the cluster tests install (scripts/cluster.py build --operators builds them all).
OPERATORS = ("kserve", "keda", "argo-cd")
# Beside the node's packages: promtool/prometheus for the alert test, git for the GitOps repo.
EXTRA_PACKAGES = ("prometheus", "git")
MODEL_DIR = "var/models/seed"
ONNX_DIR = "var/models/seed-onnx"
LOCK = "prepare.lock"
SUMMARY = "prepare.json"


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """One prepare at a time; a second one waits (saying so) and then reuses the first's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another prepare holds {path} (make cluster-prepare?): waiting for it")
            started = time.monotonic()
            fcntl.flock(fh, fcntl.LOCK_EX)
            log(f"waited {time.monotonic() - started:.0f} s for it")
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


class Steps:
    """Runs named steps, timing each; a step returns whether it did any work."""

    def __init__(self) -> None:
        self.done: dict[str, dict[str, Any]] = {}

    def __call__(self, name: str, step: Callable[[], bool]) -> None:
        started = time.monotonic()
        worked = step()
        wall = round(time.monotonic() - started, 1)
        self.done[name] = {"wall_s": wall, "did_work": worked}
        log(f"prepare {name}: {wall} s{'' if worked else ' (cached)'}")
        if worked:
            gobuild.record({
                "target": f"prepare:{name}", "wall_s": wall,
                "finished": datetime.now(UTC).isoformat(timespec="seconds"),
                "loadavg_1m": round(os.getloadavg()[0], 2),
            })  # fmt: skip


def prepare(repo: Path, run_dir: Path, sock: Path | None) -> dict[str, dict[str, Any]]:
    """Every step (see the module's docstring); returns their timings."""
    with exclusive(paths.ROOT / LOCK):
        steps = Steps()
        started = time.monotonic()
        steps("packages", lambda: _packages(host.APT_PACKAGES + EXTRA_PACKAGES))
        steps("kubernetes-coredns", _cluster_binaries)
        steps("operators", lambda: _operators(OPERATORS))
        steps("node-images", _node_images)
        steps("operator-images", lambda: _operator_images(OPERATORS))
        steps("argocd-image", _argocd_image)
        steps("helm", lambda: _helm(repo))
        steps("venv", lambda: ensure_venv(repo))
        steps("seed-model", lambda: ensure_seed_model(repo, repo / MODEL_DIR))
        steps("onnx-export", lambda: ensure_onnx(repo, repo / MODEL_DIR, repo / ONNX_DIR))
        steps("app-images", lambda: app_images_step(repo, run_dir, sock))
        summary = {"finished": datetime.now(UTC).isoformat(timespec="seconds"),
                   "wall_s": round(time.monotonic() - started, 1), "steps": steps.done}  # fmt: skip
        (paths.ROOT / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n")
        return steps.done


def _packages(packages: tuple[str, ...]) -> bool:
    missing = host.missing_packages(packages)
    host.ensure_packages(packages)
    return bool(missing)


def _cluster_binaries() -> bool:
    before = {t.name: bool(gobuild.built(t)) for t in (targets.KUBERNETES, targets.COREDNS)}
    prepare_binaries()
    return not all(before.values())


def _operators(names: tuple[str, ...]) -> bool:
    chosen = [targets.ALL[n] for n in names]
    missing = [t for t in chosen if not gobuild.built(t)]
    if not missing:
        return False
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(gobuild.ensure, missing))
    gobuild.prune_build_cache()
    return True


def _node_images() -> bool:
    before = [images.archive_dir() / f for f in ("pause-3.10.tar", "coredns-v1.15.0.tar",
                                                  "debian-python-bookworm.tar")]  # fmt: skip
    cached = all(p.is_file() for p in before) and images.buildah_has(images.BASE_IMAGE)
    images.pause_image()
    images.coredns_image(gobuild.ensure(targets.COREDNS)["coredns"])
    images.base_image()
    return not cached


def operator_binaries(names: tuple[str, ...]) -> dict[str, Path]:
    """{image name: binary} of every operator image the named operators run (the names
    ``kserve.install`` and ``keda.install`` give them)."""
    out: dict[str, Path] = {}
    for name in names:
        built = gobuild.ensure(targets.ALL[name])
        if name == "kserve":
            out["kserve-controller"] = built["kserve-manager"]
        elif name == "argo-cd":
            continue  # an image of its own (localkube.argocd.image)
        else:
            out |= built
    return out


def _argocd_image() -> bool:
    before = set(images.archive_dir().glob("argocd-*.tar"))
    argocd.image()
    return bool(set(images.archive_dir().glob("argocd-*.tar")) - before)


def _operator_images(names: tuple[str, ...]) -> bool:
    before = set(images.archive_dir().glob("*.tar"))
    for name, binary in operator_binaries(names).items():
        operators.operator_image(name, binary)
    return bool(set(images.archive_dir().glob("*.tar")) - before)


def _helm(repo: Path) -> bool:
    had = os.access(repo / "var" / "tools" / "helm", os.X_OK)
    release.helm_binary()
    return not had


def venv_stamp(repo: Path) -> str:
    """What scripts/bootstrap.sh writes once the venv matches pyproject and constraints."""
    data = b"".join((repo / f).read_bytes() for f in ("pyproject.toml",
                    "requirements/constraints.txt") if (repo / f).is_file())  # fmt: skip
    return hashlib.sha256(data).hexdigest()


def ensure_venv(repo: Path) -> bool:
    """The project's virtualenv, made by scripts/bootstrap.sh when it is missing or stale.

    In CI ``make test`` bootstraps the same venv meanwhile; this step comes after the Go
    builds (minutes), by which time that bootstrap has written its stamp and this is a no-op.
    """
    stamp = repo / ".venv" / ".catmatch-installed"
    python = repo / ".venv" / "bin" / "python"
    if python.exists() and stamp.is_file() and stamp.read_text().strip() == venv_stamp(repo):
        return False
    log("the virtualenv is missing or stale: scripts/bootstrap.sh")
    subprocess.run(["bash", str(repo / "scripts" / "bootstrap.sh")], cwd=repo, check=True)
    return True


def _venv_python(repo: Path, code: str, *args: str) -> str:
    python = repo / ".venv" / "bin" / "python"
    out = run([python, "-c", code, *args], cwd=repo, timeout=7200, nice=True)
    return out.stdout


def ensure_seed_model(repo: Path, out: Path) -> bool:
    """The demo's seed model (MiniLM + a head fitted on HS descriptions), offline."""
    if (out / "config.json").is_file():
        return False
    log(f"no model in {out}: building the seed model (3 min of CPU)")
    code = "import sys; from pathlib import Path; from training.builders import build_seed_model;"
    code += " build_seed_model(Path(sys.argv[1]))"
    _venv_python(repo, code, str(out))
    return True


def ensure_onnx(repo: Path, src: Path, out: Path) -> bool:
    """The model as ONNX int8 for the CPU predictor image (checked against torch)."""
    if (out / "model.onnx").is_file():
        return False
    log(f"exporting {src} to ONNX int8 in {out}")
    code = "import sys; from pathlib import Path; from training.onnx_export import export_onnx;"
    code += " export_onnx(Path(sys.argv[1]), Path(sys.argv[2]), quantization='dynamic-int8')"
    _venv_python(repo, code, str(src), str(out))
    return True


def kafka_jars(repo: Path) -> Path:
    """The jars transport/broker/pom.xml pins, resolved (once, cached) by the project's own
    code: the same Kafka the tests run."""
    code = "from core.settings import BrokerSettings;"
    code += " from transport.broker.jars import ensure_jars; print(ensure_jars(BrokerSettings()))"
    return Path(_venv_python(repo, code).strip().splitlines()[-1])


def wanted_images(model_dir: str = MODEL_DIR, onnx_dir: str = ONNX_DIR, *, torch: bool = False,
                  registry: str = "ghcr.io/category-match", tag: str = "0.1.0",
                  model_version: str = "seed") -> list[images.AppImage]:  # fmt: skip
    """The worker, the CPU predictor and the dev Kafka images (``make images``)."""
    wanted = images.app_images(registry, tag, model_dir, model_version, onnx_dir=onnx_dir,
                               torch=torch)  # fmt: skip
    return [*wanted, images.kafka_image()]


def app_images_step(repo: Path, run_dir: Path, sock: Path | None,
                    wanted: list[images.AppImage] | None = None) -> bool:  # fmt: skip
    """Build the app images from HEAD when their inputs changed and hand the node what it
    lacks; True when any image was built or new to the node."""
    images.base_image()
    wanted = wanted_images() if wanted is None else wanted
    if images.KAFKA_IMAGE in {i.name for i in wanted}:
        jars = kafka_jars(repo)
        if images.tree_digest(jars) != images.tree_digest(repo / images.KAFKA_LIBS):
            images.stage_kafka_libs(repo, jars)
    ignored = sorted({a for i in wanted for k, a in (i.build_args or {}).items()
                      if k in ("MODEL_DIR", "KAFKA_LIBS")})  # fmt: skip
    sources = {rel: images.tree_digest(repo / rel) for rel in ignored}
    sources["HEAD^{tree}"] = run(["git", "-C", repo, "rev-parse", "HEAD^{tree}"],
                                 check=False).stdout.strip()  # fmt: skip
    sources["base"] = images.image_id(images.BASE_IMAGE)
    keys = {i.name: images.input_key(i, sources) for i in wanted}

    def context() -> Path:
        return images.build_context(repo, paths.ROOT / "build-context", ignored)

    results = images.build_app_images(context, wanted, keys, sock=sock, run_dir=run_dir)
    for name, r in results.items():
        state = "built" if r["built"] else "unchanged"
        log(f"{name}: {str(r['image_id'])[:12]} {state}"
            f"{'' if r['node_has_it'] else ', new to the node'}")  # fmt: skip
    return any(r["built"] or not r["node_has_it"] for r in results.values())
