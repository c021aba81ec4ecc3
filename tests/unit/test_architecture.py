"""The house reads downward (shared/ARCHITECTURE.md), checked from the imports alone.

Every import of Tollgate's own modules counts, those inside functions and under
``TYPE_CHECKING`` too: entry points never import each other, the store computes nothing
the stages own, and no two packages (nor two modules) import each other in a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOP_LEVEL = ("service", "workers", "policies")

# Entry points (floors 5-6): the command line may launch the others, nothing else may
# import any of them.
ENTRY_PACKAGES = ("service.cli", "service.api", "workers")
LAUNCHER = "service.cli"
# What the store (floor 1) must not import: use cases, entry points, and the stage code
# that computes lookup keys, matches or decides.
STORE = "service.store"
ABOVE_THE_STORE = (
    "service.pipeline",
    "service.wiring",
    "service.rematch",
    "service.scanning",
    "service.gate",
    "service.report",
    "service.jobs",
    "service.admission",
    *ENTRY_PACKAGES,
    "service.vulndb.matcher",
    "service.vulndb.ecosystems",
    "service.vulndb.coverage",
    "policies.engine",
    "policies.rules",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@cache
def modules() -> dict[str, Path]:
    found = {}
    for top in TOP_LEVEL:
        for path in (ROOT / top).rglob("*.py"):
            if "migrations" not in path.parts:  # Alembic scripts, run by Alembic only
                found[_module_name(path)] = path
    return found


def _own(name: str) -> str | None:
    """The module of ours ``name`` refers to (a module, or a name inside one), or None."""
    known = modules()
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


@cache
def imports(module: str) -> frozenset[str]:
    """Our modules that ``module`` imports, anywhere in its body."""
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    own = {_own(name) for name in names if name.split(".")[0] in TOP_LEVEL}
    return frozenset(o for o in own if o is not None and o != module)


def package_of(module: str) -> str:
    """``service.vulndb.feeds.osv`` → ``service.vulndb``; ``service.pipeline`` stays."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "service" else parts[0]


def _within(module: str, prefixes: tuple[str, ...]) -> str | None:
    return next((p for p in prefixes if module == p or module.startswith(p + ".")), None)


def _edges() -> Iterator[tuple[str, str]]:
    for module in modules():
        for imported in imports(module):
            yield module, imported


def test_entry_points_never_import_each_other() -> None:
    wrong = []
    for module, imported in _edges():
        target = _within(imported, ENTRY_PACKAGES)
        source = _within(module, ENTRY_PACKAGES)
        if target is None or target == source or source == LAUNCHER:
            continue
        wrong.append(f"{module} imports {imported}")
    assert wrong == []


def test_the_store_imports_nothing_above_it() -> None:
    wrong = [
        f"{module} imports {imported}"
        for module, imported in _edges()
        if _within(module, (STORE,)) and _within(imported, ABOVE_THE_STORE)
    ]
    assert wrong == []


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


@pytest.mark.parametrize("level", ["package", "module"])
def test_no_import_cycles(level: str) -> None:
    unit = package_of if level == "package" else (lambda module: module)
    graph: dict[str, set[str]] = {}
    for module, imported in _edges():
        if unit(module) != unit(imported):
            graph.setdefault(unit(module), set()).add(unit(imported))
    assert _cycles(graph) == []


def test_the_checks_see_real_imports() -> None:
    """A guard against a walker that finds nothing: known edges are seen."""
    assert "service.pipeline" in imports("service.wiring")
    assert "service.scanning" in imports("service.pipeline")
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
