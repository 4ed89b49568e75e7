"""V1 / V2 request decoding and response encoding (no model, no I/O)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferInput, InferRequest, RequestedOutput

from predictor.batches import ClassifyRequest, Limits, Prediction
from predictor.protocol import decode_v1, decode_v2, encode_v1, encode_v2
from predictor.protocol.v2 import OUTPUT_SPECS

LIMITS = Limits(
    max_batch_size=4,
    max_positions=16,
    vocab_size=100,
    type_vocab_size=2,
    num_labels=5,
    default_top_k=3,
)
LABELS = ["apparel", "electronics", "food", "home", "toys"]


def ids_request(ids, mask, shape=None, types=None, parameters=None, request_id="r1"):
    shape = shape or [len(ids), len(ids[0])]
    flat = lambda rows: [v for row in rows for v in row]  # noqa: E731
    inputs = [
        InferInput("input_ids", shape, "INT64", flat(ids)),
        InferInput("attention_mask", shape, "INT64", flat(mask)),
    ]
    if types is not None:
        inputs.append(InferInput("token_type_ids", shape, "INT64", flat(types)))
    return InferRequest("m", inputs, request_id=request_id, parameters=parameters)


def text_request(texts, shape=None, parameters=None):
    inp = InferInput("text", shape or [len(texts)], "BYTES", list(texts))
    return InferRequest("m", [inp], request_id="t1", parameters=parameters)


# ---- V1 ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"instances": ["kettle", "t-shirt"]},
        {"instances": [{"text": "kettle"}, {"text": "t-shirt"}]},
        [{"text": "kettle"}, "t-shirt"],
    ],
)
def test_v1_accepts_strings_and_text_objects(body):
    req = decode_v1(body, LIMITS)
    assert req.protocol == "v1"
    assert req.texts == ["kettle", "t-shirt"]
    assert req.top_k == 3


def test_v1_top_k_parameter_is_clamped_to_label_count():
    assert decode_v1({"instances": ["a"], "parameters": {"top_k": 2}}, LIMITS).top_k == 2
    assert decode_v1({"instances": ["a"], "parameters": {"top_k": 50}}, LIMITS).top_k == 5


@pytest.mark.parametrize(
    "body",
    [
        {"foo": ["a"]},
        {"instances": "a"},
        {"instances": []},
        {"instances": ["a"] * 5},
        {"instances": [1]},
        {"instances": [{"title": "a"}]},
        {"instances": ["a"], "parameters": {"top_k": 0}},
        {"instances": ["a"], "parameters": {"top_k": "3"}},
        {"instances": ["a"], "parameters": {"top_k": True}},
        {"instances": ["a"], "parameters": [1]},
        {"instances": ["x" * 70_000]},
        b"raw bytes",
        "a string",
    ],
)
def test_v1_malformed_is_invalid_input(body):
    with pytest.raises(InvalidInput):
        decode_v1(body, LIMITS)


def test_v1_encoding():
    pred = Prediction(
        label_ids=np.array([3, 0]),
        scores=np.array([0.7, 0.5], dtype=np.float32),
        top_ids=np.array([[3, 1], [0, 4]]),
        top_scores=np.array([[0.7, 0.2], [0.5, 0.3]], dtype=np.float32),
    )
    body = encode_v1(pred, LABELS, "m", "v9")
    assert body["model_name"] == "m" and body["model_version"] == "v9"
    first = body["predictions"][0]
    assert first["label"] == "home" and first["label_id"] == 3
    assert first["score"] == pytest.approx(0.7)
    assert [t["label"] for t in first["top_k"]] == ["home", "electronics"]
    assert [t["label_id"] for t in body["predictions"][1]["top_k"]] == [0, 4]
    assert all(isinstance(p["label_id"], int) for p in body["predictions"])


# ---- V2 decoding -----------------------------------------------------------------------------


def test_v2_bytes_text():
    req = decode_v2(text_request(["kettle", "t-shirt"]), LIMITS)
    assert req.protocol == "v2" and req.texts == ["kettle", "t-shirt"]
    assert req.tokens is None and req.request_id == "t1"


def test_v2_bytes_from_binary_data_are_decoded():
    inp = InferInput("text", [2], "BYTES")
    inp.set_data_from_numpy(np.array([b"kettle", b"t-shirt"], dtype=object))
    req = decode_v2(InferRequest("m", [inp]), LIMITS)
    assert req.texts == ["kettle", "t-shirt"]


def test_v2_bytes_shape_b_by_1_is_accepted():
    assert decode_v2(text_request(["a", "b"], shape=[2, 1]), LIMITS).texts == ["a", "b"]


def test_v2_int64_pretokenized():
    req = decode_v2(
        ids_request(
            [[11, 5, 12, 0], [11, 7, 8, 12]], [[1, 1, 1, 0], [1, 1, 1, 1]], parameters={"top_k": 2}
        ),
        LIMITS,
    )
    assert req.texts is None and req.top_k == 2
    enc = req.tokens
    assert enc.input_ids.dtype == np.int64 and enc.input_ids.shape == (2, 4)
    assert enc.attention_mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 1]]
    assert enc.token_type_ids is None


def test_v2_int64_with_token_type_ids_and_int32():
    request = ids_request([[1, 2]], [[1, 1]], types=[[0, 1]])
    for inp in request.inputs:
        inp._datatype = "INT32"
    req = decode_v2(request, LIMITS)
    assert req.tokens.token_type_ids.tolist() == [[0, 1]]


@pytest.mark.parametrize(
    ("request_factory", "message"),
    [
        (lambda: text_request(["a"], shape=[2]), "values"),
        (lambda: text_request([]), "empty"),
        (lambda: text_request(["a"] * 5), "exceeds"),
        (lambda: text_request(["a"], parameters={"top_k": -1}), "top_k"),
        (lambda: InferRequest("m", [InferInput("foo", [1], "BYTES", ["a"])]), "takes input"),
        (lambda: InferRequest("m", []), "takes input"),
        (lambda: InferRequest("m", [InferInput("text", [1], "INT64", [1])]), "BYTES"),
        (lambda: InferRequest("m", [InferInput("text", [1], "BYTES", [5])]), "string"),
        (lambda: ids_request([[1, 2]], [[1, 1]], shape=[1, 3]), "values"),
        (lambda: ids_request([[1, 2]], [[1, 1]], shape=[2]), "[B, L]"),
        (lambda: ids_request([[1, 100]], [[1, 1]]), "[0, 100)"),
        (lambda: ids_request([[1, -1]], [[1, 1]]), "[0, 100)"),
        (lambda: ids_request([[1, 2]], [[1, 2]]), "[0, 2)"),
        (lambda: ids_request([[1, 2]], [[0, 0]]), "at least one"),
        (lambda: ids_request([[1, 2]], [[1, 1]], types=[[0, 2]]), "[0, 2)"),
        (lambda: ids_request([[1] * 17], [[1] * 17]), "sequence length"),
        (lambda: ids_request([[1]] * 5, [[1]] * 5), "exceeds"),
        (lambda: ids_request([[1, 2.5]], [[1, 1]]), "integers"),
        (lambda: ids_request([[1, "2"]], [[1, 1]]), "integers"),
        (lambda: ids_request([[True, False]], [[1, 1]]), "integers"),
    ],
)
def test_v2_malformed_is_invalid_input(request_factory, message):
    with pytest.raises(InvalidInput, match=re.escape(message)):
        decode_v2(request_factory(), LIMITS)


def test_v2_mismatched_shapes_between_inputs():
    request = InferRequest(
        "m",
        [
            InferInput("input_ids", [1, 2], "INT64", [1, 2]),
            InferInput("attention_mask", [1, 3], "INT64", [1, 1, 1]),
        ],
    )
    with pytest.raises(InvalidInput, match="shape"):
        decode_v2(request, LIMITS)


def test_v2_text_mixed_with_ids_is_rejected():
    request = ids_request([[1, 2]], [[1, 1]])
    request.inputs.append(InferInput("text", [1], "BYTES", ["a"]))
    with pytest.raises(InvalidInput, match="takes input"):
        decode_v2(request, LIMITS)


def test_v2_unknown_requested_output_is_rejected():
    request = text_request(["a"])
    request.request_outputs = [RequestedOutput("logits")]
    with pytest.raises(InvalidInput, match="unknown output"):
        decode_v2(request, LIMITS)


# ---- V2 encoding -----------------------------------------------------------------------------


def _prediction(rows: int, k: int) -> Prediction:
    top_ids = np.array([[(r + j) % 5 for j in range(k)] for r in range(rows)], dtype=np.int64)
    top_scores = np.tile(np.linspace(0.6, 0.1, k, dtype=np.float32), (rows, 1))
    return Prediction(top_ids[:, 0].copy(), top_scores[:, 0].copy(), top_ids, top_scores)


def test_v2_encoding_contract():
    source = text_request(["a", "b"])
    req = ClassifyRequest(protocol="v2", top_k=3, texts=["a", "b"], request_id="abc", source=source)
    body, _ = encode_v2(req, _prediction(2, 3), LABELS, "m", "v7").to_rest()
    assert body["id"] == "abc" and body["model_name"] == "m" and body["model_version"] == "v7"
    out = {o["name"]: o for o in body["outputs"]}
    assert [o["name"] for o in body["outputs"]] == [s["name"] for s in OUTPUT_SPECS]
    assert out["label"] == {**out["label"], "datatype": "BYTES", "shape": [2]}
    assert out["label"]["data"] == ["apparel", "electronics"]
    assert out["label_id"]["datatype"] == "INT64" and out["label_id"]["data"] == [0, 1]
    assert out["score"]["datatype"] == "FP32" and out["score"]["shape"] == [2]
    assert out["top_k_label"]["shape"] == [2, 3]
    assert out["top_k_label"]["data"] == [
        "apparel",
        "electronics",
        "food",
        "electronics",
        "food",
        "home",
    ]
    assert out["top_k_label_id"]["datatype"] == "INT64"
    assert out["top_k_label_id"]["data"] == [0, 1, 2, 1, 2, 3]
    assert out["top_k_score"]["datatype"] == "FP32" and out["top_k_score"]["shape"] == [2, 3]
    assert out["top_k_score"]["data"][:3] == pytest.approx([0.6, 0.35, 0.1])


def test_v2_encoding_honours_requested_outputs_and_generates_an_id():
    source = text_request(["a"])
    source.request_outputs = [RequestedOutput("label"), RequestedOutput("score")]
    req = ClassifyRequest(protocol="v2", top_k=1, texts=["a"], source=source)
    body, _ = encode_v2(req, _prediction(1, 1), LABELS, "m", "v").to_rest()
    assert [o["name"] for o in body["outputs"]] == ["label", "score"]
    assert body["id"]


def test_v2_encoding_for_grpc_uses_typed_contents():
    source = text_request(["a"])
    source.from_grpc = True
    req = ClassifyRequest(protocol="v2", top_k=2, texts=["a"], source=source)
    response = encode_v2(req, _prediction(1, 2), LABELS, "m", "v")
    grpc = response.to_grpc()
    assert grpc.model_version == "v"
    names = [o.name for o in grpc.outputs]
    assert names[:3] == ["label", "label_id", "score"]
    assert list(grpc.outputs[1].contents.int64_contents) == [0]
