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

PURPOSES = ("website", "social_media", "yearbook", "press", "video")
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
# What school offices write in the principal column when the principal has not approved (rule 4).
UNUSUAL_PRINCIPAL = ("TBD", "Pend", "ask", "N/A", "?", "pending")


@dataclass
class ConsentRecord:
    student_id: str
    parent: bool
    signed: dt.date | None
    principal: bool
    purposes: frozenset[str]
    revoked: dt.date | None = None
    order: int = 0
    # student_id | signed_date | purposes | opt_out_date: a row to quarantine, never in force
    defect: str | None = None
    unknown_id: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    kind: str = "consent"  # consent | opt_out (a line of a FERPA directory-information opt-out list)
    opted_out: dt.date | None = None
    approved_on: dt.date | None = None  # principal approval date, where the layout has one
    principal_raw: str | None = None  # an unusual principal value ("TBD"): not approval, noted in Data Quality
    no_id: bool = False  # written without a student id: found by name (rule 5) or quarantined
    written_as: str | None = None  # the row carries this other student's name (id/name mismatch, rule 6)
    grade: str | None = None  # grade written on a row without an id ("" leaves the cell blank)
    name_text: tuple[str, str] | None = None  # (first, last) written exactly, for rows found by name
    file: str = "main"  # main | late | optout


def school_year_start(day: dt.date) -> dt.date:
    start = dt.date(day.year, YEAR_START.month, YEAR_START.day)
    return start if day >= start else dt.date(day.year - 1, start.month, start.day)


def consent_status(records: list[ConsentRecord], as_of: dt.date, purpose: str = "website") -> tuple[bool, str]:
    """The consent rules (README "Consent rules") on the generator's records, for the truth file.

    One history per student: a revocation, a dated refusal or an opt-out dated on or before ``as_of`` cancels
    every grant signed on or before its date; consent holds for its school year; a grant must cover the
    purpose and carry a principal approval in force. Quarantined rows never count.
    """
    year = school_year_start(as_of)
    valid = [r for r in records if r.defect is None]
    grants = [r for r in valid if r.kind == "consent" and r.parent and r.signed and r.signed <= as_of]
    cancels = sorted(
        [(r.revoked, "revoked", r) for r in valid if r.revoked and r.revoked <= as_of]
        + [(r.opted_out, "opted_out", r) for r in valid if r.opted_out and r.opted_out <= as_of]
        + [
            (r.signed, "no_consent", r)
            for r in valid
            if r.kind == "consent" and not r.parent and r.signed and r.signed <= as_of
        ],
        key=lambda c: (c[0], c[2].order),
    )

    def cancel(g: ConsentRecord) -> str | None:
        assert g.signed is not None
        return next((why for when, why, r in cancels if when >= g.signed or r is g), None)

    def latest(rows: list[ConsentRecord]) -> ConsentRecord:
        return max(rows, key=lambda r: (r.signed, r.order))

    this_year = [g for g in grants if g.signed and g.signed >= year]
    covering = [g for g in this_year if purpose in g.purposes]
    live = [g for g in covering if cancel(g) is None]
    if any(g.principal and (g.approved_on is None or g.approved_on <= as_of) for g in live):
        return True, "ok"
    if live:
        return False, "principal_missing"
    if covering:
        return False, cancel(latest(covering)) or "no_consent"
    if any(cancel(g) is None for g in this_year):
        return False, "purpose_not_covered"
    if this_year:
        return False, cancel(latest(this_year)) or "no_consent"
    if grants:
        return False, cancel(latest(grants)) or "expired"
    if any(why == "opted_out" for _, why, _ in cancels):
        return False, "opted_out"
    return False, "no_consent"


