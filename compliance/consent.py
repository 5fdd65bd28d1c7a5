"""Students from the SIS export, parental consent from school spreadsheets, and the consent rules.

The rules (AR 1114 as the district applies it; README "Consent rules" and the report's Definitions sheet carry
the same text, :data:`CONSENT_RULES`):

1. A student may be shown or named for purpose P (website, social media, yearbook, press, video) only with a
   parent/guardian consent covering P AND the principal's approval, both in force on the day judged.
2. Consent holds for the school year it was signed in (the year starts on ``district.school_year_start``,
   07-01 by default); a signature dated after the day judged does not count.
3. All records of a student, from every file and sheet, form one history ordered by date: a revocation dated
   on or before the day judged cancels every grant signed before it, in any file; a later grant grants again;
   a revocation and a grant on the same day: the revocation wins. Either guardian's revocation revokes.
4. Principal approval is an affirmative mark only (:func:`parse_principal`); unusual values are reported.
5. A row without a student id is applied when its name matches exactly one student at that school (and
   grade, when given); otherwise it is quarantined with the candidates counted (:class:`Roster`).
6. A row whose id exists but whose name is not a form of that student's SIS name is quarantined.
7. Purposes come from Y/N columns or a list in one cell, English or Spanish; a form with no purposes grants
   the profile's ``default_purposes`` for its source, or is quarantined as ambiguous.
8. FERPA directory-information opt-out lists are a consent source: an opt-out dated on or before the day
   judged overrides every grant signed before it, for every purpose.
9. Every decision names its rule and the records it rests on (file, sheet, row): :class:`ConsentDecision`.

Reading a consent sheet (plain functions, no Prefect), headers in English or Spanish:

* parent consent: ``Y``, ``Yes``, ``Sí``, ``X``, a check mark (✓ ✔ ☑), ``TRUE``, ``1``, ``Signed`` or a date
  (signed that day) mean yes; ``N``, ``No``, ``FALSE``, ``0`` or blank mean no; anything else is quarantined.
* purposes: per-purpose columns (Website / Sitio web, Social media / Redes sociales, Yearbook / Anuario,
  Press / Prensa, Video) marked like consent, or one column with a comma/semicolon/slash list of those words;
  "all" means every purpose.
* dates: typed Excel dates; numeric text month first as US offices write it (9/3/2026, 09/03/26, 9-3-2026,
  9.3.2026, optionally with a time) or ISO (2026-09-03, 2026/09/03); month names in one of
  :data:`DATE_FORMATS` ("Sep 3, 2026", "September 3 2026", "3 Sep 2026", "3-Sep-26", "Thursday, September 3,
  2026"; "Sept" and ordinals like "3rd" accepted; Spanish month names too, "3 de septiembre de 2026"); then a
  strict dateutil fallback that refuses text not stating day, month and year. Text without a digit ("TBD",
  "Fall") and impossible dates (9/31/2026) are unreadable: the row is quarantined, never guessed.
"""

from __future__ import annotations

import gc
import hashlib
import re
import threading
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from rapidfuzz.distance import OSA
from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.columns import fit
from compliance.languages import language_code
from compliance.models import ConsentRecord, Student
from compliance.photos.matching import FUZZY_MIN_LEN, SURNAME_PARTICLES, fold, nickname_map
from compliance.quarantine import Rejected
from compliance.roster import normalize_email, normalize_phone
from compliance.settings import CONSENT_PURPOSES, DEFAULT_SCHOOL_YEAR_START, Settings
from compliance.store import Store
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
PURPOSES: tuple[str, ...] = CONSENT_PURPOSES
Reason = Literal["ok", "no_consent", "revoked", "opted_out", "expired", "principal_missing", "purpose_not_covered"]

# The rules as the README and the report's Definitions sheet state them: (term, meaning, how it is applied).
CONSENT_RULES: tuple[tuple[str, str, str], ...] = (
    (
        "Consent rule 1",
        "Who may be shown or named.",
        "A student may be shown or named for purpose P (website, social media, yearbook, press, video) only with "
        "a parent/guardian consent covering P AND the principal's approval, both in force on the day judged.",
    ),
    (
        "Consent rule 2",
        "How long consent holds.",
        "Consent holds for the school year in which it was signed. The school year starts on the profile's "
        "school_year_start (default 07-01, California); the audit command takes --school-year-start. A "
        "signature dated after the day judged does not count.",
    ),
    (
        "Consent rule 3",
        "One history per student.",
        "All records of a student, from every file and sheet, form one history ordered by date: a revocation "
        "dated on or before the day judged cancels every grant signed before it, in any file; a grant signed "
        "after a revocation grants again; a revocation and a grant on the same day: the revocation wins. With "
        "two guardians, either one's revocation revokes. A dated 'no' form counts as a refusal the same way.",
    ),
    (
        "Consent rule 4",
        "What counts as principal approval.",
        "An affirmative mark only: Y, Yes, Sí, X, ✓, TRUE, OK/Approved, a date (approved that day) or 2-4 "
        "letter initials. TBD, pending, N/A, ?, ask, no, N and blank are not approval; the unusual ones are "
        "listed in Data Quality with file, row and value. An approval dated after the day judged is not yet "
        "in force.",
    ),
    (
        "Consent rule 5",
        "Rows without a student id.",
        "Applied when the name (Last, First or First Last, with the usual accent, hyphen, nickname and "
        "two-surname variants) matches exactly one student at that school (and grade, when given); otherwise "
        "quarantined with the number of candidates.",
    ),
    (
        "Consent rule 6",
        "Id and name disagree.",
        "A row whose id exists but whose name is not a form of that student's SIS name (not a nickname, "
        "preferred name, accent, hyphen or one-letter variant) is not applied: quarantined as an id/name "
        "mismatch.",
    ),
    (
        "Consent rule 7",
        "Which purposes a form covers.",
        "From Y/N columns or a list in one cell ('website; yearbook'), in English or Spanish ('Sitio web', "
        "'Redes sociales', 'Anuario', 'Prensa', 'Video'). A form naming no purposes grants the profile's "
        "default_purposes for that source; when the profile names none it is quarantined as ambiguous.",
    ),
    (
        "Consent rule 8",
        "Directory-information opt-outs (FERPA).",
        "Opt-out lists are a consent source: an opt-out dated on or before the day judged overrides every "
        "grant signed before it, for every purpose; a consent signed after it grants again.",
    ),
    (
        "Consent rule 9",
        "Every judgement can be checked.",
        "The reason of every judgement names the rule and the record(s) it rests on (file, sheet, row), in "
        "the findings' basis column.",
    ),
)

