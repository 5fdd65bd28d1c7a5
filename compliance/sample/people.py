"""Employees (Admin Directory users), per-school Associated Persons lists, the paper acknowledgement file."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from typing import Any

from compliance.sample.context import YEAR_START, Ctx, Person, SiteInfo
from compliance.sample.names import (
    NICKNAMES,
    email_for,
    phone,
    reformat_phone,
    slug,
    spelling_variant,
    strip_accents,
)
from compliance.sample.writers import (
    SheetSpec,
    write_csv,
    write_json,
    write_sheet_json,
    write_xlsx,
    write_xlsx_stream,
)

SCHOOL_TITLES = (
    ["Teacher"] * 30
    + ["Instructional Aide"] * 6
    + ["Office Manager", "Attendance Clerk", "Custodian", "Custodian", "Counselor", "Librarian", "Nurse"]
    + ["Cafeteria Worker", "Cafeteria Worker", "Speech Therapist", "Psychologist", "Assistant Principal"]
)
OFFICE_TITLES = (
    ["Accountant", "Payroll Specialist", "IT Technician", "IT Technician", "HR Generalist", "Buyer"]
    + ["Director of Curriculum", "Special Education Coordinator", "Food Services Supervisor", "Secretary"]
    + ["Transportation Dispatcher", "Maintenance Worker", "Maintenance Worker", "Data Analyst"]
)
OFFICE_ROLE_ACCOUNTS = {
    "superintendent": "Superintendent",
    "chief-of-staff": "Chief of Staff",
    "hr.director": "Director of Human Resources",
    "communications": "Communications Officer",
    "it-admin": "IT Administrator",  # the Directory admin the service account acts as
}

# How schools write each category. The ingest maps these words to the district's categories.
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "committee_parent": (
        "PTA committee",
        "PTA Board",
        "School Site Council parent",
        "ELAC committee",
        "Booster club",
    ),
    "volunteer": (
        "Volunteer",
        "Room parent",
        "Library volunteer",
        "Field trip chaperone",
        "Classroom volunteer",
    ),
    "walk_on_coach": (
        "Walk-on coach",
        "Walk-on coach (soccer)",
        "Coach - basketball (walk-on)",
        "Asst coach (walk on)",
    ),
    "consultant": ("Consultant", "Reading consultant", "Consultant (STEM)"),
    "contractor": ("Contractor", "Contracted OT", "Contractor - speech therapy"),
    "vendor": ("Vendor", "Vendor - Scholastic Book Fair", "Vendor (photography)", "Vendor - food service"),
    "child_care_provider": ("Child care (Kids Club)", "Childcare provider", "Before-school care"),
    "after_school_provider": (
        "After school (YMCA)",
        "After-school program",
        "ASES provider",
        "After school (B&G Club)",
    ),
}
SPANISH_WORDS = {
    "committee_parent": "Comité de padres / PTA committee",
    "volunteer": "Voluntario / Volunteer",
    "walk_on_coach": "Entrenador / Walk-on coach",
    "child_care_provider": "Guardería / Child care",
    "after_school_provider": "Después de clases / After school",
}
UNKNOWN_CATEGORY_WORDS = ("Other", "??", "Grandma", "Visitor", "Misc.")
BAD_EMAILS = (
    "maria.lopez@gmail",
    "jdoe@@yahoo.com",
    "ana lopez@gmail.com",
    "no email",
    "tom.smith@",
    "@outlook.com",
)
SCHOOL_MIX = (
    ("committee_parent", 20),
    ("volunteer", 38),
    ("walk_on_coach", 8),
    ("consultant", 5),
    ("contractor", 5),
    ("vendor", 7),
    ("child_care_provider", 7),
    ("after_school_provider", 10),
)
OFFICE_MIX = (("consultant", 35), ("contractor", 35), ("vendor", 30))
NOTES = (
    "",
    "",
    "",
    "TB test on file",
    "Fingerprinted 8/2026",
    "Live Scan pending",
    "Mandated reporter training",
)


@dataclass
class Entry:
    """One row as a school wrote it; ``person`` is None for a malformed row that must be quarantined."""

    person: Person | None
    given: str
    family: str
    email: str | None
    phone: str | None
    word: str
    defect: str | None = None  # email | name | category
    note: str = ""


# ---------------------------------------------------------------- employees


def make_employees(ctx: Ctx) -> list[dict[str, Any]]:
    """Employees of every site: returned as Directory user resources, added to the truth as people."""
    rng = ctx.rng("employees")
    users: list[dict[str, Any]] = []
    used: set[str] = set()
    n = 0

    def address(given: str, family: str) -> str:
        base = f"{slug(given).replace('-', '')}.{slug(family).split('-')[0]}"
        local, i = base, 1
        while local in used:
            i += 1
            local = f"{base}{i}"
        used.add(local)
        return f"{local}@{ctx.domain}"

    for site in ctx.sites:
        count = ctx.scale.employees_per_school if site.is_school else ctx.scale.office_employees
        fixed: list[tuple[str, str]] = []
        if site.is_school:
            fixed = [(site.site_admin, "Principal"), (site.web_contact, "Teacher, Web Coordinator")]
        else:
            fixed = [(f"{k}@{ctx.domain}", t) for k, t in OFFICE_ROLE_ACCOUNTS.items()]
            fixed += [(site.web_contact, "Communications Specialist")] if site.web_contact not in dict(fixed) else []
        staff: list[tuple[str, str]] = []
        for i in range(count):
            given, family = ctx.pools.person(rng, 0.4)
            if i < len(fixed):
                email, title = fixed[i]
                used.add(email.split("@")[0])
            else:
                email = address(given, family)
                title = rng.choice(SCHOOL_TITLES if site.is_school else OFFICE_TITLES)
            n += 1
            suspended = i >= len(fixed) and rng.random() < 0.03
            user: dict[str, Any] = {
                "kind": "admin#directory#user",
                "id": str(100000000000000000000 + rng.randrange(10**19)),
                "primaryEmail": email,
                "name": {"givenName": given, "familyName": family, "fullName": f"{given} {family}"},
                "orgUnitPath": site.org_unit,
                "suspended": suspended,
                "organizations": [{"title": title, "primary": True, "department": site.name}],
                "phones": [{"value": phone(rng, 1), "type": "work"}],
                "creationTime": _created(rng),
            }
            # Older accounts predate the custom schema; the org unit is then the only site signal.
            if rng.random() > 0.05 or i < len(fixed):
                user["customSchemas"] = {"District": {"role": _role(title), "site_id": site.id}}
                if (language := prefers_spanish(email)) is not None:
                    user["customSchemas"]["District"]["preferred_language"] = language
            users.append(user)
            staff.append((given, family))
            person = Person(
                key=f"emp-{n:06d}",
                kind="employee",
                category="employee",
                given=given,
                family=family,
                email=email,
                phone=user["phones"][0]["value"],
                site_id=site.id,
                has_account=True,
                sources=[{"source": "directory/users.json", "row": len(users)}],
                active=not suspended,
                title=title,
            )
            ctx.people.append(person)
        ctx.staff_names[site.id] = staff
    ctx.summary["directory_users_employees"] = len(users)
    return users


def prefers_spanish(key: str, share: int = 12) -> str | None:
    """A deterministic share (percent) of people who prefer Spanish, drawn from a hash of ``key`` rather than the
    generator's random stream, so the rest of the sample is the same with or without languages."""
    import hashlib

    return "es" if int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 100 < share else None


