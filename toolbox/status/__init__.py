"""``catmatch status``: one screen for an operator (topics, the worker group and its lag,
rates, dead letters by class, the predictor and its live model version).

:func:`collect_status` gathers a JSON-ready report (:mod:`toolbox.status.report`; Kafka
through :mod:`transport`, the predictor over HTTP); :func:`format_status`
(:mod:`toolbox.status.screen`) prints it.
"""

from toolbox.status.predictor import PredictorStatus, live_version_from_metrics, predictor_status
from toolbox.status.report import DlqCache, collect_status
from toolbox.status.screen import format_status

__all__ = [
    "DlqCache",
    "PredictorStatus",
    "collect_status",
    "format_status",
    "live_version_from_metrics",
    "predictor_status",
]
