"""Reading SIS students and messy consent spreadsheets into records and quarantine, and storing them."""

from __future__ import annotations

import csv
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from compliance.consent import (
    consent_status,
    load_consents,
    parse_date,
    parse_mark,
    parse_purposes,
    read_consents,
    read_students,
    store_consents,
    store_students,
)
from compliance.models import ConsentRecord, Quarantine, Student
from compliance.quarantine import quarantine
from compliance.roster import sync_sites
from compliance.settings import Site

KNOWN = {"2000001", "2000002", "2000003", "2000004", "2000005", "2000006"}
AS_OF = date(2026, 10, 20)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-09-03", date(2026, 9, 3)),
        ("9/3/2026", date(2026, 9, 3)),
        ("09/03/2026", date(2026, 9, 3)),
        ("9/3/26", date(2026, 9, 3)),
        ("Sep 3, 2026", date(2026, 9, 3)),
        ("Sept. 3rd, 2026", date(2026, 9, 3)),
        ("3-Sep-2026", date(2026, 9, 3)),
        ("3 September 2026", date(2026, 9, 3)),
        (datetime(2026, 9, 3, 0, 0), date(2026, 9, 3)),
        ("sometime in Sept", None),
        ("31/31/2026", None),
        ("9/31/2026", None),
        ("TBD", None),
        ("Fall", None),
        ("Sept", None),
        ("2026", None),
        ("", None),
    ],
)
def test_parse_date(text: object, expected: date | None) -> None:
    assert parse_date(text) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "answer"),
    [
        ("Y", True), ("yes", True), ("X", True), ("✓", True), ("✔", True), ("TRUE", True), (True, True),
        ("Sí", True), ("N", False), ("No", False), ("", False), (None, False), (False, False),
        ("no firmó / declined", False), ("maybe", None), ("see note", None),
    ],
)  # fmt: skip
def test_parse_mark(value: object, answer: bool | None) -> None:
    assert parse_mark(value)[0] is answer  # type: ignore[arg-type]


def test_parse_mark_date_means_signed_that_day() -> None:
    assert parse_mark("9/5/2026") == (True, date(2026, 9, 5))


def test_parse_purposes() -> None:
    found, unknown = parse_purposes("Web site; Social, Annual / Press")
    assert found == {"website", "social_media", "yearbook", "press"} and unknown == []
    found, unknown = parse_purposes("facebook/instagram, sitio web, anuario")
    assert found == {"social_media", "website", "yearbook"} and unknown == []
    found, unknown = parse_purposes("website, billboards")
    assert found == {"website"} and unknown == ["billboards"]


