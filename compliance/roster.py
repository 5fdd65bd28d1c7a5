"""The people AR 1114 applies to: employees from the Admin Directory and Associated Persons from school lists.

Pipeline (plain functions, no Prefect):

1. :func:`employees_from_directory` turns Directory ``User`` resources into :class:`PersonRecord`: site from
   the orgUnitPath (customSchemas ``District.site_id`` when the unit is not a site's), role from
   ``District.role`` or the primary organization title, suspended = leaver. A user whose ``District.role`` is
   an Associated Person category (a consultant given an account) is an associated person with an account.
   Service mailboxes (role ``service_mailbox`` or an address in ``skip_emails``) are not people.
2. :func:`read_associated` reads one school's list (xlsx, csv or Google Sheets values, via
   :mod:`compliance.tabular`), maps the role written in the school's own words to
   :meth:`compliance.vocabulary.PersonCategory.associated` and validates the row; a bad row becomes
   :class:`~compliance.quarantine.Rejected` entries (file, sheet, row, field, reason), the good rows load.
3. :func:`merge_people` deduplicates: the same normalised email is the same person; without a shared email,
   the same normalised family name and phone (last 10 digits) with nickname-compatible given names is.
4. :func:`sync_people` upserts into ``people``: joiners inserted, known people updated, absent people leave.

Hostile text is data. Markup, quotes, SQL-looking or formula-looking text is kept as typed (it is escaped
where it is shown). Line breaks and tabs inside a name are *sanitised* to one space: in a spreadsheet they
come from Alt+Enter or a paste, the name itself is intact, and once flattened it cannot break an email header
or a log line. Other control characters and bidirectional overrides are *quarantined*: they have no innocent
source in a name and can disguise what a reader sees. Zero-width characters are removed.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from compliance.languages import language_code
from compliance.models import Person, SourceRead, Student, SyncState
from compliance.models import Site as SiteRow
from compliance.quarantine import Rejected
from compliance.settings import Site
from compliance.tabular import (
    FieldSpec,
    Limits,
    Source,
    SourceRow,
    normalize_header,
    read_table,
    source_label,
    split_name,
)
from compliance.vocabulary import CATEGORY_SYNONYMS, PersonCategory, PersonKind

JOB = "roster"
DIRECTORY_SOURCE = "directory"
SERVICE_MAILBOX_ROLE = "service_mailbox"

ASSOCIATED_FIELDS: FieldSpec = {
    "full_name": [
        "name",
        "full name",
        "person",
        "volunteer name",
        "contact name",
        "first last",
        "first and last",
        "coach",
        "coach name",
    ],
    "last_first": [
        "last, first",
        "last first",
        "name (last, first)",
        "last name, first name",
        "surname, name",
    ],
    "given_name": ["first name", "first", "given name", "nombre", "first nm", "fname"],
    "family_name": [
        "last name",
        "last",
        "surname",
        "family name",
        "apellido",
        "apellidos",
        "lname",
        "last nm",
    ],
    "email": ["email", "e-mail", "email address", "e-mail address", "correo", "correo electronico", "mail"],
    "phone": [
        "phone",
        "phone number",
        "telephone",
        "tel",
        "cell",
        "mobile",
        "cell phone",
        "telefono",
        "contact #",
    ],
    "category": [
        "role",
        "category",
        "role/category",
        "type",
        "affiliation",
        "group",
        "position",
        "capacity",
        "relationship",
        "association",
    ],
    "site": ["school", "site", "campus", "location"],
    "organization": ["organization", "company", "agency", "business", "employer", "org"],
    "language": [
        "language",
        "preferred language",
        "primary language",
        "home language",
        "lang",
        "idioma",
        "idioma preferido",
        "lengua",
        "lenguaje",
    ],
}


_LINE_BREAKS = re.compile(r"[\t\n\r\v\f\x85\u2028\u2029]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


@dataclass(frozen=True, slots=True)
class PersonRecord:
    """One real person after validation (and, after :func:`merge_people`, after deduplication)."""

    person_key: str
    kind: PersonKind
    category: PersonCategory
    given_name: str
    family_name: str
    email: str | None
    phone: str | None  # digits only, last 10
    site_id: str | None
    paper_only: bool
    has_district_account: bool
    active: bool = True  # False for a suspended directory user (a leaver)
    role: str | None = None  # employee job title / District.role; the school's words for associated persons
    directory_id: str | None = None
    # (source label, sheet, row) of each listing of this person; directory users are (label, "", index).
    sources: tuple[tuple[str, str, int], ...] = ()
    also_sites: tuple[str, ...] = ()  # other sites that list the same person
    # Preferred language ("en", "es"; None: this source does not say) and where it was read (compliance.languages)
    language: str | None = None
    language_source: str | None = None

    @property
    def email_normalized(self) -> str | None:
        return normalize_email(self.email)


@dataclass(slots=True)
class RosterResult:
    people: list[PersonRecord] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    skipped: list[Rejected] = field(default_factory=list)  # sheets passed over (see tabular.read_table)


# ------------------------------------------------------------------------------------------------------------
# Normalisation


def normalize_email(email: str | None) -> str | None:
    """Lowercase and strip; dots in Gmail addresses are kept (they are different mailboxes for Workspace)."""
    if not email:
        return None
    return email.strip().lower() or None


def normalize_phone(phone: str | None) -> str | None:
    """Digits only, the last 10 (drops +1 and formatting); fewer than 10 digits is not a usable phone."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[-10:] if len(digits) >= 10 else None


