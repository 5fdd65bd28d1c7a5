"""Compliance report: figures from a real SQLite store checked against independent SQL, and the workbook
checked by reading it back (openpyxl normal load, the raw XML, and LibreOffice when installed).

The district below has people, acknowledgements, deliveries, findings, quarantine and two previous report
runs, with hostile strings wherever outside text enters the workbook."""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import zipfile
from datetime import UTC, date, datetime
from itertools import count
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import text

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
    Student,
)

NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)  # 08:00 in Los Angeles
HOSTILE = ('=HYPERLINK("http://evil","x")', "+cmd", "@SUM(A1)", "-2+3")
STUDENT_NAMES = ("Xiomara", "Quetzalli")


def at(day: str, hour: int = 16) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def build_district(session: Any) -> dict[str, Any]:
    """Fill an empty store; returns ids the tests look up."""
    seq = count(1)
    session.add_all(
        [
            Site(
                id="lincoln-es",
                name="Lincoln Elementary",
                kind="elementary",
                org_unit="/L",
                site_admin_email="principal.lincoln@standard-sd.org",
                web_contact_email="web@l.org",
                crawl_coverage={
                    "pages_found": 14, "pages_crawled": 12, "images_found": 40, "images_fetched": 37, "videos": 2,
                    "pdfs_found": 1, "pdfs_read": 1, "refused_robots": 1, "refused_off_site": 2, "refused_size": 1,
                    "refused_type": 0, "refused_address": 1, "refused_limit": 0, "refused_error": 2,
                },  # fmt: skip
                crawled_at=datetime(2026, 11, 23, 10, 0, tzinfo=UTC),
            ),
            Site(
                id="evil-es",
                name=HOSTILE[2],
                kind="elementary",
                org_unit="/E",
                site_admin_email="principal.evil@standard-sd.org",
                web_contact_email="web@e.org",
            ),
            Site(
                id="green-hs",
                name="Green High",
                kind="high",
                org_unit="/G",
                site_admin_email="principal.green@standard-sd.org",
                web_contact_email="web@g.org",
            ),
            Site(
                id="amber-k8",
                name="Amber K-8",
                kind="k8",
                org_unit="/A",
                site_admin_email="principal.amber@standard-sd.org",
                web_contact_email="web@a.org",
            ),
            Site(
                id="empty-ms",
                name="Empty Middle",
                kind="middle",
                org_unit="/M",
                site_admin_email="principal.empty@standard-sd.org",
                web_contact_email="web@m.org",
            ),
        ]
    )
    old = PolicyVersion(
        drive_file_id="doc",
        revision_id="r1",
        sha256="a" * 64,
        title="AR 1114",
        school_year="2025-2026",
        created_at=at("2025-09-01"),
    )
    cur = PolicyVersion(
        drive_file_id="doc",
        revision_id="r2",
        sha256="b" * 64,
        title="AR 1114 Social Media",
        school_year="2026-2027",
        created_at=at("2026-10-01"),
    )
    session.add_all([old, cur])
    session.flush()
    old_campaign = Campaign(name="2025", policy_version_id=old.id, started_at=at("2025-09-02"))
    campaign = Campaign(name="2026", policy_version_id=cur.id, started_at=at("2026-10-05"))
    session.add_all([old_campaign, campaign])
    session.flush()

    people: dict[str, Person] = {}

    def person(
        key: str,
        site: str | None,
        *,
        category: str = "employee",
        given: str = "Pat",
        family: str = "Doe",
        active: bool = True,
        paper: bool = False,
    ) -> Person:
        kind = "employee" if category == "employee" else "associated"
        p = Person(
            person_key=key,
            kind=kind,
            category=category,
            given_name=given,
            family_name=family,
            email=f"{key}@personal.example",
            site_id=site,
            source="test",
            active=active,
            paper_only=paper,
        )
        session.add(p)
        people[key] = p
        return p

    for i in range(1, 7):
        person(f"l{i}", "lincoln-es", category="volunteer" if i >= 5 else "employee")
    person("l7", "lincoln-es", given=HOSTILE[0], family="Lopez")
    person("l8", "lincoln-es", category="volunteer", given="Vera", family="Volunteer")
    person("l9", "lincoln-es", category="committee_parent", given="Paula", family="Paper", paper=True)
    person("l10", "lincoln-es", active=False)
    for i in range(1, 3):
        person(f"e{i}", "evil-es")
    person("e3", "evil-es", given=HOSTILE[3], family="Smith")
    person("e4", "evil-es", category=HOSTILE[3], given=HOSTILE[2], family="Jones")
    person("e5", "evil-es", active=False)
    person("e6", "evil-es", given="Eve", family="Pending")
    person("g1", "green-hs")
    person("g2", "green-hs", category="walk_on_coach")
    for i in range(1, 11):
        person(f"a{i}", "amber-k8")
    person("n1", None, category="contractor")
    person("n2", None, category="vendor", given="Val", family="Vendor")
    session.flush()

    def ack(key: str, version: PolicyVersion) -> None:
        n = next(seq)
        session.add(
            Acknowledgement(
                person_id=people[key].id,
                policy_version_id=version.id,
                method="form",
                signed_name=key,
                policy_sha256=version.sha256,
                submitted_at=at("2026-10-20"),
                prev_hash=f"{n - 1:064d}",
                row_hash=f"{n:064d}",
            )
        )

    for key in (
        "l1",
        "l2",
        "l3",
        "l4",
        "l5",
        "l6",
        "e1",
        "e2",
        "e5",
        "g1",
        "g2",
        "n1",
        *(f"a{i}" for i in range(1, 10)),
    ):
        ack(key, cur)
    ack("l9", old)  # the old version does not count
    ack("l7", old)

    def deliver(
        key: str | None,
        kind: str,
        sent: datetime | None,
        *,
        recipient: str = "x@example.org",
        camp: Campaign | None = campaign,
    ) -> None:
        session.add(
            Delivery(
                idempotency_key=f"k{next(seq)}",
                campaign_id=camp.id if camp else None,
                person_id=people[key].id if key else None,
                kind=kind,
                recipient=recipient,
                status="sent" if sent else "pending",
                sent_at=sent,
            )
        )

    deliver("l7", "announcement", at("2026-11-20"))
    deliver("l7", "reminder_1", at("2025-09-20"), camp=old_campaign)  # other version: not counted
    deliver("l8", "announcement", at("2026-10-10"))
    deliver("l8", "reminder_1", at("2026-10-17"))
    deliver("l8", "reminder_2", at("2026-10-24"))
    deliver(None, "site_digest", at("2026-11-02"), recipient="Principal.Lincoln@standard-sd.org")
    deliver(None, "superintendent_escalation", at("2026-11-03"), recipient="superintendent@standard-sd.org")
    deliver("e3", "announcement", at("2026-11-14"))
    deliver("e3", "reminder_1", at("2026-11-21"))
    deliver("e4", "announcement", at("2026-11-01"))
    deliver("e4", "site_digest", at("2026-11-23"), recipient="principal.evil@standard-sd.org")
    deliver("e6", "announcement", None)  # not sent yet: the campaign start counts
    deliver("e6", "reminder_1", None)
    deliver("n2", "announcement", at("2026-11-24", 10))  # 02:00 in Los Angeles: same district day
    for key in ("a10",):
        deliver(key, "announcement", at("2026-11-22"))

    session.add_all(
        [
            Student(id="S1", site_id="lincoln-es", legal_first=STUDENT_NAMES[0], legal_last="Alvarez"),
            Student(id="S2", site_id="evil-es", legal_first=STUDENT_NAMES[1], legal_last="Moreno"),
        ]
    )

    def finding(
        site: str,
        verdict: str,
        state: str,
        first: datetime,
        resolved: datetime | None = None,
        *,
        reason: str = "no_consent",
        image: str | None = None,
        student: str = "S1",
        kind: str = "photo",
        channel: str = "alt",
    ) -> None:
        n = next(seq)
        session.add(
            Finding(
                finding_key=f"{n:064d}",
                site_id=site,
                page_url=f"https://www.example.org/{site}/p{n}.html",
                image_url=f"https://www.example.org/{site}/images/i{n}.jpg" if image is None else image,
                student_id=student,
                verdict=verdict,
                reason=reason,
                confidence=0.9,
                state=state,
                first_seen_at=first,
                last_seen_at=NOW,
                resolved_at=resolved,
                kind=kind,
                channel=channel,
            )
        )

    finding("lincoln-es", "violation", "open", at("2026-11-23"))
    # A student named on page 2 of a linked PDF newsletter: a name finding, no image.
    finding("lincoln-es", "violation", "new", at("2026-11-18"), image="", kind="name", channel="pdf_page_2")
    finding(
        "evil-es",
        "violation",
        "open",
        at("2026-11-01"),
        reason=HOSTILE[0],
        image="javascript:alert(1)",
        student="S2",
    )
    finding("evil-es", "violation", "open", at("2026-11-14"), image=HOSTILE[1], student=HOSTILE[3])
    finding("lincoln-es", "violation", "resolved", at("2026-11-01", 0), at("2026-11-03", 12))
    finding("evil-es", "violation", "resolved", at("2026-11-10"), at("2026-11-11"))
    finding("lincoln-es", "violation", "resolved", at("2026-11-05"), at("2026-11-12"))
    finding("lincoln-es", "needs_review", "open", at("2026-11-20"))
    finding("lincoln-es", "ok", "open", at("2026-11-20"))

    for row, created in ((2, "2026-11-10"), (3, "2026-11-10"), (4, "2026-11-20")):
        session.add(
            Quarantine(
                job="consent",
                source_file="consent/lincoln-es.xlsx",
                row=row,
                field="signed",
                reason="unparsable date",
                created_at=at(created),
            )
        )
    session.add(
        Quarantine(
            job="roster",
            source_file=HOSTILE[1],
            row=7,
            field="email",
            reason="bad email",
            created_at=at("2026-11-21"),
        )
    )

    session.add_all(
        [
            ReportRun(
                generated_at=at("2026-11-10"),
                path="r1.xlsx",
                summary={
                    "ack_rate": 0.3,
                    "active_people": 28,
                    "outstanding": 19,
                    "violations_online": 2,
                    "quarantine_rows": 2,
                },
            ),
            ReportRun(
                generated_at=at("2026-11-17"),
                path="r2.xlsx",
                summary={
                    "ack_rate": 0.5,
                    "active_people": 29,
                    "acknowledged": 15,
                    "outstanding": 14,
                    "violations_online": 5,
                    "median_takedown_days": 3.0,
                    "quarantine_rows": 2,
                },
            ),
            ReportRun(generated_at=at("2026-12-01"), path="future.xlsx", summary={"ack_rate": 0.99}),
        ]
    )
    session.flush()
    # The event chain and its Drive anchors: one anchor before the previous report (2026-11-17), two since,
    # one after NOW; the last event is recorded after NOW too (a re-run of this report must not see it).
    from compliance.ledger import EventDraft, append_events

    for n, day in enumerate(("2026-11-14", "2026-11-18", "2026-11-18", "2026-11-23", "2026-11-30")):
        append_events(session, [EventDraft("mail_sent", f"sent:{n}", {"n": n})], at(day))
    for seq, day, file_id in ((1, "2026-11-15", "f1"), (3, "2026-11-18", HOSTILE[0]), (4, "2026-11-23", "f3"),
                              (5, "2026-11-30", "f4")):
        session.add(LedgerAnchor(seq=seq, hash=session.get(LedgerEvent, seq).hash, anchored_at=at(day, 10),
                                 drive_file_id=file_id))
    session.flush()
    return {"people": {k: p.id for k, p in people.items()}, "current_version": cur.id}


