"""Campaign planning for policy acknowledgements: who gets what, when, from which sender (plain functions).

Nothing here sends mail or calls Google. :func:`plan_campaign` turns the roster into announcements (and the
people it cannot email, with the reason), counts and the quota math; :func:`due_reminders` decides which
reminder, site-administrator digest (weekly while anyone is overdue) and superintendent escalation (each
person once) is due. The functions at the end
tie planning to the store: open a campaign, plan it from the roster, turn the plan into
:class:`~compliance.deliveries.PlannedDelivery` values and render the dry run's sample with the message factory
that really sends. Sending itself is :mod:`compliance.outbox`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.artifact_text import dry_run_name
from compliance.deliveries import PlannedDelivery, delivery_key
from compliance.languages import message_language, policy_language
from compliance.mail import HeaderInjection, check_address, check_header_value
from compliance.mailings import MessageFactory
from compliance.models import Acknowledgement, Campaign, Delivery, Person, PolicyVersion
from compliance.policy import VersionProbe
from compliance.quarantine import Rejected
from compliance.settings import Reminders, Settings
from compliance.vocabulary import (
    CampaignStatus,
    DeliveryKind,
    DeliveryStatus,
    Language,
    PersonCategory,
    PersonKind,
    reminder_kind,
    reminder_number,
)

SkipReason = Literal[
    "leaver", "already_acknowledged", "already_announced", "paper_only", "no_valid_email", "unsafe_name"
]
# Gmail's other per-sender daily limit: 3,000 unique recipients (2,000 external). Bcc'd site-group messages
# hit it long before the 2,000-message limit, so group planning must count recipients too.
UNIQUE_RECIPIENTS_PER_SENDER_DAY = 3000


class PersonLike(Protocol):
    """What planning reads from a person (``compliance.models.Person`` rows fit)."""

    id: int
    person_key: str
    kind: str
    category: str
    given_name: str
    family_name: str
    email: str | None
    site_id: str | None
    paper_only: bool
    active: bool
    has_district_account: bool
    preferred_language: str


class PolicyVersionLike(Protocol):
    id: int | None  # None: the version a dry run plans against does not exist yet


class Audience(BaseModel):
    """Who a campaign is for. ``scope`` picks the filter; ``only_outstanding`` leaves out who already signed."""

    scope: Literal["everyone", "sites", "categories"] = Field(
        "everyone", description="everyone, only the listed sites, or only the listed categories"
    )
    site_ids: list[str] = Field(default_factory=list, description="Sites to include (scope = sites)")
    categories: list[PersonCategory] = Field(
        default_factory=list, description="Person categories to include (scope = categories)"
    )
    only_outstanding: bool = Field(True, description="Skip people who already acknowledged this policy version")

    @model_validator(mode="after")
    def _consistent(self) -> Audience:
        if self.scope == "sites" and not self.site_ids:
            raise ValueError("scope 'sites' needs at least one site id")
        if self.scope == "categories" and not self.categories:
            raise ValueError("scope 'categories' needs at least one category")
        if self.scope != "sites" and self.site_ids:
            raise ValueError("site_ids given but scope is not 'sites'")
        if self.scope != "categories" and self.categories:
            raise ValueError("categories given but scope is not 'categories'")
        return self

    def includes(self, person: PersonLike) -> bool:
        if self.scope == "sites":
            return person.site_id in self.site_ids
        if self.scope == "categories":
            return person.category in self.categories
        return True


class CampaignParameters(BaseModel):
    """Parameters of a policy-distribution run (the form the Prefect UI shows)."""

    name: str | None = Field(None, description="Campaign name; default: policy version and date")
    audience: Audience = Field(default_factory=Audience)
    policy_version_id: int | None = Field(None, description="Policy version to announce; default: the newest")
    language: Language = Field("en", description="Default message language (a person's own preference wins)")
    deadline_days: int = Field(21, ge=1, le=120, description="Days people have to acknowledge")
    dry_run: bool = Field(True, description="Plan and report only; send nothing (untick to send)")
    policy_revision: Literal["material", "editorial"] | None = Field(
        None,
        description="When the policy text changed since the last version: material (everyone acknowledges "
        "again) or editorial (nobody does); recorded with decided_by",
    )
    decided_by: str | None = Field(None, description="Who decided policy_revision (name or email)")
    resend_announced: bool = Field(
        False,
        description="Announce again to people another campaign already announced this policy version to "
        "(the plan says how many); off, they are skipped as already announced",
    )


@dataclass(frozen=True, slots=True)
class PlannedAnnouncement:
    """One person's own announcement (community members sign with a personal link, so it is theirs alone)."""

    idempotency_key: str
    person_id: int
    person_key: str
    kind: str
    recipient: str
    recipient_name: str
    language: str
    site_id: str | None
    category: str
    policy_language: str = "en"  # the policy text linked: the message's language, or English when untranslated