STUDENT_FIELDS: FieldSpec = {
    "student_id": ["student id", "student_id", "id", "sis id", "student number", "perm id"],
    "legal_first": ["legal first", "legal_first", "first name", "legal first name"],
    "legal_last": ["legal last", "legal_last", "last name", "legal last name"],
    "preferred_first": ["preferred first", "preferred_first", "nickname", "preferred first name"],
    "preferred_last": ["preferred last", "preferred_last", "preferred last name"],
    "grade": ["grade", "gr", "grade level"],
    "site_id": ["site id", "site_id", "school", "school id", "site"],
    "home_language": ["home language", "home_language", "language", "primary language", "idioma del hogar",
                      "idioma"],
    "guardian_email": ["guardian email", "parent email", "parent/guardian email", "guardian_email",
                       "correo del padre"],
    "guardian_phone": ["guardian phone", "parent phone", "parent/guardian phone", "guardian_phone",
                       "home phone", "telefono del padre"],
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
    "press": ["press", "news", "news media", "media", "newspaper", "press release", "prensa", "periodico", "tv"],
    "video": ["video", "videos", "film", "filming", "video recording", "grabacion", "grabaciones", "videograbacion"],
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
        "id del estudiante",
        "numero de estudiante",
        "numero del estudiante",
        "no de estudiante",
        "numero de identificacion",
        "matricula",
    ],
    "full_name": [
        "student name",
        "name",
        "student",
        "child",
        "child name",
        "nombre del estudiante",
        "nombre del alumno",
        "nombre",
        "estudiante",
        "alumno",
    ],
    "last_first": [
        "student (last, first)",
        "last, first",
        "name (last, first)",
        "student name (last, first)",
        "apellido, nombre",
        "estudiante (apellido, nombre)",
    ],
    "given_name": ["first name", "student first name", "first", "nombre de pila", "primer nombre"],
    "family_name": ["last name", "student last name", "last", "apellido", "apellidos", "apellido del estudiante"],
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
        "consentimiento",
        "consentimiento de los padres",
        "consentimiento del padre",
        "permiso de los padres",
        "autorizacion",
        "autorizacion de los padres",
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
        "directora",
        "director a",
        "aprobacion del director",
        "aprobacion del director a",
        "aprobacion de la directora",
        "visto bueno del director",
    ],
    "principal_date": [
        "principal date",
        "principal approval date",
        "date approved by principal",
        "date approved",
        "approval date",
        "principal approved on",
        "fecha de aprobacion",
        "fecha de aprobacion del director",
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
        "usos",
        "usos permitidos",
        "propositos",
        "permisos",
    ],
    "website": list(PURPOSE_SYNONYMS["website"][:2]) + ["website ok", "sitio web", "pagina web"],
    "social_media": ["social media", "social", "redes sociales"],
    "yearbook": ["yearbook", "annual", "year book", "anuario"],
    "press": ["press", "news media", "press/news", "prensa"],
    "video": ["video", "videos", "video ok"],
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
        "fecha firmada",
        "firmado el",
    ],
    "revoked_date": [
        "revoked",
        "revoked on",
        "date revoked",
        "revocation date",
        "withdrawn",
        "revoked date",
        "consent withdrawn",
        "revocado",
        "revocado el",
        "fecha de revocacion",
        "revocacion",
        "retirado",
    ],
    "opt_out_date": [
        "opt out date",
        "opt out",
        "opted out",
        "opted out on",
        "date opted out",
        "directory opt out",
        "directory opt out date",
        "directory information opt out",
        "ferpa opt out",
        "ferpa opt out date",
        "fecha de exclusion",
        "exclusion del directorio",
    ],
    "grade": ["grade", "grado", "grade level"],
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

_SPANISH_MONTHS = {
    "enero": "January", "febrero": "February", "marzo": "March", "abril": "April", "mayo": "May",
    "junio": "June", "julio": "July", "agosto": "August", "septiembre": "September", "setiembre": "September",
    "octubre": "October", "noviembre": "November", "diciembre": "December",
}  # fmt: skip
_SPANISH_MONTH = re.compile(r"\b(" + "|".join(_SPANISH_MONTHS) + r")\b", re.I)

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


# ------------------------------------------------------------------------------------------------------------
# Value parsing


