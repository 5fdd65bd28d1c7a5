"""Findings: consent rule per identified student and the new -> open -> resolved life cycle (real store)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from compliance.models import Finding, Site
from compliance.photos.findings import apply_judgements, judge_matches
from compliance.photos.matching import Match


@dataclass
class Consent:
    student_id: str
    parent_consent: bool
    parent_signed_on: date | None
    principal_approved: bool
    revoked_on: date | None = None
    purposes: tuple[str, ...] = ("website",)


ON = date(2026, 11, 20)
CONSENTS = {
    "S-ok": [Consent("S-ok", True, date(2026, 9, 1), True)],
    "S-revoked": [Consent("S-revoked", True, date(2026, 9, 1), True, revoked_on=date(2026, 10, 1))],
    "S-old": [Consent("S-old", True, date(2025, 9, 1), True)],
    "S-noprincipal": [Consent("S-noprincipal", True, date(2026, 9, 1), False)],
    "S-yearbook": [Consent("S-yearbook", True, date(2026, 9, 1), True, purposes=("yearbook",))],
}


def match(student: str, confidence: float = 0.95) -> Match:
    return Match(student, confidence, "Name", "alt", "Name at the fair")


def test_each_reason_and_low_confidence() -> None:
    students = ["S-ok", "S-revoked", "S-old", "S-noprincipal", "S-yearbook", "S-none"]
    got = judge_matches("s1", "p", "i", [match(s) for s in students] + [match("S-ok", 0.5)], CONSENTS, ON)
    by = {j.student_id: (j.verdict, j.reason) for j in got}
    assert by == {
        "S-ok": ("ok", "ok"),  # the better of two matches for the same student decides
        "S-revoked": ("violation", "revoked"),
        "S-old": ("violation", "expired"),
        "S-noprincipal": ("violation", "principal_missing"),
        "S-yearbook": ("violation", "purpose_not_covered"),
        "S-none": ("violation", "no_consent"),
    }
    weak = judge_matches("s1", "p", "i", [match("S-none", 0.5), match("S-ok", 0.5)], CONSENTS, ON)
    assert {(j.student_id, j.verdict, j.reason) for j in weak} == {
        ("S-none", "needs_review", "no_consent"),
        ("S-ok", "needs_review", "low_confidence"),
    }


def test_life_cycle_new_open_resolved_reappears(store) -> None:
    night1 = datetime(2026, 11, 20, 10, tzinfo=UTC)
    with store.session() as s:
        s.add(Site(id="s1", name="S", kind="elementary", org_unit="/", site_admin_email="a@x.org",
                   web_contact_email="w@x.org"))
    judged = judge_matches("s1", "http://x/p", "http://x/i.jpg", [match("S-none")], CONSENTS, ON)
    with store.session() as s:
        assert apply_judgements(s, "s1", judged, night1).new == 1
    with store.session() as s:
        counts = apply_judgements(s, "s1", judged, night1 + timedelta(days=1))
        assert counts.new == 0 and counts.resolved == 0
        assert s.scalars(select(Finding)).one().state == "open"
    with store.session() as s:  # the photo is gone on the third night
        assert apply_judgements(s, "s1", [], night1 + timedelta(days=2)).resolved == 1
        row = s.scalars(select(Finding)).one()
        assert row.state == "resolved" and row.resolved_at - row.first_seen_at == timedelta(days=2)
    with store.session() as s:  # ...and back online: a fresh takedown clock
        assert apply_judgements(s, "s1", judged, night1 + timedelta(days=5)).new == 1
        row = s.scalars(select(Finding)).one()
        assert row.state == "new" and row.resolved_at is None and row.first_seen_at == night1 + timedelta(days=5)
