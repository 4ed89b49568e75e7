"""A naive worker, written for the benchmark only: one message at a time, all synchronous.

Poll one message, tokenize it, POST one V2 request, produce its result and flush, commit
the offset synchronously, repeat. No batching, no pipelining, no cache: the baseline the
real worker (:mod:`worker.app`) is compared with, against the same predictor.

    python -m toolbox.bench.naive --bootstrap HOST:PORT --input IN --output OUT \
        --url http://127.0.0.1:8080 --tokenizer-dir var/models/seed
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import threading
import urllib.parse
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from confluent_kafka import Consumer, Producer

from core.tokenization import load_tokenizer
from schemas.product import ProductMessage, product_text


def run(args: argparse.Namespace, stop: threading.Event) -> int:
    tok = load_tokenizer(args.tokenizer_dir, 128)
    consumer = Consumer({
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group or f"naive-{uuid.uuid4().hex[:8]}",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    })
    producer = Producer({"bootstrap.servers": args.bootstrap, "acks": "all"})
    parsed = urllib.parse.urlparse(args.url)
    conn = http.client.HTTPConnection(parsed.hostname or "127.0.0.1", parsed.port, timeout=60)
    path = f"/v2/models/{args.model_name}/infer"
    consumer.subscribe([args.input])
    done = 0
    try:
        while not stop.is_set():
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            product = ProductMessage.model_validate_json(msg.value() or b"")
            enc = tok.encode(product_text(product))
            shape = [1, len(enc.ids)]
            body = json.dumps({
                "inputs": [
                    {"name": "input_ids", "datatype": "INT64", "shape": shape, "data": enc.ids},
                    {"name": "attention_mask", "datatype": "INT64", "shape": shape,
                     "data": enc.attention_mask},
                ],
                "parameters": {"top_k": 3},
            }).encode()
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            answer = json.loads(resp.read())
            if resp.status != 200:
                raise RuntimeError(f"predictor HTTP {resp.status}: {answer}")
            out = {o["name"]: o["data"] for o in answer["outputs"]}
            result = {
                "product_id": product.product_id,
                "label": out["label"][0],
                "label_id": out["label_id"][0],
                "score": out["score"][0],
                "model_name": answer.get("model_name"),
                "model_version": answer.get("model_version"),
                "event_time": product.event_time.isoformat() if product.event_time else None,
                "processed_time": datetime.now(UTC).isoformat(),
            }
            producer.produce(args.output, key=msg.key(), value=json.dumps(result).encode())
            producer.flush(30)
            consumer.commit(message=msg, asynchronous=False)
            done += 1
    finally:
        conn.close()
        consumer.close()
        producer.flush(10)
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--tokenizer-dir", type=Path, required=True)
    parser.add_argument("--model-name", default="category-match")
    parser.add_argument("--group")
    args = parser.parse_args()
    stop = threading.Event()

    def on_term(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    run(args, stop)


if __name__ == "__main__":
    main()
