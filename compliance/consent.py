"""Students from the SIS export, parental consent from school spreadsheets, and the consent rule.

The rule (AR 1114, as the district applies it): a student may appear for purpose P on date D only when a
parent consent for P is in force on D - signed on or before D, not revoked on or before D, signed within the
school year that contains D (the school year starts ``district.school_year_start``, 08-01 by default) - AND
the principal approved. Among a student's records the latest wins: by signed date, then by source order.
Records of one student with the same signed date but different answers are *conflicting duplicates*: they are
flagged (``conflict``) and the later one in source order still decides, so a person can look at the flag.

Reading a consent sheet (plain functions, no Prefect):

* parent consent: ``Y``, ``Yes``, ``X``, a check mark (✓ ✔ ☑), ``TRUE``, ``1``, ``Signed`` or a date (signed
  that day) mean yes; ``N``, ``No``, ``FALSE``, ``0`` or blank mean no; anything else is quarantined.
* principal approval: the same words, a date (approved that day), or the principal's initials (2-4 letters).
* purposes: per-purpose columns (Website / Web site, Social media / Social, Yearbook / Annual, Press / News
  media) marked like consent, or one column with a comma/semicolon/slash list of those words; "all" means
  every purpose.
* dates: typed Excel dates; numeric text month first as US offices write it (9/3/2026, 09/03/26, 9-3-2026,
  9.3.2026, optionally with a time) or ISO (2026-09-03, 2026/09/03); month names in one of
  :data:`DATE_FORMATS` ("Sep 3, 2026", "September 3 2026", "3 Sep 2026", "3-Sep-26", "Thursday, September 3,
  2026"; "Sept" and ordinals like "3rd" accepted); then a strict dateutil fallback that refuses text not
  stating day, month and year. Text without a digit ("TBD", "Fall") and impossible dates (9/31/2026) are
  unreadable: the row is quarantined, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.models import ConsentRecord, Student
from compliance.quarantine import Rejected
from compliance.tabular import (
    CellValue,
    FieldSpec,
    Limits,
    Source,
    SourceRow,
    cell_text,
    normalize_header,
    read_table,
)

CONSENT_JOB = "consent"
STUDENTS_JOB = "students"
PURPOSES: tuple[str, ...] = ("website", "social_media", "yearbook", "press")
Reason = Literal["ok", "no_consent", "revoked", "expired", "principal_missing", "purpose_not_covered"]

STUDENT_FIELDS: FieldSpec = {
    "student_id": ["student id", "student_id", "id", "sis id", "student number", "perm id"],
    "legal_first": ["legal first", "legal_first", "first name", "legal first name"],
    "legal_last": ["legal last", "legal_last", "last name", "legal last name"],
    "preferred_first": ["preferred first", "preferred_first", "nickname", "preferred first name"],
    "preferred_last": ["preferred last", "preferred_last", "preferred last name"],
    "grade": ["grade", "gr", "grade level"],
    "site_id": ["site id", "site_id", "school", "school id", "site"],
}

PURPOSE_SYNONYMS: Mapping[str, Sequence[str]] = {
    "website": [
        "website",
        "web site",
        "web",
        "school website",
        "internet",
        "online",
        "webpage",
        "web page",
        "site",
        "sitio web",
        "pagina web",
    ],
    "social_media": [
        "social media",
        "social",
        "socials",
        "facebook",
        "instagram",
        "twitter",
        "x",
        "social networks",
        "redes sociales",
    ],
    "yearbook": ["yearbook", "year book", "annual", "school annual", "anuario"],
    "press": ["press", "news", "news media", "media", "newspaper", "press release", "prensa", "tv"],
}

CONSENT_FIELDS: FieldSpec = {
    "student_id": [
        "student id",
        "student #",
        "student number",
        "id",
        "sis id",
        "student no",
        "perm id",
        "id #",
    ],
    "full_name": ["student name", "name", "student", "child", "child name", "nombre del estudiante"],
    "last_first": [
        "student (last, first)",
        "last, first",
        "name (last, first)",
        "student name (last, first)",
    ],
    "given_name": ["first name", "student first name", "first"],
    "family_name": ["last name", "student last name", "last"],
    "parent_consent": [
        "parent consent",
        "parent/guardian consent",
        "consent",
        "parent signed",
        "parent permission",
        "guardian consent",
        "photo consent",
        "parent signature",
        "media release",
        "permission",
        "consent given",
        "parent ok",
    ],
    "principal": [
        "principal approval",
        "principal approved",
        "principal",
        "principal sign off",
        "approved by principal",
        "principal ok",
        "admin approval",
        "principal signature",
        "principal initials",
        "admin ok",
        "director",
    ],
    "principal_date": [
        "principal date",
        "principal approval date",
        "date approved by principal",
        "date approved",
        "approval date",
        "principal approved on",
    ],
    "purposes": [
        "purposes",
        "purpose",
        "uses",
        "approved uses",
        "consent for",
        "media uses",
        "permitted uses",
        "allowed uses",
    ],
    "website": list(PURPOSE_SYNONYMS["website"][:2]) + ["website ok"],
    "social_media": ["social media", "social"],
    "yearbook": ["yearbook", "annual", "year book"],
    "press": ["press", "news media", "press/news"],
    "signed_date": [
        "date signed",
        "signed",
        "signed on",
        "signature date",
        "date",
        "consent date",
        "date received",
        "signed date",
        "fecha",
        "parent signed date",
        "parent signed (date)",
        "fecha de firma",
    ],
    "revoked_date": [
        "revoked",
        "revoked on",
        "date revoked",
        "revocation date",
        "withdrawn",
        "revoked date",
        "consent withdrawn",
    ],
    "grade": ["grade"],
}

# Numeric dates, matched by pattern (month first, as US offices write them); an impossible date (9/31/2026,
# 31/31/2026) is refused, never guessed. Two-digit years follow strptime's %y rule (69-99 -> 1900s).
_ISO_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_US_DATE = re.compile(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?: \d{1,2}:\d{2}(?::\d{2})?(?: ?[AaPp][Mm])?)?")
# Dates with month names, tried in this order with strptime.
DATE_FORMATS: tuple[str, ...] = (
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%B %d %Y",
    "%d %b %Y",
    "%d %B %Y",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b, %Y",
    "%A, %B %d, %Y",
    "%a, %b %d, %Y",
)

_YES = {
    "y",
    "yes",
    "x",
    "true",
    "1",
    "signed",
    "si",
    "ok",
    "approved",
    "agree",
    "granted",
    "consent",
    "on file",
}
_NO = {"n", "no", "false", "0", "declined", "denied", "refused", "none", "opt out", "opted out", "do not"}
_REFUSALS = {"declined", "refused", "denied", "revoked", "withdrawn"}
_CHECKS = {"✓", "✔", "☑", "✅", "√", "🗸"}
_INITIALS = re.compile(r"^[A-Za-z]{1,3}\.?\s?[A-Za-z]{1,3}\.?$")


# ------------------------------------------------------------------------------------------------------------
# Value parsing


def parse_date(value: CellValue) -> date | None:
    """A cell -> date, or None when it is not a date (see the module docstring for accepted forms)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = cell_text(value)
    if not text or not any(ch.isdigit() for ch in text):
        return None  # no digit, no date: "TBD", "Fall", "sometime in Sept"
    iso = _ISO_DATE.fullmatch(text)
    us = None if iso else _US_DATE.fullmatch(text)
    if iso or us:
        if iso:
            year, month, day = (int(g) for g in iso.groups())
        else:
            assert us is not None
            month, day, year = (int(g) for g in us.groups())
            if len(us.group(3)) == 2:
                year += 1900 if year >= 69 else 2000
        try:
            return date(year, month, day)
        except ValueError:
            return None
    text = re.sub(r"(?<=\d)(st|nd|rd|th)\b", "", text, flags=re.I)
    text = re.sub(r"\bSept\b\.?", "Sep", text, flags=re.I)
    text = " ".join(text.replace(",", ", ").split()).replace(" ,", ",")
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    from dateutil import parser as du

    try:
        # Parsing against two different defaults tells whether the text itself stated day, month and year.
        a = du.parse(text, default=datetime(1901, 1, 1), dayfirst=False)
        b = du.parse(text, default=datetime(1902, 2, 2), dayfirst=False)
    except (ValueError, OverflowError):
        return None
    return a.date() if a.date() == b.date() else None


