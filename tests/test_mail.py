"""Email rendering and MIME building: hostile names, Spanish templates, header injection, stdlib round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from email.utils import parseaddr

import pytest
from jinja2 import UndefinedError

from compliance.mail import (
    Attachment,
    HeaderInjection,
    build_message,
    compose_email,
    delivery_reference,
    message_id_for,
    render_email,
)

NOW = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
# 07:59 UTC on the 15th is still the 14th in Los Angeles: the deadline must show the local date.
DEADLINE = datetime(2026, 12, 15, 7, 59, tzinfo=UTC)
BASE = {
    "recipient_name": "María José Núñez",
    "district_name": "Standard Elementary School District",
    "category": "walk_on_coach",
    "site_name": "César Chávez Elementary School",
    "policy_title": "AR 1114",
    "policy_url": "https://drive.example/policy",
    "form_url": "https://forms.example/f/viewform?usp=pp_url&entry.1=a",
    "deadline": DEADLINE,
}
FINDINGS = [
    {"page_url": "https://w/lincoln-es/news/fair.html", "image_url": "https://w/lincoln-es/images/a.jpg",
     "student_id": "S1001", "reason": "no_consent", "kind": "photo", "channel": "figcaption"},
    {"page_url": "https://w/lincoln-es/docs/news.pdf", "image_url": "",
     "student_id": "S1002", "reason": "principal_missing", "kind": "name", "channel": "pdf_page_2"},
]
CONTEXTS = {
    "announcement": BASE,
    "reminder": {**BASE, "reminder_number": 2},
    "site_admin_digest": {**BASE, "people": [{"name": "Ana López", "category": "volunteer", "days_outstanding": 22}]},
    "superintendent_escalation": {
        **BASE, "total_outstanding": 1, "threshold_days": 28,
        "sites": [{"site_name": "Lincoln", "outstanding": 1, "oldest_days": 30}],
        "people": [{"name": "Ana López", "site_name": "Lincoln", "category": "vendor", "days_outstanding": 30}],
    },
    "takedown_digest": {**BASE, "findings": FINDINGS, "respond_by": DEADLINE},
    "takedown_reminder": {**BASE, "findings": FINDINGS, "respond_by": DEADLINE, "first_notified_at": NOW},
    "compliance_report": {
        **BASE, "generated_at": NOW, "acknowledged": 600, "required": 700, "outstanding": 100,
        "percent_acknowledged": 85.714, "open_violations": 3, "resolved_violations": 5, "report_url": None,
    },
}


@pytest.mark.parametrize("language", ["en", "es"])
def test_report_email_quotes_the_ledger_head_and_how_to_check_it(language: str) -> None:
    """Issue 18: the head (event, short fingerprint, Los Angeles time) in text and HTML, read back by the same
    pattern verify-ledger uses; a report queued before the ledger (no head variables) still renders."""
    from compliance.report.emails import heads_in_text, ledger_head_vars

    head = ledger_head_vars({"ledger_events": 1234, "ledger_head_hash": "0123456789abcdef" * 4}, NOW,
                            "America/Los_Angeles")
    assert head["ledger_hash"] == "0123456789abcdef"
    _, text, html = render_email("compliance_report", {**CONTEXTS["compliance_report"], **head}, language)
    assert heads_in_text(text) == [(1234, "0123456789abcdef")]
    assert "district-compliance verify-ledger" in text and "district-compliance verify-ledger" in html
    assert str(head["ledger_at"]) in text and str(head["ledger_at"]).endswith(("PST", "PDT"))
    assert "0123456789abcdef" in html
    _, old_text, _ = render_email("compliance_report", CONTEXTS["compliance_report"], language)
    assert heads_in_text(old_text) == [] and "verify-ledger" not in old_text


def parse(raw: bytes):  # type: ignore[no-untyped-def]
    return BytesParser(policy=policy.default).parsebytes(raw)


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_every_template_renders_in_both_languages(template: str, language: str) -> None:
    subject, text, html = render_email(template, CONTEXTS[template], language)
    assert subject and "\n" not in subject
    assert "Standard Elementary School District" in text and "Standard Elementary School District" in html
    assert html.lstrip().startswith("<!DOCTYPE html>") and f'lang="{language}"' in html
    if template in ("announcement", "reminder"):
        # The local (Los Angeles) date of the deadline, in the message's language.
        expected = "Monday, December 14, 2026" if language == "en" else "lunes, 14 de diciembre de 2026"
        assert expected in subject and expected in text


def test_spanish_announcement_is_spanish() -> None:
    subject, text, html = render_email("announcement", BASE, "es")
    assert subject.startswith("Acción requerida")
    assert "Hola, María José Núñez:" in text
    assert "Entrenador/a externo/a" in text
    assert "Confirmar la lectura" in html


def test_reminder_without_a_stage_is_worded_from_its_number() -> None:
    # Rows queued before stages existed carry only the number: the first reads as the first, later ones as later.
    subject, text, _ = render_email("reminder", {**BASE, "reminder_number": 1}, "en")
    assert subject.startswith("Reminder: please acknowledge") and "reminder 1" not in text.lower()
    subject, text, _ = render_email("reminder", {**BASE, "reminder_number": 3}, "en")
    assert subject.startswith("Another reminder:") and "reminder 3" not in text.lower()


def test_hostile_names_are_escaped_in_html_and_literal_in_text() -> None:
    for name in ("<script>alert('x')</script>", '=HYPERLINK("http://evil","click")'):
        _, text, html = render_email("announcement", {**BASE, "recipient_name": name}, "en")
        assert name in text
        assert name not in html
    _, _, html = render_email("announcement", {**BASE, "recipient_name": "<script>alert(1)</script>"}, "en")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    _, _, html = render_email("site_admin_digest", {**CONTEXTS["site_admin_digest"], "people": [
        {"name": "<b onmouseover=x>Bo</b>", "category": "vendor", "days_outstanding": 1}]}, "en")
    assert "<b onmouseover" not in html and "&lt;b onmouseover=x&gt;Bo&lt;/b&gt;" in html


def test_takedown_digest_names_no_student() -> None:
    # Only ids go out: the context has no student names, and a name sneaking in via the context is not printed.
    ctx = {**CONTEXTS["takedown_digest"], "student_name": "Secret Child"}
    for language in ("en", "es"):
        subject, text, html = render_email("takedown_digest", ctx, language)
        assert "Secret Child" not in subject + text + html
        assert "S1001" in text and "S1001" in html and "S1001" not in subject
        assert subject.endswith(("1 student photo and 1 other item to take down",
                                 "1 foto de estudiantes y 1 elemento más para retirar"))


def test_takedown_digest_says_what_kind_and_where() -> None:
    where = {"en": ("caption", "PDF page 2"), "es": ("pie de foto", "página del PDF 2")}
    for language, name_kind in (("en", "Name in the text"), ("es", "Nombre en el texto")):
        _, text, html = render_email("takedown_digest", CONTEXTS["takedown_digest"], language)
        for body in (text, html):
            caption, pdf = where[language]
            assert caption in body and pdf in body and name_kind in body  # where it was read, in words
            assert "figcaption" not in body and "pdf_page_2" not in body
        assert 'href=""' not in html  # a name in the text has no image to link to
        what = "What: Name in the text" if language == "en" else "Qué: Nombre en el texto"
        assert f"\n  {what}\n" in text
        assert ("\n  Student ID S1001: " in text) if language == "en" else ("\n  ID del estudiante S1001: " in text)


def test_missing_context_value_fails_loudly() -> None:
    ctx = dict(BASE)
    del ctx["form_url"]
    with pytest.raises(UndefinedError):
        render_email("announcement", ctx, "en")
    with pytest.raises(ValueError, match="language"):
        render_email("announcement", BASE, "fr")


def test_message_round_trips_through_the_stdlib_parser() -> None:
    raw = compose_email(
        "announcement", BASE, "es", sender="policy-mail-1@standard-sd.org", to="maria@example.com",
        idempotency_key="k" * 64, domain="standard-sd.org", date=NOW,
        sender_name="Distrito Escolar Estándar", to_name="María José Núñez",
    )
    msg = parse(raw)
    assert msg["To"] == "María José Núñez <maria@example.com>"
    assert msg["From"] == "Distrito Escolar Estándar <policy-mail-1@standard-sd.org>"
    assert msg["Subject"] == render_email("announcement", BASE, "es")[0]
    assert msg["Message-ID"] == f"<{'k' * 64}.ar1114@standard-sd.org>"
    assert msg["Date"].datetime == NOW
    assert msg.get_content_type() == "multipart/alternative"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    reference = f"Ref. {delivery_reference('k' * 64)}"
    assert text.replace("\r\n", "\n") == render_email("announcement", BASE, "es")[1].rstrip("\n") + f"\n\n{reference}\n"
    assert "Confirmar la lectura" in html and reference in html
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    assert not msg.defects and all(not p.defects for p in msg.walk())


def test_attachment_is_carried_with_an_accented_file_name() -> None:
    content = bytes(range(256)) * 40
    raw = build_message(
        sender="reports@standard-sd.org", to="superintendent@standard-sd.org", subject="Informe semanal",
        text="hola", html="<p>hola</p>", message_id="<r1@standard-sd.org>", date=NOW,
        attachments=[Attachment("informe-compañía.xlsx", content, "application/vnd.ms-excel")],
    )
    msg = parse(raw)
    assert msg.get_content_type() == "multipart/mixed"
    (attachment,) = list(msg.iter_attachments())
    assert attachment.get_filename() == "informe-compañía.xlsx"
    assert attachment.get_content() == content
    assert msg.get_body(("plain",)).get_content() == "hola"


@pytest.mark.parametrize(
    "field,value",
    [
        ("to_name", "Eve\r\nBcc: victim@example.com"),
        ("to_name", "Eve\nX-Injected: 1"),
        ("to_name", "Eve\u2028Bcc: x@y.z"),
        ("to_name", "Eve\x00"),
        ("subject", "Hello\r\nBcc: victim@example.com"),
        ("to", "eve@example.com\r\nBcc: victim@example.com"),
        ("to", "eve@example.com, victim@example.com"),
        ("to", "Eve <eve@example.com>"),
    ],
)
def test_header_injection_is_refused(field: str, value: str) -> None:
    args = dict(sender="a@standard-sd.org", to="b@example.com", subject="s", text="t", html="h",
                message_id="<m@standard-sd.org>", date=NOW)
    args[field] = value
    with pytest.raises(HeaderInjection) as info:
        build_message(**args)  # type: ignore[arg-type]
    assert "refused" in str(info.value)


def test_newline_in_a_name_from_the_context_is_refused_in_the_subject() -> None:
    with pytest.raises(HeaderInjection):
        compose_email("site_admin_digest", {**CONTEXTS["site_admin_digest"], "site_name": "Lincoln\r\nBcc: x@y.z"},
                      "en", sender="a@standard-sd.org", to="b@standard-sd.org", idempotency_key="k",
                      domain="standard-sd.org", date=NOW)


def test_message_id_is_deterministic_and_matches_bounces() -> None:
    first = message_id_for("abc", "standard-sd.org")
    assert first == message_id_for("abc", "standard-sd.org") != message_id_for("abd", "standard-sd.org")
    raw = build_message(sender="a@standard-sd.org", to="b@example.com", subject="s", text="t", html="h",
                        message_id=first, date=NOW)
    assert parse(raw)["Message-ID"] == first
    assert parseaddr("x@" + first.strip("<>").split("@")[1])[1].endswith("standard-sd.org")
    with pytest.raises(HeaderInjection):
        message_id_for("abc", "evil.org>\r\nBcc: x")


def test_naive_date_refused() -> None:
    with pytest.raises(ValueError):
        build_message(sender="a@standard-sd.org", to="b@example.com", subject="s", text="t", html="h",
                      message_id="<m@x.org>", date=datetime(2026, 1, 1))


def test_bcc_for_site_group_announcements() -> None:
    staff = [f"teacher{i}@standard-sd.org" for i in range(100)]
    raw = build_message(sender="policy-mail-1@standard-sd.org", to="policy-mail-1@standard-sd.org", subject="s",
                        text="t", html="h", message_id="<g@standard-sd.org>", date=NOW, bcc=staff)
    msg = parse(raw)
    assert [a.addr_spec for a in msg["Bcc"].addresses] == staff
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78
    with pytest.raises(HeaderInjection):
        build_message(sender="a@standard-sd.org", to="a@standard-sd.org", subject="s", text="t", html="h",
                      message_id="<g@x.org>", date=NOW, bcc=["ok@x.org", "bad@x.org\r\nX: 1"])


@pytest.mark.parametrize("name", ['López, Ana', 'Ana "Anita" O\'Brien', "Zoë (PTA)", "Nguyễn Văn An", "a" * 120])
def test_display_names_survive_the_round_trip(name: str) -> None:
    raw = build_message(sender="a@standard-sd.org", to="x@example.com", to_name=name, subject="s", text="t",
                        html="h", message_id="<n@standard-sd.org>", date=NOW)
    (address,) = parse(raw)["To"].addresses
    assert address.display_name == name and address.addr_spec == "x@example.com"


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("template", sorted(CONTEXTS))
def test_every_template_builds_a_clean_message(template: str, language: str) -> None:
    raw = compose_email(template, CONTEXTS[template], language, sender="policy-mail-1@standard-sd.org",
                        to="principal.lincoln@standard-sd.org", idempotency_key=f"{template}-{language}",
                        domain="standard-sd.org", date=NOW, to_name="Pat Principal")
    msg = parse(raw)
    assert not any(part.defects for part in msg.walk())
    subject, text, _ = render_email(template, CONTEXTS[template], language)
    assert msg["Subject"] == subject
    reference = f"Ref. {delivery_reference(f'{template}-{language}')}"  # what crash recovery searches for
    assert msg.get_body(("plain",)).get_content().replace("\r\n", "\n") == text.rstrip("\n") + f"\n\n{reference}\n"


def test_where_a_finding_was_read_is_said_in_words() -> None:
    from compliance.mail import channel_label

    assert channel_label("alt") == "alt text" and channel_label("figcaption", "es") == "pie de foto"
    assert channel_label("pdf_page_3") == "PDF page 3" and channel_label("pdf_page_3", "es") == "página del PDF 3"
    assert channel_label("exif_user_comment") == channel_label("iptc_caption") == \
        "the photo's embedded details (EXIF/IPTC)"
    assert channel_label("some_new_place") == "some new place"  # unknown: shown, never dropped
