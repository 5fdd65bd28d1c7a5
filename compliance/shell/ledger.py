"""``district-compliance verify-ledger``: check the acknowledgement evidence ledger from the command line."""

from __future__ import annotations

import typer
from sqlalchemy import func, select

from compliance.ledger import verify_ledger
from compliance.models import Acknowledgement


def verify_ledger_command(
    database_url: str | None = typer.Option(None, help="Database to check (default: the configured one)"),
) -> None:
    """Check the acknowledgement evidence ledger; prints problems and exits 1 if there are any."""
    from rich.console import Console
    from rich.table import Table

    from compliance.settings import get_settings
    from compliance.store import Store, missing_database

    console = Console()
    url = database_url or get_settings().database_url
    problem = missing_database(url)
    if problem:
        # Refused, never created: an empty new database would verify as "intact: 0".
        Console(stderr=True).print(f"[red]verify-ledger: {problem}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    store = Store(url, migrate=False)
    with store.session() as session:
        problems = verify_ledger(session)
        rows = session.scalar(select(func.count()).select_from(Acknowledgement)) or 0
    if not problems:
        console.print(f"[green]ledger intact: {rows} acknowledgements chained[/green]")
        return
    table = Table(title=f"Evidence ledger: {len(problems)} problems in {rows} rows")
    table.add_column("Problem")
    table.add_column("Row id", justify="right")
    table.add_column("Detail")
    for p in problems:
        table.add_row(p.kind, "" if p.row_id is None else str(p.row_id), p.detail)
    console.print(table)
    raise typer.Exit(1)
