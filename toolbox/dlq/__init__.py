"""Dead letters after a fix: ``catmatch dlq stats`` and ``catmatch dlq replay``.

Python entry points: :func:`dlq_stats` (a :class:`DlqStats`) and :func:`replay` (a
:class:`ReplayReport`). The rules (parsing, selection, replay counts, aggregation) are pure
functions in :mod:`toolbox.dlq.records`, :mod:`~toolbox.dlq.stats` and
:mod:`~toolbox.dlq.replay`; :func:`toolbox.readers.read_to_end` reads the topic once, up to
the end offsets found at the start.
"""

from toolbox.dlq.records import Entry, Selection, parse_error_classes, parse_time
from toolbox.dlq.replay import DEFAULT_MAX_REPLAYS, Decision, ReplayReport, replay
from toolbox.dlq.stats import DEFAULT_TOP, DlqStats, collect_stats, dlq_stats, format_stats

__all__ = [
    "DEFAULT_MAX_REPLAYS",
    "DEFAULT_TOP",
    "Decision",
    "DlqStats",
    "Entry",
    "ReplayReport",
    "Selection",
    "collect_stats",
    "dlq_stats",
    "format_stats",
    "parse_error_classes",
    "parse_time",
    "replay",
]
