"""``make demo``: the whole district on this machine, offline, start to finish in a couple of minutes.

Generates the sample district, starts the Workspace emulator and the sample school websites, runs a
distribution campaign (dry run first), has most people sign, runs the nightly job and writes the
superintendent's workbook under out/.
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as dt_time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from compliance.sample.context import AS_OF, YEAR_START
from compliance.settings import PROJECT_ROOT
from compliance.shell.output import readable_console


def demo_console(stream=None) -> Console:  # type: ignore[no-untyped-def]
    """The demo's console (compliance.shell.output.readable_console)."""
    return readable_console(stream)


console = demo_console()


def runnable(program: str, cwd: Path | None = None) -> str:
    """A command people can paste as printed: the project's own executable (``.venv/bin/district-compliance``,
    relative to where they are when inside it), not a bare name that needs an activated venv."""
    path = Path(sys.executable).parent / program
    if not path.exists():
        return program
    here = (cwd or Path.cwd()).resolve()
    try:
        return str(path.relative_to(here))
    except ValueError:
        return str(path)


def shown_path(path: Path, cwd: Path | None = None) -> str:
    """A path relative to the current directory when it is under it (what people type), else absolute."""
    here = (cwd or Path.cwd()).resolve()
    try:
        return str(path.resolve().relative_to(here))
    except ValueError:
        return str(path.resolve())


def _step(title: str, action: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    with console.status(title):
        result = action()
    console.print(f"[green]✓[/green] {title} [dim]({time.perf_counter() - started:.1f} s)[/dim]")
    return result


DEMO_DIR = PROJECT_ROOT / "var" / "demo"
DEMO_OUT = PROJECT_ROOT / "out" / "demo"


def isolate_prefect(*, use_api: bool = False) -> None:
    """The demo's Prefect state is its own (``var/demo/prefect``): no configured or exported API URL, the
    stack's and production's runs and artifacts never mixed with it. Call before Prefect is imported."""
    import os
    import sys

    if "prefect" in sys.modules:  # too late to change what Prefect reads; say so rather than mix runs
        raise RuntimeError("isolate_prefect must run before prefect is imported")
    home = DEMO_DIR.parent / "demo-prefect"
    home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_PROFILES_PATH"] = str(home / "profiles.toml")
    if not use_api:
        os.environ.pop("PREFECT_API_URL", None)
    for key in ("DATABASE_URL", "DC_DATABASE_URL", "DC_OUT_DIR", "DC_PROFILE"):
        os.environ.pop(key, None)  # a sourced stack or production env file must not steer the demo


def run_demo(work_dir: Path | None = None, out_dir: Path | None = None) -> Path:
    """Run the demo; returns the workbook path. The store starts empty each time so the story is the same."""
    from compliance.sample import ensure_sample
    from emulator.district import LocalDistrict

    work = work_dir or DEMO_DIR
    out = out_dir or DEMO_OUT
    marker = work / ".district-compliance-demo"
    if work.exists() and any(work.iterdir()) and not marker.exists() and work != DEMO_DIR:
        # A folder given on the command line is emptied only when an earlier demo made it.
        raise SystemExit(f"{work} is not empty and is not a demo folder: choose an empty or new folder")
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    marker.touch()
    started = time.perf_counter()
    sample = _step("sample district ready (5 schools, ~700 people, 3,000 students)", ensure_sample)
    district = LocalDistrict(
        sample,
        f"sqlite:///{work / 'compliance.db'}",
        work_dir=work,
        extra_env={"DC_OUT_DIR": str(out)},
        sends_per_minute=6000,
    )
    with district:
        console.print(
            f"  Workspace emulator {district.emulator.base_url} · school websites {district.websites.base_url}"
        )
        from compliance.campaign import CampaignParameters
        from compliance.models import PolicyVersion
        from emulator.respondents import simulate_signatures
        from flows.compliance_report import compliance_report
        from flows.distribute_policy import run_campaign
        from flows.nightly import nightly
        from tasks import resources

        # The sample's own calendar, not today's: its paper binder, consent forms and pages are dated in the
        # autumn of its school year, so the campaign opens in August and the story ends on the sample's truth
        # date. Every run tells the same story whatever day it is run on.
        admin = district.emulator.admin
        now = datetime.combine(YEAR_START + timedelta(days=9), dt_time(16, 0), tzinfo=UTC)
        admin.set_clock(now)
        _step("first nightly run: roster and consents, websites crawled", lambda: nightly(now=now))
        plan = _step("campaign dry run: plan recorded, nothing sent", lambda: run_campaign(now=now))
        _print_plan(plan["summary"])
        real = _step(
            "campaign sent through the sender pool",
            lambda: run_campaign(CampaignParameters(name="AR 1114 demo campaign", dry_run=False), now=now),
        )
        with resources.store().session() as session:
            forms = session.scalars(select(PolicyVersion)).one().form_questions
        admin.set_clock(now + timedelta(days=2))
        signing = _step(
            "about 80% of people signed from their email links (some made mistakes)",
            lambda: simulate_signatures(admin, forms),
        )
        later = datetime.combine(AS_OF, dt_time(10, 0), tzinfo=UTC)  # 02:00 in the district
        admin.set_clock(later)
        night = _step("nightly job: acknowledgements synced, paper binder read, reminders queued, photos reconciled",
                      lambda: nightly(now=later))
        admin.set_clock(later + timedelta(hours=4))
        report = _step(
            "superintendent report written, stored in Drive, emailed",
            lambda: compliance_report(now=later + timedelta(hours=4)),
        )
    _summary(real, signing, night, report, time.perf_counter() - started, work / "compliance.db")
    return Path(report["path"])


def _print_plan(summary: dict[str, Any]) -> None:
    quota = summary["quota"]
    skipped = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in summary["skipped"].items()) or "nobody"
    console.print(
        f"  plan: {summary['individual_messages']:,} messages, {quota['days']} day(s) of sender quota; "
        f"skipped: {skipped}; paper copies to print: {summary['print_list']}"
    )


def _summary(
    real: dict[str, Any], signing: Any, night: dict[str, dict[str, int]], report: dict[str, Any], seconds: float,
    database: Path,
) -> None:
    table = Table(title="Sample district after the demo", show_header=True, header_style="bold")
    table.add_column("what")
    table.add_column("count", justify="right")
    rows = [
        ("announcements sent", real["sent"]["sent"]),
        ("people who signed (emulated)", len(signing.signed)),
        ("submissions refused (bad code, email or name)", night["acknowledgements"]["refused"]),
        ("paper acknowledgements recorded", night["acknowledgements"]["paper rows recorded"]),
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
    workbook = shown_path(Path(report["path"]))
    console.print(f"Workbook: [bold]{workbook}[/bold]   (demo took {seconds:.0f} s)")
    # The emulator is stopped by now: the check reads the database, the workbook's Ledger sheet, not Drive.
    console.print(
        f"Evidence ledger check: {verify_command(database, Path(report['path']))}", soft_wrap=True, highlight=False
    )


def verify_command(database: Path, workbook: Path) -> str:
    """The verify-ledger command for the demo's store and workbook, runnable as printed (see ``runnable``)."""
    return (f"{runnable('district-compliance')} verify-ledger --database-url sqlite:///{shown_path(database)} "
            f"--no-drive --workbook {shown_path(workbook)}")
