"""The candidates table: every base model tried, its data, its figures, which is the default.

``training/candidates.json`` records the measured runs (one entry per candidate, figures
averaged over its seeds); ``python -m training.candidates RUN_DIR...`` rebuilds it from kept
run directories (``catmatch train --no-publish``) and prints the Markdown table that
``docs/TRAINING.md`` keeps. ``catmatch train`` prints the same table at its end, with the
run just made in place of the recorded row of its base.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training import baseline

RECORD = Path(__file__).resolve().parent / "candidates.json"
MIN_INT8_TEXTS_PER_S = 300.0  # the rule: best accuracy among bases this fast as int8 ...
MIN_KOREAN_ACCURACY = 0.75  # ... that also label Korean titles this well (issue 18)

COLUMNS = (
    "candidate", "seeds", "EN acc", "EN macro-F1", "KO acc", "ECE EN raw→scaled",
    "confident @min_score (share / acc)", "torch texts/s", "int8 texts/s", "int8 EN / KO acc",
    "size fp32 / int8 MB", "data",
)


def _get(d: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def row_from_metrics(metrics: dict[str, Any], model: str = "transformer") -> dict[str, Any]:
    """The table's figures for one run (``model``: ``transformer`` or ``baseline``)."""
    measured = _get(metrics, "measured", model) or {}
    torch_part = measured.get("torch", measured)  # the baseline has no torch/int8 split
    int8 = measured.get("int8") or {}
    hw = _get(torch_part, "sets", "handwritten") or {}
    ko = _get(torch_part, "sets", "korean") or {}
    cal = hw.get("calibration") or {}
    return {
        "en_accuracy": hw.get("accuracy"), "en_macro_f1": hw.get("macro_f1"),
        "ko_accuracy": ko.get("accuracy"), "ko_macro_f1": ko.get("macro_f1"),
        "ece_before": cal.get("ece_before"), "ece_after": cal.get("ece_after"),
        "confident_share": cal.get("confident_share"),
        "confident_accuracy": cal.get("confident_accuracy"),
        "temperature": torch_part.get("temperature"),
        "torch_texts_per_s": torch_part.get("texts_per_s_batch64"),
        # runs measured before training.measure counted CPU time have only the wall clock
        "speed_clock": "cpu" if "texts_per_s_batch64_wall" in torch_part else "wall",
        "int8_texts_per_s": int8.get("texts_per_s_batch64"),
        "int8_en_accuracy": _get(int8, "sets", "handwritten", "accuracy"),
        "int8_ko_accuracy": _get(int8, "sets", "korean", "accuracy"),
        "size_mb": measured.get("size_mb"), "int8_size_mb": int8.get("size_mb"),
        "hs_test_accuracy": _get(metrics, model, "hs_test", "accuracy"),
        "en_confusion": hw.get("confusion_matrix"),
    }