def parse_mark(value: CellValue) -> tuple[bool | None, date | None]:
    """A yes/no cell -> (answer, date if the cell was a date). answer None means unreadable."""
    if isinstance(value, bool):
        return value, None
    when = parse_date(value) if not isinstance(value, int | float) else None
    if when is not None:
        return True, when
    text = cell_text(value)
    if not text:
        return False, None
    if any(mark in text for mark in _CHECKS):
        return True, None
    norm = normalize_header(text)
    if norm in _YES:
        return True, None
    words = set(norm.split())
    # "no firmó / declined", "No - see note": a leading no or a refusal word is a no.
    if norm in _NO or norm.split()[0] in ("no", "n") or words & _REFUSALS:
        return False, None
    return None, None


def school_year_of(day: date, school_year_start: str = "08-01") -> str:
    """'2026-2027' for any day from 08-01-2026 to 07-31-2027 (start configurable as 'MM-DD')."""
    month, dom = (int(x) for x in school_year_start.split("-"))
    start_year = day.year if (day.month, day.day) >= (month, dom) else day.year - 1
    return f"{start_year}-{start_year + 1}"


@lru_cache(maxsize=1)
def _purpose_choices() -> dict[str, str]:
    return {normalize_header(w): p for p, words in PURPOSE_SYNONYMS.items() for w in (p, *words)}