def _role(title: str) -> str:
    t = title.lower()
    if "principal" in t:
        return "administrator"
    if "teacher" in t:
        return "teacher"
    return "classified" if t not in ("superintendent", "chief of staff") else "administrator"


def _created(rng: random.Random) -> str:
    day = dt.date(2008, 1, 1) + dt.timedelta(days=rng.randrange(6700))
    return f"{day.isoformat()}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}.000Z"


def write_directory(ctx: Ctx, users: list[dict[str, Any]]) -> None:
    """directory/users.json (employees, sender mailboxes, contractors with accounts) and orgunits.json."""
    rng = ctx.rng("service-mailboxes")
    for email in ctx.top["senders"]:
        users.append(
            {
                "kind": "admin#directory#user",
                "id": str(100000000000000000000 + rng.randrange(10**19)),
                "primaryEmail": email,
                "name": {"givenName": "Policy", "familyName": "Mailer", "fullName": "Policy Mailer"},
                "orgUnitPath": "/Service Accounts",
                "suspended": False,
                "organizations": [{"title": "Service mailbox", "primary": True}],
                "phones": [],
                "customSchemas": {"District": {"role": "service_mailbox", "site_id": "district-office"}},
                "creationTime": "2024-07-01T16:00:00.000Z",
            }
        )
    # Associated persons who were given a district account (some consultants and contractors).
    for p in ctx.people:
        if p.kind == "associated" and p.has_account:
            users.append(
                {
                    "kind": "admin#directory#user",
                    "id": str(100000000000000000000 + rng.randrange(10**19)),
                    "primaryEmail": p.email,
                    "name": {
                        "givenName": p.given,
                        "familyName": p.family,
                        "fullName": f"{p.given} {p.family}",
                    },
                    "orgUnitPath": "/Contractors",
                    "suspended": False,
                    "organizations": [{"title": p.category.replace("_", " ").title(), "primary": True}],
                    "phones": [],
                    "customSchemas": {"District": {"role": p.category, "site_id": p.site_id}},
                    "creationTime": _created(rng),
                }
            )
            p.sources.insert(0, {"source": "directory/users.json", "row": len(users)})
    write_json(ctx.out / "directory" / "users.json", users, indent=1 if len(users) < 5000 else None)
    units = [
        {
            "kind": "admin#directory#orgUnit",
            "name": "Schools",
            "orgUnitPath": "/Schools",
            "orgUnitId": "id:00schools",
            "parentOrgUnitPath": "/",
            "description": "All schools",
        }
    ]
    for i, site in enumerate(ctx.sites):
        parent = "/" + site.org_unit.strip("/").rsplit("/", 1)[0] if site.org_unit.count("/") > 1 else "/"
        units.append(
            {
                "kind": "admin#directory#orgUnit",
                "name": site.org_unit.rsplit("/", 1)[1],
                "orgUnitPath": site.org_unit,
                "orgUnitId": f"id:{i:08x}",
                "parentOrgUnitPath": parent,
                "description": site.name,
            }
        )
    for name in ("Contractors", "Service Accounts"):
        units.append(
            {
                "kind": "admin#directory#orgUnit",
                "name": name,
                "orgUnitPath": f"/{name}",
                "orgUnitId": f"id:{slug(name)}",
                "parentOrgUnitPath": "/",
                "description": name,
            }
        )
    write_json(ctx.out / "directory" / "orgunits.json", units)
    ctx.summary["directory_users"] = len(users)


