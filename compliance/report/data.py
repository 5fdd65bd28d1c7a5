"""What the superintendent's report says, read from the store with set-based queries (no Prefect, no Excel).

`collect_report_data` returns a `ReportData`: the rows of every sheet plus `summary`, a flat dict of plain
numbers that the flow stores in `ReportRun.summary` so the next report can show trends and "change since last
report".
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from sqlalchemy import and_, false, func, or_, select
from sqlalchemy.orm import Session

from compliance.incidents.figures import IncidentFigures, collect_incident_figures
from compliance.models import (
    Acknowledgement,
    Campaign,
    Delivery,
    Finding,
    LedgerAnchor,
    LedgerEvent,
    Person,
    PolicyVersion,
    Quarantine,
    ReportRun,
    Site,
    SocialAccount,
)
from compliance.photos.store import held_sites
from compliance.sources import held_sources
from compliance.vocabulary import (
    REMINDER_PREFIX,
    UNRESOLVED_STATES,
    DeliveryKind,
    FindingState,
    PersonKind,
    Platform,
    Verdict,
)

# Bumped when the meaning of a summary key changes, so trends never compare unlike numbers silently.
SUMMARY_VERSION = 1
NO_SITE = "(no site)"
# Takedown aging buckets in whole days a violating photo has been online: (label, lowest day, highest day).
AGING_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-2 days", 0, 2),
    ("3-7 days", 3, 7),
    ("8-14 days", 8, 14),
    (">14 days", 15, None),
)
AGING_KEYS = ("aging_0_2", "aging_3_7", "aging_8_14", "aging_over_14")


class PolicyInfo(NamedTuple):
    id: int
    title: str
    school_year: str
    revision_id: str
    created_at: datetime


class SiteRow(NamedTuple):
    """Acknowledgement and consent figures for one site (people with no site are grouped as NO_SITE)."""

    site_id: str
    site_name: str
    active: int
    acknowledged: int
    outstanding: int
    overdue: int
    escalated: int
    violations_online: int
    violations_resolved: int

    @property
    def rate(self) -> float | None:
        return self.acknowledged / self.active if self.active else None


class CategoryRow(NamedTuple):
    category: str
    active: int
    acknowledged: int

    @property
    def rate(self) -> float | None:
        return self.acknowledged / self.active if self.active else None


class OutstandingRow(NamedTuple):
    """An active person who has not acknowledged the current policy version."""

    person_id: int
    name: str
    site_name: str
    category: str
    kind: str
    since: date  # district-calendar date the clock started (announcement sent, else campaign start)
    days_outstanding: int
    reminders_sent: int
    escalated: str  # "" | "Site admin" | "Superintendent"
    paper_only: bool


class FindingRow(NamedTuple):
    """A photo-consent finding as the report shows it: ids and URLs only, never a student's name."""

    finding_id: int
    site_name: str
    page_url: str
    image_url: str
    student_id: str
    verdict: str
    reason: str
    first_seen: date
    state: str
    days_online: int | None  # None once resolved
    resolved: date | None
    kind: str = "photo"  # photo | video | name (a student named in the page's text)
    channel: str = ""  # where the evidence was read: alt, figcaption, background:overlay, pdf_page_2...
    platform: str = "website"  # Platform: the website, or the YouTube channel, blog or social account


class AgingRow(NamedTuple):
    site_name: str
    buckets: tuple[int, int, int, int]
    oldest_days: int

    @property
    def total(self) -> int:
        return sum(self.buckets)


class QuarantineRow(NamedTuple):
    job: str
    source_file: str
    rows: int
    new_since_previous: int
    latest: date


class StaleSource(NamedTuple):
    """An input source held by compliance.sources: the report's figures use its last good read."""

    job: str
    source: str
    held_since: date
    last_good: date | None
    last_good_rows: int | None
    reason: str


class CoverageRow(NamedTuple):
    """One site's last crawl as the Data Quality sheet shows it: what was found, read, and refused and why."""

    site_name: str
    crawled: date
    counts: Mapping[str, int]  # compliance.photos.results.COVERAGE_KEYS


