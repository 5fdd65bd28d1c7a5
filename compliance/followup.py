"""Follow-up the nightly job plans: reminders, site-administrator digests, the superintendent's escalation,
announcements to people who joined after a campaign started, and photo takedown notices.

Each function reads the store and returns :class:`~compliance.deliveries.PlannedDelivery` values with
deterministic keys; :func:`compliance.deliveries.queue_deliveries` writes them, so a night run twice queues
each message once. Who is due what is decided by :func:`compliance.campaign.due_reminders` and
:func:`compliance.campaign.plan_campaign`; this module adds the store reads and the message contexts.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.campaign import (
    Audience,
    DeliveryRecord,
    OutstandingPerson,
    acknowledged_person_ids,
    announced_person_ids,
    due_reminders,
    email_problem,
    individual_delivery,
    latest_policy_version,
    plan_campaign,
)
from compliance.deliveries import PlannedDelivery, delivery_key
from compliance.greetings import name_for, roster_names, site_admin_title, web_contact_title
from compliance.languages import language_context, message_language
from compliance.mail import template_language
from compliance.mailings import policy_title
from compliance.models import Campaign, Delivery, Finding, Person
from compliance.models import Site as SiteRow
from compliance.roster import normalize_email
from compliance.settings import Settings
from compliance.vocabulary import (
    HIDDEN_VIDEO_REMOVAL,
    TAKEDOWN_KINDS,
    CampaignStatus,
    DeliveryKind,
    EmailTemplate,
    FindingState,
    Platform,
    Verdict,
    hidden_video,
)


def message_context(template: str, recipient_name: str, **variables: Any) -> dict[str, Any]:
    """The stored render context of a group message (digest, escalation, takedown notice, report).

    ``recipient_name`` is the reader's name from the roster ('' when it does not know the address); pass
    ``recipient_title`` (the role the profile gives the address) for the greeting to fall back on.
    """
    return {"template": template, "language": "en", "vars": {"recipient_name": recipient_name, **variables}}


# -- acknowledgement follow-up -------------------------------------------------------------------------------


@dataclass
class AcknowledgementFollowUp:
    """What is due tonight for the newest policy version, by kind (counted apart in the nightly summary)."""

    reminders: list[PlannedDelivery] = field(default_factory=list)
    site_digests: list[PlannedDelivery] = field(default_factory=list)
    escalations: list[PlannedDelivery] = field(default_factory=list)
    outstanding: int = 0  # announced and not yet acknowledged


def plan_acknowledgement_follow_up(session: Session, settings: Settings, now: datetime) -> AcknowledgementFollowUp:
    """Reminders at the cadence's days, each once; weekly digests per site while anyone there is overdue; the
    superintendent's escalation of everyone newly past the threshold (joiners included).

    Reads the newest policy version's campaigns and their ledger; nothing is planned before a campaign exists.
    Paper-only people and those without a usable address are outstanding from the campaign's start (or from
    joining): digests name them, mark them as having no email and carry their pre-filled paper forms.
    Keys hold the planning date, so a night run twice queues each message once.
    """
    planned = AcknowledgementFollowUp()
    version = latest_policy_version(session)
    if version is None:
        return planned
    campaigns = {c.id: c for c in session.scalars(select(Campaign).where(Campaign.policy_version_id == version.id))}
    if not campaigns:
        return planned
    rows = list(session.scalars(select(Delivery).where(Delivery.campaign_id.in_(list(campaigns)))))
    people = {p.id: p for p in session.scalars(select(Person))}
    records = [_record(d) for d in rows]
    acknowledged = acknowledged_person_ids(session, version.id)
    unreachable = _unreachable_since(people.values(), campaigns.values(), acknowledged)
    plan = due_reminders(records, acknowledged, settings.reminders, now, people=people, unreachable=unreachable)
    planned.outstanding = len(plan.outstanding)

    campaign_of = {d.person_id: d.campaign_id for d in rows if d.kind == DeliveryKind.ANNOUNCEMENT}
    for d in rows:  # staff announced by site-group (Bcc) message are reminded one by one
        if d.kind == DeliveryKind.ANNOUNCEMENT_GROUP:
            campaign_of.update({pid: d.campaign_id for pid in (d.context or {}).get("person_ids", ())})
    for due in plan.reminders:
        person = people[due.person_id]
        campaign_id = campaign_of[due.person_id]
        planned.reminders.append(PlannedDelivery(
            idempotency_key=delivery_key(campaign_id, person.person_key, due.kind),
            kind=due.kind,
            recipient=person.email or "",
            campaign_id=campaign_id,
            person_id=person.id,
            site_id=person.site_id,
            # The language the announcement went in: the person's own, else their campaign's.
            context=language_context(message_language(person.preferred_language, campaigns[campaign_id].language),
                                     version.translations),
        ))

    # Digests and escalations belong to the version's first campaign, keyed by the day they were planned.
    campaign_id = min(campaigns)
    deadline = campaigns[campaign_id].plan.get("deadline")
    today = now.astimezone(settings.tz).date().isoformat()
    inline_max = settings.reminders.inline_list_max
    sites = {s.id: s for s in session.scalars(select(SiteRow))}
    # Site administrators and the superintendent's recipients are on the roster too: each reads their own language.
    speaks = {p.email_normalized: p.preferred_language for p in people.values() if p.active and p.email_normalized}
    # ... and are greeted by their name (the roster's), else by their role's title (compliance.greetings).
    names = roster_names(people.values())
    for site_id, outstanding in sorted(plan.site_digests.items()):
        site = sites.get(site_id)
        if site is None:
            continue
        listed = [_listed(o, people) for o in outstanding]
        written = _written_in(EmailTemplate.SITE_ADMIN_DIGEST,
                              message_language(speaks.get(normalize_email(site.site_admin_email) or ""), None))
        context = message_context(
            EmailTemplate.SITE_ADMIN_DIGEST, name_for(site.site_admin_email, names),
            recipient_title=site_admin_title(site.kind, written["language"]),
            site_name=site.name, policy_title=policy_title(version, written["language"]), deadline=deadline,
            people=listed,
            total=len(listed), no_email=sum(1 for p in listed if p["no_email"]),
            inline=len(listed) <= inline_max, as_of=today,
        )
        context.update(written)
        planned.site_digests.append(PlannedDelivery(
            idempotency_key=delivery_key(campaign_id, f"site:{site_id}:{today}", DeliveryKind.SITE_DIGEST),
            kind=DeliveryKind.SITE_DIGEST,
            recipient=site.site_admin_email,
            campaign_id=campaign_id,
            site_id=site_id,
            context={**context, "planned_at": now.isoformat(), "person_ids": [o.person_id for o in outstanding]},
        ))
    if plan.superintendent:
        variables = _escalation_variables(plan.superintendent, sites, people)
        variables["still_overdue"] = len(plan.overdue)
        variables["inline"] = len(plan.superintendent) <= inline_max
        for recipient in settings.superintendent_recipients:
            written = _written_in(EmailTemplate.SUPERINTENDENT_ESCALATION,
                                  message_language(speaks.get(normalize_email(str(recipient)) or ""), None))
            planned.escalations.append(PlannedDelivery(
                idempotency_key=delivery_key(campaign_id, f"superintendent:{recipient}:{today}",
                                             DeliveryKind.SUPERINTENDENT_ESCALATION),
                kind=DeliveryKind.SUPERINTENDENT_ESCALATION,
                recipient=str(recipient),
                campaign_id=campaign_id,
                # Named by the roster; an address it does not know is greeted without a name: the profile says
                # only that this address gets the escalations, not whether it is the superintendent's.
                context={**message_context(
                    EmailTemplate.SUPERINTENDENT_ESCALATION, name_for(str(recipient), names),
                    policy_title=policy_title(version, written["language"]),
                    threshold_days=settings.reminders.superintendent_days, as_of=today, **variables,
                ), **written,
                   "planned_at": now.isoformat(), "person_ids": [o.person_id for o in plan.superintendent]},
            ))
    return planned


def _written_in(template: str, language: str) -> dict[str, str]:
    # The reader's language when the template exists in it; else English, and the ledger row says so.
    written = template_language(template, language)
    return {"language": written, **({"language_fallback": language} if written != language else {})}


def _record(d: Delivery) -> DeliveryRecord:
    context = d.context or {}
    planned_at = context.get("planned_at")
    return DeliveryRecord(
        d.person_id, d.kind, d.sent_at, d.status, d.site_id,
        person_ids=tuple(context.get("person_ids", ())),
        planned_at=datetime.fromisoformat(planned_at) if isinstance(planned_at, str) else None,
    )


def _unreachable_since(
    people: Iterable[Person], campaigns: Iterable[Campaign], acknowledged: Collection[int]
) -> dict[int, datetime]:
    """People in a sending campaign's audience no announcement can reach (paper only, no usable address), with
    when they became due: the earliest such campaign's start, or their joining if later."""
    opened = [
        (c.started_at or c.created_at, Audience(**(c.audience or {})))
        for c in campaigns
        if c.status == CampaignStatus.SENDING
    ]
    if not opened:
        return {}
    since: dict[int, datetime] = {}
    for person in people:
        if not person.active or person.id in acknowledged:
            continue
        if not person.paper_only and email_problem(person.email)[0] is not None:
            continue
        starts = [start for start, audience in opened if audience.includes(person)]
        if starts:
            since[person.id] = max(min(starts), person.first_seen_at or min(starts))
    return since