def parse_purposes(text: str) -> tuple[frozenset[str], list[str]]:
    """A purpose list ('Web site, Social; Annual') -> purposes, plus the words that matched nothing."""
    from rapidfuzz import fuzz, process

    choices = _purpose_choices()
    found: set[str] = set()
    unknown: list[str] = []
    for part in re.split(r"[,;/&+|\n]|\band\b", text, flags=re.I):
        norm = normalize_header(part)
        if not norm:
            continue
        if norm in ("all", "all purposes", "all uses", "any", "everything"):
            found.update(PURPOSES)
        elif norm in choices:
            found.add(choices[norm])
        else:
            best = process.extractOne(norm, list(choices), scorer=fuzz.ratio, score_cutoff=85)
            if best:
                found.add(choices[best[0]])
            else:
                unknown.append(part.strip())
    return frozenset(found), unknown


# ------------------------------------------------------------------------------------------------------------
# Students


@dataclass(frozen=True, slots=True)
class StudentRecord:
    student_id: str
    legal_first: str
    legal_last: str
    preferred_first: str | None
    preferred_last: str | None
    grade: str | None
    site_id: str | None
    source: tuple[str, int] = ("", 0)


@dataclass(slots=True)
class StudentsResult:
    students: list[StudentRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def read_students(
    source: Source,
    *,
    label: str | None = None,
    site_ids: Iterable[str] | None = None,
    limits: Limits | None = None,
) -> StudentsResult:
    """SIS export -> students; no id or legal name, a duplicate id or an unknown site is quarantined."""
    read = read_table(source, STUDENT_FIELDS, job=STUDENTS_JOB, label=label, limits=limits, min_fields=3)
    result = StudentsResult(rejected=list(read.rejected))
    known_sites = set(site_ids) if site_ids is not None else None
    seen: dict[str, int] = {}
    for row in (r for t in read.tables for r in t.rows):

        def reject(name: str, reason: str, raw: str | None, row: SourceRow = row) -> None:
            result.rejected.append(Rejected(STUDENTS_JOB, row.source, row.row, name, reason, raw, row.sheet))

        sid = row.text("student_id")
        bad = False
        if not sid or len(sid) > 40 or not re.fullmatch(r"[A-Za-z0-9-]+", sid):
            reject("student_id", "student id missing or malformed", sid or None)
            bad = True
        elif sid in seen:
            reject("student_id", f"duplicate student id (first on row {seen[sid]})", sid)
            bad = True
        for name in ("legal_first", "legal_last"):
            text = row.text(name)
            if not text or re.search(r"[\x00-\x1f\x7f]", text):
                reject(name, "legal name missing or contains control characters", text or None)
                bad = True
        site = row.text("site_id") or None
        if site and known_sites is not None and site not in known_sites:
            reject("site_id", "unknown site id", site)
            bad = True
        if bad:
            continue
        seen[sid] = row.row
        result.students.append(
            StudentRecord(
                student_id=sid,
                legal_first=row.text("legal_first"),
                legal_last=row.text("legal_last"),
                preferred_first=row.text("preferred_first") or None,
                preferred_last=row.text("preferred_last") or None,
                grade=row.text("grade") or None,
                site_id=site,
                source=(row.source, row.row),
            )
        )
    return result


def store_students(session: Session, students: Sequence[StudentRecord]) -> dict[str, int]:
    """Upsert students; students missing from the export become inactive. Idempotent."""
    existing = {s.id: s for s in session.scalars(select(Student))}
    counts = {"added": 0, "updated": 0, "deactivated": 0}
    seen = set()
    for rec in students:
        seen.add(rec.student_id)
        values = {
            "site_id": rec.site_id,
            "legal_first": rec.legal_first[:200],
            "legal_last": rec.legal_last[:200],
            "preferred_first": rec.preferred_first,
            "preferred_last": rec.preferred_last,
            "grade": (rec.grade or None) and rec.grade[:4],
            "active": True,
        }
        row = existing.get(rec.student_id)
        if row is None:
            session.add(Student(id=rec.student_id, **values))
            counts["added"] += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            counts["updated"] += 1
    for sid, row in existing.items():
        if sid not in seen and row.active:
            row.active = False
            counts["deactivated"] += 1
    session.flush()
    return counts


# ------------------------------------------------------------------------------------------------------------
# Consent records


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    """One validated consent row (the in-memory twin of models.ConsentRecord)."""

    student_id: str
    site_id: str | None
    purposes: frozenset[str]
    parent_consent: bool
    parent_signed_on: date | None
    principal_approved: bool
    principal_approved_on: date | None
    revoked_on: date | None
    school_year: str | None
    source_file: str
    source_sheet: str
    source_row: int
    conflict: bool = False

    def answers(self) -> tuple[Any, ...]:
        return (self.parent_consent, self.principal_approved, self.purposes, self.revoked_on)


@dataclass(slots=True)
class ConsentResult:
    records: list[ConsentEntry] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Rejected] = field(default_factory=list)  # sheets passed over (see tabular.read_table)


