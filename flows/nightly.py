"""Nightly job (02:00 district time): keep people, acknowledgements, reminders and photo consent current.

Reads top to bottom as the night's recipe; each step is a task (or one task per site) in tasks/.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from prefect import flow, get_run_logger  # noqa: E402

from compliance.artifact_text import nightly_headline, site_label  # noqa: E402
from compliance.campaign import CampaignParameters  # noqa: E402
from compliance.photos.store import held_line  # noqa: E402
from compliance.policy import RevisionDecision  # noqa: E402
from flows.site_audit import SITES_PER_TASK, audit_sites  # noqa: E402
from tasks import resources  # noqa: E402
from tasks.acknowledgements import import_paper_acknowledgements, sync_acknowledgements  # noqa: E402
from tasks.artifacts import publish_link, publish_steps, publish_table  # noqa: E402
from tasks.campaign import check_bounces, plan_and_queue, send_queued_mail  # noqa: E402
from tasks.consent import sync_consents, sync_students  # noqa: E402
from tasks.followup import announce_to_joiners, queue_follow_up, queue_takedown_digests  # noqa: E402
from tasks.guard import stops_on_configuration_error  # noqa: E402
from tasks.incidents import queue_incident_follow_up, sync_incident_reports  # noqa: E402
from tasks.ledger import anchor_ledger  # noqa: E402
from tasks.photos import coverage_rows  # noqa: E402
from tasks.policy import follow_policy_document  # noqa: E402
from tasks.roster import sync_roster  # noqa: E402
from tasks.social import audit_social_sites  # noqa: E402

SITES_PER_CONSENT_TASK = 50


def _run_name() -> str:
    """"Nightly 2026-12-01 — websites included" in run lists (see compliance.run_names)."""
    from prefect.runtime import flow_run

    from compliance.run_names import nightly_run_name
    from compliance.settings import get_settings

    return nightly_run_name(dict(flow_run.parameters), datetime.now(UTC), get_settings().tz)


def in_chunks(items: list[str], size: int) -> list[list[str]]:
    """``items`` cut in order into lists of ``size`` (the last one shorter): one task run each."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _total(per_site: list[dict[str, object]]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for counts in per_site:
        for name, value in counts.items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                totals[name] = totals.get(name, 0) + int(value)
    return totals


@flow(name="nightly", log_prints=False, flow_run_name=_run_name)
@stops_on_configuration_error
def nightly(
    now: datetime | None = None,
    crawl: bool = True,
    social: bool | None = None,
    policy_revision: RevisionDecision | None = None,
    decided_by: str | None = None,
) -> dict[str, dict[str, int]]:
    """Roster sync, acknowledgement sync, reminders and escalation, incident reports and their follow-up, crawl
    and consent reconciliation.

    ``now`` exists for tests and replays; a scheduled run uses the current time. ``crawl=False`` skips the
    websites (e.g. a re-run after fixing a roster file); ``social`` (by default as ``crawl``) the YouTube
    channels, blogs and platform exports. ``policy_revision`` and ``decided_by`` answer a
    pending policy change (material: everyone acknowledges again; editorial: nobody does).
    """
    # Mail is stamped on the wall clock unless the run replays a given night: Gmail's minute is counted across
    # every process sending as a mailbox, and a clock that starts at this run's start lags by the minutes the
    # roster and the crawl took, so its sends would look older than they are to a campaign sending at once.
    replayed = now
    now = now or datetime.now(UTC)
    settings = resources.checked_settings()
    site_ids = [s.id for s in settings.sites]
    site_names = {s.id: s.name for s in settings.sites}
    results: dict[str, dict[str, int]] = {}
    notes: list[str] = []  # one line each, shown in the run's summary artifact (e.g. the sites held tonight)

    results["roster"] = sync_roster(now)
    # The policy document first: a new school year or a material change opens a new version and announces it.
    results["policy"] = follow_policy_document(now, policy_revision, decided_by)
    if results["policy"]["policy versions opened"]:
        version_id = results["policy"]["policy version"]
        name = f"policy version {version_id} ({now.astimezone(settings.tz):%Y-%m-%d})"
        opened = plan_and_queue(CampaignParameters(name=name, dry_run=False), version_id, now)
        results["policy"]["announcements queued"] = opened["queued"]
        if opened.get("print_list_path"):  # who needs the new version on paper: a file for the office, linked
            path = Path(opened["print_list_path"])
            publish_link("campaign-print-list", f"Print list: {opened['summary']['print_list']:,} paper copies "
                         f"({path.name})", path.resolve().as_uri(), f"{name}: who needs a paper copy of the policy")
    results["acknowledgements"] = {**sync_acknowledgements(now), **import_paper_acknowledgements(now)}
    results["bounces"] = check_bounces(now, replayed)
    results["follow-up"] = {**announce_to_joiners(now), **queue_follow_up(now)}
    results["incidents"] = {**sync_incident_reports(now), **queue_incident_follow_up(now)}

    results["students"] = sync_students(now)
    results["consent"] = _total(sync_consents.map(in_chunks(site_ids, SITES_PER_CONSENT_TASK)).result())

    if crawl:
        web_sites = [s.id for s in settings.sites if s.web_roots]
        # Crawl and reconciliation site by site, in this run or on the pool's workers (scale_out.site_audits).
        crawls, per_site = audit_sites(web_sites, now)
        results["crawl"] = _total(crawls)
        held = held_line({site_label(site, site_names): c for site, c in zip(web_sites, crawls, strict=True)})
        results["crawl"]["held sites"] = sum(1 for c in crawls if c.get("held"))
        if held:
            notes.append(held)
            get_run_logger().warning(held)
        publish_table(
            "nightly-crawl-coverage",
            "Crawl coverage by site: pages, images, videos, PDFs, and what was refused and why (counts only)",
            coverage_rows(web_sites, crawls),
            site_names,
        )
        results["photos"] = _total(per_site)
        publish_table(
            "nightly-photos-by-site",
            "Photo consent findings by site (counts only)",
            [{"site": site_id, **counts} for site_id, counts in zip(web_sites, per_site, strict=True)],
            site_names,
        )

    if social if social is not None else crawl:
        social_sites = [s.id for s in settings.sites if s.youtube_channels or s.blogs or s.social_exports]
        shares = in_chunks(social_sites, SITES_PER_TASK)
        per_site = [counts for share in audit_social_sites.map(shares, now=now).result() for counts in share]
        results["social"] = _total(per_site)
        publish_table(
            "nightly-social-by-site",
            "Social media by site: videos, blog posts and exported posts read, calls made, findings (counts only)",
            [{"site": site_id, **counts} for site_id, counts in zip(social_sites, per_site, strict=True)],
            site_names,
        )
    if crawl or "social" in results:
        results["takedown"] = queue_takedown_digests(now)

    results["mail"] = send_queued_mail(None, replayed)
    results["ledger"] = anchor_ledger(now)

    publish_steps(
        "nightly",
        f"Nightly run {now.astimezone(settings.tz):%Y-%m-%d %H:%M} {settings.district.time_zone}",
        results,
        headline=nightly_headline(results),
        output=settings.database_url.split("@")[-1],
        notes=notes,
    )
    return results
