"""``district-compliance consent ...``: the one-off photo consent audit."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

consent_app = typer.Typer(no_args_is_help=True, help="Photo consent: one-off audits.")
console = Console(stderr=True)


def _as_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a date in YYYY-MM-DD form") from exc


def coverage_table(per_site: dict[str, dict[str, int]]) -> Table:
    """What each site's crawl found and read, and what it refused and why (counts only)."""
    table = Table(title="Crawl coverage", title_justify="left")
    columns = [
        ("pages", "pages_found", "pages_crawled"), ("images", "images_found", "images_fetched"),
        ("PDFs", "pdfs_found", "pdfs_read"),
    ]  # fmt: skip
    table.add_column("site")
    for label, _, _ in columns:
        table.add_column(f"{label} read/found", justify="right")
    table.add_column("videos", justify="right")
    table.add_column("refused (why)")
    for site_id, counts in sorted(per_site.items()):
        refused = ", ".join(
            f"{key.removeprefix('refused_').replace('_', '-')} {n}"
            for key, n in counts.items()
            if key.startswith("refused_") and n
        )
        table.add_row(
            site_id,
            *(f"{counts.get(read, 0)}/{counts.get(found, 0)}" for _, found, read in columns),
            str(counts.get("videos", 0)),
            refused or "none",
        )
    return table


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
    console.print(coverage_table(result.coverage))
    if result.rejected:
        console.print(f"{len(result.rejected)} input rows rejected, first: {result.rejected[0]}", soft_wrap=True)
    if result.notes:
        console.print(f"{len(result.notes)} values reported for data quality, first: {result.notes[0]}", soft_wrap=True)
    if result.crawl_errors:
        console.print(f"{len(result.crawl_errors)} crawl errors, first: {result.crawl_errors[0]}", soft_wrap=True)
