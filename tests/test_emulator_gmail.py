"""Gmail through the real client: batch of 100 sends, media upload, limits, faults, bounces."""

from __future__ import annotations

import base64
import io
import json
import socket
from email.message import EmailMessage

import pytest
from emulator_fixtures import google_service
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from emulator import WorkspaceEmulator

SENDER = "notices@standard-sd.org"


def _mime(to: str | list[str], subject: str, html: str = "<p>Please sign AR 1114.</p>") -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = SENDER
    msg["To"] = ", ".join(to) if isinstance(to, list) else to
    msg["Subject"] = subject
    msg.set_content("Please sign AR 1114.")
    msg.add_alternative(html, subtype="html")
    msg.add_attachment(b"%PDF-1.4 policy", maintype="application", subtype="pdf", filename="ar1114.pdf")
    return msg


def _raw(msg: EmailMessage) -> dict[str, str]:
    return {"raw": base64.urlsafe_b64encode(msg.as_bytes()).decode()}


def _reason(exc: HttpError) -> str:
    return json.loads(exc.content)["error"]["errors"][0]["reason"]


def test_batch_of_100_sends_meets_the_per_minute_limit_then_succeeds(emulator: WorkspaceEmulator) -> None:
    gmail = google_service(emulator, "gmail", subject=SENDER)
    results: dict[str, object] = {}

    def collect(request_id: str, response: dict | None, exception: HttpError | None) -> None:
        results[request_id] = exception if exception is not None else response

    batch = gmail.new_batch_http_request(callback=collect)
    batch._batch_uri = emulator.batch_uri("gmail")
    for i in range(100):
        batch.add(
            gmail.users().messages().send(userId="me", body=_raw(_mime(f"p{i}@example.org", f"n{i}"))),
            request_id=f"person-{i}",
        )
    batch.execute()
    ok = [k for k, v in results.items() if isinstance(v, dict)]
    refused = {k: v for k, v in results.items() if isinstance(v, HttpError)}
    assert len(ok) == 60 and len(refused) == 40  # Google's 60 sends per minute per user
    assert {_reason(e) for e in refused.values()} == {"userRateLimitExceeded"}
    assert {e.resp.status for e in refused.values()} == {403}

    emulator.admin.advance_clock(61)
    retry = gmail.new_batch_http_request(callback=collect)
    retry._batch_uri = emulator.batch_uri("gmail")
    for request_id in sorted(refused):
        i = int(request_id.split("-")[1])
        retry.add(
            gmail.users().messages().send(userId="me", body=_raw(_mime(f"p{i}@example.org", f"n{i}"))),
            request_id=request_id,
        )
    retry.execute()
    assert all(isinstance(results[f"person-{i}"], dict) for i in range(100))
    mail = emulator.admin.mail(sender=SENDER)
    assert sorted(m["subject"] for m in mail) == sorted(f"n{i}" for i in range(100))
    # the Content-ID round trip kept each answer with its own request
    by_id = {m["id"]: m for m in mail}
    assert by_id[results["person-7"]["id"]]["to"] == ["p7@example.org"]  # type: ignore[index]
    first = by_id[results["person-0"]["id"]]  # type: ignore[index]
    assert first["attachments"][0]["filename"] == "ar1114.pdf" and "AR 1114" in first["html"]
    assert emulator.admin.stats()["sent_per_user"] == {SENDER: 100}
    # The emulator's own count: 140 attempts, 100 sent; 100 attempts but only 60 sends within the first
    # minute (the 40 refused there are counted under the limit they hit), 40 more in the next minute.
    counts = emulator.admin.sender_counts()[SENDER]
    assert (counts["attempted"], counts["sent"]) == (140, 100)
    assert counts["peak_attempted_per_minute"] == 100 and counts["peak_sent_per_minute"] == 60
    assert counts["peak_attempted_per_day"] == 140 and counts["peak_sent_per_day"] == 100
    assert counts["refused"] == {"sends per minute": 40}
    assert sum(counts["sent_per_minute"].values()) == 100 and max(counts["sent_per_minute"].values()) >= 40


def test_sender_counts_name_the_daily_limit_hit_and_slide_with_the_clock(emulator: WorkspaceEmulator) -> None:
    emulator.admin.set_limits(gmail_daily_per_sender=3, gmail_sends_per_minute=2)
    gmail = google_service(emulator, "gmail", subject=SENDER)
    refused = []
    for i in range(5):
        try:
            gmail.users().messages().send(userId="me", body=_raw(_mime(f"p{i}@example.org", f"n{i}"))).execute()
        except HttpError as exc:
            refused.append(_reason(exc))
        emulator.admin.advance_clock(31)  # two sends in any 60 s, never three
    counts = emulator.admin.sender_counts()[SENDER]
    assert refused == ["dailyLimitExceeded", "dailyLimitExceeded"]
    assert counts["sent"] == 3 and counts["peak_sent_per_minute"] == 2 and counts["peak_attempted_per_minute"] == 2
    assert counts["refused"] == {"messages per day": 2}
    emulator.admin.reset()
    assert emulator.admin.sender_counts() == {}