def consent_from_row(
    row: SourceRow,
    site_id: str | None,
    known_students: Mapping[str, Any] | set[str] | None,
    school_year_start: str = "08-01",
    purpose_columns: Sequence[str] = (),
) -> ConsentEntry | list[Rejected]:
    """Validate one consent row; returns the entry or the reasons it is quarantined."""
    problems: list[Rejected] = []

    def reject(name: str, reason: str, raw: CellValue) -> None:
        text = cell_text(raw) or None
        problems.append(Rejected(CONSENT_JOB, row.source, row.row, name, reason, text, row.sheet))

    sid = row.text("student_id")
    if not sid:
        reject("student_id", "student id is required", None)
    elif known_students is not None and sid not in known_students:
        reject("student_id", "student id not in the SIS roster", sid)
    if "student_id" in row.formula_fields:
        reject("student_id", "formula in cell (kept as text, not evaluated)", row.values.get("student_id"))

    signed_on: date | None = None
    declined_in_date_column = False
    raw_signed = row.values.get("signed_date")
    if cell_text(raw_signed):
        if "signed_date" in row.formula_fields:
            reject("signed_date", "formula in cell (kept as text, not evaluated)", raw_signed)
        else:
            signed_on = parse_date(raw_signed)
            if signed_on is None and not row.has("parent_consent") and parse_mark(raw_signed)[0] is False:
                # "Parent signed (date)" sheets write NO / declined there when the parent refused.
                declined_in_date_column = True
            elif signed_on is None:
                reject("signed_date", "unreadable date", raw_signed)

    purposes: set[str] = set()
    for purpose in purpose_columns:
        answer, _ = parse_mark(row.values.get(purpose))
        if answer is None:
            reject(purpose, "unreadable yes/no", row.values.get(purpose))
        elif answer:
            purposes.add(purpose)
    raw_list = row.text("purposes")
    if raw_list:
        found, unknown = parse_purposes(raw_list)
        purposes |= found
        if unknown:
            reject("purposes", f"unknown purpose(s): {', '.join(unknown)}", raw_list)

    parent: bool | None
    if row.has("parent_consent"):
        raw_parent = row.values.get("parent_consent")
        if "parent_consent" in row.formula_fields:
            reject("parent_consent", "formula in cell (kept as text, not evaluated)", raw_parent)
            parent = None
        else:
            parent, parent_date = parse_mark(raw_parent)
            if parent is None:
                reject("parent_consent", "unreadable consent answer", raw_parent)
            if parent_date is not None and not cell_text(raw_signed):
                signed_on = parent_date  # a date in the consent column: signed that day
    else:
        # No consent column: a signed date (or a marked purpose) is the consent, a "no" written there is not.
        parent = not declined_in_date_column and (signed_on is not None or bool(purposes))
    if parent and signed_on is None and not cell_text(raw_signed) and not problems:
        reject("signed_date", "consent marked but no date signed: cannot tell which school year", None)
    if parent and not purpose_columns and not row.has("purposes"):
        purposes = set(PURPOSES)  # a bare "consent: yes" form covers every purpose

    principal = False
    principal_on: date | None = None
    raw_principal = row.values.get("principal")
    if cell_text(raw_principal):
        answer, principal_on = parse_mark(raw_principal)
        if answer is None and "principal" not in row.formula_fields and _INITIALS.match(cell_text(raw_principal)):
            answer = True  # the principal initialled the form
        if answer is None:
            reject("principal", "unreadable principal approval", raw_principal)
        principal = bool(answer)
    raw_principal_date = row.values.get("principal_date")
    if cell_text(raw_principal_date):
        principal_on = parse_date(raw_principal_date)
        if principal_on is None:
            reject("principal_date", "unreadable date", raw_principal_date)
        elif not row.has("principal"):
            principal = True

    revoked_on: date | None = None
    raw_revoked = row.values.get("revoked_date")
    if cell_text(raw_revoked):
        revoked_on = parse_date(raw_revoked)
        if revoked_on is None:
            answer, _ = parse_mark(raw_revoked)
            if answer is False:
                revoked_on = None  # "No" in a revoked column: not revoked
            else:
                reject("revoked_date", "unreadable date", raw_revoked)

    if problems:
        return problems
    return ConsentEntry(
        student_id=sid,
        site_id=site_id,
        purposes=frozenset(purposes) if parent else frozenset(),
        parent_consent=bool(parent),
        parent_signed_on=signed_on,
        principal_approved=principal,
        principal_approved_on=principal_on,
        revoked_on=revoked_on,
        school_year=school_year_of(signed_on, school_year_start) if signed_on else None,
        source_file=row.source,
        source_sheet=row.sheet,
        source_row=row.row,
    )