@dataclass(frozen=True, slots=True)
class GroupAnnouncement:
    """One announcement to a chunk of a site's staff (Bcc), who sign the staff form with their own account."""

    idempotency_key: str
    site_id: str | None
    language: str
    recipients: tuple[str, ...]
    person_ids: tuple[int, ...]
    policy_language: str = "en"


@dataclass(frozen=True, slots=True)
class Skipped:
    person_id: int
    person_key: str
    site_id: str | None
    category: str
    reason: SkipReason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class QuotaEstimate:
    """How long the sender pool needs: messages per day is the binding limit, per-minute pacing the other."""

    messages: int
    recipients: int
    senders: int
    messages_per_day: int
    unique_recipients_per_day: int
    per_minute: int
    days: int
    sending_minutes: int


@dataclass
class CampaignPlan:
    campaign_id: int | str
    policy_version_id: int | None
    deliveries: list[PlannedAnnouncement]
    group_announcements: list[GroupAnnouncement]
    skipped: list[Skipped]
    staff_channel: Literal["individual", "site_group"]
    staff_channel_reason: str
    quota: QuotaEstimate
    individual_quota: QuotaEstimate
    counts_by_site: dict[str, int] = field(default_factory=dict)
    counts_by_category: dict[str, int] = field(default_factory=dict)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)
    resent: int = 0  # people announced again although another campaign already announced this version

    @property
    def print_list(self) -> list[Skipped]:
        """People to hand a paper copy: paper-only, and those without a usable email address."""
        return [s for s in self.skipped if s.reason in ("paper_only", "no_valid_email")]

    @property
    def header_unsafe(self) -> list[Skipped]:
        """People whose name could inject a mail header: quarantine these rows."""
        return [s for s in self.skipped if s.reason == "unsafe_name"]

    def summary(self) -> dict[str, Any]:
        """Counts only (no names, no addresses): safe for logs, artifacts and ``Campaign.plan``."""
        return {
            "campaign_id": self.campaign_id,
            "policy_version_id": self.policy_version_id,
            "individual_messages": len(self.deliveries),
            "group_messages": len(self.group_announcements),
            "people_reached": len(self.deliveries) + sum(len(g.person_ids) for g in self.group_announcements),
            "skipped": self.skipped_by_reason,
            "resent": self.resent,
            "print_list": len(self.print_list),
            "by_site": self.counts_by_site,
            "by_category": self.counts_by_category,
            "staff_channel": self.staff_channel,
            "staff_channel_reason": self.staff_channel_reason,
            "quota": _as_dict(self.quota),
        }


def _as_dict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def estimate_quota(
    messages: int, recipients: int, senders: int, daily_per_sender: int, per_minute_per_sender: int,
    unique_recipients_per_sender: int = UNIQUE_RECIPIENTS_PER_SENDER_DAY,
) -> QuotaEstimate:
    """Days and sending minutes ``messages`` (to ``recipients`` people) need from ``senders`` mailboxes."""
    if senders < 1 or daily_per_sender < 1 or per_minute_per_sender < 1:
        raise ValueError("need at least one sender and positive limits")
    per_day = senders * daily_per_sender
    unique_per_day = senders * unique_recipients_per_sender
    per_minute = senders * per_minute_per_sender
    days = max(math.ceil(messages / per_day), math.ceil(recipients / unique_per_day)) if messages else 0
    return QuotaEstimate(messages, recipients, senders, per_day, unique_per_day, per_minute, days,
                         math.ceil(messages / per_minute))


def email_problem(email: str | None) -> tuple[str | None, str]:
    """The normalised address, or None and why it cannot be used."""
    if not email or not email.strip():
        return None, "no email address"
    try:
        normalized = validate_email(email.strip(), check_deliverability=False).normalized
        check_address("To", normalized)
    except EmailNotValidError as exc:
        return None, f"invalid email address: {exc}"
    except HeaderInjection:
        return None, "email address holds characters not allowed in a header"
    return normalized, ""


