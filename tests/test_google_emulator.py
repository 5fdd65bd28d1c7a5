"""The Google client layer against the Workspace emulator over real HTTPS: tokens, batches, faults, limits."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from googleapiclient.http import MediaInMemoryUpload

from compliance.google import (
    DailyLimitExceeded,
    GoogleClients,
    InsufficientScope,
    NotFound,
    OutcomeUnknown,
    RateLimited,
    RetryPolicy,
)
from compliance.google import workspace as ws
from compliance.google.credentials import CredentialsError, load_service_account_info
from compliance.settings import Settings, load_settings

ADMIN = "admin@standard-sd.org"
SENDER = "policy-mail-1@standard-sd.org"
SENDER_2 = "policy-mail-2@standard-sd.org"
SCHOOL_OU = "/Schools/Lincoln Elementary"


def _user(email: str, given: str, family: str, ou: str = "/", **extra: Any) -> dict[str, Any]:
    return {
        "id": str(abs(hash(email)) % 10**12),
        "primaryEmail": email,
        "name": {"givenName": given, "familyName": family, "fullName": f"{given} {family}"},
        "orgUnitPath": ou,
        **extra,
    }


STAFF = [_user(f"teacher{i:02d}@standard-sd.org", f"T{i}", "Teacher", SCHOOL_OU) for i in range(7)]
DIRECTORY = {
    "users": [
        _user(ADMIN, "Ada", "Admin", "/District Office", isAdmin=True),
        _user(SENDER, "Policy", "Mail", "/District Office"),
        _user(SENDER_2, "Policy", "Mail Two", "/District Office"),
        *STAFF,
    ],
    "orgunits": [
        {"name": "Schools", "orgUnitPath": "/Schools", "parentOrgUnitPath": "/"},
        {"name": "Lincoln Elementary", "orgUnitPath": SCHOOL_OU, "parentOrgUnitPath": "/Schools"},
        {"name": "District Office", "orgUnitPath": "/District Office", "parentOrgUnitPath": "/"},
    ],
}


@pytest.fixture(scope="module")
def emu() -> Iterator[Any]:
    from emulator import WorkspaceEmulator

    with WorkspaceEmulator() as emulator:
        yield emulator


@pytest.fixture
def admin(emu: Any) -> Iterator[httpx.Client]:
    """The emulator's admin API, reset to an empty seeded workspace with default limits before each test."""
    from emulator.limits import EmulatorLimits

    tls = ssl.create_default_context(cafile=str(emu.ca_path))
    with httpx.Client(base_url=emu.base_url, verify=tls, timeout=30) as client:
        client.post("/_emulator/reset").raise_for_status()
        client.post("/_emulator/limits", json=EmulatorLimits().model_dump()).raise_for_status()
        client.post("/_emulator/seed", json={"directory": DIRECTORY}).raise_for_status()
        yield client


class FakeTime:
    """Sleep and clock for the retry policy: sleeping moves our clock and the emulator's together."""

    def __init__(self, admin: httpx.Client) -> None:
        self.admin = admin
        self.offset = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 3))
        self.offset += seconds
        self.admin.post("/_emulator/clock", json={"advance_seconds": seconds}).raise_for_status()

    def now(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.offset)


def settings_for(emu: Any, **google: Any) -> Settings:
    values = {
        "emulator_url": emu.base_url,
        "ca_bundle": emu.ca_path,
        "service_account_json": json.dumps(emu.service_account_info()),
        "admin_subject": ADMIN,
        **google,
    }
    return load_settings(google=values)


def clients_for(
    emu: Any, time: FakeTime, *, quotas: dict[str, Any] | None = None, **kwargs: Any
) -> GoogleClients:
    settings = settings_for(emu)
    if quotas:
        settings = settings.model_copy(update={"quotas": settings.quotas.model_copy(update=quotas)})
    policy = RetryPolicy(
        max_attempts=kwargs.pop("max_attempts", 6), sleep=time.sleep, rand=lambda: 1.0, clock=time.now
    )
    return GoogleClients(settings, policy=policy, **kwargs)


