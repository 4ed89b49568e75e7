"""scripts/cluster.py: the command line parses, and `builds` reads the records."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.tools import load_script

cluster = load_script("cluster")


def test_help_names_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cluster.main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for command in ("build", "up", "down", "status", "check", "images", "builds"):
        assert command in out


def test_operators_are_chosen_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cluster.main(["build", "--operators", "--only", "no-such-operator"])
    assert "invalid choice" in capsys.readouterr().err


def test_builds_prints_each_record(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from localkube import gobuild, paths

    monkeypatch.setattr(paths, "BUILDS_JSON", tmp_path / "builds.json")
    gobuild.record(
        {
            "target": "coredns-v1.15.0", "binaries": ["coredns"], "wall_s": 120.5,
            "modules_s": 20.0, "compile_s": 100.5, "bytes": 76 * 2**20,
            "cold_build_cache": True, "loadavg_1m": 3.2,
        }
    )  # fmt: skip
    assert cluster.main(["builds"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("coredns-v1.15.0") and "cold" in line and "120.5 s" in line
    assert "76 MiB" in line
