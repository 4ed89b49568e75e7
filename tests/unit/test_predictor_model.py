"""``CategoryModel`` in process, driven the way kserve drives it (``await model(body)``)."""

from __future__ import annotations

import asyncio
import json
import pickle
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
from kserve.errors import InvalidInput, ModelNotReady
from kserve.protocol.infer_type import InferInput, InferRequest, InferResponse

from core.tokenization import load_tokenizer
from predictor.model import CategoryModel
from tests.fixtures.predictor import SAMPLE_TEXTS

TEXTS = SAMPLE_TEXTS


@pytest.fixture(scope="module")
def model(tiny_model_dir: Path) -> CategoryModel:
    m = CategoryModel(
        "tiny", tiny_model_dir, device="cpu", max_length=128, top_k=3, max_batch_size=64
    )
    assert m.load() is True
    return m


def call(model: CategoryModel, body):
    response, _headers = asyncio.run(model(body))
    return response


def ids_request(model_dir: Path, texts: list[str], pad_to: int | None = None) -> InferRequest:
    tok = load_tokenizer(model_dir, 128)
    if pad_to:
        tok.enable_padding(length=pad_to)
    enc = tok.encode_batch(texts)
    shape = [len(enc), len(enc[0].ids)]
    return InferRequest(
        "tiny",
        [
            InferInput("input_ids", shape, "INT64", [i for e in enc for i in e.ids]),
            InferInput(
                "attention_mask", shape, "INT64", [m for e in enc for m in e.attention_mask]
            ),
        ],
        request_id="req-1",
    )


def outputs(response: InferResponse) -> dict[str, np.ndarray]:
    return {o.name: o.as_numpy() for o in response.outputs}


def test_load_sets_ready_and_version(model: CategoryModel, tiny_model_dir: Path):
    card = json.loads((tiny_model_dir / "catmatch.json").read_text())
    assert model.ready
    assert model.model_version == card["version"] and card["version"].startswith("tiny-")
    assert list(model.classifier.labels) == card["labels"]


def test_v1_call(model: CategoryModel):
    body = call(model, {"instances": TEXTS[:2]})
    assert body["model_name"] == "tiny" and body["model_version"] == model.model_version
    assert len(body["predictions"]) == 2
    for pred in body["predictions"]:
        assert pred["label"] == model.classifier.labels[pred["label_id"]]
        assert len(pred["top_k"]) == 3
        assert pred["top_k"][0]["label_id"] == pred["label_id"]
        scores = [t["score"] for t in pred["top_k"]]
        assert scores == sorted(scores, reverse=True) and 0 < scores[0] <= 1


def test_v2_text_and_pretokenized_agree(model: CategoryModel, tiny_model_dir: Path):
    text_req = InferRequest("tiny", [InferInput("text", [len(TEXTS)], "BYTES", TEXTS)])
    by_text = outputs(call(model, text_req))
    response = call(model, ids_request(tiny_model_dir, TEXTS))
    assert response.id == "req-1" and response.model_version == model.model_version
    by_ids = outputs(response)
    assert by_text["label_id"].tolist() == by_ids["label_id"].tolist()
    assert by_text["label"].tolist() == by_ids["label"].tolist()
    np.testing.assert_allclose(by_text["top_k_score"], by_ids["top_k_score"], rtol=1e-5)
    assert len(set(by_text["label_id"].tolist())) > 1, "tiny model should not be constant"


def test_fixed_length_padding_gives_the_same_answer(model: CategoryModel, tiny_model_dir: Path):
    tight = outputs(call(model, ids_request(tiny_model_dir, TEXTS)))
    padded = outputs(call(model, ids_request(tiny_model_dir, TEXTS, pad_to=64)))
    assert tight["label_id"].tolist() == padded["label_id"].tolist()
    np.testing.assert_allclose(tight["score"], padded["score"], rtol=1e-4)


