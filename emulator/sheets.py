"""Sheets v4: read-only spreadsheets seeded from JSON; A1 ranges; FORMATTED_VALUE strings."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator.core import Call, Context
from emulator.errors import ApiError, bad_request

if TYPE_CHECKING:
    from emulator.drive import Drive

_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")


def col_to_index(col: str) -> int:
    n = 0
    for ch in col.upper():
        n = n * 26 + (ord(ch) - 64)
    return n - 1


def index_to_col(index: int) -> str:
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(65 + rem) + out
    return out


def quote_title(title: str) -> str:
    # Sheets quotes titles with spaces or punctuation and those that read as a cell reference (e.g. "AB12")
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", title) and not re.fullmatch(r"[A-Za-z]{1,3}\d+", title):
        return title
    return "'" + title.replace("'", "''") + "'"


class Spreadsheet:
    def __init__(self, data: dict[str, Any]) -> None:
        self.id: str = data["spreadsheetId"]
        self.title: str = data.get("title", self.id)
        self.sheets: list[dict[str, Any]] = []
        for index, sheet in enumerate(data.get("sheets", [])):
            values = [[("" if c is None else str(c)) for c in row] for row in sheet.get("values", [])]
            cols = max((len(r) for r in values), default=0)
            self.sheets.append(
                {
                    "title": sheet.get("title", f"Sheet{index + 1}"),
                    "sheetId": sheet.get("sheetId", index * 1000 if index else 0),
                    "index": index,
                    "values": values,
                    "rows": max(1000, len(values)),
                    "cols": max(26, cols),
                }
            )

    def sheet(self, title: str | None) -> dict[str, Any] | None:
        if title is None:
            return self.sheets[0] if self.sheets else None
        return next((s for s in self.sheets if s["title"] == title), None)


class Sheets:
    """Spreadsheets are Drive files: each read is checked against the file's owner and permissions (``drive``)."""

    def __init__(self, ctx: Context, drive: Drive | None = None) -> None:
        self.ctx = ctx
        self.drive = drive
        self.reset()

    def reset(self) -> None:
        self.spreadsheets: dict[str, Spreadsheet] = {}

    def seed(self, spreadsheets: list[dict[str, Any]]) -> list[Spreadsheet]:
        out = []
        for data in spreadsheets:
            sheet = Spreadsheet(data)
            self.spreadsheets[sheet.id] = sheet
            out.append(sheet)
        return out

    def handlers(self) -> dict[str, Callable[[Call], Any]]:
        return {
            "sheets.spreadsheets.get": self.get,
            "sheets.spreadsheets.values.get": self.values_get,
            "sheets.spreadsheets.values.batchGet": self.values_batch_get,
        }

    def _book(self, call: Call) -> Spreadsheet:
        book = self.spreadsheets.get(call.path["spreadsheetId"])
        if book is None:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        if self.drive is not None:
            from emulator.drive import SHEETS_WIDE

            f = self.drive.files.get(book.id)
            # Sheets answers 403 PERMISSION_DENIED for a spreadsheet that exists but is not shared with the caller
            # (or, under drive.file only, was not created by / opened with the app).
            reachable = f is not None and self.drive.reaches(f, call.token, SHEETS_WIDE)
            if f is None or not reachable or self.drive.role(f, call.subject) is None:
                raise ApiError(403, "The caller does not have permission", "forbidden", status="PERMISSION_DENIED")
        return book

    def get(self, call: Call) -> dict[str, Any]:
        book = self._book(call)
        return {
            "spreadsheetId": book.id,
            "properties": {
                "title": book.title,
                "locale": "en_US",
                "autoRecalc": "ON_CHANGE",
                "timeZone": "America/Los_Angeles",
            },
            "sheets": [
                {
                    "properties": {
                        "sheetId": s["sheetId"],
                        "title": s["title"],
                        "index": s["index"],
                        "sheetType": "GRID",
                        "gridProperties": {"rowCount": s["rows"], "columnCount": s["cols"]},
                    }
                }
                for s in book.sheets
            ],
            "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.id}/edit",
        }

    def _range(self, book: Spreadsheet, a1: str, major: str) -> dict[str, Any]:
        title, _, cells = a1.rpartition("!")
        if not _:
            # a bare name is a sheet title when one matches, else a range on the first sheet
            bare = a1[1:-1].replace("''", "'") if len(a1) >= 2 and a1[0] == a1[-1] == "'" else a1
            if book.sheet(bare) is not None or bare != a1:
                title, cells = a1, ""
            else:
                title, cells = "", a1
        if title.startswith("'") and title.endswith("'") and len(title) >= 2:
            title = title[1:-1].replace("''", "'")
        sheet = book.sheet(title or None)
        if sheet is None:
            raise bad_request(f"Unable to parse range: {a1}")
        r0, c0, r1, c1 = 0, 0, sheet["rows"] - 1, sheet["cols"] - 1
        if cells:
            start, _, end = cells.partition(":")
            ms, me = _CELL.match(start), _CELL.match(end or start)
            if ms is None or me is None or not (ms.group(1) or ms.group(2)):
                raise bad_request(f"Unable to parse range: {a1}")
            if ms.group(1):
                c0 = col_to_index(ms.group(1))
            if ms.group(2):
                r0 = int(ms.group(2)) - 1
            c1 = col_to_index(me.group(1)) if me.group(1) else (c0 if not end and ms.group(1) else sheet["cols"] - 1)
            r1 = int(me.group(2)) - 1 if me.group(2) else (r0 if not end and ms.group(2) else sheet["rows"] - 1)
            if not end and ms.group(1) and ms.group(2):
                c1, r1 = c0, r0
            r1, c1 = min(r1, sheet["rows"] - 1), min(c1, sheet["cols"] - 1)
        rows = [row[c0 : c1 + 1] for row in sheet["values"][r0 : r1 + 1]]
        # Google drops trailing empty cells and rows
        rows = [list(_rstrip(r)) for r in rows]
        while rows and not rows[-1]:
            rows.pop()
        out: dict[str, Any] = {
            "range": f"{quote_title(sheet['title'])}!{index_to_col(c0)}{r0 + 1}:{index_to_col(c1)}{r1 + 1}",
            "majorDimension": major,
        }
        if major == "COLUMNS" and rows:
            width = max(len(r) for r in rows)
            cols = [[r[i] if i < len(r) else "" for r in rows] for i in range(width)]
            rows = [list(_rstrip(c)) for c in cols]
        if rows:
            out["values"] = rows
        return out

    def values_get(self, call: Call) -> dict[str, Any]:
        book = self._book(call)
        return self._range(book, call.path["range"], call.query.get("majorDimension", "ROWS"))

    def values_batch_get(self, call: Call) -> dict[str, Any]:
        book = self._book(call)
        ranges = call.query.get("ranges") or []
        major = call.query.get("majorDimension", "ROWS")
        return {"spreadsheetId": book.id, "valueRanges": [self._range(book, r, major) for r in ranges]}


def _rstrip(row: list[str]) -> list[str]:
    end = len(row)
    while end and row[end - 1] == "":
        end -= 1
    return row[:end]
