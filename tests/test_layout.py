"""The layer order, checked on the source: only the shell (compliance/shell/) reaches up into flows, tasks or the
emulator; the rest of the library imports none of them nor the shell, not even inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

from compliance.settings import PROJECT_ROOT

LIBRARY = PROJECT_ROOT / "compliance"
SHELL = LIBRARY / "shell"
UPPER_LAYERS = ("flows", "tasks", "emulator")


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every absolute module an import statement in ``path`` names, with its line (function bodies included)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def _is_upper(module: str) -> bool:
    """flows, tasks, the emulator, or the shell itself (the library never calls its own command line)."""
    top = module.split(".")[0]
    return top in UPPER_LAYERS or module == "compliance.shell" or module.startswith("compliance.shell.")


def test_the_checker_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import os\n\ndef f():\n    from flows.nightly import nightly\n    import emulator.cli\n")
    assert [m for _, m in imported_modules(source) if _is_upper(m)] == ["flows.nightly", "emulator.cli"]


def test_only_the_shell_imports_flows_tasks_or_the_emulator() -> None:
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in sorted(LIBRARY.rglob("*.py"))
        if SHELL not in path.parents
        for line, module in imported_modules(path)
        if _is_upper(module)
    ]
    assert offenders == []


def test_the_emulator_does_not_import_the_task_layer_or_flows() -> None:
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}:{line} imports {module}"
        for path in sorted((PROJECT_ROOT / "emulator").rglob("*.py"))
        for line, module in imported_modules(path)
        if module.split(".")[0] in ("flows", "tasks") or module.startswith("compliance.shell")
    ]
    assert offenders == []


def test_the_shell_is_where_the_command_line_lives() -> None:
    # The check above would pass vacuously if the shell moved away; it holds the entry point and the demo.
    assert (SHELL / "cli.py").exists() and (SHELL / "demo.py").exists()
    assert any(_is_upper(module) for path in SHELL.rglob("*.py") for _, module in imported_modules(path))
