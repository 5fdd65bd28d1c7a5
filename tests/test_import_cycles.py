"""The library's import graph, read from the source with ``ast``: no module of compliance/ reaches itself through
its imports (imports inside functions and under TYPE_CHECKING count too: a lazy import only hides a cycle)."""

from __future__ import annotations

import ast
from pathlib import Path

from compliance.settings import PROJECT_ROOT

LIBRARY = PROJECT_ROOT / "compliance"
UPPER = ("flows", "tasks", "emulator")


def module_name(path: Path, root: Path = PROJECT_ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = PROJECT_ROOT, package: str = "compliance") -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports.

    ``from pkg import sub`` counts as importing ``pkg.sub`` when ``sub`` is a module, else as importing ``pkg``;
    a submodule is not taken to import its package's ``__init__`` (Python runs it first, but a package that
    re-exports its submodules is not a cycle).
    """
    paths = {module_name(p, root): p for p in (root / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        deps: set[str] = set()
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                deps.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                module = node.module or ""
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join([*base, module] if module else base)
                for alias in node.names:
                    deps.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in paths else module)
        graph[name] = {d for d in deps if d in paths and d != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path (first module repeated at the end), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_checker_finds_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    pkg = tmp_path / "compliance"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from compliance.sub.a import f\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from .b import g\n")
    (pkg / "sub" / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from compliance.sub import a\n"
    )
    graph = import_graph(tmp_path)
    assert graph["compliance.sub"] == {"compliance.sub.a"}  # a package re-exporting is not a cycle by itself
    assert find_cycle(graph) == ["compliance.sub.a", "compliance.sub.b", "compliance.sub.a"]
    (pkg / "sub" / "b.py").write_text("import os\n")
    assert find_cycle(import_graph(tmp_path)) is None


def test_no_import_cycle_in_the_library() -> None:
    graph = import_graph()
    assert "compliance.photos.traversal" in graph  # the check reads the real tree
    assert find_cycle(graph) is None

# That only compliance/shell/ imports flows/, tasks/ and emulator/ is checked in tests/test_layout.py.
