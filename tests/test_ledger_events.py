"""The event chain: every kind of compliance event chained, idempotent, and tampering found with direct SQL."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select, text

from compliance.chain import GENESIS, Entry
from compliance.ledger import (
    append_acknowledgement,
    record_consents,
    record_findings,
    record_missing_sends,
    record_sends,
    verify_events,
)
from compliance.models import ConsentRecord, Delivery, Finding, LedgerEvent, Person, PolicyVersion
from compliance.store import Store

T0 = datetime(2026, 11, 2, 16, 30, 15, 123456, tzinfo=UTC)


def seed(store: Store) -> None:
    with store.session() as s:
        s.add(PolicyVersion(id=1, drive_file_id="f", revision_id="r1", sha256="ab" * 32, title="AR 1114",
                            school_year="2026-2027"))
        for i in range(4):
            s.add(Person(id=i + 1, person_key=f"p-{i}", kind="associated", category="volunteer",
                         given_name=f"Given{i}", family_name="Núñez", email=f"p{i}@example.com", source="test"))


def populate(store: Store) -> None:
    """One event of each wired kind: sends (personal and group), acknowledgements (form, paper), consent
    applied and revoked, a finding opened and one resolved."""
    seed(store)
    with store.session() as s:
        for pid, method in ((1, "form"), (2, "paper")):
            append_acknowledgement(s, person=s.get(Person, pid), policy_version=s.get(PolicyVersion, 1),
                                   method=method, signed_name=f"Given{pid - 1} Núñez",
                                   submitted_at=T0 + timedelta(minutes=pid),
                                   response_id="resp-1" if method == "form" else None, now=T0)
    with store.session() as s:
        s.add(Delivery(id=1, idempotency_key="k1", person_id=3, kind="announcement", recipient="p2@example.com",
                       status="sent", gmail_message_id="g1", rfc822_message_id="<m1@x>", sent_at=T0))
        s.add(Delivery(id=2, idempotency_key="k2", kind="announcement_group", recipient="sender@district.org",
                       context={"person_ids": [3, 4]}, status="sent", gmail_message_id="g2", sent_at=T0))
        s.add(Delivery(id=3, idempotency_key="k3", kind="announcement", person_id=4, recipient="p3@example.com",
                       status="pending"))
        s.flush()
        record_sends(s, [1, 2, 3], now=T0)
    with store.session() as s:
        s.add(ConsentRecord(student_id="S1", purposes=["website"], parent_consent=True, principal_approved=True,
                            source_file="consent/a.csv", source_row=2))
        s.add(ConsentRecord(student_id="S2", purposes=["website"], parent_consent=True, principal_approved=True,
                            revoked_on=date(2026, 10, 1), source_file="consent/a.csv", source_row=3))
        s.flush()
        record_consents(s, ["consent/a.csv"], now=T0)
    with store.session() as s:
        s.add(Finding(finding_key="a" * 64, site_id=None, page_url="https://x/p", image_url="https://x/i.jpg",
                      student_id="S2", verdict="violation", reason="revoked", confidence=0.9, evidence="alt text",
                      state="new", first_seen_at=T0, last_seen_at=T0))
        s.add(Finding(finding_key="b" * 64, site_id=None, page_url="https://x/q", image_url="https://x/j.jpg",
                      student_id="S1", verdict="violation", reason="no_consent", confidence=0.9, evidence="caption",
                      state="resolved", first_seen_at=T0 - timedelta(days=3), last_seen_at=T0, resolved_at=T0))
        s.flush()
        record_findings(s, None, T0)


@pytest.fixture
def chained(db_url: str) -> Store:
    store = Store(db_url)
    populate(store)
    return store


def problems(store: Store) -> list[tuple[str, int | None]]:
    with store.session() as s:
        return [(p.kind, p.seq) for p in verify_events(s)[0]]


def events(store: Store) -> list[LedgerEvent]:
    with store.session() as s:
        return list(s.scalars(select(LedgerEvent).order_by(LedgerEvent.seq)))


def test_every_kind_is_chained_without_names_or_emails(chained: Store) -> None:
    rows = events(chained)
    kinds = [e.kind for e in rows]
    assert kinds == ["acknowledgement", "paper_acknowledgement", "mail_sent", "mail_sent", "mail_sent",
                     "consent_applied", "consent_revoked", "finding_opened", "finding_opened", "finding_resolved"]
    assert [e.person_id for e in rows[:5]] == [1, 2, 3, 3, 4]  # the group message: one event per person
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in zip(rows, rows[1:], strict=False))
    assert problems(chained) == []
    blob = " ".join(e.payload for e in rows)
    assert "example.com" not in blob and "district.org" not in blob and "Núñez" not in blob and "Given" not in blob
    ack = json.loads(rows[0].payload)
    assert ack["policy_sha256"] == "ab" * 32 and ack["policy_revision_id"] == "r1"


def test_recording_again_adds_nothing(chained: Store) -> None:
    before = len(events(chained))
    with chained.session() as s:
        assert record_sends(s, [1, 2], now=T0) == 0
        assert record_missing_sends(s, now=T0) == 0
        assert record_consents(s, ["consent/a.csv"], now=T0) == 0
        assert record_findings(s, None, T0) == 0
    assert len(events(chained)) == before


def test_a_changed_consent_row_is_a_new_event(chained: Store) -> None:
    with chained.session() as s:
        row = s.scalars(select(ConsentRecord).where(ConsentRecord.student_id == "S1")).one()
        row.revoked_on = date(2026, 11, 1)
        s.flush()
        assert record_consents(s, ["consent/a.csv"], now=T0 + timedelta(days=1)) == 1
    assert events(chained)[-1].kind == "consent_revoked"


def test_sends_missed_by_a_crash_are_caught_up(chained: Store) -> None:
    with chained.session() as s:
        s.add(Delivery(id=9, idempotency_key="k9", person_id=4, kind="reminder_1", recipient="p3@example.com",
                       status="sent", gmail_message_id="g9", sent_at=T0))
        s.flush()
        assert record_missing_sends(s, now=T0) == 1
    assert events(chained)[-1].delivery_id == 9


@pytest.mark.parametrize("seq", range(1, 11))
def test_an_edit_of_any_event_is_named(chained: Store, seq: int) -> None:
    with chained.engine.begin() as conn:
        payload = conn.execute(text("select payload from ledger_events where seq = :s"), {"s": seq}).scalar_one()
        forged = json.loads(payload)
        forged[sorted(forged)[0]] = "forged"
        conn.execute(text("update ledger_events set payload = :p where seq = :s"),
                     {"p": json.dumps(forged, sort_keys=True, separators=(",", ":")), "s": seq})
    assert problems(chained) == [("edited", seq)]


def test_moving_an_event_to_another_person_is_named(chained: Store) -> None:
    with chained.engine.begin() as conn:
        conn.execute(text("update ledger_events set person_id = 4 where seq = 1"))
    assert problems(chained) == [("edited", 1)]


def test_deletion_is_named(chained: Store) -> None:
    with chained.engine.begin() as conn:
        conn.execute(text("delete from ledger_events where seq = 4"))
    assert problems(chained) == [("deleted", 5)]


def test_deleting_the_newest_event_shows_at_the_head(chained: Store) -> None:
    with chained.engine.begin() as conn:
        conn.execute(text("delete from ledger_events where seq = 10"))
    assert problems(chained) == [("head", 9)]


def test_reordering_is_named(chained: Store) -> None:
    with chained.engine.begin() as conn:
        # Swap events 3 and 4 (sequence numbers are inside the hash).
        conn.execute(text("update ledger_events set seq = 1000 where seq = 3"))
        conn.execute(text("update ledger_events set seq = 3 where seq = 4"))
        conn.execute(text("update ledger_events set seq = 4 where seq = 1000"))
    found = problems(chained)
    assert found[0] == ("edited", 3)
    assert ("edited", 4) in found


def test_insertion_with_a_correct_hash_is_named(chained: Store) -> None:
    rows = events(chained)
    with chained.engine.begin() as conn:
        # Make room after event 5 and slip in an event hashed exactly as the code would have, chained onto 5.
        for seq in range(10, 5, -1):
            conn.execute(text("update ledger_events set seq = :n where seq = :s"), {"n": seq + 1, "s": seq})
        forged = Entry(6, "paper_acknowledgement", "ack:99", 4, None, None, rows[4].recorded_at.isoformat(
            timespec="microseconds"), "{}", rows[4].hash, "")
        conn.execute(text(
            "insert into ledger_events (seq, event_key, kind, person_id, payload, recorded_at, prev_hash, hash)"
            " values (6, 'ack:99', 'paper_acknowledgement', 4, '{}', :at, :prev, :h)"
        ), {"at": rows[4].recorded_at, "prev": rows[4].hash, "h": forged.computed_hash()})
    found = problems(chained)
    # Event 6 checks out on its own; the genuine event after it no longer links to it, and it moved.
    assert found[0][1] == 7


def test_recomputing_the_whole_chain_passes_the_database_checks(chained: Store) -> None:
    """The attack the anchors exist for: edit, recompute every hash and the head. The chain alone is blind."""
    from ledger_support import recompute_chain

    with chained.engine.begin() as conn:
        conn.execute(text("update ledger_events set person_id = 4 where seq = 1"))
    recompute_chain(chained)
    assert problems(chained) == []


def test_acknowledgements_without_an_event_are_caught_up(chained: Store) -> None:
    from compliance.ledger import record_acknowledgements

    with chained.engine.begin() as conn:
        conn.execute(text("delete from ledger_events where seq > 1"))
        conn.execute(text("update sync_state set value = :v where key = 'ledger_events_head'"),
                     {"v": json.dumps({"seq": 1, "hash": events(chained)[0].hash})})
    with chained.session() as s:
        assert record_acknowledgements(s, now=T0) == 1  # the paper acknowledgement; the form one is chained
        assert record_acknowledgements(s, now=T0) == 0
    assert problems(chained) == []