# --- helpers


@pytest.fixture
def settings():  # type: ignore[no-untyped-def]
    from compliance.settings import load_settings

    return load_settings()


@pytest.fixture
def built(store, settings, tmp_path: Path):  # type: ignore[no-untyped-def]
    """The district in the store, its ReportData as of NOW, and the workbook written from it."""
    from compliance.report import collect_report_data, report_filename, write_workbook

    with store.session() as session:
        ids = build_district(session)
    with store.session() as session:
        data = collect_report_data(session, NOW, settings)
    path = write_workbook(
        data,
        tmp_path / report_filename(NOW),
        district_name="Standard & Sons School District",
        generated_at=NOW,
    )
    return {"ids": ids, "data": data, "path": path, "store": store}


def sql(store: Any, query: str, **params: Any) -> list[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(query), params)]


CURRENT = "(select id from policy_versions order by created_at desc, id desc limit 1)"
ACKED = (
    f"exists (select 1 from acknowledgements a where a.person_id = p.id and a.policy_version_id = {CURRENT})"
)


def summary_values(path: Path) -> dict[str, tuple[Any, Any, Any]]:
    """Summary sheet headline rows: label -> (now, last report, change text)."""
    ws = openpyxl.load_workbook(path)["Summary"]
    rows = list(ws.iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r[0] == "Measure") + 1
    out = {}
    for r in rows[start:]:
        if r[0] is None:
            break
        out[r[0]] = (r[1], r[2], r[3])
    return out


