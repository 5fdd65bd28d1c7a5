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
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from compliance.models import Acknowledgement, Person, PolicyVersion, SyncState
from compliance.vocabulary import AckMethod

GENESIS = "0" * 64
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
) -> AppendResult:
    """Add one acknowledgement to the chain, or return the row already holding it.

    Idempotent: the same ``response_id`` never adds a second row (re-runs of the Forms sync), and a person has
    one acknowledgement per policy version (the first stands; a later response is reported, not stored).
    Commit is the caller's; the ledger lock is held until then.
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
        submitted_at=submitted,
        recorded_at=now,
        prev_hash=prev_hash,
        row_hash=chain_hash(prev_hash, evidence),
    )
    session.add(row)
    session.flush()
    _write_head(session, row.row_hash, session.scalar(select(func.count()).select_from(Acknowledgement)) or 0, now)
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
