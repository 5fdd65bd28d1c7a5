"""The evidence ledger: every acknowledgement row is hash-chained to the one before it.

``row_hash = sha256(prev_hash + "\\n" + canonical JSON of the evidence)``. Editing a row's evidence breaks its
own hash; deleting a row leaves the next row pointing at a hash no row has; inserting a row makes a row whose
``prev_hash`` is not its predecessor's hash. The head of the chain (last hash and row count) is also kept in
``sync_state`` and updated in the same transaction, so deleting the newest row or appending one by hand with
SQL is caught as well. Anyone with write access to both tables and this code can rebuild a consistent chain:
the ledger makes tampering visible, it does not make it impossible (export the head hash to keep it honest).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import String, cast, func, insert, literal, or_, select, text, update
from sqlalchemy.orm import Session

from compliance.chain import GENESIS, ChainProblem, Entry, canonical, header_bytes, sha256_hex, walk
from compliance.models import (
    Acknowledgement,
    ConsentRecord,
    Delivery,
    Finding,
    LedgerEvent,
    Page,
    Person,
    Photo,
    PhotoAppearance,
    PolicyVersion,
    SyncState,
)
from compliance.vocabulary import TAKEDOWN_KINDS, AckMethod, FindingState, LedgerEventKind

HEAD_KEY = "acknowledgement_ledger_head"
# pg_advisory_xact_lock key: any fixed 64-bit number unique to this ledger in the database.
_PG_LOCK_KEY = 1114_0001


@dataclass(frozen=True, slots=True)
class LedgerProblem:
    """One inconsistency: ``kind`` is edited | inserted | deleted | head; ``row_id`` the row it was seen at."""

    kind: str
    row_id: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class AppendResult:
    acknowledgement: Acknowledgement
    created: bool
    # Why nothing was added: "same_response" (a re-run) or "already_acknowledged" (a second response).
    existing_reason: str | None = None


def canonical_evidence(
    *,
    person_key: str,
    policy_version_id: int,
    policy_sha256: str,
    method: str,
    response_id: str | None,
    signed_name: str,
    verified_email: str | None,
    token_id: str | None,
    submitted_at: datetime,
) -> bytes:
    """The evidence fields as canonical JSON (sorted keys, no spaces, UTF-8, UTC ISO time to microseconds)."""
    if submitted_at.tzinfo is None:
        raise ValueError("submitted_at must be an aware datetime")
    fields = {
        "person_key": person_key,
        "policy_version_id": policy_version_id,
        "policy_sha256": policy_sha256,
        "method": str(method),
        "response_id": response_id,
        "signed_name": signed_name,
        "verified_email": verified_email,
        "token_id": token_id,
        "submitted_at": submitted_at.astimezone(UTC).isoformat(timespec="microseconds"),
    }
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def chain_hash(prev_hash: str, evidence: bytes) -> str:
    """SHA-256 over the previous row's hash and this row's canonical evidence."""
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + evidence).hexdigest()


def _row_evidence(row: Acknowledgement, person_key: str) -> bytes:
    return canonical_evidence(
        person_key=person_key,
        policy_version_id=row.policy_version_id,
        policy_sha256=row.policy_sha256,
        method=row.method,
        response_id=row.response_id,
        signed_name=row.signed_name,
        verified_email=row.verified_email,
        token_id=row.token_id,
        submitted_at=row.submitted_at,
    )


def _lock_ledger(session: Session) -> None:
    """Serialise appends so two writers never chain onto the same previous row."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    else:
        # SQLite allows one writer; writing first takes that lock before we read the chain's end.
        session.execute(update(SyncState).where(SyncState.key == HEAD_KEY).values(value=SyncState.value))


def _write_head(session: Session, last_hash: str, count: int, now: datetime) -> None:
    value = json.dumps({"hash": last_hash, "count": count})
    head = session.get(SyncState, HEAD_KEY)
    if head is None:
        session.add(SyncState(key=HEAD_KEY, value=value, updated_at=now))
    else:
        head.value = value
        head.updated_at = now


