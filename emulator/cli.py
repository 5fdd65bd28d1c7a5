"""``district-compliance emulator serve``: run the Workspace emulator for a person or a demo."""

from __future__ import annotations

from pathlib import Path

import typer

emulator_app = typer.Typer(
    no_args_is_help=True, help="Local Google Workspace emulator (Gmail, Drive, Sheets, Forms, Directory) over HTTPS."
)
app = emulator_app


@emulator_app.callback()
def _group() -> None:
    """Keep ``serve`` a sub-command even while it is the only one."""


DEFAULT_STATE_DIR = Path(__file__).resolve().parent.parent / "var" / "emulator"


@emulator_app.command("serve")
def serve(
    port: int = typer.Option(8443, help="Port on 127.0.0.1 (0 picks a free one)."),
    seed: Path | None = typer.Option(None, help="Sample district folder to seed (directory/, sheets/)."),
    state_dir: Path = typer.Option(DEFAULT_STATE_DIR, help="Where the CA and service-account key are written."),
    client_email: str = typer.Option(
        "compliance@district-project.iam.gserviceaccount.com", help="Service account the key is issued for."
    ),
    fault_seed: int = typer.Option(0, help="Seed for injected faults (deterministic)."),
    exit_after: float | None = typer.Option(None, hidden=True, help="Stop after N seconds (tests, demos)."),
) -> None:
    """Serve until Ctrl+C; prints the base URL, CA path, key file and the environment settings need."""
    import time

    from emulator.server import WorkspaceEmulator

    if seed is not None and not seed.is_dir():
        typer.echo(f"seed folder {seed} does not exist", err=True)
        raise typer.Exit(2)
    emu = WorkspaceEmulator(seed_dir=seed, fault_seed=fault_seed, port=port, state_dir=state_dir)
    try:
        emu.start()
    except OSError as exc:
        typer.echo(f"cannot listen on 127.0.0.1:{port}: {exc}", err=True)
        raise typer.Exit(2) from None
    try:
        key_file = emu.write_service_account(state_dir / "service-account.json", client_email)
        ws = emu.workspace
        typer.echo(f"Workspace emulator at {emu.base_url}")
        typer.echo(f"CA certificate:       {emu.ca_path}")
        typer.echo(f"Service-account key:  {key_file}")
        typer.echo(
            f"Seeded: {len(ws.directory.users)} users, {len(ws.directory.orgunits)} org units, "
            f"{len(ws.sheets.spreadsheets)} spreadsheets"
        )
        typer.echo("Point the pipeline at it with:")
        for name, value in emu.environment(key_file).items():
            typer.echo(f"  export {name}={value}")
        typer.echo(f"Admin API: {emu.base_url}/_emulator/stats (Ctrl+C to stop)")
        deadline = None if exit_after is None else time.monotonic() + exit_after
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
