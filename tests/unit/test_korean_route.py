"""The Korean route: Hangul rows are labelled by the version's character n-gram model, the
other rows by the network (blended with that model where the route has a blend weight), in
request order, with the route's own calibration."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from core.categories import LABELS
from predictor.korean_route import ROUTE_FILE, ROUTE_KEY, seen_texts
from predictor.scoring import softmax
from training import baseline
from training.generator import generate_products

pytest.importorskip("transformers")
pytest.importorskip("sklearn")

ENGLISH = ["Cordless drill 18V with two batteries", "Organic green tea 100 bags"]
KOREAN = ["[맑은하루] 고농축 세탁세제 3L 리필", "남성 러닝화 쿠셔닝 운동화 270mm"]


@pytest.fixture(scope="module")
def routed_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from training.builders import build_tiny_model
    from training.korean_route import fit_korean_route

    out = build_tiny_model(tmp_path_factory.mktemp("route") / "tiny", list(LABELS))
    products = list(generate_products(1050, seed=4))
    texts = [str(p.message["title"]) for p in products]
    ids = [p.category.index for p in products]
    fit_korean_route(out, (texts[:900], ids[:900]), (texts[900:], ids[900:]),
                     max_length=48, seed=0)
    return out


def test_the_route_is_written_with_its_card_entry(routed_dir: Path) -> None:
    card = json.loads((routed_dir / "catmatch.json").read_text())
    entry = card[ROUTE_KEY]
    assert entry["model_file"] == ROUTE_FILE and (routed_dir / ROUTE_FILE).is_file()
    assert entry["temperature"] > 0
    assert entry["blend_weight"] == 0.5  # training.korean_route.BLEND_WEIGHT


def test_seen_texts_are_what_the_tokenizer_keeps() -> None:
    from core.tokenization import load_tokenizer
    from training.builders import base_model_dir

    tokenizer = load_tokenizer(base_model_dir(), 48)
    # BERT normalisation lower-cases and splits punctuation; the jamo come back as syllables
    assert seen_texts(tokenizer, ["[Brand] 무선 청소기 2개"]) == ["[ brand ] 무선 청소기 2개"]


def test_hangul_rows_go_to_the_route_and_the_rest_to_the_network(routed_dir: Path) -> None:
    from predictor.loading import load_classifier

    model = load_classifier(routed_dir, "cpu", 48)
    assert model.korean is not None
    model.korean = route = dataclasses.replace(model.korean, blend_weight=0.0)
    texts = [ENGLISH[0], KOREAN[0], ENGLISH[1], KOREAN[1]]
    batch = model.tokenize(texts)
    assert route.rows(batch.input_ids, batch.attention_mask).tolist() == [
        False, True, False, True]
    got = model.classify(batch, 3)

    network = softmax(model.logits(model.tokenize(ENGLISH)), model.temperature)
    np.testing.assert_allclose(got.scores[[0, 2]], network.max(axis=1), rtol=1e-5)
    assert got.label_ids[[0, 2]].tolist() == network.argmax(axis=1).tolist()

    seen = seen_texts(model.tokenizer, KOREAN)
    probs = route.pipeline.predict_proba(seen)  # the route's own calibration is served
    expected = softmax(np.log(probs), route.temperature)
    classes = np.asarray(route.pipeline.classes_)
    assert got.label_ids[[1, 3]].tolist() == classes[expected.argmax(axis=1)].tolist()
    np.testing.assert_allclose(got.scores[[1, 3]], expected.max(axis=1), rtol=1e-4)
    assert got.label_ids[[1, 3]].tolist() == baseline.predict_baseline(
        route.pipeline, seen).tolist()


def test_english_rows_are_served_the_geometric_mean_of_the_two_calibrated_models(
    routed_dir: Path,
) -> None:
    """blend_weight w: p ∝ p_network^(1-w) · p_route^w, each with its own temperature; the
    Korean rows are still the route's alone."""
    from predictor.loading import load_classifier

    model = load_classifier(routed_dir, "cpu", 48)
    route = model.korean
    assert route is not None and route.blend_weight == 0.5
    texts = [ENGLISH[0], KOREAN[0], ENGLISH[1]]
    got = model.classify(model.tokenize(texts), len(LABELS))

    network = softmax(model.logits(model.tokenize(ENGLISH)), model.temperature)
    probs = np.zeros((len(ENGLISH), len(LABELS)))
    probs[:, np.asarray(route.pipeline.classes_)] = route.pipeline.predict_proba(
        seen_texts(model.tokenizer, ENGLISH))
    ngram = softmax(np.log(probs), route.temperature)
    expected = np.sqrt(network * ngram)
    expected /= expected.sum(axis=1, keepdims=True)
    for row, want in zip((0, 2), expected, strict=True):
        np.testing.assert_allclose(got.top_scores[row], want[got.top_ids[row]], rtol=1e-4,
                                   atol=1e-6)
    assert not np.allclose(expected, network, atol=1e-3)  # the blend changed the scores

    alone = load_classifier(routed_dir, "cpu", 48)
    alone.korean = dataclasses.replace(route, blend_weight=0.0)
    korean = alone.classify(alone.tokenize([KOREAN[0]]), len(LABELS))
    np.testing.assert_allclose(got.top_scores[1], korean.top_scores[0], rtol=1e-5)


def test_a_blend_weight_outside_0_1_is_refused(routed_dir: Path, tmp_path: Path) -> None:
    import shutil

    from predictor.loading import load_classifier

    bad = tmp_path / "bad"
    shutil.copytree(routed_dir, bad)
    card = json.loads((bad / "catmatch.json").read_text())
    card[ROUTE_KEY]["blend_weight"] = 1.0
    (bad / "catmatch.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="blend_weight"):
        load_classifier(bad, "cpu", 48)


def test_a_version_without_the_entry_has_no_route(tmp_path: Path) -> None:
    from predictor.loading import load_classifier
    from training.builders import build_tiny_model

    out = build_tiny_model(tmp_path / "plain", list(LABELS))
    assert load_classifier(out, "cpu", 48).korean is None


def test_the_int8_export_carries_the_route(routed_dir: Path, tmp_path: Path) -> None:
    from predictor.loading import load_classifier
    from predictor.onnx_runtime import load_onnx
    from training.onnx_export import export_onnx

    out = tmp_path / "int8"
    export_onnx(routed_dir, out, quantization="dynamic-int8", max_length=48, min_agreement=0.0)
    assert (out / ROUTE_FILE).is_file()
    assert json.loads((out / "catmatch.json").read_text())[ROUTE_KEY]["model_file"] == ROUTE_FILE
    onnx_model = load_onnx(out, "cpu", 48)
    torch_model = load_classifier(routed_dir, "cpu", 48)
    assert onnx_model.korean is not None
    both = [m.classify_texts(KOREAN, 1) for m in (onnx_model, torch_model)]
    assert both[0].label_ids.tolist() == both[1].label_ids.tolist()  # the same route
