"""Container images made on this machine: no registry is reachable from it.

- pause: a static C program (waits for SIGTERM, reaps children) packaged with umoci and
  copied with skopeo to a docker-archive named ``registry.k8s.io/pause:3.10``.
- CoreDNS: the binary built from its Go module, packaged the same way.
- The Debian bookworm base with Python 3.11, from mmdebstrap, committed with buildah so
  ``buildah bud --pull-never`` can build ``FROM`` it.
- The project's images (``make images``): ``buildah bud`` of docker/*.Dockerfile.
Every archive is cached under ``~/.cache/category-match/images``; :func:`import_archive`
puts one into the node's containerd (pods use ``imagePullPolicy: Never``).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from localkube import paths
from localkube.proc import du, log, run
from localkube.render import PAUSE_IMAGE

PAUSE_C = r"""/* The pod sandbox's first process: holds its namespaces, reaps, exits on TERM. */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }

static void reap(int sig) {
  (void)sig;
  while (waitpid(-1, 0, WNOHANG) > 0) {
  }
}

int main(void) {
  struct sigaction quit = {0}, child = {0};
  quit.sa_handler = stop;
  sigaction(SIGINT, &quit, 0);
  sigaction(SIGTERM, &quit, 0);
  child.sa_handler = reap;
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  sigaction(SIGCHLD, &child, 0);
  for (;;) pause();
}
"""

BASE_IMAGE = "localhost/catmatch/debian-python:bookworm"
COREDNS_IMAGE = "localhost/catmatch/coredns:v1.15.0"
DEBIAN_MIRROR = "http://deb.debian.org"
# python3-venv: the Dockerfiles make a venv; passwd: they add the catmatch user.
BASE_PACKAGES = ("python3", "python3-venv", "passwd", "ca-certificates")
# Docs, man pages and translations are not needed in an image.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")


@dataclass(frozen=True)
class Archive:
    """A docker-archive file, the image name inside it, and more names for it in containerd."""

    path: Path
    name: str
    aliases: tuple[str, ...] = ()


def archive_dir() -> Path:
    paths.IMAGES.mkdir(parents=True, exist_ok=True)
    return paths.IMAGES


def _record(name: str, started: float, path: Path) -> None:
    meta = {"image": name, "build_s": round(time.monotonic() - started, 1), "bytes": du(path)}
    path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    log(f"image {name}: {meta['bytes'] / 2**20:.0f} MiB archive in {meta['build_s']} s")


# -- single-binary images (umoci + skopeo) ---------------------------------------------------


def binary_image(
    name: str, binary: Path, target: str, entrypoint: Sequence[str], user: str, out: Path
) -> Archive:
    """An image holding one static binary, as a docker-archive."""
    if out.is_file():
        return Archive(out, name)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="catmatch-image-") as tmp:
        layout = Path(tmp) / "oci"
        tag = "latest"
        run(["umoci", "init", "--layout", layout])
        run(["umoci", "new", "--image", f"{layout}:{tag}"])
        run(["umoci", "insert", "--image", f"{layout}:{tag}", binary, target])
        config = [f"--config.entrypoint={e}" for e in entrypoint]
        run(
            ["umoci", "config", "--image", f"{layout}:{tag}", *config, f"--config.user={user}",
             "--os=linux", "--architecture=amd64", "--author=category-match"]
        )  # fmt: skip
        staged = out.with_suffix(".tmp")
        staged.unlink(missing_ok=True)
        run(["skopeo", "copy", "--quiet", f"oci:{layout}:{tag}", f"docker-archive:{staged}:{name}"])
        staged.replace(out)
    _record(name, started, out)
    return Archive(out, name)


def pause_image() -> Archive:
    """registry.k8s.io/pause:3.10, made here: gcc -static of :data:`PAUSE_C`."""
    out = archive_dir() / "pause-3.10.tar"
    if out.is_file():
        return Archive(out, PAUSE_IMAGE)
    with tempfile.TemporaryDirectory(prefix="catmatch-pause-") as tmp:
        src, binary = Path(tmp) / "pause.c", Path(tmp) / "pause"
        src.write_text(PAUSE_C)
        run(["gcc", "-static", "-Os", "-s", "-Wall", "-Werror", "-o", binary, src])
        return binary_image(PAUSE_IMAGE, binary, "/pause", ["/pause"], "65535:65535", out)


def coredns_image(coredns: Path) -> Archive:
    out = archive_dir() / "coredns-v1.15.0.tar"
    return binary_image(COREDNS_IMAGE, coredns, "/coredns", ["/coredns"], "65532:65532", out)


# -- the Debian base (mmdebstrap + buildah) --------------------------------------------------


def _base_key() -> str:
    spec = {"suite": "bookworm", "packages": BASE_PACKAGES, "excludes": DPKG_EXCLUDES}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]


def base_rootfs() -> Path:
    """Debian bookworm minbase + Python 3.11 as a tarball (about 150 s the first time)."""
    out = archive_dir() / f"debian-bookworm-python-{_base_key()}.rootfs.tar"
    if out.is_file():
        return out
    started = time.monotonic()
    staged = out.with_suffix(".tmp")
    sources = [
        f"deb {DEBIAN_MIRROR}/debian bookworm main",
        f"deb {DEBIAN_MIRROR}/debian bookworm-updates main",
        f"deb {DEBIAN_MIRROR}/debian-security bookworm-security main",
    ]
    excludes = [f"--dpkgopt=path-exclude={p}" for p in DPKG_EXCLUDES]
    run(
        ["mmdebstrap", "--quiet", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
         "--aptopt=Acquire::Languages \"none\"", *excludes, "--format=tar", "bookworm", staged,
         *sources],
        timeout=1800,
        nice=True,
    )  # fmt: skip
    staged.replace(out)
    log(f"Debian bookworm rootfs: {du(out) / 2**20:.0f} MiB in {time.monotonic() - started:.0f} s")
    return out


def buildah_has(image: str) -> bool:
    return run(["buildah", "inspect", "--type", "image", image], check=False).returncode == 0


def base_image() -> Archive:
    """The base in buildah's storage (for ``FROM``) and as a docker-archive (for containerd)."""
    out = archive_dir() / "debian-python-bookworm.tar"
    if buildah_has(BASE_IMAGE) and out.is_file():
        return Archive(out, BASE_IMAGE)
    rootfs = base_rootfs()
    started = time.monotonic()
    if not buildah_has(BASE_IMAGE):
        ctr = run(["buildah", "from", "scratch"]).stdout.strip()
        try:
            run(["buildah", "add", "--quiet", ctr, rootfs, "/"], timeout=900)
            run(
                ["buildah", "config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                 "/usr/bin:/sbin:/bin", "--env", "LANG=C.UTF-8", "--cmd", "python3",
                 "--os", "linux", "--arch", "amd64", ctr]
            )  # fmt: skip
            run(["buildah", "commit", "--quiet", "--rm", ctr, BASE_IMAGE], timeout=900)
        except BaseException:
            run(["buildah", "rm", ctr], check=False)
            raise
    push(BASE_IMAGE, out)
    _record(BASE_IMAGE, started, out)
    return Archive(out, BASE_IMAGE)


