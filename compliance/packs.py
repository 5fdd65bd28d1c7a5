"""Workbooks attached to follow-up messages: the printable paper pack and the full list of a long digest.

A site administrator's digest names people without email (paper only, or no usable address); the pack gives
one pre-filled paper acknowledgement form per such person, one sheet each, set to print on one page, and a
"Return list" sheet in the columns the paper import reads (name, school, category, date signed), so the
signed forms come back to central office as a binder the nightly job can read. A digest or escalation whose
list is longer than ``reminders.inline_list_max`` carries the whole list as a workbook instead of in the body.

Every cell of outside text goes through :func:`compliance.report.workbook.safe_text` (never a formula).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from compliance.mail import Attachment
from compliance.report.workbook import safe_text
from compliance.vocabulary import DeliveryKind, PersonCategory

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PAPER_STATEMENT = "I have read the policy and will follow it."
_CATEGORY_LABELS = {c.value: c.label("en") for c in PersonCategory}


def _label(category: str) -> str:
    return _CATEGORY_LABELS.get(category, category)


def _bytes(book: Workbook) -> bytes:
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def paper_pack(site_name: str, policy_title: str, people: Sequence[Mapping[str, Any]], district_name: str) -> bytes:
    """One pre-filled paper acknowledgement form per person (a sheet each) and the return list, as xlsx."""
    book = Workbook()
    back = book.active
    back.title = "Return list"
    back.append([safe_text(back, h) for h in ("Name", "School", "Category", "Date signed", "Roster id")])
    for p in people:
        back.append([safe_text(back, v) for v in (p["name"], site_name, _label(p["category"]), None, p["roster_id"])])
    for number, p in enumerate(people, start=1):
        form = book.create_sheet(f"Form {number}")
        rows: list[tuple[str, str | None]] = [
            (district_name, None),
            (f"Acknowledgement of {policy_title}", None),
            ("", None),
            ("Name", p["name"]),
            ("School", site_name),
            ("Category", _label(p["category"])),
            ("Roster id", p["roster_id"]),
            ("", None),
            (PAPER_STATEMENT, None),
            ("", None),
            ("Signature", "______________________________"),
            ("Name as signed", "______________________________"),
            ("Date signed", "____ / ____ / ________"),
            ("", None),
            ("Received by (school office)", "______________________________"),
        ]
        for label, value in rows:
            form.append([safe_text(form, label), safe_text(form, value)])
        form["A1"].font = Font(bold=True, size=14)
        form["A2"].font = Font(bold=True, size=12)
        form.column_dimensions["A"].width = 30
        form.column_dimensions["B"].width = 45
        for cell in form["B"]:
            cell.alignment = Alignment(wrap_text=True)
        form.page_setup.orientation = "portrait"
        form.page_setup.fitToWidth = 1
        form.page_setup.fitToHeight = 1
        form.sheet_properties.pageSetUpPr.fitToPage = True
    return _bytes(book)


def people_list(people: Sequence[Mapping[str, Any]], *, with_site: bool) -> bytes:
    """The full list of a long digest or escalation: one row per person, the no-email mark included."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Outstanding"
    header = ["Name", *(["School"] if with_site else []), "Category", "Days outstanding", "No email", "Roster id"]
    sheet.append([safe_text(sheet, h) for h in header])
    for p in people:
        values = [p["name"], *([p.get("site_name", "")] if with_site else []), _label(p["category"]),
                  p["days_outstanding"], "yes" if p.get("no_email") else "", p.get("roster_id", "")]
        sheet.append([v if isinstance(v, int) else safe_text(sheet, v) for v in values])
    sheet.freeze_panes = "A2"
    return _bytes(book)


def follow_up_attachments(kind: str, variables: Mapping[str, Any], district_name: str) -> list[Attachment]:
    """What a planned digest or escalation carries, rebuilt from its stored context (the same every resend)."""
    people: list[Mapping[str, Any]] = list(variables.get("people") or [])
    as_of = str(variables.get("as_of") or "")
    attachments: list[Attachment] = []
    if kind == DeliveryKind.SITE_DIGEST:
        paper = [p for p in people if p.get("no_email")]
        if paper:
            attachments.append(Attachment(
                f"paper-forms-{as_of}.xlsx",
                paper_pack(str(variables.get("site_name", "")), str(variables.get("policy_title", "")), paper,
                           district_name),
                XLSX,
            ))
    if kind in (DeliveryKind.SITE_DIGEST, DeliveryKind.SUPERINTENDENT_ESCALATION) and not variables.get(
        "inline", True
    ):
        attachments.append(Attachment(
            f"outstanding-{as_of}.xlsx",
            people_list(people, with_site=kind == DeliveryKind.SUPERINTENDENT_ESCALATION),
            XLSX,
        ))
    return attachments