def _listed(o: OutstandingPerson, people: Mapping[int, Person]) -> dict[str, Any]:
    person = people[o.person_id]
    return {"name": o.name, "category": o.category, "days_outstanding": o.days_outstanding,
            "no_email": o.no_email, "roster_id": person.person_key}


def _escalation_variables(
    overdue: list[OutstandingPerson], sites: dict[str, SiteRow], people: Mapping[int, Person]
) -> dict[str, Any]:
    """The escalation's site table (most outstanding first) and its list of people."""
    by_site: dict[str, list[OutstandingPerson]] = {}
    for o in overdue:
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
        {**_listed(o, people), "site_name": sites[o.site_id].name if o.site_id in sites else ""}
        for o in overdue
    ]
    return {"total_outstanding": len(overdue), "sites": site_rows, "people": listed,
            "no_email": sum(1 for p in listed if p["no_email"])}


# -- joiners -------------------------------------------------------------------------------------------------


def plan_joiner_announcements(session: Session, settings: Settings, now: datetime) -> list[PlannedDelivery]:
    """People who joined the roster after a campaign started get its announcement (individually), once.

    Only campaigns that are ``sending`` for the newest policy version count; whoever the ledger of any of the
    version's campaigns already covers (individually or in a site-group message) is left out, and a joiner
    gets one announcement however many campaigns are sending.
    """
    version = latest_policy_version(session)
    if version is None:
        return []
    campaigns = session.scalars(
        select(Campaign).where(Campaign.policy_version_id == version.id, Campaign.status == CampaignStatus.SENDING)
    ).all()
    people = list(session.scalars(select(Person)))
    by_id = {p.id: p for p in people}
    acknowledged = acknowledged_person_ids(session, version.id)
    planned: list[PlannedDelivery] = []
    # Whoever any campaign of this version announced to is covered: two campaigns never both greet a joiner.
    covered = announced_person_ids(session, version.id)
    for campaign in campaigns:
        audience = Audience(**{**(campaign.audience or {}), "only_outstanding": True})
        plan = plan_campaign([p for p in people if p.id not in covered], acknowledged, audience, version, settings,
                             now, campaign_id=campaign.id, language=campaign.language)  # type: ignore[arg-type]
        planned += [individual_delivery(campaign.id, a) for a in plan.deliveries]
        covered.update(a.person_id for a in plan.deliveries)
        # Joiners are few: they never wait for a site-group message.
        for group in plan.group_announcements:
            for person_id, address in zip(group.person_ids, group.recipients, strict=True):
                person = by_id[person_id]
                planned.append(PlannedDelivery(
                    idempotency_key=delivery_key(campaign.id, person.person_key, DeliveryKind.ANNOUNCEMENT),
                    kind=DeliveryKind.ANNOUNCEMENT,
                    recipient=address,
                    campaign_id=campaign.id,
                    person_id=person_id,
                    site_id=person.site_id,
                    context=language_context(group.language, version.translations),
                ))
            covered.update(group.person_ids)
    return planned


