"""PNG plots of a benchmark run (matplotlib, the optional ``bench`` extra, imported lazily)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed (pip install 'category-match[bench]'): "
                    "no plots")
        return None
    return plt


def suite_plots(results: dict[str, Any], out: Path, prefix: str = "bench") -> list[Path]:
    """Throughput vs batch size, latency CDF per schedule, RSS over time; the files written."""
    plt = _pyplot()
    if plt is None:
        return []
    out.mkdir(parents=True, exist_ok=True)
    paths = []

    fig, ax = plt.subplots(figsize=(6, 4))
    for key, label in (("model", "model in process"), ("predictor", "predictor over HTTP")):
        rows = sorted(results[key], key=lambda r: r["batch_size"])
        ax.plot([r["batch_size"] for r in rows], [r["texts_per_s"] for r in rows], "o-",
                label=label)
    for m in results["modes"]:
        if "batch_mean" in m and m["mode"] == "pipeline":
            ax.plot([m["batch_mean"]], [m["per_s"]], "s", label="pipeline (mean batch)")
    ax.set_xscale("log", base=2)
    paths.append(_finish(fig, ax, plt, out / f"{prefix}-throughput.png",
                         "batch size", "products/s", "Throughput vs batch size"))

    if results.get("schedules"):
        fig, ax = plt.subplots(figsize=(6, 4))
        for s in results["schedules"]:
            lat = s["latencies_ms"]
            ax.plot(lat, [(i + 1) / len(lat) for i in range(len(lat))], label=s["schedule"])
        ax.set_xscale("log")
        paths.append(_finish(fig, ax, plt, out / f"{prefix}-latency-cdf.png",
                             "end-to-end latency (ms)", "fraction of products",
                             "Latency CDF per schedule (pipeline)"))

    paths.append(rss_plot(plt, results["rss"], out / f"{prefix}-rss.png", "RSS over the run"))
    return paths


def rss_plot(plt: Any, rss: list[dict[str, Any]], path: Path, title: str,
             x_key: str = "t", x_label: str = "seconds since start") -> Path:
    fig, ax = plt.subplots(figsize=(7, 4))
    for name in sorted({r["name"] for r in rss}):
        pts = [r for r in rss if r["name"] == name]
        ax.plot([p[x_key] for p in pts], [p["rss_mb"] for p in pts], label=name)
    return _finish(fig, ax, plt, path, x_label, "RSS (MiB)", title, legend_size="small")


def soak_plot(rss: list[dict[str, Any]], path: Path) -> Path | None:
    plt = _pyplot()
    if plt is None:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    return rss_plot(plt, rss, path, "Worker RSS during the soak (no-op predictor)",
                    x_key="done", x_label="products labelled")


def _finish(fig: Any, ax: Any, plt: Any, path: Path, x_label: str, y_label: str, title: str,
            legend_size: str | None = None) -> Path:
    """Label, grid and legend the plot, then write it to ``path``."""
    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