def table(path: Path, sheet: str) -> tuple[list[str], list[dict[str, Any]]]:
    ws = openpyxl.load_workbook(path)[sheet]
    rows = list(ws.iter_rows(values_only=True))
    header = list(rows[0])
    return header, [dict(zip(header, r, strict=True)) for r in rows[1:]]


# --- figures against independent SQL


def test_summary_numbers_equal_independent_sql(built: dict[str, Any]) -> None:
    store, path = built["store"], built["path"]
    [(active, acked)] = sql(
        store, f"select count(*), sum(case when {ACKED} then 1 else 0 end) from people p where active = 1"
    )
    states = dict(
        sql(store, "select state, count(*) from findings where verdict = 'violation' group by state")
    )
    takedown = [
        r[0]
        for r in sql(
            store,
            "select julianday(resolved_at) - julianday(first_seen_at) from findings "
            "where verdict = 'violation' and state = 'resolved'",
        )
    ]
    ages = [
        int(r[0])
        for r in sql(
            store,
            "select julianday(:now) - julianday(first_seen_at) from findings "
            "where verdict = 'violation' and state in ('new', 'open')",
            now=NOW.strftime("%Y-%m-%d %H:%M:%S"),
        )
    ]
    [(quarantined,)] = sql(store, "select count(*) from quarantine")
    [(review,)] = sql(
        store, "select count(*) from findings where verdict = 'needs_review' and state != 'resolved'"
    )
    [(new_since,)] = sql(
        store,
        "select count(*) from findings where verdict = 'violation' and first_seen_at > "
        "(select max(generated_at) from report_runs where generated_at < :now)",
        now=NOW.strftime("%Y-%m-%d %H:%M:%S"),
    )

    got = summary_values(path)
    assert got["Acknowledgement rate"][0] == pytest.approx(acked / active, abs=1e-6)
    assert got["Active people"][0] == active
    assert got["Acknowledged"][0] == acked
    assert got["Outstanding acknowledgements"][0] == active - acked
    assert got["Consent violations online"][0] == states.get("new", 0) + states.get("open", 0)
    assert got["Violations taken down"][0] == states["resolved"]
    assert got["Median days to take down"][0] == pytest.approx(statistics.median(takedown), abs=0.01)
    assert got["Violations online more than 14 days"][0] == sum(a > 14 for a in ages)
    assert got["New violations since last report"][0] == new_since
    assert got["Findings awaiting review"][0] == review
    assert got["Input rows in quarantine"][0] == quarantined
    # The comparison uses the latest run before NOW (2026-11-17), never the one dated after it.
    assert got["Acknowledgement rate"][1] == pytest.approx(0.5)
    assert got["Active people"][1] == 29
    assert got["Acknowledgement rate"][2] == f"▲ {(acked / active - 0.5) * 100:.1f} pts"
    assert got["Consent violations online"][2].startswith("▼")
    # Aging buckets on the Summary sheet add up to what is online.
    ws = openpyxl.load_workbook(path)["Summary"]
    buckets = {
        r[0]: r[1]
        for r in ws.iter_rows(values_only=True)
        if r[0] in ("0-2 days", "3-7 days", "8-14 days", ">14 days")
    }
    assert buckets == {
        "0-2 days": sum(a <= 2 for a in ages),
        "3-7 days": sum(3 <= a <= 7 for a in ages),
        "8-14 days": sum(8 <= a <= 14 for a in ages),
        ">14 days": sum(a > 14 for a in ages),
    }


