"""The package's layers: imports point inward only, and no module imports itself round a circle.

Read from the source (every import, also inside functions and under TYPE_CHECKING), so a lazy import
cannot hide an outward dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "detect_cli"
# Inner to outer. A module may import its own layer and the layers before it.
LAYERS = ("core", "inputs", "models", "outputs", "pipeline", "evaluation", "attention", "tasks", "cli")
OUTSIDE = {"demo": 0}  # the scene generators and demo weights: used by models (export checks), import only core


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("detect_cli"):
                found.add(node.module)
                found.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("detect_cli"))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {i for i in _imports(path) if i in modules and i != name} for name, path in modules.items()}


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # detect_cli itself, __main__: the package's face, above every layer
    top = parts[1]
    return LAYERS.index(top) if top in LAYERS else OUTSIDE.get(top)


def test_every_subpackage_is_a_known_layer() -> None:
    tops = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert tops <= set(LAYERS) | set(OUTSIDE), tops - set(LAYERS) - set(OUTSIDE)


def test_imports_point_inward() -> None:
    outward = []
    for module, targets in _graph().items():
        here = _layer(module)
        if here is None:
            continue
        outward += [f"{module} -> {t}" for t in targets if (_layer(t) or 0) > here]
    assert not outward, "\n".join(sorted(outward))


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt):], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    # a package's __init__ importing its own modules is no cycle of substance, but ours import nothing
    assert not cycles, "\n".join(" -> ".join(c) for c in cycles)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_modules_stay_short_or_say_why(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    lines = text.count("\n")
    if lines > 300:
        docstring = (ast.get_docstring(ast.parse(text)) or "").lower()
        assert "long because" in docstring, f"{path.name}: {lines} lines and no 'Long because' in its docstring"