# ---------------------------------------------------------------- associated persons


def _weighted(rng: random.Random, mix: tuple[tuple[str, int], ...]) -> str:
    return rng.choices([c for c, _ in mix], weights=[w for _, w in mix])[0]


def make_associated(ctx: Ctx) -> None:
    """Per-site lists, with duplicates across lists, paper-only people, hostile names and malformed rows."""
    rng = ctx.rng("associated")
    entries: dict[str, list[Entry]] = {s.id: [] for s in ctx.sites}
    n = 0
    standard = ctx.scale.name == "standard"
    for site in ctx.sites:
        count = ctx.scale.associated_per_school if site.is_school else ctx.scale.office_associated
        for _ in range(count):
            n += 1
            category = _weighted(rng, SCHOOL_MIX if site.is_school else OFFICE_MIX)
            given, family = ctx.pools.person(rng, 0.5)
            has_email = rng.random() < 0.88
            has_account = standard and category in ("consultant", "contractor") and rng.random() < 0.15
            if has_account:
                # District accounts for contractors: ASCII local part with a ".c" suffix, the district domain.
                local = f"{slug(given).replace('-', '')}.{slug(family).split('-')[0]}.c"
                email: str | None = f"{local}@{ctx.domain}"
            else:
                email = email_for(given, family, rng) if has_email else None
            tel = phone(rng) if rng.random() < 0.7 or email is None else None
            p = Person(
                key=f"ap-{n:06d}",
                kind="associated",
                category=category,
                given=given,
                family=family,
                email=email,
                phone=tel,
                site_id=site.id,
                has_account=has_account,
            )
            ctx.people.append(p)
            entries[site.id].append(
                Entry(p, given, family, email, tel, _word(rng, site, category), note=rng.choice(NOTES))
            )
    if standard:
        _standard_specials(ctx, rng, entries)
    _duplicates(ctx, rng, entries)
    _malformed(ctx, rng, entries)
    for site in ctx.sites:
        rows = entries[site.id]
        rng.shuffle(rows)
        write_associated(ctx, site, rows, rng)
    associated = [p for p in ctx.people if p.kind == "associated"]
    ctx.summary["associated_rows"] = sum(len(v) for v in entries.values())
    ctx.summary["associated_persons"] = len(associated)
    ctx.summary["paper_only"] = sum(1 for p in associated if not p.email)


