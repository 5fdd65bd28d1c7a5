"""A small district in a store, and every kind of email the pipeline sends about it, built the way the nightly,
the campaign and the report build them (the real planners, the real message factory), for the email tests.

The people are made up for the tests; the roster knows the principals, one web coordinator, the superintendent
and the chief of staff by name (as the Directory does), and leaves one site's web contact unknown so a greeting
falls back on the role's title. Times are fixed: the same world renders the same messages on every run.
"""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy

from sqlalchemy.orm import Session

from compliance.deliveries import PlannedDelivery
from compliance.followup import plan_acknowledgement_follow_up, plan_takedown_notices
from compliance.mailings import MessageFactory
from compliance.models import Campaign, Delivery, Finding, Person, PolicyVersion
from compliance.policy import FormQuestions
from compliance.report.emails import plan_report_emails, recipient_names
from compliance.roster import sync_sites
from compliance.settings import Settings, load_settings
from compliance.vocabulary import CampaignStatus, DeliveryKind, DeliveryStatus, reminder_kind

START = datetime(2026, 9, 8, 15, 0, tzinfo=UTC)  # a Tuesday, 08:00 in the district
DEADLINE = "2026-09-29"  # START + 21 days, as a campaign's default deadline_days
SITE = "lincoln-es"
BIG_SITE = "roosevelt-es"
STAFF_FORM = "https://docs.google.com/forms/d/e/1FAIpQLSc-staff-form-0123456789abcdefghijklmnop/viewform"
COMMUNITY_FORM = "https://docs.google.com/forms/d/e/1FAIpQLSd-community-form-0123456789abcdefghijkl/viewform"

# Made-up adults the roster knows (email -> given, family, preferred language).
NAMED = {
    "principal.lincoln@standard-sd.org": ("Odalys", "Brightwater", ""),
    "principal.roosevelt@standard-sd.org": ("Ximena", "Larkspur-Valdivia", "es"),
    "web.lincoln@standard-sd.org": ("Tobiah", "Fernweh", ""),
    "superintendent@standard-sd.org": ("Ignatius", "Moonfield", ""),
    "chief-of-staff@standard-sd.org": ("Perpetua", "Ashgrove", "es"),
}


@dataclass
class Email:
    """One rendered message: what a person's mail client gets."""

    name: str  # the file stem of its screenshots: kind-language[-variant]
    kind: str
    language: str
    recipient: str
    subject: str
    text: str
    html: str


def _person(key: str, given: str, family: str, email_address: str | None, *, kind: str = "associated",
            category: str = "volunteer", site: str = SITE, language: str = "", account: bool = False,
            paper: bool = False) -> Person:
    return Person(person_key=key, kind=kind, category=category, given_name=given, family_name=family,
                  email=email_address, email_normalized=email_address.lower() if email_address else None,
                  site_id=site, has_district_account=account, paper_only=paper, preferred_language=language,
                  source="test", first_seen_at=START)


