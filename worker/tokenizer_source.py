"""Which ``tokenizer.json`` the worker encodes with, and for which model version.

Three modes:

- a fixed file (``worker.tokenizer_path``): requests are not pinned to a version;
- no tokenizer (``worker.input_mode: text``): the worker sends raw texts, for a predictor
  whose model takes text (the sklearn runtime); requests are not pinned;
- the model store (``worker.model_ref``, e.g. ``production``): the worker loads the
  tokenizer of a store version and pins every request to that version, so the predictor
  either serves it with the same version or answers 409 naming its live version, and the
  worker switches to that version's tokenizer and sends the batch again. Tokenizer and
  model always come from the same version. A version of the sklearn runtime has no
  tokenizer: its batches go as texts (still pinned).

:meth:`TokenizerSource.current` returns ``(version, tokenizer or None)``; ``None`` means
"send texts".
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from core.modelformat import TOKENIZER_FILE
from core.names import DEFAULT_MODEL_NAME, DEFAULT_STORE_URI, TEXT_RUNTIMES
from modelstore import ModelStore
from worker.tokenization import BatchTokenizer

log = logging.getLogger(__name__)



class TokenizerSource:
    """The current (version, tokenizer) pair; thread-safe, loaded tokenizers are cached."""

    def __init__(
        self,
        max_length: int,
        *,
        path: Path | None = None,
        store_uri: str | None = None,
        model_name: str | None = None,
        ref: str | None = None,
        text: bool = False,
    ) -> None:
        self._max_length = max_length
        self._lock = threading.Lock()
        self._cache: dict[str, BatchTokenizer | None] = {}
        self._store: ModelStore | None = None
        self._name = model_name
        self._version: str | None = None
        self._tokenizer: BatchTokenizer | None = None
        if ref is None:
            if not text:
                if path is None:
                    raise ValueError("a tokenizer path, a model-store ref or text mode is needed")
                self._tokenizer = BatchTokenizer(path, max_length)
            return
        self._name = model_name or DEFAULT_MODEL_NAME
        self._store = ModelStore.from_uri(store_uri or DEFAULT_STORE_URI)
        version = self._store.resolve(self._name, ref).version
        self._version = version
        self._tokenizer = self._load(version)
        log.info("tokenizer of %s %s (ref %s)", self._name, version, ref)

    @property
    def pinned(self) -> bool:
        """Whether requests are pinned to a model version."""
        return self._store is not None

    def current(self) -> tuple[str | None, BatchTokenizer | None]:
        """The version to pin (``None``: unpinned) and its tokenizer (``None``: send texts)."""
        with self._lock:
            return self._version, self._tokenizer

    def _load(self, version: str) -> BatchTokenizer | None:
        if version in self._cache:
            return self._cache[version]
        assert self._store is not None and self._name is not None
        tok: BatchTokenizer | None = None
        if self._store.get(self._name, version).runtime not in TEXT_RUNTIMES:
            path = self._store.local_path(self._name, version) / TOKENIZER_FILE
            tok = BatchTokenizer(path, self._max_length)
        self._cache[version] = tok
        return tok

    def switch(self, version: str) -> None:
        """Use ``version``'s tokenizer from now on (the predictor's live version)."""
        if self._store is None:
            return
        tok = self._load(version)
        with self._lock:
            if version != self._version:
                log.info("model version %s -> %s: switching tokenizer", self._version, version)
            self._version, self._tokenizer = version, tok
