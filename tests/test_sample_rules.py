"""The consent rule the sample's truth file is computed with (SAMPLE.md), on hand-made records."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance.sample.students import ConsentRecord, consent_status, school_year_start, website_status

AS_OF = dt.date(2026, 11, 20)
ALL = frozenset({"website", "social_media", "yearbook", "press", "video"})


def rec(
    signed: str,
    *,
    parent: bool = True,
    principal: bool = True,
    purposes: frozenset[str] = ALL,
    revoked: str | None = None,
    order: int = 0,
    defect: str | None = None,
) -> ConsentRecord:
    return ConsentRecord(
        "1234567",
        parent,
        dt.date.fromisoformat(signed),
        principal,
        purposes,
        dt.date.fromisoformat(revoked) if revoked else None,
        order,
        defect,
    )


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
        # One history: every form in force counts, whatever the file order (rule 3)...
        ([rec("2026-09-01", order=2), rec("2025-09-01", order=1)], (True, "ok")),
        ([rec("2026-09-01", order=1), rec("2026-10-01", principal=False, order=2)], (True, "ok")),
        ([rec("2026-10-01", principal=False, order=1)], (False, "principal_missing")),
        # ...a revocation cancels every form signed on or before it, a later form grants again...
        ([rec("2026-09-05", revoked="2026-10-20", order=1), rec("2026-10-17", order=2)], (False, "revoked")),
        ([rec("2026-09-05", revoked="2026-10-10", order=1), rec("2026-10-10", order=2)], (False, "revoked")),
        ([rec("2026-09-05", revoked="2026-10-01", order=1), rec("2026-10-08", order=2)], (True, "ok")),
        # ...and a dated refusal counts as one.
        ([rec("2026-09-01", order=1), rec("2026-09-20", parent=False, order=2)], (False, "no_consent")),
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


def test_opt_outs_defaults_and_approval_dates() -> None:
    grant = rec("2026-09-05", order=1)
    opt = ConsentRecord("1234567", False, None, False, frozenset(), kind="opt_out", opted_out=dt.date(2026, 10, 3),
                        order=2)  # fmt: skip
    assert consent_status([grant, opt], AS_OF, "video") == (False, "opted_out")
    assert consent_status([opt, rec("2026-10-04", order=3)], AS_OF) == (True, "ok")
    late = ConsentRecord("1234567", True, dt.date(2026, 9, 15), True, ALL, approved_on=dt.date(2026, 11, 26))
    assert consent_status([late], AS_OF) == (False, "principal_missing")
    assert consent_status([rec("2026-09-01", defect="purposes")], AS_OF) == (False, "no_consent")