def build_world(session: Session, settings: Settings) -> None:
    """Sites from the profile, the roster, a policy version with its two forms, a sending campaign announced
    to everyone at START, and open photo findings at Lincoln."""
    sync_sites(session, settings.sites)
    questions = {
        "staff": FormQuestions("staff-form", STAFF_FORM, "aaaa0001", "aaaa0002", language="aaaa0003").as_json(),
        "community": FormQuestions("community-form", COMMUNITY_FORM, "bbbb0001", "bbbb0002", "bbbb0003",
                                   language="bbbb0004").as_json(),
    }
    session.add(PolicyVersion(id=1, drive_file_id="1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", revision_id="7",
                              sha256="0" * 64, title="AR 1114 Social Media Use", school_year="2026-2027",
                              form_questions=questions, created_at=START,
                              translations={"es": {"drive_file_id": "1EsPaNoLdOc0123456789abcdefghij",
                                                   "title": "AR 1114 Uso de redes sociales"}}))
    session.flush()
    session.add(Campaign(id=1, name="AR 1114 fall", policy_version_id=1, status=CampaignStatus.SENDING,
                         plan={"deadline": DEADLINE}, created_at=START, started_at=START, language="en"))
    people = [
        _person("emp-admin-1", *NAMED["principal.lincoln@standard-sd.org"][:2], "principal.lincoln@standard-sd.org",
                kind="employee", category="employee", account=True),
        _person("emp-admin-2", *NAMED["principal.roosevelt@standard-sd.org"][:2],
                "principal.roosevelt@standard-sd.org", kind="employee", category="employee", site=BIG_SITE,
                language="es", account=True),
        _person("emp-web-1", *NAMED["web.lincoln@standard-sd.org"][:2], "web.lincoln@standard-sd.org",
                kind="employee", category="employee", account=True),
        _person("emp-sup", *NAMED["superintendent@standard-sd.org"][:2], "superintendent@standard-sd.org",
                kind="employee", category="employee", site="district-office", account=True),
        _person("emp-cos", *NAMED["chief-of-staff@standard-sd.org"][:2], "chief-of-staff@standard-sd.org",
                kind="employee", category="employee", site="district-office", language="es", account=True),
        # Who the campaign reminds: a volunteer (personal link), a teacher (the staff form), Spanish readers.
        _person("vol-1", "Wenceslao", "Quillfeather", "wq.volunteer@example.com"),
        _person("vol-2", "Maritza", "Thistledown", "mthistle@example.net", category="committee_parent", language="es"),
        _person("emp-t1", "Bartholomew", "Underhill-Castellanos", "b.underhill@standard-sd.org", kind="employee",
                category="employee", account=True),
        _person("emp-t2", "Graciela", "Nightingale", "g.nightingale@standard-sd.org", kind="employee",
                category="employee", language="es", account=True),
        _person("paper-1", "Anselmo", "Featherstonehaugh", None, category="walk_on_coach", paper=True),
    ]
    # Roosevelt has many people outstanding: its digest attaches the list instead of a long table.
    people += [_person(f"vol-r{i:02d}", f"Volunteer{i:02d}", "Roosevelt", f"r{i:02d}@example.org", site=BIG_SITE)
               for i in range(30)]
    session.add_all(people)
    session.flush()
    for p in people:
        if p.email and p.person_key.startswith(("vol", "emp-t")):
            session.add(Delivery(idempotency_key=f"announce-{p.person_key}", campaign_id=1, person_id=p.id,
                                 kind=DeliveryKind.ANNOUNCEMENT, recipient=p.email, status=DeliveryStatus.SENT,
                                 sent_at=START, site_id=p.site_id,
                                 context={"language": p.preferred_language or "en"}))
    base = "https://lincoln-es.standard-sd.org"
    photos = [  # (page, image, student, reason, kind, channel, platform)
        (f"{base}/news/2026/09/first-day-of-school-welcome-back-assembly-photos.html",
         f"{base}/wp-content/uploads/2026/09/first-day-assembly-group-photo-gym-bleachers-IMG_20260908_0915.jpg",
         "1004217", "no_consent", "photo", "figcaption", "website"),
        (f"{base}/news/2026/09/first-day-of-school-welcome-back-assembly-photos.html",
         f"{base}/wp-content/uploads/2026/09/first-day-assembly-group-photo-gym-bleachers-IMG_20260908_0915.jpg",
         "1004388", "revoked", "photo", "alt", "website"),
        (f"{base}/classrooms/room-12/science-fair.html", f"{base}/images/science-fair-winners.jpg",
         "1005120", "expired", "photo", "alt", "website"),
        (f"{base}/classrooms/room-12/science-fair.html", "", "1005121", "principal_missing", "name", "page_text",
         "website"),
        ("https://www.youtube.com/watch?v=Xy9Zq8Wv7Ut", "https://i.ytimg.com/vi/Xy9Zq8Wv7Ut/hqdefault.jpg",
         "1004217", "purpose_not_covered", "video", "title", "youtube"),
    ]
    for n, (page, image, student, reason, kind, channel, platform) in enumerate(photos):
        session.add(Finding(finding_key=f"f{n}", site_id=SITE, page_url=page, image_url=image, student_id=student,
                            verdict="violation", reason=reason, confidence=1.0, kind=kind, channel=channel,
                            platform=platform, first_seen_at=START, last_seen_at=START))
    session.flush()


