"""How emails greet, count and word things (issue 14, item 8), on the rendered text; no browser.

Greetings by the roster's name, else the role's title as a title, else no name; never a role the address does
not hold (the chief of staff is not "Superintendent", a principal is not the "web team") nor an address's local
part ("Hello superintendent"). Takedown notices count photos, not findings. Reminders are worded by stage and
never ask for a date that has passed. Staff are not told their form link is personal.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

import pytest
from email_world import DEADLINE, START, Email, _person, all_emails, build_world

from compliance.followup import plan_takedown_notices
from compliance.greetings import greeting, reminder_stage, site_admin_title, staff_title, web_contact_title
from compliance.mail import format_long_date, render_email, takedown_counts
from compliance.mailings import MessageFactory
from compliance.models import Finding
from compliance.report.emails import plan_report_emails
from compliance.settings import load_settings

DUE = date.fromisoformat(DEADLINE)


@pytest.fixture(scope="module")
def emails(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Email]:
    from compliance.store import Store

    store = Store(f"sqlite:///{tmp_path_factory.mktemp('greetings') / 'store.db'}")
    with store.session() as session:
        return all_emails(session)


def _first_line(mail: Email) -> str:
    return mail.text.splitlines()[0]


# -- the rules, as functions ----------------------------------------------------------------------------------


def test_greeting_uses_the_name_else_the_title_else_no_name() -> None:
    assert greeting("Ana Pérez", "Principal") == "Hello Ana Pérez,"
    assert greeting("", "Principal") == "Hello Principal,"
    assert greeting("", None) == "Hello," and greeting("  ", "") == "Hello,"
    assert greeting("Ana Pérez", None, "es") == "Hola, Ana Pérez:" and greeting("", "", "es") == "Hola:"
    assert site_admin_title("elementary") == "Principal" and site_admin_title("k8", "es") == "director/a"
    assert site_admin_title("office") == "Site Administrator"  # the district office has no principal
    assert web_contact_title() == "Web Coordinator" and web_contact_title("es") == "coordinador/a web"
    assert staff_title("Lincoln", "es") == "personal de Lincoln" and staff_title("Lincoln") == "Lincoln staff"


def test_reminder_stage_follows_the_cadence_and_the_deadline() -> None:
    before = DUE - timedelta(days=3)
    assert [reminder_stage(n, 2, DUE, before) for n in (1, 2)] == ["first", "final"]
    assert [reminder_stage(n, 3, DUE, before) for n in (1, 2, 3)] == ["first", "later", "final"]
    assert reminder_stage(1, 1, DUE, before) == "first"  # a cadence of one: its only reminder is the first
    assert reminder_stage(2, 2, DUE, DUE) == "final"  # the deadline day still asks "by" it
    assert reminder_stage(1, 2, DUE, DUE + timedelta(days=1)) == "overdue"


def test_takedown_notices_count_photos_not_findings() -> None:
    # 19 photos, 4 of them showing two students: 23 findings, as the issue found (23 in the subject, not 19).
    findings = [{"page_url": f"https://s/p{i % 5}", "image_url": f"https://s/img{i}.jpg", "student_id": str(100 + i),
                 "reason": "no_consent", "kind": "photo", "channel": "alt", "platform": "website"} for i in range(19)]
    findings += [{**findings[i], "student_id": str(500 + i)} for i in range(4)]
    assert takedown_counts(findings) == {"photos": 19, "others": 0, "items": 19, "findings": 23}
    context = {"district_name": "D", "recipient_name": "Ana Pérez", "site_name": "Lincoln", "respond_by": DUE,
               "findings": findings, "first_notified_at": DUE}
    subject, text, _ = render_email("takedown_digest", context)
    assert subject == "Lincoln: 19 student photos to take down"
    assert text.count("- Page: ") == 19 and "Student ID 500: " in text  # one entry per photo, each student named
    assert render_email("takedown_digest", context, "es")[0] == "Lincoln: 19 fotos de estudiantes para retirar"
    assert render_email("takedown_reminder", context)[0] == "Reminder: 19 student photos still online at Lincoln"
    one = {**context, "findings": findings[:1] + [{**findings[0], "student_id": "999"}]}
    assert render_email("takedown_digest", one)[0] == "Lincoln: 1 student photo to take down"
    names = {**context, "findings": [{**findings[0], "image_url": "", "kind": "name", "channel": "page_text"}]}
    assert render_email("takedown_digest", names)[0] == "Lincoln: 1 item identifying students to take down"


# -- the emails the pipeline builds ---------------------------------------------------------------------------


def test_each_reader_is_greeted_by_their_name_in_their_language(emails: dict[str, Email]) -> None:
    greeted = {name: _first_line(mail) for name, mail in emails.items()}
    assert greeted["takedown_digest-en"] == "Hello Odalys Brightwater,"  # the principal, not the "web team"
    assert greeted["takedown_digest-en-web"] == "Hello Tobiah Fernweh,"
    assert greeted["site_digest-en"] == "Hello Odalys Brightwater,"
    assert greeted["site_digest-es-attached"] == "Hola, Ximena Larkspur-Valdivia:"
    assert greeted["superintendent_escalation-en"] == "Hello Ignatius Moonfield,"
    assert greeted["superintendent_escalation-es"] == "Hola, Perpetua Ashgrove:"  # the chief of staff
    assert greeted["compliance_report-en"] == "Hello Ignatius Moonfield,"
    assert greeted["announcement-en-group"] == "Hello Lincoln Elementary School staff,"
    for name, line in greeted.items():
        assert re.fullmatch(r"(Hello [A-Z][^,]*,|Hola, [^:]+:|Hello,|Hola:)", line), (name, line)
        assert not re.search(r"web team|[Ss]uperintendent\b|administrator\b", line), (name, line)
        assert emails[name].html.count(line) == 1, name  # the same greeting in the HTML, once


def _world_with_a_washington_photo(session, settings) -> None:  # type: ignore[no-untyped-def]
    """The email world and one photo of a student without consent on Washington Middle School's site."""
    build_world(session, settings)
    session.add(Finding(finding_key="w1", site_id="washington-ms", page_url="https://w/p", image_url="https://w/i.jpg",
                        student_id="2001", verdict="violation", reason="no_consent", confidence=1.0))


