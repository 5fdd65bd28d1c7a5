"""Consent rules 4-8 as they meet real spreadsheet cells: principal marks, rows without ids, id/name checks,
Spanish headers and purposes, default purposes, opt-out lists; and no row dropped silently."""

from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from compliance.consent import (
    ConsentResult,
    Roster,
    StudentRecord,
    consent_status,
    load_consents,
    parse_principal,
    read_consents,
    store_consents,
    store_students,
)
from compliance.roster import sync_sites
from compliance.settings import Site

AS_OF = date(2026, 11, 20)


def student(sid: str, first: str, last: str, grade: str = "3", site: str = "lincoln-es",
            preferred: str | None = None) -> StudentRecord:  # fmt: skip
    return StudentRecord(sid, first, last, preferred, None, grade, site)


STUDENTS = [
    student("3000001", "María José", "García López"),
    student("3000002", "Robert", "O'Brien", preferred="Bobby"),
    student("3000003", "Laura", "Smith-Jones", grade="5"),
    student("3000004", "Ana", "Nguyen", grade="2"),
    student("3000005", "Ana", "Nguyen", grade="4"),  # a namesake in another grade
    student("3000006", "José", "Núñez", grade="K"),
    student("3000007", "Ana", "Nguyen", grade="2", site="washington-ms"),  # a namesake at another school
    student("3000008", "Elizabeth", "Park", grade="1"),
]
ROSTER = Roster(STUDENTS)


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh, lineterminator="\r\n").writerows(rows)
    return path


def distinct_rows(result: ConsentResult) -> int:
    return len({(r.source_file, r.sheet, r.row) for r in result.rejected})


def assert_nothing_dropped(result: ConsentResult) -> None:
    applied = {(r.source_file, r.source_sheet, r.source_row) for r in result.records}
    rejected = {(r.source_file, r.sheet, r.row) for r in result.rejected}
    assert not applied & rejected
    assert len(applied) + len(rejected) == result.rows


# -- rule 4 ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "approved", "unusual"),
    [
        ("Y", True, False), ("Yes", True, False), ("Sí", True, False), ("X", True, False), ("✓", True, False),
        ("TRUE", True, False), (True, True, False), ("9/5/2026", True, False), (datetime(2026, 9, 5), True, False),
        ("JM", True, False), ("K.W.", True, False), ("kw", True, False), ("ABCD", True, False),
        ("TBD", False, True), ("Pend", False, True), ("pending", False, True), ("N/A", False, True),
        ("?", False, True), ("ask", False, True), ("see note", False, True),
        ("no", False, False), ("N", False, False), ("", False, False), (None, False, False),
    ],
)  # fmt: skip
def test_rule4_principal_marks(value: object, approved: bool, unusual: bool) -> None:
    got = parse_principal(value)  # type: ignore[arg-type]
    assert (got[0], got[2]) == (approved, unusual)


def test_rule4_unusual_principal_values_are_noted_and_not_approval(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "lincoln.csv", [
        ["Student ID", "Name", "Consent", "Uses", "Date signed", "Principal"],
        ["3000001", "Maria Garcia", "Y", "website", "9/3/2026", "TBD"],
        ["3000002", "Bobby O'Brien", "Y", "website", "9/3/2026", "Pend"],
        ["3000003", "Laura Smith-Jones", "Y", "website", "9/3/2026", "ask"],
        ["3000006", "Jose Nunez", "Y", "website", "9/3/2026", "JM"],
        ["3000008", "Elizabeth Park", "Y", "website", "9/3/2026", "no"],
    ])  # fmt: skip
    result = read_consents(path, "lincoln-es", ROSTER, label="consent/lincoln.csv")
    by_id = {r.student_id: r for r in result.records}
    assert len(by_id) == 5 and result.rejected == []
    assert {sid for sid, r in by_id.items() if r.principal_approved} == {"3000006"}
    assert [(n.source_file, n.row, n.field, n.raw_value) for n in result.notes] == [
        ("consent/lincoln.csv", 2, "principal", "TBD"),
        ("consent/lincoln.csv", 3, "principal", "Pend"),
        ("consent/lincoln.csv", 4, "principal", "ask"),
    ]
    assert consent_status([by_id["3000001"]], "website", AS_OF).reason == "principal_missing"
    assert consent_status([by_id["3000006"]], "website", AS_OF).reason == "ok"


# -- rules 5 and 6 --------------------------------------------------------------------------------------------


