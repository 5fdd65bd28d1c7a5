"""Anchors: the event chain's head written where a database administrator cannot rewrite history alone.

Whoever can write the database can edit an event and recompute every later hash and the head record: the
chain then checks out against itself. After each nightly the head (sequence number, hash, time) and the short
hashes of the events since the previous anchor go into a Drive file as a revision kept forever (one file per
month: Drive keeps at most 200 revisions forever per file), optionally signed with the district's Ed25519
key. ``verify-ledger`` reads every revision back and names the first event that differs from what was
anchored. The same head goes into the superintendent's workbook (Ledger sheet) and the report email.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.chain import PREFIX, ChainProblem, anchor_body, canonical, check_anchor, verify_signature
from compliance.google.clients import GoogleClients
from compliance.google.workspace import download_revision, find_files, keep_revision, list_revisions
from compliance.ledger import chain_end
from compliance.models import LedgerAnchor, LedgerEvent, SyncState
from compliance.settings import Settings

ANCHOR_FORMAT = "district-compliance ledger anchor v1"
ANCHOR_PREFIX = "ledger-anchors-"
JSON_MIME = "application/json"


def anchor_file_name(now: datetime, time_zone: str) -> str:
    """The month's anchor file: a new one each month keeps every file under Drive's 200 kept revisions."""
    return f"{ANCHOR_PREFIX}{now.astimezone(ZoneInfo(time_zone)):%Y-%m}.json"


@dataclass(frozen=True, slots=True)
class Signer:
    """The district's Ed25519 signing key (PEM, unencrypted, readable only by the nightly's account)."""

    key_id: str
    private_pem: bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Signer | None:
        path = settings.ledger.signing_key_path
        if path is None:
            return None
        pem = Path(path).read_bytes()
        return cls(settings.ledger.signing_key_id or public_key_id(public_key_b64(pem)), pem)

    def sign(self, body: bytes) -> str:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        key = load_pem_private_key(self.private_pem, password=None)
        return base64.b64encode(key.sign(body)).decode()  # type: ignore[call-arg,union-attr]


def generate_key_pem() -> bytes:
    """A new Ed25519 private key as PEM (``district-compliance evidence keygen``)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def public_key_b64(private_pem: bytes) -> str:
    """The raw public key, base64: the value the profile's ``[ledger.public_keys]`` holds."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_pem, password=None)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def public_key_id(public_b64: str) -> str:
    import hashlib

    return "ed25519:" + hashlib.sha256(base64.b64decode(public_b64)).hexdigest()[:16]


def build_anchor(session: Session, now: datetime, *, since_seq: int, signer: Signer | None = None) -> dict[str, Any]:
    """The anchor of the chain as it stands: head, time, and the short hash of every event after ``since_seq``."""
    seq, head = chain_end(session)
    since = since_seq if 0 <= since_seq <= seq else 0
    hashes = session.scalars(
        select(LedgerEvent.hash).where(LedgerEvent.seq > since, LedgerEvent.seq <= seq).order_by(LedgerEvent.seq)
        .execution_options(yield_per=10000)
    )
    anchor: dict[str, Any] = {
        "format": ANCHOR_FORMAT,
        "seq": seq,
        "hash": head,
        "time": now.astimezone(UTC).isoformat(timespec="seconds"),
        "since_seq": since,
        "hashes": "".join(h[:PREFIX] for h in hashes),
    }
    if signer is not None:
        anchor["key_id"] = signer.key_id
        anchor["signature"] = signer.sign(anchor_body(anchor))
    return anchor


def write_anchor(session: Session, clients: GoogleClients, settings: Settings, now: datetime) -> LedgerAnchor:
    """Write tonight's anchor as a kept Drive revision and note it in ``ledger_anchors`` (for the report)."""
    last = session.scalars(select(LedgerAnchor).order_by(LedgerAnchor.seq.desc(), LedgerAnchor.id.desc())).first()
    anchor = build_anchor(session, now, since_seq=last.seq if last else 0, signer=Signer.from_settings(settings))
    name = anchor_file_name(now, settings.district.time_zone)
    folder = settings.ledger.anchor_drive_folder_id
    state_key = f"ledger.anchor_file.{name}"
    state = session.get(SyncState, state_key)
    file_id = state.value if state is not None else None
    if file_id is None:
        found = [f for f in find_files(clients, _anchor_query(folder, name)) if f.get("name") == name]
        file_id = found[0]["id"] if found else None
    written = keep_revision(clients, name, JSON_MIME, canonical(anchor).encode("utf-8"), file_id=file_id,
                            parents=[folder] if folder else None, app_properties={"dcLedger": "anchor"})
    if state is None:
        session.add(SyncState(key=state_key, value=written["id"], updated_at=now))
    row = LedgerAnchor(seq=anchor["seq"], hash=anchor["hash"], anchored_at=now, drive_file_id=written["id"],
                       drive_revision_id=written.get("headRevisionId"), key_id=anchor.get("key_id"),
                       signature=anchor.get("signature"))
    session.add(row)
    session.flush()
    return row


