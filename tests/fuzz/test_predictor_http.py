"""Hostile HTTP against a REAL predictor process: whatever is sent, a 4xx with a reason.

Hypothesis generates requests for each endpoint (V1 ``:predict``, V2 ``infer``, the versioned
V2 URL, ``POST /predict``): malformed and truncated JSON, deep nesting, wrong shapes and
datatypes, negative and oversized token ids, wrong lengths, unknown models and versions, odd
content types and kserve's binary-extension header, and bodies over the limit (sent with a
length and chunked). Every answer must be below 500, every refusal must carry a reason, and
the process must still be ready at the end. Each endpoint gets ``CATMATCH_FUZZ_EXAMPLES``
requests (1,000 by default; about 20-40 s each on the 2-core machine, so ``make test`` runs
the full count), counted and asserted.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fixtures.predictor import PredictorServer

pytestmark = [pytest.mark.fuzz, pytest.mark.integration]

EXAMPLES = int(os.environ.get("CATMATCH_FUZZ_EXAMPLES", "1000"))
BODY_LIMIT = 256 * 1024
MAX_BATCH = 64
MODEL = "category-match"
FUZZ = settings(
    max_examples=EXAMPLES, deadline=None, database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def server(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
    PredictorServer
]:
    """A predictor of its own: a small body limit and batch size keep hostile sizes cheap."""
    logs = tmp_path_factory.mktemp("fuzz-predictor")
    proc = PredictorServer(
        tiny_model_dir, logs / "predictor.log", model_name=MODEL,
        extra_args=["--max-body-bytes", str(BODY_LIMIT), "--max-batch-size", str(MAX_BATCH)],
    )
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


# -- values -------------------------------------------------------------------------------

# Any text, lone surrogates included (sent as JSON escapes).
texts = st.text(st.characters(exclude_categories=()), max_size=30) | st.builds(
    lambda c, n: c * n, st.sampled_from(["a", "é", "kettle ", "\u200b", "\U0001f600"]),
    st.integers(0, 6000),
)
ints = (
    st.integers(-5, 40_000)
    | st.sampled_from([0, 1, 101, 102, 30_521, 30_522, 2**31, 2**63 - 1, 2**63, -(2**63)])
    | st.integers(-(2**80), 2**80)
)
scalars = st.none() | st.booleans() | ints | st.floats() | texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=25,
)
parameters = st.dictionaries(
    st.sampled_from(["top_k", "model_version", "content_type", "binary_data_output", "x"]),
    json_values | ints | st.sampled_from(["v1", "3", "", "pd", "np", "str"]),
    max_size=3,
) | json_values


def tensor_names() -> st.SearchStrategy[str]:
    return st.sampled_from(["text", "input_ids", "attention_mask", "token_type_ids", "f"]) | texts


datatypes = st.sampled_from(
    ["BYTES", "INT64", "INT32", "INT8", "UINT64", "FP32", "FP64", "FP16", "BOOL", "BF16"]
) | texts
shapes = st.lists(st.integers(-3, 70) | st.sampled_from([2**31, 2**63, 2**64]), max_size=4)
tensors = st.fixed_dictionaries(
    {"name": tensor_names(), "datatype": datatypes, "shape": shapes | json_values,
     "data": st.lists(scalars | st.lists(scalars, max_size=3), max_size=40) | json_values},
    optional={"parameters": parameters},
)


@st.composite
def token_batches(draw: st.DrawFn, valid: bool | None = None) -> list[dict[str, Any]]:
    """``input_ids`` + ``attention_mask`` (+ types): valid, or close to it with lies in the
    lengths, the ids, the mask or the shape."""
    if valid is None:
        valid = draw(st.booleans())
    if valid:
        rows, length = draw(st.integers(1, 8)), draw(st.integers(1, 40))
    else:
        rows, length = draw(st.integers(0, MAX_BATCH + 2)), draw(st.integers(0, 600))
        length = min(length, 600 if rows <= 2 else 40)
    n = rows * length
    ids = draw(st.lists(st.integers(0, 30_521) if valid else ints, min_size=n, max_size=n))
    mask = [1] * n if valid else draw(
        st.lists(st.sampled_from([0, 1, 1, 1, 2, -1]), min_size=n, max_size=n))
    shape = [rows, length]
    lie = "none" if valid else draw(st.sampled_from(["none", "ids", "mask", "shape"]))
    if lie == "ids":
        ids = ids[: max(0, n - 1)]
    elif lie == "mask":
        mask = [*mask, 1]
    elif lie == "shape":
        shape = draw(shapes)
    inputs = [
        {"name": "input_ids",
         "datatype": "INT64" if valid else draw(st.sampled_from(["INT64", "INT32", "FP32"])),
         "shape": shape, "data": ids},
        {"name": "attention_mask", "datatype": "INT64", "shape": [rows, length], "data": mask},
    ]
    if draw(st.booleans()):
        inputs.append({"name": "token_type_ids", "datatype": "INT64", "shape": [rows, length],
                       "data": draw(st.lists(st.integers(-1, 3), min_size=n, max_size=n))})
    return inputs


v2_bodies = st.fixed_dictionaries(
    {"inputs": st.lists(tensors, max_size=3) | token_batches() | st.just(
        [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["Oak table"]}])},
    optional={"id": texts | ints, "parameters": parameters,
              "outputs": st.lists(st.fixed_dictionaries({"name": texts}), max_size=3)},
) | json_values
TOP_K = st.fixed_dictionaries({}, optional={"top_k": st.integers(1, 5)})
SHOP_TEXTS = st.lists(st.text(min_size=1, max_size=60).filter(str.strip), min_size=1, max_size=8)
# Requests a client may well send: each endpoint must also keep answering these (200).
well_formed = {
    "v1": st.fixed_dictionaries({"instances": SHOP_TEXTS}, optional={"parameters": TOP_K}),
    "v2": st.fixed_dictionaries(
        {"inputs": token_batches(valid=True) | SHOP_TEXTS.map(
            lambda t: [{"name": "text", "datatype": "BYTES", "shape": [len(t)], "data": t}])},
        optional={"parameters": TOP_K, "id": st.text(max_size=10)},
    ),
    "predict": st.fixed_dictionaries(
        {"text": SHOP_TEXTS}, optional={"top_k": st.integers(1, 5)}),
}
v1_bodies = st.fixed_dictionaries(
    {"instances": st.lists(texts | st.fixed_dictionaries({"text": scalars}) | json_values,
                           max_size=MAX_BATCH + 2) | json_values},
    optional={"parameters": parameters, "inputs": json_values},
) | st.lists(texts, max_size=5) | json_values
predict_bodies = st.fixed_dictionaries(
    {"text": st.lists(texts, max_size=MAX_BATCH + 2) | json_values},
    optional={"top_k": ints | json_values, "extra": json_values},
) | json_values


# -- how the bytes go out ------------------------------------------------------------------


@st.composite
def payloads(draw: st.DrawFn, bodies: st.SearchStrategy[Any]) -> bytes:
    """A JSON document, or one broken on purpose."""
    # ensure_ascii=False puts lone surrogates out as bytes that are not UTF-8 at all
    raw = json.dumps(draw(bodies), ensure_ascii=draw(st.booleans())).encode(
        "utf-8", "surrogatepass")
    how = draw(st.sampled_from(["json"] * 6 + ["truncate", "garbage", "deep", "huge", "nan"]))
    if how == "truncate":
        return raw[: draw(st.integers(0, max(0, len(raw) - 1)))]
    if how == "garbage":
        at = draw(st.integers(0, len(raw)))
        return raw[:at] + draw(st.binary(max_size=20)) + raw[at:]
    if how == "deep":
        depth = draw(st.integers(500, 120_000))
        opener = draw(st.sampled_from([b"[", b'{"a":', b'{"inputs":[', b'{"text":[']))
        return opener * depth
    if how == "huge":
        return b'{"text":["' + b"a" * draw(st.integers(BODY_LIMIT - 64, 3 * BODY_LIMIT)) + b'"]}'
    return raw.replace(b"1", b"NaN", 1)


@st.composite
def requests(
    draw: st.DrawFn, path: Callable[[st.DrawFn], str], bodies: st.SearchStrategy[Any],
    good: st.SearchStrategy[Any], good_path: str,
) -> tuple[str, dict[str, str], bytes, bool]:
    """One request in four is well formed (to ``good_path``), the rest hostile in any way."""
    if draw(st.integers(0, 3)) == 0:
        raw = json.dumps(draw(good)).encode()
        return good_path, {"Content-Type": "application/json"}, raw, False
    headers = {}
    content_type = draw(st.sampled_from(
        ["application/json"] * 8 + [None, "text/plain", "application/octet-stream",
                                    "application/json; charset=latin-1"]))
    if content_type:
        headers["Content-Type"] = content_type
    if draw(st.integers(0, 9)) == 0:
        headers["inference-header-content-length"] = str(draw(ints | st.just("x")))
    if draw(st.integers(0, 19)) == 0:
        headers["X-Catmatch-Model-Version"] = draw(st.sampled_from(["v1", "0", "ü", "v99"]))
    chunked = draw(st.integers(0, 9)) == 0
    return path(draw), headers, draw(payloads(bodies)), chunked


def model_name(draw: st.DrawFn) -> str:
    return draw(st.sampled_from([MODEL] * 9 + ["nope", "%2e%2e", "a" * 300, "x%00y"]))


def v1_path(draw: st.DrawFn) -> str:
    return f"/v1/models/{model_name(draw)}:predict"


def v2_path(draw: st.DrawFn) -> str:
    return f"/v2/models/{model_name(draw)}/infer"


def v2_versioned_path(draw: st.DrawFn) -> str:
    version = draw(st.sampled_from(["1", "v1", "v0", "latest", "-1", "%20", "9" * 40]))
    return f"/v2/models/{model_name(draw)}/versions/{version}/infer"


def predict_path(draw: st.DrawFn) -> str:
    return "/predict"


# -- sending -------------------------------------------------------------------------------


class Client:
    """One keep-alive connection, opened again after the server closed it."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn: http.client.HTTPConnection | None = None

    def send(self, path: str, headers: dict[str, str], body: bytes, chunked: bool
             ) -> tuple[int, bytes]:
        if chunked or len(body) > BODY_LIMIT:
            return self._raw(path, headers, body, chunked)
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("POST", path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                self.close()
                if not reused or attempt == 2:  # a fresh connection failed: no answer
                    raise
        if resp.will_close:
            self.close()
        return resp.status, data

    def _raw(self, path: str, headers: dict[str, str], body: bytes, chunked: bool
             ) -> tuple[int, bytes]:
        """Over a socket of its own: the server answers 413 and closes before reading it all."""
        head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
        head += [f"{k}: {v}" for k, v in headers.items()]
        head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}")
        if chunked:
            step = 32 * 1024
            parts = [b"%x\r\n%s\r\n" % (len(body[i:i + step]), body[i:i + step])
                     for i in range(0, len(body), step)]
            body = b"".join(parts) + b"0\r\n\r\n"
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as sock:
            try:
                sock.sendall("\r\n".join(head).encode() + b"\r\n\r\n" + body)
            except OSError:
                pass  # refused mid-body: the answer is already waiting
            answer = b""
            try:
                while chunk := sock.recv(65536):
                    answer += chunk
            except ConnectionResetError:
                pass
        status_line, _, rest = answer.partition(b"\r\n")
        status = int(status_line.split()[1])
        return status, rest.partition(b"\r\n\r\n")[2]

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def reason(status: int, body: bytes) -> str:
    """The refusal's reason (``error`` or ``detail``), empty when there is none."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ""
    return str(doc.get("error") or doc.get("detail") or "") if isinstance(doc, dict) else ""


ENDPOINTS = {
    "v1": (v1_path, v1_bodies, well_formed["v1"]),
    "v2": (v2_path, v2_bodies, well_formed["v2"]),
    "v2-versioned": (v2_versioned_path, v2_bodies, well_formed["v2"]),
    "predict": (predict_path, predict_bodies, well_formed["predict"]),
}


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_hostile_requests_get_a_4xx_with_a_reason(
    endpoint: str, server: PredictorServer, record_property: Callable[[str, object], None]
):
    path, bodies, good = ENDPOINTS[endpoint]
    version = json.loads((server.model_dir / "catmatch.json").read_text())["version"]
    good_path = {
        "v1": f"/v1/models/{MODEL}:predict", "v2": f"/v2/models/{MODEL}/infer",
        "v2-versioned": f"/v2/models/{MODEL}/versions/{version}/infer", "predict": "/predict",
    }[endpoint]
    client = Client(server.port)
    seen: Counter[int] = Counter()
    failures: list[str] = []

    @FUZZ
    @given(requests(path, bodies, good, good_path))
    def one(request: tuple[str, dict[str, str], bytes, bool]) -> None:
        url, headers, body, chunked = request
        try:
            status, answer = client.send(url, headers, body, chunked)
        except (OSError, http.client.HTTPException) as exc:
            failures.append(f"no answer ({exc!r}) for {url} {headers} {body[:300]!r}")
            return
        seen[status] += 1
        if status >= 500 or (status >= 400 and not reason(status, answer)):
            failures.append(f"{status} {answer[:300]!r} for {url} {headers} {body[:300]!r}")

    try:
        one()
    finally:
        client.close()
        record_property("statuses", dict(seen))
        print(f"{endpoint}: {sum(seen.values())} requests, statuses {dict(sorted(seen.items()))}")
    kinds = Counter(f.split(" for ")[0][:120] for f in failures)
    assert not failures, f"{kinds}\n" + "\n".join(failures[:5])
    assert sum(seen.values()) >= EXAMPLES
    assert seen[200] > 0, "no well-formed request was answered"
    assert server.running and server.is_ready(), server.log_tail()
