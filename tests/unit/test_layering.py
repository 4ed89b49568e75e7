"""The package layers (docs/ARCHITECTURE.md) hold: no upward, sideways or circular imports.

Every import counts, including those inside functions and under ``TYPE_CHECKING``: a lazy
import hides a dependency from the reader, not from the layering.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Bottom to top. A package may import only the packages listed for it.
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "schemas": set(),
    "transport": {"core"},
    "modelstore": {"core"},
    "resultcache": {"core"},
    "worker": {"core", "schemas", "transport", "modelstore", "resultcache"},
    "predictor": {"core", "schemas", "modelstore", "resultcache"},
    "training": {"core", "schemas", "modelstore", "predictor"},
    "toolbox": {
        "core", "schemas", "transport", "modelstore", "resultcache", "worker", "predictor",
        "training",
    },
    "catmatch": {
        "core", "schemas", "transport", "modelstore", "resultcache", "worker", "predictor",
        "training", "toolbox",
    },
}
PACKAGES = set(ALLOWED)
# Imports inside functions that may stay there: they pull in an optional stack (torch,
# transformers, kserve, sklearn or numpy) that the importing module must not need.
LAZY_ALLOWED = {
    "predictor.inference",  # torch
    "predictor.model",  # kserve, torch
    "predictor.loopback",  # kserve
    "predictor.pinning",  # kserve, fastapi
    "predictor.predict_api",  # kserve, fastapi
    "predictor.runtimes",  # numpy (the CLI's `models evaluate`)
    "training.builders",  # numpy, torch or sklearn
    "training.data",  # numpy
    "training.evaluate",  # numpy
    "training.finetune",  # torch
    "training.onnx_export",  # numpy, torch, onnx, onnxruntime
    "training.run",  # torch
}


def modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py"))


def imports(path: Path) -> Iterator[tuple[ast.stmt, str, bool]]:
    """``(node, imported module, at module level)`` for every first-party import."""
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    for node in tree.body:  # `if TYPE_CHECKING:` blocks count as module level
        if isinstance(node, ast.If):
            top |= {id(n) for n in node.body}
    package = path.relative_to(REPO).parts[0]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [package if node.level else (node.module or "")]
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield node, name, id(node) in top


def test_allowed_graph_is_layered() -> None:
    """ALLOWED itself has no cycle (so the packages cannot import each other in a loop)."""
    order: list[str] = []
    todo = dict(ALLOWED)
    while todo:
        ready = [p for p, deps in todo.items() if deps <= set(order)]
        assert ready, f"cycle among {sorted(todo)}"
        order += sorted(ready)
        for p in ready:
            del todo[p]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_imports_only_go_down(path: Path) -> None:
    package = path.relative_to(REPO).parts[0]
    wrong = [
        f"line {node.lineno}: {name}"
        for node, name, _ in imports(path)
        if name.split(".")[0] not in ALLOWED[package] | {package}
    ]
    assert not wrong, f"{package} may import only {sorted(ALLOWED[package])}: {wrong}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_first_party_imports_are_at_the_top(path: Path) -> None:
    hidden = [
        f"line {node.lineno}: {name}"
        for node, name, at_top in imports(path)
        if not at_top and name not in LAZY_ALLOWED
    ]
    assert not hidden, f"move these imports to the top of the file: {hidden}"


def test_nothing_imports_the_cli() -> None:
    users = sorted(
        str(path.relative_to(REPO))
        for path in modules()
        if path.relative_to(REPO).parts[0] != "catmatch"
        for _, name, _ in imports(path)
        if name.split(".")[0] == "catmatch"
    )
    assert not users


def test_commands_do_not_import_each_other() -> None:
    """A command module parses, calls the layers below and prints; what two commands share
    lives below them (``toolbox``) or in ``catmatch.options``, not in another command."""
    commands = REPO / "catmatch" / "commands"
    shared = sorted(
        f"{path.name}: {name}"
        for path in commands.glob("*.py")
        for _, name, _ in imports(path)
        if name.startswith("catmatch.commands")
    )
    assert not shared


def test_checker_sees_a_violation(tmp_path: Path) -> None:
    """The walk finds imports inside functions and under TYPE_CHECKING."""
    path = tmp_path / "mod.py"
    path.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from catmatch.cli import main\n"
        "def f():\n    import worker.app\n"
    )
    global REPO
    saved, REPO = REPO, tmp_path
    try:
        found = [(name, top) for _, name, top in imports(path)]
    finally:
        REPO = saved
    assert found == [("catmatch.cli", True), ("worker.app", False)]
