"""Policy distribution campaign, started by central office from the Prefect UI form or the CLI.

Dry run first: it shows the plan (counts by site and category, a rendered sample, quota days, who is skipped
and why, which policy version it is about) and changes nothing: no policy version, form, Drive file, campaign
or delivery row. A real run queues one ledger row per message and sends what the
sender pool's windows allow; the nightly job keeps sending what is left, and reminders follow.
"""

from __future__ import annotations

from datetime import UTC, datetime

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from prefect import flow  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402

from compliance.campaign import CampaignParameters  # noqa: E402
from tasks import resources  # noqa: E402
from tasks.artifacts import publish_summary, publish_table  # noqa: E402
from tasks.campaign import plan_and_queue, send_queued_mail  # noqa: E402
from tasks.guard import stops_on_configuration_error  # noqa: E402
from tasks.policy import ensure_policy_version, probe_policy_version  # noqa: E402


def _plan_markdown(result: dict) -> str:
    s = result["summary"]
    quota = s["quota"]
    lines = [
        f"## Campaign plan: {s['campaign_name']}",
        "",
        f"- planned against {s['policy_version']}",
        f"- messages: {s['individual_messages']:,} individual, {s['group_messages']:,} site-group",
        f"- people reached: {s['people_reached']:,}; paper copies to print: {s['print_list']:,}",
        f"- skipped: {', '.join(f'{k} {v:,}' for k, v in s['skipped'].items()) or 'nobody'}",
        f"- announced again on request (resend): {s['resent']:,}",
        f"- staff channel: {s['staff_channel']} ({s['staff_channel_reason']})",
        f"- quota: {quota['days']} day(s) with {quota['senders']} sender(s), "
        f"{quota['messages_per_day']:,} messages a day, about {quota['sending_minutes']:,} minutes of sending",
        f"- deadline: {s['deadline']}",
    ]
    sample = result.get("sample") or {}
    if sample:
        lines += ["", "### Sample message (first person planned)", "", f"**{sample['subject']}**", "", "```"]
        lines += [sample["text"], "```"]
    return "\n".join(lines)


@flow(name="distribute-policy", log_prints=False)
@stops_on_configuration_error
def distribute_policy(params: CampaignParameters | None = None, now: datetime | None = None) -> dict:
    """Plan (dry run) or run a policy distribution campaign; returns the plan summary and what was sent."""
    params = params or CampaignParameters()
    now = now or datetime.now(UTC)
    resources.checked_settings()  # refuses production with the public demo token secret
    if params.dry_run:
        # A dry run finds the version a real run would use and creates nothing (no version, form, Drive file).
        probe = None if params.policy_version_id else probe_policy_version(now)
        result = plan_and_queue(params, params.policy_version_id, now, probe)
    else:
        version_id = params.policy_version_id or ensure_policy_version(now, params.policy_revision, params.decided_by)
        result = plan_and_queue(params, version_id, now)
    summary = result["summary"]
    # Plan artifacts hold counts and, for a dry run, the first planned person's announcement as the message
    # factory renders it, with name and personal link masked (compliance.campaign.sample_announcement).
    create_markdown_artifact(_plan_markdown(result), key="campaign-plan", description="Campaign plan")
    publish_table(
        "campaign-plan-by-site",
        "Planned messages by site",
        [{"site": site, "people": n} for site, n in summary["by_site"].items()],
    )
    if params.dry_run:
        return result
    sent = send_queued_mail(result["campaign_id"])
    publish_summary(
        "campaign",
        f"Campaign {summary['campaign_name']}",
        {"queued": result["queued"], **sent, "quota days": summary["quota"]["days"]},
    )
    return {**result, "sent": sent}
