"""Store round trip and migrations on SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select

from compliance.models import Acknowledgement, ConsentRecord, Person, PolicyVersion, Quarantine, Site
from compliance.quarantine import Rejected, quarantine
from compliance.store import Store, downgrade, engine_for, upgrade


def test_migrations_up_down_up(db_url: str) -> None:
    upgrade(db_url)
    tables = set(inspect(engine_for(db_url)).get_table_names())
    assert {"people", "acknowledgements", "findings", "quarantine", "deliveries", "consent_records"} <= tables
    downgrade(db_url, "base")
    assert set(inspect(engine_for(db_url)).get_table_names()) <= {"alembic_version"}
    upgrade(db_url)
    assert "people" in set(inspect(engine_for(db_url)).get_table_names())


def test_round_trip_keeps_utc_and_relations(db_url: str) -> None:
    store = Store(db_url)
    pacific = timezone(timedelta(hours=-8))
    signed = datetime(2026, 11, 3, 16, 30, tzinfo=pacific)
    with store.session() as s:
        s.add(Site(id="lincoln-es", name="Lincoln", kind="elementary", org_unit="/Schools/Lincoln",
                   site_admin_email="a@x.org", web_contact_email="w@x.org"))
        s.flush()
        person = Person(person_key="p-1", kind="associated", category="volunteer", given_name="José",
                        family_name="García-López", email=None, site_id="lincoln-es", source="volunteers.xlsx",
                        paper_only=True)
        policy = PolicyVersion(drive_file_id="f1", revision_id="r1", sha256="a" * 64, title="AR 1114",
                               school_year="2026-2027")
        s.add_all([person, policy])
        s.flush()
        s.add(Acknowledgement(person_id=person.id, policy_version_id=policy.id, method="paper",
                              signed_name="José García-López", policy_sha256="a" * 64, submitted_at=signed,
                              prev_hash="0" * 64, row_hash="b" * 64))
        s.add(ConsentRecord(student_id="S1", site_id="lincoln-es", purposes=["website", "yearbook"],
                            parent_consent=True, parent_signed_on=date(2026, 9, 1), principal_approved=False,
                            source_file="consent.xlsx", source_row=7))
    with store.session() as s:
        ack = s.scalars(select(Acknowledgement)).one()
        assert ack.submitted_at == signed and ack.submitted_at.tzinfo is not None
        assert ack.submitted_at.utcoffset() == timedelta(0)
        who = s.get(Person, ack.person_id)
        assert who is not None and who.family_name == "García-López" and who.paper_only
        consent = s.scalars(select(ConsentRecord)).one()
        assert consent.purposes == ["website", "yearbook"] and consent.parent_signed_on == date(2026, 9, 1)


def test_naive_datetime_refused(db_url: str) -> None:
    store = Store(db_url)
    with pytest.raises(Exception, match="naive datetime"), store.session() as s:
        s.add(Site(id="s", name="S", kind="office", org_unit="/", site_admin_email="a@x.org",
                   web_contact_email="b@x.org"))
        s.add(Quarantine(job="roster", source_file="f", reason="r", created_at=datetime(2026, 1, 1)))


def test_quarantine_is_idempotent(db_url: str) -> None:
    store = Store(db_url)
    bad = [Rejected("roster", "volunteers.csv", 4, "email", "not an email address", "bob@@x")]
    with store.session() as s:
        assert quarantine(s, bad) == 1
    with store.session() as s:
        assert quarantine(s, bad) == 0
        row = s.scalars(select(Quarantine)).one()
        assert (row.source_file, row.row, row.field, row.raw_value) == ("volunteers.csv", 4, "email", "bob@@x")
        assert row.created_at.tzinfo == UTC or row.created_at.utcoffset() == timedelta(0)
