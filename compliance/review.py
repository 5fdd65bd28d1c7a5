"""People central office should look at: likely duplicates the roster keeps apart, and shared mailboxes.

Deduplication (:func:`compliance.roster.same_person_groups`) merges only what it can prove: one email with
agreeing names, or agreeing names with one phone and no second email. What it cannot prove goes here, never
into a silent merge: the same name with two emails, a surname variant ("Garcia Lopez" and "Garcia") at the
same school, the same phone under two emails, and one email shared by people of different names. Central
office gets the queue as a CSV and as a workbook's "Review" sheet; emails are shown masked
(``j***@example.com``), the roster ids find the people.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from openpyxl import Workbook

from compliance.report.workbook import safe_text
from compliance.roster import PersonRecord, given_names_compatible, names_compatible, normalize_name

REVIEW_HEADER = (
    "Reason", "Roster id A", "Name A", "Email A", "Site A", "Source A",
    "Roster id B", "Name B", "Email B", "Site B", "Source B",
)  # fmt: skip
# Formula triggers (spreadsheets open a CSV as a sheet): prefixed with an apostrophe.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class LikelyDuplicate:
    """Two people the roster keeps apart that may be one, or that share a mailbox; ``reason`` says which."""

    reason: str
    a: PersonRecord
    b: PersonRecord


def _family_first(rec: PersonRecord) -> str:
    words = normalize_name(rec.family_name).split()
    return words[0] if words else ""


def _sites(rec: PersonRecord) -> set[str]:
    return {s for s in (rec.site_id, *rec.also_sites) if s}


def _reason(a: PersonRecord, b: PersonRecord) -> str | None:
    ea, eb = a.email_normalized, b.email_normalized
    if ea and ea == eb:
        return None if names_compatible(a, b) else "shared email, different names: kept as two people"
    if not names_compatible(a, b):
        return None
    if a.phone and a.phone == b.phone:
        return "same phone and name, two emails"
    same_family = normalize_name(a.family_name) == normalize_name(b.family_name)
    if same_family and normalize_name(a.given_name) == normalize_name(b.given_name) and ea and eb:
        return "same name, two emails"
    if not same_family and _sites(a) & _sites(b):
        return "surname variant at the same site"
    return None


def likely_duplicates(people: Sequence[PersonRecord]) -> list[LikelyDuplicate]:
    """Pairs of deduplicated people for review, each once, in roster order.

    Blocked by email, phone and first family-name word so a district-wide roster compares only neighbours.
    """
    blocks: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, rec in enumerate(people):
        if rec.email_normalized:
            blocks[("email", rec.email_normalized)].append(i)
        if rec.phone:
            blocks[("phone", rec.phone)].append(i)
        first = _family_first(rec)
        if first:
            blocks[("family", first)].append(i)
    found: dict[tuple[int, int], str] = {}
    for (kind, _value), members in blocks.items():
        if len(members) < 2:
            continue
        if kind == "family" and len(members) > 200:
            # A common surname district-wide: compare within each site and given name only.
            sub: dict[tuple[str, str], list[int]] = defaultdict(list)
            for i in members:
                given = normalize_name(people[i].given_name).split()
                for site in _sites(people[i]) or {""}:
                    sub[(site, given[0] if given else "")].append(i)
            pairs: Iterable[tuple[int, int]] = (p for group in sub.values() for p in combinations(group, 2))
        else:
            pairs = combinations(members, 2)
        for i, j in pairs:
            key = (min(i, j), max(i, j))
            if key in found:
                continue
            a, b = people[key[0]], people[key[1]]
            if kind == "family" and not given_names_compatible(a.given_name, b.given_name):
                continue
            reason = _reason(a, b)
            if reason:
                found[key] = reason
    return [LikelyDuplicate(found[k], people[k[0]], people[k[1]]) for k in sorted(found)]


def masked_email(email: str | None) -> str:
    """``jane.doe@example.com`` -> ``j***@example.com``: enough to see two addresses differ."""
    if not email or "@" not in email:
        return ""
    local, domain = email.rsplit("@", 1)
    return f"{local[:1]}***@{domain}"


def _source(rec: PersonRecord) -> str:
    return "; ".join(f"{label}#{sheet}!{row}" if sheet else f"{label}!{row}" for label, sheet, row in rec.sources)


def review_rows(pairs: Sequence[LikelyDuplicate]) -> list[list[str]]:
    """The queue as rows under :data:`REVIEW_HEADER` (for the CSV and the workbook's review sheet)."""
    rows = []
    for pair in pairs:
        row = [pair.reason]
        for rec in (pair.a, pair.b):
            row += [rec.person_key, f"{rec.given_name} {rec.family_name}".strip(), masked_email(rec.email),
                    rec.site_id or "", _source(rec)]
        rows.append(row)
    return rows


def _csv_cell(text: str) -> str:
    return "'" + text if text and text[0] in _FORMULA else text


def review_csv(pairs: Sequence[LikelyDuplicate]) -> str:
    """The review queue as CSV text for central office (formula-looking text prefixed, never evaluated)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REVIEW_HEADER)
    for row in review_rows(pairs):
        writer.writerow([_csv_cell(v) for v in row])
    return out.getvalue()


def review_xlsx(pairs: Sequence[LikelyDuplicate]) -> bytes:
    """The review queue as a workbook with one "Review" sheet (outside text never evaluated)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Review"
    sheet.append([safe_text(sheet, h) for h in REVIEW_HEADER])
    for row in review_rows(pairs):
        sheet.append([safe_text(sheet, v) for v in row])
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
