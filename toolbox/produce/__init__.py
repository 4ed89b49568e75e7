"""Send product messages to the input topic: from records, files, stdin or the generator.

Python entry point: :func:`toolbox.produce.sender.produce_products` (also importable as
``toolbox.produce.produce_products``); it returns a
:class:`~toolbox.produce.sender.ProduceReport`. ``catmatch produce`` is its command line.
"""

from toolbox.produce.sender import (
    ProduceReport,
    produce_generated,
    produce_products,
    producer_config,
)

__all__ = ["ProduceReport", "produce_generated", "produce_products", "producer_config"]
