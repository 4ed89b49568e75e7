"""``catmatch models``: list, show, publish, promote, rollback and history output."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from catmatch import cli
from catmatch.commands import models as models_command
from core.settings import load_settings
from modelstore import ModelStore
from tests.unit.test_modelstore import NAME, make_model_dir

MODULE = "catmatch.commands.models"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def staged(tmp_path: Path) -> Path:
    return make_model_dir(tmp_path / "staging")


@pytest.fixture
def main(monkeypatch):
    """``catmatch.cli.main`` with the models command registered (whether or not it is yet)."""
    if MODULE not in cli.COMMAND_MODULES:
        monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, MODULE))
    return cli.main


def run(root: Path, *argv: str) -> int:
    parser = argparse.ArgumentParser()
    models_command.register(parser.add_subparsers())
    args = parser.parse_args(["models", *argv, "--store", str(root)])
    return args.func(args, load_settings())


def test_publish_list_promote_rollback_history(root, staged, capsys):
    assert run(root, "list") == 0
    assert capsys.readouterr().out == f"no versions of {NAME} in {root.as_uri()}\n"
    assert run(root, "publish", str(staged)) == 0
    assert capsys.readouterr().out == f"published {NAME} v1 ({root.as_uri()}/{NAME}/v1)\n"
    store = ModelStore.from_uri(root)
    store.publish(NAME, staged, metrics={"accuracy": 0.93, "macro_f1": 0.9123456})
    store.publish(NAME, staged, runtime="transformers")
    capsys.readouterr()

    assert run(root, "promote", "v2", "--env", "ops", "--actor", "ana") == 0
    assert run(root, "promote", "v3", "--env", "ops", "--note", "better f1") == 0
    assert run(root, "promote", "ops", "--env", "dev") == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [
        f"promoted {NAME} v2 to ops (was none)",
        f"promoted {NAME} v3 to ops (was v2)",
        f"promoted {NAME} v3 to dev (was none)",
    ]

    assert run(root, "list") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{NAME} in {root.as_uri()}"
    assert lines[1].split() == ["VERSION", "CREATED", "RUNTIME", "METRICS", "DEPLOYED"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert list(rows) == ["v1", "v2", "v3"]
    assert "accuracy=0.93 macro_f1=0.9123 " in rows["v2"] and rows["v2"].endswith(" -")
    assert rows["v3"].endswith(" dev,ops") and "transformers" in rows["v3"]
    assert rows["v1"].split()[4:] == ["transformers", "-", "-"]

    assert run(root, "rollback", "--env", "production") == 0
    assert capsys.readouterr().out == f"rolled back {NAME} in ops from v3 to v2\n"
    assert run(root, "history", "--env", "ops") == 0
    history = capsys.readouterr().out.splitlines()
    assert len(history) == 3
    assert history[0].endswith("ops  promote   v2 (was none)  by ana")
    assert "ops  promote   v3 (was v2)  by " in history[1]
    assert "'better f1'" in history[1]
    assert " rollback  v2 (was v3)" in history[2]
    assert run(root, "history") == 0
    assert len(capsys.readouterr().out.splitlines()) == 4


def test_show_prints_entry_files_and_card(root, staged, capsys):
    store = ModelStore.from_uri(root)
    store.publish(NAME, staged, metrics={"accuracy": 0.5}, info={"data_hash": "abc"})
    store.promote(NAME, "v1", "dev")
    assert run(root, "show", "dev") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version"] == "v1" and shown["name"] == NAME
    assert shown["deployed_to"] == ["dev"] and shown["info"] == {"data_hash": "abc"}
    assert shown["path"] == str(root / NAME / "v1")
    assert shown["catmatch.json"]["version"] == "v1"
    assert "model.safetensors" in shown["files"]
    assert len(shown["files"]["config.json"]["sha256"]) == 64


def test_publish_takes_headline_metrics_and_info_from_the_card(root, staged, capsys):
    card = json.loads((staged / "catmatch.json").read_text())
    card |= {
        "metrics": {"heldout_accuracy": 0.9, "steps": 300, "per_class": {"a": 1}},
        "base_model": "minilm",
        "data_hash": "dh",
    }
    (staged / "catmatch.json").write_text(json.dumps(card))
    assert run(root, "publish", str(staged)) == 0
    mv = ModelStore.from_uri(root).get(NAME, "v1")
    assert mv.metrics == {"heldout_accuracy": 0.9}
    assert mv.info == {
        "source_name": "seed",
        "source_version": "seed-1",
        "base_model": "minilm",
        "data_hash": "dh",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["promote", "v9", "--env", "dev"], "category-match has no version v9 (versions: v1)"),
        (["rollback", "--env", "dev"], "cannot roll back category-match in dev: nothing is"),
        (["history"], "no deployments of category-match yet"),
        (["history", "--env", "ops"], "no deployments of category-match in ops yet"),
        (["show", "nope"], "unknown version reference 'nope'"),
        (["list", "--store", "gs://bucket/models"], "gs:// model store backend not available"),
        (["promote", "v1", "--env", "dev", "--name", "other"], "no model 'other' in"),
    ],
)
def test_errors_are_one_line(main, root, staged, capsys, argv, message):
    ModelStore.from_uri(root).publish(NAME, staged)
    code = main(["models", *argv[:1], "--store", str(root), *argv[1:]])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("catmatch: error: ") and message in err
    assert err.count("\n") == 1


def test_main_runs_the_command_with_settings_defaults(main, root, staged, capsys, monkeypatch):
    ModelStore.from_uri(root).publish(NAME, staged)
    monkeypatch.chdir(root.parent)
    (root.parent / "models").symlink_to(root)
    assert main(["models", "promote", "latest", "--env", "dev"]) == 0
    assert capsys.readouterr().out == f"promoted {NAME} v1 to dev (was none)\n"


def test_evaluate_scores_a_version_as_it_is_served(root, tmp_path, capsys):
    import joblib

    from training.builders import build_tiny_sklearn

    model_dir = build_tiny_sklearn(tmp_path / "sk")
    run(root, "publish", str(model_dir), "--runtime", "sklearn", "--name", "tfidf")
    pipeline = joblib.load(model_dir / "model.joblib")
    labels = json.loads((model_dir / "catmatch.json").read_text())["labels"]
    rows = [("usb charger fast", "electronics"), ("teddy bear", "toys"), ("oak table", "home"),
            ("green tea", "food"), ("cotton shirt", "toys"), ("laptop sleeve", "apparel")]
    data = tmp_path / "titles.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": g}) + "\n" for t, g in rows[:-1])
                    + json.dumps({"text": rows[-1][0], "label_id": 0}) + "\n")
    predicted = [labels[i] for i in pipeline.predict([t for t, _ in rows])]
    right = sum(p == g for p, (_, g) in zip(predicted, rows, strict=True))
    assert 0 < right < len(rows)  # the set has mistakes to report
    out_json = tmp_path / "metrics.json"
    capsys.readouterr()
    assert run(root, "evaluate", "v1", "--name", "tfidf", "--data", str(data),
               "--json", str(out_json)) == 0
    out = capsys.readouterr().out
    assert f"accuracy {right / len(rows):.4f}" in out
    assert "'cotton shirt': toys -> predicted apparel" in out
    metrics = json.loads(out_json.read_text())
    assert metrics["examples"] == len(rows)
    assert len(metrics["errors"]) == len(rows) - right


def test_evaluate_refuses_labels_the_model_does_not_have(root, tmp_path):
    from catmatch.errors import UserError
    from training.builders import build_tiny_sklearn

    run(root, "publish", str(build_tiny_sklearn(tmp_path / "sk")), "--runtime", "sklearn")
    data = tmp_path / "titles.jsonl"
    data.write_text(json.dumps({"text": "x", "label": "Works of art"}) + "\n")
    with pytest.raises(UserError, match="not one of the model's 5 labels"):
        run(root, "evaluate", "--data", str(data))
