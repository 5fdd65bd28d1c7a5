"""Orchestrates one generation run: sites, profile, people, students, consent, websites, truth files."""

from __future__ import annotations

import json
import random
import time
import tomllib
from pathlib import Path
from typing import Any

from faker import Faker

from compliance.sample.context import AS_OF, SCALES, Ctx, SiteInfo
from compliance.sample.names import NamePools, slug
from compliance.sample.people import make_associated, make_employees, write_directory, write_paper
from compliance.sample.policy import policy_html, policy_html_es
from compliance.sample.social import build_social
from compliance.sample.students import make_consent, make_students
from compliance.sample.version import GENERATOR_VERSION
from compliance.sample.websites import NameIndex, adults_by_site, build_websites, caption_text, photos_truth
from compliance.sample.writers import write_json
from compliance.settings import DEFAULT_PROFILE

# Per-school layouts for the standard district, in the order the template lists its schools.
STANDARD_LAYOUTS = (
    ("title_xlsx", "merged_xlsx"),
    ("sheet_fullname", "list_csv"),
    ("lastfirst_cp1252", "sheet_bilingual"),
    ("two_sheets_xlsx", "columns_cp1252"),
    ("bilingual_xlsx", "typed_xlsx"),
)
KIND_WORDS = {
    "elementary": ("Elementary School", "es"),
    "middle": ("Middle School", "ms"),
    "high": ("High School", "hs"),
    "k8": ("K-8 Academy", "k8"),
}
SHORT_STOP = ("Elementary", "Middle", "High", "K-8", "School", "Academy")


def _short(name: str) -> str:
    words = []
    for w in name.split():
        if w in SHORT_STOP:
            break
        words.append(w)
    return " ".join(words) or name


def standard_sites(ctx: Ctx) -> None:
    with DEFAULT_PROFILE.open("rb") as fh:
        template = tomllib.load(fh)
    ctx.district = dict(template["district"])
    ctx.domain = ctx.district["domain"]
    ctx.top = {k: template[k] for k in ("senders", "superintendent_recipients", "report_share_with") if k in template}
    ctx.top["reminders"] = template.get("reminders", {})
    ctx.top["quotas"] = template.get("quotas", {})
    schools = 0
    for s in template["sites"]:
        kind = s.get("kind", "elementary")
        is_school = kind != "office"
        assoc, consent = STANDARD_LAYOUTS[schools % len(STANDARD_LAYOUTS)] if is_school else ("office_csv", "")
        schools += is_school
        ctx.sites.append(
            SiteInfo(
                id=s["id"],
                name=s["name"],
                short=_short(s["name"]),
                kind=kind,
                org_unit=s["org_unit"],
                site_admin=s["site_admin"],
                web_contact=s["web_contact"],
                has_website=is_school,
                assoc_layout=assoc,
                consent_layout=consent,
            )
        )


def lausd_sites(ctx: Ctx) -> None:
    rng = ctx.rng("sites")
    ctx.domain = "large-usd.org"
    ctx.district = {
        "name": "Large Unified School District (sample)",
        "short_name": "LUSD",
        "time_zone": "America/Los_Angeles",
        "domain": ctx.domain,
        "customer": "my_customer",
        "school_year_start": "08-01",
    }
    ctx.top = {
        "senders": [f"policy-mail-{i}@{ctx.domain}" for i in range(1, 41)],
        "superintendent_recipients": [f"superintendent@{ctx.domain}"],
        "report_share_with": [f"superintendent@{ctx.domain}"],
        "reminders": {
            "reminder_days": [7, 14],
            "site_admin_digest_days": 21,
            "superintendent_days": 28,
            "takedown_reminder_days": 3,
        },
        "quotas": {},
    }
    used: set[str] = set()
    kinds = ["elementary"] * 70 + ["middle"] * 14 + ["high"] * 12 + ["k8"] * 4
    assert ctx.scale.schools is not None
    web = ctx.scale.schools if ctx.scale.website_schools is None else ctx.scale.website_schools
    for i in range(ctx.scale.schools):
        kind = rng.choice(kinds)
        word, suffix = KIND_WORDS[kind]
        base = rng.choice(ctx.pools.en_last if rng.random() < 0.6 else ctx.pools.es_last)
        sid = f"{slug(base)}-{suffix}"
        n = 1
        while sid in used:
            n += 1
            sid = f"{slug(base)}-{suffix}-{n}"
        used.add(sid)
        name = f"{base} {word}" + (f" {n}" if n > 1 else "")
        if i == 1:
            assoc = "sheet_fullname"
        elif i % 10 == 0:
            assoc = "plain_xlsx_stream"
        else:
            assoc = "lastfirst_cp1252" if i % 2 else "fullname_csv"
        consent = (
            "sheet_bilingual"
            if i == 2
            else ("typed_xlsx_stream" if i % 10 == 0 else ("list_csv" if i % 2 else "columns_cp1252"))
        )
        ctx.sites.append(
            SiteInfo(
                id=sid,
                name=name,
                short=_short(name),
                kind=kind,
                org_unit=f"/Schools/{name}",
                site_admin=f"principal.{sid}@{ctx.domain}",
                web_contact=f"web.{sid}@{ctx.domain}",
                has_website=i < web,
                assoc_layout=assoc,
                consent_layout=consent,
            )
        )
    ctx.sites.append(
        SiteInfo(
            id="district-office",
            name="District Office",
            short="District Office",
            kind="office",
            org_unit="/District Office",
            site_admin=f"hr.director@{ctx.domain}",
            web_contact=f"communications@{ctx.domain}",
            has_website=False,
            assoc_layout="office_csv",
        )
    )