class LedgerHead(NamedTuple):
    """One chain head the Ledger sheet lists: the event chain as it stood at ``at`` (aware, UTC)."""

    seq: int
    hash: str
    at: datetime
    where: str  # "Drive anchor" (a kept revision, with its file) or "This report"


class TrendPoint(NamedTuple):
    generated_at: datetime
    summary: Mapping[str, Any]


@dataclass(slots=True)
class ReportData:
    """Everything the workbook shows; built by `collect_report_data`, or synthetically by benchmarks."""

    generated_at: datetime
    time_zone: str
    policy: PolicyInfo | None
    summary: dict[str, Any]
    previous: TrendPoint | None
    sites: list[SiteRow]
    categories: list[CategoryRow]
    outstanding: Sequence[OutstandingRow]
    findings: Sequence[FindingRow]
    aging: list[AgingRow]
    quarantine: list[QuarantineRow]
    trends: list[TrendPoint]  # previous runs then this one, oldest first
    coverage: list[CoverageRow] = field(default_factory=list)  # the websites' last crawls
    site_admin_digest_days: int = 21
    superintendent_days: int = 28
    notes: list[str] = field(default_factory=list)  # plain sentences shown under the summary (e.g. no policy yet)
    stale_sources: list[StaleSource] = field(default_factory=list)  # held inputs, oldest hold first
    incidents: IncidentFigures | None = None  # the Incidents sheet (case references and counts only)
    site_names: dict[str, str] = field(default_factory=dict)  # site id -> name, for sheets keyed by site id
    # Chain heads anchored since the previous report, then the head as this report read it (Ledger sheet).
    ledger: list[LedgerHead] = field(default_factory=list)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)


def local_date(moment: datetime, tz: ZoneInfo) -> date:
    """The district-calendar date of an aware moment."""
    return moment.astimezone(tz).date()


def _days_between(start: datetime, now: datetime, tz: ZoneInfo) -> int:
    # Calendar days in district time: "sent Monday, today Thursday" is 3 days whatever the hour.
    return max(0, (local_date(now, tz) - local_date(start, tz)).days)


def _version_scope(version: PolicyVersion):  # type: ignore[no-untyped-def]
    """Deliveries of this policy version's campaigns (or, with no campaign, sent after the version)."""
    return or_(
        Campaign.policy_version_id == version.id,
        and_(Delivery.campaign_id.is_(None), Delivery.sent_at >= version.created_at),
    )


def _person_deliveries(session: Session, version: PolicyVersion) -> dict[int, tuple[datetime | None, int, str]]:
    """Per person: first announcement sent, reminders sent, escalation named on a person-level delivery."""
    stmt = (
        select(
            Delivery.person_id,
            func.min(Delivery.sent_at).filter(Delivery.kind == DeliveryKind.ANNOUNCEMENT),
            func.count(Delivery.id).filter(Delivery.kind.like(f"{REMINDER_PREFIX}%")),
            func.count(Delivery.id).filter(Delivery.kind == DeliveryKind.SITE_DIGEST),
            func.count(Delivery.id).filter(Delivery.kind == DeliveryKind.SUPERINTENDENT_ESCALATION),
        )
        .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.person_id.is_not(None), Delivery.sent_at.is_not(None), _version_scope(version))
        .group_by(Delivery.person_id)
    )
    out: dict[int, tuple[datetime | None, int, str]] = {}
    for person_id, announced, reminders, digests, supers in session.execute(stmt):
        announced = _aware(announced)
        level = "Superintendent" if supers else ("Site admin" if digests else "")
        out[person_id] = (announced, reminders, level)
    return out


