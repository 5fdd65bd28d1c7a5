"""Paper acknowledgements: the office's spreadsheet of signed forms kept in a binder, matched to roster people.

Each row names a person, their school, their category and the date signed. A row is matched to exactly one
active person at that school by name (accents, hyphens and nicknames do not matter), using the category when
two people share a name; anything else is rejected with the file, row and field. A row is known by its
content (person, school, name, date), not by its file and row number, so the same binder re-saved, re-sorted
or extended next year counts each signed line once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from rapidfuzz import fuzz, process

from compliance.acknowledgements import RosterEntry, name_matches, proxy_phrase
from compliance.columns import misfits
from compliance.consent import parse_date
from compliance.models import Acknowledgement
from compliance.quarantine import Rejected
from compliance.roster import map_category, normalize_name
from compliance.settings import Site
from compliance.tabular import Source, SourceRow, read_table

JOB = "paper"
PAPER_FIELDS = {
    "name": ["name", "full name", "person", "signed by", "nombre"],
    "site": ["school", "site", "location", "escuela"],
    "category": ["category", "role", "type", "categoria"],
    "date_signed": ["date signed", "signed", "date", "signed on", "fecha"],
    "received_by": ["received by", "collected by", "staff"],
}


@dataclass(frozen=True, slots=True)
class PaperAcknowledgement:
    person_id: int
    signed_name: str
    signed_on: date
    # "paper:<hash of the line's person, school, category and date>": the same signed line in a re-saved or
    # re-sorted binder is the same reference (counted once); a line signed next year is a new one.
    reference: str
    where: str = ""  # "<file>#<sheet>!<row>", for messages


@dataclass(frozen=True, slots=True)
class PaperPerson:
    entry: RosterEntry
    site_id: str | None
    category: str


def _reject(row: SourceRow, field: str, reason: str, raw: str | None) -> Rejected:
    return Rejected(JOB, row.source, row.row, field, reason, raw, row.sheet)


def site_of(text: str, sites: Sequence[Site]) -> str | None:
    """A school as people write it ("Lincoln", "lincoln-es", "Lincoln Elementary School") -> site id."""
    norm = normalize_name(text)
    if not norm:
        return None
    for site in sites:
        if norm in (normalize_name(site.id), normalize_name(site.name)):
            return site.id
    starts = [s.id for s in sites if normalize_name(s.name).startswith(norm + " ")]
    if len(starts) == 1:
        return starts[0]
    best = process.extractOne(norm, {s.id: normalize_name(s.name) for s in sites}, scorer=fuzz.token_set_ratio)
    return best[2] if best and best[1] >= 90 else None


def read_paper_acknowledgements(
    source: Source, people: Sequence[PaperPerson], sites: Sequence[Site], *, label: str | None = None
) -> tuple[list[PaperAcknowledgement], list[Rejected]]:
    """Binder spreadsheet -> acknowledgements for known people, and rejects naming file, row and field."""
    read = read_table(source, PAPER_FIELDS, job=JOB, label=label)
    found: list[PaperAcknowledgement] = []
    rejected = list(read.rejected)
    by_site: dict[str | None, list[PaperPerson]] = {}
    for p in people:
        by_site.setdefault(p.site_id, []).append(p)
    for table in read.tables:
        for row in table.rows:
            name = row.text("name").strip()
            if not name:
                rejected.append(_reject(row, "name", "no name", None))
                continue
            too_long = misfits(Acknowledgement, {"signed_name": name})
            if too_long:
                rejected.append(_reject(row, "name", f"name {too_long[0].reason}", name))
                continue
            signed_on = parse_date(row.values.get("date_signed"))
            if signed_on is None:
                rejected.append(_reject(row, "date_signed", "not a date", row.text("date_signed")))
                continue
            phrase = proxy_phrase(name)
            if phrase:  # a proxy signature acknowledges nobody: central office reviews it
                rejected.append(_reject(row, "name", f"needs review: signed on behalf of someone else ('{phrase}')",
                                        name))
                continue
            site_text = row.text("site")
            site_id = site_of(site_text, sites)
            if site_id is None:
                rejected.append(_reject(row, "site", "unknown school", site_text))
                continue
            candidates = [
                p for p in by_site.get(site_id, [])
                if name_matches(name, p.entry.given_name, p.entry.family_name)
            ]
            category = map_category(row.text("category")) or normalize_name(row.text("category")).replace(" ", "_")
            if len(candidates) > 1 and category:
                candidates = [p for p in candidates if p.category == category] or candidates
            if len(candidates) != 1:
                why = "no active person of that name at the school" if not candidates else "name matches several people"
                rejected.append(_reject(row, "name", why, name))
                continue
            person = candidates[0].entry
            line = "\x1f".join((person.person_key, site_id, normalize_name(name), signed_on.isoformat()))
            found.append(
                PaperAcknowledgement(
                    person_id=person.person_id,
                    signed_name=name,
                    signed_on=signed_on,
                    reference=f"paper:{hashlib.sha256(line.encode()).hexdigest()[:32]}",
                    where=f"{table.source}#{table.sheet}!{row.row}",
                )
            )
    return found, rejected


def signed_by(found: Sequence[PaperAcknowledgement], day: date) -> tuple[list[PaperAcknowledgement],
                                                                          list[PaperAcknowledgement]]:
    """(lines signed on or before ``day``, lines dated after it): a line dated in the future is not a signature
    yet, whatever the binder says; it is recorded on the night of its date."""
    return [p for p in found if p.signed_on <= day], [p for p in found if p.signed_on > day]

