"""Nightly roster re-sync at LAUSD scale with an unchanged roster: the whole task, then its parts.

``.venv/bin/python -m benchmarks.bench_roster [--scale lausd] [--repeat 3] [--people 175000] [--database-url URL]
[--skip-nightly] [--skip-parts]``

**Nightly** (issue 13's acceptance figure, < 10 s): the ``sync_roster`` task (``tasks.roster``) against the
``--scale`` sample served by the Workspace emulator over HTTPS (75,040 Directory users in 150 pages, 1,000
school lists, one a Google Sheet) into a fresh SQLite store. A first sync fills the store; then, the roster
unchanged, median of ``--repeat``:

- ``re-sync`` = ``sync_roster(now)``: Directory pages, every list fetched and hashed, the fingerprint matched
  (compliance.roster.roster_unchanged), each source's read recorded, nothing parsed or compared;
- baseline (named, same run, same store): ``sync_roster(now, recompare=True)``, what every nightly did before:
  every list parsed and validated, deduplication, review queue, the person-by-person compare (nothing to write).

**Parts** (synthetic, fixed seed): ``--people`` records over 1,000 sites (60 % directory staff with district
emails, the rest associated persons with personal emails, phones, some family mailboxes shared by two
adults), stored once by a first sync. Measured (median of ``--repeat``), the roster unchanged:

- ``merge`` = :func:`compliance.roster.merge_people` of the records;
- ``review`` = :func:`compliance.review.likely_duplicates` of the merged people;
- ``sync`` = :func:`compliance.roster.sync_people` (compare with the store, write what changed: nothing).

Baseline (named, same run, same store): ``sync (ORM objects)``, the compare as it was before issue 13 (every
Person loaded as an ORM object, attributes set one by one, flushed by the unit of work). Counts and timings only.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from compliance.models import Person, Site
from compliance.review import likely_duplicates
from compliance.roster import _SYNCED, PersonRecord, _source_ref, merge_people, person_key, sync_people
from compliance.store import Store

FIRST = ["Maria", "Jose", "Ana", "Luis", "Sofia", "Daniel", "Emma", "Noah", "Olivia", "Liam", "Camila", "Mateo",
         "Valentina", "Santiago", "Isabella", "Sebastian", "Mia", "Diego", "Lucia", "Gabriel", "Ava", "Elijah"]
LAST = ["Garcia", "Hernandez", "Lopez", "Martinez", "Gonzalez", "Rodriguez", "Perez", "Sanchez", "Ramirez",
        "Torres", "Flores", "Rivera", "Gomez", "Diaz", "Cruz", "Smith", "Johnson", "Nguyen", "Kim", "Park", "Lee"]
NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)


def make_records(n: int, sites: int = 1000, seed: int = 1114) -> list[PersonRecord]:
    rng = random.Random(seed)
    out: list[PersonRecord] = []
    for i in range(n):
        given, family = rng.choice(FIRST), rng.choice(LAST) + (f" {rng.choice(LAST)}" if rng.random() < 0.3 else "")
        site = f"school-{i % sites:04d}"
        staff = i < n * 0.6
        if staff:
            email, phone, kind, category = f"u{i}@district.example", None, "employee", "employee"
        else:
            household = i - (i % 2) if rng.random() < 0.05 else i  # some family mailboxes shared by two adults
            email = f"family{household}@mail.example"
            phone, kind, category = f"213{i:07d}"[-10:], "associated", "volunteer"
        out.append(PersonRecord(person_key(email, given, family, phone, site), kind, category, given, family,  # type: ignore[arg-type]
                                email, phone, site, False, staff,
                                directory_id=f"d{i}" if staff else None,
                                sources=(("directory" if staff else f"associated/{site}.xlsx", "", i),)))
    return out


def sync_people_orm(session, records: Sequence[PersonRecord], now: datetime) -> int:  # type: ignore[no-untyped-def]
    """The compare before issue 13 (baseline): ORM objects for everyone, attributes set one by one."""
    existing = {p.person_key: p for p in session.scalars(select(Person))}
    changed = 0
    seen = set()
    for rec in records:
        seen.add(rec.person_key)
        person = existing.get(rec.person_key)
        if person is None:
            continue
        first = rec.sources[0] if rec.sources else ("", "", 0)
        values = {"kind": rec.kind, "category": rec.category, "given_name": rec.given_name[:200],
                  "family_name": rec.family_name[:200], "email": rec.email, "email_normalized": rec.email_normalized,
                  "phone": rec.phone, "site_id": rec.site_id, "has_district_account": rec.has_district_account,
                  "paper_only": rec.paper_only, "source": first[0][:300],
                  "source_ref": (rec.directory_id or _source_ref(first))[:300],
                  "preferred_language": rec.language or "", "language_source": (rec.language_source or "")[:300]}
        for name in _SYNCED:
            if getattr(person, name) != values[name]:
                setattr(person, name, values[name])
                changed += 1
    for key, person in existing.items():
        if key not in seen and person.active:
            person.active, person.left_at = False, now
    session.flush()
    return changed


def _median(fn: Callable[[], object], repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def nightly(scale: str, repeat: int) -> None:
    """The sync_roster task on an unchanged roster against the emulated district (see the module docstring)."""
    from compliance.runtime import configure_prefect_env

    configure_prefect_env()
    from compliance.sample import ensure_sample
    from emulator.district import LocalDistrict

    sample = ensure_sample(scale)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "store.db"
        with LocalDistrict(sample, f"sqlite:///{db}", work_dir=Path(tmp) / "work"):
            from tasks.roster import sync_roster

            first_t, first = _median(lambda: sync_roster.fn(NOW), 1)
            print(f"nightly {sample.name}: first sync {first_t:6.2f} s: {first['directory users']:,} Directory users, "  # type: ignore[index]
                  f"{first['lists read']:,} lists -> {first['people']:,} people")  # type: ignore[index]
            again_t, again = _median(lambda: sync_roster.fn(NOW), repeat)
            base_t, base = _median(lambda: sync_roster.fn(NOW, recompare=True), repeat)
    assert again["roster unchanged"] == 1 and base["roster unchanged"] == 0  # type: ignore[index]
    assert base["joined"] == base["updated"] == base["left"] == 0  # type: ignore[index]
    print(f"nightly re-sync, unchanged roster  median {again_t:6.2f} s  (target < 10 s)")
    print(f"baseline: full re-read and compare (recompare=True) median {base_t:6.2f} s  "
          f"ratio {base_t / again_t:4.1f}x")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=175_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", default="lausd", help="sample of the nightly part (lausd: the acceptance figure)")
    parser.add_argument("--skip-nightly", action="store_true", help="only the synthetic parts")
    parser.add_argument("--skip-parts", action="store_true", help="only the nightly task")
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temporary folder")
    args = parser.parse_args(argv)
    if not args.skip_nightly:
        nightly(args.scale, args.repeat)
    if args.skip_parts:
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.database_url or f"sqlite:///{Path(tmp) / 'store.db'}")
        records = make_records(args.people)
        people = merge_people(records)
        with store.session() as s:
            s.add_all(Site(id=f"school-{k:04d}", name=f"School {k}", kind="elementary", org_unit=f"/S{k}",
                           site_admin_email=f"p{k}@district.example", web_contact_email=f"w{k}@district.example")
                      for k in range(1000))
            s.flush()
            first = sync_people(s, people, NOW)
        print(f"records {len(records):,}, people {len(people):,}, first sync joined {first.joined:,}")
        merge_t, _ = _median(lambda: merge_people(records), args.repeat)
        review_t, review = _median(lambda: likely_duplicates(people), args.repeat)

        def resync() -> object:
            with store.session() as s:
                return sync_people(s, people, NOW)

        def resync_orm() -> object:
            with store.session() as s:
                return sync_people_orm(s, people, NOW)

        sync_t, counts = _median(resync, args.repeat)
        base_t, base_changed = _median(resync_orm, args.repeat)
    assert counts.joined == counts.updated == counts.left == 0 and base_changed == 0  # type: ignore[attr-defined]
    print(f"merge   median {merge_t:6.2f} s")
    print(f"review  median {review_t:6.2f} s  ({len(review):,} pairs to review)")  # type: ignore[arg-type]
    print(f"sync    median {sync_t:6.2f} s  (unchanged {counts.unchanged:,})")  # type: ignore[attr-defined]
    print(f"sync (ORM objects, baseline) median {base_t:6.2f} s  ratio {base_t / sync_t:4.1f}x")
    print(f"nightly roster compare total (merge + review + sync) {merge_t + review_t + sync_t:6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