def test_by_site_numbers_equal_independent_sql(built: dict[str, Any]) -> None:
    store, path = built["store"], built["path"]
    expected = {
        (site or ""): (n, k)
        for site, n, k in sql(
            store,
            f"select p.site_id, count(*), sum(case when {ACKED} then 1 else 0 end) from people p "
            "where active = 1 group by p.site_id",
        )
    }
    online = dict(
        sql(
            store,
            "select site_id, count(*) from findings where verdict = 'violation' and state in ('new','open') "
            "group by site_id",
        )
    )
    header, rows = table(path, "By Site")
    assert header[:5] == ["Site", "Site id", "Active people", "Acknowledged", "Acknowledgement rate"]
    by_id = {r["Site id"] or "": r for r in rows}
    assert set(by_id) == set(expected) | {"empty-ms"}
    for site_id, (n, k) in expected.items():
        row = by_id[site_id]
        assert (row["Active people"], row["Acknowledged"], row["Outstanding"]) == (n, k, n - k)
        assert row["Acknowledgement rate"] == pytest.approx(k / n)
        assert row["Violations online"] == online.get(site_id or None, 0)
    assert by_id["empty-ms"]["Acknowledgement rate"] is None  # nobody active: no rate, not 0%
    rates = [r["Acknowledgement rate"] for r in rows if r["Acknowledgement rate"] is not None]
    assert rates == sorted(rates)  # worst first
    assert {r["Site"] for r in rows} >= {"Lincoln Elementary", HOSTILE[2], "(no site)"}


def test_outstanding_people_days_reminders_and_escalation(built: dict[str, Any]) -> None:
    path = built["path"]
    header, rows = table(path, "Outstanding Acknowledgements")
    assert header == [
        "Person", "Site", "Category", "Kind", "Outstanding since", "Days outstanding", "Reminders sent",
        "Escalated", "Paper only",
    ]  # fmt: skip
    store = built["store"]
    [(n,)] = sql(store, f"select count(*) from people p where active = 1 and not {ACKED}")
    assert len(rows) == n
    by_name = {r["Person"]: r for r in rows}
    l7 = by_name[f"{HOSTILE[0]} Lopez"]
    assert (l7["Days outstanding"], l7["Reminders sent"], l7["Escalated"]) == (
        4,
        0,
        "No",
    )  # old-version reminder
    assert l7["Outstanding since"].date() == date(2026, 11, 20)
    l8 = by_name["Vera Volunteer"]
    assert (l8["Days outstanding"], l8["Reminders sent"], l8["Escalated"]) == (45, 2, "Site admin")
    paper = by_name["Paula Paper"]  # no announcement: the campaign start (2026-10-05) counts
    assert (paper["Days outstanding"], paper["Escalated"], paper["Paper only"]) == (
        50,
        "Superintendent",
        "Yes",
    )
    e3 = by_name[f"{HOSTILE[3]} Smith"]
    assert (e3["Days outstanding"], e3["Reminders sent"], e3["Escalated"]) == (10, 1, "No")
    e4 = by_name[f"{HOSTILE[2]} Jones"]
    assert (e4["Escalated"], e4["Category"]) == ("Site admin", HOSTILE[3])  # named on a person-level digest
    pending = by_name["Eve Pending"]  # unsent deliveries count for nothing
    assert (pending["Days outstanding"], pending["Reminders sent"]) == (50, 0)
    assert by_name["Val Vendor"]["Days outstanding"] == 0  # sent 02:00 district time today
    days = [r["Days outstanding"] for r in rows]
    assert days == sorted(days, reverse=True)
    summary = built["data"].summary
    assert summary["overdue"] == sum(d >= 21 for d in days)
    assert summary["escalated"] == sum(r["Escalated"] != "No" for r in rows)


def test_findings_sheet_has_ids_links_and_no_student_names(built: dict[str, Any]) -> None:
    path = built["path"]
    header, rows = table(path, "Photo Consent Findings")
    assert header == [
        "Site", "Page", "Image link", "Kind", "Found in", "Student id", "Verdict", "Reason", "First seen",
        "Status", "Days online", "Taken down", "Published on",
    ]  # fmt: skip
    assert {r["Kind"] for r in rows} == {"photo", "name"} and "pdf_page_2" in {r["Found in"] for r in rows}
    assert {r["Published on"] for r in rows} == {"Website"}
    [(n,)] = sql(
        built["store"], "select count(*) from findings where verdict in ('violation', 'needs_review')"
    )
    assert len(rows) == n
    assert rows[0]["Status"] in ("New", "Open") and rows[-1]["Status"] == "Taken down"
    ws = openpyxl.load_workbook(path)["Photo Consent Findings"]
    # Pages and images by a short name linking to the whole address (the printed sheet stays legible).
    from compliance.report.workbook import image_name, page_title

    links = {c.hyperlink.target: c.value for c in ws["C"][1:] if c.hyperlink is not None}
    assert links and all(k.startswith("https://") and v == image_name(k) and len(v) < len(k) for k, v in links.items())
    pages = {c.hyperlink.target: c.value for c in ws["B"][1:] if c.hyperlink is not None}
    assert pages and all(k.startswith("https://") and v == page_title(k) for k, v in pages.items())
    assert "javascript:alert(1)" in {c.value for c in ws["C"]}  # shown whole, never clickable
    assert not any(c.hyperlink is not None and not c.hyperlink.target.startswith("http") for c in ws["C"])
    assert ws["I2"].number_format == "yyyy-mm-dd"
    # No student name anywhere in the file, on any sheet.
    with zipfile.ZipFile(path) as zf:
        blob = b"".join(zf.read(name) for name in zf.namelist())
    for name in STUDENT_NAMES:
        assert name.encode() not in blob
    assert b"@personal.example" not in blob  # nor personal email addresses