def push(image: str, out: Path, aliases: Sequence[str] = ()) -> Archive:
    """buildah storage -> docker-archive file (replaced)."""
    staged = out.with_suffix(".tmp")
    staged.unlink(missing_ok=True)
    run(["buildah", "push", "--quiet", image, f"docker-archive:{staged}:{image}"], timeout=1800)
    staged.replace(out)
    return Archive(out, image, tuple(aliases))


# -- containerd ------------------------------------------------------------------------------


def normalize(ref: str) -> str:
    """An image reference as containerd's CRI looks it up (Docker's normalisation): a name
    without a registry is on docker.io, a one-part name under library/. ``ctr images tag``
    stores names verbatim, so aliases must be written this way to be found by pods."""
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return ref
    return f"docker.io/{ref}" if rest else f"docker.io/library/{ref}"


def ctr(sock: Path, *args: str | Path, timeout: float = 1800) -> str:
    return run(["ctr", "--address", sock, "--namespace", "k8s.io", *args], timeout=timeout).stdout


def containerd_images(sock: Path) -> set[str]:
    return set(ctr(sock, "images", "list", "--quiet").split())


def import_archive(sock: Path, archive: Archive, *, force: bool = False) -> bool:
    """Import into the node's containerd unless it has the image, and give it its aliases
    (the same layers under another name, e.g. the chart's node values); returns whether it
    imported."""
    present = containerd_images(sock)
    imported = force or normalize(archive.name) not in present
    if imported:
        started = time.monotonic()
        ctr(sock, "images", "import", archive.path)
        log(f"imported {archive.name} into containerd in {time.monotonic() - started:.1f} s")
    for alias in map(normalize, archive.aliases):
        if imported or alias not in present:
            ctr(sock, "images", "tag", "--force", normalize(archive.name), alias)
    return imported


