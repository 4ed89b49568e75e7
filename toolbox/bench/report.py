"""The markdown report of a ``catmatch bench`` run: ratios first, then the details."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from toolbox.bench.schedules import DESCRIPTION

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


def p99_at(rows: list[dict[str, Any]], batch: float) -> tuple[float, str]:
    """The predictor's p99 at ``batch`` rows: interpolated linearly in log(batch size)
    between the two measured sizes around it (the nearest one outside the measured range).
    Returns the p99 and how it was found."""
    b = max(batch, 1.0) if not math.isnan(batch) else 1.0
    ordered = sorted(rows, key=lambda r: r["batch_size"])
    below = [r for r in ordered if r["batch_size"] <= b]
    above = [r for r in ordered if r["batch_size"] >= b]
    if not below or not above:
        edge = (above or below)[0] if not below else below[-1]
        return float(edge["p99_ms"]), f"at batch {edge['batch_size']}"
    lo, hi = below[-1], above[0]
    if lo["batch_size"] == hi["batch_size"]:
        return float(lo["p99_ms"]), f"at batch {lo['batch_size']}"
    t = (math.log(b) - math.log(lo["batch_size"])) / (
        math.log(hi["batch_size"]) - math.log(lo["batch_size"]))
    p99 = lo["p99_ms"] + t * (hi["p99_ms"] - lo["p99_ms"])
    return float(p99), (f"at batch {b:.1f}, between batch {lo['batch_size']} "
                        f"({lo['p99_ms']:.1f} ms) and {hi['batch_size']} ({hi['p99_ms']:.1f} ms)")


def latency_check(results: dict[str, Any]) -> dict[str, Any] | None:
    """p99 end to end at 50% of the max rate vs the predictor's p99 at the batch size used."""
    const = next((s for s in results.get("schedules", []) if s["schedule"] == "constant"), None)
    if const is None:
        return None
    ref, how = p99_at(results["predictor"], const["batch_mean"])
    ratio = const["p99_ms"] / ref
    return {"e2e_p99_ms": const["p99_ms"], "predictor_p99_ms": ref, "reference": how,
            "batch_mean": const["batch_mean"],
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
        f"{results.get('batch_wait_ms') or 'as shipped'}, result cache off. Predictor threads: "
        f"{results.get('predictor_threads') or 'its own choice (every core)'}. "
        f"Load average (1 min) "
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
    if "warmup" in results:
        w, passes = results["warmup"], modes["worker_noop"].get("passes_per_s", [])
        lines += ["", f"Mode 4: a warm-up pass of {w['count']:,} products ({_f(w['per_s'])}/s, "
                  f"not counted: the broker's JVM compiles its hot paths meanwhile), then "
                  f"{len(passes)} measured passes of as many "
                  f"({' / '.join(_f(p) for p in passes)} products/s); the table shows the median."]
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
                  f"vs {check['predictor_p99_ms']:.0f} ms (the predictor alone over HTTP, "
                  f"{check['reference']}; the run's mean batch) "
                  f"= **{check['ratio']:.2f}x, {verdict}**. Inside the pipeline the "
                  f"worker saw predictor calls up to {_f(check['in_pipeline_p99_ms'])} ms at p99 "
                  f"(histogram bucket): "
                  f"{check['e2e_p99_ms'] / check['in_pipeline_p99_ms']:.2f}x that."]
    return "\n".join(lines) + "\n"