def _word(rng: random.Random, site: SiteInfo, category: str) -> str:
    if site.assoc_layout == "bilingual_xlsx" and category in SPANISH_WORDS and rng.random() < 0.6:
        return SPANISH_WORDS[category]
    return rng.choice(CATEGORY_WORDS[category])


def _standard_specials(ctx: Ctx, rng: random.Random, entries: dict[str, list[Entry]]) -> None:
    """People the tests and demo rely on: hostile names, guaranteed spelling-variant duplicates."""
    schools = [s for s in ctx.sites if s.is_school]
    specials = [
        ("Mallory", "<script>alert('pwn')</script>", "volunteer", True, True),
        ('=HYPERLINK("http://x","y")', "Tables", "committee_parent", True, True),
        ("Ana\nMaría", "Robles", "volunteer", True, True),
        ("José", "Núñez", "committee_parent", True, False),
        ("Robert", "O'Brien", "walk_on_coach", True, False),
        ("Laura", "Smith-Jones", "volunteer", False, False),
        ("Guadalupe", "Hernández Ruiz", "after_school_provider", True, False),
        ("Patrick", "D'Angelo", "vendor", True, False),
    ]
    variants = {
        "José": "accents",
        "Robert": "nickname",
        "Laura": "hyphen",
        "Guadalupe": "nickname",
        "Patrick": "case",
    }
    for i, (given, family, category, has_email, hostile) in enumerate(specials):
        site = schools[i % len(schools)]
        email = (
            email_for(strip_accents(given.split("\n")[0]).strip('="()'), family.strip("<>'()"), rng)
            if has_email
            else None
        )
        tel = phone(rng)
        p = Person(
            key=f"ap-s{i:02d}",
            kind="associated",
            category=category,
            given=given,
            family=family,
            email=email,
            phone=tel,
            site_id=site.id,
            has_account=False,
            hostile=hostile,
        )
        ctx.people.append(p)
        entries[site.id].append(Entry(p, given, family, email, tel, _word(rng, site, category)))
        if given in variants:
            other = schools[(i + 1) % len(schools)]
            g, f = spelling_variant(given, family, rng, variants[given])
            second_email = email.upper() if email and given == "Patrick" else email
            entries[other.id].append(
                Entry(p, g, f, second_email, reformat_phone(tel, rng), _word(rng, other, category))
            )
            p.site_ids = [site.id, other.id]


def _variant_kind(rng: random.Random, given: str, family: str) -> str:
    kinds = ["initial", "case"]
    if strip_accents(given + family) != given + family:
        kinds += ["accents"] * 3
    if given in NICKNAMES:
        kinds += ["nickname"] * 3
    if "-" in family or " " in family:
        kinds += ["hyphen"] * 3
    return rng.choice(kinds)


def _duplicates(ctx: Ctx, rng: random.Random, entries: dict[str, list[Entry]]) -> None:
    """~6% of people appear on a second list, spelled differently, with the same email or the same phone."""
    site_ids = [s.id for s in ctx.sites]
    for site in ctx.sites:
        for e in list(entries[site.id]):
            p = e.person
            if p is None or p.hostile or len(p.site_ids) > 1 or rng.random() > 0.06:
                continue
            if not (p.email or p.phone):
                continue
            if p.category in ("consultant", "contractor", "vendor") and site.is_school:
                other_id = "district-office" if "district-office" in site_ids else rng.choice(site_ids)
            else:
                other_id = rng.choice([s.id for s in ctx.sites if s.is_school])
            other = ctx.site(other_id)
            g, f = spelling_variant(p.given, p.family, rng, _variant_kind(rng, p.given, p.family))
            email, tel = p.email, p.phone
            roll = rng.random()
            if roll < 0.25 and p.phone:
                email = None  # the second list only has the phone
            elif email and roll < 0.5:
                email = email.capitalize() if not p.has_account else email
            if tel:
                tel = reformat_phone(tel, rng)
            entries[other_id].append(Entry(p, g, f, email, tel, _word(rng, other, p.category)))
            p.site_ids = [site.id] if other_id == site.id else [site.id, other_id]


def _malformed(ctx: Ctx, rng: random.Random, entries: dict[str, list[Entry]]) -> None:
    """Rows the ingest must reject: bad email, missing name, unknown category (not real people in truth)."""
    for site in ctx.sites:
        for defect in ("email", "name", "category"):
            if ctx.scale.name != "standard" and rng.random() < 0.6:
                continue
            given, family = ctx.pools.person(rng)
            email = email_for(given, family, rng)
            word = rng.choice(CATEGORY_WORDS["volunteer"])
            if defect == "email":
                email = rng.choice(BAD_EMAILS)
            elif defect == "name":
                given, family = "", ""
            else:
                word = rng.choice(UNKNOWN_CATEGORY_WORDS)
            entries[site.id].append(Entry(None, given, family, email, phone(rng), word, defect))


