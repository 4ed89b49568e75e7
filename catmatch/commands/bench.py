"""``catmatch bench``: the benchmark suite, everything started on loopback, in one run.

``catmatch bench`` measures the model in process, the predictor over HTTP, the pipeline,
the worker against a no-op predictor and a naive one-at-a-time worker side by side, then
load schedules (constant, ramp, burst, idle then burst) on the pipeline, and prints a
markdown report of ratios (:mod:`toolbox.bench.suite`). ``catmatch bench soak`` runs one
worker against the no-op predictor for ``--count`` products and reports its RSS growth
after the warm-up (:mod:`toolbox.bench.soak`). Plots (PNG) need the ``bench`` extra
(matplotlib).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from catmatch.console import say
from catmatch.errors import UserError
from catmatch.options import Subparsers, add_command
from core.settings import Settings
from toolbox.bench import plots, report
from toolbox.bench.schedules import SCHEDULES
from toolbox.bench.security import security_overhead
from toolbox.bench.soak import SoakConfig, run_soak
from toolbox.bench.suite import SuiteConfig, run_suite
from toolbox.bench.sysstat import machine
from toolbox.harness.stack import fresh_dir
from toolbox.models import ensure_seed_model


def register(sub: Subparsers) -> None:
    p = add_command(sub, "bench", "benchmark suite (model, predictor, pipeline, worker, "
                    "naive worker; schedules) or 'bench soak'")
    p.add_argument("what", nargs="?", choices=("suite", "soak", "security"), default="suite",
                   help="suite (default), soak, or security: the worker's no-op ceiling on a "
                   "plain and on a SASL_SSL broker with ACLs, side by side")
    p.add_argument("--model-dir", type=Path, help="default: serve.model_dir (the seed model, "
                   "built offline when missing)")
    p.add_argument("--count", type=int, help="products per real-predictor mode (suite, "
                   "default 1500) or for the soak (default 1000000)")
    p.add_argument("--noop-count", type=int, default=100_000,
                   help="worker + no-op predictor, per pass (a warm-up pass, then 3 measured "
                   "passes; the median counts)")
    p.add_argument("--naive-count", type=int, default=300, help="naive worker + predictor")
    p.add_argument("--naive-noop-count", type=int, default=2000, help="naive worker + no-op")
    p.add_argument("--batch-sizes", default="1,8,32,64",
                   help="model and predictor batch sizes; the best one is the worker's")
    p.add_argument("--worker-batch-size", type=int,
                   help="the workers' batch_size (default: worker.batch_size, as shipped)")
    p.add_argument("--batch-wait-ms", type=int,
                   help="the workers' batch_wait_ms (default: worker.batch_wait_ms)")
    p.add_argument("--predictor-threads", type=int,
                   help="the predictor's intra-op threads, i.e. its CPU budget (default: its "
                   "own choice, the CPU quota or every core)")
    p.add_argument("--seconds", type=float, default=5.0, help="per batch size (model, HTTP)")
    p.add_argument("--schedules", default=",".join(SCHEDULES),
                   help=f"comma-separated, of {', '.join(SCHEDULES)} ('' for none)")
    p.add_argument("--schedule-seconds", type=float, default=20.0)
    p.add_argument("--idle-seconds", type=float, default=30.0, help="idle before idle_burst")
    p.add_argument("--cache-entries", type=int, default=50000, help="soak: worker LRU size")
    p.add_argument("--work-dir", type=Path, default=Path("var/bench"))
    p.add_argument("--plots-dir", type=Path, default=Path("docs/bench"))
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--timeout", type=float, default=1800.0, help="longest wait for one phase")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    work = fresh_dir(args.work_dir)
    model_dir = args.model_dir or ensure_seed_model(settings.serve.model_dir, say)
    if not (model_dir / "tokenizer.json").is_file():
        raise UserError(f"no model (tokenizer.json) in {model_dir}")
    command = "catmatch " + shlex.join(sys.argv[1:]) if sys.argv[1:] else "catmatch bench"
    if args.what == "soak":
        return _soak(args, settings, model_dir, work, command)
    if args.what == "security":
        return _security(args, settings, model_dir, work, command)
    cfg = SuiteConfig(
        model_dir=model_dir, work=work, count=args.count or 1500, noop_count=args.noop_count,
        naive_count=args.naive_count, naive_noop_count=args.naive_noop_count,
        batch_sizes=[int(s) for s in args.batch_sizes.split(",")], seconds=args.seconds,
        schedule_seconds=args.schedule_seconds, idle_s=args.idle_seconds,
        schedules=tuple(s for s in args.schedules.split(",") if s), timeout_s=args.timeout,
        worker_batch_size=args.worker_batch_size, batch_wait_ms=args.batch_wait_ms,
        predictor_threads=args.predictor_threads,
    )
    unknown = set(cfg.schedules) - set(SCHEDULES)
    if unknown:
        raise UserError(f"unknown schedules: {sorted(unknown)}")
    results = run_suite(settings, cfg)
    (work / "bench.json").write_text(json.dumps(results))
    text = report.markdown(results, command, machine())
    if not args.no_plots:
        written = plots.suite_plots(results, args.plots_dir)
        text += "".join(f"\n![{p.stem}]({p.name})" for p in written)
        text += "\n" if written else ""
    (work / "report.md").write_text(text)
    print(text, flush=True)
    return 0


def _security(args: argparse.Namespace, settings: Settings, model_dir: Path, work: Path,
              command: str) -> int:
    cfg = SuiteConfig(model_dir=model_dir, work=work, noop_count=args.noop_count,
                      timeout_s=args.timeout, worker_batch_size=args.worker_batch_size,
                      batch_wait_ms=args.batch_wait_ms)
    result = security_overhead(settings, cfg)
    (work / "security.json").write_text(json.dumps(result))
    plain = result["modes"]["none"]["per_s"]
    lines = [f"```\n{command}\n```", "", f"Machine: {machine()}; load average "
             f"{result['loadavg_start']:.1f} at the start, {result['loadavg_end']:.1f} at the "
             "end.", "",
             "| broker | products/s (median) | passes | worker CPU cores | vs plaintext |",
             "| --- | ---: | --- | ---: | ---: |"]
    for mode, row in result["modes"].items():
        passes = ", ".join(f"{p:,.0f}" for p in row.get("passes_per_s", []))
        lines.append(f"| {mode} | {row['per_s']:,.0f} | {passes} | "
                     f"{row.get('cpu_cores', float('nan')):.2f} | {row['per_s'] / plain:.2f}x |")
    print("\n".join(lines), flush=True)
    return 0


def _soak(args: argparse.Namespace, settings: Settings, model_dir: Path, work: Path,
          command: str) -> int:
    cfg = SoakConfig(work=work, model_dir=model_dir, count=args.count or 1_000_000,
                     cache_entries=args.cache_entries, timeout_s=args.timeout)
    result = run_soak(settings, cfg)
    (work / "soak.json").write_text(json.dumps(result))
    lines = [
        f"```\n{command}\n```", "", f"Machine: {machine()}.", "",
        "| products | labelled | twice | products/s | cache entries (max) | RSS start / "
        "after warm-up / peak after / end (MiB) | growth after warm-up |",
        "| ---: | ---: | ---: | ---: | --- | --- | ---: |",
        f"| {result['count']:,} | {result['labelled']:,} | {result['duplicates']} | "
        f"{result['per_s']:,.0f} | {result['cache_entries_at_end']:,.0f} "
        f"({result['cache_max_entries']:,}) | {result['rss_start_mb']:.0f} / "
        f"{result['rss_after_warmup_mb']:.0f} / {result['rss_peak_after_warmup_mb']:.0f} / "
        f"{result['rss_end_mb']:.0f} | {100 * result['growth']:.1f}% |",
        "", f"Warm-up: the first {result['warmup_products']:,} products.",
    ]
    if not args.no_plots:
        path = plots.soak_plot(result["samples"], args.plots_dir / "soak-rss.png")
        if path:
            lines += ["", f"![soak-rss]({path.name})"]
    print("\n".join(lines), flush=True)
    return 0