def test_rule5_rows_without_id_match_by_name(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "lincoln.csv", [
        ["Student ID", "Student (Last, First)", "Grade", "Consent", "Uses", "Date signed", "Principal"],
        ["", "García López, María José", "", "Y", "website", "9/3/2026", "JM"],  # 2: exact, accents
        ["", "Garcia-Lopez, Maria", "", "Y", "website", "9/3/2026", "JM"],  # 3: hyphen, no accents
        ["", "Garcia, Maria Jose", "", "Y", "website", "9/3/2026", "JM"],  # 4: first surname only
        ["", "O'Brien, Bobby", "", "Y", "website", "9/3/2026", "JM"],  # 5: preferred name
        ["", "Park, Liz", "", "Y", "website", "9/3/2026", "JM"],  # 6: nickname
        ["", "Nguyen, Ana", "", "Y", "website", "9/3/2026", "JM"],  # 7: two at this school
        ["", "Nguyen, Ana", "4", "Y", "website", "9/3/2026", "JM"],  # 8: the grade tells them apart
        ["", "Nguyen, Ana", "6", "Y", "website", "9/3/2026", "JM"],  # 9: nobody in grade 6
        ["", "Doe, Jane", "", "Y", "website", "9/3/2026", "JM"],  # 10: nobody
        ["", "", "", "Y", "website", "9/3/2026", "JM"],  # 11: no id, no name
    ])  # fmt: skip
    result = read_consents(path, "lincoln-es", ROSTER)
    got = {r.source_row: (r.student_id, r.matched_by) for r in result.records}
    assert got == {
        2: ("3000001", "name"), 3: ("3000001", "name"), 4: ("3000001", "name"), 5: ("3000002", "name"),
        6: ("3000008", "name"), 8: ("3000005", "name"),
    }  # fmt: skip
    reasons = {r.row: r.reason for r in result.rejected}
    assert set(reasons) == {7, 9, 10, 11} and all(r.field == "student_id" for r in result.rejected)
    assert "matches 2 students at site lincoln-es" in reasons[7] and "rule 5" in reasons[7]
    assert "matches 0 students" in reasons[9] and "grade 6" in reasons[9]
    assert "matches 0 students" in reasons[10]
    assert "student id is required" in reasons[11]
    assert all(r.raw_value is None for r in result.rejected)  # names never copied into the quarantine
    assert_nothing_dropped(result)


def test_rule5_school_inferred_from_the_sheet_when_not_given(tmp_path: Path) -> None:
    # The one-off audit does not know a file's school: the ids in the sheet say it.
    path = write_csv(tmp_path / "wash.csv", [
        ["Student ID", "First", "Last", "Consent", "Uses", "Date signed", "Principal"],
        ["3000007", "Ana", "Nguyen", "Y", "website", "9/3/2026", "JM"],
        ["", "Ana", "Nguyen", "Y", "yearbook", "9/4/2026", "JM"],
    ])  # fmt: skip
    result = read_consents(path, None, ROSTER)
    assert [(r.student_id, r.matched_by) for r in result.records] == [("3000007", "id"), ("3000007", "name")]


def test_rule6_id_name_mismatch_is_quarantined_variants_are_not(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "lincoln.csv", [
        ["Student ID", "First name", "Last name", "Consent", "Uses", "Date signed", "Principal"],
        ["3000001", "Laura", "Smith-Jones", "Y", "website", "9/3/2026", "JM"],  # 2: someone else's name
        ["3000003", "Laura", "Nguyen", "Y", "website", "9/3/2026", "JM"],  # 3: right first, wrong surname
        ["3000001", "Majo", "Garcia", "Y", "website", "9/3/2026", "JM"],  # 4: unknown nickname: mismatch
        ["3000001", "MARIA", "GARCIA LOPEZ", "Y", "website", "9/3/2026", "JM"],  # 5: variant
        ["3000002", "Rob", "OBrien", "Y", "website", "9/3/2026", "JM"],  # 6: nickname, no apostrophe
        ["3000003", "Laura", "Smith Jones", "Y", "website", "9/3/2026", "JM"],  # 7: hyphen dropped
        ["3000003", "Laura", "Smithe-Jones", "Y", "website", "9/3/2026", "JM"],  # 8: one typo
        ["3000006", "", "", "Y", "website", "9/3/2026", "JM"],  # 9: no name to compare: the id stands
    ])  # fmt: skip
    result = read_consents(path, "lincoln-es", ROSTER)
    assert sorted(r.source_row for r in result.records) == [5, 6, 7, 8, 9]
    assert {r.row: r.field for r in result.rejected} == {2: "student_id", 3: "student_id", 4: "student_id"}
    assert all("id/name mismatch" in r.reason and "rule 6" in r.reason for r in result.rejected)
    # A plain id set (no names) cannot check: the rows apply as before.
    plain = read_consents(path, "lincoln-es", {s.student_id for s in STUDENTS})
    assert len(plain.records) == 8 and plain.rejected == []
    assert_nothing_dropped(result)


