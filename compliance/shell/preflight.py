"""``district-compliance preflight``: the deployment checklist (library: ``compliance.preflight``)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from compliance.preflight import Check


def print_checklist(checks: list[Check], console: Console) -> None:
    """One row per check: ✓ or ✗, what came back, and the fix for each failure."""
    table = Table(title="Preflight", show_lines=False)
    table.add_column("", width=1)
    table.add_column("Check")
    table.add_column("Result")
    table.add_column("Fix")
    for check in checks:
        mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
        table.add_row(mark, escape(check.name), escape(check.detail), escape(check.fix))
    console.print(table)
    failed = sum(not c.ok for c in checks)
    if failed:
        console.print(f"[red]{failed} of {len(checks)} checks failed[/red]")
    else:
        console.print(f"[green]all {len(checks)} checks passed[/green]")


def preflight_command(
    send_test: bool = typer.Option(
        False, "--send-test", help="Also send one message from each sender to itself and read it back."
    ),
) -> None:
    """Check a deployment before the first campaign; prints a checklist with fixes and exits 1 on any failure."""
    from compliance.google.clients import GoogleClients
    from compliance.preflight import published_policy_files, run_preflight
    from compliance.settings import get_settings
    from compliance.store import Store

    settings = get_settings()
    clients = GoogleClients(settings)
    try:
        with Store(settings.database_url).session() as session:
            published = published_policy_files(session)
    except Exception:  # noqa: BLE001 - no store yet: probe the sharing settings with a throwaway Doc instead
        published = []
    checks = run_preflight(settings, clients, send_test=send_test, published_policy=published)
    print_checklist(checks, Console(width=200))
    if not all(c.ok for c in checks):
        raise typer.Exit(1)
