"""training.measure on a tiny model: calibration, speed, int8 export, cards updated."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.categories import LABELS
from core.modelformat import card_temperature, read_metadata

pytest.importorskip("onnxruntime")


def test_measure_run_dir_fills_every_figure_and_writes_the_temperature(tmp_path: Path) -> None:
    from training import baseline
    from training.builders import build_tiny_model
    from training.measure import measure_run_dir

    model_dir = build_tiny_model(tmp_path / "m", list(LABELS))
    texts = [f"{word} product number {i}" for i, word in enumerate(["steel", "tea", "shoe"] * 14)]
    ids = [i % len(LABELS) for i in range(len(texts))]
    pipeline = baseline.fit_baseline(texts, ids, 0)
    base_dir = model_dir / "baseline"
    base_dir.mkdir()
    baseline.save_baseline(pipeline, base_dir)
    sets = {"handwritten": (texts[:21], ids[:21]), "korean": (["스테인리스 냄비"] * 3, [14] * 3)}
    res = measure_run_dir(model_dir, pipeline, (texts, ids), sets, texts * 2, max_length=16,
                          threads=1, min_score=0.5)
    torch_res, int8 = res["transformer"]["torch"], res["transformer"]["int8"]
    for part in (torch_res, int8, res["baseline"]):
        assert part["temperature"] > 0 and part["texts_per_s_batch64"] > 0
        for key in sets:
            cal = part["sets"][key]["calibration"]
            assert 0 <= cal["ece_after"] <= 1 and "confident_share" in cal
            assert len(part["sets"][key]["confusion_matrix"]) == len(LABELS)
    assert int8["size_mb"] > 0 and res["transformer"]["size_mb"] > 0
    card = read_metadata(model_dir)
    assert card_temperature(card) == torch_res["temperature"]
    assert (card.model_extra or {})["min_score"] == 0.5