# ---------------------------------------------------------------- profile.toml


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml(str(k))} = {_toml(v)}" for k, v in value.items()) + "}"
    raise TypeError(type(value))


def write_profile(ctx: Ctx) -> None:
    lines = [
        f"# Sample district profile generated by compliance.sample (scale {ctx.scale.name}, seed {ctx.seed}).",
        "# Input paths are relative to this file's folder.",
        "",
    ]
    for key in ("senders", "superintendent_recipients", "report_share_with"):
        lines.append(f"{key} = {_toml(ctx.top[key])}")
    lines += [
        'sis_export = "sis/students.csv"',
        *(['sis_alumni_export = "sis/alumni.csv"'] if (ctx.out / "sis" / "alumni.csv").exists() else []),
        'paper_acknowledgements = "paper/paper-acknowledgements.xlsx"',
        'policy_document = "policy/ar1114-policy.html"',
        "",
        "[policy_translations]",
        'es = "policy/ar1114-policy.es.html"',
        "",
        "[district]",
    ]
    lines += [f"{k} = {_toml(v)}" for k, v in ctx.district.items()]
    for table in ("reminders", "quotas"):
        if ctx.top.get(table):
            lines += ["", f"[{table}]"] + [f"{k} = {_toml(v)}" for k, v in ctx.top[table].items()]
    for site in ctx.sites:
        lines += ["", "[[sites]]"] + [f"{k} = {_toml(v)}" for k, v in site.profile_entry().items()]
    (ctx.out / "profile.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")


# ---------------------------------------------------------------- captions