REPORT_SUMMARY = {"ack_rate": 0.873, "acknowledged": 612, "active_people": 701, "outstanding": 89,
                  "violations_online": 4, "violations_resolved_since_previous": 11,
                  "ledger_head_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                  "ledger_events": 4821}


def _render(factory: MessageFactory, planned: PlannedDelivery | Delivery, name: str, sender: str) -> Email:
    row = planned.to_row() if isinstance(planned, PlannedDelivery) else planned
    raw, _ = factory(row, sender)
    message = email.message_from_bytes(raw, policy=policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    language = "es" if 'lang="es"' in html else "en"
    return Email(name, row.kind, language, row.recipient, str(message["Subject"]), text, html)


def _in(planned: PlannedDelivery, language: str) -> PlannedDelivery:
    """The same message written in ``language`` (the takedown and report planners write English)."""
    return PlannedDelivery(idempotency_key=planned.idempotency_key + f"-{language}", kind=planned.kind,
                           recipient=planned.recipient, campaign_id=planned.campaign_id,
                           person_id=planned.person_id, site_id=planned.site_id,
                           context={**planned.context, "language": language})


def _reminder(session: Session, person_key: str, number: int) -> Delivery:
    person = session.query(Person).filter_by(person_key=person_key).one()
    return Delivery(idempotency_key=f"{reminder_kind(number)}-{person_key}", campaign_id=1, person_id=person.id,
                    kind=reminder_kind(number), recipient=person.email or "", site_id=person.site_id,
                    context={"language": person.preferred_language or "en"})


def _announcement(session: Session, person_key: str) -> Delivery:
    person = session.query(Person).filter_by(person_key=person_key).one()
    return Delivery(idempotency_key=f"announce-{person_key}", campaign_id=1, person_id=person.id,
                    kind=DeliveryKind.ANNOUNCEMENT, recipient=person.email or "", site_id=person.site_id,
                    context={"language": person.preferred_language or "en"})


def all_emails(session: Session, settings: Settings | None = None) -> dict[str, Email]:
    """Every kind of email, in English and Spanish, by name (see :class:`Email`)."""
    settings = settings or load_settings()
    sender = str(settings.senders[0])
    build_world(session, settings)
    out: dict[str, Email] = {}

    def add(factory: MessageFactory, planned: PlannedDelivery | Delivery, name: str) -> None:
        out[name] = _render(factory, planned, name, sender)

    at = START + timedelta(days=1)
    factory = MessageFactory(session, settings, at)
    add(factory, _announcement(session, "vol-1"), "announcement-en")
    add(factory, _announcement(session, "emp-t2"), "announcement-es-staff")
    group = Delivery(idempotency_key="group-lincoln-1", campaign_id=1, kind=DeliveryKind.ANNOUNCEMENT_GROUP,
                     recipient=sender, recipients=["b.underhill@standard-sd.org"], site_id=SITE,
                     context={"language": "en", "person_ids": []})
    add(factory, group, "announcement-en-group")

    week1 = MessageFactory(session, settings, START + timedelta(days=7, hours=2))
    add(week1, _reminder(session, "vol-1", 1), "reminder1-en")
    add(week1, _reminder(session, "vol-2", 1), "reminder1-es")
    week2 = MessageFactory(session, settings, START + timedelta(days=14, hours=2))
    add(week2, _reminder(session, "emp-t1", 2), "reminder2-en-staff")
    late = MessageFactory(session, settings, START + timedelta(days=23, hours=2))  # two days past the deadline
    add(late, _reminder(session, "vol-1", 2), "reminder2-en-overdue")
    add(late, _reminder(session, "vol-2", 2), "reminder2-es-overdue")

    day21 = START + timedelta(days=21, hours=2)
    follow = plan_acknowledgement_follow_up(session, settings, day21)
    digests = {p.site_id: p for p in follow.site_digests}
    factory = MessageFactory(session, settings, day21)
    add(factory, digests[SITE], "site_digest-en")
    add(factory, digests[BIG_SITE], "site_digest-es-attached")
    day28 = START + timedelta(days=28, hours=2)
    follow = plan_acknowledgement_follow_up(session, settings, day28)
    by_recipient = {p.recipient: p for p in follow.escalations}
    factory = MessageFactory(session, settings, day28)
    add(factory, by_recipient["superintendent@standard-sd.org"], "superintendent_escalation-en")
    add(factory, by_recipient["chief-of-staff@standard-sd.org"], "superintendent_escalation-es")
    # The same escalation with its 35 people listed in the message (a profile with a higher inline_list_max).
    roomy = settings.model_copy(update={"reminders": settings.reminders.model_copy(update={"inline_list_max": 50})})
    inline = plan_acknowledgement_follow_up(session, roomy, day28).escalations[0]
    add(factory, inline, "superintendent_escalation-en-inline")

    night = START + timedelta(days=2, hours=10)
    notices = plan_takedown_notices(session, settings, night)
    notices.mark(night)
    factory = MessageFactory(session, settings, night)
    takedown = {(p.recipient, p.site_id): p for p in notices.digests}
    admin = takedown[("principal.lincoln@standard-sd.org", SITE)]
    add(factory, admin, "takedown_digest-en")
    add(factory, takedown[("web.lincoln@standard-sd.org", SITE)], "takedown_digest-en-web")
    add(factory, _in(admin, "es"), "takedown_digest-es")
    later = night + timedelta(days=3)
    notices = plan_takedown_notices(session, settings, later)
    factory = MessageFactory(session, settings, later)
    reminder = next(p for p in notices.reminders if p.recipient == "principal.lincoln@standard-sd.org")
    add(factory, reminder, "takedown_reminder-en")
    add(factory, _in(reminder, "es"), "takedown_reminder-es")

    report_at = START + timedelta(days=27, hours=14)
    recipients = [str(r) for r in settings.superintendent_recipients]
    reports = plan_report_emails(recipients, REPORT_SUMMARY, "1ReportWorkbookFileId0123456789", report_at,
                                 settings.district.time_zone, names=recipient_names(session, recipients))
    factory = MessageFactory(session, settings, report_at)
    add(factory, reports[0], "compliance_report-en")
    add(factory, _in(reports[0], "es"), "compliance_report-es")
    return out
