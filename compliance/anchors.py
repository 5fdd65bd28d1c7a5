"""Anchors: the event chain's head written where a database administrator cannot rewrite history alone.

Whoever can write the database can edit an event and recompute every later hash and the head record: the
chain then checks out against itself. After each nightly the head (sequence number, hash, time) and the short
hashes of the events since the previous anchor go into a Drive file as a revision kept forever (one file per
month: Drive keeps at most 200 revisions forever per file), optionally signed with the district's Ed25519
key. ``verify-ledger`` reads every revision back and names the first event that differs from what was
anchored. The same head goes into the superintendent's workbook (Ledger sheet) and the report email; both
are read back too (the workbooks kept in Drive, the report emails in the senders' Sent mail, and the copies
the database keeps of what each email quoted), each a head without the short hashes between.
"""

from __future__ import annotations

import base64
import io
import json
import re
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
from compliance.google.workspace import (
    download_file,
    download_revision,
    find_files,
    get_message,
    keep_revision,
    list_message_ids,
    list_revisions,
)
from compliance.ledger import chain_end
from compliance.models import Delivery, LedgerAnchor, LedgerEvent, ReportRun, SyncState
from compliance.settings import Settings
from compliance.vocabulary import DeliveryKind

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


# -- heads in the superintendent's workbook and the report email ---------------------------------------------

REPORT_PREFIX = "compliance-report-"  # compliance.report.workbook.report_filename
_HEX64 = re.compile(r"[0-9a-f]{64}")
Anchors = list[tuple[str, dict[str, Any]]]


def workbook_heads(content: bytes, source: str) -> Anchors:
    """The heads a report workbook's Ledger sheet lists (row 1 the explanation, row 2 the header).

    Each head's ``since_seq`` is the head on the row above, so a mismatch says between which events the
    change lies. A workbook without a Ledger sheet (older reports) or that cannot be read gives nothing.
    """
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception:  # not a workbook at all (a damaged upload): nothing to compare with
        return []
    if "Ledger" not in wb.sheetnames:
        return []
    out: Anchors = []
    seen: set[tuple[int, str]] = set()
    below: int | None = None  # the last head listed below this one (a nightly anchor and the report's own
    for row in wb["Ledger"].iter_rows(min_row=3, max_col=2, values_only=True):  # head may be the same event)
        seq, head = row[0], str(row[1] or "")
        if not isinstance(seq, int) or not _HEX64.fullmatch(head) or (seq, head) in seen:
            continue
        seen.add((seq, head))
        since = max((s for s, _ in seen if s < seq), default=below)
        out.append((f"{source} Ledger sheet, event {seq}", {"seq": seq, "hash": head, "since_seq": since}))
    wb.close()
    return out


def read_report_workbooks(clients: GoogleClients, settings: Settings) -> Anchors:
    """The Ledger sheet heads of every report workbook kept in Drive (the report folder when configured)."""
    clauses = [f"name contains '{REPORT_PREFIX}'", "trashed = false"]
    if settings.report_drive_folder_id:
        clauses.append(f"'{settings.report_drive_folder_id}' in parents")
    out: Anchors = []
    for f in find_files(clients, " and ".join(clauses)):
        name = str(f.get("name", ""))
        if name.startswith(REPORT_PREFIX) and name.endswith(".xlsx"):
            out += workbook_heads(download_file(clients, f["id"]), f"Drive workbook {name} ({f['id']})")
    return out


def _plain_text(raw: bytes) -> str:
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    body = message.get_body(("plain",))  # type: ignore[attr-defined]
    return str(body.get_content()) if body is not None else ""


def email_heads(text: str, source: str) -> Anchors:
    """The heads a report email's text quotes, as head-only anchors with a short hash."""
    from compliance.report.emails import heads_in_text

    return [(f"{source}, event {seq}", {"seq": seq, "hash": short, "since_seq": None})
            for seq, short in heads_in_text(text)]


def read_report_emails(clients: GoogleClients, settings: Settings) -> Anchors:
    """The heads quoted by the report emails in each sender's Sent mail (Gmail keeps them; the database
    administrator cannot edit a sent message)."""
    out: Anchors = []
    for index, sender in enumerate(settings.senders):
        for gmail_id in list_message_ids(clients, str(sender), 'in:sent subject:"AR 1114"'):
            message = get_message(clients, str(sender), gmail_id, format="raw")
            raw = base64.urlsafe_b64decode(str(message.get("raw", "")) + "==")
            # Senders by position in the profile: logs and output carry no addresses.
            out += email_heads(_plain_text(raw), f"report email {gmail_id} in senders[{index}] Sent mail")
    return out


def stored_report_heads(session: Session) -> Anchors:
    """The heads the database recorded for each report: what each report email quoted (its delivery row)
    and the report run's summary. As weak as the database, but they show a chain rewritten since."""
    out: Anchors = []
    for d in session.scalars(select(Delivery).where(Delivery.kind == DeliveryKind.COMPLIANCE_REPORT)
                             .order_by(Delivery.id)):
        variables = (d.context or {}).get("vars") or {}
        if variables.get("ledger_hash") and variables.get("ledger_seq"):
            out.append((f"report email delivery {d.id}, event {variables['ledger_seq']}",
                        {"seq": int(variables["ledger_seq"]), "hash": str(variables["ledger_hash"]),
                         "since_seq": None}))
    for run in session.scalars(select(ReportRun).order_by(ReportRun.generated_at, ReportRun.id)):
        summary = run.summary or {}
        if summary.get("ledger_head_hash") and summary.get("ledger_events"):
            out.append((f"report run {run.id} summary, event {summary['ledger_events']}",
                        {"seq": int(summary["ledger_events"]), "hash": str(summary["ledger_head_hash"]),
                         "since_seq": None}))
    return out


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