def test_batch_over_100_parts_is_refused(emulator: WorkspaceEmulator) -> None:
    gmail = google_service(emulator, "gmail", subject=SENDER)
    batch = gmail.new_batch_http_request()
    batch._batch_uri = emulator.batch_uri("gmail")
    for i in range(100):
        batch.add(gmail.users().messages().list(userId="me"), request_id=str(i))
    batch.add(gmail.users().messages().list(userId="me"), request_id="100")
    with pytest.raises(HttpError) as caught:
        batch.execute()
    assert caught.value.resp.status == 400 and b"at most 100" in caught.value.content
    emulator.admin.set_limits(batch_max_parts=10)
    with pytest.raises(HttpError) as caught:
        batch.execute()
    assert caught.value.resp.status == 400


def test_media_upload_send_simple_and_multipart(emulator: WorkspaceEmulator) -> None:
    gmail = google_service(emulator, "gmail", subject=SENDER)
    msg = _mime(["a@example.org", "b@example.org"], "uploaded")
    media = MediaIoBaseUpload(io.BytesIO(msg.as_bytes()), mimetype="message/rfc822")
    sent = gmail.users().messages().send(userId="me", media_body=media).execute()
    assert sent["labelIds"] == ["SENT"]
    media = MediaIoBaseUpload(io.BytesIO(_mime("c@example.org", "in thread").as_bytes()), mimetype="message/rfc822")
    threaded = (
        gmail.users().messages().send(userId="me", body={"threadId": sent["threadId"]}, media_body=media).execute()
    )
    assert threaded["threadId"] == sent["threadId"]
    mail = emulator.admin.mail(sender=SENDER)
    assert [m["subject"] for m in mail] == ["uploaded", "in thread"]
    assert mail[0]["to"] == ["a@example.org", "b@example.org"]
    assert emulator.admin.stats()["calls"]["gmail.users.messages.send"] == 2


def test_retry_after_injected_429_succeeds(emulator: WorkspaceEmulator) -> None:
    emulator.admin.set_faults(method="gmail.users.messages.send", error_rate=1.0, statuses=[429], count=1)
    gmail = google_service(emulator, "gmail", subject=SENDER)
    request = gmail.users().messages().send(userId="me", body=_raw(_mime("x@example.org", "retry me")))
    with pytest.raises(HttpError) as caught:
        request.execute()
    assert caught.value.resp.status == 429
    request = gmail.users().messages().send(userId="me", body=_raw(_mime("x@example.org", "retry me")))
    request._sleep = lambda seconds: None  # the client's own backoff, without waiting
    assert request.execute(num_retries=1)["labelIds"] == ["SENT"]
    emulator.admin.clear_faults()
    emulator.admin.set_faults(method="*", error_rate=1.0, statuses=[503], count=2)
    request = gmail.users().messages().send(userId="me", body=_raw(_mime("x@example.org", "twice")))
    request._sleep = lambda seconds: None
    assert request.execute(num_retries=3)["labelIds"] == ["SENT"]
    stats = emulator.admin.stats()
    assert stats["statuses"]["gmail.users.messages.send"] == {"429": 1, "200": 2, "503": 2}


def test_faults_are_deterministic_for_a_seed() -> None:
    from emulator.faults import Faults

    def fates(seed: int) -> list[int | None]:
        faults = Faults(seed)
        faults.configure({"method": "*", "error_rate": 0.3, "statuses": [429, 500, 503]})
        return [(d.error.code if d.error else None) for d in (faults.decide("m") for _ in range(50))]

    assert fates(7) == fates(7)
    assert fates(7) != fates(8)
    assert 5 < sum(1 for f in fates(7) if f) < 30


def test_timeout_fault_hangs_past_the_client_timeout(emulator: WorkspaceEmulator) -> None:
    emulator.admin.set_faults(method="gmail.users.messages.list", timeout_rate=1.0, hang_ms=1500, count=1)
    gmail = google_service(emulator, "gmail", subject=SENDER, timeout=0.3)
    with pytest.raises((TimeoutError, socket.timeout)):
        gmail.users().messages().list(userId="me").execute()


