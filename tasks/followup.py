"""Follow-up the nightly job queues in the ledger: reminders, site-administrator digests, the superintendent's
escalation, and photo takedown digests. Queuing is idempotent (deterministic keys); the outbox sends them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.campaign import DeliveryRecord, delivery_key, due_reminders
from compliance.models import Acknowledgement, Campaign, Delivery, Finding, Person, PolicyVersion
from compliance.models import Site as SiteRow
from tasks import resources


def _queue(session: Session, existing: set[str], **fields: Any) -> int:
    if fields["idempotency_key"] in existing:
        return 0
    existing.add(fields["idempotency_key"])
    session.add(Delivery(**fields))
    return 1


def _message_context(template: str, recipient_name: str, **variables: Any) -> dict[str, Any]:
    return {"template": template, "language": "en", "vars": {"recipient_name": recipient_name, **variables}}


@task(name="queue-acknowledgement-follow-up", cache_policy=NO_CACHE)
def queue_follow_up(now: datetime) -> dict[str, int]:
    """Reminders at the cadence's days, each once; a digest per site admin; the superintendent's list after."""
    settings = resources.settings()
    counts = {"reminders": 0, "site digests": 0, "superintendent escalations": 0, "outstanding": 0}
    with resources.store().session() as session:
        version = session.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc())).first()
        if version is None:
            return counts
        campaigns = {c.id: c for c in session.scalars(select(Campaign).where(Campaign.policy_version_id == version.id))}
        if not campaigns:
            return counts
        rows = list(session.scalars(select(Delivery).where(Delivery.campaign_id.in_(list(campaigns)))))
        existing = {d.idempotency_key for d in rows}
        people = {p.id: p for p in session.scalars(select(Person))}
        acknowledged = set(
            session.scalars(select(Acknowledgement.person_id).where(Acknowledgement.policy_version_id == version.id))
        )
        records = [
            DeliveryRecord(
                d.person_id,
                d.kind,
                d.sent_at,
                d.status,
                d.site_id,
                person_ids=tuple((d.context or {}).get("person_ids", ())),
            )
            for d in rows
        ]
        plan = due_reminders(records, acknowledged, settings.reminders, now, people=people)
        counts["outstanding"] = len(plan.outstanding)
        campaign_of = {d.person_id: d.campaign_id for d in rows if d.kind == "announcement"}
        for d in rows:  # staff announced by site-group (Bcc) message are reminded one by one
            if d.kind == "announcement_group":
                campaign_of.update({pid: d.campaign_id for pid in (d.context or {}).get("person_ids", ())})
        for due in plan.reminders:
            person = people[due.person_id]
            campaign_id = campaign_of[due.person_id]
            counts["reminders"] += _queue(
                session,
                existing,
                idempotency_key=delivery_key(campaign_id, person.person_key, due.kind),
                campaign_id=campaign_id,
                person_id=person.id,
                kind=due.kind,
                recipient=person.email,
                site_id=person.site_id,
                context={"language": person.preferred_language or "en"},
            )
        campaign_id = min(campaigns)
        deadline = campaigns[campaign_id].plan.get("deadline")
        sites = {s.id: s for s in session.scalars(select(SiteRow))}
        for site_id, outstanding in sorted(plan.site_digests.items()):
            site = sites.get(site_id)
            if site is None:
                continue
            listed = [
                {"name": o.name, "category": o.category, "days_outstanding": o.days_outstanding} for o in outstanding
            ]
            counts["site digests"] += _queue(
                session,
                existing,
                idempotency_key=delivery_key(campaign_id, f"site:{site_id}", "site_digest"),
                campaign_id=campaign_id,
                kind="site_digest",
                recipient=site.site_admin_email,
                site_id=site_id,
                context=_message_context(
                    "site_admin_digest",
                    f"{site.name} administrator",
                    site_name=site.name,
                    policy_title=version.title,
                    deadline=deadline,
                    people=listed,
                ),
            )
        if plan.superintendent:
            by_site: dict[str, list[Any]] = {}
            for o in plan.superintendent:
                by_site.setdefault(o.site_id or "", []).append(o)
            site_rows = [
                {
                    "site_name": sites[s].name if s in sites else s,
                    "outstanding": len(v),
                    "oldest_days": max(o.days_outstanding for o in v),
                }
                for s, v in sorted(by_site.items(), key=lambda kv: -len(kv[1]))
            ]
            listed = [
                {
                    "name": o.name,
                    "site_name": sites[o.site_id].name if o.site_id in sites else "",
                    "category": o.category,
                    "days_outstanding": o.days_outstanding,
                }
                for o in plan.superintendent
            ]
            for recipient in settings.superintendent_recipients:
                counts["superintendent escalations"] += _queue(
                    session,
                    existing,
                    idempotency_key=delivery_key(
                        campaign_id, f"superintendent:{recipient}", "superintendent_escalation"
                    ),
                    campaign_id=campaign_id,
                    kind="superintendent_escalation",
                    recipient=str(recipient),
                    context=_message_context(
                        "superintendent_escalation",
                        "Superintendent",
                        policy_title=version.title,
                        threshold_days=settings.reminders.superintendent_days,
                        total_outstanding=len(plan.superintendent),
                        sites=site_rows,
                        people=listed,
                    ),
                )
    return counts


@task(name="queue-takedown-digests", cache_policy=NO_CACHE)
def queue_takedown_digests(now: datetime) -> dict[str, int]:
    """Per site, new violations go to the site administrator and web contact (ids and reasons, no names);
    a reminder follows while they are still online after the configured days."""
    settings = resources.settings()
    tz = settings.tz
    today = now.astimezone(tz).date()
    counts = {"takedown digests": 0, "takedown reminders": 0}
    remind_after = timedelta(days=settings.reminders.takedown_reminder_days)
    with resources.store().session() as session:
        sites = {s.id: s for s in session.scalars(select(SiteRow))}
        open_violations = list(
            session.scalars(
                select(Finding)
                .where(Finding.verdict == "violation", Finding.state != "resolved")
                .order_by(Finding.site_id, Finding.page_url, Finding.image_url, Finding.student_id)
            )
        )
        existing = set(session.scalars(select(Delivery.idempotency_key).where(Delivery.kind.like("takedown%"))))
        by_site: dict[str, list[Finding]] = {}
        for f in open_violations:
            by_site.setdefault(f.site_id or "", []).append(f)
        for site_id, findings in sorted(by_site.items()):
            site = sites.get(site_id)
            if site is None:
                continue
            fresh = [f for f in findings if f.notified_at is None]
            stale = [
                f
                for f in findings
                if f.notified_at is not None and f.reminded_at is None and now - f.notified_at >= remind_after
            ]
            for kind, batch in (("takedown_digest", fresh), ("takedown_reminder", stale)):
                if not batch:
                    continue
                listed = [
                    {"page_url": f.page_url, "image_url": f.image_url, "student_id": f.student_id, "reason": f.reason}
                    for f in batch
                ]
                first_notified = min((f.notified_at for f in batch if f.notified_at), default=now)
                variables = {
                    "site_name": site.name,
                    "findings": listed,
                    "respond_by": (today + remind_after).isoformat(),
                    "first_notified_at": first_notified.astimezone(tz).date().isoformat(),
                }
                key_base = f"{site_id}:{today.isoformat()}:{kind}"
                for recipient in sorted({site.site_admin_email, site.web_contact_email}):
                    queued = _queue(
                        session,
                        existing,
                        idempotency_key=delivery_key("takedown", f"{key_base}:{recipient}", kind),
                        kind=kind,
                        recipient=recipient,
                        site_id=site_id,
                        context=_message_context(kind, f"{site.name} web team", **variables),
                    )
                    counts["takedown digests" if kind == "takedown_digest" else "takedown reminders"] += queued
                for f in batch:
                    if kind == "takedown_digest":
                        f.notified_at = now
                    else:
                        f.reminded_at = now
    return counts


@task(name="announce-to-joiners", cache_policy=NO_CACHE)
def announce_to_joiners(now: datetime) -> dict[str, int]:
    """People who joined the roster after a campaign started get its announcement (individually), once."""
    from compliance.campaign import Audience, plan_campaign

    settings = resources.settings()
    queued = 0
    with resources.store().session() as session:
        version = session.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc())).first()
        if version is None:
            return {"joiners announced": 0}
        campaigns = session.scalars(
            select(Campaign).where(Campaign.policy_version_id == version.id, Campaign.status == "sending")
        ).all()
        people = list(session.scalars(select(Person)))
        acknowledged = set(
            session.scalars(select(Acknowledgement.person_id).where(Acknowledgement.policy_version_id == version.id))
        )
        for campaign in campaigns:
            rows = session.scalars(select(Delivery).where(Delivery.campaign_id == campaign.id)).all()
            covered = {d.person_id for d in rows if d.person_id is not None}
            for d in rows:
                covered.update((d.context or {}).get("person_ids", ()))
            existing = {d.idempotency_key for d in rows}
            audience = Audience(**{**(campaign.audience or {}), "only_outstanding": True})
            plan = plan_campaign(
                [p for p in people if p.id not in covered],
                acknowledged,
                audience,
                version,
                settings,
                now,
                campaign_id=campaign.id,
                language=campaign.language,
            )
            for d in plan.deliveries:
                queued += _queue(
                    session,
                    existing,
                    idempotency_key=d.idempotency_key,
                    campaign_id=campaign.id,
                    person_id=d.person_id,
                    kind=d.kind,
                    recipient=d.recipient,
                    site_id=d.site_id,
                    context={"language": d.language},
                )
            # Joiners are few: they never wait for a site-group message.
            for group in plan.group_announcements:
                for person_id in group.person_ids:
                    person = next(p for p in people if p.id == person_id)
                    key = delivery_key(campaign.id, person.person_key, "announcement")
                    queued += _queue(
                        session,
                        existing,
                        idempotency_key=key,
                        campaign_id=campaign.id,
                        person_id=person_id,
                        kind="announcement",
                        recipient=person.email,
                        site_id=person.site_id,
                        context={"language": group.language},
                    )
    return {"joiners announced": queued}
