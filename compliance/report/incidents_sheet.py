"""The workbook's Incidents sheet: one row per case (reference, category, site, state, age, overdue steps,
agency), then the counts by category, site, age, overdue step and agency. Case references and counts only:
no names and no text from a report ever reach the workbook (compliance.incidents.figures reads none)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from compliance.incidents.figures import IncidentFigures
from compliance.vocabulary import CaseCategory, CaseState, CaseStep

SHEET = "Incidents"
CASE_COLUMNS: tuple[tuple[str, float], ...] = (
    ("Case", 16),
    ("Category", 40),
    ("Site", 30),
    ("Status", 13),
    ("Age (days)", 11),
    ("Overdue steps", 11),
    ("Agency", 34),
    ("About an administrator", 13),
)
BY_CATEGORY_HEADER = ("Category", "Open", "In progress", "Closed", "Total", "With overdue steps")


def _label(value: str, kind: type[CaseCategory] | type[CaseState] | type[CaseStep]) -> str:
    try:
        return kind(value).label
    except ValueError:
        return value  # a value the vocabulary does not know is shown as stored, never hidden


def write_incidents_sheet(writer: Any, figures: IncidentFigures, site_names: Mapping[str, str]) -> None:
    """Add the sheet to ``writer`` (the workbook's ``_Writer``: its table setup, styles and safe text)."""
    safe_text = writer.text  # every text cell through the workbook's formula-safe writer

    st = writer.styles
    cases = figures.cases
    # The count tables sit under the case list; the filter spans them all so a reader can sort either.
    sections = _sections(figures, site_names)
    below = sum(3 + len(rows) for _, _, rows in sections)
    plain = [
        (c.case_ref, _label(c.category, CaseCategory), site_names.get(c.site_id or "", "Not known"),
         _label(c.status, CaseState), c.age_days, c.overdue_steps, c.agency or "",
         "Yes" if c.against_administrator else "No")
        for c in cases
    ]  # fmt: skip
    # Columns sized to the cases and the count tables below them (they share the columns).
    sample = [*plain, *(row for _, header, rows in sections for row in (header, *rows))]
    ws = writer._table(SHEET, CASE_COLUMNS, len(cases) + below, sample)
    centre = st.centre  # Yes/No beside a number reads as one word ("0No") unless centred
    for ref, category, site, status, age, overdue, agency, against in plain:
        ws.append(
            [
                safe_text(ws, ref),
                safe_text(ws, category),
                safe_text(ws, site),
                safe_text(ws, status),
                age,
                overdue,
                writer.text(ws, agency, st.indent) if agency else None,  # after a number column: indented
                st.cell(ws, against, centre),
            ]
        )
    for title, header, rows in sections:
        ws.append([])
        ws.append([st.cell(ws, title, st.section)])
        ws.append([st.cell(ws, name, st.header) for name in header])
        for row in rows:
            ws.append([safe_text(ws, v) if isinstance(v, str) else v for v in row])


def _sections(figures: IncidentFigures, site_names: Mapping[str, str]) -> list[tuple[str, tuple[str, ...], list]]:
    cases = figures.cases
    states = (CaseState.OPEN, CaseState.IN_PROGRESS, CaseState.CLOSED)
    by_category: list[list[Any]] = []
    for category in [*CaseCategory, *sorted({c.category for c in cases} - set(CaseCategory))]:
        counts = [figures.count(category=category, status=s) for s in states]
        overdue = sum(1 for c in cases if c.category == category and c.overdue_steps)
        by_category.append([_label(category, CaseCategory), *counts, sum(counts), overdue])
    site_ids = sorted({c.site_id for c in cases}, key=lambda s: site_names.get(s or "", "~"))
    by_site = [
        [site_names.get(s or "", "Not known"), *(figures.count(site_id=s, status=x) for x in states),
         figures.count(site_id=s)]
        for s in site_ids
    ]
    overdue_steps: Counter[str] = figures.overdue_by_step
    return [
        ("Cases by category", BY_CATEGORY_HEADER, by_category),
        ("Cases by site", ("Site", "Open", "In progress", "Closed", "Total"), by_site),
        ("Age of cases not closed", ("Age", "Cases"), [[label, n] for label, n in figures.age_buckets()]),
        ("Overdue checklist steps", ("Step", "Overdue"),
         [[_label(step, CaseStep), n] for step, n in sorted(overdue_steps.items())]),
        ("Cases routed to each agency", ("Agency", "Cases"), [[a, n] for a, n in figures.by_agency().items()]),
    ]
