"""Campaign planning for policy acknowledgements: who gets what, when, from which sender (plain functions).

Nothing here sends mail or calls Google. :func:`plan_campaign` turns the roster into deliveries (and the
people it cannot email, with the reason), counts and the quota math; :class:`SendScheduler` spreads deliveries
over the sender mailboxes inside Gmail's rolling 24-hour and per-minute limits; :func:`due_reminders` decides
which reminder, site-administrator digest and superintendent escalation is due, each once.
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, Field, model_validator

from compliance.mail import HeaderInjection, check_address, check_header_value
from compliance.settings import PERSON_CATEGORIES, Reminders, Settings

Category = Literal[PERSON_CATEGORIES]  # type: ignore[valid-type]
Language = Literal["en", "es"]
SkipReason = Literal["leaver", "already_acknowledged", "paper_only", "no_valid_email", "unsafe_name"]
# Gmail's other per-sender daily limit: 3,000 unique recipients (2,000 external). Bcc'd site-group messages
# hit it long before the 2,000-message limit, so group planning must count recipients too.
UNIQUE_RECIPIENTS_PER_SENDER_DAY = 3000
WINDOW = timedelta(hours=24)
MINUTE = timedelta(minutes=1)
T = TypeVar("T")


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
    id: int


class Audience(BaseModel):
    """Who a campaign is for. ``scope`` picks the filter; ``only_outstanding`` leaves out who already signed."""

    scope: Literal["everyone", "sites", "categories"] = Field(
        "everyone", description="everyone, only the listed sites, or only the listed categories"
    )
    site_ids: list[str] = Field(default_factory=list, description="Sites to include (scope = sites)")
    categories: list[Category] = Field(  # type: ignore[valid-type]
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


def delivery_key(campaign_id: int | str, person_key: str, kind: str) -> str:
    """Idempotency key of one message (64 hex characters): the same campaign, person and kind, the same key."""
    return hashlib.sha256(f"{campaign_id}\x1f{person_key}\x1f{kind}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    idempotency_key: str
    person_id: int
    person_key: str
    kind: str
    recipient: str
    recipient_name: str
    language: str
    site_id: str | None
    category: str


@dataclass(frozen=True, slots=True)
class GroupAnnouncement:
    """One announcement to a chunk of a site's staff (Bcc), who sign the staff form with their own account."""

    idempotency_key: str
    site_id: str | None
    language: str
    recipients: tuple[str, ...]
    person_ids: tuple[int, ...]


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
    policy_version_id: int
    deliveries: list[PlannedDelivery]
    group_announcements: list[GroupAnnouncement]
    skipped: list[Skipped]
    staff_channel: Literal["individual", "site_group"]
    staff_channel_reason: str
    quota: QuotaEstimate
    individual_quota: QuotaEstimate
    counts_by_site: dict[str, int] = field(default_factory=dict)
    counts_by_category: dict[str, int] = field(default_factory=dict)
    skipped_by_reason: dict[str, int] = field(default_factory=dict)

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


