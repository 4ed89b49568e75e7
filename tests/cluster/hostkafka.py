"""The pipeline's Kafka seen from this machine, outside the pods.

    python -m tests.cluster.hostkafka roundtrip --bootstrap HOST:PORT --count 2000 --seed 7

produces ``count`` generated products (``gen-<seed>-<n>``, keyed by product id) to the
input topic, then reads the output and dead-letter topics from their beginning with
``isolation.level=read_committed`` until every product has its label (or ``--timeout``)
and both topics have stayed quiet for a few seconds, and prints one JSON line: products,
distinct labelled ids, duplicates, dead letters, and when (epoch seconds) the products were
produced and the first and last label seen.

    python -m tests.cluster.hostkafka stream --bootstrap HOST:PORT --count 1600 --rate 40 ...

does the same while producing at a steady ``rate`` (the drills inject their fault while the
products flow) and also prints, for each labelled product, when its label arrived and which
input partition it came from (``arrivals``: ``[epoch seconds, partition]`` pairs).

How it reaches the broker: the host reaches Service IPs through kube-proxy's OUTPUT rules,
but the broker advertises ``kafka.<ns>.svc.cluster.local``, a name only CoreDNS knows.
:func:`in_cluster_names_command` runs this module in a mount namespace of its own where
``/etc/hosts`` (a bind mount, private to that namespace) maps the name to the Service's
ClusterIP: nothing on the host changes, and the client's traffic takes the same Service the
workers use. ``kubectl port-forward`` would not help: the client would still be sent to the
advertised name.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from training.generator.products import generate_products

POLL_S = 0.5
DRAIN_S = 3.0


def in_cluster_names_command(hosts: Path, argv: Sequence[str]) -> list[str]:
    """``argv`` run in a private mount namespace whose /etc/hosts is ``hosts``."""
    script = 'mount --bind "$0" /etc/hosts && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
            str(hosts), *argv]  # fmt: skip


def produce(bootstrap: str, topic: str, count: int, seed: int, rate: float = 0.0) -> list[str]:
    """``count`` products, as fast as possible or ``rate`` a second; returns their ids."""
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all",
         "linger.ms": 5, "client.id": "catmatch-cluster-test"}
    )  # fmt: skip
    failed: list[str] = []

    def report(err: object, msg: object) -> None:
        if err is not None:
            failed.append(str(err))

    ids = []
    started = time.monotonic()
    for n, product in enumerate(generate_products(count, seed=seed)):
        if rate > 0:
            time.sleep(max(0.0, started + n / rate - time.monotonic()))
        pid = product.product_id
        ids.append(pid)
        producer.produce(topic, key=pid.encode(), value=json.dumps(product.message).encode(),
                         on_delivery=report)  # fmt: skip
        producer.poll(0)
    left = producer.flush(60)
    if left or failed:
        raise SystemExit(f"produce to {topic}: {left} undelivered, errors {failed[:3]}")
    return ids


def _reader(bootstrap: str, topics: Sequence[str]) -> Consumer:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": f"catmatch-check-{uuid.uuid4().hex[:8]}",
         "isolation.level": "read_committed", "enable.auto.commit": False,
         "auto.offset.reset": "earliest", "enable.partition.eof": False}
    )  # fmt: skip
    meta = consumer.list_topics(timeout=30)
    parts = []
    for topic in topics:
        if topic not in meta.topics or meta.topics[topic].error is not None:
            raise SystemExit(f"topic {topic} is missing: was the topic Job run?")
        parts += [TopicPartition(topic, p, 0) for p in meta.topics[topic].partitions]
    consumer.assign(parts)
    return consumer


def collect(bootstrap: str, out_topic: str, dlq_topic: str, wanted: set[str], timeout: float,
            started: float) -> dict[str, object]:  # fmt: skip
    """Labels and dead letters for ``wanted`` ids, read_committed, from the beginning;
    times are epoch seconds (``*_at``) and seconds since ``started`` (``*_s``)."""
    consumer = _reader(bootstrap, [out_topic, dlq_topic])
    labels: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    arrivals: list[tuple[float, int]] = []
    first = last = None
    idle = 0
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(POLL_S)
            if msg is None:
                idle += 1
                # Every label is in: read on until the topics stay quiet (a duplicate would
                # come from a later transaction), then stop.
                if wanted <= set(labels) and idle * POLL_S >= DRAIN_S:
                    break
                continue
            idle = 0
            if msg.error():
                raise KafkaException(msg.error())
            key = (msg.key() or b"").decode(errors="replace")
            if msg.topic() == dlq_topic:
                dead[key] += 1
                continue
            result = json.loads(msg.value())
            pid = str(result["product_id"])
            if pid in wanted:
                now = time.time()
                first = now if first is None else first
                if pid not in labels:
                    last = now
                    arrivals.append((round(now, 3), int(result.get("source_partition") or 0)))
                labels[pid] += 1
    finally:
        consumer.close()
    return {
        "labelled": len(set(labels) & wanted),
        "duplicates": sum(n - 1 for n in labels.values()),
        "dead_letters": sum(dead[k] for k in wanted),
        "dead_letters_total": sum(dead.values()),
        "first_label_s": None if first is None else round(first - started, 2),
        "last_label_s": None if last is None else round(last - started, 2),
        "first_label_at": first,
        "last_label_at": last,
        "missing_sample": sorted(wanted - set(labels))[:5],
        "arrivals": arrivals,
    }


def stream(args: argparse.Namespace) -> dict[str, object]:
    """Produce at ``args.rate`` in a thread while collecting from the start."""
    started = time.time()
    ids: list[str] = []
    wanted = {p.product_id for p in generate_products(args.count, seed=args.seed)}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            ids.extend(produce(args.bootstrap, args.input, args.count, args.seed, args.rate))
        except BaseException as exc:  # noqa: BLE001 - reported below
            failure.append(exc)

    producer = threading.Thread(target=run, daemon=True)
    producer.start()
    result = collect(args.bootstrap, args.output, args.dlq, wanted, args.timeout, started)
    producer.join(60)
    if failure:
        raise SystemExit(f"producing failed: {failure[0]}")
    return {"products": len(ids), "distinct_ids": len(set(ids)), "started_at": started,
            "rate": args.rate} | result  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("roundtrip", help="produce products, then wait for their labels")
    q = sub.add_parser("stream", help="produce at a steady rate while waiting for the labels")
    for each in (p, q):
        each.add_argument("--bootstrap", required=True)
        each.add_argument("--input", default="category-match-in")
        each.add_argument("--output", default="category-match-out")
        each.add_argument("--dlq", default="category-match-dlq")
        each.add_argument("--count", type=int, required=True)
        each.add_argument("--seed", type=int, required=True)
        each.add_argument("--timeout", type=float, default=600)
    q.add_argument("--rate", type=float, required=True, help="products a second")
    args = parser.parse_args(argv)
    if args.cmd == "stream":
        print(json.dumps(stream(args)), flush=True)
        return 0
    started = time.time()
    ids = produce(args.bootstrap, args.input, args.count, args.seed)
    produced = time.time()
    result = {"products": len(ids), "distinct_ids": len(set(ids)), "started_at": started,
              "produced_at": produced, "produce_s": round(produced - started, 2)}  # fmt: skip
    result |= collect(args.bootstrap, args.output, args.dlq, set(ids), args.timeout, started)
    result.pop("arrivals")
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