def read_consents(
    source: Source,
    site_id: str | None,
    known_students: Mapping[str, Any] | set[str] | None,
    *,
    label: str | None = None,
    school_year_start: str = "08-01",
    limits: Limits | None = None,
) -> ConsentResult:
    """One school's consent spreadsheet (path, or ("sheets:<id>", values)) -> entries + quarantine."""
    read = read_table(source, CONSENT_FIELDS, job=CONSENT_JOB, label=label, limits=limits)
    result = ConsentResult(rejected=list(read.rejected), skipped=list(read.skipped))
    for table in read.tables:
        if "student_id" not in table.columns:
            result.rejected.append(
                Rejected(
                    CONSENT_JOB,
                    table.source,
                    table.header_row,
                    "student_id",
                    "no student id column",
                    " | ".join(table.headers)[:500],
                    table.sheet,
                )
            )
            continue
        purpose_columns = [p for p in PURPOSES if p in table.columns]
        for row in table.rows:
            outcome = consent_from_row(row, site_id, known_students, school_year_start, purpose_columns)
            if isinstance(outcome, ConsentEntry):
                result.records.append(outcome)
            else:
                result.rejected.extend(outcome)
    result.records = flag_conflicts(result.records)
    return result


def flag_conflicts(records: Sequence[ConsentEntry]) -> list[ConsentEntry]:
    """Mark records of one student with the same signed date but different answers as ``conflict``."""
    groups: dict[tuple[str, date | None], list[int]] = {}
    for i, rec in enumerate(records):
        groups.setdefault((rec.student_id, rec.parent_signed_on), []).append(i)
    out = list(records)
    for (_sid, signed), idx in groups.items():
        if signed is None or len(idx) < 2:
            continue
        if len({records[i].answers() for i in idx}) > 1:
            for i in idx:
                out[i] = replace(out[i], conflict=True)
    return out