def website_status(records: list[ConsentRecord], as_of: dt.date, purpose: str = "website") -> tuple[bool, str]:
    """:func:`consent_status` (the name the truth file's first version used)."""
    return consent_status(records, as_of, purpose)


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
    """Consent records per school in the school's files; truth computed with :func:`consent_status`.

    Each school has its main consent file (its own layout), a file of late and updated forms (Spanish-headed
    cp1252 CSV or an xlsx with title rows) and a FERPA directory opt-out list; :func:`_rule_cases` puts every
    case of the consent rules in them (history across files, unusual principal marks, rows without ids,
    id/name mismatches, forms naming no purposes, opt-outs, school-year boundary, video).
    """
    rng = ctx.rng("consent")
    by_site: dict[str, list[Student]] = {}
    for st in ctx.students:
        by_site.setdefault(st.site_id, []).append(st)
    known = {st.id for st in ctx.students}
    from compliance.consent import Roster

    roster = Roster(ctx.students)
    order = 0
    rows_written = 0
    names = [s for s, _ in SCENARIOS]
    weights = [w for _, w in SCENARIOS]
    all_records: dict[str, list[ConsentRecord]] = {}
    for idx, site in enumerate(s for s in ctx.sites if s.is_school):
        students = by_site.get(site.id, [])
        recs: list[ConsentRecord] = []
        plain: list[Student] = []
        for st in students:
            scenario = rng.choices(names, weights)[0]
            got = _records_for(rng, st, scenario)
            if scenario == "none":
                plain.append(st)
            recs.extend(got)
        # Same-day duplicates that disagree: both forms are in force (the approved one allows), the pair flagged.
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
        rules_rng = ctx.rng(f"consent-rules:{site.id}")
        late_default = idx % 2 == 0  # every other school's profile names default purposes for its late forms
        cases = _rule_cases(ctx, site, students, plain, rules_rng, roster, late_default)
        main = list(recs)
        for r in (c for c in cases if c.file == "main"):
            main.insert(rules_rng.randrange(len(main) + 1), r)
        files = {"main": main, "late": [c for c in cases if c.file == "late"],
                 "optout": [c for c in cases if c.file == "optout"]}  # fmt: skip
        for name in ("main", "late", "optout"):
            for r in files[name]:
                order += 1
                r.order = order
                if not r.unknown_id:
                    all_records.setdefault(r.student_id, []).append(r)
        by_id = {st.id: st for st in students}
        rows_written += len(main) + len(files["late"]) + len(files["optout"])
        write_consent(ctx, site, main, by_id, rng)
        write_late_forms(ctx, site, idx, files["late"], by_id, rules_rng, late_default)
        write_opt_outs(ctx, site, idx, files["optout"], by_id, rules_rng)
    truth: dict[str, dict[str, Any]] = {}
    for st in ctx.students:
        history = all_records.get(st.id, [])
        allowed, reason = consent_status(history, AS_OF)
        others = [p for p in PURPOSES if consent_status(history, AS_OF, p)[0]]
        truth[st.id] = {"allowed": allowed, "reason": reason, "allowed_purposes": others}
    ctx.consent_truth = truth
    ctx.consent_histories = all_records
    reasons: dict[str, int] = {}
    for v in truth.values():
        reasons[v["reason"]] = reasons.get(v["reason"], 0) + 1
    ctx.summary["consent_rows"] = rows_written
    ctx.summary["consent_reasons"] = dict(sorted(reasons.items()))


def _words(first: str, last: str) -> list[str]:
    from compliance.photos.matching import fold

    return fold(f"{first} {last}").split()


