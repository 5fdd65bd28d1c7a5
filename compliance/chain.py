"""The event chain's arithmetic, with nothing but the standard library: the evidence bundle's offline check
(``district-compliance evidence verify``) runs this same code without a database or the project's settings.

An event is hashed as ``sha256(prev_hash + "\\n" + canonical header)``, where the header holds the sequence
number, kind, natural key, the person and finding it concerns, the time it was recorded and the payload's
canonical JSON text. The sequence number is inside the hash, so moving an event (reordering) breaks it as
surely as editing it; ``prev_hash`` links each event to the one before, so deleting or inserting one breaks
the link after it. What the chain alone cannot show is a rewrite of every hash from the edit onwards: that is
what the anchors outside the database are for (compliance.anchors).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from json.encoder import encode_basestring as _json_str  # type: ignore[attr-defined]  # the C encoder
from typing import Any

GENESIS = "0" * 64
# Anchors list each covered event's hash shortened to this many hex digits (64 bits): enough to name the
# first event that disagrees, a quarter of the size of full hashes; the anchored head hash is always full.
PREFIX = 16


def canonical(value: Any) -> str:
    """Canonical JSON: sorted keys, no spaces, UTF-8 kept (the same bytes on every machine)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One chained event as stored (and as copied into an evidence bundle)."""

    seq: int
    kind: str
    event_key: str
    person_id: int | None
    finding_id: int | None
    delivery_id: int | None
    recorded_at: str  # UTC ISO 8601 with microseconds, as hashed
    payload: str  # canonical JSON text, as hashed
    prev_hash: str
    hash: str

    def header(self) -> bytes:
        return canonical(
            {
                "seq": self.seq,
                "kind": self.kind,
                "key": self.event_key,
                "person_id": self.person_id,
                "finding_id": self.finding_id,
                "delivery_id": self.delivery_id,
                "at": self.recorded_at,
                "payload": self.payload,
            }
        ).encode("utf-8")

    def computed_hash(self) -> str:
        return event_hash(self.prev_hash, self.header())

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "kind": self.kind,
            "event_key": self.event_key,
            "person_id": self.person_id,
            "finding_id": self.finding_id,
            "delivery_id": self.delivery_id,
            "recorded_at": self.recorded_at,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Entry:
        return cls(
            seq=int(d["seq"]),
            kind=str(d["kind"]),
            event_key=str(d["event_key"]),
            person_id=d.get("person_id"),
            finding_id=d.get("finding_id"),
            delivery_id=d.get("delivery_id"),
            recorded_at=str(d["recorded_at"]),
            payload=str(d["payload"]),
            prev_hash=str(d["prev_hash"]),
            hash=str(d["hash"]),
        )


def _json_value(value: int | None) -> str:
    return "null" if value is None else str(int(value))


def header_bytes(seq: int, kind: str, event_key: str, person_id: int | None, finding_id: int | None,
                 delivery_id: int | None, recorded_at: str, payload: str) -> bytes:
    """``Entry.header()`` without building the dict and re-encoding it: the same bytes, the keys in sorted
    order written out (appending a night of sends spends most of its CPU here)."""
    return (
        f'{{"at":{_json_str(recorded_at)},"delivery_id":{_json_value(delivery_id)},'
        f'"finding_id":{_json_value(finding_id)},"key":{_json_str(event_key)},"kind":{_json_str(str(kind))},'
        f'"payload":{_json_str(payload)},"person_id":{_json_value(person_id)},"seq":{int(seq)}}}'
    ).encode()


def event_hash(prev_hash: str, header: bytes) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + b"\n" + header).hexdigest()


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first place a chain (or an anchor) disagrees: ``seq`` names the event, ``kind`` what is wrong
    (edited | deleted | inserted | reordered | anchor | head | signature)."""

    kind: str
    seq: int | None
    detail: str