def append_acknowledgement(
    session: Session,
    *,
    person: Person,
    policy_version: PolicyVersion,
    method: AckMethod | str,
    signed_name: str,
    submitted_at: datetime,
    response_id: str | None = None,
    verified_email: str | None = None,
    token_id: str | None = None,
    now: datetime | None = None,
    language: str = "en",
) -> AppendResult:
    """Add one acknowledgement to the chain, or return the row already holding it.

    Idempotent: the same ``response_id`` never adds a second row (re-runs of the Forms sync), and a person has
    one acknowledgement per policy version (the first stands; a later response is reported, not stored).
    Commit is the caller's; the ledger lock is held until then. ``language``: the language version of the
    policy the person read (kept on the row and in the event, outside the acknowledgement's evidence hash so
    rows chained before languages existed still verify).
    """
    if method not in set(AckMethod):
        raise ValueError(f"method must be form or paper, not {method!r}")
    method = AckMethod(method)
    if method is AckMethod.FORM and not response_id:
        raise ValueError("a form acknowledgement needs its Forms response id")
    now = now or datetime.now(UTC)
    _lock_ledger(session)
    if response_id is not None:
        same = session.scalar(select(Acknowledgement).where(Acknowledgement.response_id == response_id))
        if same is not None:
            return AppendResult(same, False, "same_response")
    earlier = session.scalar(
        select(Acknowledgement).where(
            Acknowledgement.person_id == person.id, Acknowledgement.policy_version_id == policy_version.id
        )
    )
    if earlier is not None:
        return AppendResult(earlier, False, "already_acknowledged")
    last = session.execute(
        select(Acknowledgement.row_hash).order_by(Acknowledgement.id.desc()).limit(1)
    ).scalar_one_or_none()
    prev_hash = last or GENESIS
    submitted = submitted_at.astimezone(UTC)
    evidence = canonical_evidence(
        person_key=person.person_key,
        policy_version_id=policy_version.id,
        policy_sha256=policy_version.sha256,
        method=method,
        response_id=response_id,
        signed_name=signed_name,
        verified_email=verified_email,
        token_id=token_id,
        submitted_at=submitted,
    )
    row = Acknowledgement(
        person_id=person.id,
        policy_version_id=policy_version.id,
        method=method,
        response_id=response_id,
        signed_name=signed_name,
        verified_email=verified_email,
        token_id=token_id,
        policy_sha256=policy_version.sha256,
        language=language,
        submitted_at=submitted,
        recorded_at=now,
        prev_hash=prev_hash,
        row_hash=chain_hash(prev_hash, evidence),
    )
    session.add(row)
    session.flush()
    _write_head(session, row.row_hash, session.scalar(select(func.count()).select_from(Acknowledgement)) or 0, now)
    append_events(session, [acknowledgement_draft(row, policy_version, person.person_key)], now)
    return AppendResult(row, True)


def verify_ledger(session: Session) -> list[LedgerProblem]:
    """Walk the chain in row order and report every edited, inserted or deleted row (empty list: intact)."""
    rows = session.execute(
        select(Acknowledgement, Person.person_key)
        .join(Person, Person.id == Acknowledgement.person_id)
        .order_by(Acknowledgement.id)
    ).all()
    problems: list[LedgerProblem] = []
    known = {ack.row_hash for ack, _ in rows}
    flagged_inserted: set[int] = set()
    for i, (ack, person_key) in enumerate(rows):
        if chain_hash(ack.prev_hash, _row_evidence(ack, person_key)) != ack.row_hash:
            problems.append(LedgerProblem("edited", ack.id, "evidence does not match the row's hash"))
        expected = rows[i - 1][0].row_hash if i else GENESIS
        if ack.prev_hash == expected:
            continue
        if i >= 2 and ack.prev_hash == rows[i - 2][0].row_hash:
            # The chain skips the previous row: that row was slipped in between two genuine ones.
            prev_id = rows[i - 1][0].id
            if prev_id not in flagged_inserted:
                flagged_inserted.add(prev_id)
                problems.append(LedgerProblem("inserted", prev_id, "row is not part of the chain"))
        elif ack.prev_hash != GENESIS and ack.prev_hash not in known:
            problems.append(
                LedgerProblem("deleted", ack.id, "the row this one chains to is missing (gap before it)")
            )
        elif ack.id not in flagged_inserted:
            flagged_inserted.add(ack.id)
            problems.append(
                LedgerProblem("inserted", ack.id, "prev_hash names another row than its predecessor")
            )
    problems.extend(_check_head(session, rows[-1][0].row_hash if rows else GENESIS, len(rows)))
    return problems


