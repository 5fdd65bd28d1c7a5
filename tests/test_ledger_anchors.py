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


# -- the heads in the superintendent's workbook and the report email ----------------------------------------

REPORT_AT = T0 + timedelta(days=2)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def report_everywhere(store: Store, clients: GoogleClients, settings: Settings, tmp_path: Path) -> Path:
    """What the weekly report does with the head: the workbook (Ledger sheet) into Drive, and the email quoting
    the head sent from a sender's mailbox (through the same renderer and Gmail API as the outbox), its delivery
    row kept with the variables it quoted."""
    from compliance.google.workspace import send_message, upload_file
    from compliance.mailings import MessageFactory
    from compliance.models import Delivery
    from compliance.report import collect_report_data, record_report_run, report_filename, write_workbook
    from compliance.report.emails import plan_report_emails

    with store.session() as s:
        data = collect_report_data(s, REPORT_AT, settings)
        path = write_workbook(data, tmp_path / report_filename(REPORT_AT), district_name="Standard",
                              generated_at=REPORT_AT)
        record_report_run(s, data, str(path))
    upload_file(clients, path.name, XLSX, path.read_bytes())
    sender = str(settings.senders[0])
    [planned] = plan_report_emails(["superintendent@standard-sd.org"], data.summary, "", REPORT_AT)
    with store.session() as s:
        row = Delivery(idempotency_key=planned.idempotency_key, kind=planned.kind, recipient=planned.recipient,
                       context=planned.context, status="sending")
        s.add(row)
        s.flush()
        raw, _ = MessageFactory(s, settings, REPORT_AT)(row, sender)  # the outbox's own message builder
        row.gmail_message_id, row.status, row.sent_at = send_message(clients, sender, raw), "sent", REPORT_AT
    return path


def report_problems(store: Store, clients: GoogleClients, settings: Settings) -> dict[str, list[int | None]]:
    from compliance.anchors import read_report_emails, read_report_workbooks, stored_report_heads

    out = {}
    with store.session() as s:
        hashes = chain_hashes(s)
        for name, anchors in (("workbook", read_report_workbooks(clients, settings)),
                              ("email", read_report_emails(clients, settings)),
                              ("stored", stored_report_heads(s))):
            assert anchors, name  # each source was read: an empty one would pass vacuously
            out[name] = [p.seq for p in check_against_anchors(hashes, anchors, {})]
    return out


def test_workbook_and_email_heads_match_an_intact_chain(anchored: tuple[Store, GoogleClients, Settings],
                                                        tmp_path: Path) -> None:
    from compliance.anchors import read_report_emails, read_report_workbooks

    store, clients, settings = anchored
    report_everywhere(store, clients, settings, tmp_path)
    # The Ledger sheet: both nightly anchors (events 10 and 11); the head as the report read it is event 11
    # again, listed for the reader and read once.
    assert [(a["since_seq"], a["seq"]) for _, a in read_report_workbooks(clients, settings)] == [(None, 10), (10, 11)]
    [(source, head)] = read_report_emails(clients, settings)
    assert head["seq"] == 11 and len(head["hash"]) == 16 and "senders[0]" in source
    assert report_problems(store, clients, settings) == {"workbook": [], "email": [], "stored": []}


def test_a_recomputed_chain_is_caught_by_the_workbook_and_the_email(
    anchored: tuple[Store, GoogleClients, Settings], tmp_path: Path,
) -> None:
    store, clients, settings = anchored
    report_everywhere(store, clients, settings, tmp_path)
    with store.engine.begin() as conn:
        conn.execute(text("update ledger_events set person_id = 4 where seq = 11"))
    recompute_chain(store)
    found = report_problems(store, clients, settings)
    # Event 10 still matches; the heads at 11 (sheet, email, delivery row and report run) do not.
    assert found == {"workbook": [11], "email": [11], "stored": [11, 11]}


def test_verify_ledger_reads_every_anchor_and_names_the_first_event(
    anchored: tuple[Store, GoogleClients, Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command end to end against the emulator: Drive anchor files, the workbook in Drive and the one
    given on the command line, the email in Sent mail, the database's copies."""
    from typer.testing import CliRunner

    from compliance.settings import get_settings
    from compliance.shell.cli import app

    store, clients, settings = anchored
    path = report_everywhere(store, clients, settings, tmp_path)
    for name, value in (("DC_GOOGLE__EMULATOR_URL", settings.google.emulator_url),
                        ("DC_GOOGLE__CA_BUNDLE", str(settings.google.ca_bundle)),
                        ("DC_GOOGLE__SERVICE_ACCOUNT_JSON", str(settings.google.service_account_json)),
                        ("DC_GOOGLE__ADMIN_SUBJECT", ADMIN)):
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("COLUMNS", "400")  # one problem per line in the table, whatever the terminal
    get_settings.cache_clear()
    url = str(store.engine.url)
    runner = CliRunner()
    try:
        ok = runner.invoke(app, ["verify-ledger", "--database-url", url, "--workbook", str(path)])
        assert ok.exit_code == 0, ok.output
        assert "checked against 9 anchors (2 ledger anchors, 4 report workbooks, 1 report emails, " \
               "2 database copies of report heads)" in " ".join(ok.output.split())
        with store.engine.begin() as conn:
            conn.execute(text("update ledger_events set person_id = 4 where seq = 11"))
        recompute_chain(store)
        bad = runner.invoke(app, ["verify-ledger", "--database-url", url, "--workbook", str(path)])
    finally:
        get_settings.cache_clear()
    assert bad.exit_code == 1
    assert "first event that disagrees: 11" in bad.output
    assert "report email" in bad.output and "Ledger sheet" in bad.output
