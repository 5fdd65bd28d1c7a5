"""Messy spreadsheets in, rows with a detected header out: xlsx, csv (any common encoding) and Google Sheets
values.

School offices keep their lists the way they like: a title row or two above the header (often merged across
the columns), headers in their own words, "Last, First" in one column or first and last names apart, a CSV
saved from Excel in Windows-1252, a formula here and there. This module turns each sheet into a :class:`Table`
whose rows are keyed by *canonical* field names the caller defines (a :data:`FieldSpec`), and every row
remembers its source, sheet and the 1-based row number a person sees in Excel, so a rejected value can be
found and fixed.

Safety:

* xlsx files are zip archives: before openpyxl opens one, the declared uncompressed size of every member and
  of the whole archive is checked against :class:`Limits` (a zip bomb is refused in milliseconds), then the
  sheet's declared dimension, then the rows actually read (a lying dimension does not help).
* Nothing is ever evaluated. A formula cell is read as its formula text (not Excel's cached result: a computed
  value is not a fact somebody typed), and any text starting with ``= + - @`` is kept as text and flagged in
  :attr:`SourceRow.formula_fields`, so writers of Excel reports know to escape it.
* An empty sheet, or one without a recognisable header, becomes a :class:`~compliance.quarantine.Rejected`
  entry naming the file and sheet, never an exception that stops the batch.
"""

from __future__ import annotations

import csv
import io
import os
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from compliance.quarantine import Rejected

# A cell as the readers hand it over: stripped text, a number, a bool, or a date from a typed Excel cell.
CellValue = str | int | float | bool | date | datetime | None
# Google Sheets values as the API returns them: one sheet (list of rows) or several, by sheet title.
SheetValues = Sequence[Sequence[Any]] | Mapping[str, Sequence[Sequence[Any]]]


@dataclass(frozen=True, slots=True)
class SheetRefused:
    """A Google Sheet the pipeline may not read (not shared with the admin subject, deleted): read as unreadable,
    so the source is held and its people keep their state, instead of one school's sharing stopping the night."""

    reason: str


# What a reader accepts: a path to an xlsx/csv file, or ("sheets:<spreadsheetId>", values or why none).
Source = str | os.PathLike[str] | tuple[str, SheetValues | SheetRefused]
# Canonical field name -> the words people use for it in a header.
FieldSpec = Mapping[str, Sequence[str]]

FORMULA_PREFIXES = ("=", "+", "-", "@")
SHEETS_PREFIX = "sheets:"
_FUZZY_CUTOFF = 88.0


class TabularError(Exception):
    """A whole source could not be read (missing, refused by a safety limit, not a spreadsheet)."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Safety limits for reading untrusted spreadsheets; generous for real school lists, fatal for bombs."""

    max_file_bytes: int = 50_000_000
    max_member_bytes: int = 60_000_000  # one uncompressed zip member (a sheet's XML)
    max_total_uncompressed_bytes: int = 200_000_000
    max_rows: int = 1_100_000
    max_columns: int = 500
    header_search_rows: int = 30


@dataclass(frozen=True, slots=True)
class SourceRow:
    """One data row below the header; ``row`` is the 1-based row number shown in Excel (or Sheets)."""

    source: str
    sheet: str
    row: int
    values: Mapping[str, CellValue]
    formula_fields: frozenset[str] = frozenset()
    extra: Mapping[str, CellValue] = field(default_factory=dict)  # unmapped columns, by header text

    def text(self, name: str) -> str:
        """The field as text ('' when missing); dates as ISO, whole floats without '.0'."""
        return cell_text(self.values.get(name))

    def has(self, name: str) -> bool:
        return name in self.values


@dataclass(slots=True)
class Table:
    """One sheet after header detection."""

    source: str
    sheet: str
    header_row: int
    headers: list[str]
    columns: dict[str, int]  # canonical field -> 0-based column index
    rows: list[SourceRow]


@dataclass(slots=True)
class ReadResult:
    """Tables that could be read plus what was refused (whole sheets or files), ready for quarantine."""

    tables: list[Table] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    # Sheets passed over in a workbook that has data elsewhere (an "Instructions" tab, an empty Sheet2):
    # reported for logs and counts, not quarantined, because nothing in them was meant to be a record.
    skipped: list[Rejected] = field(default_factory=list)

    @property
    def rows(self) -> list[SourceRow]:
        return [r for t in self.tables for r in t.rows]


# ------------------------------------------------------------------------------------------------------------
# Text helpers


