"""``district-compliance``: the command line central office and IT use. Each sub-command group is a module of
this folder (the shell); the library functions they call live in ``compliance``."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from compliance.runtime import configure_prefect_env
from compliance.settings import ProfileError, get_settings
from compliance.shell.audit import consent_app
from compliance.shell.campaign import campaign_app
from compliance.shell.ledger import verify_ledger_command
from compliance.shell.sample import sample_app
from emulator.cli import emulator_app

configure_prefect_env()

app = typer.Typer(no_args_is_help=True, add_completion=False, help="AR 1114 social-media policy compliance.")
db_app = typer.Typer(no_args_is_help=True, help="State store maintenance.")
app.add_typer(db_app, name="db")
console = Console(stderr=True)


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Apply schema migrations to the configured database."""
    from compliance.store import upgrade

    upgrade(get_settings().database_url, revision)
    console.print(f"[green]schema at {revision}[/green]")


@app.command("check-profile")
def check_profile() -> None:
    """Validate the district profile and environment; prints the sites it found."""
    settings = get_settings()
    console.print(f"{settings.district.name}: {len(settings.sites)} sites, zone {settings.district.time_zone}")


@app.command("demo")
def demo() -> None:
    """Run the whole pipeline offline on the sample district (what ``make demo`` does)."""
    from compliance.shell.demo import run_demo

    run_demo()


# Sub-command groups register here, one line each.
app.add_typer(sample_app, name="sample")
app.add_typer(emulator_app, name="emulator")
app.add_typer(consent_app, name="consent")
app.add_typer(campaign_app, name="campaign")
app.command("verify-ledger")(verify_ledger_command)


def main() -> None:
    """Entry point: configuration errors are one readable message, never a traceback."""
    try:
        app()
    except ProfileError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
