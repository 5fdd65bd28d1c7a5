"""The nightly flow end to end on the sample district: emulator over HTTPS, sample websites over HTTP, real store."""

from __future__ import annotations

import asyncio
import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from compliance.models import Finding, Quarantine, Site
from compliance.store import Store
from emulator.district import LocalDistrict

# Drill: two nightly flow runs end to end on the sample district; `make test-fast` leaves it out, `make test` runs it.
pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 02:00 district time on the sample's as_of date


@pytest.fixture(scope="module")
def nightly_twice(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory, prefect_harness: None):
    from flows.nightly import nightly

    work = tmp_path_factory.mktemp("nightly")
    db_url = f"sqlite:///{work / 'store.db'}"
    with LocalDistrict(sample_dir, db_url, work_dir=work) as district:
        first = nightly(now=NOW)
        second = nightly(now=NOW.replace(hour=11))
        yield district, first, second, db_url


def _path(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def test_violations_match_ground_truth(nightly_twice, sample_dir: Path) -> None:
    _, first, _, db_url = nightly_twice
    truth = json.loads((sample_dir / "truth" / "photos.json").read_text())
    expected = {
        (a["page"], a["image"], v["student_id"])
        for a in truth["appearances"]
        if a["crawlable"]
        for v in a["violations"]
    }
    with Store(db_url).session() as s:
        found = {
            (_path(f.page_url), _path(f.image_url), f.student_id)
            for f in s.scalars(select(Finding).where(Finding.verdict == "violation", Finding.platform == "website"))
        }
    hits = len(expected & found)
    precision, recall = hits / max(len(found), 1), hits / max(len(expected), 1)
    print(f"\nphoto consent violations: truth {len(expected)}, found {len(found)}, "
          f"precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.95 and recall >= 0.95
    assert first["photos"]["violations"] == len(found)
    # The robots-disallowed page is never crawled, so nothing on it is reported.
    private = {a["page"] for a in truth["appearances"] if not a["crawlable"]}
    assert private and not {p for p, _, _ in found} & private


def test_second_night_is_idempotent_and_cheap(nightly_twice) -> None:
    _, first, second, db_url = nightly_twice
    assert first["crawl"]["image_bodies"] > 100
    assert second["crawl"]["image_bodies"] == 0 and second["crawl"]["page_bodies"] == 0
    assert second["crawl"]["not_modified"] > 0
    assert second["roster"]["joined"] == 0 and second["roster"]["newly quarantined"] == 0
    assert second["consent"]["added"] == 0 and second["students"]["added"] == 0
    assert second["photos"]["new findings"] == 0 and second["photos"]["resolved findings"] == 0
    with Store(db_url).session() as s:
        findings = list(s.scalars(select(Finding)))
        assert {f.state for f in findings} == {"open"}
        keys = [(q.source_file, q.sheet, q.row, q.field, q.reason) for q in s.scalars(select(Quarantine))]
        assert len(keys) == len(set(keys))


def test_malformed_rows_quarantined_with_location(nightly_twice, sample_dir: Path) -> None:
    _, first, _, db_url = nightly_twice
    expected = json.loads((sample_dir / "truth" / "quarantine.json").read_text())
    with Store(db_url).session() as s:
        rows = list(s.scalars(select(Quarantine).where(Quarantine.job == "roster")))
    assert rows and all(q.source_file and q.row > 0 and q.field and q.reason for q in rows)
    stored = {(q.source_file, q.row) for q in rows}
    wanted = {(e["source"], e["row"]) for e in expected if not e["source"].startswith("paper/")}
    assert wanted <= stored
    # ...and the valid rows of the same files still loaded.
    assert first["roster"]["people"] > 600


def test_artifacts_hold_counts_not_names(nightly_twice, sample_dir: Path) -> None:
    from prefect.client.orchestration import get_client

    async def artifacts() -> list[str]:
        async with get_client() as client:
            return [str(a.data) for a in await client.read_artifacts()]

    texts = "\n".join(asyncio.run(artifacts()))
    assert "violations" in texts
    with (sample_dir / "sis" / "students.csv").open(encoding="utf-8") as fh:
        names = [f"{r['legal_first']} {r['legal_last']}" for r in csv.DictReader(fh)]
    assert not [n for n in names if n in texts]
    assert "@" not in texts.replace("@standard-sd.org", "")


def test_takedown_digests_name_no_student_and_remind_while_online(nightly_twice, sample_dir: Path) -> None:
    from flows.nightly import nightly

    district, first, second, db_url = nightly_twice
    mail = district.emulator.admin.mail()
    with Store(db_url).session() as s:
        violations = list(s.scalars(select(Finding).where(Finding.verdict == "violation")))
        sites = {f.site_id for f in violations}
        contacts = {r.id: {r.site_admin_email, r.web_contact_email} for r in s.scalars(select(Site))}
    assert first["takedown"]["takedown digests"] == 2 * len(sites) and second["takedown"]["takedown digests"] == 0
    digests = [m for m in mail if set(m["to"]) & set().union(*(contacts[x] for x in sites))]
    assert len(digests) == 2 * len(sites)
    with (sample_dir / "sis" / "students.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    names = {f"{r['legal_first']} {r['legal_last']}" for r in rows}
    for message in digests:
        assert not [n for n in names if n in message["subject"]]
        assert "\n" not in message["subject"]
    listed = {sid for m in digests for sid in [f.student_id for f in violations] if sid in m["text"]}
    assert listed == {f.student_id for f in violations}
    # Three days later the photos are still online: one reminder per site contact, once.
    later = nightly(now=NOW + timedelta(days=3, hours=1))
    again = nightly(now=NOW + timedelta(days=3, hours=2))
    assert later["takedown"]["takedown reminders"] == 2 * len(sites)
    assert again["takedown"]["takedown reminders"] == 0
