"""What Kafka security costs the worker: its no-op ceiling on a plain and on a secured broker.

``catmatch bench security`` runs mode 4 of the suite (:func:`toolbox.bench.suite.worker_ceiling`:
a pre-filled input topic, one worker, the no-op V2 predictor, a warm-up pass and the median
of several measured passes) twice, each on a fresh broker of its own: plaintext, then
SASL_SSL with SCRAM-SHA-512 and the ACL authorizer, where the worker logs in with the worker
role's user and the benchmark's producer and collector with the producer and reader roles.
The worker, its settings and the products are the same; only the broker's security differs.
"""

from __future__ import annotations

import os
import time
from contextlib import ExitStack
from dataclasses import replace
from typing import Any

from core.settings import Settings
from toolbox.bench.stack import BenchStack
from toolbox.bench.suite import SuiteConfig, worker_ceiling
from toolbox.bench.sysstat import Sampler

MODES = ("none", "sasl_ssl")


def security_overhead(settings: Settings, cfg: SuiteConfig) -> dict[str, Any]:
    """``{"modes": {mode: median pass row}, ...}`` for a plain and a secured broker."""
    batch = cfg.worker_batch_size or settings.worker.batch_size
    out: dict[str, Any] = {"loadavg_start": os.getloadavg()[0], "modes": {},
                           "worker_batch_size": batch, "noop_count": cfg.noop_count}
    for mode in MODES:
        broker = settings.broker.model_copy(update={"security": mode})
        run_settings = settings.model_copy(update={"broker": broker})
        sampler = Sampler().start()
        with ExitStack() as exits:
            stack = BenchStack(run_settings, cfg.work / mode, exits, sampler)
            noop = stack.noop()
            started = time.time()
            _, median = worker_ceiling(stack, replace(cfg, work=cfg.work / mode), noop, batch)
            median["wall_s"] = time.time() - started
        sampler.stop()
        out["modes"][mode] = median
    out["loadavg_end"] = os.getloadavg()[0]
    return out
