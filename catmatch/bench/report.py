"""The markdown report of a ``catmatch bench`` run: ratios first, then the details."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from catmatch.bench.schedules import DESCRIPTION

LATENCY_TARGET = 3.0  # p99 end to end at 50% of max rate <= 3x the predictor's own p99

MODE_TEXT = {
    "pipeline": "(3) pipeline: worker + real predictor",
    "worker_noop": "(4) worker + no-op predictor",
    "naive": "(5) naive worker + real predictor",
    "naive_noop": "(5) naive worker + no-op predictor",
}


def _f(x: float, digits: int = 0) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:,.{digits}f}"


def offered(rate: float) -> str:
    return "all at once" if math.isinf(rate) else _f(rate)


def nearest(rows: list[dict[str, Any]], batch: float) -> dict[str, Any]:
    """The row whose batch size is nearest ``batch`` (log scale)."""
    b = max(batch, 1.0) if not math.isnan(batch) else 1.0
    return min(rows, key=lambda r: abs(math.log(r["batch_size"]) - math.log(b)))


def latency_check(results: dict[str, Any]) -> dict[str, Any] | None:
    """p99 end to end at 50% of the max rate vs the predictor's p99 at the batch size used."""
    const = next((s for s in results.get("schedules", []) if s["schedule"] == "constant"), None)
    if const is None:
        return None
    ref = nearest(results["predictor"], const["batch_mean"])
    ratio = const["p99_ms"] / ref["p99_ms"]
    return {"e2e_p99_ms": const["p99_ms"], "predictor_p99_ms": ref["p99_ms"],
            "batch_size": ref["batch_size"], "batch_mean": const["batch_mean"],
            "ratio": ratio, "met": ratio <= LATENCY_TARGET,
            "in_pipeline_p99_ms": const["predict_p99_ms"]}


def markdown(results: dict[str, Any], command: str, machine: str) -> str:
    date = datetime.fromtimestamp(results["started"], UTC).strftime("%Y-%m-%d")
    batch = results["best_batch_size"]
    wbatch = results.get("worker_batch_size", batch)
    model = {r["batch_size"]: r for r in results["model"]}
    pred = {r["batch_size"]: r for r in results["predictor"]}
    base = model[batch]["texts_per_s"]
    modes = {m["mode"]: m for m in results["modes"]}
    lines = [
        f"```\n{command}\n```", "",
        f"Machine: {machine}. Date: {date}. Run time: "
        f"{(results['finished'] - results['started']) / 60:.1f} min. Workers: batch_size "
        f"{wbatch} (adaptive batching, as deployed), batch_wait_ms "
        f"{results.get('batch_wait_ms') or 'default (20)'}, result cache off. Load average (1 min) "
        f"{results.get('loadavg_start', 0):.1f} at the start, "
        f"{results.get('loadavg_end', 0):.1f} at the end (other jobs share the machine).", "",
        "| mode | batch | products/s | vs model in process | worker CPU (cores) | "
        "worker RSS peak (MiB) | predictor CPU (cores) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| (1) model in process (best batch) | {batch} | {_f(base)} | 1.00x | - | - | - |",
        f"| (2) predictor over HTTP | {batch} | {_f(pred[batch]['texts_per_s'])} | "
        f"{pred[batch]['texts_per_s'] / base:.2f}x | - | - | - |",
    ]
    for name, text in MODE_TEXT.items():
        m = modes[name]
        b = _f(m.get("batch_mean", 1.0), 1)
        lines.append(f"| {text} | {b} | {_f(m['per_s'])} | {m['per_s'] / base:.2f}x | "
                     f"{m['cpu_cores']:.2f} | {m['rss_peak_mb']:.0f} | "
                     f"{m['server_cpu_cores']:.2f} |")
    lines += [
        "", "| ratio | value |", "| --- | ---: |",
        f"| pipeline / naive worker (real predictor) | "
        f"{modes['pipeline']['per_s'] / modes['naive']['per_s']:.2f}x |",
        f"| worker / naive worker (no-op predictor) | "
        f"{modes['worker_noop']['per_s'] / modes['naive_noop']['per_s']:.2f}x |",
        f"| pipeline / predictor over HTTP (batch {batch}) | "
        f"{modes['pipeline']['per_s'] / pred[batch]['texts_per_s']:.2f}x |",
        f"| worker with no-op / pipeline (headroom of the worker) | "
        f"{modes['worker_noop']['per_s'] / modes['pipeline']['per_s']:.2f}x |",
        "", "| batch | model in process texts/s | predictor HTTP texts/s | HTTP / in process "
        "| HTTP p50 / p99 ms |", "| ---: | ---: | ---: | ---: | --- |",
    ]
    for size in sorted(model):
        m, p = model[size], pred.get(size)
        if p:
            lines.append(f"| {size} | {_f(m['texts_per_s'])} | {_f(p['texts_per_s'])} | "
                         f"{p['texts_per_s'] / m['texts_per_s']:.2f}x | "
                         f"{p['p50_ms']:.1f} / {p['p99_ms']:.1f} |")
    if results.get("schedules"):
        lines += [
            "", f"Schedules on the pipeline (max rate = mode 3: "
            f"{_f(modes['pipeline']['per_s'])} products/s):", "",
            "| schedule | products | offered/s | done/s | e2e p50 / p99 / max ms | "
            "batch mean | predictor mean / p99 ms | worker CPU | worker RSS MiB |",
            "| --- | ---: | ---: | ---: | --- | ---: | --- | ---: | ---: |",
        ]
        for s in results["schedules"]:
            lines.append(
                f"| {s['schedule']}: {DESCRIPTION[s['schedule']]} | {s['count']} | "
                f"{offered(s['offered_per_s'])} | {_f(s['per_s'])} | {s['p50_ms']:.0f} / "
                f"{s['p99_ms']:.0f} / {s['max_ms']:.0f} | {_f(s['batch_mean'], 1)} | "
                f"{_f(s['predict_ms'])} / {_f(s['predict_p99_ms'])} (bucket) | "
                f"{s['cpu_cores']:.2f} | {s['rss_peak_mb']:.0f} |")
    check = latency_check(results)
    if check:
        verdict = "met" if check["met"] else "NOT met"
        lines += ["", f"Latency target (p99 end to end at 50% of max rate <= "
                  f"{LATENCY_TARGET:.0f}x the predictor's own p99): {check['e2e_p99_ms']:.0f} ms "
                  f"vs {check['predictor_p99_ms']:.0f} ms (predictor over HTTP at batch "
                  f"{check['batch_size']}, nearest the mean batch {check['batch_mean']:.1f} of "
                  f"that run) = **{check['ratio']:.2f}x, {verdict}**. Inside the pipeline the "
                  f"worker saw predictor calls up to {_f(check['in_pipeline_p99_ms'])} ms at p99 "
                  f"(histogram bucket): "
                  f"{check['e2e_p99_ms'] / check['in_pipeline_p99_ms']:.2f}x that."]
    return "\n".join(lines) + "\n"