def test_hostile_strings_come_back_as_text(built: dict[str, Any]) -> None:
    path = built["path"]
    wb = openpyxl.load_workbook(path)
    seen: dict[str, int] = {}
    for ws in wb:
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if isinstance(value, str) and value.startswith(("=", "+", "-", "@")):
                    assert cell.data_type == "s", (ws.title, cell.coordinate, value)
                    assert cell.quotePrefix, (ws.title, cell.coordinate, value)
                    seen[value.split(" ")[0]] = seen.get(value.split(" ")[0], 0) + 1
    for hostile in HOSTILE:
        assert hostile.split(" ")[0] in seen, hostile
    with zipfile.ZipFile(path) as zf:
        sheets = [zf.read(n) for n in zf.namelist() if n.startswith("xl/worksheets/sheet")]
    assert sheets and not any(b"<f>" in xml or b"<f " in xml for xml in sheets)  # not one formula cell


def test_workbook_structure(built: dict[str, Any]) -> None:
    from compliance.report import SHEETS

    path = built["path"]
    assert path.name == "compliance-report-2026-11-24.xlsx"
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == list(SHEETS)
    assert wb.properties.title == "AR 1114 compliance report 2026-11-24"
    assert wb.properties.creator == "district-compliance"
    assert wb.properties.created == datetime(2026, 11, 24, 16, 0)
    for name in (n for n in SHEETS[1:] if n != "Ledger"):  # the Ledger sheet opens with a sentence
        ws = wb[name]
        assert ws.freeze_panes == "A2", name
        last = openpyxl.utils.get_column_letter(ws.max_column)
        assert ws.auto_filter.ref == f"A1:{last}{ws.max_row}", name
        assert ws.print_title_rows == "$1:$1", name
        assert ws["A1"].font.b, name
        assert ws.column_dimensions["A"].width > 8, name
    for ws in wb:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.page_setup.fitToWidth == 1 and ws.sheet_properties.pageSetUpPr.fitToPage, ws.title
        assert ws.oddHeader.center.text == "Standard && Sons School District", ws.title
        assert ws.oddFooter.left.text == "Generated 2026-11-24 08:00 PST", ws.title
    by_site = wb["By Site"]
    rules = [
        (str(rng.sqref), rule.formula[0]) for rng in by_site.conditional_formatting for rule in rng.rules
    ]
    n = by_site.max_row
    assert rules == [
        (f"E2:E{n}", "AND(ISNUMBER(E2),E2<0.8)"),
        (f"E2:E{n}", "AND(ISNUMBER(E2),E2<0.95)"),
        (f"E2:E{n}", "AND(ISNUMBER(E2),E2>=0.95)"),
    ]
    assert by_site["E2"].number_format == "0.0%"
    trends = wb["Trends"]
    kinds = sorted(type(c).__name__ for c in trends._charts)
    assert kinds == ["BarChart", "LineChart", "LineChart"]
    # One row per report run before NOW, plus this one.
    assert [r[0].date() for r in trends.iter_rows(min_row=2, values_only=True)] == [
        date(2026, 11, 10),
        date(2026, 11, 17),
        date(2026, 11, 24),
    ]
    _, dq = table(path, "Data Quality")
    quarantine = [r for r in dq if r["Job"] != "crawl"]
    assert {(r["Job"], r["Source file"], r["Rows quarantined"], r["New since last report"]) for r in quarantine} == {
        ("consent", "consent/lincoln-es.xlsx", 3, 1),
        ("roster", HOSTILE[1], 1, 1),
    }
    # The websites' last crawls: found vs read, and what was refused and why (only lincoln-es was crawled).
    [crawl] = [r for r in dq if r["Job"] == "crawl"]
    assert crawl["Source file"] == "Lincoln Elementary" and crawl["Latest"].date() == date(2026, 11, 23)
    assert (crawl["Pages found"], crawl["Pages crawled"], crawl["Images found"], crawl["Images fetched"]) == (
        14, 12, 40, 37)  # fmt: skip
    assert (crawl["Videos"], crawl["PDFs found"], crawl["PDFs read"]) == (2, 1, 1)
    assert (crawl["Refused: robots.txt"], crawl["Refused: off-site"], crawl["Refused: size"]) == (1, 2, 1)
    assert (crawl["Refused: type"], crawl["Refused: other"]) == (0, 3)
    _, aging = table(path, "Takedown Aging")
    assert sum(r["Total online"] for r in aging) == built["data"].summary["violations_online"]
    _, terms = table(path, "Definitions")
    assert {"Acknowledgement rate", "Days outstanding", "Median days to take down"} <= {
        t["Term"] for t in terms
    }


def test_ledger_sheet_lists_the_heads_since_the_last_report(built: dict[str, Any]) -> None:
    from compliance.report.workbook import LEDGER_EXPLANATION

    store, path = built["store"], built["path"]
    ws = openpyxl.load_workbook(path)["Ledger"]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == LEDGER_EXPLANATION and ws["A1"].font.b
    assert rows[1] == ("Event number", "Fingerprint (SHA-256)", "Time (America/Los_Angeles)", "Written to")
    assert ws.freeze_panes == "A3" and ws.auto_filter.ref == f"A2:D{ws.max_row}"
    heads = rows[2:]
    # Independent SQL: the anchors after the previous report run before NOW, and the newest event by NOW.
    anchored = sql(store, "select a.seq, a.hash, a.anchored_at from ledger_anchors a where a.anchored_at > "
                          "(select max(generated_at) from report_runs where generated_at < :now) "
                          "and a.anchored_at <= :now order by a.anchored_at", now=NOW)
    [(head_seq, head_hash)] = sql(store, "select seq, hash from ledger_events where seq = "
                                         "(select max(seq) from ledger_events where recorded_at <= :now)", now=NOW)
    assert len(anchored) == 2 and len(heads) == len(anchored) + 1
    assert [(r[0], r[1]) for r in heads] == [*((s, h) for s, h, _ in anchored), (head_seq, head_hash)]
    assert heads[-1][0] == built["data"].summary["ledger_events"] == 4
    assert built["data"].summary["ledger_head_hash"] == head_hash
    # Times in Los Angeles: anchored 10:00 UTC on 2026-11-18 is 02:00 PST; the report's own head is NOW.
    assert heads[0][2] == datetime(2026, 11, 18, 2, 0) and heads[-1][2] == datetime(2026, 11, 24, 8, 0)
    assert ws.cell(row=3, column=3).number_format == "yyyy-mm-dd hh:mm"
    # Outside text (a Drive file id) stays text.
    assert heads[0][3] == f"Drive anchor {HOSTILE[0]}"
    assert heads[-1][3] == "This report"


