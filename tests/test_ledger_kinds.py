"""Issue 18, Deliver item 1: every kind of event is chained by the code that records it, and an edit,
deletion, insertion or reordering of an event of any kind is detected (direct SQL, as a database
administrator would do it)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text
from test_ledger_events import T0, populate

from compliance.chain import Entry
from compliance.consent import ConsentEntry, store_consents
from compliance.ledger import EventDraft, append_events, record_sends, record_withdrawn_consents, verify_events
from compliance.models import Delivery, LedgerEvent
from compliance.store import Store
from compliance.vocabulary import PIPELINE_EVENT_KINDS, LedgerEventKind

KINDS = sorted(LedgerEventKind)


def populate_every_kind(store: Store) -> None:
    """``populate`` (acknowledgements, announcements, consent applied/revoked, findings), then a reminder and a
    takedown request sent, a consent line withdrawn from its sheet, and a re-acknowledgement decision (the
    hook another flow will write through)."""
    populate(store)
    with store.session() as s:
        s.add(Delivery(id=10, idempotency_key="k10", person_id=4, kind="reminder_1", recipient="p3@example.com",
                       status="sent", gmail_message_id="g10", sent_at=T0))
        s.add(Delivery(id=11, idempotency_key="k11", kind="takedown_digest", recipient="web@lincoln.example",
                       site_id=None, status="sent", gmail_message_id="g11", sent_at=T0,
                       context={"vars": {"findings": [{"page_url": "https://x/p", "image_url": "https://x/i.jpg",
                                                       "student_id": "S2"}]}}))
        s.flush()
        assert record_sends(s, [10, 11], now=T0) == 2
    with store.session() as s:
        # The school's sheet now holds only row 2: row 3 (student S2) was withdrawn.
        kept = ConsentEntry(student_id="S1", site_id=None, purposes=frozenset({"website"}), parent_consent=True,
                            parent_signed_on=None, principal_approved=True, principal_approved_on=None,
                            revoked_on=None, school_year=None, source_file="consent/a.csv", source_sheet="",
                            source_row=2)
        counts = store_consents(s, [kept], on_removed=lambda session, rows: record_withdrawn_consents(
            session, rows, now=T0 + timedelta(days=1)))
        assert counts["removed"] == 1
    with store.session() as s:
        append_events(s, [EventDraft(LedgerEventKind.REACKNOWLEDGEMENT_DECISION, "reack:1:2",
                                     {"policy_version_id": 1, "decision": "required"}, person_id=1)], T0)


@pytest.fixture
def every_kind(db_url: str) -> Store:
    store = Store(db_url)
    populate_every_kind(store)
    return store


def found(store: Store) -> list[tuple[str, int | None]]:
    with store.session() as s:
        return [(p.kind, p.seq) for p in verify_events(s)[0]]


def first_of(store: Store, kind: str) -> tuple[int, int]:
    """(seq of the first event of ``kind``, last seq)."""
    with store.session() as s:
        seqs = list(s.scalars(select(LedgerEvent.seq).where(LedgerEvent.kind == kind).order_by(LedgerEvent.seq)))
        last = max(s.scalars(select(LedgerEvent.seq)))
    assert seqs, f"no {kind} event was chained"
    return seqs[0], last


def test_every_kind_is_chained_by_the_code_that_records_it(every_kind: Store) -> None:
    with every_kind.session() as s:
        rows = list(s.scalars(select(LedgerEvent).order_by(LedgerEvent.seq)))
    kinds = {r.kind for r in rows}
    assert kinds == set(LedgerEventKind)
    assert set(LedgerEventKind) - {LedgerEventKind.REACKNOWLEDGEMENT_DECISION} == PIPELINE_EVENT_KINDS
    sent = {json.loads(r.payload)["delivery_kind"] for r in rows if r.kind == LedgerEventKind.MAIL_SENT}
    assert {"announcement", "announcement_group", "reminder_1"} <= sent  # announcements and reminders
    [takedown] = [r for r in rows if r.kind == LedgerEventKind.TAKEDOWN_SENT]
    assert json.loads(takedown.payload)["finding_keys"] and "lincoln" not in takedown.payload
    [withdrawn] = [r for r in rows if r.kind == LedgerEventKind.CONSENT_WITHDRAWN]
    assert json.loads(withdrawn.payload)["source_row"] == 3
    assert found(every_kind) == []


@pytest.mark.parametrize("kind", KINDS)
def test_an_edit_of_each_kind_is_named(every_kind: Store, kind: str) -> None:
    seq, _ = first_of(every_kind, kind)
    with every_kind.engine.begin() as conn:
        payload = json.loads(conn.execute(text("select payload from ledger_events where seq = :s"),
                                          {"s": seq}).scalar_one())
        payload["forged"] = True
        conn.execute(text("update ledger_events set payload = :p where seq = :s"),
                     {"p": json.dumps(payload, sort_keys=True, separators=(",", ":")), "s": seq})
    assert found(every_kind) == [("edited", seq)]


@pytest.mark.parametrize("kind", KINDS)
def test_a_deletion_of_each_kind_is_named(every_kind: Store, kind: str) -> None:
    seq, last = first_of(every_kind, kind)
    with every_kind.engine.begin() as conn:
        conn.execute(text("delete from ledger_events where seq = :s"), {"s": seq})
    # The newest event gone shows at the head; any other leaves a gap before the event after it.
    assert found(every_kind) == ([("head", seq - 1)] if seq == last else [("deleted", seq + 1)])


@pytest.mark.parametrize("kind", KINDS)
def test_reordering_each_kind_is_named(every_kind: Store, kind: str) -> None:
    seq, last = first_of(every_kind, kind)
    other = seq + 1 if seq < last else seq - 1
    with every_kind.engine.begin() as conn:
        conn.execute(text("update ledger_events set seq = -1 where seq = :s"), {"s": seq})
        conn.execute(text("update ledger_events set seq = :s where seq = :o"), {"s": seq, "o": other})
        conn.execute(text("update ledger_events set seq = :o where seq = -1"), {"o": other})
    problems = found(every_kind)
    assert ("edited", seq) in problems and ("edited", other) in problems


@pytest.mark.parametrize("kind", KINDS)
def test_an_insertion_before_each_kind_is_named(every_kind: Store, kind: str) -> None:
    """A forged event of the same kind slipped in before the first one, hashed exactly as the code would and
    chained onto its predecessor: it checks out alone, the genuine event after it does not."""
    seq, last = first_of(every_kind, kind)
    with every_kind.session() as s:
        before = s.get(LedgerEvent, seq - 1) if seq > 1 else None
        at = s.get(LedgerEvent, seq).recorded_at
    prev = before.hash if before else "0" * 64
    with every_kind.engine.begin() as conn:
        for n in range(last, seq - 1, -1):
            conn.execute(text("update ledger_events set seq = :m where seq = :n"), {"m": n + 1, "n": n})
        forged = Entry(seq, kind, "forged", 4, None, None, at.isoformat(timespec="microseconds"), "{}", prev, "")
        conn.execute(text(
            "insert into ledger_events (seq, event_key, kind, person_id, payload, recorded_at, prev_hash, hash)"
            " values (:seq, 'forged', :kind, 4, '{}', :at, :prev, :h)"
        ), {"seq": seq, "kind": kind, "at": at, "prev": prev, "h": forged.computed_hash()})
    problems = found(every_kind)
    assert problems and problems[0][1] == seq + 1  # the genuine event, now after the forged one, is named


def test_the_fast_header_is_byte_for_byte_the_canonical_one() -> None:
    """append_events hashes ``header_bytes``; the offline check (``Entry.header``) must get the same bytes for
    any text: quotes, backslashes, control characters, U+2028, non-ASCII, astral characters, None ids."""
    import random
    import string

    from compliance.chain import header_bytes

    rnd = random.Random(1114)
    alphabet = string.printable + '"\\\x00\x1f\x7fñé\u2028\u2029😀'

    def txt() -> str:
        return "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 24)))

    def some_id() -> int | None:
        return rnd.choice([None, 0, rnd.randint(1, 2**40)])

    for _ in range(5000):
        e = Entry(rnd.randint(1, 2**40), txt(), txt(), some_id(), some_id(), some_id(), txt(), txt(), "0" * 64, "")
        assert header_bytes(e.seq, e.kind, e.event_key, e.person_id, e.finding_id, e.delivery_id, e.recorded_at,
                            e.payload) == e.header()
    assert header_bytes(1, LedgerEventKind.MAIL_SENT, "k", None, None, None, "t", "{}") == \
        Entry(1, "mail_sent", "k", None, None, None, "t", "{}", "", "").header()


def test_consent_events_carry_the_hash_of_the_source_file_as_read(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 18 item 1, "source file hash and row": every consent event names the row and the sha256 of the
    file's bytes it was read from, taken once per source; editing the file changes the hash the new events
    carry (applied and withdrawn alike), the events of unchanged rows keep theirs, and the chain verifies."""
    import csv
    import hashlib

    from compliance.consent import Roster, ingest_site_consents
    from compliance.ledger import record_consents
    from compliance.roster import sync_sites
    from compliance.settings import load_settings

    settings = load_settings()
    site = settings.sites[0].model_copy(update={"consent_sources": ["consent/school.csv"], "opt_out_sources": [],
                                                "default_purposes": {}})
    settings = settings.model_copy(update={"sites": [site]})
    path = tmp_path / "consent" / "school.csv"
    path.parent.mkdir()
    with Store(db_url).session() as s:
        sync_sites(s, [site])

    def write(rows: list[list[str]]) -> str:
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([["Student ID", "Consent", "Uses", "Date signed", "Principal"], *rows])
        return hashlib.sha256(path.read_bytes()).hexdigest()

    def ingest() -> list[dict]:
        store = Store(db_url)
        list(ingest_site_consents(store, settings, site.id, Roster(ids={"3000001", "3000002", "3000003"}),
                                  lambda source: tmp_path / source, on_changed=record_consents,
                                  on_removed=record_withdrawn_consents))
        with store.session() as s:
            rows = s.scalars(select(LedgerEvent).order_by(LedgerEvent.seq))
            return [{"kind": r.kind, **json.loads(r.payload)} for r in rows]

    first = write([["3000001", "Y", "website", "9/3/2026", "JM"], ["3000002", "Y", "website", "9/3/2026", "JM"],
                   ["3000003", "Y", "website", "9/3/2026", "JM"]])
    night1 = ingest()
    assert [(e["kind"], e["source_row"], e["source_sha256"]) for e in night1] == [
        ("consent_applied", 2, first), ("consent_applied", 3, first), ("consent_applied", 4, first)]
    # The school edits its sheet: row 2 gains a purpose, student 3000003's line is deleted.
    second = write([["3000001", "Y", "website, yearbook", "9/3/2026", "JM"],
                    ["3000002", "Y", "website", "9/3/2026", "JM"]])
    assert second != first
    night2 = ingest()[len(night1):]
    assert sorted((e["kind"], e["source_row"], e["source_sha256"]) for e in night2) == [
        ("consent_applied", 2, second), ("consent_withdrawn", 4, second)]
    assert ingest()[len(night1) + len(night2):] == []  # the same file again: nothing new
    with Store(db_url).session() as s:
        assert verify_events(s)[0] == []