def stats(admin: httpx.Client) -> dict[str, Any]:
    return admin.get("/_emulator/stats").json()


def message(sender: str, to: str, subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(f"Please acknowledge AR 1114. ({subject})")
    return bytes(msg)


# -- credentials and the factory -------------------------------------------------------------------


def test_key_file_token_uri_and_delegation(emu: Any, admin: httpx.Client, tmp_path: Path) -> None:
    key = tmp_path / "sa.json"
    key.write_text(json.dumps(emu.service_account_info()))
    settings = settings_for(emu, service_account_json=None, service_account_file=key)
    clients = GoogleClients(settings)
    assert load_service_account_info(settings)["token_uri"] == f"{emu.base_url}/token"

    # Same production path: JWT-bearer grant at the key's token_uri, subject = the delegated mailbox.
    profile = clients.gmail(SENDER).users().getProfile(userId="me").execute()
    assert profile["emailAddress"] == SENDER
    other = clients.gmail(SENDER_2).users().getProfile(userId="me").execute()
    assert other["emailAddress"] == SENDER_2
    assert stats(admin)["tokens_issued"] == 2  # one grant per (api, subject), cached afterwards
    clients.gmail(SENDER).users().getProfile(userId="me").execute()
    assert stats(admin)["tokens_issued"] == 2

    assert clients.endpoint("drive") == f"{emu.base_url}/drive/v3/"
    assert clients.batch_uri("gmail") == f"{emu.base_url}/batch/gmail/v1"


def test_production_endpoints_without_emulator(emu: Any) -> None:
    # No emulator_url: the discovery documents' Google endpoints (requests are built, never sent).
    clients = GoogleClients(settings_for(emu, emulator_url=None, ca_bundle=None))
    assert clients.endpoint("gmail") is None
    assert clients.batch_uri("gmail") == "https://gmail.googleapis.com/batch/gmail/v1"
    assert clients.batch_uri("drive") == "https://www.googleapis.com/batch/drive/v3"
    send = clients.gmail(SENDER).users().messages().send(userId="me", body={"raw": "eA"})
    assert send.uri.startswith("https://gmail.googleapis.com/gmail/v1/users/me/messages/send")
    users = clients.directory().users().list(customer="my_customer")
    assert users.uri.startswith("https://admin.googleapis.com/admin/directory/v1/users")

    emulated = GoogleClients(settings_for(emu))
    upload = emulated.drive().files().create(body={"name": "x"}, media_body=MediaInMemoryUpload(b"x", "text/plain"))
    assert upload.uri.startswith(f"{emu.base_url}/upload/drive/v3/files")


def test_ca_bundle_is_what_makes_tls_trusted(emu: Any, admin: httpx.Client) -> None:
    clients = GoogleClients(settings_for(emu, ca_bundle=None))
    with pytest.raises(ssl.SSLCertVerificationError):
        ws.list_orgunits(clients)


def test_missing_key_is_a_clear_error(emu: Any) -> None:
    clients = GoogleClients(settings_for(emu, service_account_json=None))
    with pytest.raises(CredentialsError, match="service_account_file"):
        ws.list_orgunits(clients)
    broken = GoogleClients(settings_for(emu, service_account_json='{"type": "authorized_user"}'))
    with pytest.raises(CredentialsError, match="not a service-account key"):
        ws.list_orgunits(broken)


def test_narrow_scope_is_refused_with_a_typed_error(emu: Any, admin: httpx.Client) -> None:
    time = FakeTime(admin)
    narrow = clients_for(
        emu,
        time,
        scopes={
            "drive": ["https://www.googleapis.com/auth/drive.readonly"],
            "gmail": ["https://www.googleapis.com/auth/gmail.readonly"],
        },
    )
    with pytest.raises(InsufficientScope) as caught:
        ws.upload_file(narrow, "x.txt", "text/plain", b"x")
    assert caught.value.status == 403 and caught.value.insufficient_scope
    result = ws.send_messages(narrow, SENDER, [("k", message(SENDER, "a@example.org", "s"))])
    assert isinstance(result["k"], InsufficientScope)
    assert time.sleeps == []  # never retried
    assert stats(admin)["messages_sent"] == 0


# -- Directory -------------------------------------------------------------------------------------


def test_list_users_pages_and_filters_by_org_unit(emu: Any, admin: httpx.Client) -> None:
    clients = clients_for(emu, FakeTime(admin))
    users = list(ws.list_users(clients, org_unit_path=SCHOOL_OU, page_size=2))
    assert sorted(u["primaryEmail"] for u in users) == sorted(u["primaryEmail"] for u in STAFF)
    assert stats(admin)["calls"]["directory.users.list"] == 4  # 7 users, 2 a page
    everyone = list(ws.list_users(clients, page_size=3))
    assert len(everyone) == len(DIRECTORY["users"])
    assert len({u["primaryEmail"] for u in everyone}) == len(everyone)  # no duplicates across pages
    paths = {ou["orgUnitPath"] for ou in ws.list_orgunits(clients)}
    assert {"/Schools", SCHOOL_OU, "/District Office"} <= paths
    with pytest.raises(NotFound):
        ws.get_user(clients, "nobody@standard-sd.org")
    assert ws.get_user(clients, STAFF[0]["primaryEmail"])["orgUnitPath"] == SCHOOL_OU


# -- Gmail -----------------------------------------------------------------------------------------


def test_hundred_sends_in_batches_of_fifty_all_delivered(emu: Any, admin: httpx.Client) -> None:
    time = FakeTime(admin)
    clients = clients_for(emu, time, quotas={"gmail_batch_size": 50})
    # The emulator refuses any batch over 50 parts, so passing proves the chunking.
    admin.post("/_emulator/limits", json={"batch_max_parts": 50}).raise_for_status()
    messages = [(i, message(SENDER, f"person{i}@example.org", f"ack {i}")) for i in range(100)]
    result = ws.send_messages(clients, SENDER, messages)

    assert len(result) == 100 and all(isinstance(v, str) for v in result.values()), result
    assert len(set(result.values())) == 100
    assert stats(admin)["batches"] == 2
    # 60 sends a minute per user: the second 50 waited for the first minute's sends to age out.
    assert len(time.sleeps) == 1 and 59 < time.sleeps[0] <= 60.001
    delivered = admin.get("/_emulator/mail", params={"sender": SENDER}).json()
    assert len(delivered) == 100
    assert {m["id"] for m in delivered} == set(result.values())
    assert {m["to"][0] for m in delivered} == {f"person{i}@example.org" for i in range(100)}


def test_429_then_success_with_backoff(emu: Any, admin: httpx.Client) -> None:
    time = FakeTime(admin)
    clients = clients_for(emu, time)
    fault = {"method": "gmail.users.messages.send", "error_rate": 1.0, "statuses": [429], "count": 2}
    admin.post("/_emulator/faults", json=fault).raise_for_status()
    gmail_id = ws.send_message(clients, SENDER, message(SENDER, "a@example.org", "retry me"))
    assert stats(admin)["calls"]["gmail.users.messages.send"] == 3
    assert time.sleeps == [1.0, 2.0]  # full jitter with rand()=1: base * 2**n
    assert [m["id"] for m in admin.get("/_emulator/mail").json()] == [gmail_id]


def test_retries_are_capped(emu: Any, admin: httpx.Client) -> None:
    time = FakeTime(admin)
    clients = clients_for(emu, time, max_attempts=3)
    fault = {"method": "directory.orgunits.list", "error_rate": 1.0, "statuses": [503]}
    admin.post("/_emulator/faults", json=fault).raise_for_status()
    with pytest.raises(RateLimited) as caught:
        ws.list_orgunits(clients)
    assert caught.value.status == 503
    assert stats(admin)["calls"]["directory.orgunits.list"] == 3
    assert time.sleeps == [1.0, 2.0]


def test_batch_retries_only_failed_parts(emu: Any, admin: httpx.Client) -> None:
    time = FakeTime(admin)
    clients = clients_for(emu, time)
    fault = {"method": "gmail.users.messages.send", "error_rate": 1.0, "statuses": [429, 503], "count": 3}
    admin.post("/_emulator/faults", json=fault).raise_for_status()
    messages = [(f"m{i}", message(SENDER, f"p{i}@example.org", f"s{i}")) for i in range(10)]
    result = ws.send_messages(clients, SENDER, messages)
    assert all(isinstance(v, str) for v in result.values()), result
    assert stats(admin)["calls"]["gmail.users.messages.send"] == 13  # 10 + the 3 failed parts once more
    assert len(admin.get("/_emulator/mail").json()) == 10  # nobody got two copies
    assert time.sleeps == [1.0]


def test_daily_limit_pauses_the_sender(emu: Any, admin: httpx.Client) -> None:
    time = FakeTime(admin)
    clients = clients_for(emu, time, quotas={"gmail_batch_size": 2})
    admin.post("/_emulator/limits", json={"gmail_daily_per_sender": 3}).raise_for_status()
    messages = [(i, message(SENDER, f"p{i}@example.org", f"s{i}")) for i in range(5)]
    result = ws.send_messages(clients, SENDER, messages)

    assert [isinstance(result[i], str) for i in range(3)] == [True, True, True]
    refused, skipped = result[3], result[4]
    assert isinstance(refused, DailyLimitExceeded) and refused.attempted
    assert refused.sender == SENDER and refused.reason == "dailyLimitExceeded"
    assert timedelta(hours=23) < refused.retry_at - time.now() <= timedelta(hours=24, seconds=5)
    assert isinstance(skipped, DailyLimitExceeded) and not skipped.attempted  # third batch never sent
    assert stats(admin)["calls"]["gmail.users.messages.send"] == 4
    assert time.sleeps == []  # a daily limit is not waited out

    # Another sender is unaffected; a single send from the blocked one raises.
    assert isinstance(
        ws.send_messages(clients, SENDER_2, [("x", message(SENDER_2, "q@example.org", "q"))])["x"], str
    )
    with pytest.raises(DailyLimitExceeded) as caught:
        ws.send_message(clients, SENDER, message(SENDER, "z@example.org", "z"))
    assert caught.value.sender == SENDER


def test_gmail_mail_sending_429_is_a_daily_limit(emu: Any, admin: httpx.Client) -> None:
    time = FakeTime(admin)
    clients = clients_for(emu, time)
    admin.post(
        "/_emulator/limits", json={"gmail_daily_per_sender": 1, "gmail_daily_style": "mailSendingLimit"}
    ).raise_for_status()
    result = ws.send_messages(
        clients, SENDER, [(i, message(SENDER, f"p{i}@example.org", "s")) for i in range(2)]
    )
    assert isinstance(result[0], str)
    blocked = result[1]
    assert isinstance(blocked, DailyLimitExceeded) and blocked.status == 429
    assert blocked.sender == SENDER
    assert blocked.retry_at - time.now() > timedelta(hours=23)
    assert time.sleeps == []


def test_connection_timeouts_retry_reads_but_not_sends(emu: Any, admin: httpx.Client) -> None:
    time = FakeTime(admin)
    settings = settings_for(emu, timeout_seconds=0.5)
    clients = GoogleClients(settings, policy=RetryPolicy(sleep=time.sleep, rand=lambda: 1.0, clock=time.now))
    hang = {"error_rate": 0.0, "timeout_rate": 1.0, "hang_ms": 1500, "count": 1}
    admin.post("/_emulator/faults", json={"method": "directory.orgunits.list", **hang}).raise_for_status()
    assert ws.list_orgunits(clients)  # a read: the timed-out call is simply made again
    assert time.sleeps == [1.0]

    admin.post("/_emulator/faults", json={"method": "gmail.users.messages.send", **hang}).raise_for_status()
    result = ws.send_messages(clients, SENDER, [(i, message(SENDER, f"p{i}@example.org", "s")) for i in range(3)])
    # A send whose answer never came may have gone out: reported, never resent blindly.
    assert all(isinstance(v, OutcomeUnknown) for v in result.values()), result
    assert time.sleeps == [1.0]
    assert stats(admin)["batches"] == 1  # the batch was not sent again
    # The emulator finishes the hung batch in its own time; wait so the next test starts clean.
    deadline = datetime.now(UTC) + timedelta(seconds=10)
    while stats(admin)["calls"]["gmail.users.messages.send"] < 3 and datetime.now(UTC) < deadline:
        threading.Event().wait(0.05)


def test_bounce_lookup(emu: Any, admin: httpx.Client) -> None:
    clients = clients_for(emu, FakeTime(admin))
    sent = ws.send_message(clients, SENDER, message(SENDER, "gone@example.org", "policy"))
    admin.post("/_emulator/mail/bounce", json={"message_id": sent}).raise_for_status()
    ids = list(ws.list_message_ids(clients, SENDER, "from:mailer-daemon"))
    assert len(ids) == 1
    bounce = ws.get_message(clients, SENDER, ids[0], format="full")
    headers = {h["name"].lower(): h["value"] for h in bounce["payload"]["headers"]}
    assert "mailer-daemon" in headers["from"].lower()


# -- Drive -----------------------------------------------------------------------------------------


def test_drive_upload_export_revisions_permissions(emu: Any, admin: httpx.Client) -> None:
    # silent shares need Google accounts: the recipients are Directory users
    users = [{"primaryEmail": f"{u}@standard-sd.org", "name": {}} for u in ("superintendent", "chief-of-staff")]
    admin.post("/_emulator/seed", json={"directory": {"users": users}}).raise_for_status()
    clients = clients_for(emu, FakeTime(admin))
    doc = ws.upload_file(
        clients,
        "AR 1114 policy",
        "text/html",
        b"<html><body><p>Policy text</p></body></html>",
        convert_to="application/vnd.google-apps.document",
    )
    assert doc["mimeType"] == "application/vnd.google-apps.document"
    assert b"Policy text" in ws.export_file(clients, doc["id"], "text/plain")

    xlsx_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    report = ws.upload_file(clients, "report.xlsx", xlsx_type, b"PK\x03\x04 first")
    ws.update_file_content(clients, report["id"], xlsx_type, b"PK\x03\x04 second")
    assert ws.download_file(clients, report["id"]) == b"PK\x03\x04 second"
    assert len(ws.list_revisions(clients, report["id"])) == 2

    perm = ws.share_file(clients, report["id"], "superintendent@standard-sd.org")
    assert perm["role"] == "reader" and perm["type"] == "user"
    emails = {p.get("emailAddress") for p in ws.list_permissions(clients, report["id"])}
    assert "superintendent@standard-sd.org" in emails
    assert admin.get("/_emulator/drive/notifications").json() == []  # Drive's default is to email; ours is not
    ws.share_file(clients, report["id"], "chief-of-staff@standard-sd.org", role="commenter", notify=True)
    assert [n["to"] for n in admin.get("/_emulator/drive/notifications").json()] == ["chief-of-staff@standard-sd.org"]

    before = stats(admin)["calls"].get("drive.permissions.create", 0)
    for kind in ("anyone", "domain"):
        with pytest.raises(ws.ShareRefused):
            ws.share_file(clients, report["id"], "x@standard-sd.org", kind=kind)
    with pytest.raises(ws.ShareRefused):
        ws.share_file(clients, report["id"], "x@standard-sd.org", role="owner")
    with pytest.raises(ws.ShareRefused):
        ws.share_file(clients, report["id"], "a@standard-sd.org\r\nBcc: b@evil.example")
    assert stats(admin)["calls"].get("drive.permissions.create", 0) == before  # refused locally


# -- Sheets ----------------------------------------------------------------------------------------


def test_sheet_values_all_tabs_in_two_reads(emu: Any, admin: httpx.Client) -> None:
    book = {
        "spreadsheetId": "1consentLincoln",
        "title": "Lincoln consent",
        "owner": "office.lincoln@standard-sd.org",
        "permissions": [{"type": "user", "role": "reader", "emailAddress": ADMIN}],
        "sheets": [
            {"title": "Parents' consent", "values": [["Student", "Consent"], ["Garcia, Ana", "Y"]]},
            {"title": "Empty", "values": []},
            {"title": "Notes", "values": [["=1+1", "x"]]},
        ],
    }
    admin.post("/_emulator/seed", json={"spreadsheets": [book]}).raise_for_status()
    clients = clients_for(emu, FakeTime(admin))
    assert ws.get_sheet_values(clients, "1consentLincoln") == [
        ("Parents' consent", [["Student", "Consent"], ["Garcia, Ana", "Y"]]),
        ("Empty", []),
        ("Notes", [["=1+1", "x"]]),
    ]
    calls = stats(admin)["calls"]
    assert calls["sheets.spreadsheets.get"] == 1 and calls["sheets.spreadsheets.values.batchGet"] == 1


# -- Forms -----------------------------------------------------------------------------------------


def test_forms_create_publish_and_incremental_responses(emu: Any, admin: httpx.Client) -> None:
    time = FakeTime(admin)
    clients = clients_for(emu, time)
    form = ws.create_form(clients, "AR 1114 acknowledgement", description="Please read and acknowledge.")
    form_id = form["formId"]
    created = ws.add_form_items(
        clients,
        form_id,
        [ws.text_question("Full name"), ws.choice_question("I have read AR 1114", ["I acknowledge"])],
    )
    name_q, ack_q = (c["questionId"][0] for c in created)
    ws.set_email_collection(clients, form_id, "RESPONDER_INPUT")

    def submit(email: str) -> httpx.Response:
        body = {"respondent_email": email, "answers": {name_q: "A Person", ack_q: "I acknowledge"}}
        return admin.post(f"/_emulator/forms/{form_id}/responses", json=body)

    assert submit("early@example.org").status_code >= 400  # API-created forms start unpublished
    ws.publish_form(clients, form_id)
    assert submit("early@example.org").status_code == 403  # published, but nobody may respond yet
    perm = ws.allow_form_responders(clients, form_id, "anyone")
    assert (perm["type"], perm["role"], perm["view"]) == ("anyone", "reader", "published")
    got = ws.get_form(clients, form_id)
    assert got["info"]["description"] == "Please read and acknowledge."
    assert got["settings"]["emailCollectionType"] == "RESPONDER_INPUT"

    # Pre-filled links use the entry numbers the form itself uses.
    view = admin.get(f"/_emulator/forms/{form_id}").json()
    link = ws.prefill_url(got["responderUri"], {name_q: "A Person & Co"})
    assert link.startswith(got["responderUri"] + "?usp=pp_url&")
    assert f"{view['prefill'][name_q]}=A+Person+%26+Co" in link

    submit("first@example.org").raise_for_status()
    time.sleep(5)
    cursor = time.now()
    time.sleep(5)
    submit("second@example.org").raise_for_status()
    submit("third@example.org").raise_for_status()

    everyone = list(ws.list_responses(clients, form_id))
    assert sorted(r["respondentEmail"] for r in everyone) == [
        "first@example.org",
        "second@example.org",
        "third@example.org",
    ]
    newer = list(ws.list_responses(clients, form_id, since=cursor))
    assert sorted(r["respondentEmail"] for r in newer) == ["second@example.org", "third@example.org"]
    paged = list(ws.list_responses(clients, form_id, page_size=1))
    assert len(paged) == 3
    with pytest.raises(ValueError):
        list(ws.list_responses(clients, form_id, since=datetime(2026, 1, 1)))  # naive refused


# -- threads ---------------------------------------------------------------------------------------


def test_services_are_per_thread(emu: Any, admin: httpx.Client) -> None:
    from concurrent.futures import ThreadPoolExecutor

    clients = clients_for(emu, FakeTime(admin))
    main = clients.directory()
    assert clients.directory() is main
    with ThreadPoolExecutor(4) as pool:
        others = list(pool.map(lambda _: clients.directory(), range(4)))
        counts = list(pool.map(lambda _: len(list(ws.list_users(clients, page_size=2))), range(8)))
    assert all(o is not main for o in others)
    assert counts == [len(DIRECTORY["users"])] * 8
