"""``district-compliance consent ...``: the one-off photo consent audit."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.console import Console

consent_app = typer.Typer(no_args_is_help=True, help="Photo consent: one-off audits.")
console = Console(stderr=True)


def _as_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from exc


@consent_app.command("audit")
def audit(
    students: Path = typer.Option(..., "--students", help="SIS students CSV/xlsx"),
    consent: list[Path] = typer.Option(..., "--consent", help="Consent spreadsheet or folder (repeatable)"),
    site: list[str] = typer.Option(..., "--site", help="Site root URL (repeatable)"),
    as_of: str = typer.Option(..., "--as-of", help="Judge consent as of this date (YYYY-MM-DD)"),
    out: Path = typer.Option(..., "--out", help="Findings CSV to write"),
    school_year_start: str = typer.Option("07-01", "--school-year-start", help="MM-DD the school year starts"),
    default_purposes: list[str] = typer.Option(
        [],
        "--default-purposes",
        help="Purposes a form naming none grants: LIST for every file or FILE=LIST, e.g. late.csv=website,yearbook "
        "(repeatable; default: none, such forms are quarantined)",
    ),
    opt_out: list[Path] = typer.Option([], "--opt-out", help="FERPA directory opt-out list (repeatable)"),
) -> None:
    """Crawl the sites and write one row per (page, image, student) with status and reason.

    Exit code 0 when the audit ran (violations or not), 1 when it could not run. Loopback sites are allowed.
    """
    from compliance.audit import AuditError, run_audit, write_csv
    from compliance.consent import PURPOSES
    from compliance.settings import check_month_day

    on = _as_date(as_of)
    try:
        check_month_day(school_year_start)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--school-year-start") from None
    defaults: dict[str, list[str]] = {}
    for item in default_purposes:
        name, _, listed = item.rpartition("=")
        defaults[name or "*"] = [p.strip() for p in listed.split(",") if p.strip()]
        if unknown := [p for p in defaults[name or "*"] if p not in PURPOSES]:
            raise typer.BadParameter(f"unknown purpose(s) {', '.join(unknown)}; expected {', '.join(PURPOSES)}",
                                     param_hint="--default-purposes")  # fmt: skip
    try:
        with console.status("crawling and matching"):
            result = run_audit(students, consent, site, on, school_year_start=school_year_start,
                               default_purposes=defaults, opt_out_paths=opt_out)  # fmt: skip
    except AuditError as exc:
        console.print(f"[red]audit could not run: {exc}[/red]", soft_wrap=True)
        raise typer.Exit(1) from None
    write_csv(result.rows, out)
    statuses = {s: sum(1 for r in result.rows if r["status"] == s) for s in ("violation", "needs_review", "ok")}
    console.print(
        f"{result.pages} pages, {result.images} images ({result.unidentified_images} with no identification); "
        f"{statuses['violation']} violations, {statuses['needs_review']} to review, {statuses['ok']} ok -> {out}"
    )
    if result.rejected:
        console.print(f"{len(result.rejected)} input rows rejected, first: {result.rejected[0]}", soft_wrap=True)
    if result.notes:
        console.print(f"{len(result.notes)} values reported for data quality, first: {result.notes[0]}", soft_wrap=True)
    if result.crawl_errors:
        console.print(f"{len(result.crawl_errors)} crawl errors, first: {result.crawl_errors[0]}", soft_wrap=True)