@lru_cache(maxsize=65_536)
def normalize_name(text: str) -> str:
    """Casefold, strip accents, hyphens/apostrophes/dots to nothing or space, collapse spaces."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = re.sub(r"[\u2019'`´.]", "", text)  # O'Brien -> obrien, Jr. -> jr
    text = re.sub(r"[^0-9a-z]+", " ", text)  # hyphens, commas, other punctuation -> space
    return " ".join(text.split())


# The nicknames package covers English names; California lists also carry Spanish hypocorisms and a few
# English forms it lacks. Normalised (no accents) formal name -> nicknames.
EXTRA_NICKNAMES: Mapping[str, frozenset[str]] = {
    formal: frozenset(nicks.split())
    for formal, nicks in {
        "jose": "pepe chepe",
        "francisco": "paco pancho kiko frank",
        "guadalupe": "lupe lupita",
        "jesus": "chuy chucho",
        "alejandro": "alex ale",
        "alejandra": "alex ale",
        "ignacio": "nacho",
        "eduardo": "lalo",
        "enrique": "quique kike",
        "dolores": "lola lolita",
        "rosario": "chayo charo",
        "concepcion": "concha conchita",
        "manuel": "manolo manny",
        "antonio": "tono tony",
        "roberto": "beto",
        "alberto": "beto",
        "guillermo": "memo",
        "rafael": "rafa",
        "fernando": "nando",
        "mercedes": "meche",
        "graciela": "chela",
        "isabel": "chabela",
        "refugio": "cuca cuco",
        "william": "liam",
        "katherine": "katie kate kathy",
        "catherine": "katie kate cathy",
        "alexander": "xander alex",
        "alexandra": "alex sasha",
    }.items()
}


@lru_cache(maxsize=1)
def _name_words() -> tuple[frozenset[str], frozenset[str]]:
    # Faker's en_US and es_MX name lists are a maintained dictionary of given names and surnames.
    from faker.providers.person.en_US import Provider as English
    from faker.providers.person.es_MX import Provider as Spanish

    given = {normalize_name(n) for p in (English, Spanish) for n in p.first_names}
    family = {normalize_name(n) for p in (English, Spanish) for n in p.last_names}
    return frozenset(given), frozenset(family)


def is_second_given_name(word: str) -> bool:
    """True for a word that is a given name and never a surname ('Miguel' in 'Luis Miguel Grijalva')."""
    given, family = _name_words()
    norm = normalize_name(word)
    return norm in given and norm not in family


@lru_cache(maxsize=1)
def _nicknamer() -> Any:
    from nicknames import NickNamer

    return NickNamer()


@lru_cache(maxsize=20_000)
def given_name_forms(given: str) -> frozenset[str]:
    """The normalised given name plus its nickname family: 'Bill' -> {bill, william, ...}."""
    norm = normalize_name(given)
    first = norm.split(" ")[0] if norm else ""
    if not first:
        return frozenset()
    nn = _nicknamer()
    forms = {first}
    forms |= set(nn.canonicals_of(first))
    forms |= set(nn.nicknames_of(first))
    for formal, nicks in EXTRA_NICKNAMES.items():
        if first == formal or first in nicks:
            forms |= {formal, *nicks}
    return frozenset(forms)


def given_names_compatible(a: str, b: str) -> bool:
    """Same first given name, or a known nickname of the other ('Bob' ~ 'Robert', 'Lupe' ~ 'Guadalupe')."""
    na, nb = normalize_name(a), normalize_name(b)
    if not na or not nb:
        return False
    fa, fb = na.split(" ")[0], nb.split(" ")[0]
    if fa == fb:
        return True
    return fb in given_name_forms(a) or fa in given_name_forms(b)


def clean_name(text: str) -> tuple[str | None, str | None]:
    """(cleaned name, None), or (None, reason) for a name to quarantine; see the module docstring."""
    text = _LINE_BREAKS.sub(" ", text)
    if _CONTROL.search(text):
        return None, "name contains a control character"
    if _BIDI.search(text):
        return None, "name contains a bidirectional text override"
    text = _ZERO_WIDTH.sub("", text)
    return " ".join(text.split()), None  # tabs, NBSP and friends -> one space


def person_key(email: str | None, given: str, family: str, phone: str | None, site_id: str | None) -> str:
    """Deterministic key of a person's canonical identity: the email if any, else name + phone/site.

    A paper-only person who later gives an email gets a new key (and the old record becomes a leaver); the
    evidence of any acknowledgement stays attached to the old row.
    """
    norm_email = normalize_email(email)
    if norm_email:
        identity = f"email:{norm_email}"
    else:
        identity = f"name:{normalize_name(family)}|{normalize_name(given)}|{phone or ''}|{site_id or ''}"
    return "p_" + hashlib.sha256(identity.encode()).hexdigest()[:32]


def shared_email_key(email: str, given: str, family: str) -> str:
    """Key of a person who shares an email with someone of another name (a family or PTA mailbox)."""
    identity = f"email:{normalize_email(email)}|name:{normalize_name(family)}|{normalize_name(given)}"
    return "p_" + hashlib.sha256(identity.encode()).hexdigest()[:32]


# ------------------------------------------------------------------------------------------------------------
# Categories


@lru_cache(maxsize=1)
def _category_choices() -> dict[str, PersonCategory]:
    choices: dict[str, PersonCategory] = {}
    for category in PersonCategory.associated():
        choices.setdefault(normalize_header(category), category)
    for category, words in CATEGORY_SYNONYMS.items():
        for word in words:
            choices.setdefault(normalize_header(word), category)
    return choices


@lru_cache(maxsize=4096)  # schools reuse a handful of words: each is mapped once
def map_category(text: str) -> PersonCategory | None:
    """The school's words for a role -> an Associated Person category, or None when unsure.

    Exact synonym first; then the longest synonym whose words all appear in the text ("After school (YMCA)" ->
    after_school_provider); then fuzzy (rapidfuzz ratio >= 85) for typos ("Volunter").
    """
    norm = normalize_header(text)
    if not norm:
        return None
    choices = _category_choices()
    if norm in choices:
        return choices[norm]
    compact = {k.replace(" ", ""): v for k, v in choices.items()}
    if norm.replace(" ", "") in compact:
        return compact[norm.replace(" ", "")]
    tokens = norm.split()
    token_set = set(tokens)
    best: tuple[int, PersonCategory] | None = None
    for choice, category in choices.items():
        words = choice.split()
        if set(words) <= token_set and (best is None or len(choice) > best[0]):
            best = (len(choice), category)
    if best:
        return best[1]
    found = process.extractOne(norm, list(choices), scorer=fuzz.ratio, score_cutoff=85)
    return choices[found[0]] if found else None


# ------------------------------------------------------------------------------------------------------------
# Employees


def org_unit_index(sites: Sequence[Site]) -> dict[str, str]:
    """Casefolded org unit path (no trailing slash) -> site id; the first site wins a shared unit."""
    index: dict[str, str] = {}
    for site in sites:
        index.setdefault(site.org_unit.rstrip("/").casefold(), site.id)
    return index


def site_for_org_unit(org_unit_path: str | None, sites: Sequence[Site] | Mapping[str, str]) -> str | None:
    """The site whose org_unit is the longest prefix of the user's orgUnitPath (sub-units belong to it).

    ``sites`` may be an :func:`org_unit_index` built once: the path's own prefixes are looked up, longest
    first, instead of comparing every site (75,000 users x 1,000 sites was most of a LAUSD roster build).
    """
    if not org_unit_path:
        return None
    index = sites if isinstance(sites, Mapping) else org_unit_index(sites)
    path = org_unit_path.rstrip("/").casefold()
    while True:
        if path in index:
            return index[path]
        cut = path.rfind("/")
        if cut < 0:
            return None
        path = path[:cut]


def _role_of(user: Mapping[str, Any]) -> str | None:
    district = (user.get("customSchemas") or {}).get("District") or {}
    if district.get("role"):
        return str(district["role"])
    orgs = user.get("organizations") or []
    primary = [o for o in orgs if o.get("primary")] or orgs
    for org in primary:
        if org.get("title"):
            return str(org["title"])
    return None


def directory_language(user: Mapping[str, Any]) -> str | None:
    """A Directory user's preferred language: the custom schema's ``District.preferred_language``, else the
    Admin SDK's own ``languages`` entry marked ``preferred`` (languageCode, or a customLanguage's name)."""
    district = (user.get("customSchemas") or {}).get("District") or {}
    found = language_code(district.get("preferred_language"))
    if found:
        return found
    for entry in user.get("languages") or []:
        if isinstance(entry, Mapping) and entry.get("preference", "preferred") == "preferred":
            found = language_code(entry.get("languageCode") or entry.get("customLanguage"))
            if found:
                return found
    return None


# The User fields the roster reads (employees_from_directory): what the Directory's content hash covers, so a
# nightly's lastLoginTime, etag or thumbnail change does not make an unchanged roster look changed.
DIRECTORY_FIELDS = ("id", "primaryEmail", "name", "orgUnitPath", "suspended", "customSchemas", "organizations",
                    "phones", "languages")


def directory_content(users: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each user reduced to :data:`DIRECTORY_FIELDS`, in the order read (see compliance.sources.content_hash)."""
    return [{k: u[k] for k in DIRECTORY_FIELDS if k in u} for u in users]


