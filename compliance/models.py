"""State store schema (SQLAlchemy 2). Timestamps are stored in UTC; the district's zone is applied on display.

Alembic migrations in compliance/migrations are generated from these models; change both together.

Columns holding a word of the district's vocabulary stay ``String`` and take the
:mod:`compliance.vocabulary` enums: their values are the strings already stored, so the enums need no migration
(a SQL ``Enum`` type would), and a value read back is a plain ``str`` that compares equal to its member.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from compliance.vocabulary import CampaignStatus, DeliveryStatus, FindingKind, FindingState, PageStatus, Platform


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite (no tz support) and PostgreSQL alike."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Site(Base):
    __tablename__ = "sites"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    org_unit: Mapped[str] = mapped_column(String(300))
    site_admin_email: Mapped[str] = mapped_column(String(320))
    web_contact_email: Mapped[str] = mapped_column(String(320))
    # The last crawl's coverage (compliance.photos.results.coverage): counts only, for the Data Quality sheet.
    crawl_coverage: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    crawled_at: Mapped[datetime | None] = mapped_column(default=None)


class Person(Base):
    """An employee or an Associated Person; one row per real person after deduplication."""

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # PersonKind
    category: Mapped[str] = mapped_column(String(40), index=True)  # PersonCategory
    given_name: Mapped[str] = mapped_column(String(200))
    family_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str | None] = mapped_column(String(200))
    directory_id: Mapped[str | None] = mapped_column(String(100))
    other_site_ids: Mapped[list[Any]] = mapped_column(default=list)
    email: Mapped[str | None] = mapped_column(String(320))
    email_normalized: Mapped[str | None] = mapped_column(String(320), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    has_district_account: Mapped[bool] = mapped_column(Boolean, default=False)
    paper_only: Mapped[bool] = mapped_column(Boolean, default=False)
    # "en", "es", or "" when no source says (the campaign's language is then used)
    preferred_language: Mapped[str] = mapped_column(String(8), default="")
    language_source: Mapped[str] = mapped_column(String(300), default="", server_default="")
    source: Mapped[str] = mapped_column(String(300))
    source_ref: Mapped[str | None] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None] = mapped_column(default=None)


class PolicyVersion(Base):
    """One version of the policy text: Drive revision plus the hash of what people were asked to read."""

    __tablename__ = "policy_versions"
    __table_args__ = (UniqueConstraint("drive_file_id", "revision_id", "school_year"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    drive_file_id: Mapped[str] = mapped_column(String(120))
    revision_id: Mapped[str] = mapped_column(String(120))
    sha256: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    school_year: Mapped[str] = mapped_column(String(9))  # e.g. 2026-2027
    staff_form_id: Mapped[str | None] = mapped_column(String(120))
    community_form_id: Mapped[str | None] = mapped_column(String(120))
    # PDF of this revision, readable by anyone with the link: what people acknowledge, even after the Doc changes
    pdf_file_id: Mapped[str | None] = mapped_column(String(120), default=None)
    form_questions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # The same text in other languages, attached when the profile gives it (compliance.policy_versions):
    # {"es": {"drive_file_id", "revision_id", "sha256", "pdf_file_id"}}
    translations: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"))
    audience: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(String(8), default="en")
    status: Mapped[str] = mapped_column(String(20), default=CampaignStatus.PLANNED)  # CampaignStatus
    plan: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)


class Delivery(Base):
    """The send ledger: written before a message goes out, keyed so a re-run never sends twice."""

    __tablename__ = "deliveries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"), index=True)
    # DeliveryKind, or reminder_<n> (compliance.vocabulary.reminder_kind)
    kind: Mapped[str] = mapped_column(String(30))
    recipient: Mapped[str] = mapped_column(String(320))
    # The Bcc list of a site-group announcement (``recipient`` is then a sender mailbox).
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    # Digests, escalations, takedown digests and the report carry their template and variables, written when
    # planned so a resend says what the first attempt said; announcements and reminders carry only the language
    # (and a group announcement the person_ids it announced to) and render from person and campaign at send time.
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)
    site_id: Mapped[str | None] = mapped_column(String(64), index=True)
    sender: Mapped[str | None] = mapped_column(String(320))
    # The run lease (compliance.leases) of the process that claimed the row for sending: a row whose claimer
    # is alive is never reconciled by another process.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    # A transient send failure is tried again no earlier than this (UTC), so a failing run ends instead of
    # spinning on the same rows.
    not_before: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(20), default=DeliveryStatus.PENDING, index=True)  # DeliveryStatus
    gmail_message_id: Mapped[str | None] = mapped_column(String(120))
    rfc822_message_id: Mapped[str | None] = mapped_column(String(300), index=True)
    # The Message-ID Gmail stored, read back after the send: bounces quote it, and it may differ from ours.
    gmail_rfc822_id: Mapped[str | None] = mapped_column(String(300), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class Acknowledgement(Base):
    """A signed acknowledgement with its evidence, hash-chained to the previous row (evidence ledger)."""

    __tablename__ = "acknowledgements"
    __table_args__ = (UniqueConstraint("person_id", "policy_version_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"), index=True)
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_versions.id"), index=True)
    method: Mapped[str] = mapped_column(String(10))  # AckMethod
    response_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    signed_name: Mapped[str] = mapped_column(String(300))
    verified_email: Mapped[str | None] = mapped_column(String(320))
    token_id: Mapped[str | None] = mapped_column(String(64))
    policy_sha256: Mapped[str] = mapped_column(String(64))
    # The language version of the policy the person says they read (the form's language question, else the
    # language of the invitation they answered).
    language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    submitted_at: Mapped[datetime] = mapped_column()
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
    prev_hash: Mapped[str] = mapped_column(String(64))
    row_hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerEvent(Base):
    """One compliance event in the append-only chain (compliance.chain): sends, acknowledgements, consent
    records, findings. Ids and hashes only, never names or emails. No foreign keys on purpose: evidence must
    not vanish with (or block the removal of) the row it is about."""

    __tablename__ = "ledger_events"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # The event's natural key (kind, subject, what makes it a new event): a re-run never records it twice.
    event_key: Mapped[str] = mapped_column(String(300), unique=True)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    person_id: Mapped[int | None] = mapped_column(Integer, index=True)
    finding_id: Mapped[int | None] = mapped_column(Integer, index=True)
    delivery_id: Mapped[int | None] = mapped_column(Integer, index=True)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON text, exactly as hashed
    recorded_at: Mapped[datetime] = mapped_column()
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class LedgerAnchor(Base):
    """Where a chain head was written outside the database (a Drive revision kept forever). The copy here is
    a convenience for the report; verification reads the anchors from where they were written."""

    __tablename__ = "ledger_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, index=True)
    hash: Mapped[str] = mapped_column(String(64))
    anchored_at: Mapped[datetime] = mapped_column()
    drive_file_id: Mapped[str | None] = mapped_column(String(120))
    drive_revision_id: Mapped[str | None] = mapped_column(String(120))
    key_id: Mapped[str | None] = mapped_column(String(64))
    signature: Mapped[str | None] = mapped_column(String(200))


class Student(Base):
    __tablename__ = "students"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # SIS student id
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    legal_first: Mapped[str] = mapped_column(String(200))
    legal_last: Mapped[str] = mapped_column(String(200))
    preferred_first: Mapped[str | None] = mapped_column(String(200))
    preferred_last: Mapped[str | None] = mapped_column(String(200))
    grade: Mapped[str | None] = mapped_column(String(4))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # SIS home language ("en", "es", ...) and the guardian contact the SIS holds: a parent serving on a
    # committee whose own list says no language is written to in their family's home language.
    home_language: Mapped[str | None] = mapped_column(String(8), default=None)
    guardian_email: Mapped[str | None] = mapped_column(String(320), default=None)
    guardian_phone: Mapped[str | None] = mapped_column(String(40), default=None)


class ConsentRecord(Base):
    """One row of a consent spreadsheet (or opt-out list) after validation; a student's rows form one history."""

    __tablename__ = "consent_records"
    __table_args__ = (UniqueConstraint("source_file", "source_sheet", "source_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    student_id: Mapped[str] = mapped_column(String(40), index=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"))
    purposes: Mapped[list[Any]] = mapped_column(default=list)  # website, social_media, yearbook, press, video
    parent_consent: Mapped[bool] = mapped_column(Boolean)
    parent_signed_on: Mapped[date | None] = mapped_column(Date)
    principal_approved: Mapped[bool] = mapped_column(Boolean)
    principal_approved_on: Mapped[date | None] = mapped_column(Date)
    revoked_on: Mapped[date | None] = mapped_column(Date)
    school_year: Mapped[str | None] = mapped_column(String(9))
    conflict: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(10), default="consent")  # consent | opt_out (FERPA directory list)
    opted_out_on: Mapped[date | None] = mapped_column(Date)
    matched_by: Mapped[str] = mapped_column(String(10), default="id")  # id | name (row without a student id)
    source_file: Mapped[str] = mapped_column(String(500))
    source_sheet: Mapped[str] = mapped_column(String(200), default="")
    source_row: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class Page(Base):
    __tablename__ = "pages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2000), unique=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    content_sha256: Mapped[str | None] = mapped_column(String(64))
    links: Mapped[list[Any]] = mapped_column(default=list)  # links found last time, reused when the page is a 304
    text: Mapped[str | None] = mapped_column(Text, default=None)  # the page's own text: where name findings come from
    status: Mapped[str] = mapped_column(String(20), default=PageStatus.LIVE)  # PageStatus
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Photo(Base):
    """One image by content; the same photo on several pages is one row with several appearances."""

    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    phash: Mapped[str | None] = mapped_column(String(32), index=True)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    metadata_text: Mapped[dict[str, Any]] = mapped_column(default=dict)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhotoAppearance(Base):
    """Where a photo is shown: page, image URL, and the text around it that may identify a student."""

    __tablename__ = "photo_appearances"
    __table_args__ = (UniqueConstraint("page_id", "image_url"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    page_id: Mapped[int] = mapped_column(ForeignKey("pages.id"), index=True)
    photo_id: Mapped[int | None] = mapped_column(ForeignKey("photos.id"), index=True)
    image_url: Mapped[str] = mapped_column(String(2000))
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default=PageStatus.LIVE)  # PageStatus: live | gone
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Until when the server said the image is fresh (Cache-Control max-age / Expires), capped by settings.
    fresh_until: Mapped[datetime | None] = mapped_column(default=None)


class Finding(Base):
    """Result of reconciling one (page, image, student); persists across nights so takedown time is known."""

    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # sha256 of page_url|image_url|student_id: URLs are too long for a portable unique index.
    finding_key: Mapped[str] = mapped_column(String(64), unique=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    page_url: Mapped[str] = mapped_column(String(2000))
    image_url: Mapped[str] = mapped_column(String(2000))
    student_id: Mapped[str] = mapped_column(String(40), index=True)
    verdict: Mapped[str] = mapped_column(String(20))  # Verdict
    reason: Mapped[str] = mapped_column(String(40))
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(10), default=FindingKind.PHOTO)  # FindingKind (name: image_url "")
    channel: Mapped[str] = mapped_column(String(40), default="")  # alt, figcaption, card, filename, exif, page_text...
    basis: Mapped[str] = mapped_column(Text, default="")  # the consent rule and records the reason rests on
    # Platform: the school website, or the YouTube channel, blog or social account the item is on (page_url is
    # then the video's, post's or exported post's address).
    platform: Mapped[str] = mapped_column(String(20), default=Platform.WEBSITE, server_default="website", index=True)
    state: Mapped[str] = mapped_column(String(20), default=FindingState.NEW, index=True)  # FindingState
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(default=None)
    notified_at: Mapped[datetime | None] = mapped_column(default=None)
    reminded_at: Mapped[datetime | None] = mapped_column(default=None)


class SocialAccount(Base):
    """One channel, blog or export folder of a site's profile entry, with what the last night read of it."""

    __tablename__ = "social_accounts"
    __table_args__ = (UniqueConstraint("site_id", "platform", "account"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    site_id: Mapped[str | None] = mapped_column(ForeignKey("sites.id"), index=True)
    platform: Mapped[str] = mapped_column(String(20))  # Platform (an export folder: "export")
    account: Mapped[str] = mapped_column(String(500))  # channel id, blog address or export folder, as profiled
    resolved_id: Mapped[str | None] = mapped_column(String(200), default=None)  # uploads playlist, blog id
    title: Mapped[str | None] = mapped_column(String(500), default=None)
    audited_at: Mapped[datetime | None] = mapped_column(default=None)
    full_read_at: Mapped[datetime | None] = mapped_column(default=None)  # last night every item was read again
    held_reason: Mapped[str | None] = mapped_column(Text, default=None)  # why last night could not read it
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)  # last night's calls, items read, skipped...


class SocialItem(Base):
    """A video, blog post or exported post as last read, with the texts that may name a student."""

    __tablename__ = "social_items"
    __table_args__ = (UniqueConstraint("account_id", "item_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("social_accounts.id"), index=True)
    platform: Mapped[str] = mapped_column(String(20))  # Platform
    item_id: Mapped[str] = mapped_column(String(200))  # video id, post id, export post key
    url: Mapped[str] = mapped_column(String(2000))
    # What tells a changed item: the playlist item's content, the post's ``updated``, a hash of the exported post.
    version: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default=FindingKind.POST)  # FindingKind of its findings
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"appearances": [{image_url, texts}]}
    status: Mapped[str] = mapped_column(String(20), default=PageStatus.LIVE)  # live | gone
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportRun(Base):
    __tablename__ = "report_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generated_at: Mapped[datetime] = mapped_column(default=utcnow)
    path: Mapped[str] = mapped_column(String(1000))
    drive_file_id: Mapped[str | None] = mapped_column(String(120))
    emailed_to: Mapped[list[Any]] = mapped_column(default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Quarantine(Base):
    """Input that did not validate: kept with where it came from and why, never silently dropped."""

    __tablename__ = "quarantine"
    __table_args__ = (
        UniqueConstraint("source_file", "sheet", "row", "field", "reason"),
        Index("ix_quarantine_job", "job"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job: Mapped[str] = mapped_column(String(60))  # roster | consent | acknowledgement | paper | campaign | ...
    source_file: Mapped[str] = mapped_column(String(500))
    sheet: Mapped[str] = mapped_column(String(200), default="")
    row: Mapped[int] = mapped_column(Integer, default=0)
    field: Mapped[str] = mapped_column(String(200), default="")
    reason: Mapped[str] = mapped_column(String(500))
    raw_value: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncState(Base):
    """Watermarks and cursors (e.g. the last Forms response timestamp per form)."""

    __tablename__ = "sync_state"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SourceRead(Base):
    """The last good read of each input source, and whether the source is held (see compliance.sources).

    A source that comes back empty, unreadable or much smaller than last time is *held*: its records keep
    their last known state, and this row says since when and why, for the run's log and the report.
    """

    __tablename__ = "source_reads"

    source: Mapped[str] = mapped_column(String(500), primary_key=True)  # the profile's name for it
    job: Mapped[str] = mapped_column(String(60))  # roster | students | consent | ...
    good_rows: Mapped[int | None] = mapped_column(Integer, default=None)  # records in the last good read
    good_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    good_at: Mapped[datetime | None] = mapped_column(default=None)
    held_since: Mapped[datetime | None] = mapped_column(default=None)  # None: not held
    held_reason: Mapped[str | None] = mapped_column(String(500), default=None)
    last_rows: Mapped[int] = mapped_column(Integer, default=0)  # records in the latest read, good or not
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class IncidentCase(Base):
    """A reported incident or complaint (compliance.incidents): one per form response, never a copy of an image.

    Confidential: names live only in the free-text answers here, never in logs, artifacts or the workbook,
    which show ``case_ref`` and counts. Any address in an answer is kept as text and never fetched.
    """

    __tablename__ = "incident_cases"
    __table_args__ = (UniqueConstraint("form_id", "response_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(40), unique=True)
    form_id: Mapped[str] = mapped_column(String(120))
    response_id: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40), index=True)  # CaseCategory
    site_id: Mapped[str | None] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # CaseState
    owner: Mapped[str] = mapped_column(String(320))
    # Why this owner: "site administrator", "supervisor of <administrator>", "designee (site unknown)"
    owner_reason: Mapped[str] = mapped_column(String(400))
    against_administrator: Mapped[bool] = mapped_column(Boolean, default=False)
    administrator: Mapped[str | None] = mapped_column(String(320))
    agency: Mapped[str | None] = mapped_column(String(200))  # the profile's agency name, when the category has one
    reporter_role: Mapped[str] = mapped_column(String(60))
    reporter_contact: Mapped[str | None] = mapped_column(String(400))  # None: the reporter stays anonymous
    description: Mapped[str] = mapped_column(Text)
    posting_url: Mapped[str | None] = mapped_column(Text)  # text only: never fetched, never linked
    platform: Mapped[str | None] = mapped_column(Text)
    happened: Mapped[str | None] = mapped_column(Text)
    involved: Mapped[str | None] = mapped_column(Text)
    involved_person_ids: Mapped[list[Any]] = mapped_column(default=list)  # roster ids named and found
    # Answers that were cut, embedded images removed, unknown choices: what a person should know about the input
    input_notes: Mapped[list[Any]] = mapped_column(default=list)
    reported_at: Mapped[datetime] = mapped_column()
    received_at: Mapped[datetime] = mapped_column()
    last_action_at: Mapped[datetime] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column(default=None)


class IncidentStep(Base):
    """One checklist step of a case (compliance.vocabulary.CaseStep) with its due date and who did it when."""

    __tablename__ = "incident_steps"
    __table_args__ = (UniqueConstraint("case_id", "step"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("incident_cases.id"), index=True)
    step: Mapped[str] = mapped_column(String(40))
    due_at: Mapped[datetime] = mapped_column()
    done_at: Mapped[datetime | None] = mapped_column(default=None)
    done_by: Mapped[str | None] = mapped_column(String(320))
    note: Mapped[str | None] = mapped_column(Text)


class IncidentAction(Base):
    """The case's timeline: what happened, who did it and when (reported, routed, steps, escalations)."""

    __tablename__ = "incident_actions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("incident_cases.id"), index=True)
    at: Mapped[datetime] = mapped_column()
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str | None] = mapped_column(Text)


class MailboxQuotaUse(Base):
    """Gmail quota units one request spends for a mailbox (a send batch, a search batch), shared by every process.

    Gmail's per-minute quota is per mailbox, whoever sends as it: each request is written here before it goes
    (``started_at``) and stamped when it returns (``finished_at``), and a process may start a request only when
    the mailbox's units in the last minute leave room (compliance.mailbox_quota). Rows older than the window
    are removed as new ones are written.
    """

    __tablename__ = "mailbox_quota_use"
    __table_args__ = (Index("ix_mailbox_quota_use_mailbox_started_at", "mailbox", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    mailbox: Mapped[str] = mapped_column(String(320))
    units: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class SiteAudit(Base):
    """One site's audit in one nightly run (crawl and photo consent reconciliation), with its counts.

    When the nightly hands its sites to ``site-audit`` flow runs on other workers, each run writes its sites
    here and the nightly reads them back: the counts travel through the store every worker already shares,
    and a site already audited for this night is not audited again (a retried or repeated run skips it).
    """

    __tablename__ = "site_audits"
    __table_args__ = (UniqueConstraint("night", "site_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    night: Mapped[str] = mapped_column(String(64))  # the nightly run it belongs to (its flow run id)
    site_id: Mapped[str] = mapped_column(String(64))
    crawl: Mapped[dict[str, Any]] = mapped_column(default=dict)  # crawl summary: counts, held reason
    photos: Mapped[dict[str, Any]] = mapped_column(default=dict)  # reconciliation counts
    audited_at: Mapped[datetime] = mapped_column()