# ------------------------------------------------------------------------------------------------------------
# The rule


class ConsentLike(Protocol):
    parent_consent: bool
    parent_signed_on: date | None
    principal_approved: bool
    revoked_on: date | None

    @property
    def purposes(self) -> Any: ...


@dataclass(frozen=True, slots=True)
class ConsentDecision:
    allowed: bool
    reason: Reason
    record: Any = None  # the deciding record (ConsentEntry or models.ConsentRecord), None when there is none
    conflict: bool = False  # the deciding record has a conflicting duplicate


def latest_record(records: Sequence[ConsentLike], on: date) -> tuple[Any, bool]:
    """The record deciding on ``on``: latest signed on or before it, then last in the given (source) order.

    Returns (record or None, conflict) where conflict means another record of the same signed date disagrees.
    Records without a signed date cannot be placed in time and decide only when no dated record exists.
    """
    dated = [(r.parent_signed_on, i, r) for i, r in enumerate(records) if r.parent_signed_on is not None]
    in_time = [t for t in dated if t[0] <= on]
    if in_time:
        signed, _, best = max(in_time, key=lambda t: (t[0], t[1]))
        same = [r for s, _, r in in_time if s == signed]
        conflict = len({_answers(r) for r in same}) > 1 or bool(getattr(best, "conflict", False))
        return best, conflict
    if dated:
        return None, False  # only future-dated records: nothing was in force yet
    undated = list(records)
    if not undated:
        return None, False
    return undated[-1], bool(getattr(undated[-1], "conflict", False))


def _answers(r: ConsentLike) -> tuple[Any, ...]:
    return (r.parent_consent, r.principal_approved, frozenset(r.purposes or ()), r.revoked_on)