def test_an_address_the_roster_does_not_know_gets_its_role_title_or_no_name(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from compliance.store import Store

    settings = load_settings()
    with Store(f"sqlite:///{tmp_path / 'store.db'}").session() as session:
        _world_with_a_washington_photo(session, settings)
        session.flush()
        night = START + timedelta(days=1)
        notices = plan_takedown_notices(session, settings, night)
        factory = MessageFactory(session, settings, night)
        washington = {p.recipient: p for p in notices.digests if p.site_id == "washington-ms"}
        rendered = {r: factory.preview(p.to_row()) for r, p in washington.items()}
        assert rendered["principal.washington@standard-sd.org"].text.startswith("Hello Principal,\n")
        assert rendered["web.washington@standard-sd.org"].text.startswith("Hello Web Coordinator,\n")
        [report] = plan_report_emails(["board-clerk@standard-sd.org"], {"ack_rate": 0.5}, "", night)
        text = factory.preview(report.to_row()).text
        assert text.startswith("Hello,\n") and "board-clerk" not in text.split("\n\n")[0]


def test_reminders_are_worded_by_stage_and_never_ask_for_a_past_date(emails: dict[str, Email]) -> None:
    first, final = emails["reminder1-en"], emails["reminder2-en-staff"]
    assert first.subject.startswith("Reminder: please acknowledge") and final.subject.startswith("Last reminder:")
    assert emails["reminder1-es"].subject.startswith("Recordatorio: confirme")
    for mail in (first, final, emails["reminder1-es"]):
        assert not re.search(r"reminder \d|recordatorio \d", mail.text, re.IGNORECASE), mail.name
    due_en, due_es = format_long_date(DUE, "en"), format_long_date(DUE, "es")
    assert f"by {due_en}" in first.text and f"antes del {due_es}" in emails["reminder1-es"].text
    late, tarde = emails["reminder2-en-overdue"], emails["reminder2-es-overdue"]
    assert late.subject == f"Overdue: please acknowledge AR 1114 Social Media Use (it was due {due_en})"
    assert tarde.subject.startswith("Plazo vencido:") and f"vencía el {due_es}" in tarde.subject
    for mail in (late, tarde):
        assert f"by {due_en}" not in mail.text and f"antes del {due_es}" not in mail.text, mail.name
        assert f"by {due_en}" not in mail.html and f"antes del <strong>{due_es}" not in mail.html, mail.name
    assert "was due on" in late.text and "as soon as you can" in late.text
    assert "lo antes posible" in tarde.text


def test_an_announcement_sent_after_the_deadline_asks_for_no_date(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from email_world import _announcement

    from compliance.store import Store

    settings = load_settings()
    with Store(f"sqlite:///{tmp_path / 'store.db'}").session() as session:
        build_world(session, settings)
        after = MessageFactory(session, settings, datetime.combine(DUE + timedelta(days=4), START.timetz()))
        joiner = after.preview(_announcement(session, "vol-1"))
    assert joiner.subject == "Action needed: acknowledge AR 1114 Social Media Use"
    assert "Please acknowledge by" not in joiner.text and "as soon as you can" in joiner.text


def test_staff_are_not_told_their_link_is_personal(emails: dict[str, Email]) -> None:
    assert "personal to you" in emails["announcement-en"].text  # a volunteer's link carries their code
    assert "es personal" in emails["reminder1-es"].text
    for name in ("announcement-es-staff", "announcement-en-group", "reminder2-en-staff"):
        mail = emails[name]
        assert "personal to you" not in mail.text and "es personal" not in mail.text, name
        assert "district Google account" in mail.text or "cuenta de Google del distrito" in mail.text, name


def test_takedown_notices_are_written_in_each_readers_language(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from compliance.models import Person
    from compliance.store import Store

    settings = load_settings()
    with Store(f"sqlite:///{tmp_path / 'store.db'}").session() as session:
        _world_with_a_washington_photo(session, settings)
        session.add(_person("principal-w", "Rosa", "Campos", "principal.washington@standard-sd.org",
                            kind="employee", category="administrator", site="washington-ms", language="es",
                            account=True))
        session.flush()
        assert session.scalar(select(Person.preferred_language).where(Person.person_key == "principal-w")) == "es"
        night = START + timedelta(days=1)
        notices = plan_takedown_notices(session, settings, night)
        washington = {p.recipient: p for p in notices.digests if p.site_id == "washington-ms"}
        principal = washington["principal.washington@standard-sd.org"]
        web = washington["web.washington@standard-sd.org"]
        assert principal.context["language"] == "es" and web.context["language"] == "en"
        rendered = MessageFactory(session, settings, night).preview(principal.to_row())
        assert rendered.text.startswith("Hola, Rosa Campos:\n"), rendered.text[:80]
