"""Campaign tasks: plan (and record the plan), queue deliveries in the ledger, send what the windows allow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import func, select

from compliance.campaign import (
    CampaignParameters,
    announcement_deliveries,
    draft_policy_version,
    open_campaign,
    plan_stored_campaign,
    sample_announcement,
    start_sending,
    unsafe_name_rejections,
)
from compliance.campaign_form import CampaignSetupError, check_plan, check_roster
from compliance.deliveries import queue_deliveries
from compliance.models import Delivery, Person, PolicyVersion
from compliance.outbox import OutboxCounts
from compliance.policy import VersionProbe
from compliance.print_list import write_campaign_print_list
from compliance.quarantine import quarantine
from tasks import resources
from tasks.guard import retry_unless_configuration


# One retry for what may be transient (re-planning finds queued rows by key); a setup error is never retried,
# and a task with retries and a retry condition ends on it without Prefect logging a traceback.
@task(
    name="plan-campaign",
    retries=1,
    retry_delay_seconds=30,
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def plan_and_queue(
    params: CampaignParameters, policy_version_id: int | None, now: datetime, probe: dict | None = None
) -> dict[str, Any]:
    """Plan the campaign; a real run also queues one ledger row per message, a dry run changes nothing.

    Re-running the same campaign finds its rows by idempotency key and queues nothing twice. A dry run plans
    against ``policy_version_id`` or, when that is None, the version ``probe`` (a
    :class:`~compliance.policy.VersionProbe`) says a real run would create; its session is rolled back, so
    the store holds after it exactly what it held before.
    """
    settings = resources.settings()
    if policy_version_id is None and probe is not None:
        policy_version_id = VersionProbe.from_json(probe).existing_id
    with resources.store().session() as session:
        if policy_version_id is not None:
            version = session.get(PolicyVersion, policy_version_id)
            if version is None:
                raise CampaignSetupError(
                    f"there is no policy version {policy_version_id}: leave the policy version at 0 for the newest"
                )
            described = VersionProbe(version.drive_file_id, version.revision_id, version.school_year,
                                     version.sha256, version.id, version.title).describe()
        elif params.dry_run and probe is not None:
            found = VersionProbe.from_json(probe)
            version, described = draft_policy_version(found, now), found.describe()
        else:
            raise ValueError("a real run needs the policy version it announces")
        check_roster(session.scalar(select(func.count()).select_from(Person).where(Person.active)) or 0)
        campaign = open_campaign(session, params, version, settings, now)
        plan = plan_stored_campaign(session, campaign, params, version, settings, now)
        check_plan(campaign.plan)
        campaign.plan["policy_version"] = described
        queued, sample = 0, {}
        # Who needs a paper copy, by name: a file for the office in the output folder (never in the artifact).
        print_list = write_campaign_print_list(session, plan, settings, campaign.name, now)
        if params.dry_run:
            sample = sample_announcement(session, settings, campaign, plan, now, version)
            session.rollback()  # nothing of a dry run stays, whatever planning loaded or touched
            return {"campaign_id": None, "summary": campaign.plan, "queued": 0, "sample": sample,
                    "print_list_path": print_list}
        queued = queue_deliveries(session, announcement_deliveries(plan, campaign.id, str(settings.senders[0])), now)
        start_sending(campaign, now)
        quarantine(session, unsafe_name_rejections(plan))
        return {"campaign_id": campaign.id, "summary": campaign.plan, "queued": queued, "sample": sample,
                "print_list_path": print_list}


def send_queued(
    campaign_id: int | None, *, clock: Callable[[], datetime] | None = None,
    progress: Callable[[int], None] | None = None,
) -> OutboxCounts:
    """Plain function behind the send task (tests drive it with an injected clock)."""
    return resources.outbox(clock).send(campaign_id=campaign_id, progress=progress)


@task(
    name="send-queued-mail",
    retries=2,
    retry_delay_seconds=[60, 300],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def send_queued_mail(campaign_id: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Send pending deliveries (one campaign's, or all) through the sender pool until the windows close.

    ``now``: the run's time (a replayed or simulated night); the outbox's clock then starts there and runs on
    at the real pace, so sent_at, sender windows and retry times are on the run's calendar.
    """
    from tasks.artifacts import SendProgress

    with resources.store().session() as session:
        stmt = select(Delivery.id).where(Delivery.status.in_(("pending", "sending")))
        if campaign_id is not None:
            stmt = stmt.where(Delivery.campaign_id == campaign_id)
        total = len(session.scalars(stmt).all())
    progress = SendProgress(total, "emails sent or settled") if total else None
    clock = resources.clock_from(now) if now is not None else None
    counts = send_queued(campaign_id, clock=clock, progress=progress.advance if progress else None)
    return counts.as_dict()


@task(
    name="check-bounces",
    retries=2,
    retry_delay_seconds=[60, 300],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def check_bounces(now: datetime, replayed: datetime | None = None) -> dict[str, int]:
    """A 200 from Gmail is not delivery: bounces in the sender mailboxes mark their deliveries failed.

    The mailbox reads count in Gmail's minute on the wall clock unless ``replayed`` gives the run's own time.
    """
    clock = resources.clock_from(replayed) if replayed is not None else None
    return resources.outbox(clock).check_bounces(now - timedelta(days=30)).as_dict()