# -- rule 7 ---------------------------------------------------------------------------------------------------


def test_rule7_spanish_headers_and_values_cp1252(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "chavez.csv", [
        ["Número de estudiante", "Apellido", "Nombre", "Grado", "Consentimiento de los padres", "Sitio web",
         "Redes sociales", "Anuario", "Prensa", "Video", "Fecha de firma", "Aprobación del director(a)",
         "Fecha de revocación"],
        ["3000006", "Núñez", "José", "K", "Sí", "X", "", "X", "", "Sí", "3 de septiembre de 2026", "LM", ""],
        ["3000004", "Nguyen", "Ana", "2", "Sí", "", "Sí", "", "", "", "9/4/2026", "Sí", "10/2/2026"],
        ["3000008", "Park", "Elizabeth", "1", "No", "", "", "", "", "", "9/4/2026", "", ""],
    ], encoding="cp1252")  # fmt: skip
    result = read_consents(path, "lincoln-es", ROSTER)
    assert result.rejected == []
    by_id = {r.student_id: r for r in result.records}
    assert by_id["3000006"].purposes == {"website", "yearbook", "video"}
    assert by_id["3000006"].parent_signed_on == date(2026, 9, 3) and by_id["3000006"].principal_approved
    assert by_id["3000004"].purposes == {"social_media"} and by_id["3000004"].revoked_on == date(2026, 10, 2)
    assert not by_id["3000008"].parent_consent
    assert consent_status([by_id["3000006"]], "video", AS_OF).reason == "ok"
    assert consent_status([by_id["3000006"]], "press", AS_OF).reason == "purpose_not_covered"


def test_rule7_purpose_list_in_one_cell_english_or_spanish(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "l.csv", [
        ["ID", "Nombre del estudiante", "Permisos / Uses", "Fecha", "Director(a)"],
        ["3000001", "María García", "sitio web; anuario, video", "9/12/2026", "Sí"],
        ["3000002", "Bobby O'Brien", "Website / Social media / Press", "9/12/2026", "Sí"],
        ["3000003", "Laura Smith-Jones", "", "9/12/2026", "Sí"],
    ])  # fmt: skip
    result = read_consents(path, "lincoln-es", ROSTER)
    by_id = {r.student_id: r.purposes for r in result.records}
    assert by_id == {"3000001": {"website", "yearbook", "video"}, "3000002": {"website", "social_media", "press"}}
    assert [(r.row, r.field) for r in result.rejected] == [(4, "purposes")]
    assert "ambiguous" in result.rejected[0].reason
    defaulted = read_consents(path, "lincoln-es", ROSTER, default_purposes=["yearbook"])
    assert {r.student_id: r.purposes for r in defaulted.records}["3000003"] == {"yearbook"}
    assert defaulted.rejected == []


def test_rule7_default_purposes_per_source_in_the_profile() -> None:
    site = Site(id="lincoln-es", name="L", org_unit="/L", site_admin="p@x.org", web_contact="w@x.org",
                consent_sources=["consent/a.csv", "consent/b.csv"],
                default_purposes={"consent/a.csv": ["website", "video"]})  # fmt: skip
    assert site.default_purposes_for("consent/a.csv") == ["website", "video"]
    assert site.default_purposes_for("consent/b.csv") == []
    with pytest.raises(ValueError, match="not consent_sources"):
        Site(id="x", name="X", org_unit="/X", site_admin="p@x.org", web_contact="w@x.org",
             default_purposes={"consent/other.csv": ["website"]})  # fmt: skip
    with pytest.raises(ValueError):
        Site(id="x", name="X", org_unit="/X", site_admin="p@x.org", web_contact="w@x.org",
             consent_sources=["a.csv"], default_purposes={"a.csv": ["billboard"]})  # fmt: skip


