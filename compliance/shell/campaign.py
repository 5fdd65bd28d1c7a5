"""``district-compliance campaign``: plan (dry run), run, and send what a campaign has queued.

``plan`` and ``run`` go through the Prefect flow ``distribute-policy`` (so they show up in the UI with their
artifacts). ``send`` is the plain outbox without the Prefect engine: it starts in about a second, is safe to
kill at any moment and to start again (the delivery ledger makes every resend idempotent), and is what an
operator runs to push out the rest of a campaign after a crash.
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from compliance.campaign import CampaignParameters

campaign_app = typer.Typer(no_args_is_help=True, help="Policy distribution campaigns: plan, run, send.")
console = Console()
err = Console(stderr=True)


class AudienceScope(StrEnum):
    everyone = "everyone"
    sites = "sites"
    categories = "categories"


class Language(StrEnum):
    en = "en"
    es = "es"


AudienceOpt = Annotated[AudienceScope, typer.Option("--audience", help="Who the campaign is for.")]
SiteOpt = Annotated[list[str] | None, typer.Option("--site", help="Site id (repeat; with --audience sites).")]
CategoryOpt = Annotated[
    list[str] | None, typer.Option("--category", help="Person category (repeat; with --audience categories).")
]
LanguageOpt = Annotated[Language, typer.Option("--language", help="Default message language.")]
NameOpt = Annotated[str | None, typer.Option("--name", help="Campaign name (default: policy title and date).")]
DeadlineOpt = Annotated[int, typer.Option("--deadline-days", min=1, max=120, help="Days people have to sign.")]
ResendOpt = Annotated[bool, typer.Option(
    "--resend-announced", help="Announce again to people another campaign already announced this version to.")]


def build_parameters(
    *,
    audience: str,
    sites: list[str] | None,
    categories: list[str] | None,
    language: str,
    name: str | None,
    deadline_days: int,
    dry_run: bool,
    resend_announced: bool = False,
) -> CampaignParameters:
    """Campaign parameters from command-line options; inconsistent options raise ``typer.BadParameter``."""
    from pydantic import ValidationError

    from compliance.campaign import Audience, CampaignParameters
    from compliance.settings import get_settings

    known = [s.id for s in get_settings().sites]
    unknown = [s for s in sites or [] if s not in known]
    if unknown:
        raise typer.BadParameter(f"unknown site {', '.join(unknown)}: choose from {', '.join(known)}")
    try:
        return CampaignParameters(
            name=name,
            audience=Audience(scope=audience, site_ids=sites or [], categories=categories or []),
            language=language,
            deadline_days=deadline_days,
            dry_run=dry_run,
            resend_announced=resend_announced,
        )
    except ValidationError as exc:
        problems = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        raise typer.BadParameter(problems) from None


def _counts_table(title: str, counts: dict[str, int], header: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column(header)
    table.add_column("people", justify="right")
    for key, value in counts.items():
        table.add_row(escape(str(key)), f"{value:,}")
    table.add_row("[bold]total[/bold]", f"[bold]{sum(counts.values()):,}[/bold]")
    return table


def print_plan(result: dict[str, Any]) -> None:
    """The plan as central office reads it: counts only, plus one rendered sample with ``[name]``."""
    s = result["summary"]
    quota = s["quota"]
    console.rule(f"Campaign plan: {escape(s['campaign_name'])}")  # names are operator text, not markup
    console.print(
        f"{s['individual_messages']:,} individual message(s), {s['group_messages']:,} site-group message(s); "
        f"{s['people_reached']:,} people reached; {s['print_list']:,} paper copies to print"
    )
    console.print(_counts_table("By site", s["by_site"], "site"))
    console.print(_counts_table("By category", s["by_category"], "category"))
    console.print(_counts_table("Skipped, by reason", s["skipped"], "reason") if s["skipped"] else "Skipped: nobody")
    if s.get("policy_version"):
        console.print(f"Planned against {escape(s['policy_version'])}")
    if s.get("resent"):
        console.print(f"Announced again on request (--resend-announced): {s['resent']:,}")
    console.print(f"Staff channel: {s['staff_channel']} ({escape(s['staff_channel_reason'])})")
    console.print(
        f"Quota: [bold]{quota['days']} day(s)[/bold] with {quota['senders']} sender(s), "
        f"{quota['messages_per_day']:,} messages a day, about {quota['sending_minutes']:,} minutes of sending"
    )
    console.print(f"Deadline: {s['deadline']}")
    sample = result.get("sample") or {}
    if sample:
        console.rule("Sample message (first person planned)")
        console.print(f"[bold]{escape(sample['subject'])}[/bold]", highlight=False)
        console.print(sample["text"], highlight=False, markup=False)


def _run_flow(params: CampaignParameters) -> dict[str, Any]:
    from flows.distribute_policy import run_campaign  # Prefect import: only for plan and run

    return run_campaign(params)


@campaign_app.command("plan")
def plan(
    audience: AudienceOpt = AudienceScope.everyone,
    site: SiteOpt = None,
    category: CategoryOpt = None,
    language: LanguageOpt = Language.en,
    name: NameOpt = None,
    deadline_days: DeadlineOpt = 21,
    resend_announced: ResendOpt = False,
) -> None:
    """Dry run: plan the campaign and print it (counts, who is skipped and why, quota days, a sample). Sends nothing."""
    params = build_parameters(
        audience=audience.value, sites=site, categories=category, language=language.value, name=name,
        deadline_days=deadline_days, dry_run=True, resend_announced=resend_announced,
    )
    print_plan(_run_flow(params))


@campaign_app.command("run")
def run(
    audience: AudienceOpt = AudienceScope.everyone,
    site: SiteOpt = None,
    category: CategoryOpt = None,
    language: LanguageOpt = Language.en,
    name: NameOpt = None,
    deadline_days: DeadlineOpt = 21,
    resend_announced: ResendOpt = False,
) -> None:
    """Real run: queue one ledger row per message and send what the senders' daily windows allow."""
    params = build_parameters(
        audience=audience.value, sites=site, categories=category, language=language.value, name=name,
        deadline_days=deadline_days, dry_run=False, resend_announced=resend_announced,
    )
    result = _run_flow(params)
    print_plan(result)
    console.print(f"queued {result['queued']:,}; " + ", ".join(f"{k} {v:,}" for k, v in result["sent"].items()))


@campaign_app.command("send")
def send(
    campaign_id: Annotated[
        int | None, typer.Option("--campaign-id", help="Only this campaign's deliveries (default: all pending).")
    ] = None,
    in_flight_grace: Annotated[
        float | None,
        typer.Option(
            "--in-flight-grace",
            min=0,
            help="Seconds a message another (killed) run was sending may still be in flight "
            "(default: twice the Google request timeout).",
        ),
    ] = None,
) -> None:
    """Send what the ledger holds pending, without the Prefect engine; safe to kill and to start again."""
    from datetime import timedelta

    from compliance.google.clients import GoogleClients
    from compliance.outbox import Outbox
    from compliance.settings import get_settings
    from compliance.store import Store

    settings = get_settings()
    grace = timedelta(seconds=in_flight_grace) if in_flight_grace is not None else None
    outbox = Outbox(Store(settings.database_url), GoogleClients(settings), settings, in_flight_grace=grace)
    counts = outbox.send(campaign_id=campaign_id)
    # One JSON line on stdout (counts only) so scripts can read it; humans get the same on stderr.
    err.print(", ".join(f"{k} {v:,}" for k, v in counts.as_dict().items()))
    print(json.dumps(counts.as_dict()))
