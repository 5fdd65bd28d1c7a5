"""The consent rules (README "Consent rules", 1-9), each in both directions, on hand-made records.

Reading rows (rules 4-8 as they apply to spreadsheet cells and names) is in test_consent_ingest_rules.py.
"""

from __future__ import annotations

from datetime import date

import pytest

from compliance.consent import (
    CONSENT_RULES,
    PURPOSES,
    ConsentEntry,
    consent_status,
    flag_conflicts,
    school_year_of,
)

ALL = frozenset(PURPOSES)
D = date(2026, 10, 15)


def rec(
    signed: date | None,
    *,
    parent: bool = True,
    principal: bool = True,
    approved_on: date | None = None,
    purposes: frozenset[str] = ALL,
    revoked: date | None = None,
    opted_out: date | None = None,
    kind: str = "consent",
    row: int = 2,
    file: str = "consent/lincoln-es.xlsx",
    sheet: str = "Releases",
    student: str = "1001",
) -> ConsentEntry:
    return ConsentEntry(
        student_id=student,
        site_id="lincoln-es",
        purposes=purposes if parent else frozenset(),
        parent_consent=parent,
        parent_signed_on=signed,
        principal_approved=principal,
        principal_approved_on=approved_on,
        revoked_on=revoked,
        school_year=school_year_of(signed) if signed else None,
        source_file=file,
        source_sheet=sheet,
        source_row=row,
        kind=kind,  # type: ignore[arg-type]
        opted_out_on=opted_out,
    )


def opt_out(on: date, row: int = 7) -> ConsentEntry:
    return rec(None, parent=False, principal=False, kind="opt_out", opted_out=on, row=row,
               file="consent/directory-opt-out.csv", sheet="")  # fmt: skip


def status(records: list[ConsentEntry], on: date = D, purpose: str = "website", start: str = "07-01") -> str:
    return consent_status(records, purpose, on, start).reason


# -- rule 1: parent consent covering P AND principal approval, both in force ---------------------------------


def test_rule1_consent_and_approval_allow() -> None:
    decision = consent_status([rec(date(2026, 9, 1))], "website", D)
    assert decision.allowed and decision.reason == "ok" and decision.rule == 1


def test_rule1_either_missing_refuses() -> None:
    assert status([]) == "no_consent"
    assert status([rec(date(2026, 9, 1), parent=False)]) == "no_consent"
    assert status([rec(date(2026, 9, 1), principal=False)]) == "principal_missing"
    # The approval must be in force too: an approval dated after the day judged is not yet.
    assert status([rec(date(2026, 9, 1), approved_on=date(2026, 10, 16))]) == "principal_missing"
    assert status([rec(date(2026, 9, 1), approved_on=D)]) == "ok"


@pytest.mark.parametrize("purpose", PURPOSES)
def test_rule1_every_purpose_is_judged_on_its_own(purpose: str) -> None:
    assert set(PURPOSES) == {"website", "social_media", "yearbook", "press", "video"}
    only = [rec(date(2026, 9, 1), purposes=frozenset({purpose}))]
    assert status(only, purpose=purpose) == "ok"
    others = [p for p in PURPOSES if p != purpose]
    assert all(status(only, purpose=p) == "purpose_not_covered" for p in others)
    with pytest.raises(ValueError):
        consent_status(only, "billboard", D)


def test_rule1_another_form_with_approval_covers() -> None:
    # Two forms in force this year: the approved one covering the purpose allows it.
    forms = [rec(date(2026, 9, 1), principal=False, row=2), rec(date(2026, 9, 3), purposes=frozenset({"video"}), row=3)]
    assert status(forms, purpose="video") == "ok"
    assert status(forms, purpose="website") == "principal_missing"


# -- rule 2: school year of the signature, default July 1; signatures after the day do not count ------------


def test_rule2_school_year_default_july_first() -> None:
    assert school_year_of(date(2026, 6, 30)) == "2025-2026"
    assert school_year_of(date(2026, 7, 1)) == "2026-2027"
    assert status([rec(date(2026, 6, 30))], on=date(2026, 7, 1)) == "expired"
    assert status([rec(date(2026, 7, 1))], on=date(2026, 7, 1)) == "ok"
    assert status([rec(date(2026, 7, 1))], on=date(2027, 6, 30)) == "ok"
    assert status([rec(date(2026, 7, 1))], on=date(2027, 7, 1)) == "expired"
    # The default applies without naming it.
    assert consent_status([rec(date(2026, 7, 10))], "website", date(2026, 7, 20)).allowed


def test_rule2_school_year_start_from_profile() -> None:
    july = [rec(date(2026, 7, 10))]
    assert status(july, on=date(2026, 8, 2), start="08-01") == "expired"  # 2025-2026 under an Aug 1 start
    assert status(july, on=date(2026, 8, 2), start="07-01") == "ok"
    assert school_year_of(date(2026, 7, 31), "08-01") == "2025-2026"


def test_rule2_signature_after_the_day_does_not_count() -> None:
    assert status([rec(D)]) == "ok"
    decision = consent_status([rec(date(2026, 10, 16))], "website", D)
    assert (decision.reason, decision.rule) == ("no_consent", 2)
    # An earlier grant stays; the later one simply does not exist yet.
    assert status([rec(date(2026, 9, 1), principal=False, row=2), rec(date(2026, 10, 16), row=3)]) == (
        "principal_missing"
    )


# -- rule 3: one dated history across files and sheets ------------------------------------------------------


LATE = {"file": "consent/lincoln-es-late-forms.csv", "sheet": ""}


