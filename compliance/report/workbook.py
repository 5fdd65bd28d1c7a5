"""The superintendent's Excel workbook, streamed with openpyxl's write-only mode.

Write-only keeps memory flat at district scale (175,000 people, 100,000 findings): rows go to a temporary
file as they are appended. Everything a sheet needs before its rows (column widths, frozen panes, print
settings) is set before the first append; auto-filter ranges, conditional formats and charts are written after
the rows.
Styled cells reuse a prepared `StyleArray` so a styled cell costs little more than a plain value.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ERROR_CODES, ILLEGAL_CHARACTERS_RE, Cell
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.chart.axis import DateAxis
from openpyxl.formatting.rule import FormulaRule
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.styles.cell_style import StyleArray
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.properties import PageSetupProperties

from compliance.consent import CONSENT_RULES
from compliance.incidents.figures import IncidentFigures
from compliance.report.data import AGING_BUCKETS, ReportData, local_date
from compliance.report.incidents_sheet import write_incidents_sheet
from compliance.vocabulary import FindingState, PersonCategory, PersonKind, Platform, Verdict, category_label

SHEETS = (
    "Summary",
    "By Site",
    "Outstanding Acknowledgements",
    "Photo Consent Findings",
    "Takedown Aging",
    "Incidents",
    "Trends",
    "Data Quality",
    "Ledger",
    "Definitions",
)
# The Ledger sheet's first line: what the sheet is for, readable in a few seconds (no jargon beyond "fingerprint").
LEDGER_EXPLANATION = (
    "Each row is a fingerprint of every compliance record up to that event number; if anyone later changes "
    "a past record, the check \"district-compliance verify-ledger\" names it. Nothing to do on this sheet."
)
LEDGER_COLUMNS = ("Event number", "Fingerprint (SHA-256)", "Time", "Written to")
# A spreadsheet treats a cell starting with one of these as a formula (Excel, LibreOffice, and CSV importers).
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Excel drops hyperlinks past 65,530 on one sheet (and asks to repair); later rows keep the URL as plain text.
MAX_HYPERLINKS = 65_000
RED, AMBER, GREEN = "FFC7CE", "FFEB9C", "C6EFCE"
# Columns are sized from the first rows (a sheet of 175,000 rows is not measured row by row).
SAMPLE_ROWS = 2000
PAGE_TITLE_CHARS, IMAGE_NAME_CHARS = 32, 28
SUMMARY_COLUMNS = (46, 18, 18, 20, 70)
SUMMARY_WIDTH = sum(SUMMARY_COLUMNS)
FIRST_REPORT = "First report: there is no earlier report to compare with"
HEADER_FILL = "1F3864"

# Plain-str lookups built from the vocabulary: the row loops below run 175,000 times.
VERDICTS = {v.value: v.label for v in Verdict}
STATES = {s.value: s.label for s in FindingState}
PLATFORMS = {p.value: p.label for p in Platform}
REASONS = {
    "no_consent": "No parent consent",
    "revoked": "Consent revoked",
    "expired": "Consent expired",
    "principal_missing": "No principal approval",
    "purpose_not_covered": "Consent does not cover this use",
    "opted_out": "Directory opt-out (FERPA)",
}
KINDS = {k.value: k.label for k in PersonKind}
CATEGORY_LABELS = {c.value: c.label("en") for c in PersonCategory}


def safe_text(ws: Any, value: object, style: StyleArray | None = None) -> str | Cell | None:
    """Outside text as a cell that Excel and LibreOffice show as text and never evaluate.

    Text starting with ``= + - @`` or a tab/CR/LF (or spelling an error code such as ``#N/A``) becomes an
    explicit string cell with the *quotePrefix* style: both applications display it exactly as written, and
    editing the cell keeps it text, the same as typing a leading apostrophe. The apostrophe itself is not
    stored, so the value reads back unchanged. Characters XML cannot carry are removed. Harmless text stays a
    plain ``str`` (fast path) unless ``style`` asks for a styled cell.
    """
    if value is None:
        return None
    text = value if type(value) is str else str(value)
    text = ILLEGAL_CHARACTERS_RE.sub("", text)[:32767]
    hostile = bool(text) and (text[0] in FORMULA_TRIGGERS or text in ERROR_CODES)
    if not hostile and style is None:
        return text
    array = StyleArray(style) if style is not None else StyleArray()
    if hostile:
        array.quotePrefix = 1
    cell = Cell(ws, row=1, column=1, style_array=array)
    # Bypass value binding, which would turn "=..." into a formula and "#N/A" into an error.
    cell._value = text
    cell.data_type = "s"
    return cell


def report_filename(generated_at: datetime, time_zone: str = "America/Los_Angeles") -> str:
    """File name with the district-calendar date, nothing personal: ``compliance-report-2026-11-24.xlsx``."""
    return f"compliance-report-{local_date(generated_at, ZoneInfo(time_zone)).isoformat()}.xlsx"


def _hf(text: str) -> str:
    # "&" starts a header/footer code (&P page, &D date...); a literal one is written "&&". Excel caps at 255.
    return text.replace("&", "&&").replace("\n", " ")[:120]


class _Styles:
    """Prepared style arrays; a new cell copies one instead of assigning fonts and fills one by one."""

    def __init__(self, ws: Any) -> None:
        self._ws = ws
        thin = Side(style="thin", color="808080")
        self.header = self.make(
            font=Font(bold=True, color="FFFFFF"),
            fill=PatternFill("solid", start_color=HEADER_FILL, end_color=HEADER_FILL),
            alignment=Alignment(wrap_text=True, vertical="center"),
            border=Border(bottom=thin),
        )
        self.pct = self.make(number_format="0.0%")
        self.integer = self.make(number_format="#,##0")
        self.days = self.make(number_format="0.0")
        self.date = self.make(number_format="yyyy-mm-dd")
        self.moment = self.make(number_format="yyyy-mm-dd hh:mm")
        self.link = self.make(font=Font(color="0563C1", underline="single"))
        self.wrap = self.make(alignment=Alignment(wrap_text=True, vertical="top"))
        # Short words (Yes/No) centred: left-aligned beside a right-aligned number they read as one ("0No").
        self.centre = self.make(alignment=Alignment(horizontal="center"))
        # A date followed by text is centred for the same reason (a date is a styled cell anyway).
        self.centred_date = self.make(number_format="yyyy-mm-dd", alignment=Alignment(horizontal="center"))
        # Text right after a number column starts one indent in ("4" beside a fingerprint read as one).
        self.indent = self.make(alignment=Alignment(indent=1))
        self.title = self.make(font=Font(bold=True, size=18, color=HEADER_FILL))
        self.subtitle = self.make(font=Font(size=12, color="404040"))
        self.section = self.make(font=Font(bold=True, size=13, color=HEADER_FILL))
        self.note = self.make(font=Font(bold=True, size=13, color=HEADER_FILL),
                              alignment=Alignment(wrap_text=True, vertical="top"))
        self.sentence = self.make(font=Font(size=12), alignment=Alignment(wrap_text=True, vertical="top"))
        self.label = self.make(font=Font(size=12), alignment=Alignment(vertical="center"))
        self.big = {
            fmt: self.make(number_format=fmt, font=Font(bold=True, size=18), alignment=Alignment(vertical="center"))
            for fmt in ("0.0%", "#,##0", "0.0")
        }
        self.prev = {
            fmt: self.make(
                number_format=fmt, font=Font(size=12, color="606060"), alignment=Alignment(vertical="center")
            )
            for fmt in ("0.0%", "#,##0", "0.0")
        }
        self.change = {
            tone: self.make(font=Font(bold=True, size=12, color=color), alignment=Alignment(vertical="center"))
            for tone, color in (("good", "1E7B34"), ("bad", "C00000"), ("neutral", "606060"))
        }

    def make(self, **attrs: Any) -> StyleArray:
        cell = Cell(self._ws, row=1, column=1)
        for name, value in attrs.items():
            setattr(cell, name, value)
        return cell._style

    def cell(self, ws: Any, value: Any, style: StyleArray) -> Cell:
        """A styled cell for a value the report computed (numbers, dates, our own labels)."""
        return Cell(ws, row=1, column=1, value=value, style_array=StyleArray(style))


class _Writer:
    def __init__(self, data: ReportData, district_name: str, generated_at: datetime) -> None:
        self.data = data
        self.tz = data.tz
        self.district = district_name
        self.generated_at = generated_at
        self.stamp = generated_at.astimezone(self.tz).strftime("%Y-%m-%d %H:%M %Z")
        self.wb = Workbook(write_only=True)
        self.styles = _Styles(self.wb.create_sheet("_styles"))
        self.wb.remove(self.wb["_styles"])
        self.links = 0

    # --- shared sheet setup
    def _page(self, ws: Any, *, title_rows: str | None = "1:1") -> None:
        ws.page_setup.orientation = "landscape"
        ws.page_setup.paperSize = "1"  # Letter
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0  # as many pages tall as needed, one page wide
        ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
        if title_rows:
            ws.print_title_rows = title_rows
        ws.oddHeader.center.text = _hf(self.district)
        ws.oddHeader.right.text = _hf(ws.title)
        ws.oddFooter.left.text = _hf(f"Generated {self.stamp}")
        ws.oddFooter.right.text = "Page &P of &N"

    def _table(
        self,
        title: str,
        columns: Sequence[tuple[str, float]],
        n_rows: int,
        sample: Iterable[Sequence[object]] | None = None,
    ) -> Any:
        """A sheet with a header row, frozen, filtered and printable; ``sample`` (rows of the plain values the
        sheet shows, the first few thousand) sizes each column to its content, else the widths given are kept."""
        ws = self.wb.create_sheet(title)
        if sample is not None:
            columns = fit_widths(columns, sample)
        for idx, (_, width) in enumerate(columns, 1):
            ws.column_dimensions[get_column_letter(idx)].width = width
        ws.freeze_panes = "A2"
        ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{n_rows + 1}"
        self._page(ws)
        ws.row_dimensions[1].height = 32
        header = self.styles.header
        ws.append([self.styles.cell(ws, name, header) for name, _ in columns])
        return ws

    def text(self, ws: Any, value: object, style: StyleArray | None = None) -> str | Cell | None:
        return safe_text(ws, value, style)

    # --- sheets
    def write(self, path: Path) -> Path:
        self.summary()
        self.by_site()
        self.outstanding()
        self.findings()
        self.aging()
        self.incidents()
        self.trends()
        self.data_quality()
        self.ledger()
        self.definitions()
        props = self.wb.properties
        props.title = f"AR 1114 compliance report {local_date(self.generated_at, self.tz).isoformat()}"
        props.subject = "Social media policy acknowledgements and student photo consent"
        props.creator = "district-compliance"
        props.lastModifiedBy = "district-compliance"
        props.keywords = "AR 1114; compliance"
        props.description = _hf(self.district)
        props.created = self.generated_at.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)
        props.modified = props.created
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.partial")
        self.wb.save(tmp)
        # Atomic: a reader (the Drive upload, an email attachment) never sees half a workbook.
        os.replace(tmp, path)
        return path

    def summary(self) -> None:
        data, st = self.data, self.styles
        s = data.summary
        ws = self.wb.create_sheet("Summary")
        for col, width in zip("ABCDE", SUMMARY_COLUMNS, strict=True):
            ws.column_dimensions[col].width = width
        self._page(ws, title_rows=None)
        ws.sheet_view.showGridLines = False
        prev = data.previous.summary if data.previous else {}
        policy = data.policy
        line = f"Generated {self.stamp}"
        if policy:
            line += f" · Policy: {policy.title} ({policy.school_year})"
        if data.previous:
            previous_day = local_date(data.previous.generated_at, self.tz).isoformat()
            line += f" · Compared with the report of {previous_day}"
        else:
            line += f" · {FIRST_REPORT}"
        rows: list[list[Any]] = [
            [st.cell(ws, "AR 1114 compliance report", st.title)],
            [safe_text(ws, self.district, st.subtitle)],
            [safe_text(ws, line, st.subtitle)],
            [],
            [st.cell(ws, "What needs attention", st.section)],
        ]
        sentences = attention_sentences(data)
        first_sentence = len(rows) + 1
        rows += [[safe_text(ws, sentence, st.sentence)] for sentence in sentences]
        rows += [[safe_text(ws, note, st.sentence)] for note in data.notes]
        for r in range(first_sentence, len(rows) + 1):
            ws.merged_cells.add(f"A{r}:E{r}")
            # Sentences wrap across A:E (172 characters wide at 12 pt): as many lines as each one needs.
            ws.row_dimensions[r].height = row_height([(_cell_text(rows[r - 1][0]), SUMMARY_WIDTH * 11 / 12)], 16)
        rows.append([])
        rows.append([st.cell(ws, "Headline numbers", st.section)])
        ws.row_dimensions[len(rows) + 1].height = 32
        rows.append(
            [
                st.cell(ws, name, st.header)
                for name in ("Measure", "Now", "Last report", "Change since last report", "What it means")
            ]
        )
        for key, label, fmt, better, meaning in headline_metrics(data):
            now_v, prev_v = s.get(key), prev.get(key)
            # The first report says so once, in the line above, not "no earlier figure" on every row.
            arrow, tone = change_text(now_v, prev_v, fmt, better) if data.previous else ("", "neutral")
            r = len(rows) + 1
            ws.row_dimensions[r].height = 28
            rows.append(
                [
                    st.cell(ws, label, st.label),
                    st.cell(ws, now_v, st.big[fmt]) if now_v is not None else st.cell(ws, "n/a", st.label),
                    st.cell(ws, prev_v, st.prev[fmt]) if prev_v is not None else None,
                    st.cell(ws, arrow, st.change[tone]) if arrow else None,
                    st.cell(ws, meaning, st.wrap),
                ]
            )
        rows.append([])
        rows.append([st.cell(ws, "Acknowledgement by category", st.section)])
        rows.append([st.cell(ws, n, st.header) for n in ("Category", "Active people", "Acknowledged", "Rate")])
        for c in data.categories:
            rows.append(
                [
                    safe_text(ws, category_label(c.category)),
                    st.cell(ws, c.active, st.integer),
                    st.cell(ws, c.acknowledged, st.integer),
                    st.cell(ws, c.rate, st.pct) if c.rate is not None else None,
                ]
            )
        rows.append([])
        rows.append([st.cell(ws, "Consent violations by status (all sites)", st.section)])
        rows.append([st.cell(ws, n, st.header) for n in ("Status", "Violations")])
        for label, key in (
            (FindingState.NEW.label, "violations_new"),
            (FindingState.OPEN.label, "violations_open"),
            (FindingState.RESOLVED.label, "violations_resolved"),
        ):
            rows.append([label, st.cell(ws, s.get(key, 0), st.integer)])
        rows.append([])
        rows.append([st.cell(ws, "Violations online by days online (all sites)", st.section)])
        rows.append([st.cell(ws, n, st.header) for n in ("Days online", "Violations")])
        for (label, _, _), key in zip(
            AGING_BUCKETS, ("aging_0_2", "aging_3_7", "aging_8_14", "aging_over_14"), strict=True
        ):
            rows.append([label, st.cell(ws, s.get(key, 0), st.integer)])
        for row in rows:
            ws.append(row)
        # The acknowledgement trend is charted here too, once the Trends sheet (its data) is written.
        self.summary_sheet, self.summary_rows = ws, len(rows)

    def by_site(self) -> None:
        st, digest = self.styles, self.data.site_admin_digest_days
        columns = [
            ("Site", 36),
            ("Site id", 16),
            ("Active people", 12),
            ("Acknowledged", 14),
            ("Acknowledgement rate", 18),
            ("Outstanding", 13),
            (f"Outstanding > {digest} days", 14),
            ("Escalated", 11),
            ("Violations online", 12),
            ("Violations taken down", 13),
        ]
        sites = self.data.sites
        sample = [(s.site_name, s.site_id, s.active, s.acknowledged, "100.0%", s.outstanding, s.overdue, s.escalated,
                   s.violations_online, s.violations_resolved) for s in sites[:SAMPLE_ROWS]]  # fmt: skip
        ws = self._table("By Site", columns, len(sites), sample)
        pct = st.pct
        for s in sites:
            ws.append(
                [
                    safe_text(ws, s.site_name),
                    safe_text(ws, s.site_id),
                    s.active,
                    s.acknowledged,
                    st.cell(ws, s.rate, pct) if s.rate is not None else None,
                    s.outstanding,
                    s.overdue,
                    s.escalated,
                    s.violations_online,
                    s.violations_resolved,
                ]
            )
        if sites:
            rng = f"E2:E{len(sites) + 1}"
            # Formula rules with ISNUMBER so a site with nobody active (blank rate) is not painted red.
            for formula, color in (
                ("AND(ISNUMBER(E2),E2<0.8)", RED),
                ("AND(ISNUMBER(E2),E2<0.95)", AMBER),
                ("AND(ISNUMBER(E2),E2>=0.95)", GREEN),
            ):
                fill = PatternFill("solid", start_color=color, end_color=color)
                ws.conditional_formatting.add(rng, FormulaRule(formula=[formula], fill=fill, stopIfTrue=True))

    def outstanding(self) -> None:
        digest = self.data.site_admin_digest_days
        columns = [
            ("Person", 28),
            ("Site", 30),
            ("Category", 22),
            ("Kind", 17),
            ("Outstanding since", 13),
            ("Days outstanding", 12),
            ("Reminders sent", 11),
            ("Escalated", 15),
            ("Paper only", 9),
        ]
        rows = self.data.outstanding
        kinds, cats = KINDS, CATEGORY_LABELS
        sample = [(r.name, r.site_name, cats.get(r.category, r.category), kinds.get(r.kind, r.kind), r.since,
                   r.days_outstanding, r.reminders_sent, r.escalated or "No", "Yes" if r.paper_only else None)
                  for r in rows[:SAMPLE_ROWS]]  # fmt: skip
        ws = self._table("Outstanding Acknowledgements", columns, len(rows), sample)
        append, text, centre = ws.append, safe_text, self.styles.centre

        def cell(ws: Any, value: Any, style: StyleArray) -> Cell:  # the style shared: each cell is written at once
            return Cell(ws, row=1, column=1, value=value, style_array=style)

        for r in rows:
            append(
                [
                    text(ws, r.name),
                    text(ws, r.site_name),
                    cats.get(r.category) or text(ws, r.category),
                    kinds.get(r.kind) or text(ws, r.kind),
                    r.since,
                    r.days_outstanding,
                    r.reminders_sent,
                    cell(ws, r.escalated, centre) if r.escalated else cell(ws, "No", centre),
                    cell(ws, "Yes", centre) if r.paper_only else None,
                ]
            )
        if rows:
            fill = PatternFill("solid", start_color=RED, end_color=RED)
            ws.conditional_formatting.add(f"F2:F{len(rows) + 1}", FormulaRule(formula=[f"F2>={digest}"], fill=fill))

    def findings(self) -> None:
        st = self.styles
        # Pages and images are shown by a short name that links to the address (two 50-character URL columns
        # made the printed sheet microscopic); an address that cannot be a link is shown whole, as inert text.
        columns = [
            ("Site", 30),
            ("Page", PAGE_TITLE_CHARS),
            ("Image link", IMAGE_NAME_CHARS),
            ("Kind", 10),
            ("Found in", 22),
            ("Student id", 12),
            ("Verdict", 13),
            ("Reason", 30),
            ("First seen", 12),
            ("Status", 12),
            ("Days online", 10),
            ("Taken down", 12),
            ("Published on", 14),
        ]
        rows = self.data.findings
        verdicts, states, reasons = VERDICTS, STATES, REASONS
        sample = [(f.site_name, page_title(f.page_url), image_name(f.image_url), f.kind, f.channel, f.student_id,
                   verdicts.get(f.verdict, f.verdict), reasons.get(f.reason, f.reason), f.first_seen,
                   states.get(f.state, f.state), f.days_online, f.resolved, PLATFORMS.get(f.platform, f.platform))
                  for f in rows[:SAMPLE_ROWS]]  # fmt: skip
        ws = self._table("Photo Consent Findings", columns, len(rows), sample)
        append, text, link_style = ws.append, safe_text, st.link
        cell, centred_date = st.cell, st.centred_date
        links = 0
        titles: dict[str, str] = {}  # many findings share a page: its title is worked out once

        def title(url: str) -> str:
            found = titles.get(url)
            if found is None:
                found = titles[url] = page_title(url)
            return found

        def linked(url: str, shown: str) -> Any:
            nonlocal links
            if not _linkable(url):
                # Not a web address (a platform export's post, a javascript: link): inert text, its end kept.
                return text(ws, _shorten_start(url.rsplit("#", 1)[-1] if "#" in url else url, len(shown) + 8))
            if links < MAX_HYPERLINKS:
                cell = text(ws, shown, link_style)
                cell.hyperlink = url  # type: ignore[union-attr]
                links += 1
                return cell
            return text(ws, url)  # past Excel's limit: the whole address, to copy

        for f in rows:
            append(
                [
                    text(ws, f.site_name),
                    linked(f.page_url, title(f.page_url)) if f.page_url else None,
                    linked(f.image_url, image_name(f.image_url)) if f.image_url else None,
                    text(ws, f.kind),
                    text(ws, f.channel),
                    text(ws, f.student_id),
                    verdicts.get(f.verdict) or text(ws, f.verdict),
                    reasons.get(f.reason) or text(ws, f.reason),
                    cell(ws, f.first_seen, centred_date),
                    states.get(f.state) or text(ws, f.state),
                    f.days_online,
                    cell(ws, f.resolved, centred_date) if f.resolved else None,
                    PLATFORMS.get(f.platform) or text(ws, f.platform),
                ]
            )
        self.links = links

    def aging(self) -> None:
        columns = [
            ("Site", 36),
            *((label, 11) for label, _, _ in AGING_BUCKETS),
            ("Total online", 12),
            ("Oldest (days)", 12),
        ]
        rows = self.data.aging
        ws = self._table("Takedown Aging", columns, len(rows),
                         [(a.site_name, *a.buckets, a.total, a.oldest_days) for a in rows[:SAMPLE_ROWS]])
        for a in rows:
            ws.append([safe_text(ws, a.site_name), *a.buckets, a.total, a.oldest_days])
        if rows:
            fill = PatternFill("solid", start_color=RED, end_color=RED)
            ws.conditional_formatting.add(f"E2:E{len(rows) + 1}", FormulaRule(formula=["E2>0"], fill=fill))

    def incidents(self) -> None:
        write_incidents_sheet(self, self.data.incidents or IncidentFigures(), self.data.site_names)

    def trends(self) -> None:
        st = self.styles
        columns = [
            ("Report date", 12),
            ("Acknowledgement rate", 18),
            ("Employees rate", 13),
            ("Associated persons rate", 15),
            ("Active people", 12),
            ("Outstanding", 12),
            ("Violations online", 12),
            ("Online > 14 days", 12),
            ("Median days to take down", 14),
            ("Quarantined rows", 12),
        ]
        points = self.data.trends
        ws = self._table("Trends", columns, len(points))
        for p in points:
            s = p.summary

            def num(key: str, style: StyleArray, s: Any = s) -> Cell | None:
                value = s.get(key)
                return st.cell(ws, value, style) if isinstance(value, int | float) else None

            ws.append(
                [
                    st.cell(ws, local_date(p.generated_at, self.tz), st.date),
                    num("ack_rate", st.pct),
                    num("ack_rate_employees", st.pct),
                    num("ack_rate_associated", st.pct),
                    num("active_people", st.integer),
                    num("outstanding", st.integer),
                    num("violations_online", st.integer),
                    num("aging_over_14", st.integer),
                    num("median_takedown_days", st.days),
                    num("quarantine_rows", st.integer),
                ]
            )
        n = len(points)
        dates = Reference(ws, min_col=1, min_row=2, max_row=n + 1)
        first, last = local_date(points[0].generated_at, self.tz), local_date(points[-1].generated_at, self.tz)
        span = (first, last)

        rate_chart = LineChart()
        rate_chart.title = "Acknowledgement rate by report"
        rate_chart.y_axis.title = "Acknowledged"
        rate_chart.y_axis.number_format = "0%"
        rate_chart.y_axis.scaling.min = 0
        rate_chart.y_axis.scaling.max = 1
        rate_chart.add_data(Reference(ws, min_col=2, max_col=4, min_row=1, max_row=n + 1), titles_from_data=True)
        _date_axis(rate_chart, dates, span)
        ws.add_chart(rate_chart, "L2")

        violations_chart = LineChart()
        violations_chart.title = "Consent violations online by report"
        violations_chart.y_axis.title = "Violations"
        violations_chart.y_axis.scaling.min = 0
        violations_chart.add_data(Reference(ws, min_col=7, max_col=8, min_row=1, max_row=n + 1), titles_from_data=True)
        _date_axis(violations_chart, dates, span)
        ws.add_chart(violations_chart, "L18")
        self.summary_chart(ws, n, span)

        # By Site is sorted worst first, so its top rows are the sites to chart.
        shown = min(15, len(self.data.sites))
        if shown:
            by_site = self.wb["By Site"]
            bar = BarChart()
            bar.type = "bar"
            bar.title = f"Acknowledgement rate: the {shown} lowest sites"
            bar.y_axis.number_format = "0%"
            bar.y_axis.scaling.min = 0
            bar.y_axis.scaling.max = 1
            bar.add_data(Reference(by_site, min_col=5, min_row=1, max_row=shown + 1), titles_from_data=True)
            bar.set_categories(Reference(by_site, min_col=1, min_row=2, max_row=shown + 1))
            bar.x_axis.scaling.orientation = "maxMin"  # lowest site on top, as in the table
            bar.legend = None
            bar.x_axis.delete = False
            bar.y_axis.delete = False
            bar.height, bar.width = 12, 18
            ws.add_chart(bar, "L34")

    def summary_chart(self, trends: Any, n: int, span: tuple[date, date]) -> None:
        """A small acknowledgement-rate chart under the Summary sheet's tables (data: the Trends sheet)."""
        ws = getattr(self, "summary_sheet", None)
        if ws is None:
            return
        chart = LineChart()
        chart.title = "Acknowledgement rate by report"
        chart.y_axis.number_format = "0%"
        chart.y_axis.scaling.min = 0
        chart.y_axis.scaling.max = 1
        chart.add_data(Reference(trends, min_col=2, min_row=1, max_row=n + 1), titles_from_data=True)
        _date_axis(chart, Reference(trends, min_col=1, min_row=2, max_row=n + 1), span, labels=4)
        chart.legend = None
        chart.height, chart.width = 6.5, 16
        ws.add_chart(chart, f"A{self.summary_rows + 2}")

    def data_quality(self) -> None:
        """Rows the inputs could not use (quarantine), then one row per website crawl: what was found and
        read, and what was refused and why. One table, so one filter serves both (column Job)."""
        coverage = [
            ("Pages found", 10), ("Pages crawled", 10), ("Images found", 10), ("Images fetched", 10),
            ("Videos", 9), ("PDFs found", 9), ("PDFs read", 9), ("Refused: robots.txt", 11),
            ("Refused: off-site", 11), ("Refused: size", 10), ("Refused: type", 10), ("Refused: other", 10),
        ]  # fmt: skip
        columns = [
            ("Job", 16),
            ("Source file", 60),
            ("Rows quarantined", 14),
            ("New since last report", 14),
            ("Latest", 12),
            *coverage,
        ]
        rows = self.data.quarantine
        crawls = self.data.coverage
        sample = [(q.job, q.source_file, q.rows, q.new_since_previous, q.latest) for q in rows[:SAMPLE_ROWS]]
        sample += [("crawl", c.site_name, None, None, c.crawled) for c in crawls[:SAMPLE_ROWS]]
        ws = self._table("Data Quality", columns, len(rows) + len(crawls), sample)
        for q in rows:
            ws.append(
                [
                    safe_text(ws, q.job),
                    safe_text(ws, q.source_file),
                    q.rows,
                    q.new_since_previous if self.data.previous else None,
                    q.latest,
                ]
            )
        for c in crawls:
            n = c.counts.get
            other = sum(n(k, 0) for k in ("refused_address", "refused_limit", "refused_error"))
            ws.append(
                [
                    "crawl",
                    safe_text(ws, c.site_name),
                    None,
                    None,
                    c.crawled,
                    n("pages_found", 0), n("pages_crawled", 0), n("images_found", 0), n("images_fetched", 0),
                    n("videos", 0), n("pdfs_found", 0), n("pdfs_read", 0), n("refused_robots", 0),
                    n("refused_off_site", 0), n("refused_size", 0), n("refused_type", 0), other,
                ]  # fmt: skip
            )
        if self.data.stale_sources:
            # Held sources below the quarantine table: inputs the figures do not reflect, and since when.
            st = self.styles
            ws.append([])
            ws.append([st.cell(ws, "Held sources (stale input: records keep their last good read)", st.section)])
            names = ("Job", "Source file", "Held since", "Last good read", "Records then", "Why held")
            ws.append([st.cell(ws, name, st.header) for name in names])
            for s in self.data.stale_sources:
                ws.append(
                    [
                        safe_text(ws, s.job),
                        safe_text(ws, s.source),
                        s.held_since,
                        s.last_good,
                        s.last_good_rows,
                        safe_text(ws, s.reason, st.indent),
                    ]
                )

    def ledger(self) -> None:
        """The chain heads since the last report: the explanation on row 1, the table from row 2 (the heads
        are what ``verify-ledger`` compares the database with, read back from this sheet)."""
        st, heads = self.styles, self.data.ledger
        ws = self.wb.create_sheet("Ledger")
        columns = (LEDGER_COLUMNS[0], 14), (LEDGER_COLUMNS[1], 70), (f"Time ({self.data.time_zone})", 24), \
            (LEDGER_COLUMNS[3], 48)
        for idx, (_, width) in enumerate(columns, 1):
            ws.column_dimensions[get_column_letter(idx)].width = width
        ws.freeze_panes = "A3"
        ws.auto_filter.ref = f"A2:D{len(heads) + 2}"
        self._page(ws, title_rows="1:2")
        # The explanation wraps inside the table's width (unwrapped, it ran past column D and was cut in print).
        ws.merged_cells.add("A1:D1")
        ws.row_dimensions[1].height = row_height([(LEDGER_EXPLANATION, sum(w for _, w in columns) * 11 / 13)], 18)
        ws.append([st.cell(ws, LEDGER_EXPLANATION, st.note)])
        ws.row_dimensions[2].height = 32
        ws.append([st.cell(ws, name, st.header) for name, _ in columns])
        for h in heads:
            local = h.at.astimezone(self.tz).replace(tzinfo=None)
            ws.append([h.seq, safe_text(ws, h.hash, st.indent), st.cell(ws, local, st.moment),
                       safe_text(ws, h.where, st.indent)])
        if not heads:
            ws.append([None, "No event has been chained yet."])

    def definitions(self) -> None:
        st = self.styles
        entries = definitions(self.data)
        widths = (("Term", 32), ("Meaning", 60), ("How it is computed", 90))
        ws = self._table("Definitions", widths, len(entries))
        # Wrapped rows get the height their longest cell needs (a row left at the default height overlaps the
        # next one when printed or opened in LibreOffice, which does not grow rows on load).
        for r, entry in enumerate(entries, start=2):
            ws.row_dimensions[r].height = row_height(zip(entry, (w for _, w in widths), strict=True))
        for term, meaning, how in entries:
            ws.append([st.cell(ws, term, st.wrap), st.cell(ws, meaning, st.wrap), st.cell(ws, how, st.wrap)])


def _date_axis(chart: LineChart, dates: Reference, span: tuple[date, date], labels: int = 8) -> None:
    """A date axis in days from a few days before the first report to a few after the last one.

    Without a base unit of days and bounds, a single report's date was rounded to its year (a 2026-12-01
    report's axis read 2026-01-01); a marker on every point shows a first report's single point, which a line
    alone never draws.
    """
    first, last = span
    span_days = (last - first).days
    pad = max(3, span_days // 20)
    # The value axis must cross the date axis by id (500), or Excel reports the chart as damaged.
    chart.y_axis.crossAx = 500
    chart.x_axis = DateAxis(crossAx=100)
    chart.x_axis.number_format = "yyyy-mm-dd"
    chart.x_axis.baseTimeUnit = "days"
    chart.x_axis.majorTimeUnit = "days"
    chart.x_axis.majorUnit = max(1, -(-(span_days + 2 * pad) // labels))  # about that many labels at any length
    chart.x_axis.scaling.min = to_excel(first) - pad
    chart.x_axis.scaling.max = to_excel(last) + pad
    for series in chart.series:
        series.smooth = False  # a smoothed line invents values between reports
        series.marker.symbol = "circle"
        series.marker.size = 7
    chart.x_axis.title = "Report date"
    chart.set_categories(dates)
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.height, chart.width = 7.5, 18


def _linkable(url: str) -> bool:
    # Only web links become clickable; a javascript: or file: URL from a crawled page stays inert text.
    # String checks first (this runs twice per finding, 200,000 times at district scale); urlsplit settles
    # what they cannot (bracketed hosts, odd characters).
    lowered = url[:8].lower()
    if not (lowered.startswith("https://") or lowered.startswith("http://")) or len(url) > 2000:
        return False
    host = url.split("://", 1)[1][:1]
    if not host or host in "/?#":
        return False
    if "[" not in url and " " not in url and "\\" not in url:
        return True
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def page_title(url: str) -> str:
    """A page's short name from its address, for the printed findings sheet: the last part of the path in
    words ("/news/2026/field-day.html" -> "Field day", "/" -> "Home page"); the cell links to the address."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return _shorten(url, PAGE_TITLE_CHARS)
    video = re.search(r"(?:^|&)v=([\w-]+)", parts.query)
    if video and "watch" in parts.path:
        return f"Video {video.group(1)}"
    segments = [unquote(x) for x in parts.path.split("/") if x]
    while segments and segments[-1].rsplit(".", 1)[0].lower() in ("index", "default", "home", ""):
        segments.pop()
    if not segments:
        return "Home page" if parts.netloc else _shorten(url, PAGE_TITLE_CHARS)
    stem = segments[-1].rsplit(".", 1)[0] if "." in segments[-1] else segments[-1]
    words = re.sub(r"[-_+\s]+", " ", stem).strip() or segments[-1]
    if parts.query and "page" in parts.query.lower():
        words += f" ({parts.query[:20]})"  # paged listings keep which page they are
    return _shorten(words[:1].upper() + words[1:], PAGE_TITLE_CHARS)


def image_name(url: str) -> str:
    """An image's file name from its address ("https://cdn/.../field-day-03.jpg" -> "field-day-03.jpg").

    Plain string splitting (this runs once per finding, 100,000 times at district scale)."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    name = path.rstrip("/").rsplit("/", 1)[-1] if path.count("/") > 2 else ""
    if "%" in name:
        name = unquote(name)
    return _shorten(name or url, IMAGE_NAME_CHARS)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _shorten_start(text: str, limit: int) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def _cell_text(value: object) -> str:
    return str(value._value if isinstance(value, Cell) else value or "")


def _shown_length(value: object) -> int:
    """How many characters a value takes on screen as the workbook formats it."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, bool):
        return 3
    if isinstance(value, int):
        return len(f"{value:,}")
    if isinstance(value, float):
        return len(f"{value:,.1f}")
    return len(str(value))


def fit_widths(
    columns: Sequence[tuple[str, float]], sample: Iterable[Sequence[object]], *, cap: float = 48
) -> list[tuple[str, float]]:
    """Each column as wide as its content (at most ``cap``; longer text is cut at the next cell or wraps), never
    narrower than its header's longest word nor half its header (headers wrap on two lines)."""
    longest = [0] * len(columns)
    for row in sample:
        for i, value in enumerate(row):
            n = _shown_length(value)
            if n > longest[i]:
                longest[i] = n
    out = []
    for (name, _), n in zip(columns, longest, strict=True):
        header = max(max(len(word) for word in name.split()), math.ceil(len(name) / 2))
        out.append((name, float(min(cap, max(header, n) + 2))))
    return out


def row_height(cells: Iterable[tuple[str, float]], line_points: float = 15) -> float:
    """Height in points of a row of wrapped text: the most lines any of its (text, column width) cells needs.

    Word wrapping leaves the end of each line partly empty, so a line holds about 85% of the column's width.
    """
    lines = 1
    for text, width in cells:
        per_line = max(1.0, (width - 1) * 0.85)
        needed = sum(max(1, math.ceil(len(part) / per_line)) for part in str(text).split("\n"))
        lines = max(lines, needed)
    return round(lines * line_points + 4, 1)


def source_words(source: str) -> str:
    """An input source as the superintendent reads it: an acknowledgement form or a Google Sheet rather than
    its Google id (``forms:1FAIpQ...``); files keep their path, which the office recognises."""
    if source.startswith("forms:"):
        return "the acknowledgement forms' responses"
    if source.startswith("sheets:"):
        return "a Google Sheet"
    return source


def headline_metrics(data: ReportData) -> list[tuple[str, str, str, bool | None, str]]:
    """(summary key, label, number format, higher is better, meaning) for the Summary sheet, in order."""
    d = data.site_admin_digest_days
    return [
        (
            "ack_rate",
            "Acknowledgement rate",
            "0.0%",
            True,
            "Share of active people who signed the current policy.",
        ),
        (
            "active_people",
            "Active people",
            "#,##0",
            None,
            "Employees and associated persons currently active.",
        ),
        ("acknowledged", "Acknowledged", "#,##0", True, "Active people with a signed acknowledgement."),
        (
            "outstanding",
            "Outstanding acknowledgements",
            "#,##0",
            False,
            "Active people who have not signed yet.",
        ),
        (
            "overdue",
            f"Outstanding more than {d} days",
            "#,##0",
            False,
            "Past the date the site admin is told.",
        ),
        (
            "escalated",
            "Escalated",
            "#,##0",
            False,
            "Outstanding people already reported to a site admin or above.",
        ),
        ("sites_below_80", "Sites below 80%", "#,##0", False, "Sites shown red on the By Site sheet."),
        (
            "violations_online",
            "Consent violations online",
            "#,##0",
            False,
            "Student photos without valid consent.",
        ),
        (
            "violations_new_since_previous",
            "New violations since last report",
            "#,##0",
            False,
            "Violations first seen after the previous report.",
        ),
        ("aging_over_14", "Violations online more than 14 days", "#,##0", False, "Takedowns that are late."),
        ("violations_resolved", "Violations taken down", "#,##0", True, "All violations taken down so far."),
        ("median_takedown_days", "Median days to take down", "0.0", False, "Half of takedowns were faster."),
        ("needs_review", "Findings awaiting review", "#,##0", False, "Photos a person must look at."),
        (
            "quarantine_rows",
            "Input rows in quarantine",
            "#,##0",
            False,
            "Bad input rows kept for correction.",
        ),
        ("cases_open", "Incident cases not closed", "#,##0", False, "Reported incidents and complaints still open."),
        ("cases_overdue", "Cases with overdue steps", "#,##0", False, "Open cases past a checklist step's date."),
        (
            "cases_routed_to_agency",
            "Cases routed to an agency",
            "#,##0",
            None,
            "Threats, images of minors, suspected abuse.",
        ),
    ]


def change_text(now: Any, prev: Any, fmt: str, better: bool | None) -> tuple[str, str]:
    """Arrow text and tone ("good", "bad", "neutral") for the change since the previous report."""
    if not isinstance(now, int | float) or not isinstance(prev, int | float):
        return ("no earlier figure", "neutral")
    delta = now - prev
    if fmt == "0.0%":
        shown, unit = round(delta * 100, 1), " pts"
    elif fmt == "0.0":
        shown, unit = round(delta, 1), " days"
    else:
        shown, unit = round(delta), ""
    if shown == 0:
        return ("no change", "neutral")
    arrow = "▲" if delta > 0 else "▼"
    number = f"{abs(shown):,.1f}" if fmt != "#,##0" else f"{abs(shown):,}"
    tone = "neutral" if better is None else ("good" if (delta > 0) == better else "bad")
    return (f"{arrow} {number}{unit}", tone)


def _n(count: int, singular: str, plural: str | None = None) -> str:
    """ "1 site", "3 sites": sentences read naturally at any count."""
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def attention_sentences(data: ReportData) -> list[str]:
    """Three to five plain sentences, built from the numbers, on what needs attention first."""
    s = data.summary
    prev = data.previous.summary if data.previous else {}
    out: list[str] = []
    rate, prev_rate = s.get("ack_rate"), prev.get("ack_rate")
    policy = f"{data.policy.title} ({data.policy.school_year})" if data.policy else "the policy"
    if rate is None:
        out.append("No active people are recorded yet, so there is no acknowledgement rate.")
    else:
        trend = ""
        if isinstance(prev_rate, int | float):
            delta = (rate - prev_rate) * 100
            trend = (
                f", {'up' if delta > 0 else 'down'} {abs(delta):.1f} points since the last report"
                if abs(delta) >= 0.05
                else ", unchanged since the last report"
            )
        people = _n(s["active_people"], "active person", "active people")
        verb = "has" if s["active_people"] == 1 else "have"
        out.append(f"{_pct(rate)} of {people} {verb} acknowledged {policy}{trend}.")
    if s.get("outstanding"):
        out.append(
            f"{_n(s['outstanding'], 'acknowledgement')} outstanding: {s.get('overdue', 0):,} more than "
            f"{data.site_admin_digest_days} days old, {s.get('escalated', 0):,} escalated."
        )
    # Named sites only: people with no site have no site admin to call.
    red = [site for site in data.sites if site.site_id and site.rate is not None and site.rate < 0.95][:3]
    if red:
        names = ", ".join(f"{site.site_name} ({_pct(site.rate)})" for site in red)
        out.append(f"Lowest sites: {names}; {_n(s.get('sites_below_80', 0), 'site')} below 80%.")
    online = s.get("violations_online", 0)
    if online:
        new = s.get("violations_new_since_previous")
        new_text = f" ({new:,} new since the last report)" if isinstance(new, int) else ""
        out.append(
            f"{_n(online, 'student photo')} without valid consent still online{new_text}; "
            f"{s.get('aging_over_14', 0):,} online more than 14 days."
        )
    else:
        out.append("No student photo without valid consent is online.")
    extra = []
    if s.get("median_takedown_days") is not None:
        extra.append(f"Median time to take a photo down: {s['median_takedown_days']:.1f} days.")
    if s.get("quarantine_rows"):
        top = data.quarantine[0]
        extra.append(
            f"{_n(s['quarantine_rows'], 'input row')} in quarantine, most from {source_words(top.source_file)} "
            f"({top.rows:,})."
        )
    if extra:
        out.append(" ".join(extra))
    return out[:5]


def definitions(data: ReportData) -> list[tuple[str, str, str]]:
    """What each number means and how it is computed (the Definitions sheet)."""
    d, sup = data.site_admin_digest_days, data.superintendent_days
    return [
        (
            "Current policy version",
            "The version people are asked to acknowledge now.",
            "The most recently recorded policy version (Drive revision and text hash).",
        ),
        (
            "Active people",
            "Employees and associated persons who currently work or volunteer for the district.",
            "People marked active after the latest roster sync; leavers are excluded.",
        ),
        (
            "Acknowledged",
            "Active people who signed an acknowledgement of the current policy version.",
            "Count of active people with an acknowledgement (form or paper) for the current version.",
        ),
        (
            "Acknowledgement rate",
            "Share of active people who acknowledged.",
            "Acknowledged ÷ active people. By Site: same, for the people whose main site it is (a person "
            "who works at several sites counts once, at the main one). "
            "Colours: red below 80%, amber below 95%, green 95% or more.",
        ),
        (
            "Days outstanding",
            "How long a person has had the policy without signing.",
            "District-calendar days from the first announcement email sent to the person (or, with none, the "
            "campaign start) to the report date.",
        ),
        (
            f"Outstanding > {d} days",
            "People past the point where the site admin receives a digest.",
            f"Outstanding people whose days outstanding are {d} or more.",
        ),
        (
            "Reminders sent",
            "Reminder emails already sent to the person.",
            "Sent reminder deliveries for this version.",
        ),
        (
            "Escalated",
            "Whether the person was reported to their site admin or to the superintendent.",
            f"A digest or superintendent notice names the person, or a site admin digest was sent at least "
            f"{d} days (superintendent notice: {sup} days) after the person's announcement.",
        ),
        (
            "Kind",
            "What identifies the student: a photo, a video, or a name in the page's text (or a linked PDF's).",
            "photo: an image (including CSS backgrounds and galleries); video: a video or an embedded player, "
            "by its poster and title; name: the student is named with no photo or video of them on the page.",
        ),
        (
            "Found in",
            "Where on the page the identifying text was read.",
            "The evidence channel: alt, figcaption, card, table_cell, filename, exif/iptc/xmp, page_text, "
            "pdf_page_N (page N of a PDF); a prefix says how the image was published (background, stylesheet, "
            "data_gallery, json_ld, manifest, video, embed).",
        ),
        (
            "Crawl coverage",
            "What the last crawl of each website found and read, and what it refused and why (Data Quality).",
            "Pages and PDFs found (linked, in sitemaps, scripts or JSON) vs crawled; images found vs fetched; "
            "videos; refusals by robots.txt, off-site host, size limit, content type, and other (blocked "
            "address, time or page limit, errors).",
        ),
        (
            "Consent violation",
            "A student identified on a district web page without written consent of parent and principal.",
            "Findings with verdict violation. New: first seen since the previous nightly check; "
            "Open: reported and still online; Taken down: no longer on the page.",
        ),
        (
            "Violations online",
            "Violations that are still visible on a web page.",
            "Violations whose status is New or Open.",
        ),
        (
            "Days online",
            "How long a violating photo has been online since it was first found.",
            "Whole days from first seen to the report time. Aging buckets: "
            + ", ".join(label for label, _, _ in AGING_BUCKETS)
            + ".",
        ),
        (
            "Median days to take down",
            "Typical time from finding a violation to its removal.",
            "Median of (taken down − first seen), in days, over all violations taken down.",
        ),
        (
            "Findings awaiting review",
            "Photos where a student may be identified but the match is uncertain.",
            "Findings with verdict needs_review that are not resolved.",
        ),
        *CONSENT_RULES,
        (
            "Input rows in quarantine",
            "Rows of rosters, consent sheets or forms that could not be read: set aside, not dropped.",
            "Quarantine rows by job and source file; new = recorded since the previous report.",
        ),
        (
            "Change since last report",
            "Difference from the previous report's figure.",
            "Now minus the figure stored with the previous report; ▲ up, ▼ down; green better, red worse.",
        ),
        (
            "Page, Image link",
            "The page a student was found on, by a short name from its address, and the image's file name: "
            "each links to the full address.",
            f"Clickable for the first {MAX_HYPERLINKS:,} links (Excel's limit per sheet); later rows show the "
            "full address as text, as do addresses that are not web links.",
        ),
        (
            "Ledger",
            "Tamper-evident record of every announcement, reminder, acknowledgement, consent record, finding "
            "and takedown request.",
            "Each event's SHA-256 fingerprint covers the one before it; the heads are also kept in Drive and in "
            "the report email. district-compliance verify-ledger compares them and names the first event that "
            "differs.",
        ),
        (
            "Dates",
            "All dates are in the district's time zone.",
            f"Shown as yyyy-mm-dd in {data.time_zone}; stored in UTC.",
        ),
    ]


def write_workbook(
    data: ReportData,
    path: Path,
    *,
    district_name: str,
    generated_at: datetime,
) -> Path:
    """Write the compliance workbook to ``path`` (atomically) and return it.

    ``generated_at`` must be aware; it is shown in the district's time zone (``data.time_zone``). Every cell
    built from outside text goes through `safe_text`. Choose ``path`` with `report_filename` so no personal
    data ends up in the file name.
    """
    if generated_at.tzinfo is None:
        raise ValueError("generated_at must be an aware datetime")
    return _Writer(data, district_name, generated_at).write(Path(path))


__all__ = [
    "SHEETS",
    "safe_text",
    "report_filename",
    "write_workbook",
    "attention_sentences",
    "headline_metrics",
    "definitions",
    "change_text",
]
