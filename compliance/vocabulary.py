"""The district's words, once: person kinds and categories, delivery kinds and statuses, campaign statuses,
finding verdicts and states, page statuses, acknowledgement methods, incident case categories, states and steps.

Every value is a :class:`~enum.StrEnum` whose value is the string the store has always held, so rows written
before this module existed read back as members (``PersonCategory("volunteer")``) and no migration is needed.
Members compare equal to their strings, which is what lets SQLAlchemy filters, JSON contexts and templates take
them unchanged. Labels for people (emails, the workbook) live here too, so a new category is added in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Literal

Language = Literal["en", "es"]


class PersonKind(StrEnum):
    """AR 1114 covers two kinds of people: district employees and Associated Persons."""

    EMPLOYEE = "employee"
    ASSOCIATED = "associated"

    @property
    def label(self) -> str:
        return _KIND_LABELS[self]


_KIND_LABELS = {PersonKind.EMPLOYEE: "Employee", PersonKind.ASSOCIATED: "Associated person"}


class PersonCategory(StrEnum):
    """What a person is to the district; every category but ``employee`` is an Associated Person group."""

    EMPLOYEE = "employee"
    COMMITTEE_PARENT = "committee_parent"
    VOLUNTEER = "volunteer"
    WALK_ON_COACH = "walk_on_coach"
    CONSULTANT = "consultant"
    CONTRACTOR = "contractor"
    VENDOR = "vendor"
    CHILD_CARE_PROVIDER = "child_care_provider"
    AFTER_SCHOOL_PROVIDER = "after_school_provider"

    @property
    def kind(self) -> PersonKind:
        return PersonKind.EMPLOYEE if self is PersonCategory.EMPLOYEE else PersonKind.ASSOCIATED

    def label(self, language: str = "en") -> str:
        """How the category is written to people, in ``language`` (English when the language is unknown)."""
        return _CATEGORY_LABELS.get(language, _CATEGORY_LABELS["en"])[self]

    @classmethod
    def associated(cls) -> tuple[PersonCategory, ...]:
        """The Associated Person categories, in the order AR 1114 lists them."""
        return tuple(c for c in cls if c is not cls.EMPLOYEE)


def category_label(category: str, language: str = "en") -> str:
    """Label of a stored category; a value the vocabulary does not know is shown as stored (never hidden)."""
    try:
        return PersonCategory(category).label(language)
    except ValueError:
        return category


_CATEGORY_LABELS: dict[str, dict[PersonCategory, str]] = {
    "en": {
        PersonCategory.EMPLOYEE: "Employee",
        PersonCategory.COMMITTEE_PARENT: "Committee parent",
        PersonCategory.VOLUNTEER: "Volunteer",
        PersonCategory.WALK_ON_COACH: "Walk-on coach",
        PersonCategory.CONSULTANT: "Consultant",
        PersonCategory.CONTRACTOR: "Contractor",
        PersonCategory.VENDOR: "Vendor",
        PersonCategory.CHILD_CARE_PROVIDER: "Child-care provider",
        PersonCategory.AFTER_SCHOOL_PROVIDER: "After-school provider",
    },
    "es": {
        PersonCategory.EMPLOYEE: "Empleado/a",
        PersonCategory.COMMITTEE_PARENT: "Padre/madre de comité",
        PersonCategory.VOLUNTEER: "Voluntario/a",
        PersonCategory.WALK_ON_COACH: "Entrenador/a externo/a",
        PersonCategory.CONSULTANT: "Consultor/a",
        PersonCategory.CONTRACTOR: "Contratista",
        PersonCategory.VENDOR: "Proveedor",
        PersonCategory.CHILD_CARE_PROVIDER: "Proveedor de cuidado infantil",
        PersonCategory.AFTER_SCHOOL_PROVIDER: "Proveedor de programa extraescolar",
    },
}

# The school's own words for each Associated Person category (roster matching: exact, then words contained,
# then fuzzy; see compliance.roster.map_category). Lower case; punctuation and accents are normalised there.
CATEGORY_SYNONYMS: Mapping[PersonCategory, tuple[str, ...]] = MappingProxyType({
    PersonCategory.COMMITTEE_PARENT: (
        "committee parent",
        "parent committee",
        "pta",
        "pto",
        "pta committee",
        "pto committee",
        "ssc",
        "school site council",
        "site council",
        "elac",
        "delac",
        "booster",
        "booster club",
        "parent volunteer committee",
        "committee",
        "committee member",
        "parent rep",
        "parent leader",
    ),
    PersonCategory.VOLUNTEER: (
        "volunteer",
        "parent volunteer",
        "classroom volunteer",
        "chaperone",
        "field trip chaperone",
        "library volunteer",
        "tutor volunteer",
        "docent",
        "mentor",
        "voluntario",
        "room parent",
        "room mom",
        "room dad",
    ),
    PersonCategory.WALK_ON_COACH: (
        "walk on coach",
        "walk-on coach",
        "walkon coach",
        "coach",
        "assistant coach",
        "volunteer coach",
        "athletic coach",
        "walk on",
        "walk-on",
    ),
    PersonCategory.CONSULTANT: (
        "consultant",
        "advisor",
        "adviser",
        "specialist",
        "trainer",
        "presenter",
        "speaker",
        "instructional coach consultant",
        "independent consultant",
    ),
    PersonCategory.CONTRACTOR: (
        "contractor",
        "independent contractor",
        "subcontractor",
        "construction",
        "maintenance contractor",
        "it contractor",
        "service provider",
        "contract",
        "contracted",
        "contracted services",
    ),
    PersonCategory.VENDOR: (
        "vendor",
        "supplier",
        "food service vendor",
        "photographer",
        "photo vendor",
        "catering",
        "school photographer",
        "yearbook vendor",
        "fundraiser vendor",
    ),
    PersonCategory.CHILD_CARE_PROVIDER: (
        "child care provider",
        "childcare provider",
        "child care",
        "childcare",
        "daycare",
        "day care",
        "preschool provider",
        "child-care",
        "before school care",
        "before and after school care",
        "kids club",
    ),
    PersonCategory.AFTER_SCHOOL_PROVIDER: (
        "after school provider",
        "after-school provider",
        "after school",
        "afterschool",
        "after-school",
        "after school program",
        "ymca",
        "boys and girls club",
        "boys & girls club",
        "extended day",
        "expanded learning",
        "asp",
        "aspire",
        "ases",
        "ases provider",
    ),
})


# -- mail ----------------------------------------------------------------------------------------------------


class DeliveryKind(StrEnum):
    """What a ledger row sends. Reminders are numbered by the cadence (``reminder_1``, ``reminder_2``, ...), so
    they are not members: build them with :func:`reminder_kind`, read them with :func:`reminder_number`."""

    ANNOUNCEMENT = "announcement"
    # One announcement to a chunk of a site's staff by Bcc; ``context.person_ids`` says whom it announced to.
    ANNOUNCEMENT_GROUP = "announcement_group"
    SITE_DIGEST = "site_digest"
    SUPERINTENDENT_ESCALATION = "superintendent_escalation"
    TAKEDOWN_DIGEST = "takedown_digest"
    TAKEDOWN_REMINDER = "takedown_reminder"
    COMPLIANCE_REPORT = "compliance_report"


REMINDER_PREFIX = "reminder_"
# Kinds rendered at send time from the person and the campaign (the ledger row holds no names or links).
PERSONAL_KINDS: frozenset[str] = frozenset({DeliveryKind.ANNOUNCEMENT})
TAKEDOWN_KINDS: tuple[DeliveryKind, ...] = (DeliveryKind.TAKEDOWN_DIGEST, DeliveryKind.TAKEDOWN_REMINDER)


def reminder_kind(number: int) -> str:
    """The delivery kind of reminder ``number`` (1-based): ``reminder_1``, ``reminder_2``, ..."""
    if number < 1:
        raise ValueError(f"reminder numbers start at 1, not {number}")
    return f"{REMINDER_PREFIX}{number}"


def reminder_number(kind: str) -> int | None:
    """The number of a reminder kind, or None when ``kind`` is not a reminder."""
    if not kind.startswith(REMINDER_PREFIX):
        return None
    digits = kind.removeprefix(REMINDER_PREFIX)
    return int(digits) if digits.isdigit() and int(digits) >= 1 else None


def is_personal(kind: str) -> bool:
    """Whether a delivery of ``kind`` is rendered from one person at send time (announcement or reminder)."""
    return kind in PERSONAL_KINDS or reminder_number(kind) is not None


class EmailTemplate(StrEnum):
    """Email templates (``templates/email/<name>.<lang>.txt|html``); a delivery kind names which one it uses."""

    ANNOUNCEMENT = "announcement"
    REMINDER = "reminder"
    SITE_ADMIN_DIGEST = "site_admin_digest"
    SUPERINTENDENT_ESCALATION = "superintendent_escalation"
    TAKEDOWN_DIGEST = "takedown_digest"
    TAKEDOWN_REMINDER = "takedown_reminder"
    COMPLIANCE_REPORT = "compliance_report"


class DeliveryStatus(StrEnum):
    """Where a ledger row is: ``pending`` until claimed, ``sending`` while its send is in flight (or unknown
    after a crash, until the sender's mailbox is searched), then ``sent`` or ``failed``; a ``sent`` row becomes
    ``bounced`` when a bounce quoting its Message-ID arrives."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"


UNSENT_STATUSES: tuple[DeliveryStatus, ...] = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class CampaignStatus(StrEnum):
    """A dry run is recorded and never sends; a real campaign is ``planned`` until its rows are queued, then
    ``sending`` (the nightly job announces to joiners only in ``sending`` campaigns)."""

    DRY_RUN = "dry_run"
    PLANNED = "planned"
    SENDING = "sending"


# -- photo findings ------------------------------------------------------------------------------------------


class Verdict(StrEnum):
    """The consent rule's answer for one student in one image on one page."""

    VIOLATION = "violation"
    OK = "ok"
    NEEDS_REVIEW = "needs_review"

    @property
    def label(self) -> str:
        return _VERDICT_LABELS[self]


_VERDICT_LABELS = {Verdict.VIOLATION: "Violation", Verdict.NEEDS_REVIEW: "Needs review", Verdict.OK: "OK"}


class FindingKind(StrEnum):
    """What identifies the student (AR 1114 II.3 names all three): a photo, a video, or the name in the text;
    on a blog or a social media account, the post (its text, photos, alt text and tags)."""

    PHOTO = "photo"
    VIDEO = "video"
    NAME = "name"
    POST = "post"


class Platform(StrEnum):
    """Where a finding was published: the school website, or a district-sponsored channel of AR 1114 II.3
    (a YouTube channel, a Blogger blog, a Facebook Page, an Instagram or X account read from its export)."""

    WEBSITE = "website"
    YOUTUBE = "youtube"
    BLOGGER = "blogger"
    FACEBOOK = "facebook"
    INSTAGRAM = "instagram"
    X = "x"

    @property
    def label(self) -> str:
        return _PLATFORM_LABELS[self]

    @property
    def removal_path(self) -> str:
        """How the account's owner takes the item down, in the platform's own menus (the takedown digest)."""
        return _REMOVAL_PATHS[self]


_PLATFORM_LABELS = {
    Platform.WEBSITE: "Website",
    Platform.YOUTUBE: "YouTube",
    Platform.BLOGGER: "Blogger",
    Platform.FACEBOOK: "Facebook",
    Platform.INSTAGRAM: "Instagram",
    Platform.X: "X",
}
_REMOVAL_PATHS = {
    Platform.WEBSITE: "edit the page in the site's editor and remove the photo or its caption",
    Platform.YOUTUBE: "YouTube Studio > Content > the video > Visibility: Private (or Options > Delete forever)",
    Platform.BLOGGER: "Blogger > Posts > the post > Revert to draft (or edit it and remove the photo or name)",
    Platform.FACEBOOK: "the Page's post > ... (More) > Delete post (or Edit post and remove the photo or tag)",
    Platform.INSTAGRAM: "the post > ... (More) > Delete (or Edit: remove the tag or the caption's name)",
    Platform.X: "the post > ... (More) > Delete",
}
SOCIAL_PLATFORMS: tuple[Platform, ...] = tuple(p for p in Platform if p != Platform.WEBSITE)
# A video of a school's own channel read as its owner may be unlisted or private: its finding's evidence begins
# "unlisted video; " / "private video; " (no name in that part), and the takedown digest says so with the path
# that fits (an unlisted video is still watched by anyone with its link; a private one is already hidden).
HIDDEN_VIDEO_REMOVAL = {
    "unlisted": "YouTube Studio > Content > the video > Visibility: Private (unlisted, anyone with the link can "
                "still watch it), or Options > Delete forever",
    "private": "YouTube Studio > Content > the video > Details: remove the name from the title, description and "
               "tags (private: only the channel and the people it is shared with see it), or Options > Delete "
               "forever",
}


def hidden_video_evidence(privacy: str, evidence: str) -> str:
    """The evidence of a finding on a video that is not public: its privacyStatus first."""
    return f"{privacy} video; {evidence}"


def hidden_video(platform: str | None, evidence: str | None) -> str | None:
    """``unlisted`` or ``private`` when a YouTube finding's evidence says so (:func:`hidden_video_evidence`)."""
    if platform != Platform.YOUTUBE:
        return None
    return next((p for p in HIDDEN_VIDEO_REMOVAL if (evidence or "").startswith(f"{p} video; ")), None)


class FindingState(StrEnum):
    """``new`` the night a finding is first seen, ``open`` while the image stays online, ``resolved`` when it is
    gone on re-crawl (a resolved finding seen again is ``new`` again)."""

    NEW = "new"
    OPEN = "open"
    RESOLVED = "resolved"

    @property
    def label(self) -> str:
        return _STATE_LABELS[self]


_STATE_LABELS = {FindingState.NEW: "New", FindingState.OPEN: "Open", FindingState.RESOLVED: "Taken down"}
UNRESOLVED_STATES: tuple[FindingState, ...] = (FindingState.NEW, FindingState.OPEN)


class PageStatus(StrEnum):
    """A crawled page: ``live``, ``gone`` (no longer reachable or linked), or ``alias`` (another URL for a live
    page). Photo appearances use ``live`` and ``gone``."""

    LIVE = "live"
    GONE = "gone"
    ALIAS = "alias"


# -- the evidence ledger -------------------------------------------------------------------------------------


class LedgerEventKind(StrEnum):
    """What an event in the ledger's chain records (``ledger_events.kind``; compliance.ledger builds them).

    Announcements, reminders, digests and report emails are all ``mail_sent`` (the payload's ``delivery_kind``
    says which); takedown requests to a site are ``takedown_sent``. A consent record is ``consent_applied``
    or ``consent_revoked`` as read, ``consent_withdrawn`` when its line disappears from the school's sheet.
    """

    ACKNOWLEDGEMENT = "acknowledgement"
    PAPER_ACKNOWLEDGEMENT = "paper_acknowledgement"
    MAIL_SENT = "mail_sent"
    TAKEDOWN_SENT = "takedown_sent"
    CONSENT_APPLIED = "consent_applied"
    CONSENT_REVOKED = "consent_revoked"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    FINDING_OPENED = "finding_opened"
    FINDING_RESOLVED = "finding_resolved"
    # Whether a person must acknowledge a policy revision again. The deciding flow appends it with
    # ``compliance.ledger.append_events`` (an ``EventDraft`` of this kind, ids and hashes only); nothing in
    # the pipeline writes it yet.
    REACKNOWLEDGEMENT_DECISION = "reacknowledgement_decision"


# Kinds the pipeline itself records today (the others are hooks for flows still to come).
PIPELINE_EVENT_KINDS: frozenset[str] = frozenset(LedgerEventKind) - {LedgerEventKind.REACKNOWLEDGEMENT_DECISION}


# -- acknowledgements ----------------------------------------------------------------------------------------


class AckMethod(StrEnum):
    """How an acknowledgement was signed: the Google Form, or a paper form entered from the scanned list."""

    FORM = "form"
    PAPER = "paper"


# -- incidents and complaints (AR 1114 III.A.2-7, IV) ---------------------------------------------------------


class CaseCategory(StrEnum):
    """What a reported incident is; the category decides the agency a case goes to (compliance.incidents)."""

    THREAT = "threat"
    IMAGES_OF_MINORS = "images_of_minors"
    SUSPECTED_ABUSE = "suspected_abuse"
    HARASSMENT = "harassment"
    MISCONDUCT = "misconduct"
    OTHER = "other"

    @property
    def label(self) -> str:
        return _CASE_CATEGORY_LABELS[self]

    @property
    def urgent(self) -> bool:
        """Urgent categories go to an outside agency and page the district office at once."""
        return self in URGENT_CATEGORIES


_CASE_CATEGORY_LABELS = {
    CaseCategory.THREAT: "Threat of violence or harm",
    CaseCategory.IMAGES_OF_MINORS: "Inappropriate or sexualized images of minors",
    CaseCategory.SUSPECTED_ABUSE: "Suspected child abuse or neglect",
    CaseCategory.HARASSMENT: "Online harassment or bullying",
    CaseCategory.MISCONDUCT: "Inappropriate posting or conduct by staff or an associated person",
    CaseCategory.OTHER: "Something else",
}
URGENT_CATEGORIES: frozenset[CaseCategory] = frozenset(
    {CaseCategory.THREAT, CaseCategory.IMAGES_OF_MINORS, CaseCategory.SUSPECTED_ABUSE}
)


class CaseState(StrEnum):
    """``open`` until a step is done, ``in_progress`` while steps remain, ``closed`` when every step is done."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {"open": "Open", "in_progress": "In progress", "closed": "Closed"}[self.value]


class CaseStep(StrEnum):
    """The protocol as a checklist: IV a-k, the agency report of III.A.3, evidence (III.A.4) and removal (III.A.6).

    Which steps a case gets, and when each is due, is ``compliance.incidents.checklist``.
    """

    AGENCY_REPORTED = "agency_reported"
    EVIDENCE_RECORDED = "evidence_recorded"
    SAFETY_SECURED = "safety_secured"  # IV a
    PARTIES_ASSURED = "parties_assured"  # IV b
    INVESTIGATED = "investigated"  # IV c
    BEHAVIOUR_STOPPED = "behaviour_stopped"  # IV d
    STATEMENTS_REQUESTED = "statements_requested"  # IV e
    CONSULTED = "consulted"  # IV f
    ACTIONS_DOCUMENTED = "actions_documented"  # IV g
    DISCIPLINE_SUPPORT = "discipline_support"  # IV h
    CRIMINAL_COMPLAINT_TOLD = "criminal_complaint_told"  # IV i
    REMOVAL_REQUESTED = "removal_requested"  # III.A.6
    MONITORING = "monitoring"  # IV j, III.A.7
    RETALIATION_CHECK_30 = "retaliation_check_30"  # IV k
    RETALIATION_CHECK_90 = "retaliation_check_90"  # IV k

    @property
    def label(self) -> str:
        return _CASE_STEP_LABELS[self]


_CASE_STEP_LABELS = {
    CaseStep.AGENCY_REPORTED: "Report to the outside agency",
    CaseStep.EVIDENCE_RECORDED: "Record the address and time seen (never download, print, screenshot or email it)",
    CaseStep.SAFETY_SECURED: "Campus or office safety secured",
    CaseStep.PARTIES_ASSURED: "Involved parties told the complaint is taken seriously",
    CaseStep.INVESTIGATED: "Investigation done",
    CaseStep.BEHAVIOUR_STOPPED: "Action taken to stop the behaviour",
    CaseStep.STATEMENTS_REQUESTED: "Written factual statements requested (parties and witnesses)",
    CaseStep.CONSULTED: "District office and other offices consulted",
    CaseStep.ACTIONS_DOCUMENTED: "Actions documented",
    CaseStep.DISCIPLINE_SUPPORT: "Discipline, counseling or support services decided",
    CaseStep.CRIMINAL_COMPLAINT_TOLD: "Victim told of the option of a criminal complaint or civil action",
    CaseStep.REMOVAL_REQUESTED: "Removal of the posting requested (report-abuse or takedown) and outcome recorded",
    CaseStep.MONITORING: "Follow-up monitoring done",
    CaseStep.RETALIATION_CHECK_30: "No-retaliation check-in at 30 days",
    CaseStep.RETALIATION_CHECK_90: "No-retaliation check-in at 90 days",
}


class IncidentDeliveryKind(StrEnum):
    """Mail a case sends; each kind is also the name of its template (``templates/email/<kind>.en.*``)."""

    CASE_OPENED = "incident_case"  # the case file and checklist, to the owner only
    AGENCY_PAGE = "incident_page"  # urgent categories: the district office contacts (no case details)
    STEP_REMINDER = "incident_reminder"  # overdue steps, to the owner
    STALE_ESCALATION = "incident_escalation"  # no action for too long, to the superintendent's designee


INCIDENT_KINDS: tuple[str, ...] = tuple(k.value for k in IncidentDeliveryKind)


class SiteAuditPlacement(StrEnum):
    """Where the nightly audits the school websites (crawl and photo consent reconciliation, site by site)."""

    IN_RUN = "in-run"  # tasks of the nightly's own flow run, on the worker that runs it
    WORKERS = "workers"  # `site-audit` flow runs on the work pool: every worker, on any machine, takes a share
