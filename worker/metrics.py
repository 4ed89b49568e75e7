"""Prometheus metrics of one worker process (prefix ``catmatch_worker_``).

Labels stay low-cardinality: error classes, outcomes and partitions, never keys or ids.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram

P = "catmatch_worker"
_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass(frozen=True)
class WorkerMetrics:
    registry: CollectorRegistry
    consumed: Counter
    results: Counter
    uncertain_results: Counter
    dead_letters: Counter
    kafka_errors: Counter
    delivery_errors: Counter
    batch_size: Histogram
    batch_seconds: Histogram
    predictor_request_seconds: Histogram
    predictor_retries: Counter
    predictor_state: Enum
    commits: Counter
    commit_errors: Counter
    committed_offset: Gauge
    inflight_batches: Gauge
    paused: Gauge
    end_to_end_seconds: Histogram
    transactions: Counter
    transaction_seconds: Histogram
    dead_letters_truncated: Counter
    outputs_replaced: Counter
    predictor_faults: Counter
    predictor_circuit_open: Gauge
    progress_stalled: Gauge
    crash_loops: Counter
    kafka_state: Enum
    kafka_auth_errors: Counter
    kafka_refused: Gauge
    batch_size_target: Gauge
    cache_lookups: Counter
    cache_errors: Counter
    cache_entries: Gauge

    @classmethod
    def create(cls, registry: CollectorRegistry | None = None) -> WorkerMetrics:
        r = registry or CollectorRegistry()
        return cls(
            registry=r,
            consumed=Counter(f"{P}_messages_consumed_total", "Messages consumed.", registry=r),
            results=Counter(f"{P}_results_produced_total", "Results acknowledged.", registry=r),
            uncertain_results=Counter(
                f"{P}_uncertain_results_total",
                "Results acknowledged with uncertain=true (score below worker.min_score).",
                registry=r,
            ),
            dead_letters=Counter(
                f"{P}_dead_letters_total",
                "Messages sent to the dead-letter topic.",
                ["error_class"],
                registry=r,
            ),
            kafka_errors=Counter(
                f"{P}_kafka_errors_total", "Error events from consume().", registry=r
            ),
            delivery_errors=Counter(
                f"{P}_delivery_errors_total", "Produce attempts not acknowledged.", registry=r
            ),
            batch_size=Histogram(
                f"{P}_batch_size", "Messages per consumed batch.", buckets=_SIZE_BUCKETS, registry=r
            ),
            batch_seconds=Histogram(
                f"{P}_batch_seconds",
                "Consume-to-acknowledged time of a batch.",
                buckets=_LATENCY_BUCKETS,
                registry=r,
            ),
            predictor_request_seconds=Histogram(
                f"{P}_predictor_request_seconds",
                "Predictor HTTP calls.",
                ["outcome"],
                buckets=_LATENCY_BUCKETS,
                registry=r,
            ),
            predictor_retries=Counter(
                f"{P}_predictor_retries_total",
                "Predictor calls retried.",
                ["reason"],
                registry=r,
            ),
            predictor_state=Enum(
                f"{P}_predictor_state",
                "What the worker believes about the predictor.",
                states=["unknown", "ready", "not_ready", "failing"],
                registry=r,
            ),
            commits=Counter(f"{P}_commits_total", "Offset commits.", registry=r),
            commit_errors=Counter(
                f"{P}_commit_errors_total",
                "Partitions whose offset commit the broker refused (tried again next tick).",
                registry=r,
            ),
            committed_offset=Gauge(
                f"{P}_committed_offset",
                "Last committed position per partition.",
                ["topic", "partition"],
                registry=r,
            ),
            inflight_batches=Gauge(f"{P}_inflight_batches", "Batches being processed.", registry=r),
            paused=Gauge(f"{P}_paused", "1 while paused (backpressure).", registry=r),
            end_to_end_seconds=Histogram(
                f"{P}_end_to_end_seconds",
                "Product event_time to result acknowledged.",
                buckets=_LATENCY_BUCKETS,
                registry=r,
            ),
            transactions=Counter(
                f"{P}_transactions_total",
                "Kafka transactions (exactly_once), by result: committed or aborted.",
                ["result"],
                registry=r,
            ),
            transaction_seconds=Histogram(
                f"{P}_transaction_seconds",
                "Produce + send offsets + commit of one transaction (exactly_once).",
                buckets=_LATENCY_BUCKETS,
                registry=r,
            ),
            dead_letters_truncated=Counter(
                f"{P}_dead_letters_truncated_total",
                "Dead letters whose original was cut to fit the output limit.",
                registry=r,
            ),
            outputs_replaced=Counter(
                f"{P}_outputs_replaced_total",
                "Records the broker refused for good, replaced by their fallback.",
                registry=r,
            ),
            predictor_faults=Counter(
                f"{P}_predictor_faults_total",
                "Times the predictor circuit opened, by kind of fault.",
                ["kind"],
                registry=r,
            ),
            predictor_circuit_open=Gauge(
                f"{P}_predictor_circuit_open",
                "1 while a predictor fault holds the stream (nothing dead-lettered).",
                registry=r,
            ),
            progress_stalled=Gauge(
                f"{P}_progress_stalled",
                "1 while the worker has lag and a ready predictor but makes no progress.",
                registry=r,
            ),
            crash_loops=Counter(
                f"{P}_crash_loops_total",
                "Messages dead-lettered as worker_crash after repeated failures on them.",
                registry=r,
            ),
            batch_size_target=Gauge(
                f"{P}_batch_size_target",
                "The batch size the worker consumes (adaptive batching moves it).",
                registry=r,
            ),
            cache_lookups=Counter(
                f"{P}_cache_lookups_total",
                "Result-cache lookups per product, by result: hit_memory, hit_redis, miss.",
                ["result"],
                registry=r,
            ),
            cache_errors=Counter(
                f"{P}_cache_errors_total",
                "Redis calls of the result cache that failed (each became misses).",
                registry=r,
            ),
            cache_entries=Gauge(
                f"{P}_cache_entries", "Entries in the in-process result cache.", registry=r
            ),
            kafka_state=Enum(
                f"{P}_kafka_state",
                "Whether the worker reaches the brokers.",
                states=["unknown", "up", "down"],
                registry=r,
            ),
            kafka_auth_errors=Counter(
                f"{P}_kafka_auth_errors_total",
                "Refusals by the brokers: a login, a certificate or an ACL (transport.access).",
                ["kind"],
                registry=r,
            ),
            kafka_refused=Gauge(
                f"{P}_kafka_refused",
                "1 while a refusal by the brokers is in force (the worker is not ready).",
                registry=r,
            ),
        )


# One set per process; each worker process serves its own /metrics.
METRICS = WorkerMetrics.create()


def observe_many(histogram: Histogram, values: list[float]) -> None:
    """``histogram.observe(v)`` for each value, in one pass: one bucket lookup (bisect) per
    value and one locked increment per touched bucket, instead of a scan and two locked
    increments per value (the end-to-end latency is observed for every product).

    Reads prometheus_client's internals (``_upper_bounds``, ``_buckets``, ``_sum``); if a
    release renames them, this falls back to ``observe`` per value (a unit test compares
    the two)."""
    if not values:
        return
    bounds = getattr(histogram, "_upper_bounds", None)
    buckets = getattr(histogram, "_buckets", None)
    total = getattr(histogram, "_sum", None)
    if bounds is None or buckets is None or total is None or len(bounds) != len(buckets):
        for value in values:
            histogram.observe(value)
        return
    counts: dict[int, int] = {}
    for value in values:
        i = bisect_left(bounds, value)
        counts[i] = counts.get(i, 0) + 1
    total.inc(sum(values))
    for i, n in counts.items():
        if i < len(buckets):  # the last bound is +Inf: every value has a bucket
            buckets[i].inc(n)