# ---------------------------------------------------------------- writing lists


def _lastfirst(e: Entry) -> str:
    if not e.given and not e.family:
        return ""
    return f"{e.family}, {e.given}"


def _full(e: Entry) -> str:
    return f"{e.given} {e.family}".strip()


def write_associated(ctx: Ctx, site: SiteInfo, rows: list[Entry], rng: random.Random) -> None:
    """Write one site's list in its layout and record (source, sheet, row) for every entry."""
    layout = site.assoc_layout
    folder = ctx.out / "associated"
    folder.mkdir(exist_ok=True)
    placed: list[tuple[Entry, str | None, int]] = []
    if layout == "title_xlsx":
        sheet_rows: list[list[Any]] = [
            [site.name],
            ["Associated Persons 2026-27 (updated by the front office)"],
            [],
            ["First Name", "Last Name", "E-mail", "Phone", "Role", "Notes"],
        ]
        for e in rows:
            sheet_rows.append([e.given, e.family, e.email, e.phone, e.word, e.note])
            placed.append((e, "Volunteers", len(sheet_rows)))
        source = f"associated/{site.id}.xlsx"
        write_xlsx(
            ctx.out / source,
            [SheetSpec("Volunteers", sheet_rows, ["A1:F1", "A2:F2"], {"A": 16, "B": 22, "C": 30, "E": 24})],
        )
    elif layout == "sheet_fullname":
        sheet_rows = [["Name", "Email Address", "Phone Number", "Role/Category", "Background check"]]
        for e in rows:
            sheet_rows.append([_full(e), e.email, e.phone, e.word, rng.choice(["Cleared", "", "Pending", "cleared"])])
            placed.append((e, "Form Responses 1", len(sheet_rows)))
        sid = _sheet_id(rng)
        source = f"sheets:{sid}"
        write_sheet_json(
            ctx.out / "sheets" / f"{sid}.json",
            sid,
            f"{site.short} volunteers & partners",
            [SheetSpec("Form Responses 1", sheet_rows)],
            owner=site.site_admin,
            readers=[f"it-admin@{ctx.domain}"],
        )
    elif layout == "fullname_csv":
        sheet_rows = [["Name", "Email Address", "Phone Number", "Role/Category"]]
        for e in rows:
            sheet_rows.append([_full(e), e.email, e.phone, e.word])
            placed.append((e, None, len(sheet_rows)))
        source = f"associated/{site.id}.csv"
        write_csv(ctx.out / source, sheet_rows, "utf-8")
    elif layout == "lastfirst_cp1252":
        sheet_rows = [
            [f"{site.name} - Volunteers & Partners 2026-2027"],
            [],
            ["Last, First", "E-mail", "Phone", "Category"],
        ]
        for e in rows:
            sheet_rows.append([_lastfirst(e), e.email, e.phone, e.word])
            placed.append((e, None, len(sheet_rows)))
        source = f"associated/{site.id}.csv"
        write_csv(ctx.out / source, sheet_rows, "cp1252")
    elif layout == "two_sheets_xlsx":
        vol: list[list[Any]] = [["Last Name", "First Name", "Email", "Cell", "Type"]]
        coach: list[list[Any]] = [
            [f"{site.short} Athletics - walk-on coaches"],
            [],
            ["Coach", "Sport", "E-mail", "Phone", "Type"],
        ]
        for e in rows:
            if e.person is not None and e.person.category == "walk_on_coach":
                coach.append(
                    [
                        _full(e),
                        rng.choice(["Soccer", "Basketball", "Track", "Volleyball", "Cross country"]),
                        e.email,
                        e.phone,
                        e.word,
                    ]
                )
                placed.append((e, "Coaches", len(coach)))
            else:
                vol.append([e.family, e.given, e.email, e.phone, e.word])
                placed.append((e, "Volunteers", len(vol)))
        source = f"associated/{site.id}.xlsx"
        write_xlsx(ctx.out / source, [SheetSpec("Volunteers", vol), SheetSpec("Coaches", coach, ["A1:E1"])])
    elif layout == "bilingual_xlsx":
        sheet_rows = [
            [f"{site.name} — Personas asociadas / Associated Persons"],
            [
                "Nombre / First name",
                "Apellido(s) / Last name(s)",
                "Correo / Email",
                "Teléfono / Phone",
                "Tipo / Type",
                "Idioma / Language",
            ],
        ]
        for e in rows:
            said = prefers_spanish(f"{e.given} {e.family}", share=40)
            language = "Español" if said else "English"
            sheet_rows.append([e.given, e.family, e.email, e.phone, e.word, language])
            placed.append((e, "Lista", len(sheet_rows)))
        source = f"associated/{site.id}.xlsx"
        write_xlsx(ctx.out / source, [SheetSpec("Lista", sheet_rows, ["A1:F1"])])
    elif layout == "office_csv":
        sheet_rows = [["Full Name", "Company", "Email", "Phone", "Type"]]
        for e in rows:
            sheet_rows.append([_full(e), rng.choice(ctx.pools.companies), e.email, e.phone, e.word])
            placed.append((e, None, len(sheet_rows)))
        source = f"associated/{site.id}.csv"
        write_csv(ctx.out / source, sheet_rows, "utf-8-sig")
    elif layout == "plain_xlsx_stream":
        sheet_rows = [
            [f"{site.name} associated persons"],
            ["First Name", "Last Name", "Email", "Phone", "Role"],
        ]
        sheet_rows += [[e.given, e.family, e.email, e.phone, e.word] for e in rows]
        placed = [(e, "Sheet1", i + 3) for i, e in enumerate(rows)]
        source = f"associated/{site.id}.xlsx"
        write_xlsx_stream(ctx.out / source, "Sheet1", sheet_rows)
    else:
        raise ValueError(f"unknown associated layout {layout}")
    site.associated_sources.append(source)
    for e, sheet, row in placed:
        ref: dict[str, Any] = {"source": source, "row": row}
        if sheet:
            ref["sheet"] = sheet
        if e.person is None:
            ctx.people_quarantine.append({**ref, "field": e.defect})
        else:
            e.person.sources.append(ref)


