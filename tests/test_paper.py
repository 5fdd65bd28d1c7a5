"""Paper acknowledgements: each binder line is known by its content and binds to the version in force when signed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from openpyxl import Workbook

from compliance.acknowledgements import RosterEntry
from compliance.paper import PaperPerson, read_paper_acknowledgements
from compliance.policy import version_in_force
from compliance.settings import Site

SITES = [Site(id="lincoln-es", name="Lincoln Elementary School", org_unit="/Lincoln",
              site_admin="admin@standard-sd.org", web_contact="web@standard-sd.org")]
PEOPLE = [
    PaperPerson(RosterEntry(1, "p1", "Roberto", "García López", None, False), "lincoln-es", "volunteer"),
    PaperPerson(RosterEntry(2, "p2", "Ann", "Baker", None, False), "lincoln-es", "volunteer"),
]


def _binder(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.title = "Signed"
    sheet.append(["Name", "School", "Category", "Date signed"])
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def test_a_line_is_known_by_content_not_by_file_and_row(tmp_path: Path) -> None:
    fall = [("Roberto Garcia", "Lincoln", "volunteer", "2026-09-10"),
            ("Ann Baker", "Lincoln", "volunteer", "2026-09-11")]
    first, _ = read_paper_acknowledgements(_binder(tmp_path / "binder.xlsx", fall), PEOPLE, SITES)
    # The office re-sorts the binder and saves it under another name: the same two lines, the same references.
    moved, _ = read_paper_acknowledgements(_binder(tmp_path / "binder-copy.xlsx", fall[::-1]), PEOPLE, SITES)
    assert {a.reference for a in first} == {a.reference for a in moved} and len(first) == 2
    assert {a.where for a in first} != {a.where for a in moved}  # where it was read differs; what it is does not
    # Next year the same file (same name, same rows) gains a line signed again: only that line is new.
    next_year = [*fall, ("Roberto Garcia Lopez", "Lincoln", "volunteer", "2027-08-20")]
    later, _ = read_paper_acknowledgements(_binder(tmp_path / "binder.xlsx", next_year), PEOPLE, SITES)
    new = {a.reference for a in later} - {a.reference for a in first}
    assert len(later) == 3 and len(new) == 1
    [renewal] = [a for a in later if a.reference in new]
    assert renewal.signed_on == date(2027, 8, 20) and renewal.person_id == 1


def test_a_proxy_line_is_refused_for_review(tmp_path: Path) -> None:
    rows = [("Ann Baker signing for Roberto Garcia", "Lincoln", "volunteer", "2026-09-10")]
    found, rejected = read_paper_acknowledgements(_binder(tmp_path / "b.xlsx", rows), PEOPLE, SITES)
    assert not found and len(rejected) == 1 and "signing for" in rejected[0].reason


@dataclass
class V:
    id: int
    school_year: str
    created_at: datetime


def test_paper_binds_to_the_version_in_force_on_the_signing_date() -> None:
    versions = [
        V(1, "2026-2027", datetime(2026, 9, 1, 16, tzinfo=UTC)),
        V(2, "2026-2027", datetime(2027, 1, 12, 16, tzinfo=UTC)),  # material revision in January
        V(3, "2027-2028", datetime(2027, 8, 2, 16, tzinfo=UTC)),  # the new school year
    ]
    zone = "America/Los_Angeles"

    def at(day: date) -> int | None:
        found = version_in_force(versions, day, zone)
        return found.id if found else None

    assert at(date(2026, 10, 5)) == 1
    assert at(date(2027, 1, 11)) == 1 and at(date(2027, 1, 12)) == 2  # the day it opened counts
    assert at(date(2027, 7, 30)) == 2  # signed in July: last year's version, though entered in August
    assert at(date(2027, 8, 1)) is None  # new school year, its version not opened yet: refused, not guessed
    assert at(date(2027, 8, 3)) == 3
    assert at(date(2026, 8, 20)) is None  # before any version


def test_a_line_dated_after_tonight_waits_for_its_day(tmp_path: Path) -> None:
    from compliance.paper import signed_by

    lines = [("Roberto Garcia", "Lincoln", "volunteer", "2026-09-10"),
             ("Ann Baker", "Lincoln", "volunteer", "2026-10-02")]  # dated ahead (or a typo)
    found, _ = read_paper_acknowledgements(_binder(tmp_path / "binder.xlsx", lines), PEOPLE, SITES)
    signed, waiting = signed_by(found, date(2026, 9, 11))
    assert [a.signed_on for a in signed] == [date(2026, 9, 10)]
    assert [a.signed_on for a in waiting] == [date(2026, 10, 2)]
    signed, waiting = signed_by(found, date(2026, 10, 2))  # the night of its date: recorded
    assert len(signed) == 2 and waiting == []