def _check_head(session: Session, last_hash: str, count: int) -> list[LedgerProblem]:
    head = session.get(SyncState, HEAD_KEY)
    if head is None:
        if count:
            return [LedgerProblem("head", None, "the ledger head record is missing")]
        return []
    recorded = json.loads(head.value)
    if recorded.get("hash") != last_hash or recorded.get("count") != count:
        return [
            LedgerProblem(
                "head",
                None,
                f"chain ends at {last_hash[:12]}... with {count} rows, the head record says "
                f"{str(recorded.get('hash'))[:12]}... with {recorded.get('count')} rows "
                "(newest rows deleted or appended outside the ledger)",
            )
        ]
    return []


# ------------------------------------------------------------------------------------------------------------
# The event chain: every compliance event (sends, acknowledgements, consent records, findings) in one
# append-only chain (compliance.chain), appended in the same transaction as the change it records.

EVENTS_HEAD_KEY = "ledger_events_head"
_PG_EVENTS_LOCK_KEY = 1114_0002
_IN_CHUNK = 500  # keys per IN (...) lookup: well under every backend's parameter limit


@dataclass(frozen=True, slots=True)
class EventDraft:
    """An event to append: ``event_key`` makes it idempotent; ``payload`` holds ids and hashes only."""

    kind: str
    event_key: str
    payload: dict[str, Any]
    person_id: int | None = None
    finding_id: int | None = None
    delivery_id: int | None = None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def entry_of(row: LedgerEvent) -> Entry:
    """A stored event as the pure-Python chain sees it (the same values the hash was computed over)."""
    return Entry(row.seq, row.kind, row.event_key, row.person_id, row.finding_id, row.delivery_id,
                 _iso(row.recorded_at), row.payload, row.prev_hash, row.hash)


def _lock_events(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_EVENTS_LOCK_KEY})
    else:
        session.execute(update(SyncState).where(SyncState.key == EVENTS_HEAD_KEY).values(value=SyncState.value))


def chain_end(session: Session) -> tuple[int, str]:
    """(seq, hash) of the newest event; (0, GENESIS) for an empty chain."""
    row = session.execute(select(LedgerEvent.seq, LedgerEvent.hash).order_by(LedgerEvent.seq.desc()).limit(1)).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS)


