"""scripts/sbom.py: a reproducible CycloneDX SBOM of an environment, and what --check refuses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.tools import load_script

pytestmark = pytest.mark.integration  # runs cyclonedx-py: about 30 s here
sbom = load_script("sbom")


@pytest.fixture(scope="module")
def small_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding only what ``venv`` puts there (pip)."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    return root / "bin" / "python"


@pytest.fixture(scope="module")
def first(small_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sbom.make(small_venv, tmp_path_factory.mktemp("sbom") / "a.cdx.json")


def test_the_sbom_of_an_environment_is_complete_and_reproducible(
    small_venv: Path, first: Path, tmp_path: Path
):
    second = sbom.make(small_venv, tmp_path / "b.cdx.json")
    assert first.read_bytes() == second.read_bytes()
    assert sbom.check(first, small_venv) == []
    doc = json.loads(first.read_text())
    assert doc["metadata"]["component"]["name"] == "category-match"
    assert {sbom.canonical(c["name"]) for c in doc["components"]} == set(
        sbom.installed(small_venv))


def test_check_refuses_a_wrong_or_incomplete_sbom(small_venv: Path, first: Path, tmp_path):
    good = json.loads(first.read_text())
    cases = {
        "serial": {**good, "serialNumber": "urn:uuid:1"},
        "root": {**good, "metadata": {**good["metadata"], "component": {"name": "other"}}},
        "purl": {**good, "components": [{**c, "purl": ""} for c in good["components"]]},
        "missing": {**good, "components": []},
    }
    for what, doc in cases.items():
        path = tmp_path / f"{what}.json"
        path.write_text(json.dumps(doc))
        assert sbom.check(path, small_venv), what