def test_summary_sentences_are_few_and_plain(built: dict[str, Any]) -> None:
    from compliance.report import attention_sentences

    sentences = attention_sentences(built["data"])
    assert 3 <= len(sentences) <= 5
    s = built["data"].summary
    assert sentences[0].startswith(f"{s['ack_rate'] * 100:.1f}% of {s['active_people']} active people")
    assert any(f"{s['violations_online']} student photos" in x for x in sentences)
    ws = openpyxl.load_workbook(built["path"])["Summary"]
    column_a = [c.value for c in ws["A"]]
    assert all(x in column_a for x in sentences)


def test_rerun_gives_same_data_and_replaces_file(built: dict[str, Any], settings: Any) -> None:
    from compliance.report import collect_report_data, write_workbook

    with built["store"].session() as session:
        again = collect_report_data(session, NOW, settings)
    assert again.summary == built["data"].summary
    assert list(again.outstanding) == list(built["data"].outstanding)
    path = write_workbook(again, built["path"], district_name="Standard", generated_at=NOW)
    assert openpyxl.load_workbook(path).sheetnames[0] == "Summary"
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".partial")] == []


def test_empty_store_still_makes_a_report(store: Any, settings: Any, tmp_path: Path) -> None:
    from compliance.report import collect_report_data, write_workbook

    with store.session() as session:
        data = collect_report_data(session, NOW, settings)
    assert data.summary["ack_rate"] is None and data.policy is None and data.notes
    path = write_workbook(data, tmp_path / "r.xlsx", district_name="D", generated_at=NOW)
    assert openpyxl.load_workbook(path).sheetnames[0] == "Summary"


def test_hyperlinks_stop_at_the_cap(
    built: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from compliance.report import workbook, write_workbook

    monkeypatch.setattr(workbook, "MAX_HYPERLINKS", 1)
    path = write_workbook(built["data"], tmp_path / "capped.xlsx", district_name="D", generated_at=NOW)
    ws = openpyxl.load_workbook(path)["Photo Consent Findings"]
    assert sum(c.hyperlink is not None for column in ("B", "C") for c in ws[column]) == 1
    assert any(str(c.value).startswith("https://") for c in ws["C"])  # past the cap: the address as text


def test_safe_text() -> None:
    from openpyxl import Workbook

    from compliance.report import safe_text

    ws = Workbook().active
    assert safe_text(ws, "Lincoln Elementary") == "Lincoln Elementary"
    assert safe_text(ws, None) is None
    assert safe_text(ws, "bell\x07 rang") == "bell rang"  # XML cannot carry control characters
    for hostile in (*HOSTILE, "\tTAB", "\rCR", "#N/A"):
        cell = safe_text(ws, hostile)
        assert not isinstance(cell, str)
        assert (cell.value, cell.data_type, cell.quotePrefix) == (hostile, "s", True)


def test_report_filename_uses_the_district_day() -> None:
    from compliance.report import report_filename

    assert report_filename(NOW) == "compliance-report-2026-11-24.xlsx"
    # 03:00 UTC on the 25th is still the 24th in Los Angeles.
    assert report_filename(datetime(2026, 11, 25, 3, 0, tzinfo=UTC)) == "compliance-report-2026-11-24.xlsx"


# --- LibreOffice

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


def _soffice(args: list[str], tmp_path: Path) -> None:
    # A private profile so parallel runs (and a user's open LibreOffice) never share a lock.
    profile = (tmp_path / "lo-profile").as_uri()
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation={profile}", "--headless", "--norestore", *args],  # type: ignore[list-item]
        check=True,
        capture_output=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )


@pytest.mark.skipif(
    SOFFICE is None, reason="LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui"
)
def test_libreoffice_converts_to_pdf_and_shows_hostile_text_as_text(
    built: dict[str, Any], tmp_path: Path
) -> None:
    out = tmp_path / "pdf"
    _soffice(["--convert-to", "pdf", "--outdir", str(out), str(built["path"])], tmp_path)
    pdf = out / built["path"].with_suffix(".pdf").name
    data = pdf.read_bytes()
    pages = re.findall(rb"/Type\s*/Page(?!s)", data)
    assert data.startswith(b"%PDF") and len(pages) >= 8  # at least one page per sheet

    # Every sheet to CSV (filter option sheet -1): what LibreOffice computed for each cell.
    csv_dir = tmp_path / "csv"
    _soffice(
        ["--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
         "--outdir", str(csv_dir), str(built["path"])],
        tmp_path,
    )  # fmt: skip
    texts = {p.name: p.read_text(encoding="utf-8") for p in csv_dir.glob("*.csv")}
    outstanding = next(t for n, t in texts.items() if "Outstanding" in n)
    assert '"=HYPERLINK(""http://evil"",""x"") Lopez"' in outstanding
    assert "-2+3 Smith" in outstanding and "@SUM(A1) Jones" in outstanding
    quality = next(t for n, t in texts.items() if "Data" in n)
    assert "+cmd" in quality


