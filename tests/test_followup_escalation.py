"""Escalation that keeps going (issue 13, item 3), from store rows to the rendered message and its attachments.

Weekly site digests while anyone is overdue, paper-only people named with their pre-filled forms, the
superintendent told about everyone who crosses the threshold (joiners included, each once), long lists as an
attached workbook with one request in the body, and re-runs that queue nothing twice.
"""

from __future__ import annotations

import email
import io
from datetime import UTC, datetime, timedelta

from openpyxl import load_workbook
from sqlalchemy import func, select

from compliance.deliveries import queue_deliveries
from compliance.followup import plan_acknowledgement_follow_up
from compliance.mailings import MessageFactory
from compliance.models import Campaign, Delivery, Person, PolicyVersion, Site
from compliance.settings import load_settings
from compliance.vocabulary import CampaignStatus, DeliveryKind, DeliveryStatus

START = datetime(2026, 9, 8, 15, 0, tzinfo=UTC)


def _settings(inline_max: int = 25):  # type: ignore[no-untyped-def]
    profile = load_settings()
    return load_settings(reminders=profile.reminders.model_copy(update={"inline_list_max": inline_max}))


def _world(store, volunteers: int = 3) -> None:  # type: ignore[no-untyped-def]
    with store.session() as s:
        s.add(Site(id="lincoln-es", name="Lincoln", kind="elementary", org_unit="/L",
                   site_admin_email="principal@standard-sd.org", web_contact_email="web@standard-sd.org"))
        s.flush()
        s.add(PolicyVersion(id=1, drive_file_id="f", revision_id="1", sha256="0" * 64, title="AR 1114",
                            school_year="2026-2027", created_at=START))
        s.flush()
        s.add(Campaign(id=1, name="september", policy_version_id=1, status=CampaignStatus.SENDING,
                       plan={"deadline": "2026-09-29"}, created_at=START, started_at=START))
        people = [Person(person_key=f"v{i}", kind="associated", category="volunteer", given_name=f"Vol{i}",
                         family_name="Example", email=f"v{i}@example.com", site_id="lincoln-es", source="x",
                         first_seen_at=START) for i in range(volunteers)]
        people.append(Person(person_key="paper1", kind="associated", category="volunteer", given_name="=HYPERLINK(1)",
                             family_name="Paper", email=None, paper_only=True, site_id="lincoln-es", source="x",
                             first_seen_at=START))
        s.add_all(people)
        s.flush()
        for p in people[:-1]:
            s.add(Delivery(idempotency_key=f"a-{p.id}", campaign_id=1, person_id=p.id, kind=DeliveryKind.ANNOUNCEMENT,
                           recipient=p.email or "", status=DeliveryStatus.SENT, sent_at=START, site_id=p.site_id))


def _night(store, settings, now: datetime) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        planned = plan_acknowledgement_follow_up(s, settings, now)
        return {
            "digests": queue_deliveries(s, planned.site_digests),
            "escalations": queue_deliveries(s, planned.escalations),
            "reminders": queue_deliveries(s, planned.reminders),
        }


def _attachments(raw: bytes) -> dict[str, bytes]:
    message = email.message_from_bytes(raw)
    return {part.get_filename(): part.get_payload(decode=True) for part in message.walk() if part.get_filename()}


def _body(raw: bytes) -> str:
    message = email.message_from_bytes(raw)
    parts = [p for p in message.walk() if p.get_content_type() == "text/plain"]
    return parts[0].get_payload(decode=True).decode()


