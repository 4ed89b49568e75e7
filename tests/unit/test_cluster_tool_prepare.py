"""localkube.prepare and the app images' cache: what `make cluster-prepare` decides without
building anything (no root, no network)."""

from __future__ import annotations

import hashlib
import subprocess
import threading
import time
from pathlib import Path

from tests.fixtures.tools import load_script

load_script("cluster")  # puts scripts/ on sys.path

from localkube import images, prepare  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_the_venv_stamp_is_the_one_bootstrap_writes() -> None:
    """scripts/bootstrap.sh: `cat pyproject.toml requirements/constraints.txt | sha256sum`."""
    data = (REPO / "pyproject.toml").read_bytes()
    data += (REPO / "requirements" / "constraints.txt").read_bytes()
    assert prepare.venv_stamp(REPO) == hashlib.sha256(data).hexdigest()
    assert "sha256sum" in (REPO / "scripts" / "bootstrap.sh").read_text()


def test_a_second_prepare_waits_for_the_first(tmp_path: Path) -> None:
    lock = tmp_path / "prepare.lock"
    order: list[str] = []

    def second() -> None:
        with prepare.exclusive(lock):
            order.append("second")

    with prepare.exclusive(lock):
        thread = threading.Thread(target=second)
        thread.start()
        time.sleep(0.3)
        order.append("first done")
    thread.join(5)
    assert order == ["first done", "second"]


def test_the_build_context_is_head_plus_the_ignored_inputs(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "worker").mkdir(parents=True)
    (repo / "worker" / "app.py").write_text("committed\n")
    git = ["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    (repo / "worker" / "app.py").write_text("half-written by someone else\n")
    (repo / "worker" / "new.py").write_text("untracked\n")
    (repo / "var" / "models" / "seed").mkdir(parents=True)
    (repo / "var" / "models" / "seed" / "config.json").write_text("{}")
    ctx = images.build_context(repo, tmp_path / "ctx", ["var/models/seed", "var/missing"])
    assert (ctx / "worker" / "app.py").read_text() == "committed\n"
    assert not (ctx / "worker" / "new.py").exists()
    assert (ctx / "var" / "models" / "seed" / "config.json").read_text() == "{}"


def test_an_input_key_changes_with_each_input(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "a").write_text("1")
    first = images.tree_digest(tmp_path / "m")
    (tmp_path / "m" / "a").write_text("2")
    assert images.tree_digest(tmp_path / "m") != first
    assert images.tree_digest(tmp_path / "absent") == ""
    (image,) = [i for i in prepare.wanted_images() if i.name.endswith("worker:0.1.0")]
    key = images.input_key(image, {"HEAD^{tree}": "abc"})
    assert images.input_key(image, {"HEAD^{tree}": "abc"}) == key
    assert images.input_key(image, {"HEAD^{tree}": "abd"}) != key
    other = images.AppImage(image.dockerfile, image.name, None, image.build_args)
    assert images.input_key(other, {"HEAD^{tree}": "abc"}) != key


def test_the_node_record_says_which_build_it_holds(tmp_path: Path) -> None:
    assert images.node_images(tmp_path) == {}
    images.note_imported(tmp_path, "a:1", "id1")
    images.note_imported(tmp_path, "b:1", "id2")
    images.note_imported(tmp_path, "a:1", "id3")
    assert images.node_images(tmp_path) == {"a:1": "id3", "b:1": "id2"}


def test_prepare_builds_what_the_cluster_tests_install() -> None:
    names = {i.name for i in prepare.wanted_images()}
    assert images.KAFKA_IMAGE in names
    assert any(n.endswith("predictor:0.1.0-seed-onnx") for n in names)
    assert not any(n.endswith("predictor:0.1.0-seed") for n in names)  # no torch image
    assert {"kserve", "keda"} <= set(prepare.OPERATORS)
    assert "prometheus" in prepare.EXTRA_PACKAGES


def test_make_test_cluster_runs_prepare_first() -> None:
    makefile = (REPO / "Makefile").read_text()
    prep = makefile.split("cluster-prepare:", 1)[1].split("\n\t", 1)[1].splitlines()[0]
    assert prep.startswith("nice -n 19 ") and prep.endswith("scripts/cluster.py prepare")
    body = makefile.split("\ntest-cluster:", 1)[1].split("\n\n", 1)[0]
    steps = [line.strip() for line in body.splitlines()[1:] if line.startswith("\t")]
    assert steps[0].startswith("python3 scripts/cluster.py prepare")
    assert all("build" not in s.split() for s in steps)


def test_only_what_earlier_builds_left_is_pruned() -> None:
    listing = [
        {"id": "old-leaf", "names": [], "created": 100},
        {"id": "old-named", "names": ["localhost/x:1"], "created": 100},
        {"id": "this-build", "names": None, "created": 300},
        {"id": "no-time", "names": []},
    ]
    assert images.superseded(listing, 200) == ["old-leaf", "no-time"]
    assert images.superseded([], 200) == []