def plan_campaign(
    people: Iterable[PersonLike],
    acknowledged_person_ids: Collection[int],
    audience: Audience,
    policy_version: PolicyVersionLike,
    settings: Settings,
    now: datetime,
    *,
    campaign_id: int | str,
    language: Language = "en",
    announced_person_ids: Collection[int] = (),
    resend_announced: bool = False,
) -> CampaignPlan:
    """Plan the announcement of ``policy_version`` to ``audience``.

    Each selected person becomes a delivery or a :class:`Skipped` with its reason (leaver, already
    acknowledged, already announced this version by another campaign, paper only, no valid email,
    header-unsafe name); nobody is dropped silently. ``resend_announced`` announces again to the people in
    ``announced_person_ids`` (central office's explicit choice; the plan counts them in ``resent``). Staff with a
    district account get site-group (Bcc) announcements instead of one message each when that finishes in
    fewer days; the plan says which and why. ``now`` is accepted so plans are reproducible in tests.
    """
    if now.tzinfo is None:
        raise ValueError("aware datetime required")
    acknowledged = set(acknowledged_person_ids)
    announced = set(announced_person_ids)
    resent = 0
    selected: list[tuple[PersonLike, str, str]] = []
    skipped: list[Skipped] = []

    def skip(person: PersonLike, reason: SkipReason, detail: str = "") -> None:
        skipped.append(Skipped(person.id, person.person_key, person.site_id, person.category, reason, detail))

    for person in people:
        if not audience.includes(person):
            continue
        if not person.active or getattr(person, "left_at", None) is not None:
            skip(person, "leaver")
            continue
        if audience.only_outstanding and person.id in acknowledged:
            skip(person, "already_acknowledged")
            continue
        if person.id in announced and not resend_announced:
            skip(person, "already_announced")
            continue
        if person.paper_only:
            skip(person, "paper_only")
            continue
        address, problem = email_problem(person.email)
        if address is None:
            skip(person, "no_valid_email", problem)
            continue
        name = f"{person.given_name} {person.family_name}".strip()
        try:
            check_header_value("To", name)
        except HeaderInjection as exc:
            skip(person, "unsafe_name", str(exc))
            continue
        selected.append((person, address, name))
        resent += person.id in announced

    def lang(person: PersonLike) -> str:
        # A person's recorded preference wins over the campaign default ("": no source said one).
        return message_language(person.preferred_language, language)

    translations = getattr(policy_version, "translations", None) or {}

    quotas = settings.quotas
    unique_limit = quotas.gmail_unique_recipients_per_day
    senders = len(settings.senders)
    staff = [t for t in selected if t[0].kind == PersonKind.EMPLOYEE and t[0].has_district_account]
    others = [t for t in selected if not (t[0].kind == PersonKind.EMPLOYEE and t[0].has_district_account)]

    by_site_lang: dict[tuple[str | None, str], list[tuple[PersonLike, str, str]]] = defaultdict(list)
    for t in staff:
        by_site_lang[(t[0].site_id, lang(t[0]))].append(t)
    # Gmail counts To, Cc and Bcc together, and a site-group message is addressed To the sender itself.
    chunk = quotas.gmail_recipients_per_message - 1
    group_messages = sum(math.ceil(len(v) / chunk) for v in by_site_lang.values())

    individual = estimate_quota(len(selected), len(selected), senders, quotas.gmail_daily_per_sender,
                                quotas.gmail_sends_per_minute, unique_limit)
    grouped = estimate_quota(len(others) + group_messages, len(selected), senders, quotas.gmail_daily_per_sender,
                             quotas.gmail_sends_per_minute, unique_limit)
    pool = f"{senders} sender{'s' if senders != 1 else ''} x {quotas.gmail_daily_per_sender:,}/day"
    if staff and grouped.days < individual.days:
        channel: Literal["individual", "site_group"] = "site_group"
        reason = (
            f"site-group announcements for {len(staff):,} staff ({group_messages:,} messages of up to {chunk} "
            f"Bcc recipients) finish in {grouped.days} days instead of {individual.days} with {pool}; staff sign "
            "the staff form with their district account, so they need no personal link"
        )
    else:
        channel = "individual"
        reason = (
            f"one message per person: {individual.messages:,} messages take {individual.days} "
            f"day{'s' if individual.days != 1 else ''} with {pool}"
            + (", no faster with site-group messages" if staff else "")
            + "; per-person messages keep bounce matching and reminders per person"
        )

    deliveries: list[PlannedAnnouncement] = []
    groups: list[GroupAnnouncement] = []
    for person, address, name in others if channel == "site_group" else selected:
        deliveries.append(PlannedAnnouncement(
            delivery_key(campaign_id, person.person_key, DeliveryKind.ANNOUNCEMENT), person.id, person.person_key,
            DeliveryKind.ANNOUNCEMENT, address, name, lang(person), person.site_id, person.category,
            policy_language(translations, lang(person)),
        ))
    if channel == "site_group":
        for (site_id, group_lang), members in sorted(by_site_lang.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
            for start in range(0, len(members), chunk):
                part = members[start : start + chunk]
                groups.append(GroupAnnouncement(
                    delivery_key(campaign_id, f"site:{site_id}:{group_lang}:{start // chunk}",
                                 DeliveryKind.ANNOUNCEMENT_GROUP),
                    site_id, group_lang, tuple(a for _, a, _ in part), tuple(p.id for p, _, _ in part),
                    policy_language(translations, group_lang),
                ))

    reached = [p for p, _, _ in selected]
    return CampaignPlan(
        campaign_id=campaign_id,
        policy_version_id=policy_version.id,
        deliveries=deliveries,
        group_announcements=groups,
        skipped=skipped,
        staff_channel=channel,
        staff_channel_reason=reason,
        quota=grouped if channel == "site_group" else individual,
        individual_quota=individual,
        counts_by_site=dict(sorted(Counter(p.site_id or "(none)" for p in reached).items())),
        counts_by_category=dict(sorted(Counter(p.category for p in reached).items())),
        skipped_by_reason=dict(sorted(Counter(s.reason for s in skipped).items())),
        resent=resent,
    )


# -- reminders and escalation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A message already planned or sent: ``person_id`` None for site digests, escalations and group mail.

    A site-group announcement (kind ``announcement_group``) announces to each of its ``person_ids``; an
    escalation's ``person_ids`` are the people it reported. ``planned_at`` is when a digest or escalation was
    planned (its cadence counts from then, sent or not).
    """

    person_id: int | None
    kind: str  # a DeliveryKind or reminder_<n>
    sent_at: datetime | None
    status: str = DeliveryStatus.SENT
    site_id: str | None = None
    person_ids: tuple[int, ...] = ()
    planned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class DueReminder:
    person_id: int
    number: int
    kind: str
    days_since_announcement: int


@dataclass(frozen=True, slots=True)
class OutstandingPerson:
    person_id: int
    name: str
    site_id: str | None
    category: str
    days_outstanding: int
    no_email: bool = False  # paper only, or no usable address: only the site administrator can reach them


@dataclass
class FollowUpPlan:
    reminders: list[DueReminder]
    site_digests: dict[str, list[OutstandingPerson]]  # due digests only, by site
    superintendent: list[OutstandingPerson]  # the people newly past the threshold, when an escalation is due
    outstanding: list[OutstandingPerson]  # everyone announced (or unreachable) and not yet acknowledged
    overdue: list[OutstandingPerson] = field(default_factory=list)  # everyone past the threshold, escalated or not


# A nightly run starts a little earlier or later each day: a cadence of n days is due from n days less this.
CADENCE_SLACK = timedelta(hours=12)


def _cadence_due(last: datetime | None, now: datetime, every_days: int) -> bool:
    return last is None or now - last >= timedelta(days=every_days) - CADENCE_SLACK


def due_reminders(
    deliveries: Iterable[DeliveryRecord],
    acknowledgements: Collection[int],
    cadence: Reminders,
    now: datetime,
    *,
    people: Mapping[int, PersonLike],
    unreachable: Mapping[int, datetime] | None = None,
) -> FollowUpPlan:
    """What follow-up is due at ``now``.

    A person gets reminder n when ``cadence.reminder_days[n-1]`` days have passed since their announcement,
    they have not acknowledged, they are still active (in ``people`` and ``active``), their announcement did not
    bounce, and no reminder n or later exists for them (a run missed for a week sends the latest reminder
    only). ``unreachable`` maps the people no announcement can reach (paper only, no usable email) to when
    they became due (campaign start, or joining later): they get no reminder but count as outstanding from then.

    While anyone at a site is ``site_admin_digest_days`` outstanding, its administrator gets a digest of all
    of them every ``site_digest_every_days``. The superintendent gets everyone who crossed
    ``superintendent_days`` and was not reported yet (joiners cross all year), at most every
    ``superintendent_every_days``; each person is reported once.
    """
    announced: dict[int, datetime] = {}
    bounced: set[int] = set()
    reminded: dict[int, int] = defaultdict(int)
    last_digest: dict[str, datetime] = {}
    last_escalation: datetime | None = None
    escalated: set[int] = set()
    unnamed_escalations: list[datetime] = []
    for d in deliveries:
        if d.kind in (DeliveryKind.ANNOUNCEMENT, DeliveryKind.ANNOUNCEMENT_GROUP):
            for person_id in (d.person_id,) if d.kind == DeliveryKind.ANNOUNCEMENT else d.person_ids:
                if person_id is None:
                    continue
                if d.status == DeliveryStatus.BOUNCED:
                    bounced.add(person_id)
                if d.sent_at is not None and d.status in (DeliveryStatus.SENT, DeliveryStatus.BOUNCED):
                    first = announced.get(person_id)
                    announced[person_id] = d.sent_at if first is None else min(first, d.sent_at)
        elif (number := reminder_number(d.kind)) is not None and d.person_id is not None:
            reminded[d.person_id] = max(reminded[d.person_id], number)
        elif d.kind == DeliveryKind.SITE_DIGEST:
            at = d.planned_at or d.sent_at or now  # a row of unknown date counts as just planned
            last_digest[d.site_id or ""] = max(at, last_digest.get(d.site_id or "", at))
        elif d.kind == DeliveryKind.SUPERINTENDENT_ESCALATION:
            at = d.planned_at or d.sent_at or now
            last_escalation = at if last_escalation is None else max(at, last_escalation)
            escalated.update(d.person_ids)
            if not d.person_ids:  # a row from before escalations named their people: it covered everyone due
                unnamed_escalations.append(at)

    acknowledged = set(acknowledgements)
    reminders: list[DueReminder] = []
    outstanding: list[OutstandingPerson] = []

    def still_due(person_id: int) -> PersonLike | None:
        person = people.get(person_id)
        if person_id in acknowledged or person is None or not person.active:
            return None
        return person

    for person_id, sent_at in sorted(announced.items()):
        if (person := still_due(person_id)) is None:
            continue
        days = (now - sent_at).days
        outstanding.append(OutstandingPerson(person_id, f"{person.given_name} {person.family_name}".strip(),
                                             person.site_id, person.category, days))
        if person_id in bounced:
            continue
        number = sum(1 for d in cadence.reminder_days if days >= d)
        if number and number > reminded[person_id]:
            reminders.append(DueReminder(person_id, number, reminder_kind(number), days))
    for person_id, since in sorted((unreachable or {}).items()):
        if person_id in announced or (person := still_due(person_id)) is None:
            continue
        outstanding.append(OutstandingPerson(person_id, f"{person.given_name} {person.family_name}".strip(),
                                             person.site_id, person.category, max((now - since).days, 0),
                                             no_email=True))

    overdue_at_site: dict[str, list[OutstandingPerson]] = defaultdict(list)
    for o in outstanding:
        if o.days_outstanding >= cadence.site_admin_digest_days:
            overdue_at_site[o.site_id or ""].append(o)
    digests = {
        site_id: listed
        for site_id, listed in overdue_at_site.items()
        if _cadence_due(last_digest.get(site_id), now, cadence.site_digest_every_days)
    }
    overdue = [o for o in outstanding if o.days_outstanding >= cadence.superintendent_days]
    threshold = timedelta(days=cadence.superintendent_days)
    since = {**(unreachable or {}), **announced}
    newly = [
        o for o in overdue
        if o.person_id not in escalated and not any(at >= since[o.person_id] + threshold for at in unnamed_escalations)
    ]
    escalate = bool(newly) and _cadence_due(last_escalation, now, cadence.superintendent_every_days)
    return FollowUpPlan(
        reminders=reminders,
        site_digests=digests,
        superintendent=newly if escalate else [],
        outstanding=outstanding,
        overdue=overdue,
    )


# -- campaigns in the store ----------------------------------------------------------------------------------

DRAFT_CAMPAIGN = "dry-run"  # the campaign id in a dry run's idempotency keys (it has no row)
DRAFT_ID = -1  # what a dry run's sample calls its draft campaign and version (never a row id)

# Plain rows of the columns planning reads, not Person objects: at LAUSD scale (175,000 people) building ORM
# instances (identity map, JSON columns) took about half of the dry run's database time.
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


def latest_policy_version(session: Session) -> PolicyVersion | None:
    """The newest policy version: the one campaigns, reminders and joiner announcements are about."""
    return session.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc())).first()


def acknowledged_person_ids(session: Session, policy_version_id: int) -> set[int]:
    """People who signed ``policy_version_id`` (they get no announcement or reminder for it)."""
    return set(
        session.scalars(select(Acknowledgement.person_id).where(Acknowledgement.policy_version_id == policy_version_id))
    )


def announced_person_ids(
    session: Session, policy_version_id: int, *, except_campaign_id: int | None = None
) -> set[int]:
    """People an announcement of ``policy_version_id`` is queued or went out to (individually or in a
    site-group message), in any campaign but ``except_campaign_id``. A failed send never reached anyone, so it
    does not count; a bounce did reach the address the roster holds, and another campaign would bounce too."""
    stmt = (
        select(Delivery.person_id, Delivery.kind, Delivery.context)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(
            Campaign.policy_version_id == policy_version_id,
            Delivery.kind.in_((DeliveryKind.ANNOUNCEMENT, DeliveryKind.ANNOUNCEMENT_GROUP)),
            Delivery.status != DeliveryStatus.FAILED,
        )
    )
    if except_campaign_id is not None:
        stmt = stmt.where(Delivery.campaign_id != except_campaign_id)
    found: set[int] = set()
    for person_id, kind, context in session.execute(stmt):
        if kind == DeliveryKind.ANNOUNCEMENT and person_id is not None:
            found.add(person_id)
        elif kind == DeliveryKind.ANNOUNCEMENT_GROUP:
            found.update((context or {}).get("person_ids", ()))
    return found


def campaign_name(params: CampaignParameters, version: PolicyVersion, now: datetime, settings: Settings) -> str:
    """The given name, or policy title and local date; a dry run's name says it is one ("DRY RUN — ...", never
    stored, so it needs no timestamp to be unique)."""
    name = params.name or f"{version.title} ({now.astimezone(settings.tz):%Y-%m-%d})"
    return dry_run_name(name) if params.dry_run else name


def open_campaign(
    session: Session, params: CampaignParameters, version: PolicyVersion, settings: Settings, now: datetime
) -> Campaign:
    """The campaign of that name, created (``planned``) when it does not exist yet; for a dry run, a draft.

    Re-running a real campaign finds its row, so its deliveries are found by key and nothing is queued twice.
    A dry run's draft (status ``dry_run``, no id) is never added to the session: a dry run leaves the store as
    it found it, so the next report's figures are what they were.
    """
    name = campaign_name(params, version, now, settings)
    if params.dry_run:
        return Campaign(name=name, policy_version_id=version.id, audience=params.audience.model_dump(mode="json"),
                        language=params.language, status=CampaignStatus.DRY_RUN, plan={}, created_at=now)
    campaign = session.scalar(select(Campaign).where(Campaign.name == name))
    if campaign is None:
        campaign = Campaign(
            name=name,
            policy_version_id=version.id,
            audience=params.audience.model_dump(mode="json"),
            language=params.language,
            status=CampaignStatus.DRY_RUN if params.dry_run else CampaignStatus.PLANNED,
            created_at=now,
        )
        session.add(campaign)
        session.flush()
    return campaign


def plan_stored_campaign(
    session: Session,
    campaign: Campaign,
    params: CampaignParameters,
    version: PolicyVersion,
    settings: Settings,
    now: datetime,
) -> CampaignPlan:
    """Plan ``campaign`` from the roster in the store and record the plan (counts only) and deadline on it.

    ``version`` may be a draft (no id: the version a dry run plans against does not exist yet); then nobody
    has signed or been announced it.
    """
    known = version.id is not None
    plan = plan_campaign(
        session.execute(select(*_PLANNING_COLUMNS)).all(),  # type: ignore[arg-type]
        acknowledged_person_ids(session, version.id) if known else set(),
        params.audience,
        version,
        settings,
        now,
        campaign_id=campaign.id if campaign.id is not None else DRAFT_CAMPAIGN,
        language=params.language,
        announced_person_ids=announced_person_ids(session, version.id, except_campaign_id=campaign.id)
        if known else set(),
        resend_announced=params.resend_announced,
    )
    deadline = (now.astimezone(settings.tz) + timedelta(days=params.deadline_days)).date().isoformat()
    campaign.plan = {**plan.summary(), "deadline": deadline, "campaign_name": campaign.name}
    return plan


def individual_delivery(campaign_id: int, announcement: PlannedAnnouncement) -> PlannedDelivery:
    """A person's own announcement as a ledger entry: rendered from person and campaign at send time."""
    return PlannedDelivery(
        idempotency_key=announcement.idempotency_key,
        kind=announcement.kind,
        recipient=announcement.recipient,
        campaign_id=campaign_id,
        person_id=announcement.person_id,
        site_id=announcement.site_id,
        context=_languages(announcement.language, announcement.policy_language),
    )


