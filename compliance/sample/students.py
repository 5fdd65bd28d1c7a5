"""SIS export and per-school parental consent spreadsheets, with the consent truth computed by the rule."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Any

from compliance.sample.context import AS_OF, LAST_YEAR_START, YEAR_START, Ctx, SiteInfo, Student
from compliance.sample.names import NICKNAMES, PLACE_SURNAMES, WORD_GIVEN_NAMES, email_for, strip_accents
from compliance.sample.people import _sheet_id
from compliance.sample.writers import (
    Formula,
    SheetSpec,
    write_csv,
    write_sheet_json,
    write_xlsx,
    write_xlsx_stream,
)

PURPOSES = ("website", "social_media", "yearbook", "press")
GRADES = {
    "elementary": ["TK", "K", "1", "2", "3", "4", "5"],
    "middle": ["6", "7", "8"],
    "k8": ["K", "1", "2", "3", "4", "5", "6", "7", "8"],
    "high": ["9", "10", "11", "12"],
}
# Share of students per consent scenario; the rest have no form at all.
SCENARIOS = (
    ("ok", 52),
    ("none", 18),
    ("revoked", 4),
    ("expired", 7),
    ("principal_missing", 5),
    ("purpose_not_covered", 4),
    ("parent_no", 2),
    ("renewed", 5),
    ("future_revoke", 1),
)
UNPARSABLE_DATES = ("sometime in Sept", "31/31/2026", "TBD", "9/31/2026", "Fall")


@dataclass
class ConsentRecord:
    student_id: str
    parent: bool
    signed: dt.date
    principal: bool
    purposes: frozenset[str]
    revoked: dt.date | None = None
    order: int = 0
    defect: str | None = None  # student_id | signed_date: a row to quarantine, never in force
    unknown_id: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def school_year_start(day: dt.date) -> dt.date:
    start = dt.date(day.year, YEAR_START.month, YEAR_START.day)
    return start if day >= start else dt.date(day.year - 1, start.month, start.day)


def website_status(records: list[ConsentRecord], as_of: dt.date, purpose: str = "website") -> tuple[bool, str]:
    """The rule in SAMPLE.md, for the truth file: latest valid record by (signed date, file order) decides."""
    valid = [r for r in records if r.defect is None and r.signed <= as_of]
    if not valid:
        return False, "no_consent"
    rec = max(valid, key=lambda r: (r.signed, r.order))
    if not rec.parent:
        return False, "no_consent"
    if rec.revoked is not None and rec.revoked <= as_of:
        return False, "revoked"
    if rec.signed < school_year_start(as_of):
        return False, "expired"
    if purpose not in rec.purposes:
        return False, "purpose_not_covered"
    if not rec.principal:
        return False, "principal_missing"
    return True, "ok"


# ---------------------------------------------------------------- students


def make_students(ctx: Ctx) -> None:
    rng = ctx.rng("students")
    schools = [s for s in ctx.sites if s.is_school]
    total = len(schools) * ctx.scale.students_per_school
    ids = rng.sample(range(2_000_000, 9_999_999), total)
    k = 0
    rows: list[list[str]] = [
        ["student_id", "legal_first", "legal_last", "preferred_first", "preferred_last", "grade", "site_id"]
    ]
    for site in schools:
        grades = GRADES.get(site.kind, GRADES["elementary"])
        for i in range(ctx.scale.students_per_school):
            given, family = ctx.pools.person(rng, 0.55)
            # A few students per school carry names that are also words or places on the pages.
            if i < len(WORD_GIVEN_NAMES) and ctx.scale.name == "standard":
                given = WORD_GIVEN_NAMES[i]
            elif i < len(WORD_GIVEN_NAMES) + len(PLACE_SURNAMES) and ctx.scale.name == "standard":
                family = PLACE_SURNAMES[i - len(WORD_GIVEN_NAMES)]
            pref_first = pref_last = ""
            if given in NICKNAMES and rng.random() < 0.5:
                pref_first = rng.choice(NICKNAMES[given])
            elif " " in given and rng.random() < 0.4:
                pref_first = given.split()[0]  # "Luis Miguel" goes by "Luis"
            if " " in family and rng.random() < 0.15:
                pref_last = family.split()[0]
            st = Student(str(ids[k]), given, family, pref_first, pref_last, rng.choice(grades), site.id)
            k += 1
            ctx.students.append(st)
            rows.append([st.id, st.legal_first, st.legal_last, pref_first, pref_last, st.grade, site.id])
    (ctx.out / "sis").mkdir(exist_ok=True)
    write_csv(ctx.out / "sis" / "students.csv", rows, "utf-8")
    ctx.summary["students"] = len(ctx.students)


# ---------------------------------------------------------------- consent


def _date_in(rng: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rng.randrange(max(1, (end - start).days)))


def _purposes(rng: random.Random, website: bool = True) -> frozenset[str]:
    if not website:
        return frozenset(rng.choice([("yearbook",), ("yearbook", "press"), ("yearbook",), ("social_media",)]))
    others = [p for p in PURPOSES if p != "website" and rng.random() < 0.6]
    return frozenset(["website", *others])


def _records_for(rng: random.Random, st: Student, scenario: str) -> list[ConsentRecord]:
    this_year = _date_in(rng, YEAR_START + dt.timedelta(days=5), AS_OF - dt.timedelta(days=12))
    last_year = _date_in(rng, LAST_YEAR_START + dt.timedelta(days=10), dt.date(2026, 6, 10))
    base = {"student_id": st.id, "parent": True, "principal": True}
    if scenario == "ok":
        return [ConsentRecord(signed=this_year, purposes=_purposes(rng), **base)]
    if scenario == "revoked":
        revoked = _date_in(rng, this_year + dt.timedelta(days=1), AS_OF)
        return [ConsentRecord(signed=this_year, purposes=_purposes(rng), revoked=revoked, **base)]
    if scenario == "future_revoke":
        return [ConsentRecord(signed=this_year, purposes=_purposes(rng), revoked=dt.date(2027, 1, 15), **base)]
    if scenario == "expired":
        return [ConsentRecord(signed=last_year, purposes=_purposes(rng), **base)]
    if scenario == "principal_missing":
        return [ConsentRecord(signed=this_year, purposes=_purposes(rng), **{**base, "principal": False})]
    if scenario == "purpose_not_covered":
        return [ConsentRecord(signed=this_year, purposes=_purposes(rng, website=False), **base)]
    if scenario == "parent_no":
        return [ConsentRecord(signed=this_year, purposes=frozenset(), **{**base, "parent": False})]
    if scenario == "renewed":
        return [
            ConsentRecord(signed=last_year, purposes=_purposes(rng), **base),
            ConsentRecord(signed=this_year, purposes=_purposes(rng), **base),
        ]
    return []


def make_consent(ctx: Ctx) -> None:
    """Consent records per school, written in the school's layout; truth computed with ``website_status``."""
    rng = ctx.rng("consent")
    by_site: dict[str, list[Student]] = {}
    for st in ctx.students:
        by_site.setdefault(st.site_id, []).append(st)
    known = {st.id for st in ctx.students}
    order = 0
    names = [s for s, _ in SCENARIOS]
    weights = [w for _, w in SCENARIOS]
    all_records: dict[str, list[ConsentRecord]] = {}
    for site in [s for s in ctx.sites if s.is_school]:
        students = by_site.get(site.id, [])
        recs: list[ConsentRecord] = []
        plain: list[Student] = []
        for st in students:
            scenario = rng.choices(names, weights)[0]
            got = _records_for(rng, st, scenario)
            if scenario == "none":
                plain.append(st)
            recs.extend(got)
        # Same-day conflicting duplicate: the later row in the file wins, and the pair is flagged.
        if plain:
            st = plain.pop()
            day = _date_in(rng, YEAR_START + dt.timedelta(days=5), AS_OF - dt.timedelta(days=12))
            recs.append(ConsentRecord(st.id, True, day, True, frozenset(PURPOSES)))
            recs.append(ConsentRecord(st.id, True, day, False, frozenset(PURPOSES), extra={"conflict": True}))
            ctx.consent_conflicts.append(st.id)
        # Rows to quarantine: an unparsable date (the student then has no consent), an unknown student id.
        if plain:
            st = plain.pop()
            recs.append(
                ConsentRecord(
                    st.id,
                    True,
                    YEAR_START,
                    True,
                    frozenset(PURPOSES),
                    defect="signed_date",
                    extra={"raw_date": rng.choice(UNPARSABLE_DATES)},
                )
            )
        ghost = str(rng.randrange(10_000_000, 10_999_999))
        while ghost in known:
            ghost = str(int(ghost) + 1)
        recs.append(
            ConsentRecord(
                ghost,
                True,
                YEAR_START + dt.timedelta(days=20),
                True,
                frozenset(PURPOSES),
                defect="student_id",
                unknown_id=True,
            )
        )
        rng.shuffle(recs)
        # Keep same-day conflicts in a known order: ok row first, principal-missing row after it.
        recs.sort(key=lambda r: 1 if r.extra.get("conflict") else 0)
        for r in recs:
            order += 1
            r.order = order
            if not r.unknown_id:
                all_records.setdefault(r.student_id, []).append(r)
        write_consent(ctx, site, recs, {st.id: st for st in students}, rng)
    truth: dict[str, dict[str, Any]] = {}
    for st in ctx.students:
        allowed, reason = website_status(all_records.get(st.id, []), AS_OF)
        truth[st.id] = {"allowed": allowed, "reason": reason}
    ctx.consent_truth = truth
    reasons: dict[str, int] = {}
    for v in truth.values():
        reasons[v["reason"]] = reasons.get(v["reason"], 0) + 1
    ctx.summary["consent_rows"] = order
    ctx.summary["consent_reasons"] = dict(sorted(reasons.items()))


