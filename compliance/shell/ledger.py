"""``district-compliance verify-ledger`` and ``evidence``: check the ledger against its anchors, make and
check evidence bundles."""

from __future__ import annotations

from pathlib import Path

import typer

evidence_app = typer.Typer(help="Evidence bundles: one zip per person or finding, checkable without the database.")


def _anchors(session, settings, drive: bool, console):  # type: ignore[no-untyped-def]
    """Anchors from Drive (the ones that count) or, without Drive, the database's own copies."""
    from compliance.anchors import read_drive_anchors, stored_anchors

    if drive:
        from compliance.google.clients import GoogleClients

        try:
            return read_drive_anchors(GoogleClients(settings), settings)
        except Exception as exc:  # no Google access from this machine: say so, check what can be checked
            console.print(f"[yellow]Drive anchors not read ({type(exc).__name__}); "
                          "using the database's copies[/yellow]")
    return stored_anchors(session)


def _report_heads(session, settings, drive: bool, workbooks: list[Path], console):  # type: ignore[no-untyped-def]
    """Every other place a head was written, by source: report workbooks (Drive and the files given), report
    emails (the senders' Sent mail) and what the database recorded of them."""
    from compliance.anchors import read_report_emails, read_report_workbooks, stored_report_heads, workbook_heads

    found = {"report workbooks": [], "report emails": [], "database copies of report heads": []}
    for path in workbooks:
        found["report workbooks"] += workbook_heads(path.read_bytes(), f"workbook {path.name}")
    if drive:
        from compliance.google.clients import GoogleClients

        clients = GoogleClients(settings)
        for label, read in (("report workbooks", read_report_workbooks), ("report emails", read_report_emails)):
            try:
                found[label] += read(clients, settings)
            except Exception as exc:  # e.g. no Gmail delegation from this machine: say so, go on
                console.print(f"[yellow]{label} not read ({type(exc).__name__})[/yellow]")
    found["database copies of report heads"] = stored_report_heads(session)
    return found