def test_record_report_run_feeds_the_next_report(built: dict[str, Any], settings: Any) -> None:
    from compliance.report import collect_report_data, record_report_run

    store, data = built["store"], built["data"]
    with store.session() as session:
        record_report_run(session, data, built["path"].name, emailed_to=["superintendent@standard-sd.org"])
        record_report_run(session, data, built["path"].name, drive_file_id="drive-1")  # re-run: same row
    [(runs,)] = sql(
        store, "select count(*) from report_runs where generated_at = '2026-11-24 16:00:00.000000'"
    )
    assert runs == 1
    with store.session() as session:
        later = collect_report_data(session, datetime(2026, 12, 1, 15, 0, tzinfo=UTC), settings)
    assert later.previous is not None and later.previous.generated_at == NOW
    assert later.previous.summary == data.summary
    assert [p.generated_at for p in later.trends][-2:] == [NOW, later.generated_at]


def test_same_figures_on_every_backend(db_url: str, settings: Any, tmp_path: Path) -> None:
    """PostgreSQL (when reachable) and SQLite give the same report from the same district."""
    from compliance.report import collect_report_data
    from compliance.store import Store

    results = []
    for url in dict.fromkeys([db_url, f"sqlite:///{tmp_path / 'reference.db'}"]):
        store = Store(url)
        with store.session() as session:
            build_district(session)
        with store.session() as session:
            data = collect_report_data(session, NOW, settings)
        results.append((data.summary, [r[1:] for r in data.outstanding], [r[1:] for r in data.findings]))
    assert all(r == results[0] for r in results)


# --- readable and printable (issue 14 item 7)


def _chart_xml(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n).decode() for n in zf.namelist() if n.startswith("xl/charts/chart")}


def test_first_report_charts_show_their_point_on_the_right_date(store: Any, settings: Any, tmp_path: Path) -> None:
    from openpyxl.utils.datetime import to_excel

    from compliance.report import collect_report_data, write_workbook
    from compliance.report.workbook import FIRST_REPORT

    first = datetime(2026, 12, 1, 16, 0, tzinfo=UTC)  # the case: the axis read 2026-01-01
    with store.session() as session:
        data = collect_report_data(session, first, settings)
    path = write_workbook(data, tmp_path / "first.xlsx", district_name="D", generated_at=first)
    charts = _chart_xml(path)
    charts = {n: re.sub(r"<(/?)c:", r"<\1", x) for n, x in charts.items()}  # with or without the c: prefix
    lines = [x for x in charts.values() if "<lineChart>" in x]
    assert len(lines) == 3  # two on Trends, one on Summary
    day = to_excel(date(2026, 12, 1))
    for xml in lines:
        assert re.search(r'<symbol val="circle" ?/>', xml)  # a single report shows as a point, not an empty chart
        assert re.search(r'<baseTimeUnit val="days" ?/>', xml)  # not rounded to the year (2026-01-01)
        date_axis = xml[xml.index("<dateAx>"): xml.index("</dateAx>")]
        low = float(re.search(r'<min val="([\d.]+)"', date_axis).group(1))
        high = float(re.search(r'<max val="([\d.]+)"', date_axis).group(1))
        assert low < day < high and high - low <= 10
    wb = openpyxl.load_workbook(path)
    assert len(wb["Summary"]._charts) == 1 and len(wb["Trends"]._charts) == 2  # no site yet: no bar chart
    # "First report" once, and the change column empty instead of "no earlier figure" on every row.
    ws = wb["Summary"]
    texts = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    assert sum(FIRST_REPORT in t for t in texts) == 1
    assert not any("no earlier figure" in t for t in texts)


def test_later_report_compares_and_does_not_say_first(built: dict[str, Any]) -> None:
    from compliance.report.workbook import FIRST_REPORT

    ws = openpyxl.load_workbook(built["path"])["Summary"]
    texts = [str(c.value) for row in ws.iter_rows() for c in row if c.value is not None]
    assert not any(FIRST_REPORT in t for t in texts)
    assert "Compared with the report of 2026-11-17" in texts[2]
    values = summary_values(built["path"])
    assert values["Acknowledgement rate"][2].startswith("▲")


def test_columns_fit_their_content_and_short_words_are_centred(built: dict[str, Any]) -> None:
    wb = openpyxl.load_workbook(built["path"])
    for name in ("By Site", "Outstanding Acknowledgements", "Photo Consent Findings", "Takedown Aging"):
        ws = wb[name]
        for column in ws.iter_cols(min_row=1, max_row=ws.max_row):
            letter = column[0].column_letter
            width = ws.column_dimensions[letter].width
            longest_word = max(len(w) for w in str(column[0].value).split())
            assert width >= longest_word + 1, (name, letter)  # the header never breaks inside a word
            for c in column[1:]:
                if isinstance(c.value, str):
                    assert width >= min(len(c.value), 46), (name, letter, c.value)
    outstanding = wb["Outstanding Acknowledgements"]
    header = [c.value for c in outstanding[1]]
    for title in ("Escalated", "Paper only"):
        col = header.index(title)
        cells = [row[col] for row in outstanding.iter_rows(min_row=2) if row[col].value]
        assert cells and all(c.alignment.horizontal == "center" for c in cells)  # never "0No"


def test_wrapped_rows_are_tall_enough() -> None:
    from compliance.report.workbook import row_height

    assert row_height([("short", 30)]) == 19
    one = row_height([("x" * 40, 60)])
    three = row_height([("word " * 40, 60)])  # 200 characters in a 60-wide column: at least 4 lines
    assert three >= 4 * 15 and three > one