def append_events(session: Session, drafts: Sequence[EventDraft], now: datetime | None = None) -> int:
    """Append the drafts not already in the chain (by ``event_key``); return how many were added.

    Takes the chain lock until the caller commits, so concurrent writers line up instead of forking the
    chain; the head in ``sync_state`` moves in the same transaction.
    """
    if not drafts:
        return 0
    now = now or datetime.now(UTC)
    _lock_events(session)
    known = _known_keys(session, list(dict.fromkeys(d.event_key for d in drafts)))
    seq, prev = chain_end(session)
    at, recorded_at = _iso(now), now.astimezone(UTC)
    rows: list[dict[str, Any]] = []
    sha256 = hashlib.sha256
    for d in drafts:
        if d.event_key in known:
            continue
        known.add(d.event_key)
        seq += 1
        payload = canonical(d.payload)
        digest = sha256(prev.encode("ascii") + b"\n" + header_bytes(
            seq, d.kind, d.event_key, d.person_id, d.finding_id, d.delivery_id, at, payload)).hexdigest()
        rows.append({"seq": seq, "kind": str(d.kind), "event_key": d.event_key, "person_id": d.person_id,
                     "finding_id": d.finding_id, "delivery_id": d.delivery_id, "recorded_at": recorded_at,
                     "payload": payload, "prev_hash": prev, "hash": digest})
        prev = digest
    if not rows:
        return 0
    # One executemany of plain dicts per call (the ORM's bulk path costs more than the hashing), and the head
    # moved by one UPDATE statement: no ORM object to load, no flush of its own (the caller's commit writes
    # it all). The ORM-enabled UPDATE still refreshes a head object the session may hold (verify_events).
    session.connection().execute(insert(LedgerEvent.__table__), rows)
    value = json.dumps({"seq": seq, "hash": prev})
    moved = session.execute(update(SyncState).where(SyncState.key == EVENTS_HEAD_KEY)
                            .values(value=value, updated_at=now))
    if not moved.rowcount:  # type: ignore[attr-defined]
        session.execute(insert(SyncState).values(key=EVENTS_HEAD_KEY, value=value, updated_at=now))
    return len(rows)


def iter_entries(session: Session, *, after_seq: int = 0) -> Iterator[Entry]:
    """Stored events in sequence order, streamed (a district's chain does not fit comfortably in memory)."""
    stmt = select(LedgerEvent).where(LedgerEvent.seq > after_seq).order_by(LedgerEvent.seq)
    for row in session.scalars(stmt.execution_options(yield_per=5000)):
        yield entry_of(row)


def verify_events(session: Session) -> tuple[list[ChainProblem], int, str]:
    """Walk the whole event chain and compare its end with the head record: (problems, last seq, last hash)."""
    problems, last_seq, last_hash = walk(iter_entries(session))
    head = session.get(SyncState, EVENTS_HEAD_KEY)
    if head is None:
        if last_seq:
            problems.append(ChainProblem("head", None, "the event chain's head record is missing"))
    else:
        recorded = json.loads(head.value)
        if recorded.get("seq") != last_seq or recorded.get("hash") != last_hash:
            problems.append(ChainProblem(
                "head", last_seq or None,
                f"chain ends at event {last_seq}, the head record says event {recorded.get('seq')} "
                "(newest events deleted or appended outside the ledger)"))
    return problems, last_seq, last_hash


# -- what each part of the pipeline records -----------------------------------------------------------------


def acknowledgement_draft(ack: Acknowledgement, policy: PolicyVersion, person_key: str) -> EventDraft:
    """The event for one acknowledgement: linked to its row in the acknowledgement chain by that row's hash,
    and to its evidence (signed name, verified email) by the evidence's hash, so the payload names no one."""
    kind = LedgerEventKind.PAPER_ACKNOWLEDGEMENT if ack.method == AckMethod.PAPER else LedgerEventKind.ACKNOWLEDGEMENT
    return EventDraft(
        kind=kind,
        event_key=f"ack:{ack.id}",
        person_id=ack.person_id,
        payload={
            "acknowledgement_id": ack.id,
            "policy_version_id": ack.policy_version_id,
            "policy_drive_file_id": policy.drive_file_id,
            "policy_revision_id": policy.revision_id,
            "policy_sha256": ack.policy_sha256,
            "method": str(ack.method),
            "response_id": ack.response_id,
            "token_id": ack.token_id,
            "submitted_at": _iso(ack.submitted_at),
            "evidence_sha256": sha256_hex(_row_evidence(ack, person_key)),
            "acknowledgement_row_hash": ack.row_hash,
            **_translation_read(ack, policy),
        },
    )


