"""Bounded request bodies (413 before parsing), and the hostile-HTTP regressions the fuzz found:
NaN in a body that fails validation, V2's binary extension, a lone surrogate in a text."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient
from kserve.errors import InvalidInput
from pydantic import BaseModel

from predictor import binary_extension, body_limit, validation_errors
from predictor.body_limit import BodyLimit
from predictor.protocol.common import check_texts

LIMIT = 1000


class Shape(BaseModel):
    shape: list[int]


def app_with_limit() -> tuple[TestClient, list[int]]:
    app = FastAPI()
    seen: list[int] = []

    @app.post("/echo")
    async def echo(request: Request) -> dict:
        body = await request.body()
        seen.append(len(body))
        return {"bytes": len(body)}

    @app.post("/shape")
    def shape(body: Shape) -> dict:
        return {"dims": len(body.shape)}

    @app.post("/v2/models/{name}/infer")
    async def infer(name: str) -> dict:
        return {"model_name": name}

    body_limit.install(app, LIMIT)
    body_limit.install(app, LIMIT)  # once
    validation_errors.install(app)
    binary_extension.install(app)
    return TestClient(app), seen


def chunks(total: int, size: int = 300) -> Iterator[bytes]:
    while total > 0:
        yield b"x" * min(size, total)
        total -= size


def test_a_body_within_the_limit_reaches_the_endpoint_whole():
    client, seen = app_with_limit()
    assert client.post("/echo", content=b"x" * LIMIT).json() == {"bytes": LIMIT}
    assert client.post("/echo", content=chunks(LIMIT)).json() == {"bytes": LIMIT}  # chunked
    assert client.post("/echo").json() == {"bytes": 0}
    assert seen == [LIMIT, LIMIT, 0]


def test_a_declared_length_over_the_limit_is_413_unread():
    client, seen = app_with_limit()
    answer = client.post("/echo", content=b"x" * (LIMIT + 1))
    assert answer.status_code == 413 and "limit is 1000 bytes" in answer.json()["error"]
    assert answer.headers["connection"] == "close"
    assert seen == []


def test_a_chunked_body_over_the_limit_is_413_without_reading_the_rest():
    client, seen = app_with_limit()
    answer = client.post("/echo", content=chunks(100 * LIMIT))
    assert answer.status_code == 413 and seen == []
    assert "more than 1000 bytes" in answer.json()["error"]


def test_the_middleware_reads_at_most_one_chunk_past_the_limit():
    received: list[int] = []
    messages = [{"type": "http.request", "body": b"x" * 400, "more_body": True}] * 10

    async def receive() -> dict:
        message = messages[len(received)]
        received.append(len(message["body"]))
        return message

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def app(scope: dict, receive: object, send: object) -> None:  # never reached
        raise AssertionError("the endpoint must not run")

    asyncio.run(BodyLimit(app, LIMIT)({"type": "http", "headers": []}, receive, send))
    assert sum(received) == 1200 and sent[0]["status"] == 413


def test_nan_in_a_body_that_fails_validation_is_a_422_not_a_500():
    client, _ = app_with_limit()
    answer = client.post("/shape", content=b'{"shape": [NaN, Infinity]}',
                         headers={"Content-Type": "application/json"})
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["input"] == "nan"


def test_a_lone_surrogate_echoed_by_a_validation_error_is_a_422_not_a_500():
    # What the fuzz test sent (tests/fuzz/test_predictor_http.py, v2): an invalid shape, and
    # an output name holding U+DCD2 as raw bytes (ED B3 92) or as a JSON escape.
    client, _ = app_with_limit()
    for name in (b"g\xed\xb3\x92", rb"g\udcd2"):
        answer = client.post("/shape", content=b'{"shape": [NaN, "' + name + b'"]}',
                             headers={"Content-Type": "application/json"})
        assert answer.status_code == 422
        assert [e["input"] for e in answer.json()["detail"]] == ["nan", "g\\udcd2"]


def test_the_binary_extension_is_refused_with_a_reason():
    client, _ = app_with_limit()
    for path in ("/v2/models/m/infer", "/v2/models/m/versions/3/infer"):
        answer = client.post(path, content=b"{}", headers={
            "Content-Type": "application/octet-stream", "inference-header-content-length": "x"})
        assert answer.status_code == 400 and "binary tensor extension" in answer.json()["error"]
    assert client.post("/v2/models/m/infer", json={}).status_code == 200


def test_a_lone_surrogate_is_invalid_input_not_a_tokenizer_crash():
    with pytest.raises(InvalidInput, match="not valid Unicode at character 4"):
        check_texts(["fine", "bad \ud800 text"])
