#!/usr/bin/env python3
"""A real Kubernetes API server on loopback, for server-side dry runs of the manifests.

No cluster and no Docker are needed: etcd (Debian's ``etcd-server``) and kube-apiserver
plus kubectl, built from the Go module proxy, run as two processes on 127.0.0.1 with the
upstream CRDs of every operator the chart talks to (KServe, KEDA, Prometheus Operator,
Argo CD, Istio, Strimzi). ``kubectl apply --server-side --dry-run=server`` against it
checks the rendered objects the way a cluster would (types, unknown fields, enums, CEL
rules), without any operator or webhook running.

    python scripts/kube_apiserver.py prepare [--if-possible]   # build/fetch once, cached
    python scripts/kube_apiserver.py run -- kubectl apply --server-side --dry-run=server -f x.yaml
    python scripts/kube_apiserver.py start       # in the background; prints KUBECONFIG
    python scripts/kube_apiserver.py stop

``prepare`` installs etcd with apt-get (when root), builds kube-apiserver and kubectl
v1.32 from the Go module proxy (a wrapper module that pins the staging modules, as
``go install`` refuses k8s.io/kubernetes), fetches the CRDs from Go modules and generates
Strimzi's with its own generator from Maven Central. Everything lands in
``~/.cache/category-match/k8s`` (or ``$CATMATCH_K8S_CACHE``), keyed by versions. The Go
build is :mod:`localkube.gobuild` (shared with ``scripts/cluster.py``): one module cache
for every Go build of the project, kept; the build cache (about 2 GB) is deleted after the
build, so a rerun is near-instant. It uses ``go`` from PATH when it is Go >= 1.23, else
Go 1.24.13 fetched from the module proxy (checked against its go.sum hash).
``--if-possible`` exits 0 with a message when this machine cannot prepare the toolchain
(no network, no etcd and not root); the tests then skip with that reason (fail under CI).

In Python (tests): ``with ApiServer.running(prepare()) as server: server.kubectl(...)``.
Standard library only.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import fnmatch
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from localkube import gobuild, paths, targets  # noqa: E402
from localkube.proc import Unavailable, run  # noqa: E402

K8S_VERSION = targets.KUBERNETES.version.lstrip("v")  # staging modules k8s.io/* v0.32.x
ETCD_PACKAGE = "etcd-server"  # Debian 12: etcd 3.4.23
STRIMZI_VERSION = "0.45.0"  # io.strimzi:api + io.strimzi:crd-generator (Maven Central)
STRIMZI_KINDS = {
    "kafkatopics": "io.strimzi.api.kafka.model.topic.KafkaTopic",
    "kafkausers": "io.strimzi.api.kafka.model.user.KafkaUser",
}


@dataclass(frozen=True)
class GoCrds:
    """CRD files inside a Go module, as the module proxy serves it."""

    name: str
    module: str
    version: str
    patterns: tuple[str, ...]


GO_CRDS = (
    GoCrds("kserve", "github.com/kserve/kserve", "v0.16.0", ("config/crd/full/*.yaml",)),
    GoCrds("keda", "github.com/kedacore/keda/v2", "v2.21.0", ("config/crd/bases/*.yaml",)),
    GoCrds(
        "prometheus-operator",
        "github.com/prometheus-operator/prometheus-operator",
        "v0.85.0",
        ("example/prometheus-operator-crd/*.yaml",),
    ),
    GoCrds("argo-cd", "github.com/argoproj/argo-cd/v3", "v3.5.7", ("manifests/crds/*-crd.yaml",)),
    # The same istio.io/api version as deploy/schemas/security.istio.io.
    GoCrds("istio", "istio.io/api", "v1.24.0", ("kubernetes/customresourcedefinitions.gen.yaml",)),
)

CACHE = paths.K8S
RUN_DIR = CACHE / "run"  # state of `start` / `stop`
MAVEN_CENTRAL = "https://repo.maven.apache.org/maven2/"
READY_TIMEOUT_S = 60.0
CRD_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0


def log(msg: str) -> None:
    print(f"kube_apiserver: {msg}", flush=True)


def _run(
    cmd: Sequence[str | Path], *, timeout: float = 1800, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run a command; on failure raise with its output (the tail of it)."""
    return run(cmd, timeout=timeout, **kw)