# ---------------------------------------------------------------- consent layouts


def _fmt_date(day: dt.date, rng: random.Random, cells: bool) -> Any:
    styles = ["iso", "us", "us0", "short", "long", "dmy"] + (["cell"] * 4 if cells else [])
    style = rng.choice(styles)
    if style == "cell":
        return dt.datetime(day.year, day.month, day.day)
    return {
        "iso": day.isoformat(),
        "us": f"{day.month}/{day.day}/{day.year}",
        "us0": f"{day.month:02d}/{day.day:02d}/{day.year}",
        "short": f"{day.month}/{day.day}/{day.year % 100:02d}",
        "long": day.strftime("%b %-d, %Y"),
        "dmy": day.strftime("%-d-%b-%Y"),
    }[style]


def _signed(r: ConsentRecord, rng: random.Random, cells: bool) -> Any:
    if r.defect == "signed_date":
        return r.extra["raw_date"]
    return _fmt_date(r.signed, rng, cells)


def _yes(rng: random.Random, ascii_only: bool) -> str:
    return rng.choice(["Y", "Yes", "X", "yes", "YES"] + ([] if ascii_only else ["✓", "✔"]))


def _no(rng: random.Random) -> str:
    return rng.choice(["N", "No", "no", "NO"])


PURPOSE_WORDS = {
    "website": ("website", "Website", "web site", "school website"),
    "social_media": ("social media", "Social Media", "facebook/instagram"),
    "yearbook": ("yearbook", "Yearbook"),
    "press": ("press", "Press", "newspaper"),
}
SPANISH_PURPOSES = {
    "website": "sitio web",
    "social_media": "redes sociales",
    "yearbook": "anuario",
    "press": "prensa",
}