def _sheet_id(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return "1" + "".join(rng.choice(alphabet) for _ in range(43))


# ---------------------------------------------------------------- paper binder

PAPER_DATES = ("iso", "us", "cell", "long", "cell")


def write_paper(ctx: Ctx) -> None:
    """The office's spreadsheet of paper acknowledgement forms, for most paper-only people."""
    rng = ctx.rng("paper")
    source = "paper/paper-acknowledgements.xlsx"
    rows: list[list[Any]] = [
        ["Paper acknowledgements - AR 1114 (forms in the binder)"],
        [],
        ["Name", "School", "Category", "Date signed", "Received by"],
    ]
    paper = [p for p in ctx.people if p.kind == "associated" and not p.email and not p.hostile]
    for p in paper:
        if rng.random() > 0.6:
            continue
        signed = YEAR_START + dt.timedelta(days=rng.randrange(10, 100))
        site = ctx.site(p.site_id)
        receiver = rng.choice(ctx.staff_names[p.site_id])
        name = f"{p.given} {p.family}" if rng.random() < 0.8 else f"{strip_accents(p.given)} {strip_accents(p.family)}"
        rows.append(
            [
                name,
                rng.choice([site.short, site.name, site.id]),
                p.category.replace("_", " "),
                _paper_date(signed, rng),
                f"{receiver[0]} {receiver[1]}",
            ]
        )
        p.paper_ack = {"source": source, "row": len(rows), "signed": signed.isoformat()}
    acked = [p for p in paper if p.paper_ack]
    if acked:
        # A second form whose date nobody could read, for a person who also has a good row: reject, not drop.
        p = acked[0]
        rows.append([f"{p.given} {p.family}", ctx.site(p.site_id).short, "volunteer", "last week?", "front desk"])
        ctx.people_quarantine.append({"source": source, "sheet": "Binder", "row": len(rows), "field": "date_signed"})
    (ctx.out / "paper").mkdir(exist_ok=True)
    write_xlsx(ctx.out / source, [SheetSpec("Binder", rows, ["A1:E1"])])
    ctx.summary["paper_acknowledgements"] = len(acked)


def _paper_date(day: dt.date, rng: random.Random) -> Any:
    style = rng.choice(PAPER_DATES)
    if style == "cell":
        return dt.datetime(day.year, day.month, day.day)
    if style == "iso":
        return day.isoformat()
    if style == "us":
        return f"{day.month}/{day.day}/{day.year}"
    return day.strftime("%B %-d, %Y")