def employees_from_directory(
    users: Iterable[Mapping[str, Any]],
    sites: Sequence[Site],
    *,
    label: str = DIRECTORY_SOURCE,
    skip_emails: Iterable[str] = (),
) -> RosterResult:
    """Directory ``User`` resources -> people with a district account (see the module docstring).

    ``label`` names the source in records and rejects (row = 1-based position in ``users``); suspended users
    are kept with ``active=False`` so :func:`sync_people` records them as leavers.
    """
    result = RosterResult()
    site_ids = {s.id for s in sites}
    units = org_unit_index(sites)
    skip = {e.strip().lower() for e in skip_emails}
    for index, user in enumerate(users, start=1):
        ref = str(user.get("id") or f"user #{index}")
        email = normalize_email(user.get("primaryEmail"))
        custom = (user.get("customSchemas") or {}).get("District") or {}
        if email in skip or custom.get("role") == SERVICE_MAILBOX_ROLE:
            continue  # the district's own sending mailboxes are not people
        if not email:
            result.rejected.append(Rejected(JOB, label, index, "primaryEmail", "no primary email", ref))
            continue
        name = user.get("name") or {}
        given, reason_g = clean_name(str(name.get("givenName") or ""))
        family, reason_f = clean_name(str(name.get("familyName") or ""))
        if reason_g or reason_f:
            result.rejected.append(Rejected(JOB, label, index, "name", reason_g or reason_f or "", ref))
            continue
        if not given and not family:
            result.rejected.append(Rejected(JOB, label, index, "name", "no name", ref))
            continue
        site_id = site_for_org_unit(user.get("orgUnitPath"), units)
        if site_id is None and custom.get("site_id") in site_ids:
            site_id = str(custom["site_id"])
        phone = next((normalize_phone(p.get("value")) for p in user.get("phones") or []), None)
        role = _role_of(user)
        associated = custom.get("role") in PersonCategory.associated()
        language = directory_language(user)
        result.people.append(
            PersonRecord(
                person_key=person_key(email, given or "", family or "", phone, site_id),
                kind=PersonKind.ASSOCIATED if associated else PersonKind.EMPLOYEE,
                category=PersonCategory(custom["role"]) if associated else PersonCategory.EMPLOYEE,
                given_name=given or "",
                family_name=family or "",
                email=email,
                phone=phone,
                site_id=site_id,
                paper_only=False,
                has_district_account=True,
                active=not bool(user.get("suspended")),
                role=role,
                directory_id=str(user["id"]) if user.get("id") else None,
                sources=((label, "", index),),
                language=language,
                language_source=label if language else None,
            )
        )
    return result


