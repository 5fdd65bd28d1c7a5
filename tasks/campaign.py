"""Campaign tasks: plan (and record the plan), queue deliveries in the ledger, send what the windows allow."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.campaign import CampaignParameters, plan_campaign
from compliance.mail import render_email
from compliance.models import Acknowledgement, Campaign, Delivery, Person, PolicyVersion
from compliance.outbox import OutboxCounts
from compliance.quarantine import Rejected, quarantine
from tasks import resources

_PLANNING_COLUMNS = (
    Person.id,
    Person.person_key,
    Person.kind,
    Person.category,
    Person.given_name,
    Person.family_name,
    Person.email,
    Person.site_id,
    Person.paper_only,
    Person.active,
    Person.left_at,
    Person.has_district_account,
    Person.preferred_language,
)


def _campaign_name(params: CampaignParameters, version: PolicyVersion, now: datetime) -> str:
    local = now.astimezone(resources.settings().tz)
    return params.name or f"{version.title} ({local:%Y-%m-%d})"


def _sample_rendering(session: Session, plan: Any, version: PolicyVersion, deadline: str) -> dict[str, str]:
    """One rendered announcement for the dry run: the first planned person, names as the template shows them."""
    if not plan.deliveries:
        return {}
    first = plan.deliveries[0]
    person = session.get(Person, first.person_id)
    settings = resources.settings()
    site = next((s for s in settings.sites if s.id == person.site_id), None)
    subject, text, _html = render_email(
        "announcement",
        {
            "recipient_name": "[name]",  # artifacts carry no personal data
            "category": first.category,
            "site_name": site.name if site else settings.district.name,
            "policy_title": version.title,
            "policy_url": f"https://docs.google.com/document/d/{version.drive_file_id}/view",
            "form_url": "(personal link)",
            "deadline": datetime.fromisoformat(deadline).date(),
            "district_name": settings.district.name,
            "language": first.language,
        },
        first.language,
    )
    return {"subject": subject, "text": text}


@task(name="plan-campaign", cache_policy=NO_CACHE)
def plan_and_queue(params: CampaignParameters, policy_version_id: int, now: datetime) -> dict[str, Any]:
    """Plan the campaign; a dry run records the plan only, a real run also queues one ledger row per message.

    Re-running the same campaign finds its rows by idempotency key and queues nothing twice.
    """
    settings = resources.settings()
    with resources.store().session() as session:
        version = session.get(PolicyVersion, policy_version_id)
        name = _campaign_name(params, version, now)
        if params.dry_run:
            name = f"dry run {now:%Y%m%dT%H%M%S.%f} · {name}"
        campaign = session.scalar(select(Campaign).where(Campaign.name == name))
        if campaign is None:
            campaign = Campaign(
                name=name,
                policy_version_id=version.id,
                audience=params.audience.model_dump(),
                language=params.language,
                status="dry_run" if params.dry_run else "planned",
                created_at=now,
            )
            session.add(campaign)
            session.flush()
        # Plain rows of the columns planning reads, not Person objects: at LAUSD scale (175,000 people) building
        # ORM instances (identity map, JSON columns) took about half of the dry run's database time.
        people = session.execute(select(*_PLANNING_COLUMNS)).all()
        acknowledged = set(
            session.scalars(select(Acknowledgement.person_id).where(Acknowledgement.policy_version_id == version.id))
        )
        plan = plan_campaign(
            people,
            acknowledged,
            params.audience,
            version,
            settings,
            now,
            campaign_id=campaign.id,
            language=params.language,
        )
        deadline = (now.astimezone(settings.tz) + timedelta(days=params.deadline_days)).date().isoformat()
        campaign.plan = {**plan.summary(), "deadline": deadline, "campaign_name": name}
        queued = 0
        if not params.dry_run:
            queued = _queue(session, campaign, plan)
            quarantine(
                session,
                [
                    Rejected("campaign", "roster", s.person_id, "name", s.detail or "name unsafe in a mail header")
                    for s in plan.header_unsafe
                ],
            )
        sample = _sample_rendering(session, plan, version, deadline) if params.dry_run else {}
        return {"campaign_id": campaign.id, "summary": campaign.plan, "queued": queued, "sample": sample}


def _queue(session: Session, campaign: Campaign, plan: Any) -> int:
    existing = set(session.scalars(select(Delivery.idempotency_key).where(Delivery.campaign_id == campaign.id)))
    added = 0
    for d in plan.deliveries:
        if d.idempotency_key in existing:
            continue
        session.add(
            Delivery(
                idempotency_key=d.idempotency_key,
                campaign_id=campaign.id,
                person_id=d.person_id,
                kind=d.kind,
                recipient=d.recipient,
                site_id=d.site_id,
                context={"language": d.language},
            )
        )
        added += 1
    for g in plan.group_announcements:
        if g.idempotency_key in existing:
            continue
        session.add(
            Delivery(
                idempotency_key=g.idempotency_key,
                campaign_id=campaign.id,
                kind="announcement_group",
                recipient=str(resources.settings().senders[0]),
                recipients=list(g.recipients),
                site_id=g.site_id,
                context={"language": g.language, "person_ids": list(g.person_ids)},
            )
        )
        added += 1
    if campaign.status == "planned":
        campaign.status, campaign.started_at = "sending", datetime.now(UTC)
    session.flush()
    return added


def send_queued(
    campaign_id: int | None, *, clock: Callable[[], datetime] | None = None,
    progress: Callable[[int], None] | None = None,
) -> OutboxCounts:
    """Plain function behind the send task (tests drive it with an injected clock)."""
    return resources.outbox(clock).send(campaign_id=campaign_id, progress=progress)


@task(name="send-queued-mail", retries=2, retry_delay_seconds=[60, 300], cache_policy=NO_CACHE)
def send_queued_mail(campaign_id: int | None = None) -> dict[str, int]:
    """Send pending deliveries (one campaign's, or all) through the sender pool until the windows close."""
    from tasks.artifacts import RunProgress

    with resources.store().session() as session:
        stmt = select(Delivery.id).where(Delivery.status.in_(("pending", "sending")))
        if campaign_id is not None:
            stmt = stmt.where(Delivery.campaign_id == campaign_id)
        total = len(session.scalars(stmt).all())
    progress = RunProgress(total, "emails sent or settled") if total else None
    counts = send_queued(campaign_id, progress=progress.advance if progress else None)
    return counts.as_dict()


@task(name="check-bounces", retries=2, retry_delay_seconds=[60, 300], cache_policy=NO_CACHE)
def check_bounces(now: datetime) -> dict[str, int]:
    """A 200 from Gmail is not delivery: bounces in the sender mailboxes mark their deliveries failed."""
    seen, marked = resources.outbox().check_bounces(now - timedelta(days=30))
    return {"bounces seen": seen, "deliveries marked bounced": marked}
