"""Anchors in Drive (kept revisions, via the emulator) catch the rewrite the chain alone cannot; bundles
verify offline and fail after any byte changes."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from ledger_support import recompute_chain
from sqlalchemy import text
from test_ledger_events import T0, populate

from compliance.anchors import (
    Signer,
    chain_hashes,
    check_against_anchors,
    generate_key_pem,
    public_key_b64,
    public_key_id,
    read_drive_anchors,
    write_anchor,
)
from compliance.bundle import make_bundle, verify_bundle
from compliance.evidence_export import finding_bundle, person_bundle
from compliance.google.clients import GoogleClients
from compliance.google.workspace import list_revisions
from compliance.ledger import EventDraft, append_events
from compliance.settings import Settings, load_settings
from compliance.store import Store

ADMIN = "it-admin@standard-sd.org"


def settings_for(emu: Any, **ledger: Any) -> Settings:
    return load_settings(
        google={"emulator_url": emu.base_url, "ca_bundle": emu.ca_path,
                "service_account_json": json.dumps(emu.service_account_info()), "admin_subject": ADMIN},
        ledger=ledger,
    )


@pytest.fixture
def anchored(emulator: Any, tmp_path: Path) -> tuple[Store, GoogleClients, Settings]:
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    populate(store)
    settings = settings_for(emulator)
    clients = GoogleClients(settings)
    with store.session() as s:
        write_anchor(s, clients, settings, T0)  # night 1 covers events 1..10
    with store.session() as s:
        append_events(s, [EventDraft("mail_sent", "later", {"delivery_key": "x"}, person_id=1)], T0)
        write_anchor(s, clients, settings, T0 + timedelta(days=1))  # night 2 covers event 11
    return store, clients, settings


def drive_problems(store: Store, clients: GoogleClients, settings: Settings) -> list[tuple[str, int | None]]:
    with store.session() as s:
        found = check_against_anchors(chain_hashes(s), read_drive_anchors(clients, settings),
                                      settings.ledger.public_keys)
    return [(p.kind, p.seq) for p in found]


def test_anchors_are_kept_drive_revisions(anchored: tuple[Store, GoogleClients, Settings]) -> None:
    store, clients, settings = anchored
    anchors = read_drive_anchors(clients, settings)
    assert [(a["since_seq"], a["seq"]) for _, a in anchors] == [(0, 10), (10, 11)]
    file_id = anchors[0][0].split()[1]
    assert file_id.startswith("ledger-anchors-2026-11")
    assert drive_problems(store, clients, settings) == []


def test_drive_revisions_are_kept_forever(anchored: tuple[Store, GoogleClients, Settings]) -> None:
    store, clients, settings = anchored
    with store.session() as s:
        from sqlalchemy import select

        from compliance.models import LedgerAnchor

        file_id = s.scalars(select(LedgerAnchor.drive_file_id)).first()
    revisions = list_revisions(clients, file_id)
    assert len(revisions) == 2 and all(r["keepForever"] for r in revisions)


def test_recomputed_chain_is_caught_by_the_drive_anchor(anchored: tuple[Store, GoogleClients, Settings]) -> None:
    store, clients, settings = anchored
    with store.engine.begin() as conn:
        # Move the first acknowledgement to a person who never signed, then make the chain agree with itself.
        conn.execute(text("update ledger_events set person_id = 4 where seq = 1"))
    recompute_chain(store)
    found = drive_problems(store, clients, settings)
    assert found[0] == ("anchor", 1)  # the first event that disagrees, named


def test_deleting_the_newest_events_and_rehashing_is_caught(anchored: tuple[Store, GoogleClients, Settings]) -> None:
    store, clients, settings = anchored
    with store.engine.begin() as conn:
        conn.execute(text("delete from ledger_events where seq = 11"))
    recompute_chain(store)
    assert drive_problems(store, clients, settings) == [("anchor", 11)]


def test_signed_anchor_verifies_and_a_forged_one_does_not(emulator: Any, tmp_path: Path) -> None:
    pem = generate_key_pem()
    key_path = tmp_path / "ledger.pem"
    key_path.write_bytes(pem)
    pub = public_key_b64(pem)
    settings = settings_for(emulator, signing_key_path=str(key_path), public_keys={public_key_id(pub): pub})
    store = Store(f"sqlite:///{tmp_path / 'c.db'}")
    populate(store)
    clients = GoogleClients(settings)
    with store.session() as s:
        row = write_anchor(s, clients, settings, T0)
    assert row.key_id == public_key_id(pub) and row.signature
    assert drive_problems(store, clients, settings) == []
    (_, anchor), = read_drive_anchors(clients, settings)
    forged = {**anchor, "hash": "f" * 64}
    other = generate_key_pem()
    forged["signature"] = Signer("x", other).sign(b"something else")
    with store.session() as s:
        found = check_against_anchors(chain_hashes(s), [("forged", forged)], settings.ledger.public_keys)
    assert [p.kind for p in found] == ["signature"]


def test_person_bundle_verifies_offline_and_fails_after_any_byte_changes(
    anchored: tuple[Store, GoogleClients, Settings],
) -> None:
    store, clients, settings = anchored
    with store.session() as s:
        data = person_bundle(s, 1, read_drive_anchors(clients, settings), settings, T0)
    assert verify_bundle(data) == []
    document = json.loads(__import__("zipfile").ZipFile(__import__("io").BytesIO(data)).read("evidence.json"))
    assert [e["kind"] for e in document["chain"]] == ["acknowledgement", "mail_sent"]
    assert document["acknowledgements"][0]["policy_sha256"] == "ab" * 32
    for i in range(len(data)):
        changed = bytearray(data)
        changed[i] ^= 0x01
        assert verify_bundle(bytes(changed)), f"byte {i} changed and the bundle still verified"


def test_a_rebuilt_bundle_with_a_forged_entry_fails(anchored: tuple[Store, GoogleClients, Settings]) -> None:
    store, clients, settings = anchored
    with store.session() as s:
        data = person_bundle(s, 3, read_drive_anchors(clients, settings), settings, T0)
    import io
    import zipfile

    document = json.loads(zipfile.ZipFile(io.BytesIO(data)).read("evidence.json"))
    entry = document["chain"][0]
    payload = json.loads(entry["payload"])
    payload["sent_at"] = "2026-09-01T00:00:00.000000+00:00"  # backdate the send, rehash the entry
    from compliance.chain import Entry, canonical

    forged = Entry.from_dict({**entry, "payload": canonical(payload), "hash": ""})
    document["chain"][0] = {**forged.as_dict(), "hash": forged.computed_hash()}
    # A bundle made anew (its own hash is right) still fails: the entry is not the one the anchor lists.
    assert any("differs from what the anchor" in p for p in verify_bundle(make_bundle(document)))


def test_finding_bundle(anchored: tuple[Store, GoogleClients, Settings]) -> None:
    store, clients, settings = anchored
    with store.session() as s:
        from sqlalchemy import select

        from compliance.models import Finding

        fid = s.scalars(select(Finding.id).where(Finding.state == "resolved")).one()
        data = finding_bundle(s, fid, read_drive_anchors(clients, settings), settings, T0)
    assert verify_bundle(data) == []
    document = json.loads(__import__("zipfile").ZipFile(__import__("io").BytesIO(data)).read("evidence.json"))
    assert [f["kind"] for f in document["findings"]] == ["finding_opened", "finding_resolved"]
