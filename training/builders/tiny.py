"""A tiny random BERT classifier (2 layers, hidden 32) with the real MiniLM tokenizer, for tests.

It builds in about a second and serves exactly like a real model: same files, same
tokenizer, same V1/V2 contract. Its predictions are arbitrary but deterministic, and vary
from text to text.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from core.modelformat import ModelMetadata, write_metadata
from core.offline import force_offline
from training.builders.artifacts import (
    BASE_MODEL_NAME,
    atomic_model_dir,
    base_model_dir,
    file_digest,
    write_tokenizer,
)

log = logging.getLogger(__name__)

DEFAULT_TINY_LABELS = ("apparel", "electronics", "food", "home", "toys")
TINY_NAME = "category-match-tiny"


def check_labels(labels: Sequence[str]) -> list[str]:
    """Labels must be non-empty, unique strings."""
    cleaned = [str(label).strip() for label in labels]
    if not cleaned or any(not label for label in cleaned):
        raise ValueError("labels must be non-empty strings")
    if len(set(cleaned)) != len(cleaned):
        raise ValueError(f"labels must be unique: {cleaned}")
    return cleaned


def build_tiny_model(out: Path, labels: Sequence[str] | None = None, *, seed: int = 0) -> Path:
    """Write a tiny random ``BertForSequenceClassification`` directory to ``out``.

    Args:
        out: the model directory to (re)create.
        labels: class names in id order (default: five generic shop categories).
        seed: torch seed for the random weights.
    """
    force_offline()
    import torch
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertForSequenceClassification

    names = check_labels(labels or DEFAULT_TINY_LABELS)
    base = base_model_dir()
    vocab_size = Tokenizer.from_file(str(base / "tokenizer.json")).get_vocab_size()
    config = BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        type_vocab_size=2,
        pad_token_id=0,
        num_labels=len(names),
        id2label=dict(enumerate(names)),
        label2id={name: i for i, name in enumerate(names)},
        problem_type="single_label_classification",
        # Wide random weights: different texts get different, decisive labels (with the
        # default 0.02 every input lands on the same class with ~uniform scores).
        initializer_range=1.0,
    )
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config).eval()
    out = Path(out)
    with atomic_model_dir(out) as tmp:
        model.save_pretrained(tmp)
        write_tokenizer(base, tmp)
        digest = file_digest(tmp / "model.safetensors")
        write_metadata(
            tmp,
            ModelMetadata(
                name=TINY_NAME,
                version=f"tiny-{digest[:8]}",
                labels=names,
                base_model=f"random BERT (2 layers, hidden 32); tokenizer of {BASE_MODEL_NAME}",
                metrics={},
            ),
        )
    log.info("tiny model with %d labels written to %s", len(names), out)
    return out
