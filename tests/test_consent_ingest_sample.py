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
    PURPOSES,
    ConsentResult,
    Roster,
    StudentsResult,
    consent_status,
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
    roster = Roster(students.students)
    consents = ConsentResult()
    for site in settings.sites:
        sources = [(e, None) for e in site.consent_sources] + [(e, "opt_out") for e in site.opt_out_sources]
        for entry, kind in sources:
            consents.extend(
                read_consents(
                    sample_source(root, settings, entry),
                    site.id,
                    roster,
                    label=entry,
                    school_year_start=settings.district.school_year_start,
                    default_purposes=site.default_purposes_for(entry),
                    kind=kind,  # type: ignore[arg-type]
                )
            )
    return students, consents


def decisions(records, ids, purpose, on, start):  # type: ignore[no-untyped-def]
    """Each student's decision from one history of all their records (every file and sheet)."""
    by_student: dict[str, list] = {}
    for rec in records:
        by_student.setdefault(rec.student_id, []).append(rec)
    return {sid: consent_status(by_student.get(sid, []), purpose, on, start) for sid in ids}


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
    ids = [s.student_id for s in students.students]
    start = settings.district.school_year_start
    assert truth["school_year_start"] == start
    judged = decisions(consents.records, ids, truth["purpose"], as_of, start)
    expected = {sid: (v["allowed"], v["reason"]) for sid, v in truth["students"].items()}
    got = {sid: (d.allowed, d.reason) for sid, d in judged.items()}
    wrong = Counter(
        (expected[sid][1], got.get(sid, (None, None))[1]) for sid in expected if got.get(sid) != expected[sid]
    )
    assert wrong == Counter()
    assert set(got) == set(expected)
    # Every reason occurs in the sample, so the comparison exercises the whole rule.
    assert {r for _, r in expected.values()} >= {"ok", "no_consent", "revoked", "expired", "principal_missing",
                                                 "purpose_not_covered", "opted_out"}  # fmt: skip
    # Every decision names its rule and at least one record by file and row (rule 9).
    assert all(d.basis.startswith(f"rule {d.rule}:") for d in judged.values())
    assert all(" row " in d.basis for d in judged.values() if d.record is not None)
    # Every purpose, not only the website.
    allowed = {p: {sid for sid, d in decisions(consents.records, ids, p, as_of, start).items() if d.allowed}
               for p in PURPOSES}  # fmt: skip
    for sid, v in truth["students"].items():
        assert [p for p in PURPOSES if sid in allowed[p]] == v["allowed_purposes"], sid


def test_no_consent_row_dropped(sample: tuple[Path, Settings], ingested: tuple[StudentsResult, ConsentResult]) -> None:
    root, _ = sample
    _, consents = ingested
    summary = json.loads((root / "truth" / "summary.json").read_text(encoding="utf-8"))
    applied = {(r.source_file, r.source_sheet, r.source_row) for r in consents.records}
    quarantined = {(r.source_file, r.sheet, r.row) for r in consents.rejected}
    assert not applied & quarantined
    assert len(applied) + len(quarantined) == consents.rows == summary["consent_rows"]
    assert all(r.source_file and r.row > 0 and r.field and r.reason for r in consents.rejected)
    # Rows found by name, opt-outs and notes all occur in the sample.
    assert sum(r.matched_by == "name" for r in consents.records) >= 5
    assert sum(r.kind == "opt_out" for r in consents.records) >= 5


def test_consent_quarantine_and_conflicts_match_truth(
    sample: tuple[Path, Settings], ingested: tuple[StudentsResult, ConsentResult]
) -> None:
    root, _ = sample
    _, consents = ingested
    truth = json.loads((root / "truth" / "consent.json").read_text(encoding="utf-8"))
    expected = sorted((q["source"], q.get("sheet", ""), q["row"], q["field"]) for q in truth["quarantine"])
    got = sorted((r.source_file, r.sheet, r.row, r.field) for r in consents.rejected)
    assert got == expected
    notes = sorted((q["source"], q.get("sheet", ""), q["row"], q["field"], q["value"]) for q in truth["data_quality"])
    assert sorted((r.source_file, r.sheet, r.row, r.field, r.raw_value) for r in consents.notes) == notes
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
    for purpose in PURPOSES:
        from_store = decisions([r for rows in stored.values() for r in rows], ids, purpose, as_of, "08-01")
        from_memory = decisions(consents.records, ids, purpose, as_of, "08-01")
        assert {k: (v.reason, v.basis) for k, v in from_store.items()} == {
            k: (v.reason, v.basis) for k, v in from_memory.items()
        }


def _reference_fits(roster: Roster, sid: str, written: list[str]) -> bool:
    """Roster.fits as the rule reads (word by word, nicknames looked up each time): the fast path must agree."""
    from rapidfuzz.distance import OSA

    from compliance.photos.matching import FUZZY_MIN_LEN, SURNAME_PARTICLES

    def near(w: str, forms: tuple[str, ...]) -> bool:
        return w in forms or (
            len(w) >= FUZZY_MIN_LEN
            and any(len(f) >= FUZZY_MIN_LEN and OSA.distance(w, f, score_cutoff=1) <= 1 for f in forms)
        )

    heads, later, family, forms = roster._name_parts(sid)
    nicks = roster._nickname_table()
    words = [w for w in written if w not in SURNAME_PARTICLES]
    if not words or " ".join(words) in forms:
        return True
    given_at = [
        i
        for i, w in enumerate(words)
        if w in later
        or near(w, heads)
        or any(h in nicks.get(w, ()) for h in heads)
        or any(w in nicks.get(h, ()) for h in heads)
    ]
    family_at = [i for i, w in enumerate(words) if near(w, family)]
    return any(i != j for i in given_at for j in family_at)


def test_name_checks_agree_with_the_rule_word_by_word(
    sample: tuple[Path, Settings], ingested: tuple[StudentsResult, ConsentResult]
) -> None:
    from compliance.consent import CONSENT_FIELDS, written_name
    from compliance.tabular import read_table

    root, settings = sample
    students, _ = ingested
    roster = Roster(students.students)
    by_site: dict[str | None, list[str]] = {}
    for s in students.students:
        by_site.setdefault(s.site_id, []).append(s.student_id)
    checked = found_some = 0
    for site in settings.sites:
        for entry in site.consent_sources:
            for row in read_table(sample_source(root, settings, entry), CONSENT_FIELDS, job="consent").rows:
                words = written_name(row)
                if not words:
                    continue
                sid = row.text("student_id")
                if sid in roster:
                    assert roster.fits(sid, words) == _reference_fits(roster, sid, words), (entry, row.row)
                # Every student of the school with a surname word on the row, then the rule: the index may
                # only skip students the rule would not find.
                expected = sorted(
                    s
                    for s in by_site.get(site.id, [])
                    if set(roster._name_parts(s)[2]) & set(words) and _reference_fits(roster, s, words)
                )
                assert roster.find(words, site.id) == expected, (entry, row.row)
                checked += 1
                found_some += bool(expected)
    assert checked > 100 and found_some > 50