def _aware(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # SQLite returns aggregates of datetime columns as text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def ledger_heads(session: Session, since: datetime | None, now: datetime) -> list[LedgerHead]:
    """The chain heads anchored in Drive after ``since`` (None: all) up to ``now``, then the head as it stands
    at ``now`` (the one the report email quotes). Nothing when no event has been chained yet."""
    stmt = select(LedgerAnchor).where(LedgerAnchor.anchored_at <= now).order_by(LedgerAnchor.anchored_at,
                                                                                LedgerAnchor.id)
    if since is not None:
        stmt = stmt.where(LedgerAnchor.anchored_at > since)
    heads = [
        LedgerHead(a.seq, a.hash, _aware(a.anchored_at), f"Drive anchor {a.drive_file_id or ''}".strip())  # type: ignore[arg-type]
        for a in session.scalars(stmt)
        if a.seq > 0
    ]
    # Events recorded after ``now`` are left out, so a re-run of a past report reads the same head.
    last = session.execute(
        select(LedgerEvent.seq, LedgerEvent.hash).where(LedgerEvent.recorded_at <= now)
        .order_by(LedgerEvent.seq.desc()).limit(1)
    ).first()
    if last is not None:
        heads.append(LedgerHead(int(last[0]), str(last[1]), now, "This report"))
    return heads


def collect_report_data(session: Session, now: datetime, settings: Any) -> ReportData:
    """Read every figure of the compliance report as of ``now`` (aware) from the store.

    ``settings`` is a `compliance.settings.Settings` (time zone, reminder cadence). Read-only: running it
    twice gives the same data. Previous `ReportRun` rows generated before ``now`` feed trends and the
    comparison.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    tz = settings.tz
    digest_days = settings.reminders.site_admin_digest_days
    super_days = settings.reminders.superintendent_days

    previous_runs = [
        TrendPoint(_aware(r.generated_at), dict(r.summary or {}))  # type: ignore[arg-type]
        for r in session.execute(
            select(ReportRun.generated_at, ReportRun.summary)
            .where(ReportRun.generated_at < now)
            .order_by(ReportRun.generated_at, ReportRun.id)
        )
    ]
    previous = previous_runs[-1] if previous_runs else None
    since_previous = previous.generated_at if previous else None

    version = session.scalars(
        select(PolicyVersion).order_by(PolicyVersion.created_at.desc(), PolicyVersion.id.desc()).limit(1)
    ).first()
    policy = (
        PolicyInfo(version.id, version.title, version.school_year, version.revision_id, version.created_at)
        if version
        else None
    )

    site_names = dict(session.execute(select(Site.id, Site.name)).all())
    site_admins = {
        sid: (email or "").strip().lower() for sid, email in session.execute(select(Site.id, Site.site_admin_email))
    }

    def site_label(site_id: str | None) -> str:
        return site_names.get(site_id, site_id) if site_id else NO_SITE

    # --- acknowledgements
    acked = (
        select(Acknowledgement.person_id).where(Acknowledgement.policy_version_id == version.id)
        if version
        else select(Acknowledgement.person_id).where(false())
    )
    is_acked = Person.id.in_(acked)
    per_site: dict[str | None, list[int]] = {}
    for site_id, active, ack in session.execute(
        select(Person.site_id, func.count(Person.id), func.count(Person.id).filter(is_acked))
        .where(Person.active.is_(True))
        .group_by(Person.site_id)
    ):
        per_site[site_id] = [active, ack]
    categories = [
        CategoryRow(category, active, ack)
        for category, active, ack in session.execute(
            select(Person.category, func.count(Person.id), func.count(Person.id).filter(is_acked))
            .where(Person.active.is_(True))
            .group_by(Person.category)
            .order_by(Person.category)
        )
    ]
    by_kind = {
        kind: (active, ack)
        for kind, active, ack in session.execute(
            select(Person.kind, func.count(Person.id), func.count(Person.id).filter(is_acked))
            .where(Person.active.is_(True))
            .group_by(Person.kind)
        )
    }

    outstanding: list[OutstandingRow] = []
    if version is not None:
        campaign_start = session.scalar(
            select(func.min(func.coalesce(Campaign.started_at, Campaign.created_at))).where(
                Campaign.policy_version_id == version.id
            )
        )
        default_start = _aware(campaign_start) or version.created_at
        deliveries = _person_deliveries(session, version)
        latest_digest = {
            recipient: _aware(sent)
            for recipient, sent in session.execute(
                select(func.lower(Delivery.recipient), func.max(Delivery.sent_at))
                .where(Delivery.kind == DeliveryKind.SITE_DIGEST, Delivery.sent_at.is_not(None))
                .group_by(func.lower(Delivery.recipient))
            )
        }
        latest_super = _aware(
            session.scalar(
                select(func.max(Delivery.sent_at)).where(
                    Delivery.kind == DeliveryKind.SUPERINTENDENT_ESCALATION, Delivery.sent_at.is_not(None)
                )
            )
        )
        rows = session.execute(
            select(
                Person.id,
                Person.given_name,
                Person.family_name,
                Person.site_id,
                Person.category,
                Person.kind,
                Person.paper_only,
            ).where(Person.active.is_(True), ~is_acked)
        )
        for pid, given, family, site_id, category, kind, paper_only in rows:
            announced, reminders, level = deliveries.get(pid, (None, 0, ""))
            start = announced or default_start
            days = _days_between(start, now, tz)
            if not level:
                # Digests list everyone overdue at their site, so a digest sent after this person became
                # overdue escalated them even though the ledger row names the site admin, not the person.
                if latest_super is not None and latest_super >= start + timedelta(days=super_days):
                    level = "Superintendent"
                else:
                    digest = latest_digest.get(site_admins.get(site_id or "", ""))
                    if digest is not None and digest >= start + timedelta(days=digest_days):
                        level = "Site admin"
            outstanding.append(
                OutstandingRow(
                    pid,
                    f"{given} {family}".strip(),
                    site_label(site_id),
                    category,
                    kind,
                    local_date(start, tz),
                    days,
                    reminders,
                    level,
                    bool(paper_only),
                )
            )
        outstanding.sort(key=lambda r: (-r.days_outstanding, r.site_name, r.name, r.person_id))

    # --- photo consent findings
    findings: list[FindingRow] = []
    takedown_days: list[float] = []
    violations: dict[str, int] = {state: 0 for state in FindingState}
    per_site_violations: dict[str | None, list[int]] = {}
    aging_per_site: dict[str | None, list[int]] = {}
    aging_total = [0, 0, 0, 0]
    new_since_previous = resolved_since_previous = needs_review = 0
    for (
        fid,
        site_id,
        page,
        image,
        student,
        verdict,
        reason,
        state,
        first_seen,
        resolved_at,
        kind,
        channel,
        platform,
    ) in session.execute(
        select(
            Finding.id,
            Finding.site_id,
            Finding.page_url,
            Finding.image_url,
            Finding.student_id,
            Finding.verdict,
            Finding.reason,
            Finding.state,
            Finding.first_seen_at,
            Finding.resolved_at,
            Finding.kind,
            Finding.channel,
            Finding.platform,
        ).where(Finding.verdict.in_((Verdict.VIOLATION, Verdict.NEEDS_REVIEW)))
    ):
        unresolved = state in UNRESOLVED_STATES
        days_online = int((now - first_seen).total_seconds() // 86400) if unresolved else None
        if verdict == Verdict.VIOLATION:
            violations[state] = violations.get(state, 0) + 1
            counts = per_site_violations.setdefault(site_id, [0, 0])
            if unresolved:
                counts[0] += 1
                bucket = next(
                    i
                    for i, (_, lo, hi) in enumerate(AGING_BUCKETS)
                    if days_online >= lo and (hi is None or days_online <= hi)  # type: ignore[operator]
                )
                aging_total[bucket] += 1
                site_aging = aging_per_site.setdefault(site_id, [0, 0, 0, 0, 0])
                site_aging[bucket] += 1
                site_aging[4] = max(site_aging[4], days_online)  # type: ignore[type-var]
            elif state == FindingState.RESOLVED:
                counts[1] += 1
                if resolved_at is not None:
                    takedown_days.append((resolved_at - first_seen).total_seconds() / 86400)
            if since_previous is not None:
                new_since_previous += first_seen > since_previous
                resolved_since_previous += resolved_at is not None and resolved_at > since_previous
        elif unresolved:
            needs_review += 1
        findings.append(
            FindingRow(
                fid,
                site_label(site_id),
                page,
                image,
                student,
                verdict,
                reason,
                local_date(first_seen, tz),
                state,
                days_online,
                local_date(resolved_at, tz) if resolved_at else None,
                kind or "photo",
                channel or "",
                platform or "website",
            )
        )
    # Still-online violations first, longest online first: the rows someone must act on.
    findings.sort(
        key=lambda f: (
            f.days_online is None,
            f.verdict != Verdict.VIOLATION,
            -(f.days_online or 0),
            f.site_name,
            f.finding_id,
        )
    )

    # --- sites
    overdue_per_site: dict[str, list[int]] = {}
    for row in outstanding:
        c = overdue_per_site.setdefault(row.site_name, [0, 0])
        c[0] += row.days_outstanding >= digest_days
        c[1] += bool(row.escalated)
    site_ids = set(site_names) | set(per_site) | set(per_site_violations)
    sites: list[SiteRow] = []
    for sid in site_ids:
        active, ack = per_site.get(sid, [0, 0])
        label = site_label(sid)
        overdue, escalated = overdue_per_site.get(label, [0, 0])
        v_online, v_resolved = per_site_violations.get(sid, [0, 0])
        sites.append(SiteRow(sid or "", label, active, ack, active - ack, overdue, escalated, v_online, v_resolved))
    # Worst first: the sites that need a call from the superintendent's office come on top.
    sites.sort(key=lambda s: (s.rate is None, s.rate if s.rate is not None else 0.0, -s.outstanding, s.site_name))
    aging = sorted(
        (AgingRow(site_label(sid), (a[0], a[1], a[2], a[3]), a[4]) for sid, a in aging_per_site.items()),
        key=lambda a: (-a.buckets[3], -a.oldest_days, a.site_name),
    )

    # --- data quality
    quarantine_rows = []
    new_filter = Quarantine.created_at > since_previous if since_previous else None
    q_stmt = select(
        Quarantine.job,
        Quarantine.source_file,
        func.count(Quarantine.id),
        func.count(Quarantine.id).filter(new_filter) if new_filter is not None else func.count(Quarantine.id),
        func.max(Quarantine.created_at),
    ).group_by(Quarantine.job, Quarantine.source_file)
    for job, source, count, new, latest in session.execute(q_stmt):
        latest_at = _aware(latest) or now
        quarantine_rows.append(QuarantineRow(job, source, count, new, local_date(latest_at, tz)))
    quarantine_rows.sort(key=lambda q: (-q.rows, q.job, q.source_file))
    # Websites whose last crawl was held (robots.txt or every root unavailable): their findings are as of the
    # last crawl that reached them. Listed after the quarantined inputs, with no rows of their own.
    held_rows = [
        QuarantineRow("crawl (site held)", f"{sid}: {why}; pages keep their last known state", 0, 0,
                      local_date(_aware(since) or now, tz))
        for sid, (since, why) in sorted(held_sites(session).items())
    ]  # fmt: skip
    # Channels, blogs and exports the last night could not read: their findings are as of the last good read.
    held_rows += [
        QuarantineRow("social (account held)",
                      f"{sid}: {Platform(platform).label} {account}: {why}; its items keep their last read", 0, 0,
                      local_date(_aware(at) or now, tz))
        for sid, platform, account, why, at in session.execute(
            select(SocialAccount.site_id, SocialAccount.platform, SocialAccount.account, SocialAccount.held_reason,
                   SocialAccount.audited_at).where(SocialAccount.held_reason.is_not(None))
            .order_by(SocialAccount.site_id, SocialAccount.platform, SocialAccount.account)
        )
    ]  # fmt: skip
    notes_held = [
        f"The website of {site_label(sid)} could not be checked since {local_date(_aware(since) or now, tz)} ({why}); "
        "its findings are as of the last check that reached it."
        for sid, (since, why) in sorted(held_sites(session).items())
    ]

    # --- held (stale) input sources
    stale: list[StaleSource] = []
    for held in held_sources(session):
        good_at = _aware(held.good_at)
        stale.append(
            StaleSource(
                held.job,
                held.source,
                local_date(_aware(held.held_since) or now, tz),
                local_date(good_at, tz) if good_at else None,
                held.good_rows,
                held.held_reason or "",
            )
        )

    coverage_rows = sorted(
        (
            CoverageRow(site_label(sid), local_date(_aware(at) or now, tz), dict(counts))
            for sid, counts, at in session.execute(
                select(Site.id, Site.crawl_coverage, Site.crawled_at).where(Site.crawl_coverage.is_not(None))
            )
        ),
        key=lambda c: c.site_name,
    )

    ledger = ledger_heads(session, since_previous, now)

    # --- summary: flat plain numbers, stored for the next report's trends
    active_total = sum(a for a, _ in per_site.values())
    ack_total = sum(k for _, k in per_site.values())
    emp = by_kind.get(PersonKind.EMPLOYEE, (0, 0))
    assoc = by_kind.get(PersonKind.ASSOCIATED, (0, 0))
    summary: dict[str, Any] = {
        "summary_version": SUMMARY_VERSION,
        "policy_version_id": version.id if version else None,
        "active_people": active_total,
        "acknowledged": ack_total,
        "outstanding": active_total - ack_total,
        "ack_rate": round(ack_total / active_total, 6) if active_total else None,
        "ack_rate_employees": round(emp[1] / emp[0], 6) if emp[0] else None,
        "ack_rate_associated": round(assoc[1] / assoc[0], 6) if assoc[0] else None,
        "overdue": sum(1 for r in outstanding if r.days_outstanding >= digest_days),
        "escalated": sum(1 for r in outstanding if r.escalated),
        "sites_below_80": sum(1 for s in sites if s.rate is not None and s.rate < 0.80),
        "sites_below_95": sum(1 for s in sites if s.rate is not None and s.rate < 0.95),
        "violations_new": violations[FindingState.NEW],
        "violations_open": violations[FindingState.OPEN],
        "violations_resolved": violations[FindingState.RESOLVED],
        "violations_online": sum(violations[s] for s in UNRESOLVED_STATES),
        "violations_new_since_previous": new_since_previous if previous else None,
        "violations_resolved_since_previous": resolved_since_previous if previous else None,
        "needs_review": needs_review,
        "median_takedown_days": round(statistics.median(takedown_days), 2) if takedown_days else None,
        **dict(zip(AGING_KEYS, aging_total, strict=True)),
        "quarantine_rows": sum(q.rows for q in quarantine_rows),
        "quarantine_new_since_previous": sum(q.new_since_previous for q in quarantine_rows) if previous else None,
        "quarantine_sources": len(quarantine_rows),
        "sources_held": len(stale),
        # The event chain's head as this report read it (the email quotes it; verify-ledger checks it).
        "ledger_events": ledger[-1].seq if ledger else 0,
        "ledger_head_hash": ledger[-1].hash if ledger else None,
    }
    notes = [] if policy else ["No policy version is recorded yet, so no acknowledgement can be counted."]
    for st in stale:
        basis = (
            f"figures use its last good read of {st.last_good.isoformat()} ({st.last_good_rows} records)"
            if st.last_good
            else "it has never been read successfully"
        )
        since = st.held_since.isoformat()
        notes.append(f"Stale input: {st.source} ({st.job}) is held since {since} ({st.reason}); {basis}.")
    notes += notes_held
    incidents = collect_incident_figures(session, now, tz)
    summary.update(incidents.headline())
    return ReportData(
        incidents=incidents,
        site_names={s.id: s.name for s in settings.sites},
        notes=notes,
        generated_at=now,
        time_zone=settings.district.time_zone,
        policy=policy,
        summary=summary,
        previous=previous,
        sites=sites,
        categories=categories,
        outstanding=outstanding,
        findings=findings,
        aging=aging,
        quarantine=quarantine_rows + held_rows,
        stale_sources=stale,
        coverage=coverage_rows,
        trends=[*previous_runs, TrendPoint(now, summary)],
        site_admin_digest_days=digest_days,
        superintendent_days=super_days,
        ledger=ledger,
    )


def record_report_run(
    session: Session,
    data: ReportData,
    path: str,
    *,
    drive_file_id: str | None = None,
    emailed_to: Sequence[str] = (),
) -> ReportRun:
    """Store this report's summary for the next report's trends; a re-run for the same moment updates it."""
    run = session.scalars(
        select(ReportRun).where(ReportRun.generated_at == data.generated_at).order_by(ReportRun.id).limit(1)
    ).first()
    if run is None:
        run = ReportRun(generated_at=data.generated_at, path=path)
        session.add(run)
    run.path = path
    run.summary = dict(data.summary)
    if drive_file_id is not None:
        run.drive_file_id = drive_file_id
    if emailed_to:
        run.emailed_to = sorted(set(run.emailed_to or []) | set(emailed_to))
    session.flush()
    return run
