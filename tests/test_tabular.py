"""Reading messy spreadsheets: title rows, merged cells, encodings, formulas, empty sheets, zip bombs."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import Workbook

from compliance.tabular import (
    HeaderMatcher,
    Limits,
    _read_xlsx_openpyxl,
    _read_xlsx_plain,
    cell_text,
    decode_bytes,
    read_table,
    split_name,
)

SPEC = {
    "full_name": ["name", "full name"],
    "last_first": ["last, first"],
    "given_name": ["first name"],
    "family_name": ["last name"],
    "email": ["email", "e-mail", "email address"],
    "phone": ["phone", "phone number"],
    "category": ["role", "role/category", "category"],
    "signed": ["date signed"],
}


def _xlsx(path: Path, rows: list[list[object]], merges: tuple[str, ...] = (), title: str = "List") -> Path:
    wb = Workbook()
    ws = wb.active
    ws.title = title
    for r, row in enumerate(rows, 1):
        for c, value in enumerate(row, 1):
            if value is not None:
                ws.cell(r, c, value)
    for rng in merges:
        ws.merge_cells(rng)
    wb.save(path)
    return path


def test_title_rows_and_merged_cells(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "lincoln.xlsx",
        [
            ["Lincoln Elementary - Associated Persons 2026-27", None, None, None],
            ["Updated by the front office", None, None, None],
            [None, None, None, None],
            ["Last, First", "E-mail", "Phone #", "Role/Category"],
            ["Nguyen, Lan", "lan@example.com", "(408) 555-0101", "PTA committee"],
            ["Okafor, Ben", None, None, "Walk-on coach"],
            ["Smith, Ann", "ann@example.com", None, None],
        ],
        merges=("A1:D1", "A2:D2", "D6:D7"),
    )
    result = read_table(path, SPEC, job="test", label="associated/lincoln-es.xlsx")
    assert result.rejected == []
    (table,) = result.tables
    assert table.header_row == 4
    assert table.columns["last_first"] == 0 and table.columns["category"] == 3
    assert table.columns["email"] == 1 and table.columns["phone"] == 2  # "Phone #" by fuzzy/containment
    rows = table.rows
    assert [r.row for r in rows] == [5, 6, 7]
    assert rows[0].source == "associated/lincoln-es.xlsx" and rows[0].sheet == "List"
    assert rows[0].text("last_first") == "Nguyen, Lan"
    # The category merged down rows 6-7 applies to both people (its value lives in the top-left cell only).
    assert [r.text("category") for r in rows] == ["PTA committee", "Walk-on coach", "Walk-on coach"]


def test_merged_category_is_filled_down(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "m.xlsx",
        [["Name", "Role"], ["Ann Lee", "Volunteer"], ["Bo Park", None], ["Cy Diaz", None]],
        merges=("B2:B4",),
    )
    rows = read_table(path, SPEC, job="test").rows
    assert [r.text("category") for r in rows] == ["Volunteer", "Volunteer", "Volunteer"]


def test_cp1252_csv(tmp_path: Path) -> None:
    text = "Roster for César Chávez\r\nNombre,Correo,Role\r\nJosé Núñez,jose@example.com,Voluntario\r\n"
    path = tmp_path / "chavez.csv"
    path.write_bytes(text.replace("Nombre", "Name").replace("Correo", "Email").encode("cp1252"))
    with pytest.raises(UnicodeDecodeError):
        path.read_bytes().decode("utf-8")
    result = read_table(path, SPEC, job="test")
    assert result.rejected == []
    (row,) = result.rows
    assert row.text("full_name") == "José Núñez"
    assert row.row == 3


def test_decode_bytes_order() -> None:
    assert decode_bytes("Peña".encode("utf-8-sig")) == ("Peña", "utf-8-sig")
    assert decode_bytes("Peña".encode()) == ("Peña", "utf-8")
    assert decode_bytes("Peña “quoted”".encode("cp1252")) == ("Peña “quoted”", "cp1252")
    assert decode_bytes("Peña".encode("utf-16")) == ("Peña", "utf-16")


def test_formulas_kept_as_text_and_flagged(tmp_path: Path) -> None:
    path = _xlsx(
        tmp_path / "f.xlsx",
        [
            ["Name", "Email", "Date signed"],
            ["Ann Lee", "ann@example.com", "=TODAY()"],
            ['=HYPERLINK("http://evil","x")', "b@example.com", datetime(2026, 9, 1)],
            ["+1 408 555 0101", "@cmd", "-3"],
        ],
    )
    rows = read_table(path, SPEC, job="test").rows
    assert rows[0].values["signed"] == "=TODAY()"  # formula text, never evaluated
    assert rows[0].formula_fields == {"signed"}
    assert rows[1].formula_fields == {"full_name"}
    assert rows[1].values["signed"] == datetime(2026, 9, 1)
    assert rows[2].formula_fields == {"full_name", "email", "signed"}

    csv_path = tmp_path / "f.csv"
    csv_path.write_text('Name,Email\n"=1+1",a@example.com\n', encoding="utf-8")
    (row,) = read_table(csv_path, SPEC, job="test").rows
    assert row.text("full_name") == "=1+1" and row.formula_fields == {"full_name"}


def test_empty_sheets_are_rejected_not_crashed(tmp_path: Path) -> None:
    wb = Workbook()
    wb.active.title = "Empty"
    ws2 = wb.create_sheet("Data")
    ws2.append(["Name", "Email"])
    ws2.append(["Ann Lee", "ann@example.com"])
    wb.create_sheet("Notes")["A1"] = "see the other tab"
    wb.save(tmp_path / "e.xlsx")
    result = read_table(tmp_path / "e.xlsx", SPEC, job="roster", label="e.xlsx")
    assert len(result.rows) == 1
    # Another sheet has data: the empty and the notes sheet are passed over and reported, not quarantined.
    assert result.rejected == []
    reasons = {(r.sheet, r.field): r.reason for r in result.skipped}
    assert "empty sheet" in reasons[("Empty", "(sheet)")]
    assert "no header row" in reasons[("Notes", "(header)")]
    assert all(r.source_file == "e.xlsx" and r.job == "roster" for r in result.skipped)

    # Nothing readable anywhere: every sheet is a quarantine entry naming file and sheet.
    wb = Workbook()
    wb.active.title = "Blank"
    wb.create_sheet("Title only")["A1"] = "Lincoln volunteers 2026"
    wb.save(tmp_path / "nothing.xlsx")
    result = read_table(tmp_path / "nothing.xlsx", SPEC, job="roster", label="nothing.xlsx")
    assert [(r.source_file, r.sheet, r.field) for r in result.rejected] == [
        ("nothing.xlsx", "Blank", "(sheet)"),
        ("nothing.xlsx", "Title only", "(header)"),
    ]
    assert result.rejected[1].row == 1 and result.rejected[1].raw_value == "Lincoln volunteers 2026"

    empty_csv = tmp_path / "empty.csv"
    empty_csv.write_bytes(b"")
    result = read_table(empty_csv, SPEC, job="roster")
    assert result.tables == [] and "empty sheet" in result.rejected[0].reason

    result = read_table(("sheets:abc", []), SPEC, job="roster")
    assert result.rejected[0].source_file == "sheets:abc" and "empty" in result.rejected[0].reason


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    result = read_table(tmp_path / "nope.xlsx", SPEC, job="roster")
    assert "not found" in result.rejected[0].reason
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"this is not a zip")
    assert "not an xlsx" in read_table(bad, SPEC, job="roster").rejected[0].reason
    # A valid zip whose sheet XML is broken: refused with a message, the batch goes on.
    good = _xlsx(tmp_path / "good.xlsx", [["Name", "Email"], ["Ann Lee", "a@example.com"]])
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data[: len(data) // 2]
            dst.writestr(info.filename, data)
    (rej,) = read_table(broken, SPEC, job="roster", label="broken.xlsx").rejected
    assert rej.source_file == "broken.xlsx" and "not a readable xlsx" in rej.reason
    odd = tmp_path / "list.pdf"
    odd.write_bytes(b"%PDF")
    assert "unsupported" in read_table(odd, SPEC, job="roster").rejected[0].reason


def _zip_bomb(path: Path, uncompressed_mb: int) -> Path:
    """A structurally valid xlsx whose sheet XML expands to tens of MB of repeated rows."""
    good = tmp = path.with_suffix(".seed.xlsx")
    _xlsx(tmp, [["Name", "Email"], ["Ann Lee", "a@example.com"]])
    row = b'<row><c t="inlineStr"><is><t>Ann Lee</t></is></c><c t="inlineStr"><is><t>x@example.com</t></is></c></row>'
    repeats = uncompressed_mb * 1_000_000 // len(row) + 1
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                head, _, tail = data.partition(b"<sheetData>")
                _, _, tail = tail.partition(b"</sheetData>")
                data = head + b"<sheetData>" + row * repeats + b"</sheetData>" + tail
            dst.writestr(info.filename, data)
    return path


def test_zip_bomb_refused_fast(tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path / "bomb.xlsx", 70)
    assert bomb.stat().st_size < 1_000_000  # tiny on disk
    result = read_table(bomb, SPEC, job="roster", label="associated/bomb.xlsx")
    assert result.tables == []
    (rej,) = result.rejected
    assert rej.source_file == "associated/bomb.xlsx" and rej.field == "(file)"
    assert "zip bomb" in rej.reason and "xl/worksheets/sheet1.xml" in rej.reason


def test_declared_dimension_and_row_limits(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "d.xlsx", [["Name", "Email"], *[[f"P{i} Lee", f"p{i}@x.org"] for i in range(30)]])
    result = read_table(path, SPEC, job="roster", limits=Limits(max_rows=10))
    assert "refused" in result.rejected[0].reason and "rows" in result.rejected[0].reason
    csv_path = tmp_path / "d.csv"
    csv_path.write_text("Name,Email\n" + "".join(f"P{i} Lee,p{i}@x.org\n" for i in range(30)))
    assert "refused" in read_table(csv_path, SPEC, job="r", limits=Limits(max_rows=10)).rejected[0].reason


def test_sheets_values_several_tabs() -> None:
    values = {
        "2026-27": [
            ["Roosevelt volunteers"],
            [],
            ["First Name", "Last Name", "Email Address", "Category"],
            ["Lan", "Nguyen", "lan@example.com", "Volunteer"],
            ["", ""],
            ["Bo", "Park"],
        ],
        "Blank": [],
    }
    result = read_table(("sheets:1AbC", values), SPEC, job="roster")
    assert [(r.sheet, r.row, r.text("given_name"), r.text("email")) for r in result.rows] == [
        ("2026-27", 4, "Lan", "lan@example.com"),
        ("2026-27", 6, "Bo", ""),
    ]
    assert [(r.sheet, r.field) for r in result.skipped] == [("Blank", "(sheet)")]


def test_header_matcher_prefers_precise_fields() -> None:
    m = HeaderMatcher(SPEC)
    assert m.match("Last Name")[0] == "family_name"  # type: ignore[index]
    assert m.match("E-mail Address:")[0] == "email"  # type: ignore[index]
    assert m.match("Phone Numbr")[0] == "phone"  # type: ignore[index]  # fuzzy typo
    assert m.match("Favourite colour") is None
    assert m.map_columns(["First Name", "Last Name", "Name"]) == {
        "given_name": 0,
        "family_name": 1,
        "full_name": 2,
    }


def test_split_name_and_cell_text() -> None:
    assert split_name("García López, María") == split_name("María García López")
    assert split_name("Lee", last_first=True).family == "Lee"
    assert cell_text(5551234567.0) == "5551234567"
    assert cell_text(datetime(2026, 9, 1)) == "2026-09-01"
    assert cell_text(None) == ""


def _rewrite_sheet(path: Path, out: Path, change: Callable[[bytes], bytes]) -> Path:
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = change(data)
            dst.writestr(info.filename, data)
    return out


def test_plain_workbook_values_read_as_openpyxl_reads_them(tmp_path: Path) -> None:
    # No formula: the fast (calamine) reader takes it, and must hand over the same values openpyxl would.
    path = _xlsx(
        tmp_path / "plain.xlsx",
        [
            ["Lincoln volunteers", None, None, None, None],
            [None],
            ["Name", "Email", "Date signed", "Role", "Phone"],
            ["  Ann Lee ", "ann@example.com", datetime(2026, 9, 1), "Coach", 4085550101],
            ["Bo Park", None, datetime(2026, 9, 2, 10, 30), None, 2.5],
            ["Cy Diaz", True, None, None, None],
        ],
        merges=("A1:E1", "D4:D6"),
    )
    assert _read_xlsx_plain(path, Limits()) is not None
    fast = read_table(path, SPEC, job="t")
    assert [(r.row, dict(r.values)) for r in fast.rows] == [
        (4, {"full_name": "Ann Lee", "email": "ann@example.com", "signed": datetime(2026, 9, 1),
             "category": "Coach", "phone": 4085550101}),
        (5, {"full_name": "Bo Park", "email": None, "signed": datetime(2026, 9, 2, 10, 30), "category": "Coach",
             "phone": 2.5}),
        (6, {"full_name": "Cy Diaz", "email": True, "signed": None, "category": "Coach", "phone": None}),
    ]  # fmt: skip
    assert type(fast.rows[0].values["phone"]) is int and fast.tables[0].header_row == 3
    with_openpyxl = _read_xlsx_openpyxl(path, Limits())
    assert [(g.sheet, g.rows, sorted(g.merged)) for g in _read_xlsx_plain(path, Limits()) or []] == [
        (g.sheet, [(n, c) for n, c in g.rows if c], sorted(g.merged)) for g in with_openpyxl
    ]


def test_workbooks_the_fast_reader_leaves_to_openpyxl(tmp_path: Path) -> None:
    base = _xlsx(tmp_path / "base.xlsx", [["Name", "Email"], ["Ann Lee", "a@example.com"], ["Bo Park", "none yet"]])
    assert _read_xlsx_plain(base, Limits()) is not None
    # An error value (openpyxl writes '#N/A' text as one too): openpyxl shows '#N/A', calamine an empty cell.
    error = _rewrite_sheet(base, tmp_path / "error.xlsx", lambda d: re.sub(
        rb'(<c r="B3") t="inlineStr"><is><t>none yet</t></is>', rb'\1 t="e"><v>#N/A</v>', d))  # fmt: skip
    assert _read_xlsx_plain(error, Limits()) is None
    assert read_table(error, SPEC, job="t").rows[1].text("email") == "#N/A"
    # Formulas: read as their text and flagged (test_formulas_kept_as_text_and_flagged), so never by calamine.
    formula = _xlsx(tmp_path / "f.xlsx", [["Name", "Email"], ["=A1", "a@example.com"]])
    assert _read_xlsx_plain(formula, Limits()) is None
    # Sparse: two cells far apart would make calamine's dense grid 1,000,000 x 500 cells; openpyxl streams it.
    sparse = _rewrite_sheet(
        base,
        tmp_path / "sparse.xlsx",
        lambda d: d.replace(
            b"</sheetData>", b'<row r="1000000"><c r="SF1000000" t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
        ),
    )
    assert _read_xlsx_plain(sparse, Limits()) is None
    assert [r.text("full_name") for r in read_table(sparse, SPEC, job="t").rows] == ["Ann Lee", "Bo Park", ""]
    # A dimension that lies about the size does not get past the row limit.
    rows = [["Name", "Email"], *[[f"P{i} Lee", f"p{i}@x.org"] for i in range(30)]]
    many = _xlsx(tmp_path / "many.xlsx", rows)
    lying = _rewrite_sheet(
        many, tmp_path / "lying.xlsx", lambda d: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1:B2"', d)
    )
    (rej,) = read_table(lying, SPEC, job="t", limits=Limits(max_rows=10)).rejected
    assert "refused" in rej.reason and "rows" in rej.reason
