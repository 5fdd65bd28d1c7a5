"""The whole standard sample district through the roster ingest, compared with truth/people.json and quarantine.

Two documented differences from the generator's truth are allowed, both for hostile or ambiguous spellings:
* a line break inside a name is sanitised to one space (truth keeps the raw text; see compliance.roster);
* a person listed twice as "Becerra Linares" and "Becerra-Linares" may keep either spelling (nothing in the
  data says which one is right).
Everything else - who is the same person, kind, category, email, phone, site, paper-only, account, active, and
every quarantined (file, sheet, row, field) - must match exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sample_fixtures import sample_source
from sqlalchemy import func, select

from compliance.models import Person, Quarantine
from compliance.quarantine import quarantine
from compliance.roster import RosterResult, build_roster, normalize_email, normalize_phone, sync_people, sync_sites
from compliance.settings import Settings


def ingest(root: Path, settings: Settings) -> RosterResult:
    users = json.loads((root / "directory" / "users.json").read_text(encoding="utf-8"))
    lists = [
        (sample_source(root, settings, entry), site.id, entry)
        for site in settings.sites
        for entry in site.associated_sources
    ]
    return build_roster(
        users, lists, settings.sites, directory_label="directory/users.json", skip_emails=settings.senders
    )


@pytest.fixture(scope="module")
def roster(sample: tuple[Path, Settings]) -> RosterResult:
    return ingest(*sample)


def _sources(refs: list[dict[str, Any]]) -> frozenset[tuple[str, str, int]]:
    return frozenset((r["source"], r.get("sheet", ""), r["row"]) for r in refs)


def _same_spelling(a: str, b: str) -> bool:
    return a.replace("-", " ") == b.replace("-", " ")


def test_people_match_truth(sample: tuple[Path, Settings], roster: RosterResult) -> None:
    root, _ = sample
    truth = json.loads((root / "truth" / "people.json").read_text(encoding="utf-8"))
    expected = {_sources(p["sources"]): p for p in truth}
    got = {frozenset(p.sources): p for p in roster.people}
    # Same people: every group of listings that truth calls one person is one record here, and nothing else.
    assert sorted(map(sorted, set(got) - set(expected))) == []
    assert sorted(map(sorted, set(expected) - set(got))) == []
    problems = []
    for key, t in expected.items():
        m = got[key]
        given, family = t["given_name"], t["family_name"]
        if t.get("hostile"):
            given, family = " ".join(given.split()), " ".join(family.split())
        same = _same_spelling if len(key) > 1 else str.__eq__
        checks = {
            "given_name": same(given, m.given_name),
            "family_name": same(family, m.family_name),
            "kind": t["kind"] == m.kind,
            "category": t["category"] == m.category,
            "email": normalize_email(t["email"]) == m.email,
            "phone": normalize_phone(t["phone"]) == m.phone,
            "site_id": t["site_id"] == m.site_id,
            "site_ids": set(t["site_ids"]) == {m.site_id, *m.also_sites},
            "paper_only": t["paper_only"] == m.paper_only,
            "has_district_account": t["has_district_account"] == m.has_district_account,
            "active": t["active"] == m.active,
        }
        problems += [(name, t["person_key"], sorted(key)) for name, ok in checks.items() if not ok]
    assert problems == []
    assert len({p.person_key for p in roster.people}) == len(roster.people) == len(truth)


def test_quarantine_matches_truth(sample: tuple[Path, Settings], roster: RosterResult) -> None:
    root, _ = sample
    truth = json.loads((root / "truth" / "quarantine.json").read_text(encoding="utf-8"))
    # The paper binder is read by the acknowledgement ingest, not the roster.
    expected = sorted(
        (q["source"], q.get("sheet", ""), q["row"], q["field"]) for q in truth if not q["source"].startswith("paper/")
    )
    got = sorted((r.source_file, r.sheet, r.row, r.field) for r in roster.rejected)
    assert got == expected
    assert all(r.reason and r.job == "roster" for r in roster.rejected)


def test_sync_whole_sample_is_idempotent(sample: tuple[Path, Settings], roster: RosterResult, store) -> None:  # type: ignore[no-untyped-def]
    _, settings = sample
    now = datetime(2026, 9, 1, 12, tzinfo=UTC)
    with store.session() as session:
        sync_sites(session, settings.sites)
        first = sync_people(session, roster.people, now)
        quarantine(session, roster.rejected)
        session.commit()
    leavers = sum(1 for p in roster.people if not p.active)
    assert (first.joined, first.left) == (len(roster.people), 0)
    with store.session() as session:
        again = sync_people(session, ingest(*sample).people, now)
        assert quarantine(session, roster.rejected) == 0
        session.commit()
        assert (again.joined, again.updated, again.left, again.unchanged) == (0, 0, 0, len(roster.people))
        assert session.scalar(select(func.count()).select_from(Person).where(Person.active.is_(False))) == leavers
        assert session.scalar(select(func.count()).select_from(Quarantine)) == len(roster.rejected)
        paper = session.scalar(select(func.count()).select_from(Person).where(Person.paper_only.is_(True)))
        assert paper == sum(1 for p in roster.people if p.paper_only) > 0
