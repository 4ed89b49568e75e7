"""``catmatch produce``: send product messages from a file, stdin or the generator.

Python entry point: :func:`catmatch.produce.sender.produce_products` (also importable as
``catmatch.produce.produce_products``); it returns a
:class:`~catmatch.produce.sender.ProduceReport`. Importing this package stays cheap: the
sender (pydantic, confluent-kafka) loads on first use.
"""

from __future__ import annotations

from typing import Any

from catmatch.produce.command import register, run

__all__ = ["ProduceReport", "produce_products", "producer_config", "register", "run"]

_LAZY = {"ProduceReport", "produce_products", "producer_config"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from catmatch.produce import sender

        return getattr(sender, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
