"""Regressions of the hostile-HTTP fuzz (tests/fuzz/test_predictor_http.py) on the real server:
each of these was an HTTP 500 (or an unbounded read) before, and is a 4xx with a reason now."""

from __future__ import annotations

import json
import socket

import pytest

from tests.fixtures.predictor import PredictorServer, post_json

pytestmark = pytest.mark.integration


def text_input(data: object, shape: object = (1,)) -> dict:
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": list(shape) if isinstance(
        shape, tuple) else shape, "data": data}]}


def raw_post(server: PredictorServer, path: str, head: list[str], body: bytes) -> tuple[int, dict]:
    request = "\r\n".join([f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
                           "Content-Type: application/json", *head])
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        try:
            sock.sendall(request.encode() + b"\r\n\r\n" + body)
        except OSError:
            pass  # refused before the whole body went out
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def test_nan_in_a_v2_body_is_422(predictor_server: PredictorServer):
    body = json.dumps(text_input(["Oak table"])).encode().replace(b"[1]", b"[NaN]")
    status, answer = post_json(predictor_server.infer_url, body)
    assert status == 422 and answer["detail"], answer


def test_the_binary_extension_header_is_400(predictor_server: PredictorServer):
    for value in ("x", "2147483648", "2"):
        status, answer = post_json(predictor_server.infer_url, b"{}",
                                   headers={"inference-header-content-length": value})
        assert status == 400 and "binary tensor extension" in answer["error"], answer


def test_a_lone_surrogate_in_a_v2_text_is_400(predictor_server: PredictorServer):
    body = b'{"inputs":[{"name":"text","datatype":"BYTES","shape":[1],"data":["a \\ud800"]}]}'
    status, answer = post_json(predictor_server.infer_url, body)
    assert status == 400 and "not valid Unicode" in answer["error"], answer


def test_deep_nesting_is_refused_on_every_endpoint(predictor_server: PredictorServer):
    server = predictor_server
    deep = b'{"inputs":' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for url in (server.infer_url, f"{server.url}/v1/models/{server.model_name}:predict",
                f"{server.url}/predict"):
        status, answer = post_json(url, deep)
        assert 400 <= status < 500 and answer, (url, status, answer)


def test_a_body_over_the_limit_is_413_with_a_length_and_chunked(predictor_server: PredictorServer):
    path = f"/v1/models/{predictor_server.model_name}:predict"
    big = b'{"instances":["' + b"a" * (17 * 1024 * 1024) + b'"]}'
    status, answer = raw_post(predictor_server, path, [f"Content-Length: {len(big)}"], big)
    assert status == 413 and "too large" in answer["error"]
    step = 1 << 20
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + step]), big[i:i + step])
                       for i in range(0, len(big), step)) + b"0\r\n\r\n"
    status, answer = raw_post(predictor_server, path, ["Transfer-Encoding: chunked"], chunked)
    assert status == 413 and "more than" in answer["error"]
    assert predictor_server.is_ready()