@lru_cache(maxsize=8192)
def normalize_header(text: str) -> str:
    """Casefold, strip accents, turn punctuation into spaces: 'E-mail Address:' -> 'e mail address'."""
    text = unicodedata.normalize("NFKD", str(text))
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[^0-9a-z]+", " ", text)
    return " ".join(text.split())


def _compact(text: str) -> str:
    return text.replace(" ", "")


def cell_text(value: CellValue) -> str:
    """A cell as text: '' for empty, ISO for dates, '5551234567' rather than '5551234567.0'."""
    if value is None:
        return ""
    if type(value) is str:  # most cells: checked first, this runs for every cell of a 370,000-row nightly
        return value.strip()
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def looks_like_formula(value: CellValue) -> bool:
    """True for text that a spreadsheet would run as a formula (or DDE) if written back unescaped."""
    return isinstance(value, str) and value.lstrip().startswith(FORMULA_PREFIXES)


class HeaderMatcher:
    """Maps header text to canonical fields: exact synonym, then fuzzy (rapidfuzz) above a high cutoff."""

    def __init__(self, spec: FieldSpec, cutoff: float = _FUZZY_CUTOFF) -> None:
        self.cutoff = cutoff
        self._exact: dict[str, str] = {}
        choices: dict[str, str] = {}
        for name, words in spec.items():
            for word in (name.replace("_", " "), *words):
                norm = normalize_header(word)
                if norm:
                    self._exact.setdefault(_compact(norm), name)
                    choices.setdefault(norm, name)
        self._choices = choices
        self._choice_list = list(choices)
        # Containment candidates by one of their words (the first), in the order of ``choices``.
        self._by_word: dict[str, list[tuple[int, tuple[str, ...], str]]] = {}
        for i, (choice, name) in enumerate(choices.items()):
            words = tuple(choice.split())
            self._by_word.setdefault(words[0], []).append((i, words, name))
        # Header detection scores the first rows of every sheet, data rows included; their cells ("Y", a
        # date, "website; yearbook") repeat from file to file, so each text is matched once per matcher.
        self._memo: dict[str, tuple[str, float] | None] = {}

    def match(self, header: str) -> tuple[str, float] | None:
        """Best canonical field for one header and its score (100 for an exact synonym), or None."""
        if header in self._memo:
            return self._memo[header]
        found = self._match(header)
        if len(self._memo) < 200_000:
            self._memo[header] = found
        return found

    def _match(self, header: str) -> tuple[str, float] | None:
        norm = normalize_header(header)
        if not norm:
            return None
        exact = self._exact.get(_compact(norm))
        if exact:
            return exact, 100.0
        # ratio, not WRatio: partial matching would read "Last Name" as "Name".
        best = process.extractOne(norm, self._choice_list, scorer=fuzz.ratio, score_cutoff=self.cutoff)
        if best is not None:
            return self._choices[best[0]], float(best[1])
        # Containment: "Date signed (mm/dd/yyyy)" holds every word of "date signed". Scored below any exact or
        # fuzzy match and by how much of the header the synonym explains, so "Student last name" prefers "last
        # name" over "name". Only synonyms whose first word is in the header can be contained in it; they are
        # tried in synonym order so ties go as they always did.
        tokens = set(norm.split())
        found: tuple[str, float] | None = None
        candidates = sorted(c for t in tokens for c in self._by_word.get(t, ()))
        for _, words, name in candidates:
            if set(words) <= tokens:
                score = 80.0 + 10.0 * len(words) / len(tokens)
                if found is None or score > found[1]:
                    found = (name, score)
        return found

    def map_columns(self, headers: Sequence[str]) -> dict[str, int]:
        """Canonical field -> column; a column serves one field, a field its best column (ties: leftmost)."""
        scored: list[tuple[float, int, str]] = []
        for col, header in enumerate(headers):
            found = self.match(header)
            if found:
                scored.append((found[1], col, found[0]))
        columns: dict[str, int] = {}
        used: set[int] = set()
        for score, col, name in sorted(scored, key=lambda t: (-t[0], t[1])):
            del score
            if name not in columns and col not in used:
                columns[name] = col
                used.add(col)
        return columns

    def score_row(self, cells: Sequence[CellValue]) -> int:
        """How many distinct fields a row's cells name: the header is the best-scoring row near the top."""
        texts = [cell_text(c) for c in cells]
        if sum(1 for t in texts if t) < 2:
            return 0  # a title row (one merged cell) is never the header
        return len(self.map_columns([t if isinstance(c, str) else "" for t, c in zip(texts, cells, strict=True)]))


