"""Roster: directory employees, school Associated Persons lists, validation, dedup and the people sync."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import select

from compliance.models import Person, Quarantine
from compliance.quarantine import quarantine
from compliance.roster import (
    PersonRecord,
    build_roster,
    clean_name,
    employees_from_directory,
    given_names_compatible,
    map_category,
    merge_people,
    normalize_email,
    normalize_name,
    normalize_phone,
    read_associated,
    site_for_org_unit,
    sync_people,
    sync_sites,
)
from compliance.settings import Site

SITES = [
    Site(
        id="lincoln-es",
        name="Lincoln Elementary",
        org_unit="/Schools/Lincoln Elementary",
        site_admin="principal.lincoln@standard-sd.org",
        web_contact="web.lincoln@standard-sd.org",
    ),
    Site(
        id="roosevelt-es",
        name="Roosevelt Elementary",
        org_unit="/Schools/Roosevelt Elementary",
        site_admin="principal.roosevelt@standard-sd.org",
        web_contact="web.roosevelt@standard-sd.org",
    ),
    Site(
        id="district-office",
        name="District Office",
        kind="office",
        org_unit="/District Office",
        site_admin="hr@standard-sd.org",
        web_contact="comms@standard-sd.org",
    ),
]
NOW = datetime(2026, 9, 1, 15, 0, tzinfo=UTC)


def _user(uid: str, email: str, given: str, family: str, ou: str, **extra: object) -> dict[str, object]:
    return {
        "id": uid,
        "primaryEmail": email,
        "name": {"givenName": given, "familyName": family, "fullName": f"{given} {family}"},
        "orgUnitPath": ou,
        "suspended": False,
        **extra,
    }


USERS = [
    _user("1", "Ana.Lopez@standard-sd.org", "Ana", "López", "/Schools/Lincoln Elementary/Teachers",
          organizations=[{"title": "Teacher", "primary": True}], phones=[{"value": "+1 (408) 555-0100"}]),
    _user("2", "bob.stone@standard-sd.org", "Robert", "Stone", "/District Office",
          customSchemas={"District": {"role": "Payroll clerk", "site_id": "district-office"}}),
    _user("3", "gone@standard-sd.org", "Old", "Timer", "/Schools/Roosevelt Elementary", suspended=True),
    _user("4", "x@standard-sd.org", "Nowhere", "Person", "/Elsewhere",
          customSchemas={"District": {"site_id": "roosevelt-es"}}),
]  # fmt: skip


def test_employees_from_directory() -> None:
    result = employees_from_directory(USERS, SITES)
    assert result.rejected == []
    by_email = {p.email: p for p in result.people}
    ana = by_email["ana.lopez@standard-sd.org"]
    assert (ana.site_id, ana.role, ana.phone, ana.kind, ana.category) == (
        "lincoln-es", "Teacher", "4085550100", "employee", "employee"
    )  # fmt: skip
    assert ana.has_district_account and not ana.paper_only and ana.active
    assert by_email["bob.stone@standard-sd.org"].role == "Payroll clerk"
    assert by_email["gone@standard-sd.org"].active is False  # suspended = leaver
    assert by_email["x@standard-sd.org"].site_id == "roosevelt-es"  # custom schema when the OU is unknown


def test_site_for_org_unit_longest_prefix() -> None:
    assert site_for_org_unit("/Schools/Lincoln Elementary", SITES) == "lincoln-es"
    assert site_for_org_unit("/Schools/Lincoln Elementary Annex", SITES) is None
    assert site_for_org_unit(None, SITES) is None


@pytest.mark.parametrize(
    ("words", "category"),
    [
        ("Walk-on coach", "walk_on_coach"),
        ("PTA committee", "committee_parent"),
        ("After school (YMCA)", "after_school_provider"),
        ("Volunter", "volunteer"),
        ("Child Care Provider", "child_care_provider"),
        ("School photographer", "vendor"),
        ("IT contractor", "contractor"),
        ("Consultant", "consultant"),
        ("Astronaut", None),
        ("", None),
    ],
)
def test_map_category(words: str, category: str | None) -> None:
    assert map_category(words) == category


def test_normalisation() -> None:
    assert normalize_email("  Ana.Lopez@Gmail.COM ") == "ana.lopez@gmail.com"  # dots kept
    assert normalize_phone("+1 (408) 555-0100 ") == "4085550100"
    assert normalize_phone("555-0100") is None
    assert normalize_name("  María-José  O’Brien ") == normalize_name("maria jose obrien")
    assert given_names_compatible("Bob", "Robert")
    assert given_names_compatible("Guadalupe", "Lupe")  # Spanish hypocorisms the package lacks
    assert given_names_compatible("Jesús", "Chuy")
    assert not given_names_compatible("Maria", "Mario")
    assert clean_name("Ann\tLee\u200b") == ("Ann Lee", None)
    assert clean_name("Ann\nBcc: x@evil") == ("Ann Bcc: x@evil", None)  # flattened: cannot break a header
    assert clean_name("Ann\x00")[0] is None
    assert clean_name("Ann\u202eeeL")[0] is None
    assert clean_name("<script>alert(1)</script>") == ("<script>alert(1)</script>", None)  # data, kept


def _write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        csv.writer(fh).writerows(rows)
    return path


def _write_xlsx(path: Path, rows: list[list[object]], merges: tuple[str, ...] = ()) -> Path:
    wb = Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    for rng in merges:
        ws.merge_cells(rng)
    wb.save(path)
    return path


def _lincoln(tmp_path: Path) -> Path:
    return _write_xlsx(
        tmp_path / "lincoln-es.xlsx",
        [
            ["Lincoln Elementary School — Associated Persons", None, None, None],
            [None, None, None, None],
            ["Last, First", "E-mail", "Phone", "Role/Category"],
            ["Nguyen, Lan", "Lan.Nguyen@Example.com", "408-555-0101", "PTA committee"],
            ["Stone, Bob", "", "(408) 555-0199", "Walk-on coach"],  # paper only
            ["Broken, Email", "not-an-email", "", "Volunteer"],  # bad email
            [", ", "nobody@example.com", "", "Volunteer"],  # missing name
            ["Who, Knows", "who@example.com", "", "Astronaut"],  # unknown category
            ["Line\nBreak, Alt", "alt@example.com", "", "Vendor"],  # Alt+Enter in a name: sanitised
            ["Tables'); DROP TABLE people;--, Bobby", "bobby@example.com", "", "Volunteer"],  # hostile, kept
        ],
        merges=("A1:D1",),
    )


def _roosevelt(tmp_path: Path) -> Path:
    # cp1252, separate name columns, different spellings of people already on the Lincoln list.
    return _write_csv(
        tmp_path / "roosevelt-es.csv",
        [
            ["Roosevelt volunteers 2026", "", "", "", ""],
            ["First Name", "Last Name", "Email Address", "Phone Number", "Type"],
            ["LAN", "NGUYEN", " lan.nguyen@example.com", "", "Volunteer"],  # same email, other case
            ["Robert", "Stone", "", "+1 408 555 0199", "Coach"],  # nickname + same phone, paper only
            ["José", "Núñez", "", "", "After school (YMCA)"],
            ["Jose", "Nunez", "", "", "After school (YMCA)"],  # no email/phone: cannot prove same person
        ],
        encoding="cp1252",
    )


def test_read_associated_validates_rows(tmp_path: Path) -> None:
    result = read_associated(_lincoln(tmp_path), "lincoln-es", label="associated/lincoln-es.xlsx")
    loaded = {(p.given_name, p.family_name): p for p in result.people}
    assert set(loaded) == {
        ("Lan", "Nguyen"),
        ("Bob", "Stone"),
        ("Alt", "Line Break"),
        ("Bobby", "Tables'); DROP TABLE people;--"),
    }
    assert loaded[("Lan", "Nguyen")].email == "lan.nguyen@example.com"
    assert loaded[("Lan", "Nguyen")].category == "committee_parent"
    assert loaded[("Bob", "Stone")].paper_only and loaded[("Bob", "Stone")].email is None
    assert loaded[("Bob", "Stone")].sources == (("associated/lincoln-es.xlsx", "Sheet", 5),)
    rejected = {(r.row, r.field) for r in result.rejected}
    assert rejected == {(6, "email"), (7, "name"), (8, "category")}
    assert all(r.source_file == "associated/lincoln-es.xlsx" and r.job == "roster" for r in result.rejected)
    reasons = {r.row: r.reason for r in result.rejected}
    assert "invalid email" in reasons[6] and "required" in reasons[7] and "unknown" in reasons[8]


def test_control_characters_in_names_are_quarantined() -> None:
    values = [
        ["Name", "Email", "Role"],
        ["Bell\x07 Ringer", "bell@example.com", "Volunteer"],
        ["Evil \u202eniaga", "rtl@example.com", "Volunteer"],
        ["Tab\tSeparated", "tab@example.com", "Volunteer"],
        ['=HYPERLINK("http://x","y") Tables', "f@example.com", "Volunteer"],
    ]
    result = read_associated(("sheets:1xyz", values), "lincoln-es")
    assert {(r.row, r.field) for r in result.rejected} == {(2, "name"), (3, "name")}
    assert {r.row: r.reason for r in result.rejected}[3].endswith("bidirectional text override")
    names = [(p.given_name, p.family_name) for p in result.people]
    assert names == [("Tab", "Separated"), ('=HYPERLINK("http://x","y")', "Tables")]


def test_malformed_rows_quarantined_valid_rows_load(tmp_path: Path, store) -> None:  # type: ignore[no-untyped-def]
    result = build_roster(
        USERS,
        [(_lincoln(tmp_path), "lincoln-es", "associated/lincoln-es.xlsx")],
        SITES,
    )
    with store.session() as session:
        sync_sites(session, SITES)
        counts = sync_people(session, result.people, NOW)
        added = quarantine(session, result.rejected)
        session.commit()
    assert added == 3 and counts.joined == len(result.people)
    with store.session() as session:
        rows = session.scalars(select(Quarantine).order_by(Quarantine.row)).all()
        assert [(q.source_file, q.row, q.field) for q in rows] == [
            ("associated/lincoln-es.xlsx", 6, "email"),
            ("associated/lincoln-es.xlsx", 7, "name"),
            ("associated/lincoln-es.xlsx", 8, "category"),
        ]
        assert rows[0].raw_value == "not-an-email"
        emails = set(session.scalars(select(Person.email_normalized)))
        assert {"lan.nguyen@example.com", "bobby@example.com", "ana.lopez@standard-sd.org"} <= emails
        # Re-running the import adds nothing.
        assert quarantine(session, result.rejected) == 0


def test_dedup_across_lists_and_directory(tmp_path: Path) -> None:
    result = build_roster(
        USERS,
        [
            (_lincoln(tmp_path), "lincoln-es", "associated/lincoln-es.xlsx"),
            (_roosevelt(tmp_path), "roosevelt-es", "associated/roosevelt-es.csv"),
        ],
        SITES,
    )
    by_name = {}
    for p in result.people:
        by_name.setdefault(normalize_name(p.family_name), []).append(p)
    (lan,) = by_name["nguyen"]  # same email, different case and spelling of the name
    assert lan.sources == (
        ("associated/lincoln-es.xlsx", "Sheet", 4),
        ("associated/roosevelt-es.csv", "", 3),
    )
    assert lan.site_id == "lincoln-es" and lan.also_sites == ("roosevelt-es",)
    # Bob Stone (Lincoln, paper) and Robert Stone (Roosevelt, paper) share a phone: one person (nickname).
    stones = by_name["stone"]
    assert len(stones) == 2  # the district's Robert Stone has another phone/email: a different person
    paper = next(p for p in stones if p.kind == "associated")
    assert paper.sources == (
        ("associated/lincoln-es.xlsx", "Sheet", 5),
        ("associated/roosevelt-es.csv", "", 4),
    )
    assert paper.paper_only and paper.phone == "4085550199"
    # Same name without any email or phone: kept apart (not proven to be one person), distinct keys.
    nunez = by_name["nunez"]
    assert len(nunez) == 2 and nunez[0].person_key != nunez[1].person_key
    keys = [p.person_key for p in result.people]
    assert len(keys) == len(set(keys))


def test_person_key_is_deterministic(tmp_path: Path) -> None:
    sources = [(_lincoln(tmp_path), "lincoln-es", "associated/lincoln-es.xlsx")]
    a = build_roster(USERS, sources, SITES).people
    b = build_roster(list(reversed(USERS)), sources, SITES).people
    assert {p.person_key: p.email for p in a} == {p.person_key: p.email for p in b}


def test_nickname_dedup_needs_matching_phone() -> None:
    def rec(given: str, phone: str | None, src: str) -> PersonRecord:
        return PersonRecord("k", "associated", "volunteer", given, "Ramírez", None, phone, "lincoln-es", True,
                            False, sources=((src, "", 2),))  # fmt: skip

    merged = merge_people([rec("William", "4085550111", "a"), rec("Bill", "4085550111", "b")])
    assert len(merged) == 1 and merged[0].given_name == "William"
    assert len(merge_people([rec("William", "4085550111", "a"), rec("Bill", "4085550112", "b")])) == 2
    assert len(merge_people([rec("William", "4085550111", "a"), rec("Maria", "4085550111", "b")])) == 2


def test_sync_people_joiners_updates_leavers_idempotent(store) -> None:  # type: ignore[no-untyped-def]
    first = employees_from_directory(USERS, SITES).people
    with store.session() as session:
        sync_sites(session, SITES)
        c1 = sync_people(session, first, NOW)
        session.commit()
    assert (c1.joined, c1.updated, c1.left) == (4, 0, 0)
    with store.session() as session:
        c2 = sync_people(session, first, NOW + timedelta(days=1))
        session.commit()
    assert (c2.joined, c2.updated, c2.unchanged, c2.left) == (0, 0, 4, 0)
    with store.session() as session:
        gone = session.scalar(select(Person).where(Person.email == "gone@standard-sd.org"))
        assert gone is not None and gone.active is False and gone.left_at == NOW

    # Next night: Bob left the district, Ana changed OU, a new hire arrived.
    later = NOW + timedelta(days=2)
    users = [u for u in USERS if u["id"] != "2"]
    users[0] = {**users[0], "orgUnitPath": "/Schools/Roosevelt Elementary"}
    users.append(_user("5", "new@standard-sd.org", "Nia", "Reed", "/Schools/Lincoln Elementary"))
    with store.session() as session:
        c3 = sync_people(session, employees_from_directory(users, SITES).people, later)
        session.commit()
    assert (c3.joined, c3.updated, c3.left) == (1, 1, 1)
    with store.session() as session:
        bob = session.scalar(select(Person).where(Person.email == "bob.stone@standard-sd.org"))
        assert bob is not None and not bob.active and bob.left_at == later
        ana = session.scalar(select(Person).where(Person.email == "ana.lopez@standard-sd.org"))
        assert ana is not None and ana.site_id == "roosevelt-es" and ana.active
        assert session.query(Person).count() == 5
    # Bob comes back: reactivated, same row.
    with store.session() as session:
        c4 = sync_people(session, employees_from_directory(USERS, SITES).people, later + timedelta(days=1))
        session.commit()
        bob = session.scalar(select(Person).where(Person.email == "bob.stone@standard-sd.org"))
        assert bob is not None and bob.active and bob.left_at is None
    assert c4.left == 1  # the new hire is absent from the old list


def test_sync_people_refuses_naive_time(store) -> None:  # type: ignore[no-untyped-def]
    with store.session() as session, pytest.raises(ValueError):
        sync_people(session, [], datetime(2026, 9, 1))