def test_definitions_rows_have_the_height_their_text_needs(built: dict[str, Any]) -> None:
    ws = openpyxl.load_workbook(built["path"])["Definitions"]
    widths = [ws.column_dimensions[x].width for x in "ABC"]
    for row in ws.iter_rows(min_row=2):
        # An independent estimate: full lines of the column's width (no allowance for word wrapping).
        lines = max(-(-len(str(c.value or "")) // int(w)) for c, w in zip(row, widths, strict=True))
        height = ws.row_dimensions[row[0].row].height
        assert height is not None and height >= lines * 14, (row[0].value, height, lines)


def test_page_titles_and_image_names_from_addresses() -> None:
    from compliance.report.workbook import PAGE_TITLE_CHARS, image_name, page_title

    assert page_title("https://lincoln.example.org/news/2026/field-day.html") == "Field day"
    assert page_title("https://lincoln.example.org/") == "Home page"
    assert page_title("https://lincoln.example.org/athletics/index.html") == "Athletics"
    assert page_title("https://lincoln.example.org/gallery?page=2") == "Gallery (page=2)"
    assert page_title("https://x.org/" + "a-very-long-page-name-" * 5).endswith("…")
    assert len(page_title("https://x.org/" + "a-very-long-page-name-" * 5)) == PAGE_TITLE_CHARS
    assert image_name("https://cdn.example.org/u/2026/field%20day-03.jpg?w=800") == "field day-03.jpg"


def test_headline_names_sources_not_google_ids(built: dict[str, Any]) -> None:
    import dataclasses

    from compliance.report import attention_sentences
    from compliance.report.data import QuarantineRow

    data = built["data"]
    form = QuarantineRow("acknowledgement", "forms:1FAIpQLSe-form-id", 40, 40, date(2026, 11, 23))
    sentences = attention_sentences(dataclasses.replace(data, quarantine=[form, *data.quarantine]))
    text = " ".join(sentences)
    assert "in quarantine, most from the acknowledgement forms' responses (40)" in text
    assert "1FAIpQLSe" not in text and "forms:" not in text


# Letter landscape less the default margins (0.7 in each side) at 96 px an inch, and Excel's column width in
# pixels for Calibri 11 (7 px a character plus 5 px padding): fit-to-width must not shrink a sheet below half.
PRINTABLE_PX = (11 - 1.4) * 96


def test_every_sheet_fits_the_page_width_at_a_legible_scale(built: dict[str, Any]) -> None:
    wb = openpyxl.load_workbook(built["path"])
    for ws in wb:
        used = range(1, ws.max_column + 1)
        letters = [openpyxl.utils.get_column_letter(i) for i in used]
        total = sum(7 * (ws.column_dimensions[x].width or 8.43) + 5 for x in letters)
        assert PRINTABLE_PX / total >= 0.5, (ws.title, total)


PDFTOTEXT = shutil.which("pdftotext")


@pytest.mark.skipif(
    SOFFICE is None or PDFTOTEXT is None,
    reason="LibreOffice and poppler-utils are needed: apt-get install libreoffice-calc-nogui poppler-utils",
)
def test_every_sheet_prints_one_page_wide_with_nothing_cut(built: dict[str, Any], tmp_path: Path) -> None:
    from compliance.report import SHEETS

    out = tmp_path / "pdf"
    _soffice(["--convert-to", "pdf", "--outdir", str(out), str(built["path"])], tmp_path)
    pdf = out / built["path"].with_suffix(".pdf").name
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    n_pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    width, height = (float(x) for x in re.search(r"Page size:\s+([\d.]+) x ([\d.]+)", info).groups())
    assert (round(width), round(height)) == (792, 612)  # Letter, landscape
    pages: dict[str, list[str]] = {}
    for page in range(1, n_pages + 1):
        text = subprocess.run([PDFTOTEXT, "-layout", "-f", str(page), "-l", str(page), str(pdf), "-"],
                              check=True, capture_output=True, text=True).stdout  # fmt: skip
        top = next(line for line in text.splitlines() if line.strip())
        # The page header names the sheet (workbook._page: district centre, sheet right).
        sheet = next(name for name in sorted(SHEETS, key=len, reverse=True) if top.rstrip().endswith(name))
        pages.setdefault(sheet, []).append(text)
    assert list(pages) == list(SHEETS)  # every sheet printed, in order
    # The fixture's tables are short: one page each; the Summary (sentences, tables, chart) and the Definitions
    # (some thirty terms in wrapped rows) take two, three at most.
    counts = {name: len(p) for name, p in pages.items()}
    assert counts["Summary"] <= 3 and counts["Definitions"] <= 3, counts
    assert all(n == 1 for name, n in counts.items() if name not in ("Summary", "Definitions")), counts
    # One page wide: each sheet's last column header is on its first page, beside the first one.
    wb = openpyxl.load_workbook(built["path"])
    for name in SHEETS[1:]:
        ws = wb[name]
        header_row = 2 if name == "Ledger" else 1
        cells = [c.value for c in ws[header_row] if c.value]
        first_word, last_word = cells[0].split()[0], max(cells[-1].split(), key=len)
        assert first_word in pages[name][0] and last_word in pages[name][0], (name, last_word)
    # And as images (what a person sees): every page renders with content.
    png = tmp_path / "png"
    png.mkdir()
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(pdf), str(png / "page")], check=True, capture_output=True)
    images = sorted(png.glob("page*.png"))
    assert len(images) == n_pages and all(p.stat().st_size > 2000 for p in images)