def _anchor_query(folder: str | None, name: str | None = None) -> str:
    clauses = [f"name = '{name}'" if name else f"name contains '{ANCHOR_PREFIX}'", "trashed = false"]
    if folder:
        clauses.append(f"'{folder}' in parents")
    return " and ".join(clauses)


def read_drive_anchors(clients: GoogleClients, settings: Settings) -> list[tuple[str, dict[str, Any]]]:
    """Every anchor in every revision of every anchor file in Drive, labelled with where it was read."""
    out: list[tuple[str, dict[str, Any]]] = []
    for f in find_files(clients, _anchor_query(settings.ledger.anchor_drive_folder_id)):
        if not str(f.get("name", "")).startswith(ANCHOR_PREFIX):
            continue
        for rev in list_revisions(clients, f["id"]):
            content = download_revision(clients, f["id"], rev["id"])
            try:
                anchor = json.loads(content)
            except ValueError:
                continue  # not an anchor (someone saved something else): nothing to compare with
            if isinstance(anchor, dict) and anchor.get("format") == ANCHOR_FORMAT:
                out.append((f"Drive {f['name']} revision {rev['id']} ({rev.get('modifiedTime', '')})", anchor))
    return out


def stored_anchors(session: Session) -> list[tuple[str, dict[str, Any]]]:
    """The copies in ``ledger_anchors`` (as weak as the database itself, but they show an edit made since)."""
    return [
        (f"ledger_anchors row {a.id} ({a.anchored_at:%Y-%m-%d %H:%M} UTC)",
         {"seq": a.seq, "hash": a.hash, "since_seq": a.seq})
        for a in session.scalars(select(LedgerAnchor).order_by(LedgerAnchor.id))
    ]


def check_against_anchors(
    hashes_by_seq: Mapping[int, str],
    anchors: Iterable[tuple[str, Mapping[str, Any]]],
    public_keys: Mapping[str, str],
) -> list[ChainProblem]:
    """Every disagreement between the chain and the anchors, first event first."""
    problems: list[ChainProblem] = []
    for source, anchor in anchors:
        if anchor.get("signature"):
            bad = verify_signature(anchor, public_keys)
            if bad is not None:
                problems.append(ChainProblem(bad.kind, bad.seq, f"{source}: {bad.detail}"))
                continue  # an anchor whose signature fails proves nothing about the chain
        problems.extend(check_anchor(anchor, hashes_by_seq, source))
    return sorted(problems, key=lambda p: (p.seq if p.seq is not None else 0, p.kind))


def chain_hashes(session: Session) -> dict[int, str]:
    return {int(s): str(h) for s, h in session.execute(select(LedgerEvent.seq, LedgerEvent.hash))}


def anchors_between(session: Session, start: datetime | None, end: datetime) -> Sequence[LedgerAnchor]:
    """Anchors written after ``start`` (exclusive; None: all) up to ``end``: the report's Ledger sheet."""
    stmt = select(LedgerAnchor).where(LedgerAnchor.anchored_at <= end).order_by(LedgerAnchor.anchored_at)
    if start is not None:
        stmt = stmt.where(LedgerAnchor.anchored_at > start)
    return list(session.scalars(stmt))