# ------------------------------------------------------------------------------------------------------------
# Associated Persons


def _validate_email(raw: str) -> tuple[str | None, str | None]:
    from email_validator import EmailNotValidError, validate_email

    try:
        info = validate_email(raw, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, f"invalid email address: {exc}"
    return info.normalized.lower(), None


def associated_from_row(row: SourceRow, site_id: str | None) -> PersonRecord | list[Rejected]:
    """Validate one list row; returns the record or the reasons it is rejected (one entry per bad field).

    Problems with the name, whichever column(s) hold it, are reported under the field ``name``.
    """
    problems: list[Rejected] = []

    def reject(field_name: str, reason: str, raw: str | None) -> None:
        problems.append(Rejected(JOB, row.source, row.row, field_name, reason, raw, row.sheet))

    parts = {k: clean_name(row.text(k)) for k in ("given_name", "family_name", "last_first", "full_name")}
    bad = next((reason for _, reason in parts.values() if reason), None)
    given = family = ""
    if bad:
        raw = " | ".join(row.text(k) for k in parts if row.text(k))
        reject("name", bad, raw)
    else:
        given, family = parts["given_name"][0] or "", parts["family_name"][0] or ""
        if not (given or family):
            if parts["last_first"][0]:
                split = split_name(parts["last_first"][0], last_first=True)
                given, family = split.given, split.family
            elif parts["full_name"][0]:
                split = split_name(parts["full_name"][0], is_given=is_second_given_name)
                given, family = split.given, split.family
        if not given or not family:
            raw = " ".join(p for p in (given, family) if p)
            reject("name", "name is required (given and family name)", raw or None)

    email: str | None = None
    raw_email = row.text("email")
    if raw_email:
        email, reason = _validate_email(raw_email)
        if reason:
            reject("email", reason, raw_email)

    raw_category = row.text("category")
    category = map_category(raw_category) if raw_category else None
    if category is None:
        reject(
            "category",
            "unknown Associated Person category" if raw_category else "category is required",
            raw_category or None,
        )

    if problems:
        return problems
    phone = normalize_phone(row.text("phone"))
    language = language_code(row.text("language"))
    assert category is not None
    return PersonRecord(
        person_key=person_key(email, given, family, phone, site_id),
        kind=PersonKind.ASSOCIATED,
        category=category,
        given_name=given,
        family_name=family,
        email=email,
        phone=phone,
        site_id=site_id,
        paper_only=email is None,
        has_district_account=False,  # only the directory knows who has an account
        role=raw_category,
        sources=((row.source, row.sheet, row.row),),
        language=language,
        language_source=_source_ref((row.source, row.sheet, row.row)) if language else None,
    )


def read_associated(
    source: Source,
    site_id: str | None,
    *,
    label: str | None = None,
    limits: Limits | None = None,
) -> RosterResult:
    """Read one school's Associated Persons list (path, or ("sheets:<id>", values)) into records + rejects."""
    read = read_table(source, ASSOCIATED_FIELDS, job=JOB, label=label, limits=limits)
    result = RosterResult(rejected=list(read.rejected), skipped=list(read.skipped))
    for table in read.tables:
        has_name = {"full_name", "last_first", "given_name", "family_name"} & set(table.columns)
        if not has_name:
            result.rejected.append(
                Rejected(
                    JOB,
                    table.source,
                    table.header_row,
                    "name",
                    "no name column in the header",
                    " | ".join(table.headers)[:500],
                    table.sheet,
                )
            )
            continue
        for row in table.rows:
            outcome = associated_from_row(row, site_id)
            if isinstance(outcome, PersonRecord):
                result.people.append(outcome)
            else:
                result.rejected.extend(outcome)
    return result


# ------------------------------------------------------------------------------------------------------------
# Deduplication


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)  # the earliest record stays the representative


