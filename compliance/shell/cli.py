"""``district-compliance``: the command line central office and IT use. Each sub-command group is a module of
this folder (the shell); the library functions they call live in ``compliance``."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from compliance.errors import ConfigurationError
from compliance.runtime import configure_prefect_env
from compliance.settings import get_settings
from compliance.shell.audit import consent_app
from compliance.shell.campaign import campaign_app
from compliance.shell.incidents import case_step_command
from compliance.shell.ledger import evidence_app, verify_ledger_command
from compliance.shell.preflight import preflight_command
from compliance.shell.sample import sample_app
from compliance.shell.screenshots import docs_app
from compliance.shell.stack import stack_app
from emulator.cli import emulator_app

configure_prefect_env()

app = typer.Typer(no_args_is_help=True, add_completion=False, help="AR 1114 social-media policy compliance.")
db_app = typer.Typer(no_args_is_help=True, help="State store maintenance.")
deployments_app = typer.Typer(no_args_is_help=True, help="Prefect deployments: the YAML from the registry.")
app.add_typer(db_app, name="db")
app.add_typer(deployments_app, name="deployments")
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
    problems = settings.secret_problems()
    if problems:
        console.print(f"[red]{escape(settings.profile_path.name)}: refusing environment {settings.environment!r}: "
                      f"{escape('; '.join(problems))}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(2)
    console.print(f"{settings.district.name}: {len(settings.sites)} sites, zone {settings.district.time_zone}")


@deployments_app.command("write")
def deployments_write(
    check: bool = typer.Option(False, "--check", help="Only say whether the file is up to date (exit 1 if not)."),
    time_zone: str | None = typer.Option(None, help="Schedules' zone (default: the district profile's)."),
) -> None:
    """Write deployments/prefect.yaml from the deployment registry and the district's time zone."""
    from compliance.shell.deployments import PREFECT_FILE, prefect_yaml, write_prefect_yaml

    if check:
        current = PREFECT_FILE.read_text(encoding="utf-8") if PREFECT_FILE.exists() else ""
        if current != prefect_yaml(time_zone):
            console.print(f"[red]{PREFECT_FILE} is stale: run district-compliance deployments write[/red]")
            raise typer.Exit(1)
        console.print(f"{PREFECT_FILE} is up to date")
        return
    changed = write_prefect_yaml(PREFECT_FILE, time_zone)
    console.print(f"{PREFECT_FILE} {'written' if changed else 'already up to date'}; deploy it again if it changed")


@deployments_app.command("seal")
def deployments_seal(
    api_url: str = typer.Option(None, envvar="PREFECT_API_URL", help="The Prefect API (default: PREFECT_API_URL)."),
) -> None:
    """After `prefect deploy`: make the API refuse run parameters the forms do not have (a misspelt field)."""
    from compliance.shell.deployments import seal_parameter_forms

    if not api_url:
        raise typer.BadParameter("set PREFECT_API_URL (or --api-url) to the server the deployments are on")
    for name in seal_parameter_forms(api_url.rstrip("/")):
        console.print(f"{name}: unknown parameters refused")


@app.command("demo")
def demo(
    use_api: bool = typer.Option(
        False, "--use-api", help="Record the demo's runs on the Prefect API in PREFECT_API_URL (default: its own)."
    ),
    work_dir: Path | None = typer.Option(
        None, help="The demo's store and emulator files, emptied first (default: var/demo)."
    ),
    out_dir: Path | None = typer.Option(None, help="Where the demo's workbook goes (default: out/demo)."),
) -> None:
    """Run the whole pipeline offline on the sample district (what ``make demo`` does)."""
    from compliance.shell.demo import isolate_prefect, run_demo

    isolate_prefect(use_api=use_api)
    run_demo(work_dir, out_dir)


# Sub-command groups register here, one line each.
app.add_typer(sample_app, name="sample")
app.add_typer(emulator_app, name="emulator")
app.add_typer(consent_app, name="consent")
app.add_typer(campaign_app, name="campaign")
app.command("verify-ledger")(verify_ledger_command)
app.command("preflight")(preflight_command)
app.add_typer(evidence_app, name="evidence")
app.command("case-step")(case_step_command)
app.add_typer(stack_app, name="stack")
app.add_typer(docs_app, name="docs")


def main() -> None:
    """Entry point: configuration errors are one readable message, never a traceback."""
    try:
        app()
    except ConfigurationError as exc:  # a bad profile, key, policy file, scope or sharing grant
        console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
