"""A campaign's print list: who gets the policy on paper (paper-only people and those with no usable email).

The office prints and hands out these copies, so the list names people: it is an output file for staff in the
run's output folder, linked from the run's artifact, never copied into a log or an artifact. Names are outside
text and go through the workbook's formula-safe writer (a name starting with "=" stays text in Excel).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.worksheet.properties import PageSetupProperties
from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.artifact_text import SKIP_REASONS, category_words, print_list_filename, site_label
from compliance.campaign import CampaignPlan, Skipped
from compliance.models import Person
from compliance.report.workbook import safe_text
from compliance.settings import Settings

COLUMNS = (("Family name", 24), ("Given name", 20), ("Site", 40), ("Category", 24), ("Language", 10),
           ("Why on paper", 44), ("Copy handed out (date, initials)", 30))  # fmt: skip
LANGUAGES = {"en": "English", "es": "Spanish"}


def write_print_list(
    session: Session, people: list[Skipped], site_names: dict[str, str], path: Path, *, title: str
) -> Path:
    """Write the print list of ``people`` (a plan's ``print_list``) to ``path``, by site then name, atomically.

    One row per person with a blank column for whoever hands the copy out, landscape and one page wide.
    """
    why = {s.person_id: s.reason for s in people}
    rows = session.execute(
        select(Person.id, Person.family_name, Person.given_name, Person.site_id, Person.category,
               Person.preferred_language).where(Person.id.in_(list(why)))
    ).all() if why else []  # fmt: skip
    rows = sorted(rows, key=lambda r: (site_label(r.site_id, site_names), r.family_name.lower(),
                                       r.given_name.lower(), r.id))  # fmt: skip
    wb = Workbook()
    ws = wb.active
    ws.title = "Print list"
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=14)
    ws.append([f"{len(rows):,} people to hand a paper copy of the policy and its acknowledgement form"])
    header_row = 3
    ws.append([name for name, _ in COLUMNS])
    fill = PatternFill("solid", start_color="1F3864", end_color="1F3864")
    for cell in ws[header_row]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    for r in rows:
        ws.append([
            safe_text(ws, r.family_name), safe_text(ws, r.given_name), safe_text(ws, site_label(r.site_id, site_names)),
            category_words(r.category), LANGUAGES.get(r.preferred_language, "English"),
            SKIP_REASONS.get(why[r.id], why[r.id]), None,
        ])  # fmt: skip
    for idx, (_, width) in enumerate(COLUMNS, 1):
        ws.column_dimensions[ws.cell(row=header_row, column=idx).column_letter].width = width
    ws.freeze_panes = f"A{header_row + 1}"
    ws.print_title_rows = f"{header_row}:{header_row}"
    ws.page_setup.orientation = "landscape"
    ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
    ws.sheet_properties.pageSetUpPr = PageSetupProperties(fitToPage=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    wb.save(tmp)
    os.replace(tmp, path)
    return path


def write_campaign_print_list(
    session: Session, plan: CampaignPlan, settings: Settings, campaign_name: str, now: datetime
) -> str | None:
    """The plan's print list under the output folder (``print-list-<campaign>-<date>.xlsx``, the district's
    date); None when nobody needs paper. The path is what the run's artifact links to."""
    if not plan.print_list:
        return None
    day = now.astimezone(settings.tz).date()
    path = Path(settings.out_dir) / print_list_filename(campaign_name, day)
    names = {s.id: s.name for s in settings.sites}
    title = f"Print list: {campaign_name} ({day.isoformat()})"
    return str(write_print_list(session, plan.print_list, names, path, title=title))
