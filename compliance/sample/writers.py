"""File writers for the sample district: xlsx (normal and streaming), CSV in a chosen encoding, Sheets JSON.

Every writer takes rows as lists; a row's position in the list + 1 is its row number in the produced file
(Excel row, CSV record, Sheets values index), which is how truth files name rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXED_TIME = dt.datetime(2026, 8, 1, 8, 0, 0)


class Formula(str):
    """A cell value that is meant to be a spreadsheet formula; any other text starting with '=' stays text."""


@dataclass
class SheetSpec:
    title: str
    rows: list[list[Any]]
    merges: list[str] = field(default_factory=list)
    widths: dict[str, float] = field(default_factory=dict)


def write_xlsx(path: Path, sheets: Sequence[SheetSpec]) -> None:
    """A normal openpyxl workbook (merged cells need it); strings starting with '=' are forced to text."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.creator = "front office"
    wb.properties.created = FIXED_TIME
    for spec in sheets:
        ws = wb.create_sheet(spec.title)
        for r, row in enumerate(spec.rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is None or value == "":
                    continue
                cell = ws.cell(row=r, column=c, value=value)
                # A name like =HYPERLINK(...) typed into a list is text, not a formula: hostile but inert.
                if isinstance(value, str) and value.startswith("=") and not isinstance(value, Formula):
                    cell.data_type = "s"
                elif isinstance(value, dt.datetime | dt.date):
                    cell.number_format = "m/d/yyyy"
        for rng in spec.merges:
            ws.merge_cells(rng)
        for col, width in spec.widths.items():
            ws.column_dimensions[col].width = width
    wb.save(path)
    pin_xlsx(path)


def pin_xlsx(path: Path) -> None:
    """Make an xlsx byte-identical across runs: fixed zip entry times and a fixed 'modified' property.

    openpyxl stamps the save time into docProps/core.xml and every zip entry; the content is unchanged.
    """
    with zipfile.ZipFile(path) as zin:
        items = [(info, zin.read(info.filename)) for info in zin.infolist()]
    stamp = FIXED_TIME.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info, data in items:
            if info.filename == "docProps/core.xml":
                data = re.sub(rb"(<dcterms:modified[^>]*>)[^<]*", rb"\g<1>" + stamp, data)
            pinned = zipfile.ZipInfo(info.filename, date_time=FIXED_TIME.timetuple()[:6])
            pinned.compress_type = zipfile.ZIP_DEFLATED
            pinned.external_attr = info.external_attr
            zout.writestr(pinned, data)
    path.write_bytes(buf.getvalue())


def write_xlsx_stream(path: Path, title: str, rows: Iterable[list[Any]]) -> None:
    """Large lists: openpyxl write_only mode keeps memory flat."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    wb.properties.created = FIXED_TIME
    ws = wb.create_sheet(title)
    for row in rows:
        out: list[Any] = []
        for value in row:
            if isinstance(value, str) and value.startswith("=") and not isinstance(value, Formula):
                cell = WriteOnlyCell(ws, value=value)
                cell.data_type = "s"
                out.append(cell)
            else:
                out.append(None if value == "" else value)
        ws.append(out)
    wb.save(path)
    pin_xlsx(path)


def write_csv(path: Path, rows: Iterable[Sequence[Any]], encoding: str = "utf-8") -> None:
    """CSV the way Excel saves it (CRLF); encoding cp1252 is what 'CSV (Comma delimited)' gives on Windows."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        for row in rows:
            writer.writerow(["" if v is None else _text(v) for v in row])


def _text(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return f"{value.month}/{value.day}/{value.year} {value:%H:%M}"
    if isinstance(value, dt.date):
        return f"{value.month}/{value.day}/{value.year}"
    return str(value)


def sheets_values(rows: Sequence[Sequence[Any]]) -> list[list[str]]:
    """Values as the Sheets API gives them (FORMATTED_VALUE): strings; trailing empty cells, rows dropped."""
    out: list[list[str]] = []
    for row in rows:
        cells = ["" if v is None else _text(v) for v in row]
        while cells and cells[-1] == "":
            cells.pop()
        out.append(cells)
    while out and not out[-1]:
        out.pop()
    return out


def write_sheet_json(
    path: Path,
    spreadsheet_id: str,
    title: str,
    sheets: Sequence[SheetSpec],
    *,
    owner: str | None = None,
    readers: Sequence[str] = (),
) -> None:
    """A Google Sheet as the emulator seeds it: values, plus the Drive owner and who it is shared with.

    A school's sheet belongs to the school (``owner``) and, in a correctly set-up deployment, is shared
    read-only with the admin subject the pipeline acts as (``readers``); nobody else can read it.
    """
    doc: dict[str, Any] = {
        "spreadsheetId": spreadsheet_id,
        "title": title,
        "sheets": [{"title": s.title, "values": sheets_values(s.rows)} for s in sheets],
    }
    if owner:
        doc["owner"] = owner
    if readers:
        doc["permissions"] = [{"type": "user", "role": "reader", "emailAddress": r} for r in readers]
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")


def write_json(path: Path, data: Any, indent: int | None = 1) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # json.dumps (not dump) so that compact output goes through the C encoder: much faster for large files.
    path.write_text(json.dumps(data, ensure_ascii=False, indent=indent) + "\n", encoding="utf-8")
