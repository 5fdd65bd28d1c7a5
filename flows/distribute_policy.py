"""Policy distribution campaign, started by central office from the Prefect UI form or the CLI.

Dry run first: it shows the plan (counts by site and category, a rendered sample, quota days, who is skipped
and why, which policy version it is about) and changes nothing: no policy version, form, Drive file, campaign
or delivery row. A real run queues one ledger row per message and sends what the
sender pool's windows allow; the nightly job keeps sending what is left, and reminders follow.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from prefect import flow  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402
from pydantic import Field  # noqa: E402

from compliance.artifact_text import NO_SITE, plan_headline, plan_site_rows, run_marker, summary_markdown  # noqa: E402
from compliance.campaign import CampaignParameters  # noqa: E402
from compliance.campaign_form import (  # noqa: E402
    TITLES,
    category_choices,
    language_choices,
    parameters_from_form,
    revision_choices,
    run_name,
    site_choices,
)
from compliance.settings import get_settings  # noqa: E402
from tasks import resources  # noqa: E402
from tasks.artifacts import publish_link, publish_summary, publish_table  # noqa: E402
from tasks.campaign import plan_and_queue, send_queued_mail  # noqa: E402
from tasks.guard import stops_on_configuration_error  # noqa: E402
from tasks.policy import ensure_policy_version, probe_policy_version  # noqa: E402


def _plan_markdown(result: dict, site_names: dict[str, str], dry_run: bool) -> str:
    s = result["summary"]
    details = ["| Site | People |", "| --- | ---: |"]
    details += [f"| {row['Site']} | {row['People']} |" for row in plan_site_rows(s["by_site"], site_names)]
    sample = result.get("sample") or {}
    if sample:
        # A quote, not a code block: the UI wraps a quote's lines; it cut a code block's long lines off.
        details += ["", "### Sample message (first person planned, name and link masked)", "",
                    f"**{sample['subject']}**", "", *(f"> {line}  " if line else ">" for line in
                                                      sample["text"].splitlines())]
    headline = plan_headline(s, len(set(s["by_site"]) - {NO_SITE}))
    return summary_markdown(f"Campaign plan: {s['campaign_name']}", headline, marker=run_marker(dry_run),
                            details=details, details_title="People by site")


def _campaign(params: CampaignParameters, now: datetime, replayed: bool = False) -> dict:
    settings = resources.checked_settings()  # refuses production with the public demo token secret
    site_names = {site.id: site.name for site in settings.sites}
    if params.dry_run:
        # A dry run finds the version a real run would use and creates nothing (no version, form, Drive file).
        probe = None if params.policy_version_id else probe_policy_version(now)
        result = plan_and_queue(params, params.policy_version_id, now, probe)
    else:
        version_id = params.policy_version_id or ensure_policy_version(now, params.policy_revision, params.decided_by)
        result = plan_and_queue(params, version_id, now)
    summary = result["summary"]
    marker = run_marker(params.dry_run)
    # Plan artifacts hold counts and, for a dry run, the first planned person's announcement as the message
    # factory renders it, with name and personal link masked (compliance.campaign.sample_announcement).
    create_markdown_artifact(_plan_markdown(result, site_names, params.dry_run), key="campaign-plan",
                             description=f"{marker} · Campaign plan")
    publish_table("campaign-plan-by-site", f"{marker} · People planned by site",
                  [{"site": site or None, "people": n} for site, n in summary["by_site"].items()], site_names)
    if result.get("print_list_path"):
        # Names are in the file (an output for the office), never in the artifact: the artifact links to it.
        path = Path(result["print_list_path"])
        publish_link("campaign-print-list", f"Print list: {summary['print_list']:,} paper copies ({path.name})",
                     path.resolve().as_uri(), f"{marker} · Who needs a paper copy of the policy")
    if params.dry_run:
        return result
    # The outbox keeps the wall clock unless this run replays a given time (see flows.nightly).
    sent = send_queued_mail(result["campaign_id"], now if replayed else None)
    publish_summary(
        "campaign",
        f"Campaign {summary['campaign_name']}",
        {"queued": result["queued"], **sent, "Days of Gmail quota": summary["quota"]["days"]},
        headline=[f"Messages queued: {result['queued']:,}; sent: {sent.get('sent', 0):,}; waiting for a later "
                  f"window: {sent.get('deferred to a later window', 0):,}",
                  f"Paper copies to print: {summary['print_list']:,}"],
        marker=marker,
    )
    return {**result, "sent": sent}


def _run_name() -> str:
    """The run's name in run lists ("DRY RUN — AR 1114 2026-27, 3 sites"), from the parameters it got."""
    from prefect.runtime import flow_run

    parameters = dict(flow_run.parameters)
    try:
        if "params" in parameters:
            params = CampaignParameters.model_validate(parameters["params"] or {})
        else:
            params = parameters_from_form(_SETTINGS, **parameters)
    except Exception:  # noqa: BLE001 - a bad form is reported by the run itself; the name must not fail it
        return "campaign (parameters to check)"
    return run_name(params, _SETTINGS, datetime.now(UTC))