def walk(
    entries: Iterable[Entry], *, start_seq: int = 1, start_hash: str = GENESIS
) -> tuple[list[ChainProblem], int, str]:
    """Check consecutive entries; return (problems, last seq, last hash). Stops judging links after a break
    only as far as needed: each event's own hash is checked regardless, so several edits are all named."""
    problems: list[ChainProblem] = []
    expected_seq, expected_prev = start_seq, start_hash
    last_seq, last_hash = start_seq - 1, start_hash
    for e in entries:
        if e.computed_hash() != e.hash:
            problems.append(ChainProblem("edited", e.seq, "the event's content does not match its hash"))
        if e.seq != expected_seq:
            if e.seq > expected_seq:
                problems.append(ChainProblem("deleted", e.seq,
                                             f"events {expected_seq}..{e.seq - 1} are missing before this one"))
            else:
                problems.append(ChainProblem("reordered", e.seq, f"sequence number {e.seq} after {expected_seq - 1}"))
        elif e.prev_hash != expected_prev:
            problems.append(ChainProblem("inserted", e.seq, "prev_hash is not the hash of the event before it"))
        expected_seq, expected_prev = e.seq + 1, e.hash
        last_seq, last_hash = e.seq, e.hash
    return problems, last_seq, last_hash


# -- anchors -------------------------------------------------------------------------------------------------


def anchor_body(anchor: Mapping[str, Any]) -> bytes:
    """The bytes an anchor's signature covers: everything but the signature itself."""
    return canonical({k: v for k, v in anchor.items() if k not in ("signature",)}).encode("utf-8")


def check_anchor(anchor: Mapping[str, Any], hashes_by_seq: Mapping[int, str], source: str) -> list[ChainProblem]:
    """Compare one anchor (seq, hash, since_seq, hashes) with the chain's hashes; name the first event that
    disagrees. An anchor beyond the chain's end means events were removed from the end."""
    seq, head = int(anchor["seq"]), str(anchor["hash"])
    if seq == 0:
        return []
    if seq not in hashes_by_seq:
        return [ChainProblem("anchor", seq, f"{source} anchors event {seq}, which the chain does not have "
                                            "(events removed from the end)")]
    # A head quoted for people (the report email) is a PREFIX-digit short hash; anchors written for machines
    # hold the full one.
    if hashes_by_seq[seq] == head or (PREFIX <= len(head) < 64 and hashes_by_seq[seq].startswith(head)):
        return []
    if "hashes" not in anchor:
        # A head alone (a workbook row, an email) says the chain up to it changed, not where: the event it
        # names disagrees, and the change lies after the last head before it that still matches.
        since = anchor.get("since_seq")
        if since is None:
            where = f"an event up to {seq} was changed"
        elif int(since) + 1 >= seq:
            where = f"event {seq} itself was changed"
        else:
            where = f"an event from {int(since) + 1} to {seq} was changed"
        return [ChainProblem("anchor", seq, f"event {seq} differs from the head {source} recorded ({where})")]
    since = int(anchor.get("since_seq", seq - 1))
    prefixes = str(anchor.get("hashes", ""))
    for i in range(0, len(prefixes) // PREFIX):
        s = since + 1 + i
        if hashes_by_seq.get(s, "")[:PREFIX] != prefixes[i * PREFIX:(i + 1) * PREFIX]:
            return [ChainProblem("anchor", s, f"event {s} differs from what {source} recorded "
                                              f"(chain rewritten at or before event {s})")]
    return [ChainProblem("anchor", since + 1 if since < seq else seq,
                         f"the chain up to event {seq} differs from {source} (rewritten before event {since + 1})")]


def verify_signature(anchor: Mapping[str, Any], public_keys: Mapping[str, str]) -> ChainProblem | None:
    """Check an anchor's Ed25519 signature against the profile's public keys (key id -> base64 raw key).

    An unsigned anchor is not a problem here (signing is optional); a signed one with an unknown key or a bad
    signature is. Needs ``cryptography`` only when a signature is present.
    """
    signature = anchor.get("signature")
    if not signature:
        return None
    key_id = str(anchor.get("key_id", ""))
    if key_id not in public_keys:
        return ChainProblem("signature", int(anchor["seq"]), f"signed with key {key_id!r}, not a known public key")
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_keys[key_id]))
    try:
        key.verify(base64.b64decode(str(signature)), anchor_body(anchor))
    except InvalidSignature:
        return ChainProblem("signature", int(anchor["seq"]), f"signature by {key_id!r} does not match the anchor")
    return None
