"""Evidence bundles: one zip per person or finding that a lawyer, an auditor or the person can check alone.

The zip holds ``evidence.json`` (what was sent and when, what was signed with which policy revision and hash,
the chain entries about the subject and the anchors that cover them), ``index.html`` (the same, readable)
and ``VERIFY.txt``. Its comment is ``sha256:<hex>`` of every byte before the comment, so a change to any byte
of the file is found. :func:`verify_bundle` needs only the bundle and the standard library (plus
``cryptography`` for a signed anchor): each entry's hash is recomputed, each must appear in an anchor's list
of short hashes, and a signed anchor's signature is checked against the public key the bundle names (compare
it with the district profile's). The Drive file and revision each anchor came from are named, so anyone can
also fetch that revision and compare.
"""

from __future__ import annotations

import html
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from compliance.chain import PREFIX, Entry, canonical, sha256_hex, verify_signature

BUNDLE_FORMAT = "district-compliance evidence bundle v1"
_COMMENT_PREFIX = b"sha256:"
# Fixed zip timestamps: the same evidence makes the same bytes (re-running a bundle changes nothing).
_ZIP_TIME = (2000, 1, 1, 0, 0, 0)


def covering_anchor(seq: int, anchors: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The anchor whose short-hash list includes event ``seq`` (the earliest, if several do)."""
    for anchor in sorted(anchors, key=lambda a: int(a["seq"])):
        since = int(anchor.get("since_seq", 0))
        if since < seq <= int(anchor["seq"]) and len(str(anchor.get("hashes", ""))) >= (seq - since) * PREFIX:
            return anchor
    return None


def make_bundle(document: Mapping[str, Any]) -> bytes:
    """The zip for ``document`` (evidence.json content), with its readable page and its own hash."""
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in (
            ("evidence.json", json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode()),
            ("index.html", render_html(document).encode()),
            ("VERIFY.txt", VERIFY_TEXT.encode()),
        ):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    raw = body.getvalue()
    # The comment is written last, after the end-of-central-directory record that states its length: hash
    # everything up to and including that length with the length already set.
    tag_len = len(_COMMENT_PREFIX) + 64
    prefix = raw[:-2] + tag_len.to_bytes(2, "little")
    return prefix + _COMMENT_PREFIX + sha256_hex(prefix).encode()


VERIFY_TEXT = """How to check this bundle

  district-compliance evidence verify THIS-FILE.zip

needs no database and no network. It checks that no byte of the zip has changed, recomputes the hash of every
ledger entry in evidence.json, checks that each entry is listed in an anchor (the chain head the district
wrote to Google Drive as a revision kept forever, named in evidence.json), and checks the anchor's Ed25519
signature when there is one. Compare the public key shown with the district's published key, and, to be sure
the anchor itself is genuine, open the named Drive revision and compare its hash with the one shown.
"""


def verify_bundle(data: bytes) -> list[str]:
    """Every reason the bundle cannot be trusted (empty: it verifies). Pure Python; no database."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            comment = zf.comment
            names = zf.namelist()
            document = json.loads(zf.read("evidence.json"))
            page = zf.read("index.html").decode()
            zf.testzip()
    except Exception as exc:  # a damaged zip in any way is simply not evidence
        return [f"not a readable bundle: {type(exc).__name__}: {exc}"]
    if not comment.startswith(_COMMENT_PREFIX) or not data.endswith(comment):
        return ["the bundle's own hash is missing"]
    if sha256_hex(data[: len(data) - len(comment)]).encode() != comment[len(_COMMENT_PREFIX):]:
        return ["the bundle was changed after it was made (its bytes do not match its hash)"]
    problems: list[str] = []
    if sorted(names) != ["VERIFY.txt", "evidence.json", "index.html"]:
        problems.append(f"unexpected files in the bundle: {sorted(names)}")
    if document.get("format") != BUNDLE_FORMAT:
        return [*problems, f"unknown bundle format {document.get('format')!r}"]
    if page != render_html(document):
        problems.append("index.html does not show what evidence.json holds")
    anchors = [a["anchor"] for a in document.get("anchors", [])]
    keys = document.get("public_keys") or {}
    for item in document.get("anchors", []):
        bad = verify_signature(item["anchor"], keys)
        if bad is not None:
            problems.append(f"anchor {item['anchor'].get('seq')}: {bad.detail}")
    for raw in document.get("chain", []):
        entry = Entry.from_dict(raw)
        if entry.computed_hash() != entry.hash:
            problems.append(f"event {entry.seq}: its content does not match its hash")
            continue
        anchor = covering_anchor(entry.seq, anchors)
        if anchor is None:
            continue  # newer than the last anchor: listed as not yet anchored, not a failure
        i = entry.seq - int(anchor.get("since_seq", 0)) - 1
        listed = str(anchor.get("hashes", ""))[i * PREFIX:(i + 1) * PREFIX]
        if listed != entry.hash[:PREFIX] or (entry.seq == int(anchor["seq"]) and entry.hash != anchor["hash"]):
            problems.append(f"event {entry.seq}: differs from what the anchor of event {anchor['seq']} recorded")
    for ack in document.get("acknowledgements", []):
        evidence = ack.get("evidence", "")
        if sha256_hex(evidence.encode("utf-8")) != ack.get("evidence_sha256"):
            problems.append(f"acknowledgement {ack.get('acknowledgement_id')}: evidence does not match its hash")
        if json.loads(evidence).get("policy_sha256") != ack.get("policy_sha256"):
            problems.append(f"acknowledgement {ack.get('acknowledgement_id')}: policy hash differs from the evidence")
        if not any(json.loads(e["payload"]).get("evidence_sha256") == ack.get("evidence_sha256")
                   for e in document.get("chain", []) if e["kind"].endswith("acknowledgement")):
            problems.append(f"acknowledgement {ack.get('acknowledgement_id')}: not in the chain entries")
    return problems


def unanchored(document: Mapping[str, Any]) -> list[int]:
    """Chain entries in the bundle that no anchor covers yet (recorded after the last nightly's anchor)."""
    anchors = [a["anchor"] for a in document.get("anchors", [])]
    return [int(e["seq"]) for e in document.get("chain", []) if covering_anchor(int(e["seq"]), anchors) is None]


# -- the readable page ---------------------------------------------------------------------------------------


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape('' if r.get(c) is None else str(r.get(c)))}</td>" for c in columns)
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(document: Mapping[str, Any]) -> str:
    """The bundle as a page a person reads (deterministic: verification re-renders and compares)."""
    subject = document.get("subject", {})
    chain_rows = [{**{k: e[k] for k in ("seq", "kind", "recorded_at", "hash")}} for e in document.get("chain", [])]
    anchor_rows = [{"seq": a["anchor"]["seq"], "hash": a["anchor"]["hash"], "time": a["anchor"].get("time"),
                    "where": a.get("source"), "signed by": a["anchor"].get("key_id")}
                   for a in document.get("anchors", [])]
    parts = [
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Evidence bundle</title>",
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}td,th{border:1px solid #999;"
        "padding:2px 6px;font-size:90%}</style></head><body>",
        f"<h1>AR 1114 evidence: {html.escape(str(subject.get('kind')))} {html.escape(str(subject.get('id')))}</h1>",
        f"<p>Made {html.escape(str(document.get('generated_at')))} by district-compliance. "
        "Check it with <code>district-compliance evidence verify</code> (see VERIFY.txt).</p>",
        "<h2>Sent</h2>", _table(document.get("sent", []), ["delivery_kind", "sent_at", "gmail_message_id", "seq"]),
        "<h2>Signed</h2>",
        _table(document.get("acknowledgements", []),
               ["method", "submitted_at", "policy_revision_id", "policy_sha256", "evidence_sha256"]),
        "<h2>Findings</h2>", _table(document.get("findings", []),
                                    ["kind", "recorded_at", "page_url", "image_sha256", "evidence_sha256", "seq"]),
        "<h2>Ledger entries</h2>", _table(chain_rows, ["seq", "kind", "recorded_at", "hash"]),
        "<h2>Anchors outside the database</h2>", _table(anchor_rows, ["seq", "hash", "time", "where", "signed by"]),
        "</body></html>",
    ]
    return "\n".join(parts)