# -- the project's images (make images) ------------------------------------------------------


@dataclass(frozen=True)
class AppImage:
    """One ``buildah bud`` of a Dockerfile target."""

    dockerfile: str
    name: str
    target: str | None = None
    build_args: Mapping[str, str] | None = None
    aliases: tuple[str, ...] = ()


def app_images(
    registry: str,
    tag: str,
    model_dir: str,
    model_version: str,
    base: str = BASE_IMAGE,
    *,
    onnx_dir: str | None = None,
    torch: bool = False,
) -> list[AppImage]:
    """Worker and predictor: the store-only targets and the baked-model default ones.

    The node's predictor is the CPU image (``EXTRA=serve-cpu``: ONNX Runtime, no torch) with
    ``onnx_dir`` (the model exported to ONNX int8) baked in, tagged
    ``category-match/predictor:dev``; ``torch=True`` adds the full torch images (PyPI's CUDA
    build, the CPU index is not reachable here: 6.4 GiB, 20 min). Both targets of a
    Dockerfile get the same build arguments: buildah's layer cache keys on them, so the
    baked build reuses every layer of the store build.
    """
    args = {"BASE_IMAGE": base, "MODEL_DIR": model_dir, "MODEL_VERSION": model_version}
    # The chart's ci/node-values.yaml names the baked images category-match/<name>:dev.
    wanted = [
        AppImage("docker/worker.Dockerfile", f"{registry}/category-match-worker:{tag}",
                 "store", args),
        AppImage("docker/worker.Dockerfile",
                 f"{registry}/category-match-worker:{tag}-{model_version}", None, args,
                 ("category-match/worker:dev",)),
    ]  # fmt: skip
    predictor = f"{registry}/category-match-predictor"
    if onnx_dir is not None:
        cpu = {**args, "MODEL_DIR": onnx_dir, "EXTRA": "serve-cpu", "RUNTIME": "onnx",
               "TORCH_INDEX_URL": "", "MODEL_VERSION": f"{model_version}-onnx"}  # fmt: skip
        wanted += [
            AppImage("docker/predictor.Dockerfile", f"{predictor}:{tag}-cpu", "store", cpu),
            AppImage("docker/predictor.Dockerfile", f"{predictor}:{tag}-{model_version}-onnx",
                     None, cpu, ("category-match/predictor:dev",)),
        ]  # fmt: skip
    if torch:
        full = {**args, "TORCH_INDEX_URL": ""}
        aliases = () if onnx_dir is not None else ("category-match/predictor:dev",)
        wanted += [
            AppImage("docker/predictor.Dockerfile", f"{predictor}:{tag}", "store", full),
            AppImage("docker/predictor.Dockerfile", f"{predictor}:{tag}-{model_version}", None,
                     full, aliases),
        ]  # fmt: skip
    return wanted


# category-match/kafka:dev in deploy/kafka/ci/node-values.yaml, as the CRI names it.
KAFKA_IMAGE = "docker.io/category-match/kafka:dev"
KAFKA_LIBS = "var/kafka-image/libs"  # in the build context (.dockerignore keeps it)


def kafka_image(base: str = BASE_IMAGE) -> AppImage:
    """deploy/kafka's runtime image: Java 17 and the jars of transport/broker/pom.xml."""
    return AppImage("docker/kafka.Dockerfile", KAFKA_IMAGE, None,
                    {"BASE_IMAGE": base, "KAFKA_LIBS": KAFKA_LIBS})  # fmt: skip