def _reachable(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=20):  # noqa: S310 (a fixed https URL)
            return True
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    """One prepare at a time per cache (parallel test runs, test.sh + a fixture)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


# -- prepare: etcd ---------------------------------------------------------------------------


def ensure_etcd() -> tuple[Path, str]:
    """etcd on PATH, installed from Debian (``etcd-server``) when missing and root."""
    found = shutil.which("etcd")
    if not found:
        apt = shutil.which("apt-get")
        if os.geteuid() != 0 or not apt:
            raise Unavailable(
                f"etcd is not installed: run `sudo apt-get install {ETCD_PACKAGE}` "
                "(Debian/Ubuntu) or put etcd >= 3.4 on PATH"
            )
        log(f"installing {ETCD_PACKAGE} with apt-get")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = [apt, "install", "-y", "-qq", ETCD_PACKAGE]
        try:
            _run(install, env=env, timeout=600)
        except RuntimeError:  # stale or empty package lists
            try:
                _run([apt, "update", "-qq"], env=env, timeout=600)
                _run(install, env=env, timeout=600)
            except RuntimeError as exc:
                raise Unavailable(f"apt-get could not install {ETCD_PACKAGE}: {exc}") from exc
        found = shutil.which("etcd")
        if not found:
            raise Unavailable(f"{ETCD_PACKAGE} is installed but etcd is not on PATH")
    version = _run([found, "--version"]).stdout.splitlines()[0].split()[-1]
    return Path(found), version


# -- prepare: Go modules ---------------------------------------------------------------------


def _zip_members(archive: Path, prefix: str, pattern: str) -> list[str]:
    """Members of a module zip under ``prefix`` matching ``pattern`` (``dir/*.yaml``; the
    ``*`` stays inside ``dir``), sorted."""
    folder, name = PurePosixPath(pattern).parent, PurePosixPath(pattern).name
    with zipfile.ZipFile(archive) as zf:
        return sorted(
            member
            for member in zf.namelist()
            if member.startswith(prefix)
            and PurePosixPath(member[len(prefix) :]).parent == folder
            and fnmatch.fnmatchcase(PurePosixPath(member).name, name)
        )


# -- prepare: kube-apiserver and kubectl -----------------------------------------------------


def ensure_kubernetes() -> tuple[Path, Path]:
    """kube-apiserver and kubectl, built once into the cache (the wrapper module of
    :mod:`localkube.gobuild`; scripts/cluster.py adds the node's binaries beside them)."""
    built = gobuild.ensure(targets.KUBERNETES, ["kube-apiserver", "kubectl"])
    freed = gobuild.prune_build_cache()
    if freed:
        log(f"deleted the Go build cache ({freed / 2**30:.1f} GiB); the module cache stays")
    return built["kube-apiserver"], built["kubectl"]


# -- prepare: CRDs ---------------------------------------------------------------------------


def crd_dir() -> Path:
    spec = {"go": [vars(s) for s in GO_CRDS], "strimzi": [STRIMZI_VERSION, STRIMZI_KINDS]}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    return CACHE / f"crds-{key}"


STRIMZI_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>local.catmatch</groupId><artifactId>strimzi-crds</artifactId><version>0</version>
  <dependencies>
    <dependency><groupId>io.strimzi</groupId><artifactId>api</artifactId>
      <version>{v}</version></dependency>
    <dependency><groupId>io.strimzi</groupId><artifactId>crd-generator</artifactId>
      <version>{v}</version></dependency>
  </dependencies>
</project>
"""


def _strimzi_crds(work: Path, dest: Path) -> list[str]:
    """Strimzi's CRDs as its release generates them: crd-generator over the api jar."""
    mvn, java = shutil.which("mvn"), shutil.which("java")
    if not mvn or not java:
        raise Unavailable(
            "Maven and Java are needed to generate the Strimzi CRDs "
            "(scripts/bootstrap.sh installs both)"
        )
    (work / "pom.xml").write_text(STRIMZI_POM.format(v=STRIMZI_VERSION))
    try:
        goal = "-B -q -Dstyle.color=never dependency:copy-dependencies -DincludeScope=runtime"
        pom, libs = work / "pom.xml", work / "libs"
        _run([mvn, *goal.split(), "-f", pom, f"-DoutputDirectory={libs}"], timeout=600)
    except RuntimeError as exc:
        if not _reachable(MAVEN_CENTRAL):
            raise Unavailable(f"Maven Central is not reachable: {exc}") from exc
        raise
    files = [f"strimzi--{plural}.yaml" for plural in STRIMZI_KINDS]
    pairs = [f"{cls}={dest / f}" for cls, f in zip(STRIMZI_KINDS.values(), files, strict=True)]
    generator = "io.strimzi.crdgenerator.CrdGenerator --storage-version v1beta2 --yaml"
    _run([java, "-cp", f"{work / 'libs'}/*", *generator.split(), *pairs])
    return files


def ensure_crds() -> Path:
    """The upstream CRDs, one directory per set of versions (see GO_CRDS, STRIMZI_*)."""
    dest = crd_dir()
    if (dest / "sources.json").is_file():
        return dest
    go = gobuild.find_go()
    staged = dest.with_name(f".{dest.name}.tmp")
    shutil.rmtree(staged, ignore_errors=True)
    work = staged / ".work"
    work.mkdir(parents=True)
    env = gobuild.go_env()  # the shared module cache: the operator builds reuse these zips
    sources: list[dict[str, object]] = []
    try:
        gobuild.check_proxy(env, GO_CRDS[0].module, GO_CRDS[0].version)
        for src in GO_CRDS:
            started = time.monotonic()
            # From the module zip: keda v2.21 wants Go 1.26 to be extracted by `go`.
            info = gobuild.download(go, env, work, src.module, src.version, zip_only=True)
            archive, prefix = Path(info["Zip"]), f"{src.module}@{src.version}/"
            files = []
            with zipfile.ZipFile(archive) as zf:
                for pattern in src.patterns:
                    for member in _zip_members(archive, prefix, pattern):
                        text = zf.read(member)
                        if b"kind: CustomResourceDefinition" not in text:
                            continue
                        name = f"{src.name}--{PurePosixPath(member).name}"
                        (staged / name).write_bytes(text)
                        files.append(name)
            if not files:
                raise RuntimeError(f"no CRDs in {src.module}@{src.version} {src.patterns}")
            sources.append({**vars(src), "files": files})
            log(
                f"CRDs {src.module}@{src.version}: {len(files)} file(s) "
                f"in {time.monotonic() - started:.1f} s"
            )
        started = time.monotonic()
        (work / "strimzi").mkdir()
        files = _strimzi_crds(work / "strimzi", staged)
        sources.append(
            {
                "name": "strimzi",
                "maven": f"io.strimzi:api:{STRIMZI_VERSION}",
                "generator": f"io.strimzi:crd-generator:{STRIMZI_VERSION}",
                "files": files,
            }
        )
        log(
            f"CRDs Strimzi {STRIMZI_VERSION} (generated): {len(files)} file(s) "
            f"in {time.monotonic() - started:.1f} s"
        )
        shutil.rmtree(work)
        (staged / "sources.json").write_text(json.dumps({"sources": sources}, indent=2) + "\n")
        shutil.rmtree(dest, ignore_errors=True)
        staged.rename(dest)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    return dest


# -- prepare ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Toolchain:
    etcd: Path
    etcd_version: str
    kube_apiserver: Path
    kubectl: Path
    crds: Path

    def crd_files(self) -> list[Path]:
        return sorted(p for p in self.crds.glob("*.yaml"))


def prepare() -> Toolchain:
    """Everything start() needs; cached, so near-instant after the first time."""
    started = time.monotonic()
    with _cache_lock():
        etcd, etcd_version = ensure_etcd()
        t_etcd = time.monotonic()
        apiserver, kubectl = ensure_kubernetes()
        t_k8s = time.monotonic()
        crds = ensure_crds()
        done = time.monotonic()
    tools = Toolchain(etcd, etcd_version, apiserver, kubectl, crds)
    log(
        f"ready in {done - started:.1f} s (etcd {etcd_version} {t_etcd - started:.1f} s, "
        f"kubernetes v{K8S_VERSION} {t_k8s - t_etcd:.1f} s, "
        f"{len(tools.crd_files())} CRD files {done - t_k8s:.1f} s) in {CACHE}"
    )
    return tools


# -- the server ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover (runs in the child)
    """The child gets SIGTERM when the process that started it dies (Linux prctl)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def stop_pid(pid: int, binary: str, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM then SIGKILL one process, only if it still runs ``binary``."""
    if not _alive(pid) or not _cmdline(pid).startswith(binary):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _established(crd: dict[str, Any]) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


def _resource_names(discovery: dict[str, Any]) -> set[str]:
    return {r["name"] for r in discovery.get("resources") or []}


@dataclass
class ApiServer:
    """etcd + kube-apiserver on loopback, with the CRDs installed; see :meth:`running`."""

    tools: Toolchain
    workdir: Path
    detach: bool = False
    token: str = field(default_factory=lambda: secrets.token_hex(16))
    port: int = 0
    etcd_pid: int = 0
    apiserver_pid: int = 0
    timings: dict[str, float] = field(default_factory=dict)
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.workdir / "pki" / "serving.crt"

    @classmethod
    @contextlib.contextmanager
    def running(cls, tools: Toolchain | None = None, *, crds: bool = True) -> Iterator[ApiServer]:
        """Start, yield, and always stop both processes and remove the work directory."""
        tools = tools or prepare()
        workdir = Path(tempfile.mkdtemp(prefix="catmatch-k8s-", dir=_tmp_root()))
        server = cls(tools, workdir)
        try:
            server.start(crds=crds)
            yield server
        finally:
            server.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    # -- start ---------------------------------------------------------------------------

    def start(self, *, crds: bool = True) -> None:
        started = time.monotonic()
        try:
            self._pki()
            etcd_port, peer_port, self.port = free_port(), free_port(), free_port()
            client, peer = f"http://127.0.0.1:{etcd_port}", f"http://127.0.0.1:{peer_port}"
            etcd = {
                "name": "catmatch",
                "data-dir": self.workdir / "etcd",
                "listen-client-urls": client,
                "advertise-client-urls": client,
                "listen-peer-urls": peer,
                "initial-advertise-peer-urls": peer,
                "initial-cluster": f"catmatch={peer}",
                "logger": "zap",
                "log-level": "warn",
            }
            self.etcd_pid = self._spawn("etcd", self.tools.etcd, etcd)
            self._wait("etcd", f"{client}/health", self.etcd_pid)
            self.timings["etcd_s"] = time.monotonic() - started
            pki = self.workdir / "pki"
            apiserver = {
                "etcd-servers": client,
                "bind-address": "127.0.0.1",
                "advertise-address": "127.0.0.1",
                "secure-port": self.port,
                "cert-dir": pki,
                "tls-cert-file": pki / "serving.crt",
                "tls-private-key-file": pki / "serving.key",
                "token-auth-file": pki / "tokens.csv",
                "authorization-mode": "RBAC",
                "service-account-issuer": "https://kubernetes.default.svc.cluster.local",
                "service-account-key-file": pki / "sa.pub",
                "service-account-signing-key-file": pki / "sa.key",
                "service-cluster-ip-range": "10.96.0.0/12",
                "endpoint-reconciler-type": "none",  # no endpoints to keep for a lone server
                "profiling": "false",
            }
            self.apiserver_pid = self._spawn("kube-apiserver", self.tools.kube_apiserver, apiserver)
            self._wait("kube-apiserver", f"{self.url}/readyz", self.apiserver_pid)
            self.timings["apiserver_s"] = time.monotonic() - started - self.timings["etcd_s"]
            self._write_kubeconfig(self.workdir / "kubeconfig", "default")
            if crds:
                t = time.monotonic()
                self.install_crds()
                self.timings["crds_s"] = time.monotonic() - t
        except BaseException:
            self.stop()
            raise
        parts = ", ".join(f"{k[:-2]} {v:.1f} s" for k, v in self.timings.items())
        log(
            f"kube-apiserver v{K8S_VERSION} on {self.url} ready in "
            f"{time.monotonic() - started:.1f} s ({parts})"
        )

    def _pki(self) -> None:
        """Self-signed serving cert (SAN IP:127.0.0.1), SA key pair, a system:masters token."""
        pki = self.workdir / "pki"
        pki.mkdir(parents=True)
        openssl = shutil.which("openssl")
        if not openssl:
            raise Unavailable("openssl is needed for the API server's certificates")
        cert = "req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=catmatch-kube-apiserver"
        san = "subjectAltName=IP:127.0.0.1,DNS:localhost"
        keys: list[str | Path] = ["-keyout", pki / "serving.key", "-out", pki / "serving.crt"]
        _run([openssl, *cert.split(), "-addext", san, *keys])
        _run([openssl, "genrsa", "-out", pki / "sa.key", "2048"])
        _run([openssl, "rsa", "-in", pki / "sa.key", "-pubout", "-out", pki / "sa.pub"])
        (pki / "tokens.csv").write_text(f'{self.token},catmatch-admin,1,"system:masters"\n')

    def _spawn(self, name: str, binary: Path, flags: dict[str, object]) -> int:
        """Start ``binary --flag=value ...``, logging to ``<workdir>/<name>.log``."""
        logfile = open(self.workdir / f"{name}.log", "wb")
        try:
            proc = subprocess.Popen(
                [str(binary), *(f"--{k}={v}" for k, v in flags.items())],
                stdin=subprocess.DEVNULL,
                stdout=logfile,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=None if self.detach else _die_with_parent,
            )
        finally:
            logfile.close()
        self._procs.append(proc)
        return proc.pid

    def _log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / f"{name}.log"
        text = path.read_text(errors="replace") if path.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def _get(self, url: str, timeout: float = 5) -> tuple[int, bytes]:
        ctx = ssl.create_default_context(cafile=str(self.ca)) if url.startswith("https") else None
        auth = {"Authorization": f"Bearer {self.token}"}
        req = urllib.request.Request(url, headers=auth)  # noqa: S310 (http(s) on loopback)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=ctx) as resp:  # noqa: S310
                return int(resp.status), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _wait(self, name: str, url: str, pid: int, timeout: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if not _alive(pid):
                raise RuntimeError(f"{name} exited during start:\n{self._log_tail(name)}")
            try:
                status, body = self._get(url, timeout=2)
                if status == 200:
                    return
                last = f"HTTP {status}: {body[:300]!r}"
            except (OSError, urllib.error.URLError) as exc:
                last = str(exc)
            time.sleep(0.2)
        raise RuntimeError(
            f"{name} not ready at {url} within {timeout:.0f} s ({last}):\n{self._log_tail(name)}"
        )

    # -- kubectl -------------------------------------------------------------------------

    def _write_kubeconfig(self, path: Path, namespace: str) -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "catmatch",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca)},
                }
            ],
            "users": [{"name": "catmatch-admin", "user": {"token": self.token}}],
            "contexts": [
                {
                    "name": "catmatch",
                    "context": {
                        "cluster": "catmatch",
                        "user": "catmatch-admin",
                        "namespace": namespace,
                    },
                }
            ],
            "current-context": "catmatch",
        }
        path.write_text(json.dumps(config, indent=2) + "\n")  # JSON is YAML
        path.chmod(0o600)
        return path

    def kubeconfig(self, namespace: str = "default") -> Path:
        """A kubeconfig whose context sets ``namespace`` (objects that name their own
        namespace keep it; ``kubectl -n`` would reject them instead)."""
        path = self.workdir / f"kubeconfig-{namespace}"
        return path if path.is_file() else self._write_kubeconfig(path, namespace)

    def kubectl(
        self,
        *args: str,
        namespace: str = "default",
        stdin: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """kubectl against this server (not checked: look at returncode yourself)."""
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        cmd = [
            str(self.tools.kubectl),
            f"--kubeconfig={self.kubeconfig(namespace)}",
            f"--cache-dir={self.workdir / 'kube-cache'}",
            *args,
        ]
        return subprocess.run(
            cmd, input=stdin, capture_output=True, text=True, timeout=timeout, env=env
        )

    def _kubectl_ok(self, *args: str, timeout: float = 120) -> str:
        out = self.kubectl(*args, timeout=timeout)
        if out.returncode:
            raise RuntimeError(f"kubectl {' '.join(args)}:\n{(out.stdout + out.stderr)[-4000:]}")
        return out.stdout

    def install_crds(self, timeout: float = CRD_TIMEOUT_S) -> int:
        """Server-side apply (several CRDs exceed the 256 KiB client-side annotation), then
        wait until each is Established and each served version is in discovery. Polled
        through the API directly: `kubectl wait` on 40-odd CRDs takes seconds longer."""
        files = [a for f in self.tools.crd_files() for a in ("-f", str(f))]
        self._kubectl_ok(
            "apply", "--server-side", "--field-manager=catmatch-crds", *files, timeout=timeout
        )
        deadline = time.monotonic() + timeout
        crds = self._poll(
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            lambda body: [c["metadata"]["name"] for c in body["items"] if not _established(c)],
            deadline,
        )["items"]

        def served(plural: str) -> Callable[[dict[str, Any]], list[str]]:
            return lambda body: [] if plural in _resource_names(body) else [plural]

        for crd in crds:
            spec = crd["spec"]
            for version in (v["name"] for v in spec["versions"] if v.get("served")):
                self._poll(
                    f"/apis/{spec['group']}/{version}", served(spec["names"]["plural"]), deadline
                )
        return len(crds)

    def _poll(
        self, path: str, missing: Callable[[dict[str, Any]], list[str]], deadline: float
    ) -> dict[str, Any]:
        """GET ``path`` until ``missing(json)`` lists nothing; returns that JSON."""
        while True:
            status, raw = self._get(self.url + path)
            left = missing(json.loads(raw)) if status == 200 else [f"HTTP {status}"]
            if not left:
                return dict(json.loads(raw))
            if time.monotonic() > deadline:
                raise RuntimeError(f"{path} not ready in time: {left[:10]}")
            time.sleep(0.2)

    # -- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop kube-apiserver, then etcd, by PID (idempotent)."""
        for pid, binary in (
            (self.apiserver_pid, self.tools.kube_apiserver),
            (self.etcd_pid, self.tools.etcd),
        ):
            if pid:
                stop_pid(pid, str(binary))
        for proc in self._procs:  # reap our own children
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        self._procs.clear()
        self.apiserver_pid = self.etcd_pid = 0


def _tmp_root() -> str | None:
    """etcd fsyncs every write: keep its data in memory when /dev/shm is there."""
    shm = Path("/dev/shm")  # noqa: S108 (a private mkdtemp inside it)
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


# -- CLI -------------------------------------------------------------------------------------


def _state_file() -> Path:
    return RUN_DIR / "state.json"


def cmd_start(args: argparse.Namespace) -> int:
    state = _state_file()
    if state.is_file():
        data = json.loads(state.read_text())
        if _alive(data["apiserver_pid"]):
            print(f"already running: export KUBECONFIG={data['kubeconfig']}")
            return 0
        cmd_stop(args)
    tools = prepare()
    workdir = Path(tempfile.mkdtemp(prefix="catmatch-k8s-", dir=_tmp_root()))
    server = ApiServer(tools, workdir, detach=True)
    try:
        server.start(crds=not args.no_crds)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps(
            {
                "workdir": str(workdir),
                "kubeconfig": str(workdir / "kubeconfig"),
                "url": server.url,
                "apiserver_pid": server.apiserver_pid,
                "etcd_pid": server.etcd_pid,
                "kube_apiserver": str(tools.kube_apiserver),
                "etcd": str(tools.etcd),
                "kubectl": str(tools.kubectl),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"export KUBECONFIG={workdir / 'kubeconfig'}")
    print(f"# kubectl: {tools.kubectl}; stop with: python {sys.argv[0]} stop")
    return 0


def cmd_stop(_args: argparse.Namespace) -> int:
    state = _state_file()
    if not state.is_file():
        log("not running")
        return 0
    data = json.loads(state.read_text())
    stop_pid(int(data["apiserver_pid"]), data["kube_apiserver"])
    stop_pid(int(data["etcd_pid"]), data["etcd"])
    shutil.rmtree(data["workdir"], ignore_errors=True)
    state.unlink()
    log("stopped")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise SystemExit("run: give a command, e.g. run -- kubectl get crd")
    with ApiServer.running(prepare(), crds=not args.no_crds) as server:
        env = {**os.environ, "KUBECONFIG": str(server.workdir / "kubeconfig")}
        env["PATH"] = f"{server.tools.kubectl.parent}{os.pathsep}{env.get('PATH', '')}"
        return subprocess.run(command, env=env).returncode


def cmd_prepare(args: argparse.Namespace) -> int:
    try:
        prepare()
    except Unavailable as exc:
        if not args.if_possible:
            raise
        log(f"cannot prepare here ({exc}); the server-side dry-run tests skip (fail under CI)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare", help="install etcd, build kube-apiserver/kubectl, fetch CRDs")
    p.add_argument(
        "--if-possible",
        action="store_true",
        help="exit 0 when this machine cannot (no Go, no network, no etcd)",
    )
    p.set_defaults(func=cmd_prepare)
    for name, handler, text in (
        ("start", cmd_start, "start in the background and print KUBECONFIG"),
        ("run", cmd_run, "start, run a command with KUBECONFIG set, stop"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("--no-crds", action="store_true", help="do not install the CRDs")
        p.set_defaults(func=handler)
        if name == "run":
            p.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("stop", help="stop what `start` started").set_defaults(func=cmd_stop)
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    return func(args)


if __name__ == "__main__":
    sys.exit(main())