# The form's choice lists come from the district profile when the flow is loaded, i.e. when it is deployed
# (and again when a worker runs it, from the same profile).
_SETTINGS = get_settings()
Site = site_choices(_SETTINGS)
Category = category_choices()
MessageLanguage = language_choices()
PolicyRevision = revision_choices()


def _field(name: str, **constraints: object) -> Any:
    return Field(json_schema_extra={"title": TITLES[name]}, **constraints)  # type: ignore[arg-type]


@flow(name="distribute-policy", log_prints=False, flow_run_name=_run_name)
@stops_on_configuration_error
def distribute_policy(
    dry_run: Annotated[bool, _field("dry_run")] = True,
    campaign_name: Annotated[str, _field("campaign_name", max_length=200)] = "",
    sites: Annotated[tuple[Site, ...], _field("sites")] = (),  # type: ignore[valid-type]
    categories: Annotated[tuple[Category, ...], _field("categories")] = (),  # type: ignore[valid-type]
    include_already_acknowledged: Annotated[bool, _field("include_already_acknowledged")] = False,
    language: Annotated[MessageLanguage, _field("language")] = MessageLanguage("English"),  # type: ignore[valid-type]
    deadline_days: Annotated[int, _field("deadline_days", ge=1, le=120)] = 21,
    policy_version: Annotated[int, _field("policy_version", ge=0)] = 0,
    policy_revision: Annotated[PolicyRevision, _field("policy_revision")] = PolicyRevision("No change to decide"),  # type: ignore[valid-type]
    decided_by: Annotated[str, _field("decided_by", max_length=200)] = "",
    resend_announced: Annotated[bool, _field("resend_announced")] = False,
) -> dict:
    """Plan (dry run) or send a policy distribution campaign: the form central office fills in.

    Args:
        dry_run: Plan and report only; nothing is sent. Untick to send for real.
        campaign_name: Re-using a real campaign's name continues it (nothing is sent twice).
        sites: Leave empty for every site; or choose sites (then leave the categories empty).
        categories: Leave empty for everyone; or choose person categories (then leave the sites empty).
        include_already_acknowledged: Ticked, people who already signed this policy version get it again.
        language: Used when a person has no language preference on the roster.
        deadline_days: Reminders and escalation count from this deadline (1 to 120 days).
        policy_version: 0 announces the newest policy version; another number announces that version.
        policy_revision: When the policy text changed, whether everyone must acknowledge again.
        decided_by: Who answered the policy text question above (kept with the decision).
        resend_announced: Ticked, people already announced this version get the announcement again.
    """
    params = parameters_from_form(
        _SETTINGS, dry_run=dry_run, campaign_name=campaign_name, sites=sites, categories=categories,
        include_already_acknowledged=include_already_acknowledged, language=language,
        deadline_days=deadline_days, policy_version=policy_version, policy_revision=policy_revision,
        decided_by=decided_by, resend_announced=resend_announced,
    )  # fmt: skip
    return _campaign(params, datetime.now(UTC))


@flow(name="distribute-policy", log_prints=False, flow_run_name=_run_name)
@stops_on_configuration_error
def run_campaign(params: CampaignParameters | None = None, now: datetime | None = None) -> dict:
    """The same campaign from a :class:`CampaignParameters` object (CLI, demo, tests: ``now`` is their clock)."""
    return _campaign(params or CampaignParameters(), now or datetime.now(UTC), replayed=now is not None)