def _purpose_list(r: ConsentRecord, rng: random.Random, spanish: bool = False) -> str:
    words = []
    for p in PURPOSES:
        if p in r.purposes:
            words.append(SPANISH_PURPOSES[p] if spanish and rng.random() < 0.5 else rng.choice(PURPOSE_WORDS[p]))
    return rng.choice([", ", "; ", ","]).join(words)


def write_consent(
    ctx: Ctx, site: SiteInfo, recs: list[ConsentRecord], students: dict[str, Student], rng: random.Random
) -> None:
    layout = site.consent_layout
    folder = ctx.out / "consent"
    folder.mkdir(exist_ok=True)
    placed: list[tuple[ConsentRecord, str | None, int]] = []
    parent_email_rng = random.Random(f"{ctx.seed}:parents:{site.id}")

    def name_of(r: ConsentRecord) -> tuple[str, str]:
        st = students.get(r.student_id)
        if st is None:
            return ctx.pools.person(rng)
        # Office staff type what the parent wrote: sometimes the preferred name, sometimes no accents.
        first = st.first if rng.random() < 0.3 else st.legal_first
        last = st.legal_last
        if rng.random() < 0.15:
            first, last = strip_accents(first), strip_accents(last)
        return first, last

    if layout == "merged_xlsx":
        rows: list[list[Any]] = [
            [f"{site.name} - Photo / Media Release 2026-27"],
            ["Front office copy - do not sort"],
            [],
            [
                "Student ID",
                "Student (Last, First)",
                "Grade",
                "Parent consent",
                "Purposes",
                None,
                None,
                None,
                "Date signed",
                "Principal approval",
                "Revoked",
                "Notes",
            ],
            [None, None, None, None, "Website", "Social Media", "Yearbook", "Press"],
        ]
        merges = ["A1:L1", "A2:L2", "E4:H4"] + [f"{c}4:{c}5" for c in "ABCDIJKL"]
        for r in recs:
            first, last = name_of(r)
            st = students.get(r.student_id)
            marks = [(_yes(rng, False) if p in r.purposes else None) for p in PURPOSES]
            note: Any = rng.choice(["", "", "", "sibling in 3rd", "form in blue folder"])
            if rng.random() < 0.05:
                note = Formula(f'=HYPERLINK("https://sis.{ctx.domain}/students/{r.student_id}","SIS record")')
            rows.append(
                [
                    r.student_id,
                    f"{last}, {first}",
                    st.grade if st else "",
                    _yes(rng, False) if r.parent else _no(rng),
                    *marks,
                    _signed(r, rng, True),
                    rng.choice(["JM", "ok", "✓", "Approved"]) if r.principal else None,
                    _fmt_date(r.revoked, rng, True) if r.revoked else None,
                    note,
                ]
            )
            placed.append((r, "Releases", len(rows)))
        source = f"consent/{site.id}.xlsx"
        write_xlsx(ctx.out / source, [SheetSpec("Releases", rows, merges, {"B": 28, "I": 14})])
    elif layout == "list_csv":
        rows = [
            [
                "student_id",
                "first_name",
                "last_name",
                "media_release",
                "uses",
                "signed",
                "admin_ok",
                "revoked_on",
            ]
        ]
        for r in recs:
            first, last = name_of(r)
            rows.append(
                [
                    r.student_id,
                    first,
                    last,
                    _yes(rng, True) if r.parent else _no(rng),
                    _purpose_list(r, rng) if r.parent else "",
                    _signed(r, rng, False),
                    rng.choice(["Y", "yes", "ok"]) if r.principal else "",
                    _fmt_date(r.revoked, rng, False) if r.revoked else "",
                ]
            )
            placed.append((r, None, len(rows)))
        source = f"consent/{site.id}.csv"
        write_csv(ctx.out / source, rows, "utf-8")
    elif layout == "sheet_bilingual":
        rows = [
            [f"Permiso de fotos / Photo permission {site.short} 2026-2027"],
            [
                "ID",
                "Nombre del estudiante / Student name",
                "Firma del padre (fecha) / Parent signed (date)",
                "Permisos / Uses",
                "Director(a) / Principal",
                "Revocado / Revoked",
            ],
        ]
        for r in recs:
            first, last = name_of(r)
            signed = _signed(r, rng, False) if r.parent else rng.choice(["NO", "no firmó / declined", "No"])
            rows.append(
                [
                    r.student_id,
                    f"{first} {last}",
                    signed,
                    _purpose_list(r, rng, spanish=True),
                    rng.choice(["LM", "Sí", "ok"]) if r.principal else "",
                    _fmt_date(r.revoked, rng, False) if r.revoked else "",
                ]
            )
            placed.append((r, "Respuestas", len(rows)))
        sid = _sheet_id(rng)
        source = f"sheets:{sid}"
        (ctx.out / "sheets").mkdir(exist_ok=True)
        write_sheet_json(
            ctx.out / "sheets" / f"{sid}.json",
            sid,
            f"{site.short} photo permission 2026-27",
            [SheetSpec("Respuestas", rows)],
        )
    elif layout == "columns_cp1252":
        rows = [
            [
                "ID#",
                "Last",
                "First",
                "Consent (Y/N)",
                "Website",
                "Social",
                "Yearbook",
                "Press",
                "Signed",
                "Principal Initials",
                "Revoked Date",
            ]
        ]
        for r in recs:
            first, last = name_of(r)
            marks = [(rng.choice(["Y", "X", "x"]) if p in r.purposes else "") for p in PURPOSES]
            rows.append(
                [
                    r.student_id,
                    last,
                    first,
                    rng.choice(["Y", "Yes"]) if r.parent else _no(rng),
                    *marks,
                    _signed(r, rng, False),
                    rng.choice(["KW", "kw", "K.W."]) if r.principal else "",
                    _fmt_date(r.revoked, rng, False) if r.revoked else "",
                ]
            )
            placed.append((r, None, len(rows)))
        source = f"consent/{site.id}.csv"
        write_csv(ctx.out / source, rows, "cp1252")
    elif layout in ("typed_xlsx", "typed_xlsx_stream"):
        header = [
            "Student Number",
            "Legal Name",
            "Preferred",
            "Consent",
            "Purposes",
            "Signed On",
            "Principal Approved On",
            "Revoked On",
            "Parent Email",
        ]
        rows = [header]
        for r in recs:
            first, last = name_of(r)
            st = students.get(r.student_id)
            approved = r.signed + dt.timedelta(days=rng.randrange(0, 9))
            pg, pf = ctx.pools.person(parent_email_rng)
            parent_email = email_for(pg, last, parent_email_rng)
            rows.append(
                [
                    int(r.student_id) if r.student_id.isdigit() else r.student_id,  # SIS numbers typed as numbers
                    f"{last}, {first}",
                    st.preferred_first if st else "",
                    "Yes" if r.parent else "No",
                    _purpose_list(r, rng) if r.parent else "",
                    _signed(r, rng, True),
                    dt.datetime(approved.year, approved.month, approved.day) if r.principal else None,
                    dt.datetime(r.revoked.year, r.revoked.month, r.revoked.day) if r.revoked else None,
                    Formula(f'=HYPERLINK("mailto:{parent_email}","{parent_email}")')
                    if rng.random() < 0.3
                    else parent_email,
                ]
            )
            placed.append((r, "Consents", len(rows)))
        source = f"consent/{site.id}.xlsx"
        if layout == "typed_xlsx":
            instructions = [
                ["How to use this sheet"],
                ["One row per signed form. Dates as dates."],
                ["Principal fills 'Principal Approved On' after review."],
            ]
            write_xlsx(ctx.out / source, [SheetSpec("Instructions", instructions), SheetSpec("Consents", rows)])
        else:
            write_xlsx_stream(ctx.out / source, "Consents", rows)
    else:
        raise ValueError(f"unknown consent layout {layout}")
    site.consent_sources.append(source)
    for r, sheet, row in placed:
        if r.defect:
            ref: dict[str, Any] = {"source": source, "row": row, "field": r.defect}
            if sheet:
                ref["sheet"] = sheet
            ctx.consent_quarantine.append(ref)