def _rule_cases(
    ctx: Ctx,
    site: SiteInfo,
    students: list[Student],
    plain: list[Student],
    rng: random.Random,
    roster: Any,
    late_default: bool,
) -> list[ConsentRecord]:
    """One of each consent-rule case for this school, on students who have no other form.

    The roster (``compliance.consent.Roster``) only picks students whose written name reads one way (unique,
    or shared with a namesake); what each case decides is computed by :func:`consent_status` like the rest.
    """
    out: list[ConsentRecord] = []
    d = dt.date
    yes = {"parent": True, "principal": True}

    def take() -> Student | None:
        return plain.pop() if plain else None

    def add(st: Student | None, *recs: ConsentRecord) -> None:
        if st is not None:
            out.extend(recs)

    def grant(st: Student, signed: dt.date, file: str = "main", **kw: Any) -> ConsentRecord:
        args = {**yes, "purposes": kw.pop("purposes", None) or _purposes(rng)}
        args.update({k: kw.pop(k) for k in ("parent", "principal") if k in kw})
        return ConsentRecord(st.id, signed=signed, file=file, **args, **kw)

    # Rule 3: history across files.
    for first, second in (
        ((d(2026, 9, 5), d(2026, 10, 20)), (d(2026, 10, 17), None)),  # the newer form does not survive
        ((d(2026, 9, 5), d(2026, 10, 1)), (d(2026, 10, 8), None)),  # a grant after the revocation
        ((d(2026, 9, 5), d(2026, 10, 10)), (d(2026, 10, 10), None)),  # same day: the revocation wins
        ((d(2026, 9, 5), None), (d(2026, 9, 9), d(2026, 10, 12))),  # the other guardian revokes
    ):
        st = take()
        if st is not None:
            out.append(grant(st, first[0], revoked=first[1], extra={"guardian": "Mother"},
                             purposes=frozenset({"website", "yearbook"})))  # fmt: skip
            out.append(grant(st, second[0], "late", revoked=second[1], extra={"guardian": "Father"},
                             purposes=frozenset({"website", "press"})))  # fmt: skip
    # Rule 4: unusual principal values (noted), and an approval dated after the truth date.
    for _ in range(2):
        st = take()
        add(st, *([grant(st, d(2026, 9, 12), principal=False, principal_raw=rng.choice(UNUSUAL_PRINCIPAL))]
                  if st else []))  # fmt: skip
    st = take()
    add(st, *([grant(st, d(2026, 9, 15), "late", approved_on=AS_OF + dt.timedelta(days=6))] if st else []))
    # Rule 2: the school-year boundary and a signature after the truth date.
    st = take()
    add(st, *([grant(st, YEAR_START - dt.timedelta(days=12))] if st else []))
    st = take()
    add(st, *([grant(st, AS_OF + dt.timedelta(days=3))] if st else []))
    # Rule 7: video only; forms naming no purposes (default for the late file on every other school).
    st = take()
    add(st, *([grant(st, d(2026, 9, 20), "late", purposes=frozenset({"video"}))] if st else []))
    st = take()
    if st is not None:
        out.append(ConsentRecord(st.id, True, d(2026, 9, 18), True, frozenset(), defect="purposes"))
    st = take()
    if st is not None:
        if late_default:
            out.append(ConsentRecord(st.id, True, d(2026, 9, 19), True, frozenset({"website", "yearbook"}),
                                     file="late", extra={"blank_purposes": True}))  # fmt: skip
        else:
            out.append(ConsentRecord(st.id, True, d(2026, 9, 19), True, frozenset(), defect="purposes", file="late"))
    # Rule 6: an id with another student's name.
    st = take()
    if st is not None:
        pool = rng.sample(students, min(40, len(students)))
        fits = [o for o in pool if o.id != st.id and not roster.fits(st.id, _words(o.legal_first, o.legal_last))]
        other = fits[0] if fits else None
        if other is not None:
            out.append(grant(st, d(2026, 9, 14), written_as=other.id, defect="student_id",
                             name_text=(other.legal_first, other.legal_last)))  # fmt: skip
    # Rule 5: rows without an id: unique name, namesakes (blank grade: quarantined; grade given: found), nobody.
    unique = [s for s in plain if roster.find(_words(s.legal_first, s.legal_last), site.id) == [s.id]]
    for file in ("main", "late"):
        if unique:
            st = unique.pop()
            plain.remove(st)
            out.append(grant(st, d(2026, 9, 22), file, no_id=True, name_text=(st.legal_first, st.legal_last),
                             grade=st.grade))  # fmt: skip
    pairs = []
    for s_ in plain:
        found = roster.find(_words(s_.legal_first, s_.legal_last), site.id)
        if len(found) >= 2 and s_.id in found:
            pairs.append((s_, found))
    if pairs:
        st, found = pairs[0]
        plain.remove(st)
        out.append(grant(st, d(2026, 9, 23), "late", no_id=True, name_text=(st.legal_first, st.legal_last),
                         grade="", defect="student_id"))  # fmt: skip
    for st, _found in pairs[1:]:
        if st in plain and roster.find(_words(st.legal_first, st.legal_last), site.id, st.grade) == [st.id]:
            plain.remove(st)
            out.append(grant(st, d(2026, 9, 24), "late", no_id=True, name_text=(st.legal_first, st.legal_last),
                             grade=st.grade))  # fmt: skip
            break
    st = take()
    if st is not None:
        for _ in range(20):
            first, last = ctx.pools.person(rng)
            if not roster.find(_words(first, last), site.id):
                out.append(grant(st, d(2026, 9, 25), "late", no_id=True, name_text=(first, last), grade="",
                                 defect="student_id"))  # fmt: skip
                break

    # Rule 8: opt-outs after a grant, before one, alone, after the truth date, and one without a date.
    def opt(st: Student, when: dt.date | None, defect: str | None = None) -> ConsentRecord:
        return ConsentRecord(st.id, False, None, False, frozenset(), kind="opt_out", opted_out=when, file="optout",
                             defect=defect)  # fmt: skip

    for when, signed in (
        (d(2026, 10, 3), d(2026, 9, 5)),
        (d(2026, 8, 20), d(2026, 9, 10)),
        (d(2026, 9, 1), None),
        (AS_OF + dt.timedelta(days=10), d(2026, 9, 5)),
    ):
        st = take()
        if st is not None:
            out.append(opt(st, when))
            if signed:
                out.append(grant(st, signed))
    st = take()
    if st is not None:
        out.append(opt(st, None, defect="opt_out_date"))
    return out


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
    "video": ("video", "Video", "videos"),
}
SPANISH_PURPOSES = {
    "website": "sitio web",
    "social_media": "redes sociales",
    "yearbook": "anuario",
    "press": "prensa",
    "video": "video",
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
        if r.name_text:
            return r.name_text
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
                None,
                "Date signed",
                "Principal approval",
                "Revoked",
                "Notes",
            ],
            [None, None, None, None, "Website", "Social Media", "Yearbook", "Press", "Video"],
        ]
        merges = ["A1:M1", "A2:M2", "E4:I4"] + [f"{c}4:{c}5" for c in "ABCDJKLM"]
        for r in recs:
            first, last = name_of(r)
            st = students.get(r.student_id)
            marks = [(_yes(rng, False) if p in r.purposes else None) for p in PURPOSES]
            note: Any = rng.choice(["", "", "", "sibling in 3rd", "form in blue folder"])
            if rng.random() < 0.05:
                note = Formula(f'=HYPERLINK("https://sis.{ctx.domain}/students/{r.student_id}","SIS record")')
            rows.append(
                [
                    _id(r),
                    f"{last}, {first}",
                    (r.grade if r.grade is not None else st.grade) if st else "",
                    _yes(rng, False) if r.parent else _no(rng),
                    *marks,
                    _signed(r, rng, True),
                    _principal(r, rng, ["JM", "ok", "✓", "Approved"]),
                    _fmt_date(r.revoked, rng, True) if r.revoked else None,
                    note,
                ]
            )
            placed.append((r, "Releases", len(rows)))
        source = f"consent/{site.id}.xlsx"
        write_xlsx(ctx.out / source, [SheetSpec("Releases", rows, merges, {"B": 28, "J": 14})])
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
                    _id(r),
                    first,
                    last,
                    _yes(rng, True) if r.parent else _no(rng),
                    _purpose_list(r, rng) if r.parent else "",
                    _signed(r, rng, False),
                    _principal(r, rng, ["Y", "yes", "ok"]) or "",
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
                    _id(r),
                    f"{first} {last}",
                    signed,
                    _purpose_list(r, rng, spanish=True),
                    _principal(r, rng, ["LM", "Sí", "ok"]) or "",
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
            owner=site.site_admin,
            readers=[f"it-admin@{ctx.domain}"],
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
                "Video",
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
                    _id(r),
                    last,
                    first,
                    rng.choice(["Y", "Yes"]) if r.parent else _no(rng),
                    *marks,
                    _signed(r, rng, False),
                    _principal(r, rng, ["KW", "kw", "K.W."]) or "",
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
            approved = r.approved_on or r.signed + dt.timedelta(days=rng.randrange(0, 9))
            pg, pf = ctx.pools.person(parent_email_rng)
            parent_email = email_for(pg, last, parent_email_rng)
            rows.append(
                [
                    # SIS numbers typed as numbers
                    None if r.no_id else int(r.student_id) if r.student_id.isdigit() else r.student_id,
                    f"{last}, {first}",
                    st.preferred_first if st else "",
                    "Yes" if r.parent else "No",
                    _purpose_list(r, rng) if r.parent else "",
                    _signed(r, rng, True),
                    r.principal_raw
                    or (dt.datetime(approved.year, approved.month, approved.day) if r.principal else None),
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
    note_field = "principal_date" if layout.startswith("typed_xlsx") else "principal"
    _record_placed(ctx, source, placed, note_field)


def _record_placed(
    ctx: Ctx, source: str, placed: list[tuple[ConsentRecord, str | None, int]], note_field: str = "principal"
) -> None:
    """Truth for the rows just written: quarantine entries for defects, data-quality notes for odd values."""
    for r, sheet, row in placed:
        if r.defect:
            ref: dict[str, Any] = {"source": source, "row": row, "field": r.defect}
            if sheet:
                ref["sheet"] = sheet
            ctx.consent_quarantine.append(ref)
        if r.principal_raw and not r.defect:
            note: dict[str, Any] = {"source": source, "row": row, "field": note_field, "value": r.principal_raw}
            if sheet:
                note["sheet"] = sheet
            ctx.consent_notes.append(note)


def _id(r: ConsentRecord) -> str:
    return "" if r.no_id else r.student_id


def _principal(r: ConsentRecord, rng: random.Random, marks: list[str]) -> str | None:
    if r.principal_raw:
        return r.principal_raw
    return rng.choice(marks) if r.principal else None


SPANISH_MONTHS = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
                  "octubre", "noviembre", "diciembre")  # fmt: skip


def _fecha(day: dt.date, rng: random.Random) -> str:
    if rng.random() < 0.4:
        return f"{day.day} de {SPANISH_MONTHS[day.month - 1]} de {day.year}"
    return f"{day.month}/{day.day}/{day.year}"


def write_late_forms(
    ctx: Ctx,
    site: SiteInfo,
    idx: int,
    recs: list[ConsentRecord],
    students: dict[str, Student],
    rng: random.Random,
    with_default: bool,
) -> None:
    """Late and updated forms: a Spanish-headed cp1252 CSV (odd schools) or an xlsx with title rows (even)."""
    folder = ctx.out / "consent"
    placed: list[tuple[ConsentRecord, str | None, int]] = []

    def name_of(r: ConsentRecord) -> tuple[str, str]:
        if r.name_text:
            return r.name_text
        st = students[r.student_id]
        return (st.first if rng.random() < 0.3 else st.legal_first), st.legal_last

    def grade_of(r: ConsentRecord) -> str:
        return r.grade if r.grade is not None else students[r.student_id].grade

    def approved(r: ConsentRecord) -> dt.date | None:
        if not r.principal or r.signed is None:
            return None
        return r.approved_on or r.signed + dt.timedelta(days=rng.randrange(0, 6))

    if idx % 2:
        rows: list[list[Any]] = [[
            "Número de estudiante", "Apellido", "Nombre", "Grado", "Consentimiento", "Sitio web", "Redes sociales",
            "Anuario", "Prensa", "Video", "Fecha de firma", "Aprobación del director(a)", "Fecha de aprobación",
            "Fecha de revocación",
        ]]  # fmt: skip
        for r in recs:
            first, last = name_of(r)
            assert r.signed is not None
            when = approved(r)
            rows.append([
                _id(r), last, first, grade_of(r), rng.choice(["Sí", "SI", "X"]) if r.parent else "No",
                *[(rng.choice(["Sí", "X"]) if p in r.purposes and not r.extra.get("blank_purposes") else "")
                  for p in PURPOSES],
                _fecha(r.signed, rng), rng.choice(["Sí", "LM", "X"]) if r.principal else "",
                _fecha(when, rng) if when else "", _fecha(r.revoked, rng) if r.revoked else "",
            ])  # fmt: skip
            placed.append((r, None, len(rows)))
        source = f"consent/{site.id}-formularios-tardios.csv"
        write_csv(ctx.out / source, rows, "cp1252")
    else:
        rows = [
            [f"{site.name} - Late and updated media release forms 2026-27"],
            ["Entered by the front office; newest at the bottom"],
            [],
            ["Student ID", "Student Name", "Grade", "Guardian", "Parent consent", "Purposes", "Date signed",
             "Principal", "Principal approval date", "Revoked"],
        ]  # fmt: skip
        for r in recs:
            first, last = name_of(r)
            assert r.signed is not None
            when = approved(r)
            purposes = "" if r.extra.get("blank_purposes") else "; ".join(p.replace("_", " ") for p in PURPOSES
                                                                          if p in r.purposes)  # fmt: skip
            rows.append([
                _id(r), f"{first} {last}", grade_of(r), r.extra.get("guardian", rng.choice(["Mother", "Father"])),
                _yes(rng, False) if r.parent else _no(rng), purposes,
                dt.datetime(r.signed.year, r.signed.month, r.signed.day) if rng.random() < 0.5 else _fmt_date(
                    r.signed, rng, False),
                rng.choice(["JM", "Y", "✓"]) if r.principal else None,
                dt.datetime(when.year, when.month, when.day) if when else None,
                _fmt_date(r.revoked, rng, True) if r.revoked else None,
            ])  # fmt: skip
            placed.append((r, "Late forms", len(rows)))
        source = f"consent/{site.id}-late-forms.xlsx"
        write_xlsx(folder.parent / source, [SheetSpec("Late forms", rows, ["A1:J1", "A2:J2"], {"B": 28})])
    site.consent_sources.append(source)
    if with_default:
        site.default_purposes[source] = ["website", "yearbook"]
    _record_placed(ctx, source, placed)


def write_opt_outs(
    ctx: Ctx, site: SiteInfo, idx: int, recs: list[ConsentRecord], students: dict[str, Student], rng: random.Random
) -> None:
    """FERPA directory-information opt-out list: found by its header (even schools) or named in the profile's
    ``opt_out_sources`` with a plain "Student ID, Student, Date" header (odd schools)."""
    placed: list[tuple[ConsentRecord, str | None, int]] = []
    if idx % 2 == 0:
        rows: list[list[Any]] = [["Student ID", "Last Name", "First Name", "Directory opt-out date"]]
        for r in recs:
            st = students[r.student_id]
            rows.append([r.student_id, st.legal_last, st.legal_first,
                         _fmt_date(r.opted_out, rng, False) if r.opted_out else ""])  # fmt: skip
            placed.append((r, None, len(rows)))
        source = f"consent/{site.id}-directory-opt-outs.csv"
        write_csv(ctx.out / source, rows, "utf-8")
        site.consent_sources.append(source)
    else:
        rows = [[f"{site.name} - Directory information opt-outs (FERPA)"], [], ["Student ID", "Student", "Date"]]
        for r in recs:
            st = students[r.student_id]
            when = dt.datetime(r.opted_out.year, r.opted_out.month, r.opted_out.day) if r.opted_out else None
            rows.append([r.student_id, f"{st.first} {st.legal_last}", when])
            placed.append((r, "Opt-outs", len(rows)))
        source = f"consent/{site.id}-ferpa-opt-outs.xlsx"
        write_xlsx(ctx.out / source, [SheetSpec("Opt-outs", rows, ["A1:C1"])])
        site.opt_out_sources.append(source)
    _record_placed(ctx, source, placed)
