"""No import cycles between the package's modules at import time.

Module-level imports only (a ``TYPE_CHECKING`` block is for the type checker, and an import inside
a function runs on first use, after every module has loaded): a cycle there makes the import
order matter and a half-initialised module visible.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("authorizer", "pre_token_hook")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def imported_at_load(path: Path, known: set[str]) -> set[str]:
    """The package modules a module imports when it is loaded."""
    found: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            continue
        for item in load_time_nodes(node):
            if isinstance(item, ast.Import):
                found.update(alias.name for alias in item.names)
            elif isinstance(item, ast.ImportFrom) and item.module and item.level == 0:
                found.add(item.module)
                found.update(f"{item.module}.{alias.name}" for alias in item.names)
    return found & known


def load_time_nodes(node: ast.AST) -> list[ast.AST]:
    """The node and what it holds, but not function bodies (they run later)."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
        return []
    found = [node]
    for child in ast.iter_child_nodes(node):
        found.extend(load_time_nodes(child))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, path)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
    return found


def test_the_walk_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_imports_itself_back_at_load_time() -> None:
    known = modules()
    names = set(known) - set(PACKAGES)  # a package's __init__ is loaded before its modules
    graph = {name: imported_at_load(path, names) - {name} for name, path in known.items()
             if name in names}  # fmt: skip
    assert len(graph) > 50  # the walk saw the package
    assert cycles(graph) == []