_MATCHERS: dict[int, tuple[FieldSpec, HeaderMatcher]] = {}


def _matcher(spec: FieldSpec) -> HeaderMatcher:
    """One matcher per field spec for the process: a nightly reads a thousand sheets with the same spec."""
    held = _MATCHERS.get(id(spec))
    if held is None or held[0] is not spec:
        held = _MATCHERS[id(spec)] = (spec, HeaderMatcher(spec))
    return held[1]


# ------------------------------------------------------------------------------------------------------------
# Raw grids: (excel_row_number, cells) per sheet, plus merged ranges


@dataclass(slots=True)
class _Grid:
    sheet: str
    rows: list[tuple[int, list[CellValue]]]
    merged: list[tuple[int, int, int, int]] = field(default_factory=list)  # min_row, min_col, max_row, max_col
    formula_cells: set[tuple[int, int]] = field(default_factory=set)  # (excel row, 0-based col)


def sheet_refused_reason(admin_subject: str | None, status: int) -> str:
    """What to do when Google refuses the admin subject a school's sheet (403) or hides it (404)."""
    who = admin_subject or "the admin subject (google.admin_subject)"
    return (
        f"Google refused to read this sheet ({status}): share it with {who} as Viewer "
        "(Drive: Share > add the address > Viewer); `district-compliance preflight` checks every configured sheet"
    )


def source_label(source: Source) -> str:
    """The name rows and quarantine entries carry for a source: 'sheets:<id>' or the path as given."""
    if isinstance(source, tuple):
        return source[0]
    return os.fspath(source)


def _check_zip(path: Path, limits: Limits) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            total = 0
            for info in zf.infolist():
                if info.file_size > limits.max_member_bytes:
                    raise TabularError(
                        f"{path}: refused: zip member {info.filename} would expand to "
                        f"{info.file_size:,} bytes "
                        f"(limit {limits.max_member_bytes:,}); possible zip bomb"
                    )
                total += info.file_size
            if total > limits.max_total_uncompressed_bytes:
                raise TabularError(
                    f"{path}: refused: workbook would expand to {total:,} bytes "
                    f"(limit {limits.max_total_uncompressed_bytes:,}); possible zip bomb"
                )
    except zipfile.BadZipFile as exc:
        raise TabularError(f"{path}: not an xlsx workbook (bad zip: {exc})") from exc


def _read_xlsx(path: Path, limits: Limits) -> list[_Grid]:
    _check_zip(path, limits)
    # Most school workbooks are plain values: calamine (Rust) reads them ~10x faster than openpyxl. Anything it
    # cannot render exactly as openpyxl would (formulas, error cells, a lying or oversized extent, a sparse sheet
    # calamine would expand into a dense grid) goes the openpyxl way, which also produces every refusal.
    grids = _read_xlsx_plain(path, limits)
    return grids if grids is not None else _read_xlsx_openpyxl(path, limits)


# In a sheet's XML: a formula, an error value, or a namespace-prefixed cell, row or formula (then the plain scan
# below cannot vouch for the sheet). Plain byte searches: a regex alternation costs more than calamine's parse.
_NOT_PLAIN_BYTES = (b"<f>", b"<f ", b"<f/", b't="e"', b":sheetData")
_PREFIXED = re.compile(rb":(?:c|row|f|v|is)[ >/]")
_CELL_REF = re.compile(rb'<c r="([A-Z]{1,3})[0-9]+"')
_ROW_REF = re.compile(rb'<row r="([0-9]{1,9})"')
_DIMENSION = re.compile(rb'<dimension ref="([A-Z]{1,3})?([0-9]+)?(?::([A-Z]{1,3})([0-9]+))?"')
_DENSE_CELLS = 2_000_000  # a grid this big (rows x columns) is fine in memory whatever its fill


def _column_number(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n


def _rel_targets(data: bytes) -> list[tuple[str, str]]:
    """(relationship kind, target) of a package .rels part, e.g. ("worksheet", "worksheets/sheet1.xml")."""
    from defusedxml.ElementTree import fromstring

    return [
        (str(rel.get("Type", "")).rsplit("/", 1)[-1], str(rel.get("Target", "")))
        for rel in fromstring(data)
        if str(rel.tag).endswith("Relationship")
    ]


def _resolve(base: str, target: str) -> str:
    import posixpath

    return target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))


