"""The whole standard sample through the SIS and consent ingest, compared exactly with truth/consent.json."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from sample_fixtures import sample_source
from sqlalchemy import func, select

from compliance.consent import (
    ConsentResult,
    StudentsResult,
    consent_statuses,
    load_consents,
    read_consents,
    read_students,
    store_consents,
    store_students,
)
from compliance.models import ConsentRecord, Quarantine
from compliance.quarantine import quarantine
from compliance.roster import sync_sites
from compliance.settings import Settings


@pytest.fixture(scope="module")
def ingested(sample: tuple[Path, Settings]) -> tuple[StudentsResult, ConsentResult]:
    root, settings = sample
    assert settings.sis_export
    students = read_students(
        settings.input_path(settings.sis_export), label=settings.sis_export, site_ids=[s.id for s in settings.sites]
    )
    known = {s.student_id for s in students.students}
    consents = ConsentResult()
    for site in settings.sites:
        for entry in site.consent_sources:
            part = read_consents(
                sample_source(root, settings, entry),
                site.id,
                known,
                label=entry,
                school_year_start=settings.district.school_year_start,
            )
            consents.records += part.records
            consents.rejected += part.rejected
            consents.skipped += part.skipped
    return students, consents


def test_students_load(sample: tuple[Path, Settings], ingested: tuple[StudentsResult, ConsentResult]) -> None:
    root, _ = sample
    students, _ = ingested
    summary = json.loads((root / "truth" / "summary.json").read_text(encoding="utf-8"))
    assert students.rejected == []
    assert len(students.students) == summary["students"]
    assert any(s.preferred_first for s in students.students)


def test_consent_decisions_match_truth(
    sample: tuple[Path, Settings], ingested: tuple[StudentsResult, ConsentResult]
) -> None:
    root, settings = sample
    students, consents = ingested
    truth = json.loads((root / "truth" / "consent.json").read_text(encoding="utf-8"))
    as_of = date.fromisoformat(truth["as_of"])
    decisions = consent_statuses(
        consents.records,
        [s.student_id for s in students.students],
        truth["purpose"],
        as_of,
        settings.district.school_year_start,
    )
    expected = {sid: (v["allowed"], v["reason"]) for sid, v in truth["students"].items()}
    got = {sid: (d.allowed, d.reason) for sid, d in decisions.items()}
    wrong = Counter(
        (expected[sid][1], got.get(sid, (None, None))[1]) for sid in expected if got.get(sid) != expected[sid]
    )
    assert wrong == Counter()
    assert set(got) == set(expected)
    # Every reason occurs in the sample, so the comparison exercises the whole rule.
    assert {r for _, r in expected.values()} >= {"ok", "no_consent", "revoked", "expired", "principal_missing"}


def test_consent_quarantine_and_conflicts_match_truth(
    sample: tuple[Path, Settings], ingested: tuple[StudentsResult, ConsentResult]
) -> None:
    root, _ = sample
    _, consents = ingested
    truth = json.loads((root / "truth" / "consent.json").read_text(encoding="utf-8"))
    expected = sorted((q["source"], q.get("sheet", ""), q["row"], q["field"]) for q in truth["quarantine"])
    got = sorted((r.source_file, r.sheet, r.row, r.field) for r in consents.rejected)
    assert got == expected
    assert sorted({r.student_id for r in consents.records if r.conflict}) == sorted(truth["conflicts"])
    # The typed workbook's instruction tab is passed over, not quarantined.
    assert all(s.field in ("(header)", "(sheet)") for s in consents.skipped)


def test_store_whole_sample_idempotent(
    sample: tuple[Path, Settings], ingested: tuple[StudentsResult, ConsentResult], store
) -> None:  # type: ignore[no-untyped-def]
    _, settings = sample
    students, consents = ingested
    with store.session() as session:
        sync_sites(session, settings.sites)
        assert store_students(session, students.students)["added"] == len(students.students)
        assert store_consents(session, consents.records)["added"] == len(consents.records)
        quarantine(session, consents.rejected)
        session.commit()
    with store.session() as session:
        assert store_students(session, students.students) == {"added": 0, "updated": 0, "deactivated": 0}
        again = store_consents(session, consents.records)
        assert again == {"added": 0, "updated": 0, "unchanged": len(consents.records), "removed": 0}
        assert quarantine(session, consents.rejected) == 0
        session.commit()
        assert session.scalar(select(func.count()).select_from(ConsentRecord)) == len(consents.records)
        assert session.scalar(select(func.count()).select_from(Quarantine)) == len(consents.rejected)
        stored = load_consents(session)
    # Decisions from the stored rows equal decisions from the in-memory records, for every student.
    as_of = date(2026, 11, 20)
    ids = [s.student_id for s in students.students]
    from_store = consent_statuses([r for rows in stored.values() for r in rows], ids, "website", as_of)
    from_memory = consent_statuses(consents.records, ids, "website", as_of)
    assert {k: v.reason for k, v in from_store.items()} == {k: v.reason for k, v in from_memory.items()}