def test_rule3_revocation_cancels_every_earlier_grant_in_any_file() -> None:
    # The case: signed 09-05 and revoked 10-20 on one form; a newer form signed 10-17 elsewhere.
    first = rec(date(2026, 9, 5), revoked=date(2026, 10, 20), row=4)
    newer = rec(date(2026, 10, 17), row=9, **LATE)  # type: ignore[arg-type]
    on = date(2026, 11, 20)
    decision = consent_status([first, newer], "website", on)
    assert (decision.reason, decision.rule) == ("revoked", 3)
    assert decision.record is newer and first in decision.records
    # Before the revocation date both grants were in force.
    assert status([first, newer], on=date(2026, 10, 19)) == "ok"
    # Order of the records does not matter.
    assert status([newer, first], on=on) == "revoked"


def test_rule3_grant_after_revocation_grants_again() -> None:
    revoked = rec(date(2026, 9, 5), revoked=date(2026, 10, 1), row=4)
    again = rec(date(2026, 10, 2), row=3, **LATE)  # type: ignore[arg-type]
    assert status([revoked, again]) == "ok"
    assert status([revoked]) == "revoked"


def test_rule3_same_day_revocation_wins() -> None:
    revoked = rec(date(2026, 9, 5), revoked=date(2026, 10, 10), row=4)
    same_day = rec(date(2026, 10, 10), row=3, **LATE)  # type: ignore[arg-type]
    assert status([revoked, same_day]) == "revoked"
    next_day = rec(date(2026, 10, 11), row=3, **LATE)  # type: ignore[arg-type]
    assert status([revoked, next_day]) == "ok"


def test_rule3_either_guardian_revokes() -> None:
    mother = rec(date(2026, 9, 5), row=4)
    father = rec(date(2026, 9, 8), revoked=date(2026, 10, 1), row=5)
    assert status([mother, father]) == "revoked"
    assert status([mother, rec(date(2026, 9, 8), row=5)]) == "ok"


def test_rule3_revocation_after_the_day_does_not_count_yet() -> None:
    assert status([rec(date(2026, 9, 1), revoked=D)]) == "revoked"  # on the day: no longer in force
    assert status([rec(date(2026, 9, 1), revoked=date(2026, 10, 16))]) == "ok"


def test_rule3_dated_refusal_cancels_earlier_yes() -> None:
    assert status([rec(date(2026, 9, 1), row=2), rec(date(2026, 9, 20), parent=False, row=3)]) == "no_consent"
    assert status([rec(date(2026, 9, 20), parent=False, row=2), rec(date(2026, 9, 21), row=3)]) == "ok"
    # A refusal dated after the day does not matter yet.
    assert status([rec(date(2026, 9, 1), row=2), rec(date(2026, 11, 1), parent=False, row=3)]) == "ok"


def test_rule3_same_day_conflicting_duplicates_are_flagged() -> None:
    day = date(2026, 9, 10)
    records = flag_conflicts([rec(day, row=5), rec(day, principal=False, row=9)])
    assert all(r.conflict for r in records)
    decision = consent_status(records, "website", D)
    assert decision.allowed and decision.conflict  # the approved form is in force; a person looks at the pair
    same = flag_conflicts([rec(day, row=5), rec(day, row=6)])
    assert not any(r.conflict for r in same)


# -- rule 8: FERPA directory opt-out ------------------------------------------------------------------------


def test_rule8_opt_out_overrides_earlier_grants_for_every_purpose() -> None:
    grant = rec(date(2026, 9, 1))
    for purpose in PURPOSES:
        decision = consent_status([grant, opt_out(date(2026, 10, 1))], purpose, D)
        assert (decision.reason, decision.rule) == ("opted_out", 8)
    assert status([opt_out(date(2026, 10, 1))]) == "opted_out"


def test_rule8_opt_out_after_the_day_or_before_a_new_grant_does_not() -> None:
    grant = rec(date(2026, 9, 1))
    assert status([grant, opt_out(date(2026, 10, 16))]) == "ok"
    assert status([opt_out(date(2026, 8, 20)), grant]) == "ok"  # consent signed after the opt-out


# -- rule 9: the decision names the rule and the records -----------------------------------------------------


def test_rule9_basis_names_rule_and_records() -> None:
    first = rec(date(2026, 9, 5), revoked=date(2026, 10, 20), row=4)
    newer = rec(date(2026, 10, 17), row=9, **LATE)  # type: ignore[arg-type]
    basis = consent_status([first, newer], "website", date(2026, 11, 20)).basis
    assert basis.startswith("rule 3:")
    assert "consent/lincoln-es.xlsx [Releases] row 4" in basis and "consent/lincoln-es-late-forms.csv row 9" in basis
    assert "2026-10-20" in basis and "2026-10-17" in basis
    ok = consent_status([rec(date(2026, 9, 1), row=6)], "website", D).basis
    assert ok.startswith("rule 1:") and "[Releases] row 6" in ok
    cases = {
        "expired": [rec(date(2025, 9, 1))],
        "principal_missing": [rec(date(2026, 9, 1), principal=False)],
        "purpose_not_covered": [rec(date(2026, 9, 1), purposes=frozenset({"press"}))],
        "opted_out": [opt_out(date(2026, 9, 1))],
    }
    for reason, records in cases.items():
        decision = consent_status(records, "website", D)
        assert decision.reason == reason
        assert decision.basis.startswith(f"rule {decision.rule}:") and "row " in decision.basis
    assert consent_status([], "website", D).basis.startswith("rule 1:")


def test_rules_text_is_complete() -> None:
    assert [term for term, _, _ in CONSENT_RULES] == [f"Consent rule {n}" for n in range(1, 10)]
    assert "revocation wins" in CONSENT_RULES[2][2] and "07-01" in CONSENT_RULES[1][2]
