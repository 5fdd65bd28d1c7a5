"""The consent rule the sample's truth file is computed with (SAMPLE.md), on hand-made records."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance.sample.students import ConsentRecord, school_year_start, website_status

AS_OF = dt.date(2026, 11, 20)
ALL = frozenset({"website", "social_media", "yearbook", "press"})


def rec(signed: str, *, parent: bool = True, principal: bool = True, purposes: frozenset[str] = ALL,
        revoked: str | None = None, order: int = 0, defect: str | None = None) -> ConsentRecord:
    return ConsentRecord("1234567", parent, dt.date.fromisoformat(signed), principal, purposes,
                         dt.date.fromisoformat(revoked) if revoked else None, order, defect)


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], (False, "no_consent")),
        ([rec("2026-09-01")], (True, "ok")),
        ([rec("2026-09-01", parent=False)], (False, "no_consent")),
        ([rec("2026-09-01", revoked="2026-10-01")], (False, "revoked")),
        ([rec("2026-09-01", revoked="2026-11-20")], (False, "revoked")),  # revoked on the day: not in force
        ([rec("2026-09-01", revoked="2026-11-21")], (True, "ok")),  # revocation still in the future
        ([rec("2026-07-31")], (False, "expired")),  # last school year
        ([rec("2026-08-01")], (True, "ok")),  # first day of this school year
        ([rec("2026-09-01", principal=False)], (False, "principal_missing")),
        ([rec("2026-09-01", purposes=frozenset({"yearbook"}))], (False, "purpose_not_covered")),
        ([rec("2026-11-21")], (False, "no_consent")),  # signed after the date
        ([rec("2026-09-01", defect="signed_date")], (False, "no_consent")),  # quarantined rows never count
        # Latest record wins, whatever the file order...
        ([rec("2026-09-01", order=2), rec("2025-09-01", order=1)], (True, "ok")),
        ([rec("2026-09-01", order=1), rec("2026-10-01", principal=False, order=2)], (False, "principal_missing")),
        ([rec("2026-10-01", principal=False, order=1), rec("2026-09-01", order=2)], (False, "principal_missing")),
        # ...and on the same signed date the later row in the file.
        ([rec("2026-09-01", order=1), rec("2026-09-01", principal=False, order=2)], (False, "principal_missing")),
        ([rec("2026-09-01", principal=False, order=1), rec("2026-09-01", order=2)], (True, "ok")),
    ],
)
def test_website_status(records: list[ConsentRecord], expected: tuple[bool, str]) -> None:
    assert website_status(records, AS_OF) == expected


def test_other_purposes_and_school_year_boundaries() -> None:
    yearbook_only = [rec("2026-09-01", purposes=frozenset({"yearbook"}))]
    assert website_status(yearbook_only, AS_OF, "yearbook") == (True, "ok")
    assert school_year_start(dt.date(2026, 7, 31)) == dt.date(2025, 8, 1)
    assert school_year_start(dt.date(2026, 8, 1)) == dt.date(2026, 8, 1)
    assert school_year_start(dt.date(2027, 1, 5)) == dt.date(2026, 8, 1)