def _plain_sheet_xml(zf: zipfile.ZipFile) -> list[bytes] | None:
    """The XML of every worksheet part the workbook names, or None when the package is not laid out plainly."""
    import posixpath

    names = set(zf.namelist())
    if "_rels/.rels" not in names:
        return None
    books = [_resolve("", t) for k, t in _rel_targets(zf.read("_rels/.rels")) if k == "officeDocument"]
    if len(books) != 1:
        return None
    folder, name = posixpath.split(books[0])
    rels = posixpath.join(folder, "_rels", name + ".rels")
    if rels not in names:
        return None
    sheets = [_resolve(folder, t) for k, t in _rel_targets(zf.read(rels)) if k == "worksheet"]
    if any(s not in names for s in sheets):
        return None
    return [zf.read(s) for s in sheets]  # sizes already checked by _check_zip


def _plain_extent(xml: bytes, limits: Limits) -> bool:
    """Whether a worksheet's XML is plain values within the limits, every cell and row placed by reference,
    and small or dense enough for calamine's in-memory grid."""
    if any(marker in xml for marker in _NOT_PLAIN_BYTES) or _PREFIXED.search(xml):
        return False
    refs = _CELL_REF.findall(xml)
    rows = _ROW_REF.findall(xml)
    cells = xml.count(b"<c ") + xml.count(b"<c>") + xml.count(b"<c/")
    if len(refs) != cells or len(rows) != xml.count(b"<row ") + xml.count(b"<row>") + xml.count(b"<row/"):
        return False  # cells or rows placed by position: let openpyxl count them
    dim = _DIMENSION.search(xml)
    if dim is not None:
        last_col, last_row = (dim.group(3), dim.group(4)) if dim.group(3) else (dim.group(1), dim.group(2))
        if (last_row and int(last_row) > limits.max_rows) or (
            last_col and _column_number(last_col) > limits.max_columns
        ):
            return False  # openpyxl refuses it with the declared size
    max_row = max(map(int, rows), default=0)
    max_col = max((_column_number(c) for c in set(refs)), default=0)
    if max_row > limits.max_rows or max_col > limits.max_columns:
        return False
    return max_row * max_col <= max(_DENSE_CELLS, 4 * len(refs))


def _plain_value(value: Any) -> CellValue:
    # Rendered as openpyxl renders the same cell: whole numbers as int, a date cell as a datetime.
    if type(value) is str:
        value = value.strip()
        return value or None
    if type(value) is float:
        return int(value) if value.is_integer() else value
    if type(value) is date:
        return datetime(value.year, value.month, value.day)
    return _clean(value)


def _read_xlsx_plain(path: Path, limits: Limits) -> list[_Grid] | None:
    """Every worksheet through python-calamine, or None when the workbook needs openpyxl (see _read_xlsx)."""
    try:
        with zipfile.ZipFile(path) as zf:
            sheets_xml = _plain_sheet_xml(zf)
            if sheets_xml is None or not all(_plain_extent(x, limits) for x in sheets_xml):
                return None
        from python_calamine import CalamineWorkbook, SheetTypeEnum

        wb = CalamineWorkbook.from_path(str(path))
    except Exception:  # anything odd about the package: openpyxl reads it or says why it cannot
        return None
    try:
        meta = wb.sheets_metadata
        worksheets = [m.name for m in meta if m.typ == SheetTypeEnum.WorkSheet]
        if len(worksheets) != len(sheets_xml) or any(
            m.typ not in (SheetTypeEnum.WorkSheet, SheetTypeEnum.ChartSheet) for m in meta
        ):
            return None
        grids: list[_Grid] = []
        for title in worksheets:
            sheet = wb.get_sheet_by_name(title)
            grid = _Grid(sheet=title, rows=[])
            for row_no, cells in enumerate(sheet.to_python(skip_empty_area=False), start=1):
                values = [_plain_value(v) for v in cells]
                while values and values[-1] is None:
                    values.pop()
                if values:
                    grid.rows.append((row_no, values))
            for (min_row, min_col), (max_row, max_col) in sheet.merged_cell_ranges or ():
                grid.merged.append((min_row + 1, min_col, max_row + 1, max_col))
            grids.append(grid)
    except Exception:
        return None
    finally:
        wb.close()
    return grids


