"""``make demo``: the whole district on this machine, offline, start to finish in a couple of minutes.

Generates the sample district, starts the Workspace emulator and the sample school websites, runs a
distribution campaign (dry run first), has most people sign, runs the nightly job and writes the
superintendent's workbook under out/.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from compliance.settings import PROJECT_ROOT

console = Console()


def _step(title: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    with console.status(title):
        result = action()
    console.print(f"[green]✓[/green] {title} [dim]({time.perf_counter() - started:.1f} s)[/dim]")
    return result


def run_demo(work_dir: Path | None = None, out_dir: Path | None = None) -> Path:
    """Run the demo; returns the workbook path. The store starts empty each time so the story is the same."""
    from compliance.sample import ensure_sample
    from emulator.district import LocalDistrict

    work = work_dir or PROJECT_ROOT / "var" / "demo"
    out = out_dir or PROJECT_ROOT / "out"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    started = time.perf_counter()
    sample = _step("sample district ready (5 schools, ~700 people, 3,000 students)", ensure_sample)
    district = LocalDistrict(
        sample, f"sqlite:///{work / 'compliance.db'}", work_dir=work, extra_env={"DC_OUT_DIR": str(out)}
    )
    with district:
        console.print(
            f"  Workspace emulator {district.emulator.base_url} · school websites {district.websites.base_url}"
        )
        from flows.compliance_report import compliance_report
        from flows.nightly import nightly

        now = datetime.now(UTC)
        night = _step("nightly job: roster, consents, crawl, reconcile", lambda: nightly(now=now))
        report = _step("superintendent report written and stored in Drive", lambda: compliance_report(now=now))
    _summary(night, report, time.perf_counter() - started)
    return Path(report["path"])


def _summary(night: dict[str, dict[str, int]], report: dict[str, Any], seconds: float) -> None:
    table = Table(title="Sample district after the demo", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("people on the roster", report.get("active_people")),
        ("acknowledged the policy", report.get("acknowledged")),
        ("outstanding", report.get("outstanding")),
        ("pages crawled", night.get("crawl", {}).get("pages")),
        ("photos with no identification", night.get("photos", {}).get("images with no identification")),
        ("photo consent violations online", report.get("violations_online")),
        ("rows kept in quarantine", report.get("quarantine_rows")),
    ]
    for name, value in rows:
        table.add_row(name, "-" if value is None else f"{value:,}" if isinstance(value, int) else str(value))
    console.print(table)
    console.print(f"Workbook: [bold]{report['path']}[/bold]   (demo took {seconds:.0f} s)")