def _languages(language: str, text_language: str) -> dict[str, str]:
    # The ledger row says which language the message went in, and the policy's when it fell back to English.
    return {"language": language, **({"policy_language": text_language} if text_language != language else {})}


def announcement_deliveries(plan: CampaignPlan, campaign_id: int, group_sender: str) -> list[PlannedDelivery]:
    """Every announcement of ``plan`` as ledger entries; a site-group message is addressed to ``group_sender``
    (its people are in Bcc) and remembers whom it announced to, so reminders start each member's clock."""
    planned = [individual_delivery(campaign_id, a) for a in plan.deliveries]
    planned += [
        PlannedDelivery(
            idempotency_key=g.idempotency_key,
            kind=DeliveryKind.ANNOUNCEMENT_GROUP,
            recipient=group_sender,
            campaign_id=campaign_id,
            site_id=g.site_id,
            recipients=g.recipients,
            context={**_languages(g.language, g.policy_language), "person_ids": list(g.person_ids)},
        )
        for g in plan.group_announcements
    ]
    return planned


def start_sending(campaign: Campaign, now: datetime) -> None:
    """A planned campaign whose deliveries are queued is ``sending``: joiners are announced to from now on
    (``now``: the run's clock, which also dates when paper-only people became due)."""
    if campaign.status == CampaignStatus.PLANNED:
        campaign.status, campaign.started_at = CampaignStatus.SENDING, now