def _translation_read(ack: Acknowledgement, policy: PolicyVersion) -> dict[str, Any]:
    # An acknowledgement of a translation names it and its text's hash (English, the version's text: nothing).
    if not ack.language or ack.language == "en":
        return {}
    translated = (policy.translations or {}).get(ack.language) or {}
    return {"language": ack.language, "translation_sha256": translated.get("sha256")}


def record_acknowledgements(session: Session, *, now: datetime | None = None) -> int:
    """Chain acknowledgements that have no event yet (rows from before the event chain, or a crash between)."""
    missing = session.execute(
        select(Acknowledgement, PolicyVersion, Person.person_key)
        .join(PolicyVersion, PolicyVersion.id == Acknowledgement.policy_version_id)
        .join(Person, Person.id == Acknowledgement.person_id)
        .where(~select(LedgerEvent.seq)
               .where(LedgerEvent.event_key == literal("ack:").concat(cast(Acknowledgement.id, String)))
               .correlate(Acknowledgement).exists())
        .order_by(Acknowledgement.id)
    ).all()
    return append_events(session, [acknowledgement_draft(a, p, k) for a, p, k in missing], now)


def _sent_drafts(row: Delivery) -> list[EventDraft]:
    kind = LedgerEventKind.TAKEDOWN_SENT if row.kind in TAKEDOWN_KINDS else LedgerEventKind.MAIL_SENT
    base: dict[str, Any] = {
        "delivery_key": row.idempotency_key,
        "delivery_kind": row.kind,
        "campaign_id": row.campaign_id,
        "site_id": row.site_id,
        "gmail_message_id": row.gmail_message_id,
        "rfc822_message_id": row.rfc822_message_id,
        "sent_at": _iso(row.sent_at) if row.sent_at else None,
    }
    if row.kind in TAKEDOWN_KINDS:
        # Imported here: the photo pipeline (matching, evidence) has no business loading with the ledger.
        from compliance.photos.findings import finding_key

        listed = (row.context or {}).get("vars", {}).get("findings") or []
        base["finding_keys"] = sorted(finding_key(f["page_url"], f["image_url"], f["student_id"]) for f in listed)
    group = [int(p) for p in (row.context or {}).get("person_ids") or []]
    key = f"sent:{row.idempotency_key}:{row.gmail_message_id}"
    if group:
        # One event per person a group message announced to, so each person's evidence names its own send.
        return [EventDraft(kind, f"{key}:{pid}", {**base, "person_id": pid}, person_id=pid, delivery_id=row.id)
                for pid in group]
    if row.person_id is None:
        # Digests and reports go to staff mailboxes, not roster people: a hash says which without naming it.
        base["recipient_sha256"] = sha256_hex(row.recipient.strip().lower().encode())
    return [EventDraft(kind, key, {**base, "person_id": row.person_id}, person_id=row.person_id, delivery_id=row.id)]