def test_digests_weekly_with_paper_forms_and_each_person_escalated_once(store) -> None:  # type: ignore[no-untyped-def]
    settings = _settings()
    _world(store)
    counts = {}
    for day in range(0, 50):
        now = START + timedelta(days=day, hours=1)
        if day == 20:  # a joiner, announced individually
            with store.session() as s:
                joiner = Person(person_key="j1", kind="associated", category="vendor", given_name="Joe",
                                family_name="Joiner", email="joe@example.com", site_id="lincoln-es", source="x",
                                first_seen_at=now)
                s.add(joiner)
                s.flush()
                s.add(Delivery(idempotency_key="a-j1", campaign_id=1, person_id=joiner.id,
                               kind=DeliveryKind.ANNOUNCEMENT, recipient="joe@example.com",
                               status=DeliveryStatus.SENT, sent_at=now, site_id="lincoln-es"))
        counts[day] = _night(store, settings, now)
        assert _night(store, settings, now) == {"digests": 0, "escalations": 0, "reminders": 0}  # a re-run
    digest_days = [d for d, c in counts.items() if c["digests"]]
    escalation_days = [d for d, c in counts.items() if c["escalations"]]
    assert digest_days == [21, 28, 35, 42, 49]  # weekly while anyone is overdue
    assert escalation_days == [28, 48]  # the September four, then the joiner (announced on day 20)
    assert counts[28]["escalations"] == len(settings.superintendent_recipients)
    with store.session() as s:
        escalations = s.scalars(select(Delivery).where(Delivery.kind == DeliveryKind.SUPERINTENDENT_ESCALATION)
                                .order_by(Delivery.id)).all()
        reported = [tuple(sorted(e.context["person_ids"])) for e in escalations]
        joiner_id = s.scalar(select(Person.id).where(Person.person_key == "j1"))
        assert set(reported) == {(1, 2, 3, 4), (joiner_id,)}
        digests = select(Delivery).where(Delivery.kind == DeliveryKind.SITE_DIGEST).order_by(Delivery.id)
        first = s.scalars(digests).first()
        listed = first.context["vars"]["people"]
        assert [p["no_email"] for p in listed].count(True) == 1 and len(listed) == 4
        raw, _ = MessageFactory(s, settings, START)(first, "policy-mail-0@standard-sd.org")
    body = _body(raw)
    assert "1 of them have no email" in body and "[no email: paper form attached]" in body
    files = _attachments(raw)
    assert list(files) == ["paper-forms-2026-09-29.xlsx"]  # short list: inline, only the pack attached
    book = load_workbook(io.BytesIO(files["paper-forms-2026-09-29.xlsx"]))
    assert book.sheetnames == ["Return list", "Form 1"]
    form = {row[0]: row[1] for row in book["Form 1"].iter_rows(values_only=True)}
    assert form["Name"] == "=HYPERLINK(1) Paper" and book["Form 1"]["B4"].data_type == "s"  # text, not a formula
    assert form["Roster id"] == "paper1" and form["School"] == "Lincoln"
    assert [c.value for c in book["Return list"][1]] == ["Name", "School", "Category", "Date signed", "Roster id"]


def test_nobody_overdue_means_no_digest_and_no_escalation(store) -> None:  # type: ignore[no-untyped-def]
    settings = _settings()
    _world(store, volunteers=2)
    with store.session() as s:
        from compliance.ledger import append_acknowledgement

        version = s.get(PolicyVersion, 1)
        for person in s.scalars(select(Person)).all():
            append_acknowledgement(s, person=person, policy_version=version, method="paper", signed_name="x",
                                   submitted_at=START + timedelta(days=2), response_id=f"r{person.id}",
                                   verified_email=None, now=START + timedelta(days=2))
    try:
        for day in range(0, 60, 7):
            assert _night(store, settings, START + timedelta(days=day, hours=1)) == {
                "digests": 0, "escalations": 0, "reminders": 0}
    finally:
        with store.session() as s:
            assert s.scalar(select(func.count(Delivery.id)).where(Delivery.kind != DeliveryKind.ANNOUNCEMENT)) == 0


def test_long_lists_go_as_an_attachment_with_one_request(store) -> None:  # type: ignore[no-untyped-def]
    settings = _settings(inline_max=2)
    _world(store, volunteers=5)
    now = START + timedelta(days=28, hours=1)
    assert _night(store, settings, now)["escalations"] == len(settings.superintendent_recipients)
    with store.session() as s:
        factory = MessageFactory(s, settings, now)
        for kind in (DeliveryKind.SITE_DIGEST, DeliveryKind.SUPERINTENDENT_ESCALATION):
            row = s.scalars(select(Delivery).where(Delivery.kind == kind)).first()
            raw, _ = factory(row, "policy-mail-0@standard-sd.org")
            body, files = _body(raw), _attachments(raw)
            assert "Vol0 Example" not in body  # the names are in the workbook, not the message
            assert body.count("Please") == 1
            listing = load_workbook(io.BytesIO(files["outstanding-2026-10-06.xlsx"]))["Outstanding"]
            names = [r[0] for r in listing.iter_rows(min_row=2, values_only=True)]
            assert sorted(names) == sorted([f"Vol{i} Example" for i in range(5)] + ["=HYPERLINK(1) Paper"])
