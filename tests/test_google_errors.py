"""Pure pieces of the Google layer: error classification from real HttpError objects, backoff, chunking."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httplib2
import pytest
from googleapiclient.errors import HttpError

from compliance.google.batch import chunked
from compliance.google.errors import (
    DailyLimitExceeded,
    GoogleApiError,
    InsufficientScope,
    NotFound,
    PermissionDenied,
    RateLimited,
    classify_http_error,
    decide,
    gmail_user_of,
    parse_http_error,
)
from compliance.google.retry import RetryPolicy

NOW = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
SEND_URI = "https://gmail.googleapis.com/gmail/v1/users/me/messages/send?alt=json"


def http_error(status: int, body: dict | bytes, uri: str = SEND_URI, **headers: str) -> HttpError:
    """An HttpError exactly as googleapiclient builds it from an httplib2 response."""
    resp = httplib2.Response({"status": str(status), **{k.replace("_", "-"): v for k, v in headers.items()}})
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpError(resp, content, uri=uri)


def google_error(status: int, reason: str, message: str, *, api_status: str = "") -> dict:
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "usageLimits", "reason": reason}],
            **({"status": api_status} if api_status else {}),
        }
    }


def test_daily_limit_403_names_sender_and_estimates_a_day() -> None:
    exc = http_error(403, google_error(403, "dailyLimitExceeded", "Daily Limit Exceeded"))
    err = classify_http_error(exc, sender="policy-mail-1@standard-sd.org", now=NOW)
    assert isinstance(err, DailyLimitExceeded)
    assert err.sender == "policy-mail-1@standard-sd.org"
    assert err.retry_at == NOW + timedelta(hours=24)
    assert err.status == 403 and err.reason == "dailyLimitExceeded"


def test_gmail_429_with_far_retry_after_is_a_sending_block() -> None:
    message = "User-rate limit exceeded.  Retry after 2026-11-25T03:00:00.000Z"
    exc = http_error(
        429,
        google_error(429, "rateLimitExceeded", message, api_status="RESOURCE_EXHAUSTED"),
        uri="https://h/gmail/v1/users/policy-mail-2%40standard-sd.org/messages/send",
    )
    err = classify_http_error(exc, now=NOW)
    assert isinstance(err, DailyLimitExceeded)
    assert err.sender == "policy-mail-2@standard-sd.org"  # from the URI when not "me"
    assert err.retry_at == datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def test_retry_at_is_measured_against_the_server_clock() -> None:
    # Server clock says 10:00, ours 17:00: a block "until 10:30" is 30 minutes away, not in the past.
    message = "User-rate limit exceeded.  Retry after 2026-11-24T10:30:00Z"
    exc = http_error(
        429, google_error(429, "rateLimitExceeded", message), date="Tue, 24 Nov 2026 10:00:00 GMT"
    )
    info = parse_http_error(exc)
    assert decide(info, now=NOW, max_wait=60) == ("daily_limit", None)
    err = classify_http_error(exc, sender="s@standard-sd.org", now=NOW)
    assert isinstance(err, DailyLimitExceeded)
    assert err.retry_at == NOW + timedelta(minutes=30)


def test_near_retry_after_is_a_short_wait_not_a_block() -> None:
    exc = http_error(429, google_error(429, "rateLimitExceeded", "Retry after 2026-11-24T17:00:20Z"))
    assert decide(parse_http_error(exc), now=NOW, max_wait=60) == ("retry", 20.0)
    assert isinstance(classify_http_error(exc, now=NOW), RateLimited)


def test_retry_after_header_seconds() -> None:
    exc = http_error(503, b"Service Unavailable", retry_after="7", date="Tue, 24 Nov 2026 17:00:00 GMT")
    assert decide(parse_http_error(exc), now=NOW, max_wait=60) == ("retry", 7.0)


def test_non_gmail_far_429_is_not_a_sender_block() -> None:
    exc = http_error(
        429,
        google_error(429, "rateLimitExceeded", "Retry after 2026-11-25T03:00:00Z"),
        uri="https://forms.googleapis.com/v1/forms/abc/responses",
    )
    decision, wait = decide(parse_http_error(exc), now=NOW, max_wait=60)
    assert decision == "retry" and wait is not None and wait > 60


@pytest.mark.parametrize("reason", ["userRateLimitExceeded", "rateLimitExceeded"])
def test_403_rate_limit_reasons_are_retried(reason: str) -> None:
    exc = http_error(403, google_error(403, reason, "Rate Limit Exceeded"))
    assert decide(parse_http_error(exc), now=NOW, max_wait=60) == ("retry", None)


def test_insufficient_scope_both_styles() -> None:
    old = http_error(403, google_error(403, "insufficientPermissions", "Insufficient Permission"))
    aip = http_error(
        403,
        {
            "error": {
                "code": 403,
                "message": "Request had insufficient authentication scopes.",
                "status": "PERMISSION_DENIED",
                "details": [
                    {
                        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                        "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
                    }
                ],
            }
        },
    )
    for exc in (old, aip):
        err = classify_http_error(exc, now=NOW)
        assert isinstance(err, InsufficientScope) and err.insufficient_scope
        assert decide(parse_http_error(exc), now=NOW, max_wait=60)[0] == "fatal"


def test_other_errors_are_typed() -> None:
    assert isinstance(
        classify_http_error(http_error(404, google_error(404, "notFound", "x")), now=NOW), NotFound
    )
    denied = classify_http_error(http_error(403, google_error(403, "forbidden", "no")), now=NOW)
    assert type(denied) is PermissionDenied
    bad = classify_http_error(http_error(400, b"<html>not json</html>"), now=NOW)
    assert type(bad) is GoogleApiError and bad.status == 400


def test_gmail_user_of() -> None:
    assert gmail_user_of("https://h/gmail/v1/users/me/messages/send") is None
    assert gmail_user_of("https://h/gmail/v1/users/a%40b.org/messages") == "a@b.org"
    assert gmail_user_of("https://h/drive/v3/files") is None


def test_backoff_is_full_jitter_capped() -> None:
    top = RetryPolicy(base_delay=1.0, max_delay=8.0, rand=lambda: 1.0)
    assert [top.backoff(n) for n in range(1, 7)] == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    half = RetryPolicy(base_delay=2.0, max_delay=100.0, rand=lambda: 0.5)
    assert [half.backoff(n) for n in range(1, 4)] == [1.0, 2.0, 4.0]
    zero = RetryPolicy(rand=lambda: 0.0)
    assert zero.delay(3, None) == 0.0
    assert zero.delay(3, 12.5) == 12.5  # the server's wait wins when longer
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_chunked() -> None:
    items = list(range(101))
    assert [len(c) for c in chunked(items, 50)] == [50, 50, 1]
    assert [len(c) for c in chunked(items, 100)] == [100, 1]
    assert chunked([], 50) == []
    with pytest.raises(ValueError):
        chunked(items, 101)


def test_send_pacer_sliding_window() -> None:
    from compliance.google.pacing import SendPacer

    clock = [datetime(2026, 11, 24, 17, 0, tzinfo=UTC)]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 3))
        clock[0] += timedelta(seconds=seconds)

    pacer = SendPacer(3, window_seconds=60, clock=lambda: clock[0], sleep=sleep)
    with pacer.reserve("A@x.org", 2) as waited:
        assert waited == 0.0
        clock[0] += timedelta(seconds=10)  # the batch takes 10 s: sends are stamped when it ends
    with pacer.reserve("b@x.org", 3):  # another mailbox has its own window
        pass
    with pacer.reserve("a@x.org", 1):
        pass
    assert sleeps == []
    with pacer.reserve("a@x.org", 2) as waited:
        assert waited == 60.0  # both earlier sends (stamped at 17:00:10) must leave the window
    assert sleeps == [60.0]
    with pytest.raises(ValueError), pacer.reserve("a@x.org", 4):
        pass
    off = SendPacer(0, clock=lambda: clock[0], sleep=sleep)
    with off.reserve("a@x.org", 1000) as waited:
        assert waited == 0.0


def test_send_pacer_counts_quota_units_so_searches_share_the_sends_budget() -> None:
    """Gmail's per-minute quota is units: 60 sends (100 each) a minute leave no room for 20 searches (5 each)."""
    from compliance.google.clients import GMAIL_READ_UNITS, GMAIL_SEND_UNITS
    from compliance.google.pacing import SendPacer

    clock = [datetime(2026, 11, 24, 17, 0, tzinfo=UTC)]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(round(seconds, 3))
        clock[0] += timedelta(seconds=seconds)

    pacer = SendPacer(60 * GMAIL_SEND_UNITS, window_seconds=60, clock=lambda: clock[0], sleep=sleep)
    with pacer.reserve("a@x.org", 59, GMAIL_SEND_UNITS):
        pass
    with pacer.reserve("a@x.org", 20, GMAIL_READ_UNITS):  # 100 units: exactly the room left
        pass
    assert sleeps == []
    clock[0] += timedelta(seconds=30)
    with pacer.reserve("a@x.org", 1, GMAIL_SEND_UNITS) as waited:
        assert waited == 30.0  # the minute must pass for the first batch to leave the window
