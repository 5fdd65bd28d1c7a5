"""The consent rule, case by case: each reason, boundary dates, latest wins, conflicts."""

from __future__ import annotations

from datetime import date

import pytest

from compliance.consent import (
    PURPOSES,
    ConsentEntry,
    consent_status,
    consent_statuses,
    flag_conflicts,
    latest_record,
    school_year_of,
)

ALL = frozenset(PURPOSES)


def rec(
    signed: date | None,
    *,
    parent: bool = True,
    principal: bool = True,
    purposes: frozenset[str] = ALL,
    revoked: date | None = None,
    row: int = 2,
    student: str = "1001",
) -> ConsentEntry:
    return ConsentEntry(
        student_id=student,
        site_id="lincoln-es",
        purposes=purposes if parent else frozenset(),
        parent_consent=parent,
        parent_signed_on=signed,
        principal_approved=principal,
        principal_approved_on=None,
        revoked_on=revoked,
        school_year=school_year_of(signed) if signed else None,
        source_file="consent/lincoln-es.xlsx",
        source_sheet="Releases",
        source_row=row,
    )


D = date(2026, 10, 15)


@pytest.mark.parametrize(
    ("records", "on", "allowed", "reason"),
    [
        ([], D, False, "no_consent"),
        ([rec(date(2026, 9, 1))], D, True, "ok"),
        ([rec(date(2026, 9, 1), parent=False)], D, False, "no_consent"),
        # signed on D is in force on D; signed the day after is not yet.
        ([rec(D)], D, True, "ok"),
        ([rec(date(2026, 10, 16))], D, False, "no_consent"),
        # revoked on D is no longer in force on D; revoked the day after still is.
        ([rec(date(2026, 9, 1), revoked=D)], D, False, "revoked"),
        ([rec(date(2026, 9, 1), revoked=date(2026, 10, 16))], D, True, "ok"),
        # school year boundary: 07-31 belongs to the previous year, 08-01 starts the new one.
        ([rec(date(2026, 7, 31))], date(2026, 8, 1), False, "expired"),
        ([rec(date(2026, 8, 1))], date(2026, 8, 1), True, "ok"),
        ([rec(date(2026, 8, 1))], date(2027, 7, 31), True, "ok"),
        ([rec(date(2026, 8, 1))], date(2027, 8, 1), False, "expired"),
        ([rec(date(2026, 9, 1), principal=False)], D, False, "principal_missing"),
        ([rec(date(2026, 9, 1), purposes=frozenset({"yearbook"}))], D, False, "purpose_not_covered"),
        # order of reasons: revoked before expired before purpose before principal.
        ([rec(date(2025, 9, 1), revoked=date(2026, 1, 1))], D, False, "revoked"),
        ([rec(date(2025, 9, 1), principal=False, purposes=frozenset({"press"}))], D, False, "expired"),
        (
            [rec(date(2026, 9, 1), principal=False, purposes=frozenset({"press"}))],
            D,
            False,
            "purpose_not_covered",
        ),
        # latest wins: a renewal this year beats last year's form; a later refusal beats an earlier yes.
        ([rec(date(2025, 9, 1), row=2), rec(date(2026, 9, 2), row=3)], D, True, "ok"),
        ([rec(date(2026, 9, 2), row=2), rec(date(2025, 9, 1), row=3)], D, True, "ok"),
        ([rec(date(2026, 9, 1), row=2), rec(date(2026, 9, 20), parent=False, row=3)], D, False, "no_consent"),
        # a later form limited to the yearbook replaces an earlier website consent.
        (
            [rec(date(2026, 9, 1), row=2), rec(date(2026, 9, 20), purposes=frozenset({"yearbook"}), row=3)],
            D,
            False,
            "purpose_not_covered",
        ),
        # a refusal dated after D does not matter yet.
        ([rec(date(2026, 9, 1), row=2), rec(date(2026, 11, 1), parent=False, row=3)], D, True, "ok"),
        # an undated refusal (parent wrote NO, no date) is a no when nothing dated exists.
        ([rec(None, parent=False)], D, False, "no_consent"),
    ],
)
def test_rule_table(records: list[ConsentEntry], on: date, allowed: bool, reason: str) -> None:
    decision = consent_status(records, "website", on)
    assert (decision.allowed, decision.reason) == (allowed, reason)
    if records and reason != "no_consent":
        assert decision.record in records


def test_purposes_are_checked_per_purpose() -> None:
    records = [rec(date(2026, 9, 1), purposes=frozenset({"website", "yearbook"}))]
    assert consent_status(records, "yearbook", D).allowed
    assert consent_status(records, "press", D).reason == "purpose_not_covered"
    with pytest.raises(ValueError):
        consent_status(records, "billboard", D)


def test_custom_school_year_start() -> None:
    records = [rec(date(2026, 7, 10))]
    assert consent_status(records, "website", date(2026, 7, 20), school_year_start="07-01").allowed
    assert consent_status(records, "website", date(2026, 7, 20)).allowed  # same 2025-2026 year with 08-01
    assert consent_status(records, "website", date(2026, 8, 2)).reason == "expired"
    assert school_year_of(date(2026, 7, 31)) == "2025-2026"
    assert school_year_of(date(2026, 8, 1)) == "2026-2027"


def test_same_day_conflict_latest_row_wins_and_is_flagged() -> None:
    day = date(2026, 9, 10)
    records = flag_conflicts([rec(day, row=5), rec(day, principal=False, row=9)])
    assert all(r.conflict for r in records)
    decision = consent_status(records, "website", D)
    assert (decision.reason, decision.conflict, decision.record.source_row) == ("principal_missing", True, 9)
    record, conflict = latest_record(records, D)
    assert record is records[1] and conflict
    # Identical duplicates (the office entered a form twice) are not a conflict.
    same = flag_conflicts([rec(day, row=5), rec(day, row=6)])
    assert not any(r.conflict for r in same)
    assert consent_status(same, "website", D).conflict is False


def test_statuses_for_many_students() -> None:
    records = [rec(date(2026, 9, 1), student="1"), rec(date(2026, 9, 1), principal=False, student="2")]
    out = consent_statuses(records, ["1", "2", "3"], "website", D)
    assert {k: v.reason for k, v in out.items()} == {"1": "ok", "2": "principal_missing", "3": "no_consent"}