def record_sends(session: Session, delivery_ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Chain the sends among ``delivery_ids`` (rows now ``sent``); the outbox calls it after each batch."""
    ids = list(delivery_ids)
    drafts: list[EventDraft] = []
    for i in range(0, len(ids), _IN_CHUNK):
        rows = session.scalars(
            select(Delivery).where(Delivery.id.in_(ids[i:i + _IN_CHUNK]), Delivery.status == "sent",
                                   Delivery.gmail_message_id.is_not(None)).order_by(Delivery.id)
        )
        for row in rows:
            drafts.extend(_sent_drafts(row))
    return append_events(session, drafts, now)


def record_missing_sends(session: Session, *, now: datetime | None = None) -> int:
    """Chain sent (or since bounced) deliveries that have no event: a run killed between recording a send and
    chaining it, or sends from before the event chain."""
    ids = list(session.scalars(
        select(Delivery.id).where(
            Delivery.status.in_(("sent", "bounced")), Delivery.gmail_message_id.is_not(None),
            ~select(LedgerEvent.seq).where(LedgerEvent.delivery_id == Delivery.id).correlate(Delivery).exists(),
        ).order_by(Delivery.id)
    ))
    drafts: list[EventDraft] = []
    for i in range(0, len(ids), _IN_CHUNK):
        for row in session.scalars(select(Delivery).where(Delivery.id.in_(ids[i:i + _IN_CHUNK])).order_by(Delivery.id)):
            drafts.extend(_sent_drafts(row))
    return append_events(session, drafts, now)


def _image_sha256(session: Session, image_url: str, page_url: str) -> str | None:
    return session.scalar(
        select(Photo.sha256)
        .join(PhotoAppearance, PhotoAppearance.photo_id == Photo.id)
        .join(Page, Page.id == PhotoAppearance.page_id)
        .where(PhotoAppearance.image_url == image_url, Page.url == page_url)
        .limit(1)
    )


def finding_drafts(session: Session, row: Finding) -> list[EventDraft]:
    """Events for one finding's current state: opened (each time it comes online) and resolved."""
    payload: dict[str, Any] = {
        "finding_id": row.id,
        "finding_key": row.finding_key,
        "site_id": row.site_id,
        "page_url": row.page_url,
        "image_sha256": _image_sha256(session, row.image_url, row.page_url) if row.image_url else None,
        "student_id": row.student_id,
        "kind": row.kind,
        "verdict": row.verdict,
        "reason": row.reason,
        "evidence_sha256": sha256_hex((row.evidence or "").encode()),
        "basis_sha256": sha256_hex((row.basis or "").encode()),
        "first_seen_at": _iso(row.first_seen_at),
    }
    opened = EventDraft(LedgerEventKind.FINDING_OPENED, f"finding:{row.finding_key}:opened:{_iso(row.first_seen_at)}",
                        payload, finding_id=row.id)
    if row.state != FindingState.RESOLVED or row.resolved_at is None:
        return [opened]
    resolved = EventDraft(LedgerEventKind.FINDING_RESOLVED,
                          f"finding:{row.finding_key}:resolved:{_iso(row.resolved_at)}",
                          {**payload, "resolved_at": _iso(row.resolved_at)}, finding_id=row.id)
    return [opened, resolved]


def record_findings(session: Session, site_id: str | None, now: datetime) -> int:
    """Chain the findings of ``site_id`` (None: every site) that opened or were resolved at ``now`` (the
    reconciliation's time stamp: a re-run of the same night adds nothing)."""
    stmt = select(Finding).where(or_(Finding.first_seen_at == now, Finding.resolved_at == now)).order_by(Finding.id)
    if site_id is not None:
        stmt = stmt.where(Finding.site_id == site_id)
    drafts = [d for row in session.scalars(stmt) for d in finding_drafts(session, row)]
    return append_events(session, drafts, now)


_CONSENT_FIELDS = ("student_id", "site_id", "purposes", "parent_consent", "parent_signed_on", "principal_approved",
                   "principal_approved_on", "revoked_on", "school_year", "conflict", "kind", "opted_out_on",
                   "matched_by")


def _consent_identity(row: ConsentRecord) -> tuple[dict[str, Any], str, str]:
    values = {f: (v.isoformat() if isinstance(v, date) else v) for f in _CONSENT_FIELDS
              for v in [getattr(row, f)]}
    record_sha = sha256_hex(canonical(values).encode())
    source = sha256_hex(f"{row.source_file}\n{row.source_sheet}\n{row.source_row}".encode())
    return values, record_sha, source


def _consent_key(record_sha: str, source: str) -> str:
    return f"consent:{source}:{record_sha}"


def consent_draft(
    row: ConsentRecord, source_sha256: str | None = None, identity: tuple[dict[str, Any], str, str] | None = None
) -> EventDraft:
    """The event for one consent record as applied: its source (file, sheet, row), the hash of the source's
    content as read (``source_sha256``: the file's bytes or the sheet's values, None when unknown) and a hash
    of its values, so a later change to the row is a new event, an edit of the stored row shows against the
    hash, and the copy of the school's file the record came from can be proven to be that file."""
    values, record_sha, source = identity or _consent_identity(row)
    kind = LedgerEventKind.CONSENT_REVOKED if row.revoked_on is not None else LedgerEventKind.CONSENT_APPLIED
    return EventDraft(kind, _consent_key(record_sha, source), {
        "consent_record_id": row.id,
        "student_id": row.student_id,
        "source_file": row.source_file,
        "source_sha256": source_sha256,
        "source_sheet": row.source_sheet,
        "source_row": row.source_row,
        "record_sha256": record_sha,
        "revoked_on": values["revoked_on"],
    })


def _known_keys(session: Session, keys: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for i in range(0, len(keys), _IN_CHUNK):
        chunk = keys[i:i + _IN_CHUNK]
        known.update(session.scalars(select(LedgerEvent.event_key).where(LedgerEvent.event_key.in_(chunk))))
    return known


def record_consents(session: Session, source_files: Iterable[str] | Mapping[str, str | None], *,
                    now: datetime | None = None) -> int:
    """Chain the consent records of these sources whose current values have no event yet (new or changed).

    ``source_files`` maps each source to the hash of its content as read tonight (``sources.content_hash``,
    computed once per source by the ingest), which each new event carries; plain names give ``None``.
    Every row of a changed source is hashed again to find which: read as plain rows (no ORM objects), and an
    event is built only for the rows whose key the chain does not hold yet.
    """
    hashes: Mapping[str, str | None] = source_files if isinstance(source_files, Mapping) else {}
    files = sorted(set(source_files))
    columns = [ConsentRecord.id, ConsentRecord.source_file, ConsentRecord.source_sheet, ConsentRecord.source_row,
               *(getattr(ConsentRecord, f) for f in _CONSENT_FIELDS if f not in ("student_id",)),
               ConsentRecord.student_id]
    drafts: list[EventDraft] = []
    for i in range(0, len(files), _IN_CHUNK):
        stmt = (select(*columns).where(ConsentRecord.source_file.in_(files[i:i + _IN_CHUNK]))
                .order_by(ConsentRecord.source_file, ConsentRecord.source_sheet, ConsentRecord.source_row))
        for part in session.execute(stmt.execution_options(yield_per=5000)).partitions():
            identities = [_consent_identity(row) for row in part]  # type: ignore[arg-type]
            keyed = [(_consent_key(sha, source), row, ident) for row, ident in zip(part, identities, strict=True)
                     for _, sha, source in [ident]]
            known = _known_keys(session, [k for k, _, _ in keyed])
            drafts.extend(consent_draft(row, hashes.get(row.source_file), ident)  # type: ignore[arg-type]
                          for k, row, ident in keyed if k not in known)
    return append_events(session, drafts, now)


def record_withdrawn_consents(session: Session, rows: Iterable[ConsentRecord],
                              source_hashes: Mapping[str, str | None] | None = None, *,
                              now: datetime | None = None) -> int:
    """Chain consent records about to be deleted because their line left the school's sheet (a withdrawal):
    ``compliance.consent.store_consents`` calls it, in the same transaction, before it deletes them.
    ``source_hashes`` gives the hash of each source as read tonight: the version without the line."""
    source_hashes = source_hashes or {}
    now = now or datetime.now(UTC)
    drafts = []
    for row in rows:
        _, record_sha, source = _consent_identity(row)
        key = f"consent:{source}:{record_sha}:withdrawn:{_iso(now)}"
        drafts.append(EventDraft(LedgerEventKind.CONSENT_WITHDRAWN, key, {
            "consent_record_id": row.id,
            "student_id": row.student_id,
            "source_file": row.source_file,
            "source_sha256": source_hashes.get(row.source_file),
            "source_sheet": row.source_sheet,
            "source_row": row.source_row,
            "record_sha256": record_sha,
        }))
    return append_events(session, drafts, now)
