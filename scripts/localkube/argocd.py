"""Argo CD v3.5.7 on the node: the application controller, the repo server and Redis.

From the module ``github.com/argoproj/argo-cd/v3@v3.5.7``: ``manifests/core-install.yaml``
(the headless install: no API server, no UI, no Dex), without the ApplicationSet controller,
whose CRDs, RBAC, ConfigMaps and Deployments are otherwise used as they are. Changed for
this node: one image of our own for all three (:func:`image`: the Debian base with Git,
tini and Redis from Debian, helm, the ``argocd`` binary built here with its argv[0] links
``argocd-application-controller``, ``argocd-repo-server``, ``argocd-cmp-server``, and the
module's two Git wrapper scripts),
pulled never; Redis started as ``redis-server`` (upstream's image has it as its entry
point); GnuPG off in the repo server (the image has no gpg).

The GitOps repository: :class:`GitRepo` makes a bare clone of this repository's HEAD under
the run directory and serves it with ``git daemon`` on the node's address, where the repo
server's pod reaches it (``git://10.245.0.1:9418/category-match.git``). In the clone,
``main`` and the tag ``v0.1.0`` (the revisions the dev and ops Applications follow) both
point at HEAD, so only the Applications' ``repoURL`` changes for a test.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localkube import gobuild, images, operators, release, targets, upstream
from localkube.node import Node
from localkube.proc import log, run, runs, spawn, stop_pid

Obj = dict[str, Any]
NAMESPACE = "argocd"
INSTALL = "manifests/core-install.yaml"
COMPONENTS = ("argocd-application-controller", "argocd-repo-server", "argocd-redis")
LINKS = ("argocd-application-controller", "argocd-repo-server", "argocd-cmp-server")
GIT_PORT = 9418
# The repo server runs these from PATH (upstream's image copies them from hack/): signature
# checks of the revision it renders, which pass for an unsigned commit with GnuPG off.
WRAPPERS = ("git-verify-wrapper.sh", "gpg-wrapper.sh")

DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# uid 999 as upstream's image (the manifests' runAsUser); made before Redis takes a uid.
RUN groupadd --gid 999 argocd \\
    && useradd --uid 999 --gid 999 --home-dir /home/argocd --create-home \\
       --shell /usr/sbin/nologin argocd \\
    && apt-get update -qq \\
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \\
       git tini redis-server \\
    && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
COPY argocd helm git-verify-wrapper.sh gpg-wrapper.sh /usr/local/bin/
RUN cd /usr/local/bin && for n in {links}; do ln -s argocd "$n"; done
ENV HOME=/home/argocd
WORKDIR /home/argocd
USER 999:999
ENTRYPOINT ["/usr/bin/tini", "--"]
"""


def _binary() -> Path:
    return gobuild.ensure(targets.ARGOCD)["argocd"]


def image(base: str = images.BASE_IMAGE) -> images.Archive:
    """``localhost/catmatch/argocd:v3.5.7-<inputs>``: the Debian base, Git, tini, Redis, helm
    and the argocd binary (cached as an archive; ``buildah bud`` runs apt-get in it)."""
    binary, helm = _binary(), release.helm_binary()
    hack = upstream.module_dir(targets.ARGOCD.module, targets.ARGOCD.version) / "hack"
    wrappers = [hack / w for w in WRAPPERS]
    dockerfile = DOCKERFILE.replace("{links}", " ".join(LINKS))
    stat = binary.stat()
    spec = f"{stat.st_size}:{stat.st_mtime_ns}:{helm.stat().st_size}:{dockerfile}:{base}"
    spec += "".join(w.read_text() for w in wrappers)
    tag = hashlib.sha256(spec.encode()).hexdigest()[:12]
    name = f"localhost/catmatch/argocd:{targets.ARGOCD.version}-{tag}"
    out = images.archive_dir() / f"argocd-{tag}.tar"
    if out.is_file():
        return images.Archive(out, name)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="catmatch-argocd-") as tmp:
        ctx = Path(tmp)
        (ctx / "Dockerfile").write_text(dockerfile)
        shutil.copy2(binary, ctx / "argocd")
        shutil.copy2(helm, ctx / "helm")
        for wrapper in wrappers:
            (ctx / wrapper.name).write_text(wrapper.read_text())
            (ctx / wrapper.name).chmod(0o755)
        run(["buildah", "bud", "--pull-never", "--isolation", "chroot", "--layers",
             "--build-arg", f"BASE_IMAGE={base}", "-t", name, str(ctx)],
            timeout=1800, nice=True)  # fmt: skip
    archive = images.push(name, out)
    images._record(name, started, out)
    return archive