def _email_problem(email: str | None) -> tuple[str | None, str]:
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
) -> CampaignPlan:
    """Plan the announcement of ``policy_version`` to ``audience``.

    Each selected person becomes a delivery or a :class:`Skipped` with its reason (leaver, already
    acknowledged, paper only, no valid email, header-unsafe name); nobody is dropped silently. Staff with a
    district account get site-group (Bcc) announcements instead of one message each when that finishes in
    fewer days; the plan says which and why. ``now`` is accepted so plans are reproducible in tests.
    """
    if now.tzinfo is None:
        raise ValueError("aware datetime required")
    acknowledged = set(acknowledged_person_ids)
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
        if person.paper_only:
            skip(person, "paper_only")
            continue
        address, problem = _email_problem(person.email)
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

    def lang(person: PersonLike) -> str:
        # A person's recorded preference wins over the campaign default; "en" is the store's default value.
        pref = (person.preferred_language or "").lower()
        return pref if pref in ("es",) else language

    quotas = settings.quotas
    unique_limit = getattr(quotas, "gmail_unique_recipients_per_day", UNIQUE_RECIPIENTS_PER_SENDER_DAY)
    senders = len(settings.senders)
    staff = [t for t in selected if t[0].kind == "employee" and t[0].has_district_account]
    others = [t for t in selected if not (t[0].kind == "employee" and t[0].has_district_account)]

    by_site_lang: dict[tuple[str | None, str], list[tuple[PersonLike, str, str]]] = defaultdict(list)
    for t in staff:
        by_site_lang[(t[0].site_id, lang(t[0]))].append(t)
    chunk = quotas.gmail_recipients_per_message
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

    deliveries: list[PlannedDelivery] = []
    groups: list[GroupAnnouncement] = []
    for person, address, name in others if channel == "site_group" else selected:
        deliveries.append(PlannedDelivery(
            delivery_key(campaign_id, person.person_key, "announcement"), person.id, person.person_key,
            "announcement", address, name, lang(person), person.site_id, person.category,
        ))
    if channel == "site_group":
        for (site_id, group_lang), members in sorted(by_site_lang.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
            for start in range(0, len(members), chunk):
                part = members[start : start + chunk]
                groups.append(GroupAnnouncement(
                    delivery_key(campaign_id, f"site:{site_id}:{group_lang}:{start // chunk}", "announcement_group"),
                    site_id, group_lang, tuple(a for _, a, _ in part), tuple(p.id for p, _, _ in part),
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
    )


# -- sending schedule --------------------------------------------------------------------------------------


class SendScheduler:
    """Assigns deliveries to sender mailboxes within each sender's rolling 24-hour and per-minute limits.

    Assignments are counted as sent when made (``release`` gives back what was not sent), so a caller can
    never overshoot by sending what it was given. ``history`` seeds the window with earlier sends (e.g. the
    delivery ledger's last 24 hours) so a restart does not forget today's usage. The clock is injectable.
    """

    def __init__(
        self,
        senders: Sequence[str],
        *,
        daily_limit: int,
        per_minute: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        history: Iterable[tuple[str, datetime]] = (),
    ) -> None:
        if not senders:
            raise ValueError("at least one sender needed")
        self.senders = list(senders)
        self.daily_limit = daily_limit
        self.per_minute = per_minute
        self.clock = clock
        self._sent: dict[str, deque[list[Any]]] = {s: deque() for s in self.senders}
        self._paused: dict[str, datetime] = {}
        for sender, at in sorted(history, key=lambda h: h[1]):
            if sender in self._sent:
                self._sent[sender].append([at, 1])

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], datetime] | None = None,
        history: Iterable[tuple[str, datetime]] = (),
    ) -> SendScheduler:
        return cls([str(s) for s in settings.senders], daily_limit=settings.quotas.gmail_daily_per_sender,
                   per_minute=settings.quotas.gmail_sends_per_minute,
                   clock=clock or (lambda: datetime.now(UTC)), history=history)

    def _prune(self, sender: str, now: datetime) -> deque[list[Any]]:
        sent = self._sent[sender]
        while sent and sent[0][0] <= now - WINDOW:
            sent.popleft()
        return sent

    def usage(self, sender: str) -> tuple[int, int]:
        """(messages in the last 24 hours, messages in the last minute) for ``sender``."""
        now = self.clock()
        sent = self._prune(sender, now)
        minute = 0
        for at, n in reversed(sent):
            if at <= now - MINUTE:
                break
            minute += n
        return sum(n for _, n in sent), minute

    def paused_until(self, sender: str) -> datetime | None:
        until = self._paused.get(sender)
        if until is not None and until <= self.clock():
            del self._paused[sender]
            return None
        return until

    def capacity(self, sender: str) -> int:
        """How many more messages ``sender`` may send right now."""
        if self.paused_until(sender) is not None:
            return 0
        day, minute = self.usage(sender)
        return max(0, min(self.daily_limit - day, self.per_minute - minute))

    def assign(self, pending: Sequence[T]) -> list[tuple[str, list[T]]]:
        """Hand out as many of ``pending`` as may go now, as (sender, items); the rest waits for later."""
        now = self.clock()
        out: list[tuple[str, list[T]]] = []
        start = 0
        # Most remaining daily room first, so the pool drains evenly and no mailbox hits its limit early.
        for sender in sorted(self.senders, key=lambda s: self.usage(s)[0]):
            if start >= len(pending):
                break
            room = self.capacity(sender)
            if room <= 0:
                continue
            items = list(pending[start : start + room])
            start += len(items)
            self._sent[sender].append([now, len(items)])
            out.append((sender, items))
        return out

    def release(self, sender: str, count: int) -> None:
        """Give back ``count`` assigned messages that were never sent (e.g. refused before sending)."""
        sent = self._sent[sender]
        while count > 0 and sent:
            take = min(count, sent[-1][1])
            sent[-1][1] -= take
            count -= take
            if sent[-1][1] == 0:
                sent.pop()

    def pause(self, sender: str, until: datetime | None = None) -> datetime:
        """Stop using ``sender`` (Google said dailyLimitExceeded or a long 429) until ``until``.

        Without a hint from Google, until its 24-hour window reopens: when its oldest counted send leaves it.
        """
        now = self.clock()
        if until is None:
            sent = self._prune(sender, now)
            until = sent[0][0] + WINDOW if sent else now + WINDOW
        self._paused[sender] = max(until, self._paused.get(sender, until))
        return self._paused[sender]

    def next_opening(self) -> datetime | None:
        """When some sender next gains room (now if one has room already); None if no sender exists."""
        now = self.clock()
        best: datetime | None = None
        for sender in self.senders:
            paused = self.paused_until(sender)
            if paused is not None:
                when = paused
            elif self.capacity(sender) > 0:
                return now
            else:
                day, _ = self.usage(sender)
                sent = self._sent[sender]
                if day >= self.daily_limit:
                    when = sent[0][0] + WINDOW
                else:
                    when = next(at for at, _ in sent if at > now - MINUTE) + MINUTE
            best = when if best is None or when < best else best
        return best