def same_person_groups(records: Sequence[PersonRecord]) -> list[list[int]]:
    """Indexes of records that are the same person, each group in input order, groups by first appearance.

    Same normalised email -> same person. Without a shared email: same normalised family name and phone, with
    nickname-compatible given names. Two different emails never merge through name + phone (a parent may share
    a phone with a spouse of the same surname), and one email never merges two people whose names differ
    (:func:`names_compatible`): such pairs are for central office to review (:func:`likely_duplicates`).
    """
    uf = _UnionFind(len(records))
    by_email: dict[str, list[int]] = {}
    by_name_phone: dict[tuple[str, str], list[int]] = {}
    for i, rec in enumerate(records):
        email = rec.email_normalized
        if email:
            # A shared mailbox (a family's, a PTA's) is not one person: the same email merges only people
            # whose names agree; the others stay apart, each with a code of their own.
            earlier = by_email.setdefault(email, [])
            for j in earlier:
                if names_compatible(records[j], rec):
                    uf.union(j, i)
                    break
            earlier.append(i)
        if rec.phone:
            by_name_phone.setdefault((normalize_name(rec.family_name), rec.phone), []).append(i)
    for block in by_name_phone.values():
        for pos, i in enumerate(block):
            for j in block[pos + 1 :]:
                a, b = records[i], records[j]
                if a.email_normalized and b.email_normalized and a.email_normalized != b.email_normalized:
                    continue
                if given_names_compatible(a.given_name, b.given_name):
                    uf.union(i, j)
    groups: dict[int, list[int]] = {}
    for i in range(len(records)):
        groups.setdefault(uf.find(i), []).append(i)
    return [groups[k] for k in sorted(groups)]


def _words(text: str) -> list[str]:
    return normalize_name(text).split()


def names_compatible(a: PersonRecord, b: PersonRecord) -> bool:
    """The same person's name as two lists may write it: one family name's words within the other's ("Garcia"
    and "Garcia Lopez"), and the same first given name or a nickname of it."""
    fa, fb = set(_words(a.family_name)), set(_words(b.family_name))
    if not fa or not fb or not (fa <= fb or fb <= fa):
        return False
    return given_names_compatible(a.given_name, b.given_name)


