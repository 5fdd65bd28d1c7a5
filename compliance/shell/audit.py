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
) -> None:
    """Crawl the sites and write one row per (page, image, student) with status and reason.

    Exit code 0 when the audit ran (violations or not), 1 when it could not run. Loopback sites are allowed.
    """
    from compliance.audit import AuditError, run_audit, write_csv

    on = _as_date(as_of)
    try:
        with console.status("crawling and matching"):
            result = run_audit(students, consent, site, on)
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
    if result.crawl_errors:
        console.print(f"{len(result.crawl_errors)} crawl errors, first: {result.crawl_errors[0]}", soft_wrap=True)
