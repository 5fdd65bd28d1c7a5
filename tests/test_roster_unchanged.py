"""An unchanged roster is not parsed or compared again, and any change makes the next sync do the whole work.

Each night's sync hashes every source (the Directory's users, every school list); when the hashes, the SIS home
languages and the rules are those of the last complete sync and the store still holds the people that sync
left, nothing is read into records or written but each source's read. Every case below also checks the other
direction: a changed list, a hand-edited store, a changed Directory account, ``recompare``.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from compliance.models import Base, Person, SourceRead
from compliance.store import Store
from emulator.district import LocalDistrict

pytestmark = pytest.mark.slow

NOW = datetime(2026, 9, 8, 9, 0, tzinfo=UTC)


def _dump(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table but the source reads' check and good-read times (tonight's read is recorded)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with Store(db_url).session() as s:
        for table in Base.metadata.sorted_tables:
            skip = {"source_reads": ("checked_at", "good_at"), "sync_state": ("updated_at",)}.get(table.name, ())
            columns = [c for c in table.columns if c.name not in skip]
            out[table.name] = sorted((tuple(r) for r in s.execute(select(*columns))), key=repr)
    return out


@pytest.fixture
def district_copy(sample_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "district"
    shutil.copytree(sample_dir, dest, ignore=shutil.ignore_patterns("sites", "truth"))
    (dest / "sites").symlink_to(sample_dir / "sites")
    return dest


def test_unchanged_roster_is_skipped_and_every_change_is_not(district_copy: Path, sqlite_url: str,
                                                             tmp_path: Path) -> None:
    from tasks.roster import sync_roster

    with LocalDistrict(district_copy, sqlite_url, work_dir=tmp_path / "work") as district:
        first = sync_roster.fn(NOW)
        assert first["roster unchanged"] == 0 and first["joined"] > 600
        before = _dump(sqlite_url)

        # The same sources again: nothing parsed, nothing written but the reads, the same figures reported.
        again = sync_roster.fn(NOW + timedelta(days=1))
        assert again["roster unchanged"] == 1
        assert {k: v for k, v in again.items() if k != "roster unchanged"} == {
            **{k: v for k, v in first.items() if k != "roster unchanged"}, "joined": 0, "newly quarantined": 0}
        assert _dump(sqlite_url) == before
        with Store(sqlite_url).session() as s:
            reads = s.scalars(select(SourceRead).where(SourceRead.job == "roster")).all()
            assert len(reads) == first["lists read"] + 1
            assert {r.checked_at for r in reads} == {NOW + timedelta(days=1)}

        # recompare: the whole compare, which finds the store already right.
        forced = sync_roster.fn(NOW + timedelta(days=2), recompare=True)
        assert forced["roster unchanged"] == 0 and forced["updated"] == forced["joined"] == forced["left"] == 0

        # A person changed by hand in the store (deactivated): the next sync sees it and puts it right.
        with Store(sqlite_url).session() as s:
            someone = s.scalars(select(Person).where(Person.active, Person.source != "directory")).first()
            s.execute(update(Person).where(Person.id == someone.id).values(active=False, left_at=NOW))
            s.commit()
            someone_id = someone.id
        mended = sync_roster.fn(NOW + timedelta(days=3))
        assert mended["roster unchanged"] == 0 and mended["updated"] == 1
        with Store(sqlite_url).session() as s:
            assert s.get(Person, someone_id).active
        assert sync_roster.fn(NOW + timedelta(days=4))["roster unchanged"] == 1

        # One school's list changes: that night compares everything again and takes the change.
        path = district_copy / "associated" / "district-office.csv"
        path.write_text(path.read_text(encoding="utf-8-sig") + "Zelda Newcomer,Acme,zelda.newcomer@example.org,,"
                        "Contractor - speech therapy\n", encoding="utf-8-sig")
        changed = sync_roster.fn(NOW + timedelta(days=5))
        assert changed["roster unchanged"] == 0 and changed["joined"] == 1

        # A Directory account changes (a new title): the Directory's hash changes, the sync runs in full.
        user = next(iter(district.emulator.workspace.directory.users.values()))
        district.emulator.admin.seed(directory={"users": [{**user, "organizations": [
            {"title": "Principal", "primary": True}]}]})
        assert sync_roster.fn(NOW + timedelta(days=6))["roster unchanged"] == 0
        assert sync_roster.fn(NOW + timedelta(days=7))["roster unchanged"] == 1
        # Someone signs in: the account's lastLoginTime moves every day, and says nothing about the roster.
        user = district.emulator.workspace.directory.users[user["id"]]
        district.emulator.admin.seed(directory={"users": [{**user, "lastLoginTime": "2026-09-15T08:00:00.000Z"}]})
        assert sync_roster.fn(NOW + timedelta(days=8))["roster unchanged"] == 1

        # A list that comes back empty is held; the same empty list the next night is held again, for the same
        # reason and since the same night, without parsing anything; the list mended, the sync runs in full.
        kept = path.read_bytes()
        path.write_bytes(b"")
        held = sync_roster.fn(NOW + timedelta(days=9))
        assert held["sources held"] == 1 and held["roster unchanged"] == 0
        again = sync_roster.fn(NOW + timedelta(days=10))
        assert again["sources held"] == 1 and again["roster unchanged"] == 1
        with Store(sqlite_url).session() as s:
            read = s.get(SourceRead, "associated/district-office.csv")
            assert read.held_since == NOW + timedelta(days=9) and "empty" in read.held_reason
            assert read.checked_at == NOW + timedelta(days=10)
        path.write_bytes(kept)
        mended = sync_roster.fn(NOW + timedelta(days=11))
        assert mended["sources held"] == 0 and mended["roster unchanged"] == 0