def _name_quality(rec: PersonRecord) -> tuple[int, ...]:
    # Among spellings of one person, prefer the one carrying the most information: the directory's, then not
    # ALL CAPS, with its accents, without a trailing middle initial, the formal given name over a nickname.
    full = f"{rec.given_name} {rec.family_name}"
    return (
        int(rec.directory_id is not None),
        int(not (full.isupper() and len(full) > 3)),
        int(any(unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", full))),
        int(not re.search(r"\s[A-Za-z]\.?$", rec.given_name)),
        len(normalize_name(rec.given_name).split(" ")[0]) if rec.given_name else 0,
    )


def _merge_group(group: Sequence[PersonRecord]) -> PersonRecord:
    # Identity fields come from the best-spelled record (see _name_quality; ties: first in source order); a
    # value missing there is taken from the next record that has one.
    if len(group) == 1:
        return replace(group[0], also_sites=())
    ordered = sorted(group, key=_name_quality, reverse=True)  # stable: source order breaks ties
    base = ordered[0]
    email = next((r.email for r in ordered if r.email), None)
    phone = next((r.phone for r in ordered if r.phone), None)
    site_id = next((r.site_id for r in ordered if r.site_id), None)
    sources = tuple(s for r in group for s in r.sources)
    also = tuple(dict.fromkeys(r.site_id for r in group if r.site_id and r.site_id != site_id))
    employee = next((r for r in group if r.kind == PersonKind.EMPLOYEE), None)
    directory = next((r for r in group if r.directory_id), None)
    kind_source = employee or directory or base
    spoken = next((r for r in ordered if r.language), None)  # the best-spelled listing that says a language
    return replace(
        base,
        person_key=person_key(email, base.given_name, base.family_name, phone, site_id),
        kind=kind_source.kind,
        category=kind_source.category,
        role=kind_source.role,
        directory_id=directory.directory_id if directory else None,
        email=email,
        phone=phone,
        site_id=site_id,
        paper_only=email is None and employee is None,
        has_district_account=any(r.has_district_account for r in group),
        active=any(r.active for r in group),
        sources=sources,
        also_sites=also,
        language=spoken.language if spoken else None,
        language_source=spoken.language_source if spoken else None,
    )


def merge_people(records: Sequence[PersonRecord]) -> list[PersonRecord]:
    """One record per real person (see :func:`same_person_groups`), in order of first appearance."""
    merged = [_merge_group([records[i] for i in group]) for group in same_person_groups(records)]
    # People sharing an email: the first listed (the directory's, else the first in source order) keeps the
    # email's key, the others get one bound to their name too, so each code identifies one person.
    owner: dict[str, int] = {}
    for pos, rec in enumerate(merged):
        email = rec.email_normalized
        if email is None:
            continue
        first = owner.setdefault(email, pos)
        if first != pos and not (rec.directory_id and not merged[first].directory_id):
            merged[pos] = replace(rec, person_key=shared_email_key(email, rec.given_name, rec.family_name))
        elif first != pos:  # the directory's record owns the email; the earlier one moves over
            prev = merged[first]
            merged[first] = replace(prev, person_key=shared_email_key(email, prev.given_name, prev.family_name))
            owner[email] = pos
    # Two groups can still land on one key (same name, no email, no phone, same site): keep them apart
    # deterministically rather than silently merging people nobody proved to be the same.
    seen: dict[str, int] = {}
    out = []
    for rec in merged:
        key = rec.person_key
        if key in seen:
            seen[key] += 1
            rec = replace(rec, person_key=f"{key}-{seen[key]}")
        else:
            seen[key] = 1
        out.append(rec)
    return out


@dataclass(slots=True)
class RosterPart:
    """What one source gave: the Directory, or one school's list (before deduplication)."""

    label: str
    result: RosterResult
    sha256: str | None = None  # content hash of what was read (see compliance.sources.content_hash)


def read_roster_parts(
    users: Iterable[Mapping[str, Any]],
    associated: Iterable[tuple[Source, str | None, str | None]],
    sites: Sequence[Site],
    *,
    directory_label: str = DIRECTORY_SOURCE,
    skip_emails: Iterable[str] = (),
    limits: Limits | None = None,
) -> list[RosterPart]:
    """Every source read on its own, so each can be checked against its last good read before it counts.

    The Directory comes first, then the lists in the order given (the order deduplication prefers).
    """
    from compliance.sources import content_hash

    users = list(users)
    parts = [
        RosterPart(
            directory_label,
            employees_from_directory(users, sites, label=directory_label, skip_emails=skip_emails),
            content_hash(directory_content(users)),
        )
    ]
    for source, site_id, label in associated:
        part = read_associated(source, site_id, label=label, limits=limits)
        parts.append(RosterPart(label or source_label(source), part, content_hash(source)))
    return parts


def assemble_roster(parts: Sequence[RosterPart], held: Collection[str] = ()) -> RosterResult:
    """Deduplicated people from every part not ``held``, and the rejects of all of them.

    A held source contributes no record: what it said last time stays in the store (see
    :func:`sync_people`'s ``held_sources``), its rejects are still quarantined.
    """
    result = RosterResult()
    records: list[PersonRecord] = []
    for part in parts:
        if part.label not in held:
            records.extend(part.result.people)
        result.rejected.extend(part.result.rejected)
        result.skipped.extend(part.result.skipped)
    result.people = merge_people(records)
    return result


def build_roster(
    users: Iterable[Mapping[str, Any]],
    associated: Iterable[tuple[Source, str | None, str | None]],
    sites: Sequence[Site],
    *,
    directory_label: str = DIRECTORY_SOURCE,
    skip_emails: Iterable[str] = (),
    limits: Limits | None = None,
) -> RosterResult:
    """Directory users + every ``(source, site_id, label)`` list -> deduplicated people and all rejects.

    ``source`` is a path or ``("sheets:<id>", values)``; ``label`` is what rows and quarantine entries call it
    (the profile's entry, e.g. ``associated/lincoln-es.xlsx``; None = the path as given). Every source is taken
    as complete; the nightly sync checks each one first (:func:`read_roster_parts`, compliance.sources).
    """
    parts = read_roster_parts(
        users, associated, sites, directory_label=directory_label, skip_emails=skip_emails, limits=limits
    )
    return assemble_roster(parts)


# ------------------------------------------------------------------------------------------------------------
# Store


@dataclass(frozen=True, slots=True)
class SyncCounts:
    joined: int
    updated: int
    unchanged: int
    left: int


def sync_sites(session: Session, sites: Sequence[Site]) -> None:
    """Upsert the profile's sites (people and consents refer to them); idempotent."""
    existing = {s.id: s for s in session.scalars(select(SiteRow))}
    for site in sites:
        row = existing.get(site.id) or SiteRow(id=site.id)
        row.name, row.kind, row.org_unit = site.name, site.kind, site.org_unit
        row.site_admin_email, row.web_contact_email = str(site.site_admin), str(site.web_contact)
        if site.id not in existing:
            session.add(row)
    session.flush()


_SYNCED = (
    "kind",
    "category",
    "given_name",
    "family_name",
    "email",
    "email_normalized",
    "phone",
    "site_id",
    "has_district_account",
    "paper_only",
    "source",
    "source_ref",
    "preferred_language",
    "language_source",
)


def _source_ref(source: tuple[str, str, int]) -> str:
    label, sheet, row = source
    return f"{label}[{sheet}]#{row}" if sheet else f"{label}#{row}"


def sync_people(
    session: Session,
    records: Sequence[PersonRecord],
    now: datetime,
    *,
    held_sources: Collection[str] = (),
    home_languages: Mapping[str, tuple[str, str]] | None = None,
) -> SyncCounts:
    """Make ``people`` match ``records`` (the complete current roster); safe to re-run.

    New keys are inserted (joiners), known keys updated, and active people whose key is absent - or whose
    record says ``active=False`` (a suspended account) - are set inactive with ``left_at=now`` (leavers). A
    leaver who comes back is reactivated. ``now`` must be timezone-aware. Sites must exist (:func:`sync_sites`).

    People whose stored ``source`` is in ``held_sources`` (compliance.sources) keep their last known state:
    not updated, not made leavers. While the Directory is held, nobody loses ``has_district_account``.

    ``home_languages`` (:func:`sis_home_languages`: guardian email or phone -> (language, where the SIS says
    it)) gives a parent on a committee whose own listing names no language their family's SIS home language.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    held = set(held_sources)
    homes = home_languages or {}
    # Plain rows of the compared columns, not Person objects: an unchanged LAUSD roster (175,000 people) is
    # compared in memory and only the rows that changed are written, in one executemany.
    columns = (Person.id, Person.person_key, Person.active, *(getattr(Person, name) for name in _SYNCED))
    existing = {row.person_key: row for row in session.execute(select(*columns))}
    updated = unchanged = left = 0
    seen: set[str] = set()
    joiners: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    # A person a held list shared with another list was stored under the key their merged record had; read
    # from the other list alone they get another key. Matched to the held person by the same rule as
    # deduplication (email, or family name + phone with compatible given names), they are not a joiner.
    held_people = [p for p in existing.values() if p.source in held and p.active]
    held_emails = {p.email_normalized for p in held_people if p.email_normalized}
    held_phones: dict[tuple[str, str], list[Any]] = {}
    for p in held_people:
        if p.phone:
            held_phones.setdefault((normalize_name(p.family_name), p.phone), []).append(p)

    def listed_by_held_source(rec: PersonRecord) -> bool:
        if rec.email_normalized and rec.email_normalized in held_emails:
            return True
        if not rec.phone:
            return False
        matches = held_phones.get((normalize_name(rec.family_name), rec.phone), [])
        return any(given_names_compatible(rec.given_name, p.given_name) for p in matches)

    for rec in records:
        seen.add(rec.person_key)
        person = existing.get(rec.person_key)
        if person is not None and person.source in held:
            unchanged += 1
            continue
        if held_people and person is None and listed_by_held_source(rec):
            unchanged += 1
            continue
        first_source = rec.sources[0] if rec.sources else ("", "", 0)
        language, language_source = rec.language, rec.language_source
        if language is None and homes and rec.category == PersonCategory.COMMITTEE_PARENT:
            home = homes.get(rec.email_normalized or "") or homes.get(rec.phone or "")
            if home is not None:
                language, language_source = home
        values = {
            "kind": rec.kind,
            "category": rec.category,
            "given_name": rec.given_name[:200],
            "family_name": rec.family_name[:200],
            "email": rec.email,
            "email_normalized": rec.email_normalized,
            "phone": rec.phone,
            "site_id": rec.site_id,
            "has_district_account": rec.has_district_account,
            "paper_only": rec.paper_only,
            "source": first_source[0][:300],
            "source_ref": (rec.directory_id or _source_ref(first_source))[:300],
            "preferred_language": language or "",
            "language_source": (language_source or "")[:300],
        }
        if person is not None and DIRECTORY_SOURCE in held and person.has_district_account:
            values["has_district_account"] = True
        if person is None:
            joiners.append(
                {"person_key": rec.person_key, "first_seen_at": now, **values, "active": rec.active,
                 "left_at": None if rec.active else now}
            )
            continue
        change = {name: values[name] for name in _SYNCED if getattr(person, name) != values[name]}
        if rec.active and not person.active:
            change.update(active=True, left_at=None)
        elif not rec.active and person.active:
            changes.append({"id": person.id, **change, "active": False, "left_at": now})
            left += 1
            continue
        if change:
            changes.append({"id": person.id, **change})
            updated += 1
        else:
            unchanged += 1
    for key, person in existing.items():
        if key not in seen and person.active and person.source not in held:
            changes.append({"id": person.id, "active": False, "left_at": now})
            left += 1
    if joiners:
        # One executemany instead of an ORM object per joiner: a first sync at LAUSD scale inserts 175,000
        # people, and unit-of-work bookkeeping per object was most of the sync's store time.
        session.execute(insert(Person), joiners)
    # Rows differ in which columns changed: one executemany per set of columns.
    by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        by_columns.setdefault(tuple(sorted(change)), []).append(change)
    for batch in by_columns.values():
        session.execute(update(Person), batch)
    session.flush()
    return SyncCounts(len(joiners), updated, unchanged, left)


def sis_home_languages(rows: Iterable[tuple[str | None, str | None, str | None]], label: str = "sis"
                       ) -> dict[str, tuple[str, str]]:
    """(guardian email, guardian phone, home language) of SIS students -> contact -> (language, source).

    A contact whose students' families say different languages is left out: no guess between them.
    """
    found: dict[str, set[str]] = {}
    for email, phone, home in rows:
        language = language_code(home)
        if language is None:
            continue
        for contact in (normalize_email(email), normalize_phone(phone)):
            if contact:
                found.setdefault(contact, set()).add(language)
    return {c: (next(iter(langs)), f"{label} home language") for c, langs in found.items() if len(langs) == 1}


def stored_home_languages(session: Session, label: str = "sis") -> dict[str, tuple[str, str]]:
    """:func:`sis_home_languages` of the active students in the store (what the last SIS load said)."""
    rows = session.execute(
        select(Student.guardian_email, Student.guardian_phone, Student.home_language).where(
            Student.active.is_(True), Student.home_language.is_not(None)
        )
    )
    return sis_home_languages(((e, p, h) for e, p, h in rows), label)


def apply_home_languages(session: Session, homes: Mapping[str, tuple[str, str]]) -> int:
    """Parents on committees whose own listing names no language take their family's SIS home language now
    (the SIS loads after the roster; the next roster sync keeps the same answer). Returns how many changed."""
    stmt = select(Person.id, Person.email_normalized, Person.phone, Person.preferred_language,
                  Person.language_source).where(
        Person.active.is_(True), Person.category == PersonCategory.COMMITTEE_PARENT)
    changes = []
    for pid, email, phone, language, source in session.execute(stmt):
        if language and not source.endswith(" home language"):
            continue  # their own list or the Directory said it
        home = homes.get(email or "") or homes.get(phone or "")
        if home is not None and (language, source) != home:
            changes.append({"id": pid, "preferred_language": home[0], "language_source": home[1][:300]})
    if changes:
        session.execute(update(Person), changes)
        session.flush()
    return len(changes)


# ------------------------------------------------------------------------------------------------------------
# An unchanged roster


ROSTER_FINGERPRINT_KEY = "roster.fingerprint"
# The modules whose rules decide what a source's content becomes: a new release re-reads every source once.
_RULE_MODULES = ("roster", "tabular", "languages", "vocabulary", "quarantine")


@lru_cache(maxsize=1)
def _rules_digest() -> str:
    folder = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for name in _RULE_MODULES:
        digest.update((folder / f"{name}.py").read_bytes())
    return digest.hexdigest()


def roster_fingerprint(
    hashes: Sequence[tuple[str, str | None]],
    sites: Sequence[Site],
    skip_emails: Iterable[str],
    home_languages: Mapping[str, tuple[str, str]],
) -> str:
    """One hash of everything a sync's result depends on: each source's (label, content hash) in order, the
    sites' ids and org units, the service mailboxes left out, the SIS home languages, and the rules' own code.
    The same fingerprint as the last complete sync means the store already holds exactly this roster."""
    digest = hashlib.sha256(_rules_digest().encode())
    digest.update(json.dumps([list(h) for h in hashes]).encode())
    digest.update(json.dumps(sorted((s.id, s.org_unit) for s in sites)).encode())
    digest.update(json.dumps(sorted(e.strip().lower() for e in skip_emails)).encode())
    digest.update(json.dumps(sorted((k, list(v)) for k, v in home_languages.items())).encode())
    return digest.hexdigest()


def roster_unchanged(session: Session, fingerprint: str, hashes: Sequence[tuple[str, str | None]]) -> bool:
    """Whether this read is the one the store already holds, so parsing, deduplication and the person-by-person
    compare can be skipped (an unchanged LAUSD roster: 1,000 lists and 75,000 accounts, every night).

    True only when the last complete sync recorded this fingerprint (so every source holds what it held then), every
    source that is not held has its last good read's hash (a held one is held again for the same content), and
    the store still has the number of active people that sync left (nothing else changed them since).
    """
    row = session.get(SyncState, ROSTER_FINGERPRINT_KEY)
    if row is None:
        return False
    last = json.loads(row.value)
    if last.get("fingerprint") != fingerprint:
        return False
    reads = {r.source: r for r in session.scalars(select(SourceRead).where(SourceRead.job == JOB))}
    for label, sha in hashes:
        read = reads.get(label)
        if read is None or (read.held_since is None and (sha is None or read.good_sha256 != sha)):
            return False
    active = session.scalar(select(func.count()).select_from(Person).where(Person.active.is_(True)))
    return active == last.get("active")


def remember_roster(session: Session, fingerprint: str, now: datetime, counts: Mapping[str, int]) -> None:
    """Record a complete sync's fingerprint, the active people it left (see :func:`roster_unchanged`) and the
    counts it reported (an unchanged night reports them again)."""
    active = session.scalar(select(func.count()).select_from(Person).where(Person.active.is_(True)))
    value = json.dumps({"fingerprint": fingerprint, "active": active, "at": now.isoformat(), "counts": dict(counts)})
    row = session.get(SyncState, ROSTER_FINGERPRINT_KEY)
    if row is None:
        session.add(SyncState(key=ROSTER_FINGERPRINT_KEY, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    session.flush()


def remembered_counts(session: Session) -> dict[str, int]:
    """The counts the last complete sync reported (people, rows rejected, likely duplicates)."""
    row = session.get(SyncState, ROSTER_FINGERPRINT_KEY)
    return dict(json.loads(row.value).get("counts") or {}) if row is not None else {}