def bundle_document(
    subject: Mapping[str, Any],
    entries: Sequence[Entry],
    anchors: Sequence[tuple[str, Mapping[str, Any]]],
    *,
    acknowledgements: Sequence[Mapping[str, Any]] = (),
    public_keys: Mapping[str, str] | None = None,
    generated_at: datetime,
) -> dict[str, Any]:
    """Assemble evidence.json from chain entries (already selected for the subject) and the anchors read."""
    needed = {int(a["seq"]): (src, a) for src, a in anchors}
    kept: list[dict[str, Any]] = []
    anchor_list = [a for _, a in anchors]
    for e in entries:
        found = covering_anchor(e.seq, anchor_list)
        if found is not None:
            src = needed[int(found["seq"])][0]
            if all(k["anchor"] is not found for k in kept):
                kept.append({"source": src, "anchor": dict(found)})
    if anchors:
        src, latest = max(anchors, key=lambda sa: int(sa[1]["seq"]))
        if all(k["anchor"] is not latest for k in kept):
            kept.append({"source": src, "anchor": dict(latest)})
    sent, findings = [], []
    for e in entries:
        payload = json.loads(e.payload)
        if e.kind in ("mail_sent", "takedown_sent"):
            sent.append({"seq": e.seq, **{k: payload.get(k) for k in ("delivery_kind", "sent_at", "gmail_message_id",
                                                                       "delivery_key")}})
        elif e.kind.startswith("finding_"):
            findings.append({"seq": e.seq, "kind": e.kind, "recorded_at": e.recorded_at,
                             **{k: payload.get(k) for k in ("page_url", "image_sha256", "evidence_sha256")}})
    return {
        "format": BUNDLE_FORMAT,
        "subject": dict(subject),
        "generated_at": generated_at.astimezone(UTC).isoformat(timespec="seconds"),
        "sent": sent,
        "acknowledgements": list(acknowledgements),
        "findings": findings,
        "chain": [e.as_dict() for e in entries],
        "anchors": sorted(kept, key=lambda k: int(k["anchor"]["seq"])),
        "public_keys": dict(public_keys or {}),
    }


__all__ = ["BUNDLE_FORMAT", "bundle_document", "canonical", "make_bundle", "render_html", "unanchored",
           "verify_bundle"]