def _merged_xlsx(path: Path) -> Path:
    """Two title rows, a two-row header with "Purposes" merged over per-purpose columns, checkmarks."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Releases"
    rows: list[list[object]] = [
        ["Lincoln Elementary - Photo / Media Release 2026-27"],
        ["Front office copy - do not sort"],
        [],
        ["Student ID", "Student (Last, First)", "Grade", "Parent consent", "Purposes", None, None, None,
         "Date signed", "Principal approval", "Revoked", "Notes"],
        [None, None, None, None, "Website", "Social Media", "Yearbook", "Press"],
        ["2000001", "García López, María", "3", "✓", "✓", None, "X", None, datetime(2026, 9, 3), "JM", None,
         ""],
        ["2000002", "Nguyen, Lan", "4", "Yes", None, "Y", "Y", None, "9/4/2026", "ok", None, None],
        ["2000003", "O'Brien, Bobby", "2", "Y", "Y", "Y", None, None, "Sep 5, 2026", None, None, None],
        ["2000004", "Smith-Jones, Laura", "5", "Y", "Y", None, None, None, "9/6/2026", "Approved",
         "10/1/2026", None],
        ["9999999", "Ghost, Casper", "1", "Y", "Y", None, None, None, "9/6/2026", "JM", None, None],
        ["2000005", "Núñez, José", "K", "Y", "Y", None, None, None, "sometime in Sept", "JM", None, None],
        ["2000006", "Lee, Ann", "1", "Y", "Y", None, None, None, "=DATE(2026,9,9)", "JM", None,
         '=HYPERLINK("https://sis.example/2000006","SIS")'],
    ]  # fmt: skip
    for row in rows:
        ws.append(row)
    for rng in ["A1:L1", "A2:L2", "E4:H4"] + [f"{c}4:{c}5" for c in "ABCDIJKL"]:
        ws.merge_cells(rng)
    wb.save(path)
    return path


def test_merged_two_row_header_workbook(tmp_path: Path) -> None:
    result = read_consents(_merged_xlsx(tmp_path / "lincoln-es.xlsx"), "lincoln-es", KNOWN,
                           label="consent/lincoln-es.xlsx")  # fmt: skip
    by_id = {r.student_id: r for r in result.records}
    assert set(by_id) == {"2000001", "2000002", "2000003", "2000004"}
    maria = by_id["2000001"]
    assert maria.purposes == {"website", "yearbook"} and maria.parent_signed_on == date(2026, 9, 3)
    assert maria.principal_approved and maria.school_year == "2026-2027"
    assert (maria.source_file, maria.source_sheet, maria.source_row) == (
        "consent/lincoln-es.xlsx",
        "Releases",
        6,
    )
    assert by_id["2000002"].purposes == {"social_media", "yearbook"}
    assert not by_id["2000003"].principal_approved
    assert by_id["2000004"].revoked_on == date(2026, 10, 1)
    rejected = {(r.row, r.field): r.reason for r in result.rejected}
    assert set(rejected) == {(10, "student_id"), (11, "signed_date"), (12, "signed_date")}
    assert "not in the SIS roster" in rejected[(10, "student_id")]
    assert "unreadable date" in rejected[(11, "signed_date")]
    assert "formula" in rejected[(12, "signed_date")]  # kept as text, never evaluated
    assert all(r.source_file == "consent/lincoln-es.xlsx" and r.sheet == "Releases" for r in result.rejected)
    decisions = {sid: consent_status([r], "website", AS_OF).reason for sid, r in by_id.items()}
    assert decisions == {
        "2000001": "ok",
        "2000002": "purpose_not_covered",
        "2000003": "principal_missing",
        "2000004": "revoked",
    }


def test_cp1252_csv_with_purpose_columns(tmp_path: Path) -> None:
    path = tmp_path / "chavez.csv"
    with path.open("w", encoding="cp1252", newline="") as fh:
        csv.writer(fh, lineterminator="\r\n").writerows(
            [
                ["ID#", "Last", "First", "Consent (Y/N)", "Website", "Social", "Yearbook", "Press", "Signed",
                 "Principal Initials", "Revoked Date"],
                ["2000001", "Núñez", "José", "Y", "X", "", "x", "", "9/3/26", "K.W.", ""],
                ["2000002", "Peña", "Dolores", "No", "", "", "", "", "9/4/2026", "", ""],
                ["2000003", "Muñoz", "Ana", "Yes", "Y", "Y", "Y", "Y", "2025-09-04", "kw", ""],
                ["2000004", "Ávila", "Luz", "maybe", "Y", "", "", "", "9/4/2026", "kw", ""],
            ]
        )  # fmt: skip
    result = read_consents(path, "cesar-chavez-es", KNOWN)
    by_id = {r.student_id: r for r in result.records}
    assert by_id["2000001"].purposes == {"website", "yearbook"} and by_id["2000001"].principal_approved
    assert not by_id["2000002"].parent_consent and by_id["2000002"].purposes == frozenset()
    assert consent_status([by_id["2000003"]], "website", AS_OF).reason == "expired"
    assert [(r.row, r.field) for r in result.rejected] == [(5, "parent_consent")]
    assert result.rejected[0].raw_value == "maybe"


def test_sheets_values_bilingual_date_in_consent_column() -> None:
    values = {
        "Respuestas": [
            ["Permiso de fotos / Photo permission SV 2026-2027"],
            ["ID", "Nombre del estudiante / Student name", "Firma del padre (fecha) / Parent signed (date)",
             "Permisos / Uses", "Director(a) / Principal", "Revocado / Revoked"],
            ["2000001", "María García", "9/12/2026", "sitio web, anuario", "Sí", ""],
            ["2000002", "Lan Nguyen", "no firmó / declined", "", "", ""],
            ["2000003", "Bo Park", "TBD", "website", "LM", ""],
            ["2000004", "Cy Diaz", "9/14/2026", "redes sociales", "", "10/2/2026"],
        ]
    }  # fmt: skip
    result = read_consents(("sheets:1AbCdEf", values), "sierra-vista-k8", KNOWN)
    by_id = {r.student_id: r for r in result.records}
    assert by_id["2000001"].parent_consent and by_id["2000001"].parent_signed_on == date(2026, 9, 12)
    assert by_id["2000001"].purposes == {"website", "yearbook"} and by_id["2000001"].principal_approved
    assert not by_id["2000002"].parent_consent and by_id["2000002"].parent_signed_on is None
    assert by_id["2000004"].revoked_on == date(2026, 10, 2) and not by_id["2000004"].principal_approved
    assert [(r.source_file, r.sheet, r.row, r.field) for r in result.rejected] == [
        ("sheets:1AbCdEf", "Respuestas", 5, "signed_date")
    ]
    assert consent_status([by_id["2000002"]], "website", AS_OF).reason == "no_consent"


def _typed_xlsx(path: Path) -> Path:
    wb = Workbook()
    ins = wb.active
    ins.title = "Instructions"
    ins.append(["How to use this sheet"])
    ins.append(["One row per signed form. Dates as dates."])
    ws = wb.create_sheet("Consents")
    ws.append(["Student Number", "Legal Name", "Preferred", "Consent", "Purposes", "Signed On",
               "Principal Approved On", "Revoked On", "Parent Email"])  # fmt: skip
    ws.append([2000001, "Lee, Ann", "", "Yes", "website, press", datetime(2026, 9, 1), datetime(2026, 9, 3),
               None,
               '=HYPERLINK("mailto:p@example.com","p@example.com")'])  # fmt: skip
    ws.append([2000002, "Park, Bo", "", "Yes", "website", datetime(2026, 9, 2), None, None, "q@example.com"])
    ws.append([2000003, "Diaz, Cy", "", "No", "", datetime(2026, 9, 2), None, None, ""])
    ws.append([2000004, "Ruiz, Eva", "", "Yes", "", "9/2/2026", datetime(2026, 9, 4), None, ""])
    wb.create_sheet("Empty")
    wb.save(path)
    return path


def test_typed_workbook_numbers_dates_and_extra_sheets(tmp_path: Path) -> None:
    result = read_consents(_typed_xlsx(tmp_path / "washington-ms.xlsx"), "washington-ms", KNOWN)
    by_id = {r.student_id: r for r in result.records}
    assert set(by_id) == {"2000001", "2000002", "2000003"}  # ids typed as numbers
    assert by_id["2000001"].principal_approved and by_id["2000001"].principal_approved_on == date(2026, 9, 3)
    assert not by_id["2000002"].principal_approved
    # Consent "Yes" with an empty purpose list: ambiguous without a profile default (rule 7)...
    assert [(r.row, r.field) for r in result.rejected] == [(5, "purposes")]
    assert "ambiguous" in result.rejected[0].reason and "rule 7" in result.rejected[0].reason
    # ...and the profile's default purposes for this source with one.
    with_default = read_consents(tmp_path / "washington-ms.xlsx", "washington-ms", KNOWN,
                                 default_purposes=["website", "yearbook"])  # fmt: skip
    entry = {r.student_id: r for r in with_default.records}["2000004"]
    assert entry.purposes == {"website", "yearbook"} and with_default.rejected == []
    assert consent_status([entry], "press", AS_OF).reason == "purpose_not_covered"
    assert {(r.sheet, r.field) for r in result.skipped} == {("Instructions", "(header)"), ("Empty", "(sheet)")}


def test_students_csv(tmp_path: Path) -> None:
    path = tmp_path / "students.csv"
    path.write_text(
        "student_id,legal_first,legal_last,preferred_first,preferred_last,grade,site_id\n"
        "2000001,María José,García López,Majo,,3,lincoln-es\n"
        "2000002,Robert,O'Brien,Bobby,,K,lincoln-es\n"
        ",No,Id,,,1,lincoln-es\n"
        "2000002,Dup,Licate,,,1,lincoln-es\n"
        "2000003,,Nofirst,,,1,lincoln-es\n"
        "2000004,Ana,Elsewhere,,,1,atlantis-es\n",
        encoding="utf-8",
    )
    result = read_students(path, label="sis/students.csv", site_ids={"lincoln-es"})
    assert [s.student_id for s in result.students] == ["2000001", "2000002"]
    assert result.students[0].preferred_first == "Majo" and result.students[0].legal_last == "García López"
    assert [(r.row, r.field) for r in result.rejected] == [
        (4, "student_id"),
        (5, "student_id"),
        (6, "legal_first"),
        (7, "site_id"),
    ]


SITES = [
    Site(id="lincoln-es", name="Lincoln", org_unit="/L", site_admin="p@x.org", web_contact="w@x.org"),
]


def test_store_is_idempotent_and_quarantine_lands(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    students = read_students(_students_file(tmp_path), label="sis/students.csv", site_ids={"lincoln-es"}).students
    result = read_consents(_merged_xlsx(tmp_path / "lincoln-es.xlsx"), "lincoln-es",
                           {s.student_id for s in students}, label="consent/lincoln-es.xlsx")  # fmt: skip
    with store.session() as session:
        sync_sites(session, SITES)
        assert store_students(session, students)["added"] == 6
        assert store_consents(session, result.records)["added"] == 4
        quarantine(session, result.rejected)
        session.commit()
    with store.session() as session:
        assert store_students(session, students) == {"added": 0, "updated": 0, "deactivated": 0}
        again = store_consents(session, result.records)
        assert again == {"added": 0, "updated": 0, "unchanged": 4, "removed": 0}
        assert quarantine(session, result.rejected) == 0
        session.commit()
    with store.session() as session:
        assert session.query(ConsentRecord).count() == 4
        q = session.scalars(select(Quarantine).order_by(Quarantine.row)).all()
        assert [(x.job, x.source_file, x.sheet, x.row, x.field) for x in q] == [
            ("consent", "consent/lincoln-es.xlsx", "Releases", 10, "student_id"),
            ("consent", "consent/lincoln-es.xlsx", "Releases", 11, "signed_date"),
            ("consent", "consent/lincoln-es.xlsx", "Releases", 12, "signed_date"),
        ]
        stored = load_consents(session)
        assert consent_status(stored["2000001"], "website", AS_OF).reason == "ok"
        assert consent_status(stored["2000004"], "website", AS_OF).reason == "revoked"
        # A corrected sheet: a row removed, one changed.
        changed = [r for r in result.records if r.student_id != "2000003"]
        changed = [replace(r, principal_approved=False) if r.student_id == "2000002" else r for r in changed]
        counts = store_consents(session, changed)
        assert counts == {"added": 0, "updated": 1, "unchanged": 2, "removed": 1}
        session.commit()
        assert session.get(Student, "2000001") is not None


def _students_file(tmp_path: Path) -> Path:
    path = tmp_path / "students.csv"
    lines = ["student_id,legal_first,legal_last,preferred_first,preferred_last,grade,site_id"]
    lines += [f"{sid},First{sid[-1]},Last{sid[-1]},,,3,lincoln-es" for sid in sorted(KNOWN)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
