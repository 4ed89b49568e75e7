import asyncio

import pytest

from worker.predictor_client import (
    PredictorRejected,
    PredictorServerError,
    PredictorUnavailable,
    parse_response,
)
from worker.retry import RetryPolicy


def v2_response(rows: int, k: int = 2) -> dict:
    return {
        "model_name": "m",
        "model_version": "7",
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [rows], "data": ["a"] * rows},
            {"name": "label_id", "datatype": "INT64", "shape": [rows], "data": [0] * rows},
            {"name": "score", "datatype": "FP32", "shape": [rows], "data": [0.9] * rows},
            {
                "name": "top_k_label",
                "datatype": "BYTES",
                "shape": [rows, k],
                "data": ["a", "b"] * rows,
            },
            {
                "name": "top_k_label_id",
                "datatype": "INT64",
                "shape": [rows, k],
                "data": [0, 1] * rows,
            },
            {
                "name": "top_k_score",
                "datatype": "FP32",
                "shape": [rows, k],
                "data": [0.9, 0.1] * rows,
            },
        ],
    }


def test_v2_response_is_read_row_by_row():
    result = parse_response(v2_response(3), rows=3)
    assert result.model_version == "7"
    assert len(result.predictions) == 3
    assert result.predictions[2].top_k == [("a", 0, 0.9), ("b", 1, 0.1)]


def test_row_count_mismatch_is_an_error():
    with pytest.raises(ValueError, match="rows"):
        parse_response(v2_response(2), rows=3)


def run(coro):
    return asyncio.run(coro)


def flaky(errors):
    """An async callable raising the given errors in turn, then returning 'ok'."""
    calls = []

    async def fn():
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "ok"

    return fn, calls


async def policy(stop=None, attempts=3):
    return RetryPolicy(
        stop or asyncio.Event(), initial_s=0.001, max_s=0.002, server_error_attempts=attempts
    )


def test_unavailable_is_waited_out_however_long_it_takes():
    async def go():
        fn, calls = flaky([PredictorUnavailable("cold")] * 20)
        assert await (await policy()).call(fn) == "ok"
        return calls

    assert len(run(go())) == 21


def test_server_errors_are_retried_a_bounded_number_of_times():
    async def go():
        fn, calls = flaky([PredictorServerError("500")] * 10)
        with pytest.raises(PredictorServerError):
            await (await policy(attempts=3)).call(fn)
        return calls

    assert len(run(go())) == 3


def test_rejections_are_not_retried():
    async def go():
        fn, calls = flaky([PredictorRejected("400")])
        with pytest.raises(PredictorRejected):
            await (await policy()).call(fn)
        return calls

    assert len(run(go())) == 1


def test_stopping_ends_the_wait_for_an_unavailable_predictor():
    async def go():
        stop = asyncio.Event()
        stop.set()
        fn, calls = flaky([PredictorUnavailable("cold")] * 100)
        with pytest.raises(PredictorUnavailable):
            await (await policy(stop)).call(fn)
        return calls

    assert len(run(go())) == 1


def test_the_live_version_is_read_from_response_parameters():
    payload = {**v2_response(1), "parameters": {"live_version": "v9"}}
    assert parse_response(payload, rows=1).live_version == "v9"
    assert parse_response(v2_response(1), rows=1).live_version is None


def test_pinned_requests_carry_the_version_they_were_tokenized_for():
    import json as _json

    from worker.predictor_client import _request_body
    from worker.tokenization import TokenizedBatch

    batch = TokenizedBatch(input_ids=[1, 2], attention_mask=[1, 1], rows=1, length=2)
    assert _json.loads(_request_body(batch, 3, "v4"))["parameters"] == {
        "top_k": 3,
        "model_version": "v4",
    }
    assert "model_version" not in _json.loads(_request_body(batch, 3))["parameters"]


def test_texts_go_as_one_bytes_input_and_only_the_result_outputs_are_asked_for():
    import json as _json

    from worker.predictor_client import OUTPUTS, _request_body

    body = _json.loads(_request_body(["usb cable", "teddy bear"], 2, "v3"))
    assert body["inputs"] == [
        {"name": "text", "datatype": "BYTES", "shape": [2], "data": ["usb cable", "teddy bear"]}
    ]
    assert [o["name"] for o in body["outputs"]] == list(OUTPUTS)
    assert body["parameters"] == {"top_k": 2, "model_version": "v3"}


def test_the_outputs_the_worker_asks_for_are_the_predictors_classification_outputs():
    from predictor.protocol import OUTPUT_SPECS
    from worker.predictor_client import OUTPUTS

    # the worker keeps its own copy (it must not import kserve); they must not drift apart
    assert list(OUTPUTS) == [spec["name"] for spec in OUTPUT_SPECS]