def verify_ledger_command(
    database_url: str | None = typer.Option(None, help="Database to check (default: the configured one)"),
    drive: bool = typer.Option(True, help="Read the anchors kept in Drive (off: only the database's copies)"),
    workbook: list[Path] = typer.Option([], help="A report workbook (.xlsx) to check its Ledger sheet too; "
                                                 "repeatable", exists=True, dir_okay=False),
) -> None:
    """Check the acknowledgement chain, the event chain and every anchor it can read (Drive anchor files, the
    report workbooks' Ledger sheets, the report emails' heads); exits 1 on any problem and names the first
    event that disagrees."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy import func, select

    from compliance.anchors import chain_hashes, check_against_anchors
    from compliance.ledger import verify_events, verify_ledger
    from compliance.models import Acknowledgement
    from compliance.settings import get_settings
    from compliance.shell.output import readable_console
    from compliance.store import Store, missing_database

    console = readable_console()
    settings = get_settings()
    url = database_url or settings.database_url
    problem = missing_database(url)
    if problem:
        # Refused, never created: an empty new database would verify as "intact: 0".
        Console(stderr=True).print(f"[red]verify-ledger: {problem}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    store = Store(url)  # the database exists: bringing its schema up to date creates no data
    with store.session() as session:
        ack_problems = verify_ledger(session)
        rows = session.scalar(select(func.count()).select_from(Acknowledgement)) or 0
        event_problems, last_seq, _ = verify_events(session)
        anchors = _anchors(session, settings, drive, console)
        by_source = {"ledger anchors": len(anchors)}
        for label, heads in _report_heads(session, settings, drive, workbook, console).items():
            by_source[label] = len(heads)
            anchors = [*anchors, *heads]
        anchor_problems = check_against_anchors(chain_hashes(session), anchors, settings.ledger.public_keys)
    problems = [(p.kind, "ack", p.row_id, p.detail) for p in ack_problems]
    problems += [(p.kind, "event", p.seq, p.detail) for p in [*event_problems, *anchor_problems]]
    if not problems:
        sources = ", ".join(f"{n} {label}" for label, n in by_source.items())
        console.print(f"[green]ledger intact: {rows} acknowledgements chained, {last_seq} events, "
                      f"checked against {len(anchors)} anchors ({sources})[/green]")
        return
    firsts = [p for p in problems if p[1] == "event" and p[2] is not None]
    if firsts:
        first = min(firsts, key=lambda p: p[2])
        console.print(f"[red]first event that disagrees: {first[2]} ({first[0]}: {first[3]})[/red]")
    table = Table(title=f"Evidence ledger: {len(problems)} problems ({rows} acknowledgements, {last_seq} events)")
    for column in ("Problem", "Chain", "Row / event", "Detail"):
        table.add_column(column)
    for kind, chain, at, detail in problems:
        table.add_row(kind, chain, "" if at is None else str(at), detail)
    console.print(table)
    raise typer.Exit(1)


def _bundle(kind: str, subject_id: int, out: Path | None, database_url: str | None, drive: bool) -> None:
    from datetime import UTC, datetime

    from compliance.evidence_export import finding_bundle, person_bundle
    from compliance.settings import get_settings
    from compliance.shell.output import readable_console
    from compliance.store import Store

    console = readable_console()
    settings = get_settings()
    now = datetime.now(UTC)
    with Store(database_url or settings.database_url).session() as session:
        anchors = _anchors(session, settings, drive, console)
        make = person_bundle if kind == "person" else finding_bundle
        try:
            data = make(session, subject_id, anchors, settings, now)
        except LookupError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
    path = out or Path(settings.out_dir) / f"evidence-{kind}-{subject_id}-{now:%Y%m%dT%H%M%SZ}.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    console.print(f"wrote {path} ({len(data)} bytes); check it with: district-compliance evidence verify {path}")


@evidence_app.command("person")
def evidence_person(
    person_id: int = typer.Argument(..., help="The person's id (people.id)"),
    out: Path | None = typer.Option(None, help="Zip to write (default: out/evidence-person-ID-TIME.zip)"),
    database_url: str | None = typer.Option(None),
    drive: bool = typer.Option(True, help="Read the anchors kept in Drive"),
) -> None:
    """What was sent to one person and when, what they signed, with the ledger entries and anchors."""
    _bundle("person", person_id, out, database_url, drive)


@evidence_app.command("finding")
def evidence_finding(
    finding_id: int = typer.Argument(..., help="The finding's id"),
    out: Path | None = typer.Option(None),
    database_url: str | None = typer.Option(None),
    drive: bool = typer.Option(True, help="Read the anchors kept in Drive"),
) -> None:
    """A finding's opening, resolution and takedown notices, with the ledger entries and anchors."""
    _bundle("finding", finding_id, out, database_url, drive)


@evidence_app.command("verify")
def evidence_verify(bundle: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Check a bundle with nothing but the bundle (no database, no network); exits 1 if it does not verify."""
    from compliance.bundle import unanchored, verify_bundle

    data = bundle.read_bytes()
    problems = verify_bundle(data)
    if problems:
        for p in problems:
            typer.echo(f"FAILED: {p}")
        raise typer.Exit(1)
    import io
    import json
    import zipfile

    document = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("evidence.json"))
    pending = unanchored(document)
    typer.echo(f"bundle verifies: {len(document['chain'])} ledger entries, {len(document['anchors'])} anchors"
               + (f"; not yet anchored: events {pending}" if pending else ""))
    for item in document["anchors"]:
        a = item["anchor"]
        typer.echo(f"  anchor event {a['seq']} {a['hash']} at {a.get('time')} from {item['source']}"
                   + (f", signed by {a['key_id']}" if a.get("signature") else ""))


@evidence_app.command("keygen")
def evidence_keygen(out: Path = typer.Argument(..., help="Where to write the new private key (PEM)")) -> None:
    """A new Ed25519 district key: prints the profile lines for its public key (see README, Ledger keys)."""
    from compliance.anchors import generate_key_pem, public_key_b64, public_key_id

    if out.exists():
        typer.echo(f"{out} exists; not overwriting a key")
        raise typer.Exit(1)
    pem = generate_key_pem()
    out.write_bytes(pem)
    out.chmod(0o600)
    pub = public_key_b64(pem)
    typer.echo(f'[ledger]\nsigning_key_path = "{out}"\nsigning_key_id = "{public_key_id(pub)}"\n\n'
               f'[ledger.public_keys]\n"{public_key_id(pub)}" = "{pub}"')
