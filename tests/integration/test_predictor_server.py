"""The real predictor process (kserve.ModelServer + CategoryModel) over HTTP on loopback."""

from __future__ import annotations

import json

import pytest

from core.tokenization import load_tokenizer
from tests.fixtures.predictor import SAMPLE_TEXTS, PredictorServer, get_json, post_json

pytestmark = pytest.mark.integration

TEXTS = SAMPLE_TEXTS
OUTPUTS = ["label", "label_id", "score", "top_k_label", "top_k_label_id", "top_k_score"]


def card(server: PredictorServer) -> dict:
    return json.loads((server.model_dir / "catmatch.json").read_text())


def tokenized_body(server: PredictorServer, texts: list[str], **extra) -> dict:
    tok = load_tokenizer(server.model_dir, 128)
    enc = tok.encode_batch(texts)
    shape = [len(enc), len(enc[0].ids)]
    return {
        "inputs": [
            {
                "name": "input_ids",
                "datatype": "INT64",
                "shape": shape,
                "data": [i for e in enc for i in e.ids],
            },
            {
                "name": "attention_mask",
                "datatype": "INT64",
                "shape": shape,
                "data": [m for e in enc for m in e.attention_mask],
            },
        ],
        **extra,
    }


def v2_outputs(body: dict) -> dict[str, dict]:
    return {o["name"]: o for o in body["outputs"]}


def test_health_readiness_and_metadata(predictor_server: PredictorServer):
    url, name = predictor_server.url, predictor_server.model_name
    assert get_json(f"{url}/v2/health/live") == (200, {"live": True})
    assert get_json(f"{url}/v2/health/ready") == (200, {"ready": True})
    assert get_json(f"{url}/v2/models/{name}/ready") == (200, {"name": name, "ready": True})
    assert get_json(f"{url}/v1/models/{name}") == (200, {"name": name, "ready": True})
    status, meta = get_json(f"{url}/v2/models/{name}")
    assert status == 200 and meta["name"] == name
    assert {i["name"] for i in meta["inputs"]} >= {"text", "input_ids", "attention_mask"}
    assert [o["name"] for o in meta["outputs"]] == OUTPUTS
    assert get_json(f"{url}/v2/models/nope/ready")[0] == 404


def test_v1_predict(predictor_server: PredictorServer):
    status, body = post_json(
        f"{predictor_server.url}/v1/models/{predictor_server.model_name}:predict",
        {"instances": TEXTS[:2] + [{"text": TEXTS[2]}]},
    )
    assert status == 200, body
    assert body["model_name"] == predictor_server.model_name
    assert body["model_version"] == card(predictor_server)["version"]
    labels = card(predictor_server)["labels"]
    assert len(body["predictions"]) == 3
    for pred in body["predictions"]:
        assert pred["label"] == labels[pred["label_id"]]
        assert len(pred["top_k"]) == 3 and pred["top_k"][0]["score"] == pred["score"]


def test_v2_bytes_and_pretokenized_agree_with_v1(predictor_server: PredictorServer):
    server = predictor_server
    _, v1 = post_json(f"{server.url}/v1/models/{server.model_name}:predict", {"instances": TEXTS})
    status, by_text = post_json(
        server.infer_url,
        {
            "id": "text-1",
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(TEXTS)], "data": TEXTS}],
        },
    )
    assert status == 200, by_text
    status, by_ids = post_json(server.infer_url, tokenized_body(server, TEXTS, id="ids-1"))
    assert status == 200, by_ids
    assert by_text["id"] == "text-1" and by_ids["id"] == "ids-1"
    version = card(server)["version"]
    assert by_text["model_version"] == by_ids["model_version"] == version
    a, b = v2_outputs(by_text), v2_outputs(by_ids)
    assert list(a) == OUTPUTS
    assert a["label"]["datatype"] == "BYTES" and a["label"]["shape"] == [len(TEXTS)]
    assert a["label_id"]["datatype"] == "INT64" and a["score"]["datatype"] == "FP32"
    assert a["top_k_label"]["shape"] == [len(TEXTS), 3]
    assert a["top_k_score"]["datatype"] == "FP32"
    v1_labels = [p["label"] for p in body_predictions(v1)]
    assert a["label"]["data"] == b["label"]["data"] == v1_labels
    assert a["label_id"]["data"] == b["label_id"]["data"]
    assert b["top_k_score"]["data"] == pytest.approx(a["top_k_score"]["data"], rel=1e-5)


def body_predictions(v1: dict) -> list[dict]:
    return v1["predictions"]


