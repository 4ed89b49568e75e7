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
    "predictor.runtimes",  # numpy (the CLI's `models evaluate`)
    "training.builders",  # numpy, torch or sklearn
    "training.data",  # numpy
    "training.evaluate",  # numpy
    "training.finetune",  # torch
    "training.korean_route",  # numpy (predictor.korean_route)
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


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module → the first-party modules it imports (lazy and TYPE_CHECKING ones included).
    ``from pkg import name`` points at ``pkg.name`` when that is a module, else at ``pkg``."""
    known = {module_name(p) for p in modules()}
    graph: dict[str, set[str]] = {}
    for path in modules():
        edges = graph.setdefault(module_name(path), set())
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                edges |= {a.name for a in node.names if a.name in known}
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                for alias in node.names:
                    target = f"{node.module}.{alias.name}"
                    if target in known:
                        edges.add(target)
                    elif node.module in known:
                        edges.add(node.module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_import_cycles() -> None:
    """No two files import each other, directly or round a loop, counting every import
    (a lazy import inside a function hides a cycle from the interpreter, not from a reader)."""
    assert cycles(import_graph()) == []


def test_cycle_finder_sees_a_loop() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_every_lazy_allowance_is_used() -> None:
    """An allowance nobody needs any more is removed, so it cannot hide a new lazy import."""
    lazy = {name for path in modules() for _, name, at_top in imports(path) if not at_top}
    assert LAZY_ALLOWED <= lazy, f"unused: {sorted(LAZY_ALLOWED - lazy)}"
