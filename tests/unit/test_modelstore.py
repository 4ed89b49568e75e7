"""The versioned model store: publish, immutability, failed publishes, deployments, locking."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import stat
from pathlib import Path

import pytest

from core.errors import CatmatchError
from modelstore import (
    DeploymentEvent,
    LocalBackend,
    ModelStore,
    ModelVersion,
    Registry,
    StoreError,
)
from modelstore import backends as backends_module
from modelstore import store as store_module

NAME = "category-match"


def make_model_dir(path: Path, *, tokenizer: bool = True, marker: str = "a") -> Path:
    """A directory that passes the transformers checks (contents are placeholders)."""
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"id2label": {"0": "a", "1": "b"}}))
    (path / "model.safetensors").write_bytes(b"weights-" + marker.encode() * 1000)
    if tokenizer:
        (path / "tokenizer.json").write_text('{"model": {}}')
    (path / "sub").mkdir()
    (path / "sub" / "extra.txt").write_text(marker)
    card = {"name": "seed", "version": "seed-1", "labels": ["a", "b"], "metrics": {"acc": 0.5}}
    (path / "catmatch.json").write_text(json.dumps(card))
    return path


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    return make_model_dir(tmp_path / "staging")


@pytest.fixture
def store(tmp_path: Path) -> ModelStore:
    return ModelStore.from_uri(tmp_path / "store")


def store_children(store: ModelStore) -> list[str]:
    return store.backend.list_dir(NAME)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_publish_assigns_v1_then_v2_and_sets_the_card(store, model_dir):
    mv1 = store.publish(NAME, model_dir, metrics={"accuracy": 0.93}, info={"data_hash": "h"})
    mv2 = store.publish(NAME, model_dir, runtime="transformers")
    assert isinstance(mv1, ModelVersion)
    assert (mv1.version, mv2.version) == ("v1", "v2")
    assert mv1.name == NAME and mv1.runtime == "transformers"
    assert mv1.metrics == {"accuracy": 0.93} and mv1.info == {"data_hash": "h"}
    assert mv1.created.tzinfo is not None and mv1.created <= mv2.created
    assert mv1.path == store.backend.root / NAME / "v1"
    assert mv1.uri == mv1.path.as_uri()
    card = json.loads((mv1.path / "catmatch.json").read_text())
    assert card["name"] == NAME and card["version"] == "v1" and card["labels"] == ["a", "b"]
    assert card["runtime"] == "transformers" and card["metrics"] == {"acc": 0.5}
    assert json.loads((model_dir / "catmatch.json").read_text())["version"] == "seed-1"
    assert (mv1.path / "sub" / "extra.txt").read_text() == "a"
    assert sorted(mv1.files) == [
        "catmatch.json",
        "config.json",
        "model.safetensors",
        "sub/extra.txt",
        "tokenizer.json",
    ]
    for rel, entry in mv1.files.items():
        assert (
            entry.sha256 == sha256(mv1.path / rel) and entry.size == (mv1.path / rel).stat().st_size
        )
    assert [v.version for v in store.versions(NAME)] == ["v1", "v2"]
    assert store_children(store) == [".lock", "registry.json", "v1", "v2"]


def test_published_files_are_world_readable_and_read_only(store, model_dir):
    mv = store.publish(NAME, model_dir)
    for path in [mv.path, *mv.path.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o555 if path.is_dir() else 0o444), (path, oct(mode))


def test_publishing_again_never_overwrites(store, model_dir, tmp_path):
    mv1 = store.publish(NAME, model_dir)
    before = {rel: sha256(mv1.path / rel) for rel in mv1.files}
    other = make_model_dir(tmp_path / "other", marker="b")
    mv2 = store.publish(NAME, other)
    assert mv2.version == "v2"
    assert {rel: sha256(mv1.path / rel) for rel in mv1.files} == before
    assert (mv2.path / "sub" / "extra.txt").read_text() == "b"
    assert store.get(NAME, "v1").files == mv1.files


def test_a_directory_that_is_not_a_model_is_refused_and_leaves_nothing(store, tmp_path):
    bad = make_model_dir(tmp_path / "bad", tokenizer=False)
    with pytest.raises(StoreError, match="tokenizer.json"):
        store.publish(NAME, bad)
    with pytest.raises(StoreError, match="not found"):
        store.publish(NAME, tmp_path / "missing")
    with pytest.raises(StoreError, match="runtime"):
        store.publish(NAME, bad, runtime="tensorrt")
    with pytest.raises(StoreError, match=r"not an ONNX model directory: missing \['model.onnx'"):
        store.publish(NAME, bad, runtime="onnx")
    assert store.versions(NAME) == []
    assert store_children(store) == []


def test_an_exception_mid_copy_leaves_no_version_and_no_staging(store, model_dir, monkeypatch):
    real_copytree = shutil.copytree
    copied: list[str] = []

    def copy_function(src, dst):
        if len(copied) == 2:
            raise OSError("disk full")
        copied.append(src)
        return shutil.copy2(src, dst)

    def copy_then_fail(src, dst, symlinks=False, ignore=None, _copy=None, *args, **kwargs):
        kwargs.pop("copy_function", None)
        return real_copytree(src, dst, symlinks, ignore, copy_function, *args, **kwargs)

    monkeypatch.setattr(backends_module.shutil, "copytree", copy_then_fail)
    with pytest.raises(shutil.Error, match="disk full"):
        store.publish(NAME, model_dir)
    assert len(copied) == 2
    assert store.versions(NAME) == [] and store_children(store) == []
    monkeypatch.setattr(backends_module.shutil, "copytree", real_copytree)
    assert store.publish(NAME, model_dir).version == "v1"


def test_a_failed_registry_write_removes_the_new_version(store, model_dir, monkeypatch):
    store.publish(NAME, model_dir)

    def fail(self, registry):
        raise OSError("registry write failed")

    monkeypatch.setattr(store_module.ModelStore, "_save", fail)
    with pytest.raises(OSError, match="registry write failed"):
        store.publish(NAME, model_dir)
    assert store_children(store) == [".lock", "registry.json", "v1"]
    monkeypatch.undo()
    assert [v.version for v in ModelStore.from_uri(store.uri).versions(NAME)] == ["v1"]
    assert store.publish(NAME, model_dir).version == "v2"


def test_version_dirs_missing_from_the_registry_are_never_listed_and_are_cleaned(store, model_dir):
    store.publish(NAME, model_dir)
    orphan = store.backend.root / NAME / "v2"
    orphan.mkdir()
    (orphan / "half-copied").write_text("x")
    stale = store.backend.root / NAME / ".staging-crashed"
    stale.mkdir()
    (stale / "f").write_text("x")
    old = 1_000_000_000
    os.utime(stale, (old, old))
    assert [v.version for v in store.versions(NAME)] == ["v1"]
    with pytest.raises(StoreError, match="no version v2"):
        store.get(NAME, "v2")
    mv = store.publish(NAME, model_dir)
    assert mv.version == "v2" and not (mv.path / "half-copied").exists()
    assert store_children(store) == [".lock", "registry.json", "v1", "v2"]


def test_promote_rollback_and_history(store, model_dir):
    for _ in range(3):
        store.publish(NAME, model_dir)
    e1 = store.promote(NAME, "v1", "dev", actor="ana", note="first")
    assert isinstance(e1, DeploymentEvent)
    assert (e1.model, e1.env, e1.version, e1.previous_version, e1.action) == (
        NAME,
        "dev",
        "v1",
        None,
        "promote",
    )
    assert e1.actor == "ana" and e1.note == "first" and e1.at.tzinfo is not None
    e2 = store.promote(NAME, "2", "dev")
    assert (e2.version, e2.previous_version) == ("v2", "v1")
    back = store.rollback(NAME, "dev", actor="bo")
    assert (back.action, back.version, back.previous_version, back.actor) == (
        "rollback",
        "v1",
        "v2",
        "bo",
    )
    assert store.deployed(NAME) == {"dev": "v1"}
    with pytest.raises(StoreError, match="nothing was deployed before v1"):
        store.rollback(NAME, "dev")
    store.promote(NAME, "v3", "dev")
    store.promote(NAME, "v2", "dev")
    assert store.rollback(NAME, "dev").version == "v3"
    assert store.rollback(NAME, "dev").version == "v1"
    history = store.history(NAME, "dev")
    assert [(e.action, e.version) for e in history] == [
        ("promote", "v1"),
        ("promote", "v2"),
        ("rollback", "v1"),
        ("promote", "v3"),
        ("promote", "v2"),
        ("rollback", "v3"),
        ("rollback", "v1"),
    ]
    assert [e.at for e in history] == sorted(e.at for e in history)


def test_ops_is_independent_of_dev(store, model_dir):
    store.publish(NAME, model_dir)
    store.publish(NAME, model_dir)
    store.promote(NAME, "v1", "dev")
    store.promote(NAME, "v2", "dev")
    with pytest.raises(StoreError, match="cannot roll back .* in ops: nothing is deployed"):
        store.rollback(NAME, "ops")
    event = store.promote(NAME, "v1", "production")
    assert (event.env, event.previous_version) == ("ops", None)
    assert store.deployed(NAME) == {"dev": "v2", "ops": "v1"}
    store.rollback(NAME, "dev")
    assert store.deployed(NAME) == {"dev": "v1", "ops": "v1"}
    assert [e.env for e in store.history(NAME)] == ["dev", "dev", "ops", "dev"]
    assert [e.version for e in store.history(NAME, "ops")] == ["v1"]


def test_deployment_errors(store, model_dir):
    with pytest.raises(StoreError, match="no model 'category-match'"):
        store.promote(NAME, "v1", "dev")
    store.publish(NAME, model_dir)
    with pytest.raises(StoreError, match=r"no version v7 \(versions: v1\)"):
        store.promote(NAME, "v7", "dev")
    with pytest.raises(StoreError, match="unknown environment 'qa'"):
        store.promote(NAME, "v1", "qa")
    store.promote(NAME, "v1", "dev")
    with pytest.raises(StoreError, match="already deployed to dev"):
        store.promote(NAME, "v1", "dev")
    assert len(store.history(NAME)) == 1
    assert issubclass(StoreError, CatmatchError)


def test_resolve_refs(store, model_dir):
    with pytest.raises(StoreError, match="no model 'category-match' in file://"):
        store.resolve(NAME, "latest")
    for _ in range(3):
        store.publish(NAME, model_dir)
    store.promote(NAME, "v1", "ops")
    store.promote(NAME, "v2", "dev")
    resolved = {
        ref: store.resolve(NAME, ref).version
        for ref in ("v3", "3", "latest", "dev", "ops", "production", "prod")
    }
    assert resolved == {
        "v3": "v3",
        "3": "v3",
        "latest": "v3",
        "dev": "v2",
        "ops": "v1",
        "production": "v1",
        "prod": "v1",
    }
    for bad in ("v0", "v9", "stable", "03x"):
        with pytest.raises(StoreError):
            store.resolve(NAME, bad)


def test_registry_survives_reopening(tmp_path, model_dir):
    first = ModelStore.from_uri(str(tmp_path / "store"))
    first.publish(NAME, model_dir, metrics={"accuracy": 0.9})
    first.promote(NAME, "v1", "dev", note="n")
    again = ModelStore.from_uri(str(tmp_path / "store"))
    assert again.versions(NAME) == first.versions(NAME)
    assert again.history(NAME) == first.history(NAME)
    assert again.deployed(NAME) == {"dev": "v1"}
    assert again.models() == [NAME]
    raw = json.loads((tmp_path / "store" / NAME / "registry.json").read_text())
    assert raw["schema_version"] == 1 and raw["deployments"] == {"dev": "v1"}
    assert Registry.from_json(json.dumps(raw).encode()).versions[0].metrics == {"accuracy": 0.9}


def test_a_corrupt_registry_is_a_store_error(store, model_dir):
    store.publish(NAME, model_dir)
    (store.backend.root / NAME / "registry.json").write_text('{"name": 5}')
    with pytest.raises(StoreError, match="invalid model registry"):
        store.versions(NAME)


def _publish_three(root: str, src: str) -> None:
    store = ModelStore.from_uri(root)
    for _ in range(3):
        store.publish(NAME, Path(src))


def test_concurrent_publishes_from_two_processes(tmp_path, model_dir):
    root = str(tmp_path / "store")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_publish_three, args=(root, str(model_dir))) for _ in range(2)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=60)
    assert [proc.exitcode for proc in procs] == [0, 0]
    store = ModelStore.from_uri(root)
    versions = store.versions(NAME)
    assert [v.version for v in versions] == [f"v{i}" for i in range(1, 7)]
    for mv in versions:
        assert json.loads((mv.path / "catmatch.json").read_text())["version"] == mv.version
    assert store_children(store) == [".lock", "registry.json", *(f"v{i}" for i in range(1, 7))]


def test_the_lock_is_exclusive_and_bounded(store):
    backend = store.backend
    with backend.lock(f"{NAME}/.lock", timeout_s=1):
        with pytest.raises(StoreError, match="timed out after 0.1 s"):
            with backend.lock(f"{NAME}/.lock", timeout_s=0.1):
                pass
    with backend.lock(f"{NAME}/.lock", timeout_s=0.1):
        pass


def test_file_uri_and_missing_backends(tmp_path, model_dir):
    store = ModelStore.from_uri((tmp_path / "s").as_uri())
    assert isinstance(store.backend, LocalBackend) and store.backend.root == tmp_path / "s"
    mv = store.publish(NAME, model_dir)
    assert store.local_path(NAME, "v1") == mv.path == tmp_path / "s" / NAME / "v1"
    for uri, what in (("gs://bucket/models", "Google Cloud Storage"), ("s3://b/m", "S3")):
        with pytest.raises(StoreError, match=f"backend not available: install a {what}"):
            ModelStore.from_uri(uri)
    with pytest.raises(StoreError, match="unsupported"):
        ModelStore.from_uri("http://example.com/models")


def test_local_path_of_a_registered_but_missing_version(store, model_dir):
    mv = store.publish(NAME, model_dir)
    backends_module._rmtree(mv.path)
    with pytest.raises(StoreError, match="registered but missing"):
        store.local_path(NAME, "v1")


def test_sklearn_runtime(store, tmp_path):
    src = tmp_path / "sk"
    src.mkdir()
    with pytest.raises(StoreError, match="no sklearn model file"):
        store.publish(NAME, src, runtime="sklearn")
    (src / "model.joblib").write_bytes(b"joblib")
    mv = store.publish(NAME, src, runtime="sklearn", metrics={"macro_f1": 0.8})
    card = json.loads((mv.path / "catmatch.json").read_text())
    assert card["name"] == NAME and card["version"] == "v1" and card["runtime"] == "sklearn"
    assert card["metrics"] == {"macro_f1": 0.8}


@pytest.mark.parametrize("name", ["", "Upper", "../x", "a/b", ".hidden"])
def test_invalid_model_names(store, model_dir, name):
    with pytest.raises(StoreError, match="invalid model name"):
        store.publish(name, model_dir)

