"""Did every sync wave turn Healthy before the next one started? (pure: unit-tested)

Argo CD applies a wave only once the resources of the earlier waves are Healthy: that is
what makes the chart's sync waves (docs/DEPLOY.md §5) an order and not a suggestion. The
cluster test reads the Application while it syncs: each read of ``status.resources`` is
one :class:`Snapshot` of Argo CD's own view (every resource with its ``syncWave`` and
health, ``Missing`` until it exists), taken from one reconciliation, so it is consistent in
itself. :func:`check` then fails

- when a resource of wave ``w`` exists while a resource of an earlier wave has not yet been
  seen Healthy (by that snapshot or an earlier one): the later wave started too soon;
- when a resource never became Healthy, or was never made, by the last snapshot.

A ScaledObject in the same wave as (or before) the workload it scales, the layout of issue
16's defect 1, fails both ways: Argo CD stops at its wave (KEDA reports it not ready while
the target is missing, which Argo CD calls Degraded), and a tool that does not stop would
create the target after the ScaledObject's wave started.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str, str]  # (kind, namespace, name)
MISSING = "Missing"
HEALTHY = "Healthy"


@dataclass(frozen=True)
class Snapshot:
    """Argo CD's view at one moment: ``resources`` maps each resource to (wave, health)."""

    at: float
    resources: Mapping[Key, tuple[int, str]]
    phase: str = ""  # the sync operation's phase then (Running, Succeeded, Failed, ...)


def from_application(app: Mapping[str, Any], at: float) -> Snapshot:
    """A snapshot of an Application object (``kubectl get application -o json``)."""
    status = app.get("status") or {}
    resources = {}
    for r in status.get("resources") or []:
        if r.get("hook"):
            continue  # PreSync hooks run before every wave and are deleted once they succeed
        key = (str(r["kind"]), str(r.get("namespace") or ""), str(r["name"]))
        # Kinds without a health check (ConfigMap, ServiceAccount, ...) carry no health even
        # while missing: such a resource counts as made, and Healthy, once it is Synced.
        health = (r.get("health") or {}).get("status") or (
            HEALTHY if r.get("status") == "Synced" else MISSING
        )
        resources[key] = (int(r.get("syncWave") or 0), str(health))
    phase = str((status.get("operationState") or {}).get("phase") or "")
    return Snapshot(at, resources, phase)


def name(key: Key) -> str:
    return f"{key[0]}/{key[2]}"


@dataclass
class Report:
    """What :func:`check` found; ``errors`` empty means every wave was in order."""

    errors: list[str] = field(default_factory=list)
    healthy_at: dict[Key, float] = field(default_factory=dict)  # first seen Healthy
    created_at: dict[Key, float] = field(default_factory=dict)  # first seen not Missing
    waves: dict[int, list[str]] = field(default_factory=dict)
    wave_of: dict[Key, int] = field(default_factory=dict)

    def wave_timeline(self, since: float) -> dict[str, dict[str, float | None]]:
        """Per wave: when its first resource appeared and its last turned Healthy."""
        out: dict[str, dict[str, float | None]] = {}
        keys_by_wave: dict[int, list[Key]] = {}
        for key in self.created_at.keys() | self.healthy_at.keys():
            keys_by_wave.setdefault(self.wave_of[key], []).append(key)
        for wave, keys in sorted(keys_by_wave.items()):
            created = [self.created_at[k] for k in keys if k in self.created_at]
            healthy = [self.healthy_at.get(k) for k in keys]
            out[str(wave)] = {
                "first_created_s": round(min(created) - since, 1) if created else None,
                "all_healthy_s": None if None in healthy else round(
                    max(h for h in healthy if h is not None) - since, 1),
            }  # fmt: skip
        return out


def check(snapshots: Sequence[Snapshot], ignore: Iterable[str] = ()) -> Report:
    """Every wave Healthy before the next one started, and everything Healthy at the end.

    ``ignore`` names kinds whose health does not gate (none by default).
    """
    skip = set(ignore)
    report = Report()
    late: set[tuple[Key, Key]] = set()
    for snap in snapshots:
        for key, (wave, health) in snap.resources.items():
            if key[0] in skip:
                continue
            report.wave_of[key] = wave
            report.waves.setdefault(wave, [])
            if name(key) not in report.waves[wave]:
                report.waves[wave].append(name(key))
            if health != MISSING:
                report.created_at.setdefault(key, snap.at)
            if health == HEALTHY:
                report.healthy_at.setdefault(key, snap.at)
        for key, (wave, health) in snap.resources.items():
            if key[0] in skip or health == MISSING:
                continue
            for earlier, (ewave, _) in snap.resources.items():
                if earlier[0] in skip or ewave >= wave or earlier in report.healthy_at:
                    continue
                if (key, earlier) not in late:
                    late.add((key, earlier))
                    report.errors.append(
                        f"{name(key)} (wave {wave}) existed while {name(earlier)} (wave "
                        f"{ewave}) was not yet Healthy: wave {wave} started too soon"
                    )
    if snapshots:
        for key, (wave, health) in snapshots[-1].resources.items():
            if key[0] in skip or key in report.healthy_at:
                continue
            why = "never created" if health == MISSING else f"last {health}"
            report.errors.append(f"{name(key)} (wave {wave}) never Healthy ({why})")
    else:
        report.errors.append("no snapshot of the Application was taken")
    return report