def _read_xlsx_openpyxl(path: Path, limits: Limits) -> list[_Grid]:
    # openpyxl's private sheet parser is used so one streaming pass yields values, formulas and merged ranges,
    # which the public read-only worksheet does not expose together.
    from openpyxl import load_workbook
    from openpyxl.utils.cell import range_boundaries
    from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

    class _Parser(WorkSheetParser):  # type: ignore[misc]
        def parse_cell(self, element: Any) -> dict[str, Any]:
            cell: dict[str, Any] = super().parse_cell(element)
            formula = element.find(FORMULA_TAG)
            if formula is not None:
                cell["value"] = "=" + (formula.text or "")
                cell["formula"] = True
            return cell

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for corrupt files; all mean "cannot read this"
        raise TabularError(f"{path}: not a readable xlsx workbook ({type(exc).__name__}: {exc})") from exc
    grids: list[_Grid] = []
    try:
        for ws in wb.worksheets:
            if not hasattr(ws, "_get_source"):
                continue  # chartsheets
            max_row, max_col = ws.max_row or 0, ws.max_column or 0
            if max_row > limits.max_rows or max_col > limits.max_columns:
                raise TabularError(
                    f"{path} [{ws.title}]: refused: sheet declares {max_row:,} rows x {max_col:,} columns "
                    f"(limit {limits.max_rows:,} x {limits.max_columns:,})"
                )
            grid = _Grid(sheet=ws.title, rows=[])
            with ws._get_source() as src:
                parser = _Parser(
                    src,
                    wb.shared_strings,
                    data_only=True,
                    epoch=wb.epoch,
                    date_formats=wb._date_formats,
                    timedelta_formats=wb._timedelta_formats,
                )
                for row_no, cells in parser.parse():
                    if row_no > limits.max_rows:
                        raise TabularError(f"{path} [{ws.title}]: refused: more than {limits.max_rows:,} rows")
                    values: list[CellValue] = []
                    for cell in cells:
                        col = cell["column"]
                        if col > limits.max_columns:
                            raise TabularError(f"{path} [{ws.title}]: refused: more than {limits.max_columns} columns")
                        while len(values) < col:
                            values.append(None)
                        values[col - 1] = _clean(cell["value"])
                        if cell.get("formula"):
                            grid.formula_cells.add((row_no, col - 1))
                    grid.rows.append((row_no, values))
                if parser.merged_cells is not None:
                    for mc in parser.merged_cells.mergeCell:
                        min_col, min_row, max_col_m, max_row_m = range_boundaries(mc.ref)
                        grid.merged.append((min_row, min_col - 1, max_row_m, max_col_m - 1))
            grids.append(grid)
    finally:
        wb.close()
    return grids


_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xfe\x00\x00", "utf-32-le"),  # before UTF-16 LE: its BOM starts the same way
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