def draft_policy_version(probe: VersionProbe, now: datetime) -> PolicyVersion:
    """The version a real run would create, as a draft a dry run plans against (never added to the store)."""
    return PolicyVersion(id=None, drive_file_id=probe.drive_file_id or "", revision_id=probe.revision_id,
                         sha256=probe.sha256 or "", title=probe.title, school_year=probe.school_year,
                         form_questions={}, created_at=now)


def unsafe_name_rejections(plan: CampaignPlan) -> list[Rejected]:
    """Quarantine entries for the people whose name could inject a mail header (they get no email)."""
    return [
        Rejected("campaign", "roster", s.person_id, "name", s.detail or "name unsafe in a mail header")
        for s in plan.header_unsafe
    ]


def sample_announcement(session: Session, settings: Settings, campaign: Campaign, plan: CampaignPlan,
                        now: datetime, version: PolicyVersion | None = None) -> dict[str, str]:
    """The dry run's sample: the first planned person's announcement, rendered by the message factory that
    sends, with name and personal link masked (artifacts carry no personal data). Empty when nobody is planned.
    """
    if not plan.deliveries:
        return {}
    factory = MessageFactory(session, settings, now)
    if campaign.id is None:  # a dry run's draft campaign (and maybe draft version): not in the store
        factory.add_draft(DRAFT_ID, campaign, version or session.get(PolicyVersion, campaign.policy_version_id))
        campaign_id = DRAFT_ID
    else:
        campaign_id = campaign.id
    first = individual_delivery(campaign_id, plan.deliveries[0]).to_row()
    rendered = factory.preview(first)
    return {"subject": rendered.subject, "text": rendered.text}
