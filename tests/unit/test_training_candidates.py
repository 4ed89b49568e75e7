"""The candidates table: figures from a run's metrics, the default rule, the Markdown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training import baseline
from training.candidates import average, choose_default, format_table, row_from_metrics, with_run


def metrics(en: float, ko: float, int8_speed: float, base: str = "b") -> dict[str, Any]:
    cal = {"ece_before": 0.1, "ece_after": 0.03, "confident_share": 0.9,
           "confident_accuracy": 0.95}
    sets = {"handwritten": {"accuracy": en, "macro_f1": en - 0.01, "calibration": cal,
                            "confusion_matrix": [[1, 0], [0, 1]]},
            "korean": {"accuracy": ko, "macro_f1": ko, "calibration": cal}}
    return {"base": base, "transformer": {"hs_test": {"accuracy": 0.95}},
            "measured": {"transformer": {
                "torch": {"temperature": 1.3, "sets": sets, "texts_per_s_batch64": 100.0},
                "int8": {"sets": sets, "texts_per_s_batch64": int8_speed, "size_mb": 20},
                "size_mb": 90}}}


def test_row_average_and_table() -> None:
    a, b = row_from_metrics(metrics(0.9, 0.8, 400)), row_from_metrics(metrics(0.92, 0.7, 500))
    mean = average([a, b])
    assert mean["en_accuracy"] == 0.91 and mean["int8_texts_per_s"] == 450
    assert mean["en_confusion"] == [[2, 0], [0, 2]]
    table = format_table([{"candidate": "x", "seeds": [13, 14], "figures": mean,
                           "default": True}])
    assert "**x** (default)" in table and "0.910" in table and "0.100→0.030" in table


def test_the_default_is_the_most_accurate_base_fast_enough_as_int8() -> None:
    def entry(name: str, kind: str, en: float, speed: float, ko: float = 0.5) -> dict[str, Any]:
        return {"candidate": name, "kind": kind,
                "figures": row_from_metrics(metrics(en, ko, speed))}

    entries = [entry("fast", "transformer", 0.88, 900), entry("best", "transformer", 0.93, 350),
               entry("slow", "transformer", 0.95, 120), entry("tfidf", "tfidf", 0.99, 5000)]
    assert choose_default(entries) == "best"  # no base reaches the Korean bar: English decides
    replaced = with_run(entries, metrics(0.5, 0.5, 400, base="b"))
    assert replaced[0]["candidate"] == "b (this run)" and len(replaced) == 5
    # A fast base that labels Korean titles at >= 0.75 wins over a better English-only one,
    # and among such bases English decides again; a slow one never counts.
    entries += [entry("ko", "transformer", 0.90, 320, ko=0.78),
                entry("ko-weak", "transformer", 0.89, 700, ko=0.80),
                entry("ko-slow", "transformer", 0.97, 200, ko=0.90)]
    assert choose_default(entries) == "ko"


def test_wall_clock_speeds_are_marked_and_kept_rows_survive_a_rebuild(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    import training.candidates as candidates

    cpu = metrics(0.9, 0.8, 400)
    cpu["measured"]["transformer"]["torch"]["texts_per_s_batch64_wall"] = 80.0
    assert row_from_metrics(cpu)["speed_clock"] == "cpu"
    wall = row_from_metrics(metrics(0.9, 0.8, 400))  # measured before CPU time was counted
    assert wall["speed_clock"] == "wall"
    assert average([row_from_metrics(cpu), wall])["speed_clock"] == "mixed"
    table = format_table([{"candidate": "old", "figures": wall},
                          {"candidate": "new", "figures": row_from_metrics(cpu)}])
    assert "| 100 (wall) | 400 (wall) |" in table and "| 100 | 400 |" in table

    run = tmp_path / "run"
    run.mkdir()
    cpu["data"] = {"data_hash": "h"}
    cpu["base_model"] = "some/model"
    cpu["baseline"] = {}
    (run / "metrics.json").write_text(json.dumps(cpu), encoding="utf-8")
    (run / "training_config.json").write_text(
        json.dumps({"finetune": {"base": "b", "seed": 13}}), encoding="utf-8")
    record = tmp_path / "candidates.json"
    probe = {"candidate": "probe-x", "kind": "probe", "figures": {"int8_texts_per_s": 99.0}}
    record.write_text(json.dumps({"candidates": [probe]}), encoding="utf-8")
    monkeypatch.setattr(candidates, "RECORD", record)
    assert candidates.main([str(run)]) == 0
    names = [e["candidate"] for e in json.loads(record.read_text())["candidates"]]
    assert names == ["b", baseline.BASELINE_NAME, "probe-x"]


def test_runs_on_two_data_formats_keep_their_labels_and_tfidf_is_the_first_runs(
        tmp_path: Path) -> None:
    import json

    from training.candidates import build_record

    def run(name: str, base: str, data: dict[str, Any], en_tfidf: float) -> Path:
        m = metrics(0.9, 0.8, 400, base=base)
        m["data"], m["base_model"] = data, f"org/{base}"
        m["measured"]["baseline"] = {"sets": {"handwritten": {"accuracy": en_tfidf}}}
        d = tmp_path / name
        d.mkdir()
        (d / "metrics.json").write_text(json.dumps(m), encoding="utf-8")
        (d / "training_config.json").write_text(
            json.dumps({"finetune": {"base": base, "seed": 13}}), encoding="utf-8")
        return d

    new = run("new", "a", {"data_hash": "h4", "format": 4}, 0.81)
    old = run("old", "b", {"data_hash": "h3"}, 0.80)  # made before the format was recorded
    entries = {e["candidate"]: e for e in build_record([new, old], data="format 3")}
    assert entries["a"]["data"] == "format 4" and entries["b"]["data"] == "format 3"
    tfidf = entries[baseline.BASELINE_NAME]
    assert tfidf["data_hash"] == ["h4"] and tfidf["data"] == "format 4"
    assert tfidf["figures"]["en_accuracy"] == 0.81  # not averaged with the older data's
