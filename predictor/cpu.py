"""How many CPU threads one forward pass may use: the container's CPU quota, not the host's cores.

torch and onnxruntime size their thread pools from the cores they see; in a pod limited to
2 CPUs on a 64-core node that is 64 threads fighting over 2 CPUs' worth of time (the kernel
throttles the whole pod once the quota is spent). :func:`inference_threads` picks, in order:

1. ``OMP_NUM_THREADS`` when set (``--workers N > 1`` sets it to 1 per process);
2. the cgroup CPU quota (v2 ``cpu.max``, v1 ``cpu.cfs_quota_us / cpu.cfs_period_us``),
   rounded down, at least 1;
3. the CPUs this process may run on (``sched_getaffinity``), else ``os.cpu_count()``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)

CGROUP_ROOT = Path("/sys/fs/cgroup")


def cpu_quota(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs' worth of time per period the cgroup may use, or ``None`` when unlimited/unknown."""
    try:
        fields = (root / "cpu.max").read_text().split()
        if len(fields) == 2 and fields[0] != "max":
            return int(fields[0]) / int(fields[1])
        if fields:
            return None
    except (OSError, ValueError, ZeroDivisionError):
        pass
    try:  # cgroup v1
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota / period if quota > 0 and period > 0 else None


def visible_cpus() -> int:
    """CPUs this process may be scheduled on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def inference_threads(root: Path = CGROUP_ROOT) -> int:
    """Intra-op threads for one forward pass (see the module docstring for the order)."""
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    cpus = visible_cpus()
    quota = cpu_quota(root)
    if quota is not None:
        cpus = min(cpus, max(1, math.floor(quota)))
    return max(1, cpus)