# -- the GitOps repository -------------------------------------------------------------------


@dataclass(frozen=True)
class GitRepo:
    """A bare clone of HEAD served by ``git daemon`` on the node's address."""

    root: Path  # <run dir>/gitops
    address: str  # the node's address
    name: str = "category-match.git"

    @property
    def url(self) -> str:
        return f"git://{self.address}:{GIT_PORT}/{self.name}"

    @property
    def pid_file(self) -> Path:
        return self.root / "git-daemon.pid"

    def publish(self, repo: Path, revisions: tuple[str, ...] = ("main", "v0.1.0")) -> str:
        """(Re)make the bare clone; ``revisions`` (branches, or tags when they start with
        v) all point at HEAD. Returns HEAD's commit."""
        head = run(["git", "-C", repo, "rev-parse", "HEAD"]).stdout.strip()
        bare = self.root / self.name
        shutil.rmtree(bare, ignore_errors=True)
        self.root.mkdir(parents=True, exist_ok=True)
        run(["git", "clone", "--quiet", "--bare", "--no-tags", str(repo), str(bare)])
        for rev in revisions:
            kind = "tags" if rev.startswith("v") else "heads"
            run(["git", "-C", bare, "update-ref", f"refs/{kind}/{rev}", head])
        run(["git", "-C", bare, "symbolic-ref", "HEAD", "refs/heads/main"])
        return head

    def serve(self) -> int:
        """``git daemon`` on ``address:9418`` (started once; its PID in the run directory)."""
        pid = self.running()
        if pid:
            return pid
        git = shutil.which("git") or "git"
        argv = [git, "daemon", "--reuseaddr", "--export-all", f"--base-path={self.root}",
                f"--listen={self.address}", f"--port={GIT_PORT}", "--informative-errors",
                str(self.root)]  # fmt: skip
        pid = spawn(argv, self.root / "git-daemon.log")
        self.pid_file.write_text(json.dumps({"pid": pid, "binary": git}))
        operators.wait_for("git daemon", self._answers, 20, str(self.root / "git-daemon.log"))
        return pid

    def _answers(self) -> str:
        out = run(["git", "ls-remote", self.url], check=False, timeout=10)
        return "" if out.returncode == 0 else (out.stderr or out.stdout).strip()[-200:]

    def running(self) -> int:
        try:
            entry = json.loads(self.pid_file.read_text())
        except (OSError, json.JSONDecodeError):
            return 0
        return int(entry["pid"]) if runs(int(entry["pid"]), entry["binary"]) else 0

    def stop(self) -> None:
        try:
            entry = json.loads(self.pid_file.read_text())
        except (OSError, json.JSONDecodeError):
            return
        stop_pid(int(entry["pid"]), entry["binary"], timeout=5)
        self.pid_file.unlink(missing_ok=True)


# -- Argo CD's own objects -------------------------------------------------------------------


def _applicationset(obj: Obj) -> bool:
    name = obj["metadata"]["name"]
    return "applicationset" in name and obj["kind"] != "CustomResourceDefinition"


