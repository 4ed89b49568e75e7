#!/usr/bin/env python3
"""The CycloneDX SBOM of a Python environment, made as the image builds make theirs.

    .venv/bin/python scripts/sbom.py                       # .venv -> var/sbom/venv.cdx.json
    .venv/bin/python scripts/sbom.py --python /opt/venv/bin/python -o sbom.cdx.json
    .venv/bin/python scripts/sbom.py --check var/sbom/venv.cdx.json --python .venv/bin/python

Each image writes ``/opt/venv/sbom.cdx.json`` in its build stage with exactly
:data:`CYCLONEDX_ARGS` (docker/*.Dockerfile; tests/unit/test_dockerfiles.py keeps the two the
same): ``cyclonedx-py environment`` from a venv of its own, reproducible (no timestamp, no
serial number), ``pyproject.toml`` as the root component. Read one out of an image with
``docker run --rm --entrypoint cat IMAGE /opt/venv/sbom.cdx.json``.

``--check`` verifies an SBOM: CycloneDX JSON, the root component ``category-match``, a
version and a ``pkg:pypi`` purl on every component (a wheel installed from a local file has
its archive instead), and (with ``--python``) exactly the
distributions installed in that environment, at their versions.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CYCLONEDX_ARGS = ("--output-reproducible", "--of", "JSON", "--pyproject", "pyproject.toml",
                  "--mc-type", "application")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def cyclonedx() -> str:
    """The ``cyclonedx-py`` beside this interpreter (the dev extra), else on PATH."""
    here = Path(sys.executable).parent / "cyclonedx-py"
    found = str(here) if here.exists() else shutil.which("cyclonedx-py")
    if found is None:
        raise SystemExit("cyclonedx-py not found: pip install cyclonedx-bom (the dev extra)")
    return found


def make(python: Path, out: Path) -> Path:
    """Write the SBOM of ``python``'s environment to ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([cyclonedx(), "environment", *CYCLONEDX_ARGS, "-o", str(out), str(python)],
                   cwd=ROOT, check=True)
    return out


def installed(python: Path) -> dict[str, str]:
    """``{canonical name: version}`` of every distribution ``python`` sees."""
    code = ("import importlib.metadata as m, json; print(json.dumps("
            "{d.metadata['Name']: d.version for d in m.distributions()}))")
    out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True,
                         check=True)  # -I: not the working directory's egg-info
    return {canonical(k): v for k, v in json.loads(out.stdout).items()}


def check(sbom: Path, python: Path | None = None) -> list[str]:
    """What is wrong with ``sbom`` (an empty list: nothing)."""
    doc = json.loads(sbom.read_text())
    problems = []
    if doc.get("bomFormat") != "CycloneDX" or not str(doc.get("specVersion", "")).startswith("1."):
        problems.append("not a CycloneDX 1.x document")
    if "serialNumber" in doc or "timestamp" in doc.get("metadata", {}):
        problems.append("not reproducible: it has a serial number or a timestamp")
    root = doc.get("metadata", {}).get("component", {})
    if root.get("name") != "category-match":
        problems.append(f"root component is {root.get('name')!r}, not category-match")
    listed: dict[str, str] = {}
    for component in doc.get("components", []):
        name, version = component.get("name", ""), component.get("version", "")
        local = any(r.get("type") == "distribution" and str(r.get("url", "")).startswith("file:")
                    for r in component.get("externalReferences", []))
        if not version or not (str(component.get("purl", "")).startswith("pkg:pypi/") or local):
            problems.append(f"component {name!r} has no version, or no pkg:pypi purl and no "
                            "local archive")
        listed[canonical(name)] = version
    if python is not None:
        expected = installed(python)
        expected.pop("category-match", None)  # the root component
        if listed != expected:
            missing = sorted(set(expected) - set(listed))
            extra = sorted(set(listed) - set(expected))
            wrong = sorted(n for n in set(listed) & set(expected) if listed[n] != expected[n])
            problems.append(f"components differ from the environment: missing {missing}, "
                            f"extra {extra}, other versions {wrong}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--python", type=Path, help="the environment's interpreter (default: "
                        "this one's venv)")
    parser.add_argument("-o", "--out", type=Path, default=ROOT / "var" / "sbom" / "venv.cdx.json")
    parser.add_argument("--check", type=Path, metavar="SBOM", help="verify SBOM instead")
    args = parser.parse_args(argv)
    if args.check:
        problems = check(args.check, args.python)
        for problem in problems:
            print(f"sbom: {problem}", file=sys.stderr)
        return 1 if problems else 0
    out = make(args.python or Path(sys.executable), args.out)
    components = len(json.loads(out.read_text()).get("components", []))
    print(f"sbom: {out} ({components} components)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
