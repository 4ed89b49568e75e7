"""The Dockerfiles follow our rules (tests/unit/dockerlint.py), and the linter catches breaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fixtures.tools import load_script
from tests.unit.dockerlint import instructions, lint, parse
from tests.unit.test_layering import ALLOWED

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
GOOD_BASE = "python:3.11-slim@sha256:" + "a" * 64
SBOM_TOOL = "/opt/sbom"  # the build stage's own venv for cyclonedx-py


@pytest.mark.parametrize("name", ["predictor.Dockerfile", "worker.Dockerfile"])
def test_dockerfiles_pass_the_lint(name: str) -> None:
    assert lint(DOCKER / name, REPO) == []


@pytest.mark.parametrize(("dockerfile", "error"), [
    ("FROM python:3.11-slim\nUSER 10001\n", "not pinned by digest"),
    (f"FROM {GOOD_BASE}\nRUN pip install .\nUSER 10001\n", "without the constraints"),
    (f"FROM {GOOD_BASE}\nRUN apt-get install -y curl\nUSER 10001\n", "--no-install-recommends"),
    (f"FROM {GOOD_BASE}\nCMD python -m worker\nUSER 10001\n", "exec (JSON) form"),
    (f"FROM {GOOD_BASE}\n", "runs as root"),
    (f"FROM {GOOD_BASE} AS store\nUSER root\nFROM store\n", "runs as root"),
    (f"FROM {GOOD_BASE}\nADD https://example.com/x /x\nUSER 1\n", "ADD of a URL"),
    (f"FROM {GOOD_BASE}\nCOPY nowhere /x\nUSER 1\n", "COPY source nowhere missing"),
])
def test_the_lint_catches(dockerfile: str, error: str, tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(dockerfile)
    assert any(error in e for e in lint(path, tmp_path)), lint(path, tmp_path)


def test_a_user_set_in_the_stage_an_image_derives_from_counts(tmp_path: Path) -> None:
    path = tmp_path / "Dockerfile"
    path.write_text(f"FROM {GOOD_BASE} AS store\nUSER 10001:10001\nFROM store\nENV A=1\n")
    assert lint(path, tmp_path) == []


def test_both_images_have_a_store_target_and_a_baked_default() -> None:
    for name in ("predictor.Dockerfile", "worker.Dockerfile"):
        _, stages = parse((DOCKER / name).read_text())
        assert "store" in {s.name for s in stages}
        assert stages[-1].base == "store"
        assert any(k == "COPY" and "/models" in a for k, a in stages[-1].steps)


def test_worker_image_installs_core_dependencies_only() -> None:
    steps = instructions((DOCKER / "worker.Dockerfile").read_text())
    pip = [a for k, a in steps if k == "RUN" and "pip install" in a and SBOM_TOOL not in a]
    assert pip and all("-c requirements/constraints.txt ." in a for a in pip), pip
    assert not any("[" in a.split("pip install", 1)[1].split("&&")[0] for a in pip)
    assert ("ENTRYPOINT", '["python", "-m", "worker"]') in steps
    assert "!var/models" in (REPO / ".dockerignore").read_text().split()


def test_predictor_image_is_offline_readable_and_cpu_by_default() -> None:
    text = (DOCKER / "predictor.Dockerfile").read_text()
    steps = instructions(text)
    run = " ".join(a for k, a in steps if k == "RUN")
    env = " ".join(a for k, a in steps if k == "ENV")
    args, _ = parse(text)
    assert '-c requirements/constraints.txt ".[${EXTRA}]"' in run
    assert args["EXTRA"] == "predictor"
    assert "chmod -R a+rX /models" in run
    assert "HF_HUB_OFFLINE=1" in env
    assert args["TORCH_INDEX_URL"] == "https://download.pytorch.org/whl/cpu"
    assert ("ENTRYPOINT", '["python", "-m", "predictor"]') in steps


@pytest.mark.parametrize("service", ["worker", "predictor"])
def test_each_image_copies_exactly_the_packages_its_service_may_import(service: str) -> None:
    """The layering test's allowance is the service's import closure: a package it may
    import but the image lacks fails at run time, one it cannot import is dead weight."""
    steps = instructions((DOCKER / f"{service}.Dockerfile").read_text())
    copied = {a.split()[0] for k, a in steps if k == "COPY" and a.split()[0] in ALLOWED}
    assert copied == ALLOWED[service] | {service}


def test_the_cpu_predictor_extra_leaves_torch_out() -> None:
    """EXTRA=serve-cpu: ONNX Runtime and scikit-learn models, without torch or transformers."""
    import tomllib

    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    names = {dep.split("=")[0].split(">")[0].split("<")[0] for dep in extras["serve-cpu"]}
    assert names == {"kserve", "onnxruntime", "scikit-learn"}
    full = {dep.split("=")[0].split(">")[0].split("<")[0] for dep in extras["predictor"]}
    assert names < full


@pytest.mark.parametrize("service", ["worker", "predictor"])
def test_each_image_carries_the_sbom_of_its_environment(service: str) -> None:
    """The build stage writes /opt/venv/sbom.cdx.json with the flags scripts/sbom.py uses, from
    a tool venv that no image stage copies (so the tool is neither in the image nor in its
    SBOM); the image stage copies /opt/venv, the SBOM with it."""
    text = (DOCKER / f"{service}.Dockerfile").read_text()
    _, stages = parse(text)
    build = next(s for s in stages if s.name == "build")
    runs = [a for k, a in build.steps if k == "RUN" and "cyclonedx-py environment" in a]
    assert len(runs) == 1, runs
    run = " ".join(runs[0].split())
    sbom = load_script("sbom")
    assert " ".join(sbom.CYCLONEDX_ARGS) in run
    assert "-o /opt/venv/sbom.cdx.json /opt/venv/bin/python" in run
    assert f"{SBOM_TOOL}/bin/pip install -c requirements/constraints.txt cyclonedx-bom" in run
    copies = [a for s in stages for k, a in s.steps if k == "COPY" and "--from=build" in a]
    assert any("/opt/venv /opt/venv" in a for a in copies)
    assert not any(SBOM_TOOL in a for s in stages for k, a in s.steps if k == "COPY")
    store = next(s for s in stages if s.name == "store")
    assert any(k == "COPY" and "--from=build /opt/venv /opt/venv" in a for k, a in store.steps)