def average(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Mean of every numeric figure over seeds (confusion matrices summed)."""
    out: dict[str, Any] = {}
    for key in rows[0]:
        values = [r[key] for r in rows if r.get(key) is not None]
        if key == "en_confusion":
            out[key] = [[sum(m[i][j] for m in values) for j in range(len(values[0][0]))]
                        for i in range(len(values[0]))] if values else None
        elif values and all(isinstance(v, int | float) for v in values):
            out[key] = round(sum(values) / len(values), 4)
        elif key == "speed_clock" and values:  # one clock for all, else "mixed"
            out[key] = values[0] if len(set(values)) == 1 else "mixed"
        else:
            out[key] = None
    return out


def _f(value: Any, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _n(value: Any) -> str:
    return "-" if value is None else f"{value:,.0f}"


def format_table(entries: Sequence[dict[str, Any]]) -> str:
    """The Markdown table (``entries`` from ``candidates.json``).

    Speeds are per 2 cores of CPU time; a figure only measured by the wall clock (older
    runs) is marked ``(wall)``: under load it is lower than the CPU-time figure.
    """
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for e in entries:
        r = e["figures"]
        clock = r.get("speed_clock", "cpu")
        mark = "" if clock == "cpu" else f" ({clock})"
        name = f"**{e['candidate']}** (default)" if e.get("default") else e["candidate"]
        lines.append("| " + " | ".join([
            name, ", ".join(str(s) for s in e.get("seeds", [])) or "-",
            _f(r.get("en_accuracy")), _f(r.get("en_macro_f1")), _f(r.get("ko_accuracy")),
            f"{_f(r.get('ece_before'))}→{_f(r.get('ece_after'))}",
            f"{_f(r.get('confident_share'), 2)} / {_f(r.get('confident_accuracy'))}",
            *(_n(r.get(k)) + (mark if r.get(k) is not None else "")
              for k in ("torch_texts_per_s", "int8_texts_per_s")),
            f"{_f(r.get('int8_en_accuracy'))} / {_f(r.get('int8_ko_accuracy'))}",
            f"{_f(r.get('size_mb'), 0)} / {_f(r.get('int8_size_mb'), 0)}",
            e.get("data", "format 2"),
        ]) + " |")
    return "\n".join(lines)


def choose_default(entries: list[dict[str, Any]]) -> str | None:
    """The transformer with the best English accuracy among those ≥ 300 int8 texts/s that
    reach 0.75 on the Korean titles; if none of the fast ones does, the best English one
    of them (a shop that sells in Korean then needs another model: the table says which)."""
    fast = [e for e in entries if e.get("kind") == "transformer"
            and (e["figures"].get("int8_texts_per_s") or 0) >= MIN_INT8_TEXTS_PER_S
            and e["figures"].get("en_accuracy") is not None]
    bilingual = [e for e in fast
                 if (e["figures"].get("ko_accuracy") or 0) >= MIN_KOREAN_ACCURACY]
    pool = bilingual or fast
    if not pool:
        return None
    return str(max(pool, key=lambda e: e["figures"]["en_accuracy"])["candidate"])


def load_record(path: Path | None = None) -> list[dict[str, Any]]:
    path = path or RECORD
    if not path.is_file():
        return []
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["candidates"]
    return entries


def with_run(entries: list[dict[str, Any]], metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The recorded entries with this run's transformer in place of its base's row."""
    if "measured" not in metrics:
        return entries
    base = metrics.get("base", "minilm-l6")
    seed = _get(metrics, "seed") or "this run"
    row = {"candidate": f"{base} (this run)", "kind": "transformer", "base": base,
           "seeds": [seed], "figures": row_from_metrics(metrics),
           "data": data_label(metrics) or "this run's"}
    kept = [e for e in entries if e.get("base") != base or e.get("kind") != "transformer"]
    return [row, *kept]


def data_label(metrics: dict[str, Any]) -> str | None:
    """``format N`` from a run's metrics (runs before the format was recorded: None)."""
    fmt = _get(metrics, "data", "format")
    return f"format {fmt}" if fmt is not None else None


def build_record(run_dirs: Sequence[Path], data: str | None = None) -> list[dict[str, Any]]:
    """Entries from kept run directories: one per base (seeds averaged), plus TF-IDF on the
    first run's data; ``data`` labels their data when the runs did not record its format."""
    by_base: dict[str, list[dict[str, Any]]] = {}
    tfidf: list[dict[str, Any]] = []
    for run in run_dirs:
        metrics = json.loads((Path(run) / "metrics.json").read_text(encoding="utf-8"))
        config = json.loads((Path(run) / "training_config.json").read_text(encoding="utf-8"))
        base = config["finetune"].get("base", "minilm-l6")
        seed = config["finetune"]["seed"]
        label = data_label(metrics) or data or "format 2"  # a recorded format wins
        by_base.setdefault(base, []).append({"data": label,
            "seed": seed, "run": str(run), "data_hash": metrics["data"]["data_hash"],
            "figures": row_from_metrics(metrics), "base_model": metrics["base_model"]})
        tfidf.append({"data": label, "seed": seed, "run": str(run),
                      "data_hash": metrics["data"]["data_hash"],
                      "figures": row_from_metrics(metrics, "baseline")})
    entries: list[dict[str, Any]] = []
    for base, runs in by_base.items():
        entries.append({
            "candidate": base, "kind": "transformer", "base": base,
            "base_model": runs[0]["base_model"], "seeds": sorted({r["seed"] for r in runs}),
            "data_hash": sorted({r["data_hash"] for r in runs}),
            "runs": [r["run"] for r in runs], "data": runs[0]["data"],
            "per_seed": {str(r["seed"]): {k: v for k, v in r["figures"].items()
                                          if k != "en_confusion"} for r in runs},
            "figures": average([r["figures"] for r in runs]),
        })
    if tfidf:
        # TF-IDF does not depend on the torch seed, only on the data: one run's baseline, on
        # the data of the first run given (runs of another base may be on older data)
        ref = tfidf[0]
        entries.append({
            "candidate": baseline.BASELINE_NAME, "kind": "tfidf", "base": None,
            "seeds": [], "data_hash": [ref["data_hash"]], "runs": [ref["run"]],
            "data": ref["data"], "figures": average([ref["figures"]]),
        })
    default = choose_default(entries)
    for e in entries:
        e["default"] = e["candidate"] == default
    return entries


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m training.candidates [--data LABEL] RUN_DIR...``: rebuild
    ``candidates.json`` and print the table."""
    args = list(argv if argv is not None else sys.argv[1:])
    label = None
    if args[:1] == ["--data"] and len(args) > 1:  # --data "format 3": runs that did not say
        label, args = args[1], args[2:]
    runs = [Path(a) for a in args]
    if runs:
        # rows not made from runs here (earlier data, speed probes) are kept as they are
        kept = [e for e in load_record() if e.get("kind") in ("history", "probe")]
        entries = build_record(runs, label) + kept
        RECORD.write_text(json.dumps({"candidates": entries}, indent=1) + "\n",
                          encoding="utf-8")
    print(format_table(load_record()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
