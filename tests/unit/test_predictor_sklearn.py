"""The sklearn runtime: joblib estimators served by ``CategoryModel`` over the same V1/V2."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

from predictor.model import CategoryModel
from predictor.runtimes import detect_runtime
from predictor.sklearn_runtime import load_sklearn
from training.builders import build_tiny_sklearn
from training.builders.tiny import DEFAULT_TINY_LABELS

TEXTS = ["usb charger fast", "teddy bear brown", "cotton shirt", "oak table", "green tea"]
EXPECTED = ["electronics", "toys", "apparel", "home", "food"]


def call(model: CategoryModel, body):
    response, _headers = asyncio.run(model(body))
    return response


def text_request(texts: list[str], outputs: list[str] | None = None) -> InferRequest:
    return InferRequest(
        "sk",
        [InferInput("text", [len(texts)], "BYTES", list(texts))],
        request_id="r1",
        request_outputs=[RequestedOutput(name) for name in outputs] if outputs else None,
    )


def as_arrays(response) -> dict[str, np.ndarray]:
    return {o.name: np.asarray(o.data) for o in response.outputs}


def served(model_dir: Path, **kwargs) -> CategoryModel:
    model = CategoryModel("sk", model_dir, top_k=3, **kwargs)
    assert model.load() is True
    return model


@pytest.fixture(scope="module")
def classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_sklearn(tmp_path_factory.mktemp("sk") / "clf")


@pytest.fixture(scope="module")
def classifier(classifier_dir: Path) -> CategoryModel:
    return served(classifier_dir)


def test_classification_v1_labels_and_probabilities_match_the_pipeline(
    classifier: CategoryModel, classifier_dir: Path
):
    pipeline = joblib.load(classifier_dir / "model.joblib")
    body = call(classifier, {"instances": TEXTS})
    preds = body["predictions"]
    assert body["model_version"] == "tiny-sklearn-1"
    assert [p["label"] for p in preds] == EXPECTED
    assert [p["label_id"] for p in preds] == pipeline.predict(TEXTS).tolist()
    probs = np.asarray([p["probabilities"] for p in preds])
    np.testing.assert_allclose(probs, pipeline.predict_proba(TEXTS), rtol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    for p, row in zip(preds, probs, strict=True):
        assert p["score"] == pytest.approx(row.max(), rel=1e-6)
        assert [t["label_id"] for t in p["top_k"]] == np.argsort(-row)[:3].tolist()


def test_classification_v2_text_gives_the_same_answers_and_honours_outputs(
    classifier: CategoryModel,
):
    out = as_arrays(call(classifier, text_request(TEXTS)))
    assert out["label"].tolist() == EXPECTED
    assert out["probabilities"].shape == (len(TEXTS), len(DEFAULT_TINY_LABELS))
    assert out["top_k_label_id"].shape == (len(TEXTS), 3)
    only, _ = call(classifier, text_request(TEXTS, outputs=["label", "label_id"])).to_rest()
    assert [o["name"] for o in only["outputs"]] == ["label", "label_id"]


def test_token_ids_are_refused_with_what_the_model_takes(classifier: CategoryModel):
    ids = InferRequest(
        "sk",
        [
            InferInput("input_ids", [1, 3], "INT64", [101, 2000, 102]),
            InferInput("attention_mask", [1, 3], "INT64", [1, 1, 1]),
        ],
    )
    with pytest.raises(InvalidInput, match="takes input 'text'"):
        call(classifier, ids)
    with pytest.raises(InvalidInput, match="unknown output 'prediction'"):
        call(classifier, text_request(["x"], outputs=["prediction"]))


def test_metadata_lists_text_input_and_probabilities(classifier: CategoryModel):
    assert [i["name"] for i in classifier.get_input_types()] == ["text"]
    names = [o["name"] for o in classifier.get_output_types()]
    assert names[:3] == ["label", "label_id", "score"]
    assert names[-1] == "probabilities"


def test_a_text_pipeline_has_no_token_count(classifier: CategoryModel):
    assert classifier.classifier is not None
    assert classifier.classifier.count_tokens(["word " * 1000]) is None


def test_serving_an_sklearn_model_never_imports_torch(classifier_dir: Path):
    script = (
        "import asyncio, sys\n"
        "from predictor.model import CategoryModel\n"
        f"m = CategoryModel('sk', {str(classifier_dir)!r})\n"
        "m.load()\n"
        "r, _ = asyncio.run(m({'instances': ['usb cable']}))\n"
        "print(r['predictions'][0]['label'], 'torch' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()
    assert out == ["electronics", "False"]


def test_string_classes_are_ordered_by_the_card_labels(tmp_path: Path):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    texts = ["red apple", "green apple", "steel bolt", "iron nail", "silk scarf", "wool hat"]
    names = ["fruit", "fruit", "metal", "metal", "cloth", "cloth"]
    pipe = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 3)),
                         LogisticRegression(C=10)).fit(texts, names)
    assert list(pipe.classes_) == ["cloth", "fruit", "metal"]  # sklearn sorts them
    joblib.dump(pipe, tmp_path / "model.joblib")
    card = {"name": "strings", "version": "s1", "labels": ["metal", "fruit", "cloth"],
            "runtime": "sklearn"}
    (tmp_path / "catmatch.json").write_text(json.dumps(card))
    body = call(served(tmp_path), {"instances": ["apple", "bolt"]})
    first, second = body["predictions"]
    assert (first["label"], first["label_id"]) == ("fruit", 1)
    assert (second["label"], second["label_id"]) == ("metal", 0)
    expected = pipe.predict_proba(["apple"])[0]  # columns cloth, fruit, metal
    np.testing.assert_allclose(first["probabilities"], expected[[2, 1, 0]], rtol=1e-5)


def test_regression_answers_predictions(tmp_path: Path):
    model_dir = build_tiny_sklearn(tmp_path / "reg", task="regression")
    pipeline = joblib.load(model_dir / "model.joblib")
    model = served(model_dir)
    body = call(model, {"instances": TEXTS})
    np.testing.assert_allclose(body["predictions"], pipeline.predict(TEXTS), rtol=1e-5)
    assert body["predictions"][0] == pytest.approx(20.0, abs=5.0)  # electronics: 20
    out = as_arrays(call(model, text_request(TEXTS)))
    assert list(out) == ["prediction"]
    np.testing.assert_allclose(out["prediction"], pipeline.predict(TEXTS), rtol=1e-5)
    assert [o["name"] for o in model.get_output_types()] == ["prediction"]
    with pytest.raises(InvalidInput, match="unknown output 'label'"):
        call(model, text_request(TEXTS, outputs=["label"]))


def _numeric_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] + 2 * x[:, 1] > 0).astype(int) + (x[:, 3] > 1).astype(int)
    return x, y


def test_numeric_features_without_a_card(tmp_path: Path):
    x, y = _numeric_data()
    clf = LogisticRegression().fit(x, y)
    joblib.dump(clf, tmp_path / "clf.pkl")
    assert detect_runtime(tmp_path) == "sklearn"
    model = served(tmp_path)
    rows = x[:6]
    body = call(model, {"instances": rows.tolist()})
    assert [p["label_id"] for p in body["predictions"]] == clf.predict(rows).tolist()
    assert body["predictions"][0]["label"] == str(clf.predict(rows[:1])[0])
    assert body["model_version"] == "0"
    v2 = InferRequest("sk", [InferInput("features", [6, 4], "FP32", rows.ravel().tolist())])
    out = as_arrays(call(model, v2))
    np.testing.assert_allclose(out["probabilities"], clf.predict_proba(rows), rtol=1e-4)
    assert model.get_input_types() == [{"name": "features", "datatype": "FP64", "shape": [-1, 4]}]
    for bad, match in (
        ({"instances": [[1.0, 2.0, 3.0]]}, "needs 4 features"),
        ({"instances": [[1.0, 2.0, 3.0, float("nan")]]}, "finite"),
        ({"instances": ["some text"]}, "rows of numbers"),
    ):
        with pytest.raises(InvalidInput, match=match):
            call(model, bad)
    with pytest.raises(InvalidInput, match="takes input 'features'"):
        call(model, text_request(["text"]))


def test_classifier_without_predict_proba_gives_one_hot(tmp_path: Path):
    x, y = _numeric_data()
    svm = LinearSVC().fit(x, y)
    joblib.dump(svm, tmp_path / "model.joblib")
    body = call(served(tmp_path), {"instances": x[:5].tolist()})
    for pred, want in zip(body["predictions"], svm.predict(x[:5]), strict=True):
        assert pred["label_id"] == want
        assert pred["score"] == 1.0
        assert sorted(pred["probabilities"]) == [0.0, 0.0, 1.0]


def test_runtime_detection_and_load_errors(tmp_path: Path, classifier_dir: Path, tiny_model_dir):
    assert detect_runtime(classifier_dir) == "sklearn"
    assert detect_runtime(tiny_model_dir) == "transformers"
    x, y = _numeric_data()
    two = tmp_path / "two"
    two.mkdir()
    joblib.dump(LogisticRegression().fit(x, y), two / "a.joblib")
    joblib.dump(LogisticRegression().fit(x, y), two / "b.joblib")
    with pytest.raises(FileNotFoundError, match="expected one"):
        load_sklearn(two)
    (two / "catmatch.json").write_text(json.dumps({"name": "x", "labels": ["only-one"],
                                                   "model_file": "a.joblib"}))
    with pytest.raises(ValueError, match="no name"):
        load_sklearn(two)
    (two / "catmatch.json").write_text(json.dumps({"name": "x", "runtime": "tensorrt"}))
    with pytest.raises(ValueError, match="unknown runtime"):
        detect_runtime(two)


def test_store_versions_of_an_sklearn_model_swap_like_transformers(tmp_path: Path):
    from modelstore import ModelStore
    from predictor.store_source import StoreSource

    store = ModelStore.from_uri(tmp_path / "store")
    name = "category-match-tfidf"
    first = build_tiny_sklearn(tmp_path / "a")
    second = build_tiny_sklearn(tmp_path / "b", labels=["alpha", "beta", "gamma"])
    for src in (first, second):
        store.publish(name, src, runtime="sklearn", metrics={}, info={})
    store.promote(name, "v1", "dev", actor="test")
    model = CategoryModel("sk", source=StoreSource(store, name, "dev"))
    model.load()
    assert call(model, {"instances": ["usb cable"]})["model_version"] == "v1"
    store.promote(name, "v2", "dev", actor="test")
    assert model.versions.manager.poll() is True
    body = call(model, {"instances": ["usb cable"]})
    assert body["model_version"] == "v2"
    assert body["predictions"][0]["label"] in {"alpha", "beta", "gamma"}
    model.stop()