def consent_status(
    records_for_student: Sequence[ConsentLike], purpose: str, on: date, school_year_start: str = "08-01"
) -> ConsentDecision:
    """Whether a student may appear for ``purpose`` on ``on`` and, if not, why.

    Reasons, checked in this order on the latest record (see :func:`latest_record`): no_consent (no record in
    force, or the parent said no), revoked (revoked on or before ``on``), expired (signed in an earlier school
    year), purpose_not_covered, principal_missing; otherwise ok.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    record, conflict = latest_record(records_for_student, on)
    if record is None or not record.parent_consent:
        return ConsentDecision(False, "no_consent", record, conflict)
    if record.revoked_on is not None and record.revoked_on <= on:
        return ConsentDecision(False, "revoked", record, conflict)
    if record.parent_signed_on is None or (
        school_year_of(record.parent_signed_on, school_year_start) != school_year_of(on, school_year_start)
    ):
        return ConsentDecision(False, "expired", record, conflict)
    if purpose not in set(record.purposes or ()):
        return ConsentDecision(False, "purpose_not_covered", record, conflict)
    if not record.principal_approved:
        return ConsentDecision(False, "principal_missing", record, conflict)
    return ConsentDecision(True, "ok", record, conflict)


def consent_statuses(
    records: Iterable[ConsentLike],
    student_ids: Iterable[str],
    purpose: str,
    on: date,
    school_year_start: str = "08-01",
) -> dict[str, ConsentDecision]:
    """:func:`consent_status` for many students at once (records in source order, any student)."""
    by_student: dict[str, list[ConsentLike]] = {}
    for rec in records:
        by_student.setdefault(rec.student_id, []).append(rec)  # type: ignore[attr-defined]
    return {sid: consent_status(by_student.get(sid, []), purpose, on, school_year_start) for sid in student_ids}


# ------------------------------------------------------------------------------------------------------------
# Store


_STORED = (
    "student_id",
    "site_id",
    "parent_consent",
    "parent_signed_on",
    "principal_approved",
    "principal_approved_on",
    "revoked_on",
    "school_year",
    "conflict",
)


def store_consents(session: Session, records: Sequence[ConsentEntry], *, prune: bool = True) -> dict[str, int]:
    """Upsert consent rows keyed by (source_file, source_sheet, source_row); re-running changes nothing.

    With ``prune`` (default), rows stored earlier from a source that is in ``records`` but whose row is no
    longer there are deleted: a school that deletes a line from its sheet has withdrawn that record.
    """
    counts = {"added": 0, "updated": 0, "unchanged": 0, "removed": 0}
    files = {r.source_file for r in records}
    existing: dict[tuple[str, str, int], ConsentRecord] = {}
    if files:
        for row in session.scalars(select(ConsentRecord).where(ConsentRecord.source_file.in_(files))):
            existing[(row.source_file, row.source_sheet, row.source_row)] = row
    seen = set()
    for rec in records:
        key = (rec.source_file, rec.source_sheet, rec.source_row)
        seen.add(key)
        values = {name: getattr(rec, name) for name in _STORED}
        values["purposes"] = sorted(rec.purposes)
        row = existing.get(key)
        if row is None:
            session.add(
                ConsentRecord(
                    source_file=rec.source_file,
                    source_sheet=rec.source_sheet,
                    source_row=rec.source_row,
                    **values,
                )
            )
            counts["added"] += 1
        elif any(getattr(row, k) != v for k, v in values.items()):
            for k, v in values.items():
                setattr(row, k, v)
            counts["updated"] += 1
        else:
            counts["unchanged"] += 1
    if prune:
        for key, row in existing.items():
            if key not in seen:
                session.delete(row)
                counts["removed"] += 1
    session.flush()
    return counts


def load_consents(session: Session, student_ids: Iterable[str] | None = None) -> dict[str, list[ConsentRecord]]:
    """Stored consent rows per student in source order (file, sheet, row), for :func:`consent_status`."""
    stmt = select(ConsentRecord).order_by(
        ConsentRecord.source_file, ConsentRecord.source_sheet, ConsentRecord.source_row
    )
    if student_ids is not None:
        stmt = stmt.where(ConsentRecord.student_id.in_(list(student_ids)))
    out: dict[str, list[ConsentRecord]] = {}
    for row in session.scalars(stmt):
        out.setdefault(row.student_id, []).append(row)
    return out
