"""Synthetic shop products with known HS-section categories (see :mod:`.core`)."""

from training.generator.products import (
    SYNTHETIC_HEADER,
    GeneratedProduct,
    TruthWriter,
    generate_product,
    generate_products,
    read_truth,
    truth_row,
    write_truth,
)

__all__ = [
    "SYNTHETIC_HEADER",
    "GeneratedProduct",
    "TruthWriter",
    "generate_product",
    "generate_products",
    "read_truth",
    "truth_row",
    "write_truth",
]