def controller_objects(install: list[Obj], image_name: str) -> list[Obj]:
    """core-install.yaml as this node runs it (pure: the tests read it)."""
    out: list[Obj] = []
    for original in install:
        if _applicationset(original):
            continue
        obj = copy.deepcopy(original)
        kind = obj["kind"]
        if kind not in ("CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
            obj["metadata"]["namespace"] = NAMESPACE
        if kind in ("Deployment", "StatefulSet"):
            spec = obj["spec"]["template"]["spec"]
            spec.pop("affinity", None)
            spec["securityContext"] = {**spec.get("securityContext", {}),
                                       "seccompProfile": {"type": "RuntimeDefault"}}  # fmt: skip
            for container in spec.get("initContainers", []) + spec["containers"]:
                operators.local_image(container, image_name)
                operators.short_probes(container)
                security = container.setdefault("securityContext", {})
                security.setdefault("runAsNonRoot", True)
                security.setdefault("seccompProfile", {"type": "RuntimeDefault"})
                if container["name"] == "redis":
                    container["command"] = ["redis-server"]  # upstream's image's entry point
                if container["name"] == "argocd-repo-server":
                    container.setdefault("env", []).append(
                        {"name": "ARGOCD_GPG_ENABLED", "value": "false"})  # fmt: skip
        out.append(obj)
    return out


def install(node: Node) -> dict[str, float]:
    """CRDs, image, RBAC, ConfigMaps, Redis, repo server, application controller."""
    t0 = time.monotonic()
    steps: dict[str, float] = {}
    root = upstream.module_dir(targets.ARGOCD.module, targets.ARGOCD.version)
    objects = upstream.load(node.kubectl, [root / INSTALL])
    crds = [o for o in objects if o["kind"] == "CustomResourceDefinition"]
    operators.apply(node, [operators.namespace(NAMESPACE), *crds], "catmatch-argocd")
    operators.wait_crds(node, [c["metadata"]["name"] for c in crds])
    steps["crds_s"] = round(time.monotonic() - t0, 1)
    t = time.monotonic()
    archive = image()
    operators.load_images(node, [archive])
    steps["image_s"] = round(time.monotonic() - t, 1)
    t = time.monotonic()
    rest = [o for o in controller_objects(objects, archive.name)
            if o["kind"] != "CustomResourceDefinition"]  # fmt: skip
    operators.apply(node, rest, "catmatch-argocd")
    operators.wait_deployments(node, NAMESPACE, ["argocd-redis", "argocd-repo-server"])
    node.wait_rollout(NAMESPACE, "statefulset/argocd-application-controller", operators.READY_S)
    steps["rollout_s"] = round(time.monotonic() - t, 1)
    log(f"Argo CD ready: {json.dumps(steps)}")
    return steps


def uninstall(node: Node) -> None:
    """Everything :func:`install` applied (Applications go with their CRD)."""
    root = upstream.module_dir(targets.ARGOCD.module, targets.ARGOCD.version)
    objects = controller_objects(upstream.load(node.kubectl, [root / INSTALL]), "")
    operators.delete(node, [*objects, operators.namespace(NAMESPACE)])


def cli_kubeconfig(node: Node) -> Path:
    """The admin kubeconfig with ``argocd`` as its namespace: ``argocd --core`` looks for
    Argo CD in the current context's namespace."""
    out = node.lay.config("argocd-cli.kubeconfig")
    text = node.lay.kubeconfig("admin").read_text()
    out.write_text(text)
    os.chmod(out, 0o600)
    env = {**os.environ, "KUBECONFIG": str(out)}
    ctx = run([node.bins.kubectl, "config", "current-context"], env=env).stdout.strip()
    run([node.bins.kubectl, "config", "set-context", ctx, f"--namespace={NAMESPACE}"], env=env)
    return out


def cli(node: Node, *args: str, timeout: float = 300) -> str:
    """``argocd --core ...`` against the node (no Argo CD API server: the CLI talks to the
    Kubernetes API itself, and to Redis and the repo server through port-forwards)."""
    env = {**os.environ, "KUBECONFIG": str(cli_kubeconfig(node)),
           "HOME": str(node.lay.run / "argocd-home")}  # fmt: skip
    Path(env["HOME"]).mkdir(parents=True, exist_ok=True)
    return run([_binary(), "--core", *args], env=env, timeout=timeout).stdout