def parse_date(value: CellValue) -> date | None:
    """A cell -> date, or None when it is not a date (see the module docstring for accepted forms)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return _parse_date_text(cell_text(value))


@lru_cache(maxsize=65536)
def _parse_date_text(text: str) -> date | None:
    # Cached: a district's forms carry a few hundred distinct date texts over hundreds of thousands of rows.
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
    if _SPANISH_MONTH.search(text):
        # "3 de septiembre de 2026", "sept. 3, 2026" in a Spanish sheet: English month names for strptime.
        text = re.sub(r"\bde(l)?\b", " ", text, flags=re.I)
        text = _SPANISH_MONTH.sub(lambda m: _SPANISH_MONTHS[normalize_header(m.group())], text)
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
    if value is None:
        return False, None  # a blank cell, most unmarked purpose columns: what _parse_mark_value says for it
    if isinstance(value, str):
        return _parse_mark_text(value)
    if isinstance(value, bool):
        return value, None
    return _parse_mark_value(value)


@lru_cache(maxsize=16384)
def _parse_mark_text(value: str) -> tuple[bool | None, date | None]:
    return _parse_mark_value(value)


def _parse_mark_value(value: CellValue) -> tuple[bool | None, date | None]:
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


@lru_cache(maxsize=8192)
def school_year_of(day: date, school_year_start: str = DEFAULT_SCHOOL_YEAR_START) -> str:
    """'2026-2027' for any day from 07-01-2026 to 06-30-2027 (start configurable as 'MM-DD')."""
    month, dom = (int(x) for x in school_year_start.split("-"))
    start_year = day.year if (day.month, day.day) >= (month, dom) else day.year - 1
    return f"{start_year}-{start_year + 1}"


@lru_cache(maxsize=1)
def _purpose_choices() -> dict[str, str]:
    return {normalize_header(w): p for p, words in PURPOSE_SYNONYMS.items() for w in (p, *words)}


def parse_purposes(text: str) -> tuple[frozenset[str], list[str]]:
    """A purpose list ('Web site, Social; Annual') -> purposes, plus the words that matched nothing."""
    found, unknown = _parse_purposes(text)
    return found, list(unknown)


@lru_cache(maxsize=16384)
def _parse_purposes(text: str) -> tuple[frozenset[str], tuple[str, ...]]:
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
    return frozenset(found), tuple(unknown)


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
    home_language: str | None = None  # compliance.languages code; None when the SIS says none we write in
    guardian_email: str | None = None
    guardian_phone: str | None = None


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
        names = {n: row.text(n) or None for n in ("legal_first", "legal_last", "preferred_first", "preferred_last")}
        fitted, misfit = fit(Student, names)
        for problem in misfit:
            # A legal name is kept cut to its column (dropping it would deactivate the student); a preferred
            # name that cannot be stored is left out. Either way the whole value waits in quarantine.
            reject(problem.field, problem.reason, names[problem.field])
            if problem.field.startswith("preferred"):
                fitted[problem.field] = None
        result.students.append(
            StudentRecord(
                student_id=sid,
                legal_first=fitted["legal_first"] or "",
                legal_last=fitted["legal_last"] or "",
                preferred_first=fitted["preferred_first"],
                preferred_last=fitted["preferred_last"],
                grade=row.text("grade").replace("\x00", "") or None,
                site_id=site,
                source=(row.source, row.row),
                home_language=language_code(row.text("home_language")),
                guardian_email=normalize_email(row.text("guardian_email")[:320]),
                guardian_phone=normalize_phone(row.text("guardian_phone")),
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
            "home_language": rec.home_language,
            "guardian_email": rec.guardian_email,
            "guardian_phone": rec.guardian_phone,
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
# The SIS roster as consent rows need it: ids, and names to check a row's name against (rules 5 and 6)


def _grade_key(text: str | None) -> str:
    """'03', '3rd', 'Grade 3' -> '3'; 'Kinder', 'Kindergarten' -> 'k'; 'TK' -> 'tk'; '' when unknown."""
    norm = normalize_header(text or "")
    norm = re.sub(r"^(grade|grado|gr)\s+", "", norm)
    norm = re.sub(r"(?<=\d)\s*(st|nd|rd|th|o|er)$", "", norm)
    if norm in ("k", "kinder", "kindergarten", "kinder garten", "kindergarden"):
        return "k"
    if norm in ("tk", "transitional kindergarten", "transitional k"):
        return "tk"
    return norm.lstrip("0") or norm


# (first-name heads, later first-name words, surname words, written forms): see Roster._name_parts.
_NameParts = tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], frozenset[str]]
# A student's SIS name as it is compared: (legal first, legal last, preferred first, preferred last).
_NameKey = tuple[str, str, str | None, str | None]


class Roster:
    """Students by id, with their SIS names folded once on first use.

    Built from :class:`StudentRecord`, ``models.Student`` rows, or a plain set of ids (then no name can be
    checked: rows without an id are quarantined and names are not compared). Name comparison reuses the
    matching module's folding (accents, case, hyphens, apostrophes) and nickname table.
    """

    def __init__(self, students: Iterable[Any] = (), ids: Iterable[str] = ()) -> None:
        self._students: dict[str, Any] = _by_student_id(students)
        self._ids = set(ids) | set(self._students)
        # Parts by the SIS name itself: a district's names repeat (two students named María García fold alike).
        self._parts_by_name: dict[_NameKey, _NameParts] = {}
        self._givens: dict[tuple[tuple[str, ...], tuple[str, ...]], tuple[frozenset[str], tuple[str, ...]]] = {}
        self._by_family: dict[str | None, dict[str, list[str]]] | None = None
        self._nicknames: dict[str, frozenset[str]] | None = None
        self._nicknamed: dict[str, frozenset[str]] | None = None

    @classmethod
    def of(cls, known: Roster | Mapping[str, Any] | Iterable[str] | None) -> Roster | None:
        """A roster from what callers have: a Roster, {id: student}, a set of ids, or None (no check)."""
        if known is None or isinstance(known, Roster):
            return known
        if isinstance(known, Mapping):
            values = [v for v in known.values() if hasattr(v, "legal_first")]
            return cls(values, ids=known.keys())
        return cls(ids=known)

    def __contains__(self, student_id: object) -> bool:
        return student_id in self._ids

    @property
    def has_names(self) -> bool:
        return bool(self._students)

    def site_of(self, student_id: str) -> str | None:
        s = self._students.get(student_id)
        return getattr(s, "site_id", None) if s is not None else None

    def _name_parts(self, sid: str) -> _NameParts:
        """(first-name heads, later first-name words, surname words without particles, the written forms
        "first last" / "last first" of the SIS names as folded words joined), folded."""
        return self._parts_of(_name_key(self._students[sid]))

    def _parts_of(self, key: _NameKey) -> _NameParts:
        parts = self._parts_by_name.get(key)
        if parts is None:
            parts = self._parts_by_name[key] = _name_parts_of(*key)
        return parts

    def _nickname_table(self) -> dict[str, frozenset[str]]:
        if self._nicknames is None:
            # Distinct names only: 420,000 students have a few thousand first names, each folded once.
            self._nicknames = nickname_map(
                {n for s in self._students.values() for n in (s.legal_first, getattr(s, "preferred_first", None)) if n}
            )
        return self._nicknames

    def _given_words(self, heads: tuple[str, ...], later: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
        """Every word that is exactly a first name of a student with these first-name parts (a head, a later
        word, a nickname of a head or a name a head is the nickname of), and the heads long enough for one
        typo: the given-name half of :meth:`fits`, as one set lookup for most words."""
        held = self._givens.get((heads, later))
        if held is None:
            nicks = self._nickname_table()
            if self._nicknamed is None:
                # Name -> the nicknames standing for it (the table the other way round), built once.
                reverse: dict[str, set[str]] = {}
                for nick, names in nicks.items():
                    for name in names:
                        reverse.setdefault(name, set()).add(nick)
                self._nicknamed = {name: frozenset(v) for name, v in reverse.items()}
            given = set(heads) | set(later)
            for head in heads:
                given |= nicks.get(head, frozenset())
                given |= self._nicknamed.get(head, frozenset())
            long_heads = tuple(h for h in heads if len(h) >= FUZZY_MIN_LEN)
            held = self._givens[(heads, later)] = (frozenset(given), long_heads)
        return held

    def _fits_name(self, key: _NameKey, words: Sequence[str]) -> bool:
        # ``words`` come without surname particles and are not empty (see fits).
        heads, later, family, forms = self._parts_of(key)
        if " ".join(words) in forms:
            return True  # the SIS name as written, in either order: most rows
        given, long_heads = self._given_words(heads, later)
        given_at = [i for i, w in enumerate(words) if w in given or (long_heads and _one_typo(w, long_heads))]
        if not given_at:
            return False
        family_at = [i for i, w in enumerate(words) if _word_fits(w, family)]
        return any(i != j for i in given_at for j in family_at)

    def fits(self, student_id: str, written: Sequence[str]) -> bool:
        """Whether the folded words of a written name are a form of the student's SIS name.

        One word must be a first name of the student (legal or preferred, a later word of a compound first
        name, a nickname of one, or one typo away when 6+ letters long) and another word one of the student's
        surnames (either of two, hyphenated or not; one typo allowed from 6 letters). Word order is free:
        "Garcia Lopez, Maria", "Maria Garcia" and "MARIA GARCIA-LOPEZ" all fit María García López.
        """
        s = self._students.get(student_id)
        if s is None:
            return True  # no SIS name to compare with
        words = [w for w in written if w not in SURNAME_PARTICLES]
        if not words:
            return True
        return self._fits_name(_name_key(s), words)

    def find(self, written: Sequence[str], site_id: str | None, grade: str | None = None) -> list[str]:
        """Students of ``site_id`` (every site when None) whose name the written words fit (see :meth:`fits`),
        narrowed to ``grade`` when the row gives one the SIS can compare."""
        if self._by_family is None:
            self._by_family = {}
            # Students by school and surname as written in the SIS, in one pass over the roster (400,000+):
            # a school's surnames are then folded once each, however many students share one.
            self._surnames: dict[str | None, dict[tuple[str, str | None], list[str]]] = {None: {}}
            everyone = self._surnames[None]
            for sid, s in self._students.items():
                surname = (s.legal_last, getattr(s, "preferred_last", None))
                everyone.setdefault(surname, []).append(sid)
                site = getattr(s, "site_id", None)
                if site is not None:
                    self._surnames.setdefault(site, {}).setdefault(surname, []).append(sid)
        by_word = self._by_family.get(site_id)
        if by_word is None:
            # Surname word -> students, built per school on first use: most schools never need it.
            # Only the surnames are folded here: the other parts wait for the few candidates a row names.
            by_word = self._by_family[site_id] = {}
            for (last, pref_last), sids in self._surnames.get(site_id, {}).items():
                for word in _family_words(last, pref_last):
                    by_word.setdefault(word, []).extend(sids)
        words = [w for w in written if w not in SURNAME_PARTICLES]
        seen = {sid for w in words for sid in by_word.get(w, ())}
        found = sorted(sid for sid in seen if self._fits_name(_name_key(self._students[sid]), words))
        key = _grade_key(grade)
        if key and len(found) > 1:
            in_grade = [sid for sid in found if _grade_key(getattr(self._students[sid], "grade", None)) == key]
            found = in_grade
        elif key:
            found = [
                sid
                for sid in found
                if not getattr(self._students[sid], "grade", None) or _grade_key(self._students[sid].grade) == key
            ]
        return found


def _name_key(student: Any) -> _NameKey:
    return (
        student.legal_first,
        student.legal_last,
        getattr(student, "preferred_first", None),
        getattr(student, "preferred_last", None),
    )


def _by_student_id(students: Iterable[Any]) -> dict[str, Any]:
    """{id: student}: ``student_id`` (StudentRecord, plain rows) or ``id`` (models.Student), as text; no id, no
    entry; the last of a repeated id wins."""
    students = students if isinstance(students, list | tuple) else list(students)
    try:
        # 420,000 students at LAUSD, every chunk of the nightly: one comprehension when every id is already
        # non-empty text, which is what the SIS export and the store hold.
        by_id = {s.student_id: s for s in students}
    except AttributeError:
        by_id = None
    if by_id is not None and "" not in by_id and set(map(type, by_id)) <= {str}:
        return by_id
    out: dict[str, Any] = {}
    for s in students:
        sid = str(getattr(s, "student_id", None) or getattr(s, "id", ""))
        if sid:
            out[sid] = s
    return out


def _name_parts_of(legal_first: str, legal_last: str, pref_first: str | None, pref_last: str | None) -> _NameParts:
    # From the folded words of each name part (cached: names repeat across a district); folding
    # "first last" as one text gives the same words as folding each part.
    if not pref_first and not pref_last:
        # Most students have no preferred name: the same parts, without the general case's loops.
        given, first_words, last_words = _name_words(legal_first), _bare_words(legal_first), _bare_words(legal_last)
        return (
            given[:1],
            tuple(dict.fromkeys(given[1:])),
            tuple(dict.fromkeys(last_words)),
            frozenset((" ".join(first_words + last_words), " ".join(last_words + first_words))),
        )
    givens = [g for g in (_name_words(legal_first), _name_words(pref_first)) if g]
    heads = tuple(dict.fromkeys(g[0] for g in givens))
    later = tuple(dict.fromkeys(t for g in givens for t in g[1:]))
    family = _family_words(legal_last, pref_last)
    forms = set()
    for first in {legal_first, pref_first or legal_first}:
        first_words = _bare_words(first)
        for last in {legal_last, pref_last or legal_last}:
            last_words = _bare_words(last)
            forms.add(" ".join(first_words + last_words))
            forms.add(" ".join(last_words + first_words))
    return heads, later, family, frozenset(forms)


@lru_cache(maxsize=65536)
def _name_words(text: str | None) -> tuple[str, ...]:
    """The folded words of one name part ('' and None: none)."""
    return tuple(fold(text or "").split())


def fold_words(text: str) -> list[str]:
    """``fold(text).split()`` from cached pieces: the same words, since folding never joins across whitespace."""
    return [word for piece in text.split() for word in _name_words(piece)]


@lru_cache(maxsize=65536)
def _family_words(legal_last: str, pref_last: str | None) -> tuple[str, ...]:
    """A student's surname words (legal, then preferred; no particles, no repeats), folded."""
    return tuple(dict.fromkeys(_bare_words(legal_last) + _bare_words(pref_last)))