def test_daily_limit_answers_daily_limit_exceeded_until_the_window_passes(emulator: WorkspaceEmulator) -> None:
    emulator.admin.set_limits(gmail_daily_per_sender=3)
    gmail = google_service(emulator, "gmail", subject=SENDER)
    for i in range(3):
        gmail.users().messages().send(userId="me", body=_raw(_mime("x@example.org", f"d{i}"))).execute()
        emulator.admin.advance_clock(61)
    with pytest.raises(HttpError) as caught:
        gmail.users().messages().send(userId="me", body=_raw(_mime("x@example.org", "over"))).execute()
    assert caught.value.resp.status == 403 and _reason(caught.value) == "dailyLimitExceeded"
    assert json.loads(caught.value.content)["error"]["message"] == "Daily Limit Exceeded"

    emulator.admin.set_limits(gmail_daily_style="mailSendingLimit")
    with pytest.raises(HttpError) as caught:
        gmail.users().messages().send(userId="me", body=_raw(_mime("x@example.org", "over"))).execute()
    error = json.loads(caught.value.content)["error"]
    assert caught.value.resp.status == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    assert error["message"].startswith("User-rate limit exceeded.  Retry after 20")

    emulator.admin.advance_clock(24 * 3600)
    gmail.users().messages().send(userId="me", body=_raw(_mime("x@example.org", "next day"))).execute()


def test_recipient_cap_per_message(emulator: WorkspaceEmulator) -> None:
    gmail = google_service(emulator, "gmail", subject=SENDER)
    too_many = [f"p{i}@example.org" for i in range(101)]
    with pytest.raises(HttpError) as caught:
        gmail.users().messages().send(userId="me", body=_raw(_mime(too_many, "all"))).execute()
    assert caught.value.resp.status == 400
    gmail.users().messages().send(userId="me", body=_raw(_mime(too_many[:100], "all"))).execute()


def test_bcc_counts_with_to_toward_the_hundred(emulator: WorkspaceEmulator) -> None:
    """A site-group message is To the sender and Bcc the staff: 100 Bcc plus that To is 101, refused."""
    gmail = google_service(emulator, "gmail", subject=SENDER)
    staff = [f"t{i}@standard-sd.org" for i in range(100)]
    msg = _mime(SENDER, "group")
    msg["Bcc"] = ", ".join(staff)
    with pytest.raises(HttpError) as caught:
        gmail.users().messages().send(userId="me", body=_raw(msg)).execute()
    assert caught.value.resp.status == 400
    del msg["Bcc"]
    msg["Bcc"] = ", ".join(staff[:99])
    gmail.users().messages().send(userId="me", body=_raw(msg)).execute()


def test_late_bounce_style_accepts_then_refuses_by_dsn(emulator: WorkspaceEmulator) -> None:
    emulator.admin.set_limits(gmail_daily_per_sender=1, gmail_daily_style="lateBounce")
    gmail = google_service(emulator, "gmail", subject=SENDER)
    gmail.users().messages().send(userId="me", body=_raw(_mime("x@example.org", "first"))).execute()
    emulator.admin.advance_clock(61)
    over = gmail.users().messages().send(userId="me", body=_raw(_mime("x@example.org", "over"))).execute()
    assert over["labelIds"] == ["SENT"]  # a 200, as Gmail may answer
    listed = gmail.users().messages().list(userId="me", q="from:mailer-daemon").execute()
    dsn = gmail.users().messages().get(userId="me", id=listed["messages"][0]["id"], format="raw").execute()
    text = base64.urlsafe_b64decode(dsn["raw"] + "==").decode()
    assert "You have reached a limit for sending mail" in text and "5.4.5" in text


def test_bounce_arrives_in_sender_mailbox_and_reads_back(emulator: WorkspaceEmulator) -> None:
    gmail = google_service(emulator, "gmail", subject=SENDER)
    sent = gmail.users().messages().send(userId="me", body=_raw(_mime("gone@example.org", "hello"))).execute()
    original = emulator.admin.mail(sender=SENDER)[0]
    emulator.admin.bounce(sent["id"])
    listed = gmail.users().messages().list(userId="me", q="from:mailer-daemon", labelIds=["INBOX"]).execute()
    assert len(listed["messages"]) == 1
    dsn = gmail.users().messages().get(userId="me", id=listed["messages"][0]["id"], format="full").execute()
    headers = {h["name"]: h["value"] for h in dsn["payload"]["headers"]}
    assert headers["In-Reply-To"] == original["message_id"]
    assert headers["X-Failed-Recipients"] == "gone@example.org"
    assert headers["Content-Type"].startswith("multipart/report")
    parts = {p["mimeType"]: p for p in dsn["payload"]["parts"]}
    status = base64.urlsafe_b64decode(parts["message/delivery-status"]["body"]["data"]).decode()
    assert "Final-Recipient: rfc822; gone@example.org" in status and "Status: 5.1.1" in status
    raw = gmail.users().messages().get(userId="me", id=sent["id"], format="raw").execute()
    assert b"Subject: hello" in base64.urlsafe_b64decode(raw["raw"])
    meta = (
        gmail.users()
        .messages()
        .get(userId="me", id=sent["id"], format="metadata", metadataHeaders=["Subject"])
        .execute()
    )
    assert meta["payload"]["headers"] == [{"name": "Subject", "value": "hello"}]
    # a delegated token reads only its own mailbox
    with pytest.raises(HttpError) as caught:
        gmail.users().messages().list(userId="someone-else@standard-sd.org").execute()
    assert caught.value.resp.status == 403
