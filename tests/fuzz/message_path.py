"""Drive the worker's real message path with arbitrary input, and check what comes out.

``bytes (+ key, headers) → validate → text → tokenize (the MiniLM tokenizer.json) → result or
dead letter → serialized record``. The predictor's answer is made up (the predictor is not
under test here); everything else is the worker's own code (:mod:`worker.messages`).
"""

from __future__ import annotations

import json
from functools import cache

from confluent_kafka import Message

from schemas import CategoryResult, DeadLetter, ErrorClass, product_text
from training.builders.artifacts import base_model_dir
from worker.messages import MessagePath, PoisonTexts, tokenize
from worker.outputs import Labelled, Outgoing, OutputBuilder
from worker.predictor_client import Prediction
from worker.tokenization import BatchTokenizer
from worker.validation import Invalid

MAX_BYTES = 64 * 1024
MAX_RECORD = 128 * 1024
PREDICTION = Prediction(label="Machinery", label_id=15, score=0.9,
                        top_k=[("Machinery", 15, 0.9), ("Vehicles", 16, 0.05)])


@cache
def path() -> tuple[MessagePath, BatchTokenizer]:
    outputs = OutputBuilder("out", "dlq", "fuzz", MAX_RECORD)
    tokenizer = BatchTokenizer(base_model_dir() / "tokenizer.json", 128)
    return MessagePath(outputs, MAX_BYTES, 32), tokenizer


def run(value: bytes | None, key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None) -> list[Outgoing]:
    """The records the worker would produce for one consumed message (never raises)."""
    messages, tokenizer = path()
    msg = Message(topic="in", partition=0, offset=7, key=key, value=value, headers=headers)
    outgoing, valid = messages.triage([msg])
    for m, product, text in valid:
        assert text == product_text(product)
        try:
            tokenize(tokenizer, [text])
            outcome: Labelled | Invalid = Labelled(PREDICTION, "category-match", "v1")
        except PoisonTexts as exc:
            outcome = Invalid(ErrorClass.UNPROCESSABLE, f"tokenizing: {exc.reasons[0]}")
        outgoing.append(messages.output(m, product, outcome))
    return outgoing


def check(outgoing: list[Outgoing], value: bytes | None) -> None:
    """One record per message; it parses as what it claims to be and fits the limit."""
    assert len(outgoing) == 1, outgoing
    [out] = outgoing
    assert len(out.value) + len(out.key or b"") <= MAX_RECORD
    if out.dead_letter is not None:
        letter = DeadLetter.model_validate_json(out.value)
        assert letter.reason and letter.error_class == out.dead_letter
        original = value or b""
        assert original.startswith(letter.original_value())
        assert letter.original_size == len(original)
    else:
        result = CategoryResult.model_validate_json(out.value)
        assert out.key == result.product_id.encode()
        json.loads(out.value)