# -- rule 8 ---------------------------------------------------------------------------------------------------


def _opt_out_xlsx(path: Path) -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = "Opt-outs"
    for row in [
        ["Directory Information Opt-Out (FERPA) 2026-27"],
        [],
        ["Student ID", "Student Name", "Grade", "Opt-out date"],
        ["3000001", "María José García López", "3", datetime(2026, 10, 1)],
        ["", "Laura Smith-Jones", "5", "10/5/2026"],
        ["3000002", "Bobby O'Brien", "3", "pending"],
    ]:
        ws.append(row)
    ws.merge_cells("A1:D1")
    wb.save(path)
    return path


def test_rule8_opt_out_list_is_a_consent_source(tmp_path: Path) -> None:
    result = read_consents(_opt_out_xlsx(tmp_path / "optout.xlsx"), "lincoln-es", ROSTER, label="consent/optout.xlsx")
    assert [(r.student_id, r.kind, r.opted_out_on, r.source_row) for r in result.records] == [
        ("3000001", "opt_out", date(2026, 10, 1), 4),
        ("3000003", "opt_out", date(2026, 10, 5), 5),
    ]
    assert [(r.row, r.field) for r in result.rejected] == [(6, "opt_out_date")]
    assert_nothing_dropped(result)
    grant = read_consents(write_csv(tmp_path / "c.csv", [
        ["Student ID", "Name", "Consent", "Uses", "Date signed", "Principal"],
        ["3000001", "Maria Garcia", "Y", "website, press", "9/3/2026", "JM"],
        ["3000003", "Laura Smith-Jones", "Y", "website", "10/6/2026", "JM"],
    ]), "lincoln-es", ROSTER).records  # fmt: skip
    history = {sid: [r for r in grant + result.records if r.student_id == sid] for sid in ("3000001", "3000003")}
    decision = consent_status(history["3000001"], "press", AS_OF)
    assert (decision.reason, decision.rule) == ("opted_out", 8) and "consent/optout.xlsx [Opt-outs] row 4" in (
        decision.basis
    )
    assert consent_status(history["3000001"], "website", date(2026, 9, 30)).allowed  # before the opt-out
    assert consent_status(history["3000003"], "website", AS_OF).allowed  # consent signed after the opt-out


def test_rule8_forced_opt_out_kind_reads_a_plain_list(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "ferpa.csv", [["Student ID", "Name", "Date"], ["3000006", "Jose Nunez", "9/1/2026"]])
    as_consent = read_consents(path, "lincoln-es", ROSTER)
    # Read as consent, a bare date is a form naming no purposes: ambiguous, never a grant...
    assert as_consent.records == [] and [r.field for r in as_consent.rejected] == ["purposes"]
    as_list = read_consents(path, "lincoln-es", ROSTER, kind="opt_out")  # ...unless the profile says otherwise
    assert [(r.kind, r.opted_out_on) for r in as_list.records] == [("opt_out", date(2026, 9, 1))]


# -- no row dropped, store round trip ---------------------------------------------------------------------------


def test_sheet_without_id_or_name_column_quarantines_each_row(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "x.csv", [["Consent", "Date signed", "Principal"], ["Y", "9/1/2026", "JM"],
                                          ["Y", "9/2/2026", "JM"]])  # fmt: skip
    result = read_consents(path, "lincoln-es", ROSTER)
    assert result.rows == 2 and [r.row for r in result.rejected] == [2, 3]
    assert_nothing_dropped(result)


def test_store_keeps_kind_opt_out_and_match(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    result = read_consents(_opt_out_xlsx(tmp_path / "optout.xlsx"), "lincoln-es", ROSTER, label="consent/o.xlsx")
    sites = [Site(id=s, name=s, org_unit=f"/{s}", site_admin="p@x.org", web_contact="w@x.org")
             for s in ("lincoln-es", "washington-ms")]  # fmt: skip
    with store.session() as session:
        sync_sites(session, sites)
        store_students(session, STUDENTS)
        assert store_consents(session, result.records)["added"] == 2
        session.commit()
    with store.session() as session:
        assert store_consents(session, result.records)["unchanged"] == 2
        stored = load_consents(session)
        row = stored["3000003"][0]
        assert (row.kind, row.opted_out_on, row.matched_by) == ("opt_out", date(2026, 10, 5), "name")
        assert consent_status(stored["3000003"], "website", AS_OF).reason == "opted_out"