def test_v2_top_k_parameter(predictor_server: PredictorServer):
    status, body = post_json(
        predictor_server.infer_url,
        tokenized_body(predictor_server, TEXTS[:2], parameters={"top_k": 1}),
    )
    assert status == 200, body
    out = v2_outputs(body)
    assert out["top_k_label_id"]["shape"] == [2, 1]
    assert out["top_k_label_id"]["data"] == out["label_id"]["data"]


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": [{"name": "tokens", "datatype": "INT64", "shape": [1, 2], "data": [1, 2]}]},
        {
            "inputs": [
                {"name": "input_ids", "datatype": "INT64", "shape": [1, 3], "data": [101, 2000]},
                {"name": "attention_mask", "datatype": "INT64", "shape": [1, 3], "data": [1, 1, 1]},
            ]
        },
        {
            "inputs": [
                {"name": "input_ids", "datatype": "INT64", "shape": [1, 2], "data": [101, 2000]},
                {"name": "attention_mask", "datatype": "INT64", "shape": [1, 3], "data": [1, 1, 1]},
            ]
        },
        {
            "inputs": [
                {"name": "input_ids", "datatype": "INT64", "shape": [1, 2], "data": [101, 10**6]},
                {"name": "attention_mask", "datatype": "INT64", "shape": [1, 2], "data": [1, 1]},
            ]
        },
        {
            "inputs": [
                {"name": "input_ids", "datatype": "INT64", "shape": [1, 600], "data": [101] * 600},
                {
                    "name": "attention_mask",
                    "datatype": "INT64",
                    "shape": [1, 600],
                    "data": [1] * 600,
                },
            ]
        },
        {
            "inputs": [
                {
                    "name": "input_ids",
                    "datatype": "INT64",
                    "shape": [1025, 1],
                    "data": [101] * 1025,
                },
                {
                    "name": "attention_mask",
                    "datatype": "INT64",
                    "shape": [1025, 1],
                    "data": [1] * 1025,
                },
            ]
        },
        {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["a"]}]},
        {
            "inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a"]}],
            "parameters": {"top_k": 0},
        },
        {"inputs": []},
        {"not": "an inference request"},
    ],
    ids=[
        "unknown-input",
        "short-data",
        "shape-mismatch",
        "id-out-of-vocab",
        "too-long",
        "batch-too-large",
        "bytes-shape",
        "top-k-0",
        "no-inputs",
        "not-v2",
    ],
)
def test_v2_malformed_requests_are_400_class(predictor_server: PredictorServer, body: dict):
    status, answer = post_json(predictor_server.infer_url, body)
    assert 400 <= status < 500, (status, answer)
    assert predictor_server.is_ready()


@pytest.mark.parametrize(
    "body",
    [{"instances": []}, {"instances": [42]}, {"texts": ["a"]}, {"instances": ["a"] * 1025}],
    ids=["empty", "not-text", "no-instances", "batch-too-large"],
)
def test_v1_malformed_requests_are_400(predictor_server: PredictorServer, body: dict):
    url = f"{predictor_server.url}/v1/models/{predictor_server.model_name}:predict"
    status, answer = post_json(url, body)
    assert status == 400, answer
    assert "error" in answer


def test_listens_on_loopback_only_and_no_grpc(predictor_server: PredictorServer):
    psutil = pytest.importorskip("psutil")  # installed with kserve
    proc = psutil.Process(predictor_server.process.pid)
    listening = {
        (c.laddr.ip, c.laddr.port)
        for p in [proc, *proc.children(recursive=True)]
        for c in getattr(p, "net_connections", p.connections)(kind="inet")
        if c.status == psutil.CONN_LISTEN
    }
    assert listening == {("127.0.0.1", predictor_server.port)}


def test_workers_2_children_serve_our_routes_behind_the_token(predictor_factory):
    """With ``--workers 2`` kserve serves from spawned children, each building its own app:
    the token check, ``/predict`` and version pinning must be installed in every one."""
    server = predictor_factory(
        extra_args=["--workers", "2"], env={"CATMATCH_SERVE__TOKEN": "s3cret"}
    )
    auth = {"Authorization": "Bearer s3cret"}
    name, version = server.model_name, card(server)["version"]
    text_body = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [2], "data": TEXTS[:2]}]}
    for _ in range(6):  # several requests, so that both children are likely to answer some
        assert post_json(f"{server.url}/predict", {"text": TEXTS[:2]})[0] == 401
        assert post_json(server.infer_url, text_body)[0] == 401
        status, answer = post_json(f"{server.url}/predict", {"text": TEXTS[:2]}, headers=auth)
        assert status == 200, answer
        assert answer["model_version"] == version and len(answer["predictions"]) == 2
    pinned = f"{server.url}/v2/models/{name}/versions/{version}/infer"
    status, answer = post_json(pinned, text_body, headers=auth)
    assert status == 200 and answer["model_version"] == version, answer
    status, answer = post_json(f"{server.url}/v2/models/{name}/versions/v99/infer", text_body,
                               headers=auth)
    assert status == 409 and answer["live_version"] == version, answer
    assert get_json(f"{server.url}/v2/health/ready") == (200, {"ready": True})  # no token
