"""A no-op Open Inference Protocol (V2) predictor: answers every request at once.

It parses the request (so the worker pays the full HTTP and JSON cost on its side) and
returns the six outputs a worker asks for, the same label for every row. It measures the
worker's own ceiling: with it, the worker is the bottleneck.

    python -m toolbox.bench.noop --port 8085 [--model-name category-match]
"""

from __future__ import annotations

import argparse
import json

from aiohttp import web

LABEL, LABEL_ID, SCORE = "Machinery", 15, 0.9


def response(rows: int, top_k: int, model_name: str) -> dict[str, object]:
    k = max(1, top_k)
    return {
        "model_name": model_name,
        "model_version": "noop",
        "outputs": [
            {"name": "label", "datatype": "BYTES", "shape": [rows], "data": [LABEL] * rows},
            {"name": "label_id", "datatype": "INT64", "shape": [rows], "data": [LABEL_ID] * rows},
            {"name": "score", "datatype": "FP32", "shape": [rows], "data": [SCORE] * rows},
            {"name": "top_k_label", "datatype": "BYTES", "shape": [rows, k],
             "data": [LABEL] * (rows * k)},
            {"name": "top_k_label_id", "datatype": "INT64", "shape": [rows, k],
             "data": [LABEL_ID] * (rows * k)},
            {"name": "top_k_score", "datatype": "FP32", "shape": [rows, k],
             "data": [SCORE] * (rows * k)},
        ],
    }


def app(model_name: str = "category-match") -> web.Application:
    async def infer(request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        rows = int(body["inputs"][0]["shape"][0])
        top_k = int((body.get("parameters") or {}).get("top_k", 1))
        return web.Response(body=json.dumps(response(rows, top_k, model_name)),
                            content_type="application/json")

    async def ready(_: web.Request) -> web.Response:
        return web.json_response({"ready": True})

    application = web.Application(client_max_size=256 * 1024 * 1024)
    application.router.add_post("/v2/models/{name}/infer", infer)
    application.router.add_get("/v2/models/{name}/ready", ready)
    application.router.add_get("/v2/health/ready", ready)
    return application


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model-name", default="category-match")
    args = parser.parse_args()
    web.run_app(app(args.model_name), host=args.host, port=args.port, access_log=None,
                print=None)


if __name__ == "__main__":
    main()