def _utf16_without_bom(data: bytes) -> str | None:
    # Text saved as UTF-16 without a byte-order mark ("Unicode text" from some exports) is mostly ASCII, so
    # every other byte is NUL; which half tells the byte order. Real CSV text in any 8-bit encoding has none.
    sample = data[:4096]
    if len(sample) < 4:
        return None
    even, odd = sample[0::2], sample[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / len(odd)
    if odd_nul >= 0.3 and even_nul < 0.05:
        return "utf-16-le"
    if even_nul >= 0.3 and odd_nul < 0.05:
        return "utf-16-be"
    return None


def decode_bytes(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes; returns (text, encoding). Raises TabularError for bytes that are not text.

    Order: a BOM (UTF-8, UTF-16, UTF-32) wins; then UTF-16 without a BOM, told by its NUL bytes; then strict
    UTF-8; then strict Windows-1252 (what Excel on Windows saves as "CSV" in a California office, and it covers
    Spanish accents); then charset-normalizer's best guess; latin-1 last, which cannot fail. Text that
    declares UTF-16 but is not, or still holds NUL characters once decoded (a binary file, a broken export),
    is refused with that reason rather than quarantined row by row as "control character".
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    for bom, bom_encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(bom_encoding)
            except UnicodeDecodeError as exc:
                raise TabularError(
                    f"starts with a {bom_encoding.upper()} byte-order mark but is not valid {bom_encoding.upper()} "
                    f"(byte {exc.start + len(bom):,}: {exc.reason})"
                ) from None
            return _no_nul(text, bom_encoding), "utf-16" if bom_encoding.startswith("utf-16") else bom_encoding
    guessed = _utf16_without_bom(data)
    if guessed:
        try:
            return _no_nul(data.decode(guessed), guessed), guessed
        except UnicodeDecodeError as exc:
            raise TabularError(
                f"looks like {guessed.upper()} without a byte-order mark but is not valid {guessed.upper()} "
                f"(byte {exc.start:,}: {exc.reason}); save it again as CSV UTF-8"
            ) from None
    for encoding in ("utf-8", "cp1252"):
        try:
            return _no_nul(data.decode(encoding), encoding), encoding
        except UnicodeDecodeError:
            pass
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None and best.encoding:
            return _no_nul(str(best), best.encoding), best.encoding
    except ImportError:  # pragma: no cover - charset-normalizer ships with requests
        pass
    return _no_nul(data.decode("latin-1"), "latin-1"), "latin-1"


def _no_nul(text: str, encoding: str) -> str:
    if "\x00" in text:
        where = text.index("\x00")
        raise TabularError(
            f"holds NUL characters (first at character {where:,} as {encoding}): not a text CSV "
            "(a binary file, or UTF-16/UTF-32 saved without a byte-order mark); save it again as CSV UTF-8"
        )
    return text


def _read_csv(path: Path, limits: Limits) -> list[_Grid]:
    size = path.stat().st_size
    if size > limits.max_file_bytes:
        raise TabularError(f"{path}: refused: {size:,} bytes (limit {limits.max_file_bytes:,})")
    try:
        text, _encoding = decode_bytes(path.read_bytes())
    except TabularError as exc:
        raise TabularError(f"{path}: refused: {exc}") from None
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    rows: list[tuple[int, list[CellValue]]] = []
    # Row numbers count records, not physical lines: a quoted multi-line cell is still one row in Excel.
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    number = 0
    try:
        for number, record in enumerate(reader, start=1):
            if number > limits.max_rows:
                raise TabularError(f"{path}: refused: more than {limits.max_rows:,} rows")
            if len(record) > limits.max_columns:
                raise TabularError(f"{path} row {number}: refused: more than {limits.max_columns} columns")
            rows.append((number, [v.strip() or None for v in record]))  # csv gives text only: _clean inlined
    except csv.Error as exc:
        # The csv module cannot resume after a malformed record (a field over its 128 KB limit, a NUL, an
        # unclosed quote at the end): the file is refused as a whole, naming where the reader stopped.
        raise TabularError(
            f"{path} row {number + 1} (line {reader.line_num}): refused: not a readable CSV ({exc})"
        ) from None
    return [_Grid(sheet="", rows=rows)]


def _read_values(values: SheetValues, limits: Limits) -> list[_Grid]:
    sheets: Iterable[tuple[str, Sequence[Sequence[Any]]]]
    sheets = values.items() if isinstance(values, Mapping) else [("", values)]
    grids = []
    for title, rows in sheets:
        if len(rows) > limits.max_rows:
            raise TabularError(f"sheet {title!r}: refused: more than {limits.max_rows:,} rows")
        grid_rows = [(i, [_clean(v) for v in (row or [])][: limits.max_columns]) for i, row in enumerate(rows, 1)]
        grids.append(_Grid(sheet=str(title), rows=grid_rows))
    return grids


def _clean(value: Any) -> CellValue:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    if value is None or isinstance(value, int | float | bool | date | datetime):
        return value
    return str(value)


def sheets_source(spreadsheet: Mapping[str, Any]) -> tuple[str, dict[str, list[list[Any]]]]:
    """A spreadsheet as ``{"spreadsheetId", "sheets": [{"title", "values"}]}`` (the sample's sheets/*.json, or
    what the client layer assembles from values.batchGet) -> a ``("sheets:<id>", values)`` source."""
    values = {str(sh.get("title", "")): list(sh.get("values") or []) for sh in spreadsheet.get("sheets", [])}
    return f"{SHEETS_PREFIX}{spreadsheet['spreadsheetId']}", values


def _read_grids(source: Source, limits: Limits | None = None) -> list[_Grid]:
    """Every sheet of a source as raw rows; raises TabularError when the whole source is unreadable."""
    limits = limits or Limits()
    if isinstance(source, tuple):
        label, values = source
        if not str(label).startswith(SHEETS_PREFIX):
            raise TabularError(f"{label}: values must come with a 'sheets:<id>' label")
        if isinstance(values, SheetRefused):
            raise TabularError(f"{label}: {values.reason}")
        try:
            return _read_values(values, limits)
        except TabularError:
            raise
        except Exception as exc:  # values of an unexpected shape: this sheet is unreadable, the batch goes on
            raise TabularError(f"{label}: not readable sheet values ({type(exc).__name__}: {exc})") from exc
    path = Path(source)
    if not path.is_file():
        raise TabularError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        try:
            return _read_xlsx(path, limits)
        except TabularError:
            raise
        except Exception as exc:  # any parser failure inside an untrusted workbook means: unreadable
            raise TabularError(f"{path}: not a readable xlsx workbook ({type(exc).__name__}: {exc})") from exc
    if suffix in (".csv", ".txt", ".tsv"):
        try:
            return _read_csv(path, limits)
        except TabularError:
            raise
        except Exception as exc:  # an unreadable file (permissions, I/O) stops this source, never the batch
            raise TabularError(f"{path}: not a readable CSV file ({type(exc).__name__}: {exc})") from exc
    raise TabularError(f"{path}: unsupported file type {suffix!r} (expected .xlsx or .csv)")


# ------------------------------------------------------------------------------------------------------------
# Header detection and rows


def _fill_merged(grid: _Grid, header_row: int) -> dict[int, list[CellValue]]:
    # Merged ranges below the header repeat their top-left value (a "Category" merged down a group of people
    # applies to each of them); in and above the header only the top-left cell counts (titles, banners).
    if not any(min_row > header_row for min_row, _, _, _ in grid.merged):
        return dict(grid.rows)  # nothing to fill: the rows need no copy
    by_row = {n: list(cells) for n, cells in grid.rows}
    for min_row, min_col, max_row, max_col in grid.merged:
        if min_row <= header_row:
            continue
        top = by_row.get(min_row, [])
        value = top[min_col] if min_col < len(top) else None
        if value is None:
            continue
        for r in range(min_row, max_row + 1):
            cells = by_row.setdefault(r, [])
            while len(cells) <= max_col:
                cells.append(None)
            for c in range(min_col, max_col + 1):
                if cells[c] is None:
                    cells[c] = value
                    if (min_row, min_col) in grid.formula_cells:
                        grid.formula_cells.add((r, c))
    return by_row


def _sub_header(grid: _Grid, header_row: int, matcher: HeaderMatcher) -> list[str] | None:
    """The row right under the header when it is a second header row: 2+ cells, every one a field name."""
    cells = dict(grid.rows).get(header_row + 1)
    if not cells:
        return None
    texts = [cell_text(c) if isinstance(c, str) else "" for c in cells]
    filled = [t for t in texts if t]
    if len(filled) < 2 or len(filled) != sum(1 for c in cells if c is not None):
        return None
    if all(matcher.match(t) for t in filled):
        return texts
    return None


def _table_from_grid(
    grid: _Grid, label: str, matcher: HeaderMatcher, limits: Limits, job: str, min_fields: int
) -> Table | Rejected:
    nonempty = [(n, cells) for n, cells in grid.rows if cells.count(None) != len(cells)]
    if not nonempty:
        return Rejected(job, label, 0, "(sheet)", "empty sheet: no rows with data", sheet=grid.sheet)
    best_row, best_score = 0, 0
    for n, cells in nonempty[: limits.header_search_rows]:
        # A row names at most one field per text cell: one with no more text cells than the best row so far
        # cannot beat it (ties go to the first), so the data rows below a header are not matched cell by cell.
        if sum(1 for c in cells if isinstance(c, str) and c.strip()) <= best_score:
            continue
        score = matcher.score_row(cells)
        if score > best_score:
            best_row, best_score = n, score
    if best_score < min_fields:
        first = nonempty[0]
        return Rejected(
            job,
            label,
            first[0],
            "(header)",
            f"no header row found in the first {limits.header_search_rows} rows "
            f"(needs at least {min_fields} recognised column names)",
            raw_value=" | ".join(cell_text(c) for c in first[1])[:500],
            sheet=grid.sheet,
        )
    headers = [cell_text(c) for c in dict(grid.rows)[best_row]]
    sub = _sub_header(grid, best_row, matcher)
    if sub is not None:
        # A two-row header ("Purposes" merged over "Website | Social | ..."): the lower row names its columns.
        headers += [""] * (len(sub) - len(headers))
        headers = [s or h for h, s in zip(headers, sub + [""] * (len(headers) - len(sub)), strict=True)]
        best_row += 1
    by_row = _fill_merged(grid, best_row)
    columns = matcher.map_columns(headers)
    mapped_cols = set(columns.values())
    rows: list[SourceRow] = []
    # Per-row work is the cost of a 370,000-row nightly: the column lists are prepared once per table.
    mapped = list(columns.items())
    formula_cells = grid.formula_cells
    width = max((len(cells) for cells in by_row.values()), default=0)
    unmapped = [
        (c, headers[c] if c < len(headers) and headers[c] else f"column {c + 1}")
        for c in range(width)
        if c not in mapped_cols
    ]
    no_flags: frozenset[str] = frozenset()
    names = [name for name, _ in mapped]
    cols = [col for _, col in mapped]
    # A full-width row takes its mapped cells in one C call; a short row pads the missing ones with None.
    pick = itemgetter(*cols) if len(cols) > 1 else None
    needed = max(cols, default=-1) + 1
    for n in sorted(by_row):
        if n <= best_row:
            continue
        cells = by_row[n]
        if cells.count(None) == len(cells):  # an empty row (count runs in C; this is per row)
            continue
        size = len(cells)
        if pick is not None and size >= needed:
            values: dict[str, CellValue] = dict(zip(names, pick(cells), strict=True))
        else:
            values = {name: cells[col] if col < size else None for name, col in mapped}
        flagged: set[str] | None = None
        # Cells come stripped (see _clean), so a formula shows in the first character.
        for name, value in values.items():
            if type(value) is str and value[:1] in FORMULA_PREFIXES:
                flagged = flagged or set()
                flagged.add(name)
        if formula_cells:
            for name, col in mapped:
                if (n, col) in formula_cells:
                    flagged = flagged or set()
                    flagged.add(name)
        extra = {head: cells[c] for c, head in unmapped if c < size and cells[c] is not None} if unmapped else {}
        rows.append(SourceRow(label, grid.sheet, n, values, frozenset(flagged) if flagged else no_flags, extra))
    return Table(label, grid.sheet, best_row, headers, columns, rows)


def read_table(
    source: Source,
    spec: FieldSpec,
    *,
    job: str,
    label: str | None = None,
    limits: Limits | None = None,
    min_fields: int = 2,
) -> ReadResult:
    """Read every sheet of ``source`` into tables keyed by the canonical fields of ``spec``.

    ``label`` is the name rows and quarantine entries carry (default: the path as given, or 'sheets:<id>').
    A source that cannot be read (missing, zip bomb, corrupt) comes back as one ``rejected`` entry; so do its
    empty or header-less sheets when no sheet of the source has a header. When another sheet has one, those
    sheets go to ``skipped`` instead. The call does not raise for bad input.
    """
    limits = limits or Limits()
    label = label or source_label(source)
    result = ReadResult()
    try:
        grids = _read_grids(source, limits)
    except TabularError as exc:
        result.rejected.append(Rejected(job, label, 0, "(file)", str(exc)))
        return result
    matcher = _matcher(spec)
    passed_over: list[Rejected] = []
    for grid in grids:
        table = _table_from_grid(grid, label, matcher, limits, job, min_fields)
        if isinstance(table, Rejected):
            passed_over.append(table)
        else:
            result.tables.append(table)
    if result.tables:
        result.skipped.extend(passed_over)
    else:
        result.rejected.extend(passed_over)
    if not grids:
        result.rejected.append(Rejected(job, label, 0, "(file)", "workbook has no worksheets"))
    return result


# ------------------------------------------------------------------------------------------------------------
# Names


@dataclass(frozen=True, slots=True)
class SplitName:
    given: str
    family: str


_INITIAL = re.compile(r"^[A-Za-z]\.?$")


def split_name(
    text: str, *, last_first: bool | None = None, is_given: Callable[[str], bool] | None = None
) -> SplitName:
    """Split a one-column name into given and family name.

    'Garcia Lopez, Maria' (or ``last_first=True``) -> given 'Maria', family 'Garcia Lopez'. Without a comma
    the first word is the given name and the rest the family name ('Maria Garcia Lopez'), except that a middle
    initial stays with the given name ('Seth J. Smith') and so does a second word that ``is_given`` says is a
    given name and not a surname ('Luis Miguel Grijalva', 'María José Valles Solís').
    """
    text = " ".join(text.split())
    # A comma means "Last, First" only when it is the one comma outside quotes and brackets: a cell holding
    # =HYPERLINK("a","b") text must not be cut at a comma that belongs to something else.
    bare = re.sub(r'"[^"]*"|\([^)]*\)', "", text)
    if bare.count(",") == 1 and not looks_like_formula(text):
        family, _, given = text.partition(",")
        return SplitName(given.strip(), family.strip())
    parts = text.split(" ")
    if len(parts) == 1:
        return SplitName(parts[0], "") if not last_first else SplitName("", parts[0])
    if last_first:
        return SplitName(" ".join(parts[1:]), parts[0])
    cut = 1
    if len(parts) >= 3 and (_INITIAL.match(parts[1]) or (is_given is not None and is_given(parts[1]))):
        cut = 2
    return SplitName(" ".join(parts[:cut]), " ".join(parts[cut:]))


def iter_rows(result: ReadResult) -> Iterator[SourceRow]:
    """All data rows of all tables, in file and sheet order."""
    for table in result.tables:
        yield from table.rows
