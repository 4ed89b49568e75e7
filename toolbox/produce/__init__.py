"""``catmatch produce``: send product messages from a file, stdin or the generator.

Python entry point: :func:`catmatch.produce.sender.produce_products` (also importable as
``catmatch.produce.produce_products``); it returns a
:class:`~catmatch.produce.sender.ProduceReport`.
"""

from catmatch.produce.command import register, run
from catmatch.produce.sender import ProduceReport, produce_products, producer_config

__all__ = ["ProduceReport", "produce_products", "producer_config", "register", "run"]