def synthetic_captions(ctx: Ctx, count: int, start_id: int) -> list[dict[str, Any]]:
    """Caption records for the matching benchmark, each checked against the names in its scope."""
    rng = ctx.rng("captions")
    by_site: dict[str, list[Any]] = {}
    for st in ctx.students:
        by_site.setdefault(st.site_id, []).append(st)
    schools = [s for s in ctx.sites if s.is_school and by_site.get(s.id)]
    if not schools or count <= 0:
        return []
    adults = adults_by_site(ctx)
    district_index = (
        NameIndex(ctx.students, [a for v in adults.values() for a in v]) if ctx.scale.name == "standard" else None
    )
    out: list[dict[str, Any]] = []
    per_site = -(-count // len(schools))
    styles = ("full", "full", "preferred", "first_surname", "initial", "no_accents", "first_given")
    events = ("science-fair", "field-day", "spelling-bee", "art-show", "robotics", "book-fair", "music-night")
    places = ("Lincoln Park", "Washington Park", "the gym", "the library", "Kern River Parkway")
    for site in schools:
        students = by_site[site.id]
        index = district_index or NameIndex(students, adults.get(site.id, []))
        staff = [f"{g} {f}" for g, f in ctx.staff_names.get(site.id, [])[:12]]
        staff = [s for s in staff if index.identifies(s) == set()] or ["the PTA"]
        made = 0
        while made < per_site and len(out) < count:
            k = rng.choice((0, 0, 1, 1, 1, 2, 2, 3))
            names, ids = [], []
            for st in rng.sample(students, k):
                for style in rng.sample(styles, len(styles)):
                    text = index.usable(st.id, style)
                    if text:
                        names.append(text)
                        ids.append(st.id)
                        break
            first_only = rng.choice(students).first
            text = caption_text(rng, names, rng.choice(events), rng.choice(places), rng.choice(staff), first_only)
            if index.identifies(text) != set(ids):
                continue
            made += 1
            out.append(
                {
                    "caption_id": f"c{start_id + len(out):07d}",
                    "site_id": site.id,
                    "text": text,
                    "student_ids": sorted(ids),
                }
            )
    return out


# ---------------------------------------------------------------- run


def build(out: Path, scale: str, seed: int, started: float) -> None:
    cfg = SCALES[scale]
    fake = Faker(["en_US", "es_MX"])
    fake.seed_instance(seed)
    random.seed(seed)  # Faker's proxy picks locales with the module-level random; pin it too
    pools = NamePools.build(fake)
    ctx = Ctx(out=out, scale=cfg, seed=seed, fake=fake, pools=pools)
    for sub in ("directory", "associated", "sheets", "sis", "consent", "paper", "policy", "sites", "truth", "youtube",
                "blogger", "social"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}

    def step(name: str, t0: float) -> float:
        now = time.perf_counter()
        timings[name] = round(now - t0, 3)
        return now

    t = time.perf_counter()
    (standard_sites if scale == "standard" else lausd_sites)(ctx)
    users = make_employees(ctx)
    t = step("employees", t)
    make_associated(ctx)
    write_directory(ctx, users)
    write_paper(ctx)
    t = step("associated", t)
    make_students(ctx)
    make_consent(ctx)
    t = step("students_consent", t)
    appearances, evidence = build_websites(ctx)
    t = step("websites", t)
    for site_id, entry in build_social(ctx).items():
        ctx.site(site_id).social = entry
    t = step("social", t)
    (out / "policy" / "ar1114-policy.html").write_text(policy_html(ctx.district["name"]), encoding="utf-8")
    (out / "policy" / "ar1114-policy.es.html").write_text(policy_html_es(ctx.district["name"]), encoding="utf-8")
    write_profile(ctx)

    truth = out / "truth"
    people = [p.truth() for p in ctx.people]
    write_json(truth / "people.json", people, indent=None)
    write_json(truth / "quarantine.json", ctx.people_quarantine)
    write_json(
        truth / "consent.json",
        {
            "as_of": AS_OF.isoformat(),
            "purpose": "website",
            "students": ctx.consent_truth,
            "quarantine": ctx.consent_quarantine,
            "data_quality": ctx.consent_notes,
            "conflicts": ctx.consent_conflicts,
            "school_year_start": ctx.district.get("school_year_start", "07-01"),
        },
        indent=None,
    )
    scope = "district" if scale == "standard" else "site"
    write_json(truth / "photos.json", photos_truth(appearances, scope))
    captions = [
        {"caption_id": f"c{i + 1:07d}", "site_id": site_id, "text": text, "student_ids": sorted(ids)}
        for i, (site_id, text, ids) in enumerate(evidence)
    ]
    # The scale's caption count is the total: page evidence first, synthetic captions for the rest.
    captions += synthetic_captions(ctx, cfg.captions - len(captions), len(captions) + 1)
    with (truth / "captions.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(c, ensure_ascii=False) + "\n" for c in captions)
    t = step("truth", t)

    pages = {a["page"] for a in appearances}
    summary = {
        "generator_version": GENERATOR_VERSION,
        "scale": scale,
        "seed": seed,
        "as_of": AS_OF.isoformat(),
        "sites": len(ctx.sites),
        "schools": sum(s.is_school for s in ctx.sites),
        "employees": sum(p.kind == "employee" for p in ctx.people),
        "employees_active": sum(p.kind == "employee" and p.active for p in ctx.people),
        "associated_persons": sum(p.kind == "associated" for p in ctx.people),
        "people": len(ctx.people),
        "people_listed_twice": sum(
            len([s for s in p.sources if s["source"] != "directory/users.json"]) > 1
            for p in ctx.people
            if p.kind == "associated"
        ),
        "people_quarantine_rows": len(ctx.people_quarantine),
        "consent_quarantine_rows": len(ctx.consent_quarantine),
        "pages": len(pages),
        "pages_crawlable": len({a["page"] for a in appearances if a["crawlable"]}),
        "images": len({a["image"] for a in appearances}),
        "appearances": len(appearances),
        "appearances_identified": sum(a["identified"] for a in appearances),
        "violations": sum(len(a["violations"]) for a in appearances),
        "violations_crawlable": sum(len(a["violations"]) for a in appearances if a["crawlable"]),
        "captions": len(captions),
        **{k: v for k, v in ctx.summary.items() if not k.startswith("_")},
        "timings_seconds": timings,
    }
    summary["generation_seconds"] = round(time.perf_counter() - started, 2)
    write_json(truth / "summary.json", summary)