@lru_cache(maxsize=65536)
def _bare_words(text: str | None) -> tuple[str, ...]:
    """The folded words of one name part without surname particles ('de', 'la', ...)."""
    return tuple(w for w in _name_words(text) if w not in SURNAME_PARTICLES)


def _word_fits(word: str, forms: tuple[str, ...]) -> bool:
    if word in forms:
        return True
    return len(word) >= FUZZY_MIN_LEN and _near(word, forms)


def _one_typo(word: str, long_forms: tuple[str, ...]) -> bool:
    """Whether ``word`` is one edit from a form of 6+ letters (``long_forms`` are those already)."""
    return len(word) >= FUZZY_MIN_LEN and _near(word, long_forms)


@lru_cache(maxsize=65536)
def _near(word: str, forms: tuple[str, ...]) -> bool:
    # Cached: first names and surnames repeat across a district, so do the (word, names) pairs a row without
    # an id compares with every same-surname student of its school.
    return any(len(f) >= FUZZY_MIN_LEN and OSA.distance(word, f, score_cutoff=1) <= 1 for f in forms)


_NAME_FIELDS = ("given_name", "family_name", "last_first", "full_name")


def _name_fields(fields: Container[str]) -> tuple[str, ...]:
    """The name columns a consent row's written name is read from, in order, for a sheet with ``fields``."""
    if "family_name" in fields and "given_name" not in fields and "full_name" in fields:
        return ("full_name", "family_name")  # "Nombre" next to "Apellido": the first name
    return tuple(f for f in _NAME_FIELDS if f in fields)


def written_name(row: SourceRow) -> list[str]:
    """The folded words of the student's name on a consent row, from whichever name columns it has."""
    return _written_words(row.values, _name_fields(row.values))


def _written_words(values: Mapping[str, CellValue], name_fields: tuple[str, ...]) -> list[str]:
    # Folded piece by piece (the same words as folding the whole text: folding never joins across
    # whitespace): the pieces, names and surnames, repeat across rows where whole names do not.
    words: list[str] = []
    for name in name_fields:
        text = cell_text(values.get(name))
        if text:
            words += fold_words(text)
    return words


# ------------------------------------------------------------------------------------------------------------
# Consent records


RecordKind = Literal["consent", "opt_out"]


@dataclass(frozen=True, slots=True)
class ConsentEntry:
    """One validated consent row (the in-memory twin of models.ConsentRecord).

    ``kind`` is ``consent`` for a parent's form and ``opt_out`` for a line of a FERPA directory-information
    opt-out list (then only ``opted_out_on`` matters). ``matched_by`` says how the student was found: by the
    row's ``id``, or by its ``name`` when the row had no id (rule 5).
    """

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
    kind: RecordKind = "consent"
    opted_out_on: date | None = None
    matched_by: str = "id"

    def answers(self) -> tuple[Any, ...]:
        return (self.parent_consent, self.principal_approved, self.purposes, self.revoked_on, self.opted_out_on)


@dataclass(slots=True)
class ConsentResult:
    """What one source gave: applied records, quarantined values, data-quality notes on applied rows.

    ``rows`` counts the data rows read; every one is either in ``records`` or named (file, sheet, row) by at
    least one entry of ``rejected`` - nothing is dropped silently. ``notes`` are values reported in Data
    Quality on rows that were applied anyway (a principal column saying "TBD": the row counts, without
    approval).
    """

    records: list[ConsentEntry] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Rejected] = field(default_factory=list)  # sheets passed over (see tabular.read_table)
    notes: list[Rejected] = field(default_factory=list)
    rows: int = 0

    def extend(self, other: ConsentResult) -> None:
        self.records += other.records
        self.rejected += other.rejected
        self.skipped += other.skipped
        self.notes += other.notes
        self.rows += other.rows


@dataclass(slots=True)
class RowOutcome:
    entry: ConsentEntry | None
    rejected: list[Rejected]
    notes: list[Rejected]


def parse_principal(value: CellValue) -> tuple[bool, date | None, bool]:
    """A principal-approval cell -> (approved, approval date, unusual) under rule 4.

    Approval is an affirmative mark only: Y, Yes, Sí, X, a check mark, TRUE, OK/Approved, a date (approved
    that day) or 2-4 letter initials ("JM", "K.W."). "TBD", "Pend(ing)", "N/A", "?", "ask" and anything else
    unreadable are not approval and come back ``unusual`` (reported in Data Quality); "no", "N" and blank are
    plain refusals.
    """
    if isinstance(value, bool):
        return value, None, False
    if isinstance(value, datetime):
        return True, value.date(), False
    if isinstance(value, date):
        return True, value, False
    if isinstance(value, int | float):
        return (True, None, False) if value == 1 else (False, None, value != 0)
    return _parse_principal_text(cell_text(value))


@lru_cache(maxsize=16384)
def _parse_principal_text(text: str) -> tuple[bool, date | None, bool]:
    if not text:
        return False, None, False
    if any(mark in text for mark in _CHECKS):
        return True, None, False
    norm = normalize_header(text)
    if norm in _PRINCIPAL_NO:
        return False, None, False
    if not norm or norm in _NOT_APPROVAL or norm.split()[0] in _NOT_APPROVAL:
        return False, None, True
    if norm in _PRINCIPAL_YES:
        return True, None, False
    when = parse_date(text)
    if when is not None:
        return True, when, False
    letters = re.sub(r"[.\s]", "", text)
    if _INITIALS.match(text) and 2 <= len(letters) <= 4 and (len(letters) < 4 or not letters.islower()):
        return True, None, False  # the principal initialled the form
    return False, None, True


