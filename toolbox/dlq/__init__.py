"""Dead letters after a fix: ``catmatch dlq stats`` and ``catmatch dlq replay``.

Python entry points: :func:`dlq_stats` (a :class:`DlqStats`) and :func:`replay` (a
:class:`ReplayReport`). The rules (parsing, selection, replay counts, aggregation) are pure
functions in :mod:`catmatch.dlq.records`, :mod:`~catmatch.dlq.stats` and
:mod:`~catmatch.dlq.replay`; :mod:`catmatch.dlq.reader` reads the topic once, up to the end
offsets found at the start.
"""

from catmatch.dlq.reader import DlqReadError, read_records
from catmatch.dlq.records import DlqRecord, Entry, Selection, parse_error_classes, parse_time
from catmatch.dlq.replay import DEFAULT_MAX_REPLAYS, Decision, ReplayReport, replay
from catmatch.dlq.stats import DlqStats, collect_stats, dlq_stats, format_stats

__all__ = [
    "DEFAULT_MAX_REPLAYS",
    "Decision",
    "DlqReadError",
    "DlqRecord",
    "DlqStats",
    "Entry",
    "ReplayReport",
    "Selection",
    "collect_stats",
    "dlq_stats",
    "format_stats",
    "parse_error_classes",
    "parse_time",
    "read_records",
    "replay",
]
