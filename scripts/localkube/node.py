"""up / down / status of the single-node cluster.

``up`` starts, in order, containerd, etcd, kube-apiserver, kube-controller-manager,
kube-scheduler, kubelet and kube-proxy as processes of this machine (PIDs in
``<run dir>/state.json``), then CoreDNS as a pod. A component already running is left
alone, so ``up`` is idempotent. Every wait is bounded and fails naming the component and
its log. ``down`` stops them by PID and undoes the host changes (see :mod:`localkube.host`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from localkube import gobuild, host, images, manifests, pki, render, targets
from localkube.proc import (
    NotReady,
    Unavailable,
    cmdline,
    log,
    run,
    runs,
    spawn,
    stop_pid,
    stop_pids,
    tail,
    wait_started,
)
from localkube.render import Layout

READY_S = 90.0  # per component
NODE_READY_S = 120.0
ORDER = (
    "containerd",
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubelet",
    "kube-proxy",
)
USERS = ("admin", "controller-manager", "scheduler", "kube-proxy", "kubelet")


@dataclass(frozen=True)
class Binaries:
    kubernetes: dict[str, Path]
    coredns: Path
    etcd: Path
    containerd: Path

    def of(self, component: str) -> Path:
        if component in ("containerd", "etcd"):
            return Path(getattr(self, component))
        return self.kubernetes[component]

    @property
    def kubectl(self) -> Path:
        return self.kubernetes["kubectl"]


def prepare_binaries() -> Binaries:
    """apt packages, then Kubernetes and CoreDNS built in parallel (cached)."""
    host.ensure_packages()
    with ThreadPoolExecutor(max_workers=2) as pool:
        k8s = pool.submit(gobuild.ensure, targets.KUBERNETES)
        dns = pool.submit(gobuild.ensure, targets.COREDNS)
        kubernetes, coredns = k8s.result(), dns.result()["coredns"]
    freed = gobuild.prune_build_cache()
    if freed:
        log(f"deleted the Go build cache ({freed / 2**30:.1f} GiB); the module cache stays")
    etcd, containerd = shutil.which("etcd"), shutil.which("containerd")
    if not etcd or not containerd:
        raise Unavailable("etcd or containerd is not on PATH after installing the packages")
    return Binaries(kubernetes, coredns, Path(etcd), Path(containerd))


class Node:
    """One cluster in one run directory."""

    def __init__(self, lay: Layout, bins: Binaries | None = None) -> None:
        self.lay = lay
        self._bins = bins

    @property
    def bins(self) -> Binaries:
        if self._bins is None:
            self._bins = prepare_binaries()
        return self._bins

    # -- state ---------------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.lay.run / "state.json"

    def state(self) -> dict[str, dict[str, object]]:
        try:
            return dict(json.loads(self.state_file.read_text())["components"])
        except (OSError, json.JSONDecodeError, KeyError):
            return {}

    def _save(self, components: dict[str, dict[str, object]]) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps({"components": components}, indent=2) + "\n")
        tmp.replace(self.state_file)

    def running(self, component: str) -> int:
        pid, binary = _pid_binary(self.state().get(component) or {})
        return pid if pid and runs(pid, binary) else 0

    # -- up ------------------------------------------------------------------------------

    def up(self) -> dict[str, float]:
        if os.geteuid() != 0:
            raise Unavailable("the cluster needs root (containerd, iptables, mounts)")
        started = time.monotonic()
        # Whole seconds: the API server reports heartbeats without fractions.
        start_time = datetime.now(UTC).replace(microsecond=0)
        timings: dict[str, float] = {}
        bins = self.bins
        timings["binaries_s"] = time.monotonic() - started
        lay = self.lay
        for sub in ("config", "logs", "cni/net.d", "containerd"):
            (lay.run / sub).mkdir(parents=True, exist_ok=True)
        host.save(lay.run / "host-state.json")
        self._node_link()
        self._write_configs()
        spawned = []
        for component in ORDER:
            t = time.monotonic()
            if self._start(component, bins.of(component)):
                spawned.append(component)
            timings[f"{component}_s"] = time.monotonic() - t
            if component == "containerd":
                t = time.monotonic()
                self._import_images()
                timings["images_s"] = time.monotonic() - t
        self._isolate()
        t = time.monotonic()
        self.wait_node_ready(since=start_time if "kubelet" in spawned else None)
        timings["node_ready_s"] = time.monotonic() - t
        t = time.monotonic()
        self._coredns()
        timings["coredns_s"] = time.monotonic() - t
        timings["total_s"] = time.monotonic() - started
        rounded = {k: round(v, 1) for k, v in timings.items()}
        (lay.run / "up-timings.json").write_text(json.dumps(rounded, indent=2) + "\n")
        return rounded

    def _node_link(self) -> None:
        """A link of its own holds the node's address: the API server, kubelet and NodePorts
        listen there and nowhere else. An empty bridge, as this VM's kernel has no dummy
        driver (an address is local whether or not its link has a carrier)."""
        lay = self.lay
        if not host.link_exists(lay.node_link):
            run(["ip", "link", "add", lay.node_link, "type", "bridge"])
        addrs = run(["ip", "-o", "addr", "show", "dev", lay.node_link]).stdout
        if f" {lay.node_ip}/" not in addrs:
            run(["ip", "addr", "add", f"{lay.node_ip}/32", "dev", lay.node_link])
        run(["ip", "link", "set", lay.node_link, "up"])

    def _write_configs(self) -> None:
        lay = self.lay
        pki.make(lay.pki, lay.node, lay.node_ip, lay.api_service_ip)
        files = {
            lay.config("containerd.toml"): render.containerd_config(lay),
            lay.run / "cni" / "net.d" / "10-catmatch.conflist": render.cni_conflist(lay),
            lay.config("kubelet.yaml"): render.kubelet_config(lay),
            lay.config("kube-proxy.yaml"): render.kube_proxy_config(lay),
        }
        certs = {
            "admin": "admin",
            "controller-manager": "controller-manager",
            "scheduler": "scheduler",
            "kube-proxy": "kube-proxy",
            "kubelet": "kubelet-client",
        }
        for user, cert in certs.items():
            files[lay.kubeconfig(user)] = pki.kubeconfig(
                lay.api_url, lay.pki / "ca.crt", lay.pki / f"{cert}.crt", lay.pki / f"{cert}.key"
            )
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for user in USERS:
            lay.kubeconfig(user).chmod(0o600)

    def _args(self, component: str) -> list[str]:
        lay = self.lay
        return {
            "containerd": lambda: ["--config", str(lay.config("containerd.toml"))],
            "etcd": lambda: render.etcd_args(lay),
            "kube-apiserver": lambda: render.apiserver_args(lay),
            "kube-controller-manager": lambda: render.controller_manager_args(lay),
            "kube-scheduler": lambda: render.scheduler_args(lay),
            "kubelet": lambda: render.kubelet_args(lay),
            "kube-proxy": lambda: render.kube_proxy_args(lay),
        }[component]()

    def _health(self, component: str) -> Callable[[], str]:
        """A probe returning "" when healthy, else what it saw."""
        lay = self.lay
        if component == "containerd":
            return lambda: "" if self._ctr_ok() else "no answer on its socket"
        urls = {
            "etcd": f"http://127.0.0.1:{lay.etcd_port}/health",
            "kube-apiserver": f"{lay.api_url}/readyz",
            "kube-controller-manager": "https://127.0.0.1:10257/healthz",
            "kube-scheduler": "https://127.0.0.1:10259/healthz",
            "kubelet": "http://127.0.0.1:10248/healthz",
            "kube-proxy": "http://127.0.0.1:10256/healthz",
        }
        return lambda: self._get_ok(urls[component])

    def _ctr_ok(self) -> bool:
        sock = self.lay.containerd_sock
        if not sock.exists():
            return False
        out = run(["ctr", "--address", sock, "version"], check=False, timeout=10)
        return out.returncode == 0

    def _get_ok(self, url: str) -> str:
        ctx = None
        if url.startswith("https"):
            ctx = ssl.create_default_context(cafile=str(self.lay.pki / "ca.crt"))
            ctx.load_cert_chain(self.lay.pki / "admin.crt", self.lay.pki / "admin.key")
            if "127.0.0.1" in url:  # controller-manager, scheduler: self-signed serving certs
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
        try:
            with urllib.request.urlopen(url, timeout=3, context=ctx) as resp:  # noqa: S310
                return "" if resp.status == 200 else f"HTTP {resp.status}"
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code}: {exc.read()[:200]!r}"
        except (OSError, urllib.error.URLError) as exc:
            return str(exc)

    def _start(self, component: str, binary: Path) -> bool:
        """Start ``component`` unless it runs; wait until healthy. Returns whether started."""
        health = self._health(component)
        logfile = self.lay.logs / f"{component}.log"
        pid = self.running(component)
        if pid and not health():
            return False
        started = not pid
        if started:
            pid = spawn([binary, *self._args(component)], logfile, env=_env())
            components = self.state()
            components[component] = {"pid": pid, "binary": str(binary), "log": str(logfile)}
            self._save(components)
        wait_started(component, health, pid, logfile, READY_S)
        return started

    def _import_images(self) -> None:
        sock = self.lay.containerd_sock
        wanted = [images.pause_image(), images.coredns_image(self.bins.coredns)]
        for archive in [*wanted, images.base_image()]:
            images.import_archive(sock, archive)
        for archive, built_id in images.pending_archives():  # transport: dropped once imported
            if not archive.path.is_file():
                continue
            images.import_archive(sock, archive, force=True)
            images.note_imported(self.lay.run, archive.name, built_id)
            images.remove_archive(archive.path)

    def _isolate(self) -> None:
        """Pods may talk to each other and to this machine, never beyond it."""
        exists = run(["iptables", "-S", "CATMATCH-ISOLATE"], check=False).returncode == 0
        if not exists:
            for rule in render.isolation_rules(self.lay):
                run(["iptables", *rule])

    # -- kubectl -------------------------------------------------------------------------

    def kubectl(
        self, *args: str, stdin: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "KUBECONFIG": str(self.lay.kubeconfig("admin"))}
        cache = f"--cache-dir={self.lay.run / 'kube-cache'}"
        return run([self.bins.kubectl, cache, *args], input=stdin, check=check, env=env,
                   timeout=timeout)  # fmt: skip

    def node_ready(self, since: datetime | None = None) -> str:
        """"" when the node is Ready (by a heartbeat after ``since``: a node object kept in
        etcd from before ``down`` still says Ready), else why not."""
        out = self.kubectl("get", "node", self.lay.node, "-o", "json", check=False, timeout=10)
        if out.returncode:
            return (out.stderr or out.stdout).strip()[-200:]
        conditions = json.loads(out.stdout)["status"].get("conditions") or []
        ready = [c for c in conditions if c["type"] == "Ready"]
        if not ready:
            return "no Ready condition yet"
        beat = datetime.fromisoformat(ready[0]["lastHeartbeatTime"].replace("Z", "+00:00"))
        if since is not None and beat < since:
            return f"last heartbeat {beat.isoformat()} is older than this start"
        return "" if ready[0]["status"] == "True" else ready[0].get("message", "not ready")

    def wait_node_ready(self, since: datetime | None = None) -> None:
        deadline = time.monotonic() + NODE_READY_S
        last = ""
        while time.monotonic() < deadline:
            last = self.node_ready(since)
            if not last:
                return
            time.sleep(1)
        raise NotReady(
            f"node {self.lay.node} not Ready within {NODE_READY_S:.0f} s ({last}); "
            f"log {self.lay.logs / 'kubelet.log'}:\n{tail(self.lay.logs / 'kubelet.log')}"
        )

    def _coredns(self) -> None:
        objects = manifests.coredns(self.lay, images.COREDNS_IMAGE)
        self.kubectl("apply", "-f", "-", stdin=manifests.as_list(objects))
        self.wait_rollout("kube-system", "deployment/coredns")

    def wait_rollout(self, namespace: str, what: str, timeout: float = READY_S) -> None:
        out = self.kubectl(
            "-n", namespace, "rollout", "status", what, f"--timeout={timeout:.0f}s",
            check=False, timeout=timeout + 30,
        )  # fmt: skip
        if out.returncode:
            pods = self.kubectl("-n", namespace, "get", "pods", "-o", "wide", check=False).stdout
            events = self.kubectl(
                "-n", namespace, "get", "events", "--sort-by=.lastTimestamp", check=False
            ).stdout
            raise NotReady(
                f"{what} in {namespace} not rolled out within {timeout:.0f} s:\n"
                f"{out.stdout}{out.stderr}\n{pods}\n{events[-3000:]}\n"
                f"kubelet log {self.lay.logs / 'kubelet.log'}, "
                f"containerd log {self.lay.logs / 'containerd.log'}"
            )

    # -- down ----------------------------------------------------------------------------

    def down(self, *, purge: bool = False) -> list[str]:
        """Stop everything and undo the host changes; returns what was done."""
        lay = self.lay
        done: list[str] = []
        components = self.state()
        # etcd last: an API server that loses etcd first hangs in its shutdown.
        for group in ([c for c in ORDER if c not in ("containerd", "etcd")], ["etcd"]):
            procs = [_pid_binary(components.get(c) or {}) for c in group]
            killed = stop_pids(procs)
            for component, (pid, _) in zip(group, procs, strict=True):
                if pid in killed:
                    done.append(f"killed {component} (no exit within the grace period)")
        done += self._stop_containers(components.get("containerd") or {})
        state = host.HostState.read(lay.run / "host-state.json")
        netns = host.parse_netns(run(["ip", "netns", "list"], check=False).stdout)
        stale = host.new_netns(state.netns if state else [], netns)
        host.remove_netns(stale)
        done.append(f"removed {len(stale)} pod network namespace(s)")
        done.append(f"unmounted {host.unmount_under(lay.run)} mount(s) under {lay.run}")
        for link in (lay.bridge, lay.node_link):
            if host.link_exists(link):
                host.delete_link(link)
                done.append(f"deleted link {link}")
        shutil.rmtree(lay.run / "cni" / "ipam", ignore_errors=True)
        done.append(f"removed {host.remove_cgroups()} kubelet cgroup(s)")
        _unlink_symlinks_into(Path("/var/log/containers"), lay.run)
        if state:
            tools = host.restore_iptables(state.iptables)
            done.append(f"restored the saved rule set with {', '.join(tools) or 'nothing to do'}")
            keys = host.restore_sysctls(state.sysctls)
            done.append(f"restored sysctls: {', '.join(keys) or 'none had changed'}")
            for path in host.created_paths(state.paths):
                if host.mounts_under(Path("/proc/self/mountinfo").read_text(), path):
                    done.append(f"kept {path}: something is still mounted there")
                    continue
                shutil.rmtree(path, ignore_errors=True)
                done.append(f"removed {path}")
            (lay.run / "host-state.json").unlink()
        self.state_file.unlink(missing_ok=True)
        if purge:
            shutil.rmtree(lay.run, ignore_errors=True)
            done.append(f"deleted {lay.run}")
        return done

    def _stop_containers(self, entry: dict[str, object]) -> list[str]:
        """Kill every task and delete every container in containerd's k8s.io namespace,
        then stop containerd and any shim of ours that is left."""
        done: list[str] = []
        pid, binary = _pid_binary(entry)
        sock = self.lay.containerd_sock
        if pid and runs(pid, binary) and self._ctr_ok():
            base = ["ctr", "--address", str(sock), "--namespace", "k8s.io"]
            tasks = run([*base, "tasks", "list", "--quiet"], check=False).stdout.split()
            for task in tasks:
                run([*base, "tasks", "kill", "--signal", "SIGKILL", task], check=False)
            for task in tasks:
                run([*base, "tasks", "delete", "--force", task], check=False, timeout=30)
            containers = run([*base, "containers", "list", "--quiet"], check=False).stdout.split()
            for chunk in range(0, len(containers), 50):
                ids = containers[chunk : chunk + 50]
                run([*base, "containers", "delete", *ids], check=False, timeout=60)
            done.append(f"killed {len(tasks)} task(s), deleted {len(containers)} container(s)")
        if stop_pid(pid, binary):
            done.append("killed containerd (no exit within the grace period)")
        shims = _our_shims(sock)
        for shim in shims:
            stop_pid(shim, _argv0(shim), timeout=5)
        if shims:
            done.append(f"stopped {len(shims)} leftover shim(s)")
        return done

    # -- status --------------------------------------------------------------------------

    def status(self) -> list[str]:
        lines = []
        components = self.state()
        for component in ORDER:
            entry = components.get(component) or {}
            pid = self.running(component)
            rss = _rss_kib(pid) // 1024 if pid else 0
            where = entry.get("log", "")
            mark = f"pid {pid:<7} {rss:>5} MiB" if pid else "not running      "
            lines.append(f"{component:<24} {mark}  {where}")
        shims = _our_shims(self.lay.containerd_sock)
        shim_rss = sum(_rss_kib(p) for p in shims) // 1024
        lines.append(f"{'pod shims':<24} {len(shims)} running, {shim_rss} MiB")
        if self.running("kube-apiserver"):
            ready = self.node_ready()
            lines.append(f"node {self.lay.node}: {'Ready' if not ready else ready}")
            pods = self.kubectl("get", "pods", "-A", "-o", "wide", check=False).stdout
            lines += pods.rstrip().splitlines()
            lines.append(f"export KUBECONFIG={self.lay.kubeconfig('admin')}")
        return lines

    def rss_mib(self) -> dict[str, int]:
        """Resident memory of each component, the shims and the pods' processes."""
        out = {c: _rss_kib(self.running(c)) // 1024 for c in ORDER if self.running(c)}
        shims = _our_shims(self.lay.containerd_sock)
        out["shims"] = sum(_rss_kib(p) for p in shims) // 1024
        out["pods"] = sum(_rss_kib(c) for s in shims for c in _descendants(s)) // 1024
        return out


def _pid_binary(entry: dict[str, object]) -> tuple[int, str]:
    return int(str(entry.get("pid", 0))), str(entry.get("binary", ""))


def _env() -> dict[str, str]:
    """A PATH with the sbin folders (iptables, mount, runc) whoever starts us."""
    env = dict(os.environ)
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    env.pop("KUBECONFIG", None)
    return env


def _argv0(pid: int) -> str:
    argv = cmdline(pid)
    return argv[0] if argv else ""


def _our_shims(sock: Path) -> list[int]:
    """containerd-shim processes started for our containerd (their argv names its socket)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = cmdline(int(entry.name))
        if argv and "containerd-shim" in argv[0] and str(sock) in argv:
            found.append(int(entry.name))
    return found


def _descendants(pid: int) -> list[int]:
    children: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            text = (task / "children").read_text().split()
            children += [int(c) for c in text]
    return children + [d for c in children for d in _descendants(c)]


def _rss_kib(pid: int) -> int:
    if not pid:
        return 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _unlink_symlinks_into(folder: Path, root: Path) -> None:
    """kubelet links pod logs into /var/log/containers: drop the links into ``root``."""
    if not folder.is_dir():
        return
    for link in folder.iterdir():
        if link.is_symlink() and os.readlink(link).startswith(str(root)):
            link.unlink()

