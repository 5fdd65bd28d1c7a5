"""``district-compliance case-step``: the case owner records a checklist step of an incident case."""

from __future__ import annotations

from datetime import UTC, datetime

import typer

from compliance.vocabulary import CaseStep


def case_step_command(
    case: str = typer.Argument(..., help="Case reference, e.g. IC-1A2B3C4D5E"),
    step: CaseStep = typer.Argument(..., help="Checklist step done"),
    by: str = typer.Option(..., "--by", help="Who did it (their district email)"),
    note: str | None = typer.Option(None, help="What was done (kept on the case's timeline)"),
) -> None:
    """Record one step of a case as done now; the case's reminders and escalation follow from it."""
    from rich.console import Console

    from compliance.incidents import UnknownCase, record_step
    from compliance.settings import get_settings
    from compliance.store import Store

    console = Console(stderr=True)
    with Store(get_settings().database_url).session() as session:
        try:
            recorded = record_step(session, case, step, by=by, at=datetime.now(UTC), note=note)
        except UnknownCase as exc:
            console.print(f"[red]{exc}[/red]", highlight=False)
            raise typer.Exit(1) from None
        console.print(f"{recorded.case_ref}: {step.value} recorded; case {recorded.status}", highlight=False)