# -- photo takedown notices ----------------------------------------------------------------------------------


@dataclass
class TakedownNotices:
    """Tonight's takedown digests and reminders, and the findings they tell about."""

    digests: list[PlannedDelivery] = field(default_factory=list)
    reminders: list[PlannedDelivery] = field(default_factory=list)
    newly_notified: list[Finding] = field(default_factory=list)
    reminded: list[Finding] = field(default_factory=list)

    def mark(self, now: datetime) -> None:
        """Stamp the findings as notified or reminded, so tomorrow's plan neither repeats nor forgets them."""
        for f in self.newly_notified:
            f.notified_at = now
        for f in self.reminded:
            f.reminded_at = now


def _where(f: Finding) -> dict[str, str]:
    """The platform a finding is on and its own removal path; a video of the school's channel that is unlisted
    or private says so, with the path that fits it."""
    platform = Platform(f.platform or "website")
    hidden = hidden_video(platform, f.evidence)
    if hidden:
        return {"platform_label": f"{platform.label}, {hidden} video", "removal": HIDDEN_VIDEO_REMOVAL[hidden]}
    return {"platform_label": platform.label, "removal": platform.removal_path}


def plan_takedown_notices(session: Session, settings: Settings, now: datetime) -> TakedownNotices:
    """Per site, new violations go to the site administrator and web contact (ids and reasons, no names);
    a reminder follows while they are still online after the configured days. Call :meth:`TakedownNotices.mark`
    once the notices are queued."""
    tz = settings.tz
    today = now.astimezone(tz).date()
    remind_after = timedelta(days=settings.reminders.takedown_reminder_days)
    notices = TakedownNotices()
    sites = {s.id: s for s in session.scalars(select(SiteRow))}
    recipients = {a for s in sites.values() for a in (s.site_admin_email, s.web_contact_email) if a}
    readers = session.scalars(
        select(Person).where(Person.email_normalized.in_(sorted({a.strip().lower() for a in recipients})))
        .order_by(Person.id)
    ).all()
    names = roster_names(readers)
    # Each reader in their own language, like the acknowledgement digests (issue 13).
    speaks = {p.email_normalized: p.preferred_language for p in readers if p.active and p.email_normalized}
    open_violations = session.scalars(
        select(Finding)
        .where(Finding.verdict == Verdict.VIOLATION, Finding.state != FindingState.RESOLVED)
        .order_by(Finding.site_id, Finding.page_url, Finding.image_url, Finding.student_id)
    )
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
        notices.newly_notified += fresh
        notices.reminded += stale
        for kind, batch, out in zip(TAKEDOWN_KINDS, (fresh, stale), (notices.digests, notices.reminders),
                                    strict=True):
            if not batch:
                continue
            first_notified = min((f.notified_at for f in batch if f.notified_at), default=now)
            variables = {
                "site_name": site.name,
                # Ids, kinds and channels only (alt, figcaption, pdf_page_2...): never the evidence text, which
                # quotes the student's name.
                "findings": [
                    {"page_url": f.page_url, "image_url": f.image_url, "student_id": f.student_id, "reason": f.reason,
                     "kind": f.kind or "photo", "channel": f.channel or "", "platform": f.platform or "website",
                     **_where(f)}
                    for f in batch
                ],
                "respond_by": (today + remind_after).isoformat(),
                "first_notified_at": first_notified.astimezone(tz).date().isoformat(),
            }
            key_base = f"{site_id}:{today.isoformat()}:{kind}"
            for recipient in sorted({site.site_admin_email, site.web_contact_email}):
                written = _written_in(kind, message_language(speaks.get(normalize_email(recipient) or ""), None))
                # The principal is greeted as the principal even when also the site's web contact.
                title = (site_admin_title(site.kind, written["language"]) if recipient == site.site_admin_email
                         else web_contact_title(written["language"]))
                out.append(PlannedDelivery(
                    idempotency_key=delivery_key("takedown", f"{key_base}:{recipient}", kind),
                    kind=kind,
                    recipient=recipient,
                    site_id=site_id,
                    context={**message_context(kind, name_for(recipient, names), recipient_title=title, **variables),
                             **written},
                ))
    return notices