def test_top_k_parameter_and_scores(model: CategoryModel):
    req = InferRequest(
        "tiny", [InferInput("text", [2], "BYTES", TEXTS[:2])], parameters={"top_k": 5}
    )
    out = outputs(call(model, req))
    assert out["top_k_label_id"].shape == (2, 5)
    np.testing.assert_allclose(out["top_k_score"].sum(axis=1), 1.0, rtol=1e-5)
    assert out["score"].dtype == np.float32 and out["label_id"].dtype == np.int64
    assert (out["top_k_label_id"][:, 0] == out["label_id"]).all()


def test_invalid_input_raises(model: CategoryModel):
    with pytest.raises(InvalidInput):
        call(model, {"instances": ["x"] * 65})
    with pytest.raises(InvalidInput):
        call(model, b"not json")


def test_nothing_loaded_is_model_not_ready_on_v1_and_v2(tiny_model_dir: Path):
    unloaded = CategoryModel("tiny", tiny_model_dir, device="cpu")
    v2 = InferRequest("tiny", [InferInput("text", [1], "BYTES", ["kettle"])])
    for body in ({"instances": ["kettle"]}, v2):
        with pytest.raises(ModelNotReady):  # kserve answers it with HTTP 503
            asyncio.run(unloaded.preprocess(body))


def test_token_counts_are_untruncated(model: CategoryModel):
    classifier = model.classifier
    assert classifier is not None
    short, long = "Oak table", " ".join(["kettle"] * 600)
    counts = classifier.count_tokens([short, long])
    assert counts is not None
    assert counts[0] == int(classifier.tokenize([short]).attention_mask.sum())
    assert counts[1] == 602  # 600 words and [CLS]/[SEP]: not cut at max_length (128)
    assert classifier.tokenize([long]).input_ids.shape[1] == 128  # tokenizing still truncates


def test_predict_runs_on_one_model_thread_without_blocking_the_loop(model: CategoryModel):
    threads: list[str] = []
    original = model.classifier.classify_texts

    def spy(texts, top_k):
        threads.append(threading.current_thread().name)
        return original(texts, top_k)

    async def scenario() -> int:
        ticks = 0
        task = asyncio.ensure_future(model({"instances": TEXTS * 10}))
        while not task.done():
            ticks += 1
            await asyncio.sleep(0)
        await task
        await model({"instances": TEXTS})
        return ticks

    model.classifier.classify_texts = spy
    try:
        ticks = asyncio.run(scenario())
    finally:
        model.classifier.classify_texts = original
    assert ticks > 1, "the event loop was blocked while the model ran"
    assert len(threads) == 2 and len(set(threads)) == 1
    assert threads[0].startswith("model") and threads[0] != threading.main_thread().name


def test_pickles_without_its_executor(model: CategoryModel):
    call(model, {"instances": ["x"]})  # make sure the executor exists
    clone = pickle.loads(pickle.dumps(model))
    assert clone._executor is None
    assert call(clone, {"instances": ["x"]})["predictions"][0]["label_id"] >= 0


def test_metadata_types(model: CategoryModel):
    assert {i["name"] for i in model.get_input_types()} == {
        "text",
        "input_ids",
        "attention_mask",
        "token_type_ids",
    }
    assert [o["name"] for o in model.get_output_types()] == [
        "label",
        "label_id",
        "score",
        "top_k_label",
        "top_k_label_id",
        "top_k_score",
    ]


def test_load_rejects_label_mismatch(tiny_model_dir: Path, tmp_path: Path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model_dir, bad)
    card = json.loads((bad / "catmatch.json").read_text())
    card["labels"] = list(reversed(card["labels"]))
    (bad / "catmatch.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="differ"):
        CategoryModel("bad", bad, device="cpu").load()


def test_load_without_card_reports_version_0(tiny_model_dir: Path, tmp_path: Path):
    plain = tmp_path / "plain"
    shutil.copytree(tiny_model_dir, plain)
    (plain / "catmatch.json").unlink()
    m = CategoryModel("plain", plain, device="cpu")
    m.load()
    assert m.model_version == "0"


def test_load_rejects_a_directory_that_is_not_a_model(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="missing"):
        CategoryModel("x", tmp_path, device="cpu").load()