def stage_kafka_libs(repo: Path, resolved: Path) -> Path:
    """Copy the resolved jars into the build context (replacing what was there)."""
    dest = repo / KAFKA_LIBS
    shutil.rmtree(dest, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(resolved, dest)
    return dest


def bud_command(image: AppImage, context: Path, extra: Sequence[str] = ()) -> list[str]:
    """The buildah command line of one image (pure: the tests read it)."""
    cmd = ["buildah", "bud", "--pull-never", "--isolation", "chroot", "--layers"]
    cmd += ["-f", image.dockerfile, "-t", image.name]
    if image.target:
        cmd += ["--target", image.target]
    for key, value in sorted((image.build_args or {}).items()):
        cmd += ["--build-arg", f"{key}={value}"]
    return [*cmd, *extra, str(context)]


def host_ca_mounts() -> list[str]:
    """Build-time only: when this machine reaches PyPI through a TLS-inspecting proxy whose
    CA is in the host's bundle (``PIP_CERT``/``REQUESTS_CA_BUNDLE``), lay that bundle over the
    image's own for the RUN steps and tell pip (the Dockerfiles' ``PIP_BUILD_CA_BUNDLE``
    build argument). Nothing of it is committed to a layer."""
    for var in ("PIP_CERT", "REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        bundle = os.environ.get(var)
        if bundle and Path(bundle).is_file():
            target = "/etc/ssl/certs/ca-certificates.crt"
            return ["--volume", f"{bundle}:{target}:ro", "--build-arg",
                    f"PIP_BUILD_CA_BUNDLE={target}"]  # fmt: skip
    return []


def build_context(repo: Path, dest: Path, ignored: Sequence[str]) -> Path:
    """What the Dockerfiles build from: the files committed at HEAD (``git archive``), plus
    the ignored inputs they copy (``ignored``: the model directories, the Kafka jars).

    Others edit the working tree while a build runs; an image made from HEAD holds what a
    fresh clone would build, never a half-written file. Without a Git checkout (a source
    tarball) the tree itself is the context.
    """
    if not (repo / ".git").exists():
        return repo
    staged = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    run(["git", "-C", repo, "archive", "--format=tar", "-o", staged / "head.tar", "HEAD"])
    run(["tar", "-x", "-f", staged / "head.tar", "-C", staged])
    (staged / "head.tar").unlink()
    for rel in ignored:
        src = repo / rel
        if src.exists():
            (staged / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copytree(src, staged / rel, copy_function=_link_or_copy)
    shutil.rmtree(dest, ignore_errors=True)
    staged.replace(dest)
    return dest


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def image_id(image: str) -> str:
    """buildah's image ID of ``image`` (the digest of its config)."""
    return run(["buildah", "inspect", "--type", "image", "--format", "{{.FromImageID}}",
                image]).stdout.strip()  # fmt: skip


# -- what the node's containerd holds (its record lives and dies with the run directory) ---


def node_images(run_dir: Path) -> dict[str, str]:
    """{image name: buildah image ID} of the app images imported into this node."""
    try:
        return dict(json.loads((run_dir / "images.json").read_text()))
    except (OSError, json.JSONDecodeError):
        return {}


def note_imported(run_dir: Path, name: str, built_id: str) -> None:
    record = node_images(run_dir) | {name: built_id}
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / "images.json.tmp"
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(run_dir / "images.json")


def input_key(image: AppImage, sources: Mapping[str, str]) -> str:
    """What a build of ``image`` depends on: its Dockerfile, target and arguments, and
    ``sources`` (HEAD's tree and digests of the ignored inputs, see :func:`tree_digest`)."""
    spec = {"dockerfile": image.dockerfile, "target": image.target, "name": image.name,
            "args": dict(image.build_args or {}), "sources": dict(sources)}  # fmt: skip
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def tree_digest(root: Path) -> str:
    """A digest of every file's path and content under ``root`` ("" when it is missing)."""
    if not root.exists():
        return ""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def build_app_images(
    context: Callable[[], Path],
    images: Sequence[AppImage],
    keys: Mapping[str, str],
    *,
    sock: Path | None = None,
    run_dir: Path | None = None,
) -> dict[str, dict[str, object]]:
    """Build each image unless its inputs are unchanged (``keys``, :func:`input_key`), then
    hand it to the node unless the node already holds this very build.

    ``context`` makes the build context when a build is needed; ``buildah bud``'s layer
    cache then reuses every unchanged layer. ``run_dir``'s record says which build of each
    image the node imported; a new build is pushed to a docker-archive (transport only) and
    imported now when the node runs (``sock``), else by the next ``up``. The results (times,
    sizes, IDs, keys) are merged into ``app-images.json``.
    """
    results: dict[str, dict[str, object]] = {}
    began = time.time()
    extra = host_ca_mounts()
    held = node_images(run_dir) if run_dir is not None else {}
    pending = {a.name: built_id for a, built_id in pending_archives()}
    recorded = _results()
    where: Path | None = None
    for image in images:
        started = time.monotonic()
        last = recorded.get(image.name) or {}
        entry: dict[str, object] = {"aliases": list(image.aliases), "node_has_it": False}
        if last.get("input_key") == keys[image.name] and buildah_has(image.name) and (
            image_id(image.name) == last.get("image_id")
        ):
            built_id = str(last["image_id"])
            entry["built"] = False
        else:
            where = where or context()
            log(f"buildah bud {image.name} ({image.dockerfile}, "
                f"target {image.target or 'default'})")  # fmt: skip
            run(bud_command(image, where, extra), cwd=where, timeout=3600, nice=True)
            built_id = image_id(image.name)
            entry |= {"built": True, "bud_s": round(time.monotonic() - started, 1)}
        entry |= {"image_id": built_id, "input_key": keys[image.name]}
        built = time.monotonic()
        out = archive_dir() / (image.name.rsplit("/", 1)[-1].replace(":", "-") + ".tar")
        if held.get(image.name) == built_id:
            entry["node_has_it"] = True
            results[image.name] = entry
            log(f"{image.name}: {built_id[:12]} is on the node already")
            _merge_results(results)
            continue
        if pending.get(image.name) == built_id and out.is_file():
            archive, pushed = Archive(out, image.name, tuple(image.aliases)), built
            log(f"{image.name}: {built_id[:12]}, its archive waits for `up`")
        else:
            archive = push(image.name, out, image.aliases)
            pushed = time.monotonic()
            entry["push_s"] = round(pushed - built, 1)
        entry |= {"archive": str(out), "bytes": du(out)}
        if sock is not None and run_dir is not None:
            import_archive(sock, archive, force=True)  # with its aliases
            note_imported(run_dir, image.name, built_id)
            entry["import_s"] = round(time.monotonic() - pushed, 1)
            remove_archive(out)  # transport only: containerd and buildah hold the image
        results[image.name] = entry
        log(f"{image.name}: {json.dumps(entry)}")
        _merge_results(results)
    if where is not None:
        prune_superseded(began)
    return results


def superseded(listing: Sequence[Mapping[str, object]], before: float) -> list[str]:
    """The IDs in ``buildah images --json --filter dangling=true`` output that an earlier
    build left: unnamed, and made before ``before`` (a Unix time)."""
    return [str(i["id"]) for i in listing
            if not i.get("names") and float(str(i.get("created") or 0)) < before]  # fmt: skip


def prune_superseded(before: float) -> None:
    """Remove what earlier builds left behind.

    Each rebuild moves a tag and leaves the old image, and every unnamed stage it copied
    from, behind: about 2.7 GB for the four app images, so repeated ``make test-cluster``
    runs filled this disk. buildah removes an image's unnamed parents with it unless a
    newer image still builds on them, so this build's layer cache stays.
    """
    listing = run(["buildah", "images", "--json", "--filter", "dangling=true"], check=False)
    try:
        old = superseded(json.loads(listing.stdout or "[]") or [], before)
    except (ValueError, TypeError):
        return
    if old:
        log(f"removing {len(old)} image(s) earlier builds left behind")
        run(["buildah", "rmi", *old], check=False, timeout=900)


def app_archives() -> list[Archive]:
    """The project's images built (``make images``) and not yet imported, as archives."""
    return [a for a, _ in pending_archives()]


def pending_archives() -> list[tuple[Archive, str]]:
    """(archive, buildah image ID) of every built image not yet imported into a node."""
    try:
        data = json.loads((archive_dir() / "app-images.json").read_text())
    except (OSError, json.JSONDecodeError):
        return []
    found: dict[Path, tuple[Archive, str]] = {}
    for name, r in data.items():
        path = Path(r.get("archive") or "")
        if not path.is_file() or (path in found and not r.get("image_id")):
            continue  # one archive per file: an entry from before image IDs were kept loses
        archive = Archive(path, name, tuple(r.get("aliases") or ()))
        found[path] = (archive, str(r.get("image_id") or ""))
    return list(found.values())


def _results() -> dict[str, dict[str, object]]:
    try:
        return dict(json.loads((archive_dir() / "app-images.json").read_text()))
    except (OSError, json.JSONDecodeError):
        return {}


def _merge_results(results: Mapping[str, Mapping[str, object]]) -> None:
    path = archive_dir() / "app-images.json"
    data = _results()
    for name, entry in results.items():  # a cached build keeps its last push's figures
        merged = {**data.get(name, {}), **entry}
        if entry.get("node_has_it"):  # an older archive of it is no longer wanted
            merged.pop("archive", None)
        data[name] = merged
    path.write_text(json.dumps(data, indent=2) + "\n")


def remove_archive(path: Path) -> None:
    """An app image's archive once the node has it (the predictor's is 6-7 GB)."""
    path.unlink(missing_ok=True)