# -- reminders and escalation ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    """A message already planned or sent: ``person_id`` None for site digests, escalations and group mail.

    A site-group announcement (kind ``announcement_group``) announces to each of its ``person_ids``.
    """

    person_id: int | None
    kind: str  # announcement | announcement_group | reminder_<n> | site_digest | superintendent_escalation
    sent_at: datetime | None
    status: str = "sent"
    site_id: str | None = None
    person_ids: tuple[int, ...] = ()


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


@dataclass
class FollowUpPlan:
    reminders: list[DueReminder]
    site_digests: dict[str, list[OutstandingPerson]]  # due digests only, by site
    superintendent: list[OutstandingPerson]  # empty unless the escalation is due
    outstanding: list[OutstandingPerson]  # everyone announced and not yet acknowledged (for reports)


def due_reminders(
    deliveries: Iterable[DeliveryRecord],
    acknowledgements: Collection[int],
    cadence: Reminders,
    now: datetime,
    *,
    people: Mapping[int, PersonLike],
) -> FollowUpPlan:
    """What follow-up is due at ``now``, each at most once.

    A person gets reminder n when ``cadence.reminder_days[n-1]`` days have passed since their announcement,
    they have not acknowledged, they are still active (in ``people`` and ``active``), their announcement did not
    bounce, and no reminder n or later exists for them (a run missed for a week sends the latest reminder
    only). A site's digest is due once, when someone there is ``site_admin_digest_days`` outstanding; the
    superintendent escalation once, at ``superintendent_days``.
    """
    announced: dict[int, datetime] = {}
    bounced: set[int] = set()
    reminded: dict[int, int] = defaultdict(int)
    digested_sites: set[str | None] = set()
    escalated = False
    for d in deliveries:
        if d.kind in ("announcement", "announcement_group"):
            for person_id in (d.person_id,) if d.kind == "announcement" else d.person_ids:
                if person_id is None:
                    continue
                if d.status == "bounced":
                    bounced.add(person_id)
                if d.sent_at is not None and d.status in ("sent", "bounced"):
                    first = announced.get(person_id)
                    announced[person_id] = d.sent_at if first is None else min(first, d.sent_at)
        elif d.kind.startswith("reminder_") and d.person_id is not None:
            reminded[d.person_id] = max(reminded[d.person_id], int(d.kind.removeprefix("reminder_")))
        elif d.kind == "site_digest":
            digested_sites.add(d.site_id)
        elif d.kind == "superintendent_escalation":
            escalated = True

    acknowledged = set(acknowledgements)
    reminders: list[DueReminder] = []
    outstanding: list[OutstandingPerson] = []
    for person_id, sent_at in sorted(announced.items()):
        person = people.get(person_id)
        if person_id in acknowledged or person is None or not person.active:
            continue
        days = (now - sent_at).days
        outstanding.append(OutstandingPerson(person_id, f"{person.given_name} {person.family_name}".strip(),
                                             person.site_id, person.category, days))
        if person_id in bounced:
            continue
        number = sum(1 for d in cadence.reminder_days if days >= d)
        if number and number > reminded[person_id]:
            reminders.append(DueReminder(person_id, number, f"reminder_{number}", days))

    digests: dict[str, list[OutstandingPerson]] = defaultdict(list)
    for o in outstanding:
        if o.days_outstanding >= cadence.site_admin_digest_days and o.site_id not in digested_sites:
            digests[o.site_id or ""].append(o)
    overdue = [o for o in outstanding if o.days_outstanding >= cadence.superintendent_days]
    return FollowUpPlan(
        reminders=reminders,
        site_digests=dict(digests),
        superintendent=[] if escalated else overdue,
        outstanding=outstanding,
    )
