"""``make demo`` read from a file or a pipe (issue 14 item 9): no line broken at 80 columns, the suggested
command runs as printed, and the same seed tells the same story (the same counts) every run."""

from __future__ import annotations

import io
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from compliance.settings import PROJECT_ROOT
from compliance.shell.demo import demo_console, runnable, shown_path

LONG = "https://127.0.0.1:54321/" + "a-long-path-segment/" * 8 + " and a command with --options " * 3


def test_piped_output_is_not_hard_wrapped() -> None:
    out = io.StringIO()  # not a terminal
    console = demo_console(out)
    console.print(f"Workspace emulator {LONG}")
    console.print(f"[green]✓[/green] step done [dim](1.0 s)[/dim] {LONG}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and all(LONG.rstrip() in line for line in lines)
    assert "\x1b[" not in out.getvalue()  # no colour codes in a file


def test_suggested_commands_run_from_where_people_are(tmp_path: Path) -> None:
    program = runnable("district-compliance", cwd=Path(sys.executable).parent.parent.parent)
    assert program.endswith("bin/district-compliance") and not program.startswith("/")  # e.g. .venv/bin/...
    assert Path(runnable("district-compliance", cwd=tmp_path)).is_absolute()  # elsewhere: the whole path
    assert runnable("no-such-program-here") == "no-such-program-here"
    assert shown_path(PROJECT_ROOT / "var" / "demo" / "compliance.db", PROJECT_ROOT) == "var/demo/compliance.db"


def _demo(work: Path, out: Path) -> str:
    # The worktree's code, as `make demo` runs it, with its output piped (not a terminal).
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DC_", "PREFECT_")) and k != "DATABASE_URL"}
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    done = subprocess.run(
        [sys.executable, "-c", "from compliance.shell.cli import main; main()", "demo",
         "--work-dir", str(work), "--out-dir", str(out)],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=1200, check=False,
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return done.stdout


def _counts(output: str) -> dict[str, str]:
    table = output.split("Sample district after the demo", 1)[-1].split("Workbook:", 1)[0]
    rows = (re.split(r"\s*[│|]\s*", line.strip(" │|")) for line in table.splitlines())
    return {row[0]: row[1] for row in rows if len(row) == 2 and row[1] and row[1] != "count"}


@pytest.mark.slow
@pytest.mark.timeout(2400)
def test_demo_twice_same_counts_and_its_ledger_command_runs_as_printed(tmp_path: Path) -> None:
    first = _demo(tmp_path / "one", tmp_path / "out-one")
    second = _demo(tmp_path / "two", tmp_path / "out-two")
    print(first)
    counts = _counts(first)
    assert len(counts) >= 10 and counts == _counts(second), (counts, _counts(second))
    assert "-" not in (counts["announcements sent"], counts["people who signed (emulated)"])
    # The plan line (messages, quota days, skipped, paper copies) is the same story too.
    plans = [next(line for line in text.splitlines() if line.strip().startswith("plan:")) for text in (first, second)]
    assert plans[0] == plans[1]
    # Piped: URLs and the command whole on their lines; the command runs as printed, from the project folder.
    assert re.search(r"Workspace emulator https://127\.0\.0\.1:\d+ · school websites http://127\.0\.0\.1:\d+", first)
    [check] = [line for line in second.splitlines() if line.startswith("Evidence ledger check: ")]
    command = check.removeprefix("Evidence ledger check: ")
    assert "verify-ledger" in command and command.rstrip().endswith(".xlsx"), command
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DC_", "PREFECT_"))}
    env["PYTHONPATH"] = str(PROJECT_ROOT)  # this checkout's code even when the venv is another's editable install
    done = subprocess.run(shlex.split(command), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=600, check=False)  # fmt: skip
    assert done.returncode == 0 and "ledger intact" in done.stdout, done.stdout + done.stderr
