"""People as the lists hold them (issue 13, item 8): each roster case in both directions.

A shared email never merges two people whose names differ (each keeps a code of their own); the same email
with agreeing names is one person. Likely duplicates (two emails, surname variants, same phone) go to the
review queue and stay two people; unrelated people never appear in it.
"""

from __future__ import annotations

import csv
import io

from compliance.review import likely_duplicates, review_csv, review_xlsx
from compliance.roster import PersonRecord, merge_people
from compliance.tokens import issue_token


def rec(given: str, family: str, email: str | None, phone: str | None = None, site: str = "lincoln-es",
        src: str = "a", directory: bool = False) -> PersonRecord:
    return PersonRecord("k", "associated", "committee_parent", given, family, email, phone, site, email is None,
                        False, directory_id="d1" if directory else None, sources=((src, "Sheet1", 2),))


def test_family_email_shared_by_two_adults_makes_two_people_with_their_own_codes() -> None:
    people = merge_people([rec("Ana", "Ruiz", "ruiz.family@example.com", src="a"),
                           rec("Luis", "Ruiz", "Ruiz.Family@example.com", src="b")])
    assert len(people) == 2
    keys = {p.person_key for p in people}
    assert len(keys) == 2
    # The code names the person, not the mailbox.
    assert len({issue_token("a-test-secret-of-enough-length", k, 1) for k in keys}) == 2
    # Converse: the same email with the same person's name (another list, a nickname) is one person.
    same = merge_people([rec("William", "Ruiz", "ruiz.family@example.com", src="a"),
                         rec("Bill", "RUIZ", "ruiz.family@example.com", src="b")])
    assert len(same) == 1 and same[0].given_name == "William"


def test_pta_mailbox_shared_by_unrelated_adults_makes_two_people_and_a_review_row() -> None:
    people = merge_people([rec("Tom", "Chen", "pta@example.org"), rec("Ann", "Baker", "pta@example.org")])
    assert len(people) == 2 and len({p.person_key for p in people}) == 2
    queue = likely_duplicates(people)
    assert [q.reason for q in queue] == ["shared email, different names: kept as two people"]
    # The owner of the email keeps its key whatever order the lists come in (codes already sent stay valid).
    tom, ann = rec("Tom", "Chen", "pta@example.org", directory=True), rec("Ann", "Baker", "pta@example.org")
    again, swapped = merge_people([tom, ann]), merge_people([ann, tom])
    assert {p.given_name: p.person_key for p in again} == {p.given_name: p.person_key for p in swapped}


def test_person_with_two_emails_is_queued_not_merged() -> None:
    people = merge_people([rec("Rosa", "Diaz", "rosa@example.com"), rec("Rosa", "Diaz", "rdiaz@work.example")])
    assert len(people) == 2
    assert [q.reason for q in likely_duplicates(people)] == ["same name, two emails"]
    # Converse: two different names with two emails are unrelated: nothing to review.
    other = merge_people([rec("Rosa", "Diaz", "rosa@example.com"), rec("Marta", "Diaz", "marta@example.com")])
    assert likely_duplicates(other) == []


def test_surname_variant_at_the_same_site_is_queued() -> None:
    people = merge_people([rec("Roberto", "Garcia Lopez", "rgl@example.com"),
                           rec("Roberto", "Garcia", "roberto@example.com")])
    assert len(people) == 2
    assert [q.reason for q in likely_duplicates(people)] == ["surname variant at the same site"]
    # Converse: the same variant at another school, or another given name, is somebody else.
    elsewhere = merge_people([rec("Roberto", "Garcia Lopez", "rgl@example.com"),
                              rec("Roberto", "Garcia", "rg@example.com", site="roosevelt-es")])
    assert likely_duplicates(elsewhere) == []
    sibling = merge_people([rec("Roberto", "Garcia Lopez", "rgl@example.com"),
                            rec("Maria", "Garcia", "mg@example.com")])
    assert likely_duplicates(sibling) == []


def test_same_phone_under_two_emails_is_queued_and_spouses_are_not() -> None:
    people = merge_people([rec("Kim", "Park", "kim@example.com", phone="4085550100"),
                           rec("Kimberly", "Park", "kpark@example.com", phone="4085550100", site="roosevelt-es")])
    assert len(people) == 2  # two emails never merge through a phone
    assert [q.reason for q in likely_duplicates(people)] == ["same phone and name, two emails"]
    spouses = merge_people([rec("Kim", "Park", "kim@example.com", phone="4085550100"),
                            rec("David", "Park", "david@example.com", phone="4085550100")])
    assert likely_duplicates(spouses) == []


def test_review_csv_masks_emails_and_defuses_formulas() -> None:
    people = merge_people([rec("=cmd", "Chen", "pta@example.org"), rec("Ann", "Baker", "pta@example.org")])
    rows = list(csv.reader(io.StringIO(review_csv(likely_duplicates(people)))))
    assert rows[0][:3] == ["Reason", "Roster id A", "Name A"]
    assert rows[1][2] == "'=cmd Chen" and rows[1][3] == "p***@example.org"
    assert "pta@example.org" not in review_csv(likely_duplicates(people))
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(review_xlsx(likely_duplicates(people))))["Review"]
    assert sheet["C2"].value == "=cmd Chen" and sheet["C2"].data_type == "s"  # text, never a formula
