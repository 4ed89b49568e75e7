"""Load schedules: when each product is sent, in seconds from the start of the phase.

Rates are given as fractions of the pipeline's maximum sustainable rate ``max_rate``
(products/s, measured first from a backlog).
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "ramp", "burst", "idle_burst")


def constant(rate: float, seconds: float) -> list[float]:
    n = max(2, int(rate * seconds))
    return [i / rate for i in range(n)]


def ramp(r0: float, r1: float, seconds: float) -> list[float]:
    """Rate growing linearly from ``r0`` to ``r1`` over ``seconds``."""
    slope = (r1 - r0) / seconds
    n = max(2, int((r0 + r1) / 2 * seconds))
    out = []
    for i in range(n):  # solve r0 t + slope t^2 / 2 = i
        t = i / r0 if slope == 0 else (-r0 + math.sqrt(r0 * r0 + 2 * slope * i)) / slope
        out.append(t)
    return out


def burst(base: float, seconds: float, size: int) -> list[float]:
    """``base`` products/s for ``seconds`` with ``size`` products at once a third of the way."""
    steady = constant(base, seconds)
    at = seconds / 3
    return sorted(steady + [at] * size)


def plan(name: str, max_rate: float, seconds: float, idle_s: float) -> list[float]:
    """The send offsets of schedule ``name``."""
    if name == "constant":  # the latency target is measured here: 50% of the maximum
        return constant(0.5 * max_rate, seconds)
    if name == "ramp":
        return ramp(0.1 * max_rate, 1.0 * max_rate, seconds)
    if name == "burst":
        return burst(0.25 * max_rate, seconds, max(10, int(2 * max_rate)))
    if name == "idle_burst":  # nothing for idle_s, then two seconds' worth at once
        return [idle_s] * max(10, int(2 * max_rate))
    raise ValueError(f"unknown schedule {name!r}")


DESCRIPTION = {
    "constant": "50% of max rate, constant",
    "ramp": "10% -> 100% of max rate, linear",
    "burst": "25% of max + a burst of 2 s of max at once",
    "idle_burst": "idle, then 2 s of max at once (cold)",
}
