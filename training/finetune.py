"""Fine-tune the offline MiniLM as a sequence classifier with a plain torch loop.

First the head is fitted on the frozen encoder's ``[CLS]`` features (a linear probe, as the
seed model does: ~0.92 on HS in seconds), then the whole network is fine-tuned ("LP-FT": the
encoder is not disturbed by a random head). AdamW with linear warm-up and decay,
length-grouped batches (less padding, same data),
deterministic for a seed: ``torch.manual_seed`` plus a numpy generator for the shuffling.
Uses CUDA when available; progress goes to stderr.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from core.categories import LABELS
from core.tokenization import load_tokenizer
from predictor.loading import resolve_device
from training.bases import DEFAULT_BASE, get_base
from training.builders.artifacts import load_base_classifier
from training.builders.hs_data import accuracy_and_macro_f1
from training.builders.seed import fit_head

log = logging.getLogger(__name__)

GROUP_BATCHES = 50  # length-sort windows of this many batches


@dataclass(frozen=True)
class FinetuneConfig:
    """The recipe (written to ``training_config.json``)."""

    epochs: int = 2
    max_length: int = 48
    batch_size: int = 32
    learning_rate: float = 1e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    seed: int = 13
    head_steps: int = 300
    head_learning_rate: float = 1e-3
    device: str = "auto"
    threads: int | None = None
    base: str = DEFAULT_BASE


@dataclass
class FinetuneResult:
    """The trained model (eval mode), its tokenizer and the per-epoch history."""

    model: Any
    tokenizer: Any
    device: Any
    history: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    examples_seen: int = 0


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: Any) -> list[list[int]]:
    """Shuffle, sort by length within windows, cut batches, shuffle the batches."""
    order = rng.permutation(len(lengths))
    window = batch_size * GROUP_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window].tolist(), key=lambda i: lengths[i])
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def encode(tokenizer: Any, texts: Sequence[str], device: Any) -> dict[str, Any]:
    """Token tensors for one batch (padded to its longest row) on ``device``."""
    import torch

    encodings = tokenizer.encode_batch_fast(list(texts))
    return {
        "input_ids": torch.tensor([e.ids for e in encodings], device=device),
        "attention_mask": torch.tensor([e.attention_mask for e in encodings], device=device),
        "token_type_ids": torch.tensor([e.type_ids for e in encodings], device=device),
    }


def load_base_model(labels: Sequence[str] = LABELS, base: str = DEFAULT_BASE) -> Any:
    """The base ``base`` with a new classification head for ``labels`` (offline)."""
    return load_base_classifier(labels, get_base(base).model_dir())


def train_classifier(
    texts: Sequence[str],
    label_ids: Sequence[int],
    config: FinetuneConfig,
    *,
    validation: tuple[Sequence[str], Sequence[int]] | None = None,
    progress: bool = True,
) -> FinetuneResult:
    """Fine-tune MiniLM on ``texts``; evaluate on ``validation`` after every epoch."""
    import torch
    from tqdm.auto import tqdm

    if not texts:
        raise ValueError("no training texts")
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = resolve_device(config.device)  # type: ignore[arg-type]
    base = get_base(config.base)
    model = load_base_model(LABELS, config.base).to(device)
    if base.freeze_word_embeddings:  # a large multilingual vocabulary: train the rest
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    tokenizer = load_tokenizer(base.model_dir(), config.max_length)
    lengths = [len(e.ids) for e in tokenizer.encode_batch_fast(list(texts))]
    targets = np.asarray(label_ids, dtype=np.int64)
    result = FinetuneResult(model=model, tokenizer=tokenizer, device=device)
    started = time.perf_counter()
    if config.head_steps:
        loss = fit_head_on_features(model, tokenizer, texts, targets, config, device)
        result.history.append({"epoch": 0, "head_loss": round(loss, 4),
                               "elapsed_s": round(time.perf_counter() - started, 1)})

    steps_per_epoch = math.ceil(len(texts) / config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = int(total * config.warmup_ratio)
    decay: list[Any] = []  # torch parameters
    no_decay: list[Any] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (no_decay if param.ndim < 2 or "LayerNorm" in name else decay).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _linear_schedule(warmup, total))
    log.info("fine-tuning on %d texts: %d epochs x %d steps, device %s, %d threads",
             len(texts), config.epochs, steps_per_epoch, device, torch.get_num_threads())
    bar = tqdm(total=total, desc="fine-tune", unit="step", file=sys.stderr, disable=not progress)
    try:
        for epoch in range(1, config.epochs + 1):
            model.train()
            losses = []
            for batch in length_grouped_batches(lengths, config.batch_size, rng):
                inputs = encode(tokenizer, [texts[i] for i in batch], device)
                labels = torch.as_tensor(targets[batch], device=device)
                loss = model(**inputs, labels=labels).loss
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss became {float(loss)} in epoch {epoch}")
                loss.backward()
                torch.nn.utils.clip_grad_norm_(decay + no_decay, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                losses.append(float(loss.detach()))
                result.examples_seen += len(batch)
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{np.mean(losses[-20:]):.3f}")
            entry: dict[str, Any] = {"epoch": epoch, "train_loss": round(float(np.mean(losses)), 4)}
            if validation is not None and len(validation[0]):
                predicted = predict(model, tokenizer, validation[0], device=device)
                acc, f1 = accuracy_and_macro_f1(np.asarray(validation[1]), predicted)
                entry.update(validation_accuracy=round(acc, 4), validation_macro_f1=round(f1, 4))
            entry["elapsed_s"] = round(time.perf_counter() - started, 1)
            result.history.append(entry)
            log.info("epoch %s", entry)
    finally:
        bar.close()
    model.eval()
    result.seconds = time.perf_counter() - started
    return result


def fit_head_on_features(
    model: Any, tokenizer: Any, texts: Sequence[str], targets: np.ndarray,
    config: FinetuneConfig, device: Any,
) -> float:
    """Linear probe: fit pooler + classifier on frozen ``[CLS]`` features (full batch)."""
    import torch


    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    features = torch.empty(len(texts), model.config.hidden_size, device=device)
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            idx = order[start : start + 64]
            hidden = model.bert(**encode(tokenizer, [texts[i] for i in idx], device))
            features[idx] = hidden.last_hidden_state[:, 0].float()
    started = time.perf_counter()
    loss = fit_head(model, features.clone(), torch.as_tensor(targets, device=device),
                    config.head_steps, config.head_learning_rate, config.seed)
    log.info("head fitted on frozen features: loss %.3f in %.1f s", loss,
             time.perf_counter() - started)
    return loss


def _linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def predict(
    model: Any, tokenizer: Any, texts: Sequence[str], *, batch_size: int = 64, device: Any = None
) -> np.ndarray:
    """Class ids for ``texts`` (length-sorted batches, results in input order)."""
    import torch

    device = device if device is not None else next(model.parameters()).device
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    predicted = np.empty(len(texts), dtype=np.int64)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            logits = model(**encode(tokenizer, [texts[i] for i in idx], device)).logits
            predicted[idx] = logits.argmax(-1).cpu().numpy()
    model.train(was_training)
    return predicted


def config_dict(config: FinetuneConfig) -> dict[str, Any]:
    return asdict(config)