_PRINCIPAL_YES = {"y", "yes", "si", "x", "true", "1", "ok", "okay", "approved", "aprobado", "aprobada", "signed"}
_PRINCIPAL_NO = {"n", "no", "false", "0", "denied", "declined", "rejected", "not approved", "negado", "rechazado"}
_NOT_APPROVAL = {
    "tbd", "tba", "pend", "pending", "pendiente", "ask", "asked", "na", "n a", "none", "hold", "wait", "waiting",
    "later", "maybe", "unknown", "unk", "review", "not", "soon", "see", "nope", "nah", "preguntar", "q",
}  # fmt: skip
_INITIALS = re.compile(r"^(?:[A-Za-z]\.?\s?){2,4}$")


def consent_from_row(
    row: SourceRow,
    site_id: str | None,
    roster: Roster | None,
    school_year_start: str = DEFAULT_SCHOOL_YEAR_START,
    purpose_columns: Sequence[str] = (),
    *,
    default_purposes: Sequence[str] = (),
    kind: RecordKind = "consent",
    name_scope: str | None = None,
) -> RowOutcome:
    """Validate one consent (or opt-out) row: the entry, or the reasons it is quarantined, plus notes.

    ``name_scope`` is the school a row without an id is looked up in (``site_id``, or the school most of the
    sheet's ids belong to when the caller does not know it).
    """
    entry, problems, notes = _read_row(
        row, _name_fields(row.values), site_id, roster, school_year_start, purpose_columns, default_purposes,
        kind, name_scope,
    )  # fmt: skip
    return RowOutcome(entry, problems, notes)


def _rejected(row: SourceRow, name: str, reason: str, raw: CellValue) -> Rejected:
    return Rejected(CONSENT_JOB, row.source, row.row, name, reason, cell_text(raw) or None, row.sheet)


def _read_row(
    row: SourceRow,
    name_fields: tuple[str, ...],
    site_id: str | None,
    roster: Roster | None,
    school_year_start: str,
    purpose_columns: Sequence[str],
    default_purposes: Sequence[str],
    kind: RecordKind,
    name_scope: str | None,
) -> tuple[ConsentEntry | None, list[Rejected], list[Rejected]]:
    # consent_from_row for every row of every school (370,000 a night at LAUSD): each cell is read as text only
    # where a rule needs it, and ``name_fields`` (see _name_fields) comes once per sheet.
    problems: list[Rejected] = []
    notes: list[Rejected] = []
    values, formulas = row.values, row.formula_fields
    get = values.get

    sid = cell_text(get("student_id"))
    matched_by = "id"
    if "student_id" in formulas:
        problems.append(_rejected(row, "student_id", "formula in cell (kept as text, not evaluated)", sid))
    elif sid:
        if roster is not None and sid not in roster:
            problems.append(_rejected(row, "student_id", "student id not in the SIS roster", sid))
        elif roster is not None and roster.has_names and not roster.fits(sid, _written_words(values, name_fields)):
            # The name is not a form of this student's SIS name: most likely a typo in the id (rule 6).
            problems.append(_rejected(
                row, "student_id", "id/name mismatch: the name on the row is not this student's SIS name (rule 6)",
                sid,
            ))  # fmt: skip
    else:
        words = _written_words(values, name_fields)
        if roster is None or not roster.has_names or not words:
            problems.append(
                _rejected(row, "student_id", "student id is required (no name to look the student up by)", None)
            )
        else:
            grade = cell_text(get("grade")) or None
            found = roster.find(words, name_scope, grade)
            if len(found) == 1:
                sid, matched_by = found[0], "name"
            else:
                where = f"site {name_scope}" if name_scope else "the district"
                in_grade = f", grade {grade}" if grade else ""
                # Names stay out of the reason (it is shown in reports); the row number finds them.
                problems.append(_rejected(
                    row, "student_id",
                    f"no student id and the name matches {len(found)} students at {where}{in_grade} (rule 5)", None,
                ))  # fmt: skip

    if kind == "opt_out":
        return _opt_out_from_row(row, sid, site_id, matched_by, problems)

    signed_on: date | None = None
    declined_in_date_column = False
    raw_signed = get("signed_date")
    signed_text = cell_text(raw_signed)
    if signed_text:
        if "signed_date" in formulas:
            problems.append(_rejected(row, "signed_date", "formula in cell (kept as text, not evaluated)", raw_signed))
        else:
            signed_on = parse_date(raw_signed)
            if signed_on is None and "parent_consent" not in values and parse_mark(raw_signed)[0] is False:
                # "Parent signed (date)" sheets write NO / declined there when the parent refused.
                declined_in_date_column = True
            elif signed_on is None:
                problems.append(_rejected(row, "signed_date", "unreadable date", raw_signed))

    purposes: set[str] = set()
    for purpose in purpose_columns:
        raw_mark = get(purpose)
        answer, _ = parse_mark(raw_mark)
        if answer is None:
            problems.append(_rejected(row, purpose, "unreadable yes/no", raw_mark))
        elif answer:
            purposes.add(purpose)
    raw_list = cell_text(get("purposes"))
    if raw_list:
        found_purposes, unknown = _parse_purposes(raw_list)
        purposes |= found_purposes
        if unknown:
            problems.append(_rejected(row, "purposes", f"unknown purpose(s): {', '.join(unknown)}", raw_list))

    parent: bool | None
    if "parent_consent" in values:
        raw_parent = get("parent_consent")
        if "parent_consent" in formulas:
            problems.append(
                _rejected(row, "parent_consent", "formula in cell (kept as text, not evaluated)", raw_parent)
            )
            parent = None
        else:
            parent, parent_date = parse_mark(raw_parent)
            if parent is None:
                problems.append(_rejected(row, "parent_consent", "unreadable consent answer", raw_parent))
            if parent_date is not None and not signed_text:
                signed_on = parent_date  # a date in the consent column: signed that day
    else:
        # No consent column: a signed date (or a marked purpose) is the consent, a "no" written there is not.
        parent = not declined_in_date_column and (signed_on is not None or bool(purposes))
    if parent and signed_on is None and not signed_text and not problems:
        problems.append(_rejected(
            row, "signed_date", "consent marked but no date signed: cannot tell which school year", None
        ))  # fmt: skip
    if parent and not purposes and not any(p.field == "purposes" for p in problems):
        if default_purposes:
            purposes = set(default_purposes)  # the profile says what this source's forms cover (rule 7)
        else:
            problems.append(_rejected(
                row, "purposes",
                "ambiguous: the form names no purposes and the profile names no default_purposes for this "
                "source (rule 7)",
                raw_list or None,
            ))  # fmt: skip

    raw_principal = get("principal")
    principal_text = cell_text(raw_principal)
    principal, principal_on, unusual = False, None, False
    if "principal" in formulas and principal_text:
        unusual = True
    elif principal_text:
        principal, principal_on, unusual = parse_principal(raw_principal)
    if unusual:
        notes.append(_rejected(
            row, "principal", "not a principal approval mark (rule 4): the row counts without approval",
            raw_principal,
        ))  # fmt: skip
    raw_principal_date = get("principal_date")
    if cell_text(raw_principal_date):
        approved_on = parse_date(raw_principal_date)
        if approved_on is not None:
            principal_on = approved_on
            if "principal" not in values:
                principal = True
        elif "principal" not in values:
            # "TBD" where the approval date goes: the same reading as a principal column (rule 4).
            principal, _, odd = parse_principal(raw_principal_date)
            if odd:
                notes.append(_rejected(
                    row, "principal_date", "not a principal approval mark or date (rule 4): the row counts "
                    "without approval", raw_principal_date,
                ))  # fmt: skip
        else:
            problems.append(_rejected(row, "principal_date", "unreadable date", raw_principal_date))

    revoked_on = _event_date(row, get("revoked_date"), "revoked_date", problems)
    opted_out_on = _event_date(row, get("opt_out_date"), "opt_out_date", problems)

    if problems:
        return None, problems, notes
    entry = ConsentEntry(
        sid,
        site_id,
        _shared_purposes(purposes) if parent else _NO_PURPOSES,
        bool(parent),
        signed_on,
        principal,
        principal_on,
        revoked_on,
        school_year_of(signed_on, school_year_start) if signed_on else None,
        row.source,
        row.sheet,
        row.row,
        False,
        "consent",
        opted_out_on,
        matched_by,
    )
    return entry, problems, notes


