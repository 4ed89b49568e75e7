"""The embedded single-node Apache Kafka broker (KRaft) behind ``catmatch broker``.

Importing this package starts nothing and stays cheap (``catmatch --help`` imports it):
:class:`EmbeddedKafka` starts a broker JVM on ``start()``; :func:`ensure_jars` resolves the
Kafka jars from Maven Central once. Both are loaded on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from catmatch.broker.jars import check_tools, ensure_jars, is_resolved, libs_dir
    from catmatch.broker.server import EmbeddedKafka

__all__ = ["EmbeddedKafka", "check_tools", "ensure_jars", "is_resolved", "libs_dir"]


def __getattr__(name: str) -> Any:
    if name == "EmbeddedKafka":
        from catmatch.broker.server import EmbeddedKafka

        return EmbeddedKafka
    if name in __all__:
        from catmatch.broker import jars

        return getattr(jars, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
