"""What the cluster changes on this machine, saved before ``up`` and put back by ``down``.

Before the first start :func:`save` records the sysctls kubelet and kube-proxy set, the
whole iptables and ip6tables rule sets, the network namespaces and the host folders that
containerd, libcni and kubelet create when missing. ``down`` undoes each with the pure
helpers below (unit-tested): :func:`restore_script` turns the saved rule set and the current
one into an ``iptables-restore`` input, :func:`new_netns` and :func:`created_paths` name
what was not there before, :func:`mounts_under` lists mounts deepest first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from localkube.proc import Unavailable, log, run

APT_PACKAGES = (
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
    "conntrack",
    "mmdebstrap",
    "umoci",
    "skopeo",
    "buildah",
    "busybox-static",
    "etcd-server",
)
# kubelet's setupKernelTunables, the CNI bridge's gateway and kube-proxy (whose conntrack and
# localhost NodePort settings are turned off in its config, saved in case).
SYSCTLS = (
    "kernel.panic",
    "kernel.panic_on_oops",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.netfilter.nf_conntrack_max",
)
# Folders created outside the run directory when they are missing: containerd's shim
# sockets (/run/containerd/s), the pods' network namespaces, libcni's result cache, the log
# links and kubelet's device-plugin socket (a fixed path, whatever --root-dir says).
HOST_PATHS = (
    "/run/containerd",
    "/run/netns",
    "/var/lib/cni",
    "/var/log/containers",
    "/var/lib/kubelet",
)
NETNS_PREFIX = "cni-"  # containerd's CRI names pod namespaces cni-<uuid>


# -- apt -------------------------------------------------------------------------------------


def missing_packages(packages: Sequence[str] = APT_PACKAGES) -> list[str]:
    out = run(["dpkg-query", "-W", "-f=${Package} ${Status}\\n", *packages], check=False)
    installed = {
        line.split()[0] for line in out.stdout.splitlines() if line.endswith("install ok installed")
    }
    return [p for p in packages if p not in installed]


def ensure_packages(packages: Sequence[str] = APT_PACKAGES) -> None:
    """Install the Debian packages that are missing (about 20 s after apt-get update)."""
    missing = missing_packages(packages)
    if not missing:
        return
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or not apt:
        raise Unavailable(f"missing Debian packages {missing}: run as root on Debian/Ubuntu")
    log(f"installing {' '.join(missing)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-qq", "--no-install-recommends", *missing]
    if run(install, env=env, timeout=900, check=False).returncode:
        run([apt, "update", "-qq"], env=env, timeout=900)  # stale or empty package lists
        run(install, env=env, timeout=900)


# -- pure helpers ----------------------------------------------------------------------------


def sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def split_tables(save: str) -> dict[str, list[str]]:
    """``iptables-save`` output as ``{table: lines}``, comments dropped, COMMIT kept."""
    tables: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in save.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith("*"):
            current = tables.setdefault(line[1:].strip(), [])
        elif current is not None:
            current.append(line)
    return tables


def restore_script(saved: str, current: str) -> str:
    """An ``iptables-restore`` input that puts back ``saved`` in every table ``current`` has.

    A table that was empty (absent) when saved is reset to its built-in chains with ACCEPT
    policies: iptables-restore flushes each table it is given and deletes its user chains.
    Empty when there is nothing to change.
    """
    before, now = split_tables(saved), split_tables(current)
    out: list[str] = []
    for table in sorted(now):
        if table in before:
            if before[table] == now[table]:
                continue
            lines = before[table]
        else:
            builtin = [ln for ln in now[table] if re.match(r":\S+ (ACCEPT|DROP) ", ln)]
            lines = [re.sub(r"^(:\S+) \S+ .*$", r"\1 ACCEPT [0:0]", ln) for ln in builtin]
            lines.append("COMMIT")
        out += [f"*{table}", *lines]
    return "\n".join(out) + "\n" if out else ""


def added_tables(saved: str, current: str) -> list[str]:
    """Tables that exist now but not in the saved rule set (iptables-nft creates them on
    first use; :func:`restore_script` empties them, ``nft delete table`` removes them)."""
    return sorted(set(split_tables(current)) - set(split_tables(saved)))


def new_netns(before: Iterable[str], now: Iterable[str]) -> list[str]:
    """Pod namespaces created since ``before`` (only containerd's ``cni-*`` names)."""
    known = set(before)
    return sorted(n for n in now if n.startswith(NETNS_PREFIX) and n not in known)


def parse_netns(text: str) -> list[str]:
    """Names from ``ip netns list`` (``name (id: 3)`` lines)."""
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def _unescape(field_: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field_)


def mounts_under(mountinfo: str, root: Path | str) -> list[str]:
    """Mount points at or below ``root`` from /proc/self/mountinfo, deepest first."""
    base = str(root).rstrip("/")
    points = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = _unescape(fields[4])
        if point == base or point.startswith(base + "/"):
            points.append(point)
    # Deepest first; a point mounted twice is listed twice (one umount each).
    return sorted(points, key=lambda p: (p.count("/"), p), reverse=True)


def created_paths(existed: Mapping[str, bool]) -> list[str]:
    """Host folders that did not exist before the first ``up``: ``down`` removes them."""
    return sorted(p for p, was in existed.items() if not was)


def cgroup_dirs(root: Path, prefix: str = "kubepods") -> list[Path]:
    """kubelet's cgroups (``kubepods*``) under each v1 hierarchy, deepest first."""
    found: list[Path] = []
    if not root.is_dir():
        return found
    for hierarchy in root.iterdir():
        if not hierarchy.is_dir():
            continue
        for top in hierarchy.glob(f"{prefix}*"):
            if top.is_dir():
                found += [p for p in top.rglob("*") if p.is_dir()] + [top]
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


# -- saving and restoring --------------------------------------------------------------------


@dataclass
class HostState:
    """What :func:`save` recorded; kept in ``<run dir>/host-state.json`` until ``down``."""

    sysctls: dict[str, str] = field(default_factory=dict)
    iptables: dict[str, str] = field(default_factory=dict)  # "iptables"/"ip6tables" -> save
    netns: list[str] = field(default_factory=list)
    paths: dict[str, bool] = field(default_factory=dict)

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> HostState | None:
        try:
            return cls(**json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError, TypeError):
            return None


def read_sysctls(keys: Sequence[str] = SYSCTLS) -> dict[str, str]:
    values = {}
    for key in keys:
        try:
            values[key] = sysctl_path(key).read_text().strip()
        except OSError:
            continue  # a module not loaded (nf_conntrack, br_netfilter): nothing to restore
    return values


def save(path: Path) -> HostState:
    """Record the host before the first start; an existing record is kept (``up`` twice)."""
    if state := HostState.read(path):
        return state
    state = HostState(
        sysctls=read_sysctls(),
        iptables={tool: run([f"{tool}-save"]).stdout for tool in ("iptables", "ip6tables")},
        netns=parse_netns(run(["ip", "netns", "list"]).stdout),
        paths={p: os.path.lexists(p) for p in HOST_PATHS},
    )
    state.write(path)
    return state


def restore_sysctls(saved: Mapping[str, str]) -> list[str]:
    """Write back every saved value that changed; returns the keys written."""
    changed = []
    for key, value in saved.items():
        path = sysctl_path(key)
        try:
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
                changed.append(key)
        except OSError as exc:
            log(f"cannot restore {key}={value}: {exc}")
    return changed


NFT_FAMILY = {"iptables": "ip", "ip6tables": "ip6"}


def restore_iptables(saved: Mapping[str, str]) -> list[str]:
    """Put back each saved rule set (only tables that differ), then drop the tables that
    did not exist before (with nft, when it is installed); returns what was done."""
    done = []
    nft = shutil.which("nft")
    for tool, text in saved.items():
        current = run([f"{tool}-save"]).stdout
        script = restore_script(text, current)
        if script:
            run([f"{tool}-restore"], input=script)
            done.append(tool)
        for table in added_tables(text, current) if nft else []:
            if run([nft, "delete", "table", NFT_FAMILY[tool], table], check=False).returncode == 0:
                done.append(f"{NFT_FAMILY[tool]} {table} table dropped")
    return done


def remove_netns(names: Sequence[str]) -> None:
    for name in names:
        run(["ip", "netns", "delete", name], check=False)


def unmount_under(root: Path) -> int:
    """Unmount everything at or below ``root`` (a busy one lazily); returns how many."""
    count = 0
    for point in mounts_under(Path("/proc/self/mountinfo").read_text(), root):
        if run(["umount", point], check=False).returncode:
            run(["umount", "-l", point], check=False)
        count += 1
    return count


def remove_cgroups(root: Path = Path("/sys/fs/cgroup")) -> int:
    """rmdir kubelet's empty cgroups (their processes are gone by then)."""
    removed = 0
    for path in cgroup_dirs(root):
        try:
            path.rmdir()
            removed += 1
        except OSError:
            pass
    return removed


def link_exists(name: str) -> bool:
    return Path("/sys/class/net", name).exists()


def delete_link(name: str) -> None:
    if link_exists(name):
        run(["ip", "link", "delete", name], check=False)