_PURPOSE_SETS: dict[frozenset[str], frozenset[str]] = {}
_NO_PURPOSES: frozenset[str] = frozenset()


def _shared_purposes(purposes: set[str]) -> frozenset[str]:
    """One frozenset object per combination of purposes (at most 32): a nightly keeps 370,000 records in
    memory, and every set object more is one more for each of the garbage collector's full passes."""
    key = frozenset(purposes)
    return _PURPOSE_SETS.setdefault(key, key) if len(_PURPOSE_SETS) < 1024 else key


def _event_date(row: SourceRow, raw: CellValue, name: str, problems: list[Rejected]) -> date | None:
    """A revocation or opt-out date column: a date, "no"/blank (none), anything else quarantined."""
    if not cell_text(raw):
        return None
    when = parse_date(raw)
    if when is not None:
        return when
    answer, _ = parse_mark(raw)
    if answer is not False:
        problems.append(_rejected(
            row, name, "unreadable date (a revocation or opt-out must be dated to be placed in the history)", raw
        ))  # fmt: skip
    return None


def _opt_out_from_row(
    row: SourceRow, sid: str, site_id: str | None, matched_by: str, problems: list[Rejected]
) -> tuple[ConsentEntry | None, list[Rejected], list[Rejected]]:
    raw = row.values.get("opt_out_date") if cell_text(row.values.get("opt_out_date")) else row.values.get("signed_date")
    when = parse_date(raw) if cell_text(raw) else None
    if when is None:
        problems.append(_rejected(
            row, "opt_out_date", "opt-out without a readable date: cannot tell from when it applies (rule 8)", raw
        ))  # fmt: skip
    if problems:
        return None, problems, []
    assert when is not None
    entry = ConsentEntry(
        student_id=sid,
        site_id=site_id,
        purposes=frozenset(),
        parent_consent=False,
        parent_signed_on=None,
        principal_approved=False,
        principal_approved_on=None,
        revoked_on=None,
        school_year=None,
        source_file=row.source,
        source_sheet=row.sheet,
        source_row=row.row,
        kind="opt_out",
        opted_out_on=when,
        matched_by=matched_by,
    )
    return entry, [], []


def read_consents(
    source: Source,
    site_id: str | None,
    known_students: Roster | Mapping[str, Any] | set[str] | None,
    *,
    label: str | None = None,
    school_year_start: str = DEFAULT_SCHOOL_YEAR_START,
    limits: Limits | None = None,
    default_purposes: Sequence[str] = (),
    kind: RecordKind | None = None,
) -> ConsentResult:
    """One school's consent spreadsheet (path, or ("sheets:<id>", values)) -> entries + quarantine + notes.

    ``known_students`` is the SIS roster (a :class:`Roster` checks names too, rules 5 and 6). ``default_purposes``
    are what this source's forms grant when they name none (rule 7). ``kind="opt_out"`` reads the source as a
    FERPA directory-information opt-out list; by default a sheet is one when it has an opt-out date column and
    no consent, purpose or principal column.
    """
    with _collector_paused():
        return _read_consents(source, site_id, known_students, label, school_year_start, limits, default_purposes, kind)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage-collector run while one source is read and checked (restored after, as it was).

    Reading a sheet allocates several objects a row that live until the sheet is done, which makes the
    collector run every few hundred rows and walk whatever is alive, to find nothing: rows, records and
    quarantine entries are freed by reference counting. Paused per source, it runs about once a source
    instead (the same idea as Mercurial's ``util.nogc``); the rare cycle a read leaves (an openpyxl workbook)
    is collected by the first run after it. See also :func:`roster_settled`.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _read_consents(
    source: Source,
    site_id: str | None,
    known_students: Roster | Mapping[str, Any] | set[str] | None,
    label: str | None,
    school_year_start: str,
    limits: Limits | None,
    default_purposes: Sequence[str],
    kind: RecordKind | None,
) -> ConsentResult:
    roster = Roster.of(known_students)
    read = read_table(source, CONSENT_FIELDS, job=CONSENT_JOB, label=label, limits=limits)
    result = ConsentResult(rejected=list(read.rejected), skipped=list(read.skipped))
    for table in read.tables:
        result.rows += len(table.rows)
        identity = ("student_id", "full_name", "last_first", "given_name", "family_name")
        if not any(f in table.columns for f in identity):
            for row in table.rows:
                result.rejected.append(
                    Rejected(
                        CONSENT_JOB,
                        row.source,
                        row.row,
                        "student_id",
                        "no student id or name column in this sheet",
                        None,
                        row.sheet,
                    )  # fmt: skip
                )
            continue
        purpose_columns = [p for p in PURPOSES if p in table.columns]
        table_kind = kind or (
            "opt_out"
            if "opt_out_date" in table.columns
            and not purpose_columns
            and not {"parent_consent", "purposes", "principal", "principal_date"} & set(table.columns)
            else "consent"
        )
        scope = site_id
        if scope is None and roster is not None:
            sites = Counter(roster.site_of(r.text("student_id")) for r in table.rows if r.text("student_id"))
            sites.pop(None, None)
            scope = sites.most_common(1)[0][0] if sites else None
        # Every row of a table has the table's fields (see tabular.read_table): the name columns once a sheet.
        name_fields = _name_fields(table.columns)
        records, rejected, notes = result.records, result.rejected, result.notes
        for row in table.rows:
            entry, problems, row_notes = _read_row(
                row, name_fields, site_id, roster, school_year_start, purpose_columns, default_purposes,
                table_kind, scope,
            )  # fmt: skip
            if entry is not None:
                records.append(entry)
            if problems:
                rejected += problems
            if row_notes:
                notes += row_notes
    result.records = flag_conflicts(result.records)
    return result


def flag_conflicts(records: Sequence[ConsentEntry]) -> list[ConsentEntry]:
    """Mark records of one student with the same signed date but different answers as ``conflict``."""
    # Counted first: most students have one record, and only repeated (student, date) pairs need a look.
    counts = Counter(
        (rec.student_id, rec.parent_signed_on)
        for rec in records
        if rec.kind == "consent" and rec.parent_signed_on is not None
    )
    out = list(records)
    if not counts or max(counts.values()) < 2:
        return out
    groups: dict[tuple[str, date | None], list[int]] = {}
    for i, rec in enumerate(records):
        if rec.kind == "consent" and rec.parent_signed_on is not None:
            key = (rec.student_id, rec.parent_signed_on)
            if counts[key] > 1:
                groups.setdefault(key, []).append(i)
    for idx in groups.values():
        if len({records[i].answers() for i in idx}) > 1:
            for i in idx:
                out[i] = replace(out[i], conflict=True)
    return out


# ------------------------------------------------------------------------------------------------------------
# The rule


class ConsentLike(Protocol):
    student_id: str
    parent_consent: bool
    parent_signed_on: date | None
    principal_approved: bool
    principal_approved_on: date | None
    revoked_on: date | None
    source_file: str
    source_sheet: str
    source_row: int

    @property
    def purposes(self) -> Any: ...


@dataclass(frozen=True, slots=True, repr=False)
class ConsentDecision:
    """The rule's answer for one student, purpose and day.

    ``record`` is the deciding record (None when there is none), ``records`` every record the ``basis`` cites,
    ``rule`` the number of the rule that decided (README "Consent rules"), ``basis`` the sentence a principal
    reads to check it: rule, dates and (file, sheet, row) of each record. No names: ids and places only.

    ``basis`` is written from ``why`` (the sentence's template and what it cites) when it is read: a nightly
    judges every student with a record (370,000 at LAUSD) and reports few of them, so the text is not built for
    the others. ``why`` may also be the finished sentence.
    """

    allowed: bool
    reason: Reason
    record: Any = None
    conflict: bool = False
    rule: int = 1
    records: tuple[Any, ...] = ()
    why: str | tuple[Any, ...] = ""

    @property
    def basis(self) -> str:
        why = self.why
        if isinstance(why, str):
            return why
        return f"rule {self.rule}: {why[0](*why[1:])}"

    def __repr__(self) -> str:
        return (
            f"ConsentDecision(allowed={self.allowed!r}, reason={self.reason!r}, rule={self.rule!r}, "
            f"conflict={self.conflict!r}, basis={self.basis!r})"
        )


def record_ref(record: Any) -> str:
    """Where a record is: 'consent/lincoln-es.xlsx [Releases] row 6' (no sheet name for CSV files)."""
    sheet = getattr(record, "source_sheet", "") or ""
    where = getattr(record, "source_file", None) or "(source not recorded)"
    return where + (f" [{sheet}]" if sheet else "") + f" row {getattr(record, 'source_row', '?')}"


def _approved_on(record: Any) -> date | None:
    return getattr(record, "principal_approved_on", None)


def _kind(record: Any) -> str:
    return getattr(record, "kind", None) or "consent"


_CANCEL_WORDS = {"revoked": "revocation", "opted_out": "directory opt-out", "no_consent": "refusal"}
_CANCEL_RULES = {"revoked": 3, "opted_out": 8, "no_consent": 3}
# A cancellation: (its date, revoked | opted_out | no_consent, the record that carries it).
_Cancel = tuple[date, str, Any]


# The sentences of ConsentDecision.basis (after "rule N: "), written only when a decision's basis is read.
def _basis_ok(purpose: str, g: Any, on: date) -> str:
    when = f" on {_approved_on(g)}" if _approved_on(g) else ""
    return (
        f"consent for {purpose} signed {g.parent_signed_on} ({record_ref(g)}), principal approved{when}; "
        f"in force on {on}"
    )


def _basis_principal_missing(purpose: str, g: Any, on: date) -> str:
    if g.principal_approved and _approved_on(g) is not None:
        basis = f"principal approval dated {_approved_on(g)}, after {on}"
    else:
        basis = "no principal approval mark"
    return f"{basis} on consent for {purpose} signed {g.parent_signed_on} ({record_ref(g)})"


def _basis_cancelled(cancel: _Cancel, what: str, grant: Any) -> str:
    when, why, by = cancel
    return (
        f"{_CANCEL_WORDS[why]} dated {when} ({record_ref(by)}) cancels {what} signed "
        f"{grant.parent_signed_on} ({record_ref(grant)})"
    )


def _basis_not_covered(purpose: str, g: Any) -> str:
    covers = ", ".join(sorted(g.purposes or ())) or "nothing"
    return f"consent signed {g.parent_signed_on} ({record_ref(g)}) covers {covers}, not {purpose}"


def _basis_expired(g: Any, year: str, school_year_start: str) -> str:
    return (
        f"consent signed {g.parent_signed_on} ({record_ref(g)}) holds for school year "
        f"{school_year_of(g.parent_signed_on, school_year_start)}, not {year} (starts {school_year_start})"
    )


def _basis_opted_out(when: date, by: Any) -> str:
    return f"directory opt-out dated {when} ({record_ref(by)}), no consent signed after it"


def _basis_declined(when: date, by: Any) -> str:
    return f"parent declined on {when} ({record_ref(by)})"


def _basis_future(g: Any, on: date) -> str:
    return f"consent signed {g.parent_signed_on} ({record_ref(g)}) is dated after {on} and does not count yet"


def _basis_undated(r: Any) -> str:
    return f"parent declined, undated ({record_ref(r)})"


def _basis_nothing(on: date) -> str:
    return f"no parent consent on record by {on}"


def _decide(
    allowed: bool, reason: Reason, rule: int, record: Any, cited: tuple[Any, ...], *why: Any
) -> ConsentDecision:
    conflict = bool(getattr(record, "conflict", False))
    return ConsentDecision(allowed, reason, record, conflict, rule, (record, *cited), why)


def _cancelled_by(grant: Any, cancels: Sequence[_Cancel]) -> _Cancel | None:
    """The first cancellation (in date order) dated on or after the grant's signature, or carried by it."""
    signed = grant.parent_signed_on
    for c in cancels:
        if c[0] >= signed or c[2] is grant:
            return c
    return None


def _cancelled(grant: Any, what: str, cancels: Sequence[_Cancel]) -> ConsentDecision:
    c = _cancelled_by(grant, cancels)
    assert c is not None
    why = c[1]
    return _decide(False, why, _CANCEL_RULES[why], grant, (c[2],), _basis_cancelled, c, what, grant)  # type: ignore[arg-type]


def consent_status(
    records_for_student: Sequence[ConsentLike],
    purpose: str,
    on: date,
    school_year_start: str = DEFAULT_SCHOOL_YEAR_START,
) -> ConsentDecision:
    """Whether a student may be shown or named for ``purpose`` on ``on`` and, if not, why (rules 1-9).

    The records (from every file and sheet, any order) form one history. A grant is a form the parent signed
    yes on or before ``on``. A revocation, a dated refusal ("no" form) or a FERPA directory opt-out dated on or
    before ``on`` cancels every grant signed on or before its date (same day: the cancellation wins), in any
    file; a grant signed later grants again. A grant holds for the school year it was signed in. Allowed when a
    grant of this school year, not cancelled, covers ``purpose`` and carries a principal approval dated (if
    dated) on or before ``on``. Otherwise the reason, most specific first: principal_missing (a covering grant
    in force lacks approval), revoked / opted_out / no_consent (the covering grant was cancelled),
    purpose_not_covered, expired (grants only from earlier school years), opted_out, no_consent.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; expected one of {', '.join(PURPOSES)}")
    year = school_year_of(on, school_year_start)
    order = {id(r): i for i, r in enumerate(records_for_student)}
    # One pass over the history (this runs for every student of a nightly): grants, and cancellations in the
    # order revocation, opt-out, refusal per record, then sorted by date and record (a stable sort).
    grants: list[Any] = []
    cancels: list[_Cancel] = []
    for r in records_for_student:
        is_form = (getattr(r, "kind", None) or "consent") == "consent"
        signed = r.parent_signed_on
        if is_form and r.parent_consent and signed is not None and signed <= on:
            grants.append(r)
        revoked = r.revoked_on
        if revoked is not None and revoked <= on:
            cancels.append((revoked, "revoked", r))
        opted = getattr(r, "opted_out_on", None)
        if opted is not None and opted <= on:
            cancels.append((opted, "opted_out", r))
        if is_form and not r.parent_consent and signed and signed <= on:
            cancels.append((signed, "no_consent", r))
    if len(cancels) > 1:
        cancels.sort(key=lambda c: (c[0], order[id(c[2])]))

    def latest(rows: Sequence[Any]) -> Any:
        return rows[0] if len(rows) == 1 else max(rows, key=lambda r: (r.parent_signed_on, order[id(r)]))

    in_year = [g for g in grants if school_year_of(g.parent_signed_on, school_year_start) == year]
    covering = [g for g in in_year if _covers(g.purposes, purpose)]
    live = [g for g in covering if _cancelled_by(g, cancels) is None] if cancels else covering
    approved = [g for g in live if g.principal_approved and (_approved_on(g) is None or _approved_on(g) <= on)]
    if approved:
        g = latest(approved)
        return _decide(True, "ok", 1, g, (), _basis_ok, purpose, g, on)
    if live:
        g = latest(live)
        return _decide(False, "principal_missing", 4, g, (), _basis_principal_missing, purpose, g, on)
    if covering:
        return _cancelled(latest(covering), f"consent for {purpose}", cancels)
    live_year = [g for g in in_year if _cancelled_by(g, cancels) is None]
    if live_year:
        g = latest(live_year)
        return _decide(False, "purpose_not_covered", 7, g, (), _basis_not_covered, purpose, g)
    if in_year:
        return _cancelled(latest(in_year), "consent", cancels)
    if grants:
        g = latest(grants)
        if _cancelled_by(g, cancels) is not None:
            return _cancelled(g, "consent", cancels)
        return _decide(False, "expired", 2, g, (), _basis_expired, g, year, school_year_start)
    opt_outs = [c for c in cancels if c[1] == "opted_out"]
    if opt_outs:
        when, _, by = opt_outs[-1]
        return _decide(False, "opted_out", 8, by, (), _basis_opted_out, when, by)
    refusals = [c for c in cancels if c[1] == "no_consent"]
    if refusals:
        when, _, by = refusals[-1]
        return _decide(False, "no_consent", 1, by, (), _basis_declined, when, by)
    future = [r for r in records_for_student if r.parent_consent and r.parent_signed_on and r.parent_signed_on > on]
    if future:
        g = min(future, key=lambda r: (r.parent_signed_on, order[id(r)]))
        return _decide(False, "no_consent", 2, g, (), _basis_future, g, on)
    undated = [r for r in records_for_student if _kind(r) == "consent" and r.parent_signed_on is None]
    if undated:
        r = undated[-1]
        return _decide(False, "no_consent", 1, r, (), _basis_undated, r)
    return ConsentDecision(False, "no_consent", None, False, 1, (), (_basis_nothing, on))


def _covers(purposes: Any, purpose: str) -> bool:
    # Records read tonight share frozensets; stored rows carry a JSON list.
    return purpose in purposes if type(purposes) is frozenset else purpose in set(purposes or ())


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
    "kind",
    "opted_out_on",
    "matched_by",
)


def store_consents(
    session: Session,
    records: Sequence[ConsentEntry],
    *,
    prune: bool = True,
    on_removed: Callable[[Session, list[ConsentRecord]], object] | None = None,
) -> dict[str, int]:
    """Upsert consent rows keyed by (source_file, source_sheet, source_row); re-running changes nothing.

    With ``prune`` (default), rows stored earlier from a source that is in ``records`` but whose row is no
    longer there are deleted: a school that deletes a line from its sheet has withdrawn that record.
    ``on_removed(session, rows)`` sees those rows just before they go (the evidence ledger chains them).
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
        gone = [row for key, row in existing.items() if key not in seen]
        if gone and on_removed is not None:
            on_removed(session, gone)
        for row in gone:
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


def load_roster(session: Session, cache: RosterCache | None = None) -> Roster:
    """The SIS roster consent rows are checked against, as plain rows (400,000+ students read once a chunk).

    With ``cache``, the roster of the same rows as last time is that roster again, with the names it folded.
    """
    rows = session.execute(
        select(
            Student.id.label("student_id"),
            Student.legal_first,
            Student.legal_last,
            Student.preferred_first,
            Student.preferred_last,
            Student.grade,
            Student.site_id,
        )
    ).all()
    return cache.get(rows) if cache is not None else Roster(rows)


class RosterCache:
    """The last roster built, by a digest of its rows: the nightly's consent chunks (20 of them at LAUSD scale)
    each read the roster, but folding 420,000 students' names again for each is most of a chunk's work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: str | None = None
        self._roster: Roster | None = None

    def get(self, rows: Sequence[Any]) -> Roster:
        """The roster of ``rows``, built now only if they differ from the last ones."""
        digest = hashlib.sha256()
        for row in rows:
            digest.update(repr(tuple(row)).encode())
        key = digest.hexdigest()
        with self._lock:
            if key != self._key or self._roster is None:
                self._key, self._roster = key, Roster(rows)
            return self._roster


def _removed_with(
    on_removed: Callable[[Session, list[ConsentRecord], dict[str, str | None]], object] | None,
    hashes: dict[str, str | None],
) -> Callable[[Session, list[ConsentRecord]], object] | None:
    """``store_consents``' removal callback for one source: ``on_removed`` told the source's content hash."""
    if on_removed is None:
        return None
    return lambda session, rows: on_removed(session, rows, hashes)


@contextmanager
def roster_settled() -> Iterator[None]:
    """Read consent sources against a roster already in memory without the garbage collector re-walking it.

    Reading keeps a few objects per row (rows, records), so every few thousand rows the collector runs, and
    now and then a full pass walks every live object: the SIS roster (400,000+ students at LAUSD) and all
    the imported code each time, ~10 % of a nightly's consent ingest (benchmarks/README.md). Entered once the
    roster is loaded, everything that exists is set aside (``gc.freeze()``) and left out of those passes; on
    the way out it is handed back (``gc.unfreeze()``), so garbage among it is still collected later. Nothing
    is kept alive that would not be anyway; a reader in another thread of the process only loses the saving.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def ingest_site_consents(
    store: Store,
    settings: Settings,
    site_id: str,
    roster: Roster,
    load: Callable[[str], Source],
    on_changed: Callable[[Session, dict[str, str | None]], object] | None = None,
    on_removed: Callable[[Session, list[ConsentRecord], dict[str, str | None]], object] | None = None,
) -> Iterator[tuple[dict[str, int], list[Rejected]]]:
    """Read and store one site's consent spreadsheets and opt-out lists, a source at a time.

    Yields each source's counts and its rejected rows (the caller logs where they are). Unknown students,
    id/name mismatches and bad values are quarantined; unusual principal marks become data-quality notes in
    the quarantine too, where people look for bad input. ``on_changed(session, {source file: content hash})``
    runs in the same transaction when a source added or changed records, ``on_removed(session, rows, {source
    file: content hash})`` before records whose line left the sheet are deleted (the evidence ledger chains
    both). The content hash (``sources.content_hash``: a file's bytes, a sheet's values) is taken once per
    source, of what was read: a file saved over while it was being read is read again.
    """
    from compliance.quarantine import quarantine
    from compliance.sources import content_hash

    site = settings.site(site_id)
    sources = [(s, None) for s in site.consent_sources] + [(s, "opt_out") for s in site.opt_out_sources]
    for source, kind in sources:
        loaded = load(source)
        for _attempt in range(3):
            sha = content_hash(loaded)
            result = read_consents(
                loaded,
                site_id,
                roster,
                label=source,
                school_year_start=settings.district.school_year_start,
                default_purposes=site.default_purposes_for(source),
                kind=kind,  # type: ignore[arg-type]
            )
            # Sheets values are in memory (what was hashed is what was read); a file may have been saved over.
            if isinstance(loaded, tuple) or content_hash(loaded) == sha:
                break
        hashes = {r.source_file: sha for r in result.records} or {source: sha}
        removed = _removed_with(on_removed, hashes)
        with store.session() as session:
            stored = store_consents(session, result.records, on_removed=removed)
            if on_changed is not None and (stored["added"] or stored["updated"]):
                # Only a source that changed tonight can hold a record not chained yet.
                on_changed(session, hashes)
            newly = quarantine(session, result.rejected + result.notes)
        yield (
            {
                "sheets read": 1,
                "consent rows": len(result.records),
                "rows rejected": len(result.rejected),
                "data quality notes": len(result.notes),
                "newly quarantined": newly,
                "added": stored["added"],
            },
            list(result.rejected),
        )
