"""Typed Google API errors and the one place that decides what an error means.

googleapiclient raises ``HttpError`` for every non-2xx answer; whether to wait and retry, pause a sender for
the day, or give up depends on the status, the machine-readable reason buried in the JSON body, and any "Retry
after" hint. :func:`classify_http_error` turns an ``HttpError`` into one of the exceptions below so callers
can write ``except DailyLimitExceeded`` instead of parsing bodies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import unquote, urlparse

from googleapiclient.errors import HttpError

from compliance.errors import ConfigurationError

# Reasons Google uses for "slow down": retrying after a wait succeeds.
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})
# Reasons for "this identity is done for a long while" (Gmail's rolling 24 h sending limit, Drive's daily
# quota).
# YouTube's quotaExceeded is the project's 10,000 units a day: spent until midnight Pacific time.
DAILY_LIMIT_REASONS = frozenset({"dailyLimitExceeded", "dailyLimitExceededUnreg", "quotaExceeded"})
# Reasons meaning the token lacks a scope the method needs (old-style and AIP-193 style).
INSUFFICIENT_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})

# Gmail (and a few older APIs) put the end of a block in the message: "User-rate limit exceeded.  Retry after
# 2026-11-24T18:03:15.961Z".
_RETRY_AFTER_TEXT = re.compile(
    r"retry after\s+(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d))", re.I
)
_API_KEY = re.compile(r"([?&])key=[^&#]*")
_GMAIL_USER = re.compile(r"/gmail/v1/users/([^/]+)/")

Decision = Literal["retry", "daily_limit", "fatal"]


class GoogleApiError(Exception):
    """A Google API call failed; ``status`` is the HTTP status (0 for transport failures).

    ``reason`` is the machine reason (``errors[0].reason``, else the ``ErrorInfo`` reason, else
    ``error.status``), ``message`` Google's human text, ``uri`` the request URI (may contain ids, never
    message bodies).
    """

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        uri: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(f"{status} {reason}: {message}" + (f" ({uri})" if uri else ""))
        self.status = status
        self.reason = reason
        self.message = message
        self.uri = uri
        self.retry_at = retry_at

    @property
    def insufficient_scope(self) -> bool:
        """The access token lacks a scope the method needs (fix the scopes, never retry)."""
        return self.reason in INSUFFICIENT_SCOPE_REASONS


class PermissionDenied(GoogleApiError, ConfigurationError):
    """403 that is not a rate limit: missing scope, no delegation, no access to the file, sharing refused."""


class InsufficientScope(PermissionDenied):
    """403 because the token's scopes do not cover the method (least-privilege scopes too narrow)."""


class NotFound(GoogleApiError):
    """404: the user, file, form or message does not exist (or the caller may not see it)."""


class RateLimited(GoogleApiError):
    """Still rate limited after the allowed attempts, or asked to wait longer than the retry policy allows."""


class OutcomeUnknown(GoogleApiError):
    """The connection failed after the request may have reached Google.

    A non-idempotent call (a send) may or may not have happened, so it is not retried blindly: reconcile first
    (e.g. look in the Sent folder).
    """


class DailyLimitExceeded(GoogleApiError):
    """The sending user (or project) hit a long-lasting limit; pause ``sender`` until ``retry_at``.

    Raised for 403 ``dailyLimitExceeded`` and for Gmail 429 mail-sending limits whose "Retry after" is further
    away than the retry policy waits. ``retry_at`` is Google's time when given, else an estimate (24 h rolling
    window). ``attempted`` is False for batch parts that were never sent because the limit was already hit.
    """

    def __init__(
        self,
        sender: str | None,
        retry_at: datetime,
        *,
        status: int = 403,
        reason: str = "dailyLimitExceeded",
        message: str = "",
        uri: str | None = None,
        attempted: bool = True,
    ) -> None:
        super().__init__(status, reason, message or "sending limit reached", uri=uri, retry_at=retry_at)
        self.sender = sender
        self.retry_at: datetime = retry_at
        self.attempted = attempted

    @property
    def retry_after(self) -> float:
        """Seconds from now until ``retry_at`` (0 when already past)."""
        return max(0.0, (self.retry_at - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True)
class ErrorInfo:
    """What an HTTP error body and headers say, parsed once."""

    status: int
    reason: str
    message: str
    uri: str | None
    retry_at: datetime | None  # absolute time the server named ("Retry after <time>", HTTP-date Retry-After)
    server_now: datetime | None  # the response's Date header, to measure retry_at against the server's clock
    retry_in: float | None = None  # relative wait the server named (Retry-After: <seconds>)

    def wait(self, now: datetime) -> float | None:
        """Seconds the server asked to wait, measured on its own clock when it sent one (None: no hint)."""
        if self.retry_in is not None:
            return self.retry_in
        if self.retry_at is None:
            return None
        return max(0.0, (self.retry_at - (self.server_now or now)).total_seconds())

    def retry_time(self, now: datetime) -> datetime | None:
        """When a retry may pass, on the caller's clock ``now`` (None: no hint)."""
        wait = self.wait(now)
        return None if wait is None else now + timedelta(seconds=wait)


def _error_body(content: bytes) -> dict[str, Any]:
    try:
        data = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return {}
    if isinstance(data, list) and data:  # some endpoints wrap the error in a one-element list
        data = data[0]
    error = data.get("error") if isinstance(data, dict) else None
    return error if isinstance(error, dict) else {}


def _reason(error: dict[str, Any], fallback: str) -> str:
    for item in error.get("errors") or []:
        if isinstance(item, dict) and item.get("reason"):
            return str(item["reason"])
    for detail in error.get("details") or []:
        if (
            isinstance(detail, dict)
            and str(detail.get("@type", "")).endswith("ErrorInfo")
            and detail.get("reason")
        ):
            return str(detail["reason"])
    return str(error.get("status") or fallback)


def _header(resp: Any, name: str) -> str | None:
    try:
        value = resp.get(name)
    except AttributeError:
        return None
    return str(value) if value is not None else None


def _parse_date_header(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_http_error(exc: HttpError) -> ErrorInfo:
    """Extract status, reason, message and any retry time from a googleapiclient ``HttpError``."""
    status = int(exc.resp.status)
    error = _error_body(exc.content)
    message = str(error.get("message") or getattr(exc.resp, "reason", "") or "").strip()
    reason = _reason(error, fallback=str(getattr(exc.resp, "reason", "") or status))
    server_now = _parse_date_header(_header(exc.resp, "date"))
    retry_at: datetime | None = None
    retry_in: float | None = None
    header = _header(exc.resp, "retry-after")
    if header:
        if header.strip().isdigit():
            retry_in = float(header.strip())
        else:
            retry_at = _parse_date_header(header)
    if retry_at is None and retry_in is None:
        texts = [message] + [
            str(e.get("message", "")) for e in error.get("errors") or [] if isinstance(e, dict)
        ]
        for text in texts:
            match = _RETRY_AFTER_TEXT.search(text)
            if match:
                retry_at = datetime.fromisoformat(match.group(1).replace("Z", "+00:00"))
                break
    # An API key rides in the query string (YouTube, Blogger): it never goes into an error message or a log.
    uri = _API_KEY.sub(r"\1key=REDACTED", str(exc.uri)) if exc.uri else None
    return ErrorInfo(status, reason, message, uri, retry_at, server_now, retry_in)


def gmail_user_of(uri: str | None) -> str | None:
    """The ``userId`` path segment of a Gmail URI, unless it is ``me`` (then the token's subject is meant)."""
    if not uri:
        return None
    match = _GMAIL_USER.search(urlparse(uri).path)
    if not match:
        return None
    user = unquote(match.group(1))
    return None if user == "me" else user


def decide(info: ErrorInfo, *, now: datetime, max_wait: float) -> tuple[Decision, float | None]:
    """What to do about an error: ``("retry", wait_hint)``, ``("daily_limit", None)`` or ``("fatal", None)``.

    ``wait_hint`` is the server-named wait in seconds (None when it named none). A named wait longer than
    ``max_wait`` on a Gmail call means a mail-sending block that lasts hours: the sender must pause.
    """
    status, reason = info.status, info.reason
    if status == 403 and reason in DAILY_LIMIT_REASONS:
        return "daily_limit", None
    rate_limited = status == 429 or (status == 403 and reason in RATE_LIMIT_REASONS)
    if not (rate_limited or status >= 500 or status == 408):
        return "fatal", None
    wait = info.wait(now)
    if rate_limited and wait is not None and wait > max_wait and info.uri and "/gmail/v1/" in info.uri:
        return "daily_limit", None
    return "retry", wait


def typed_error(info: ErrorInfo, *, sender: str | None = None, now: datetime | None = None) -> GoogleApiError:
    """The exception class matching ``info`` (without the retry decision: see :func:`decide`)."""
    now = now or datetime.now(UTC)
    if info.status == 403 and info.reason in DAILY_LIMIT_REASONS:
        return daily_limit_error(info, sender=sender, now=now)
    args = (info.status, info.reason, info.message)
    if info.status == 429 or (info.status == 403 and info.reason in RATE_LIMIT_REASONS):
        return RateLimited(*args, uri=info.uri, retry_at=info.retry_time(now))
    if info.status == 403 and info.reason in INSUFFICIENT_SCOPE_REASONS:
        return InsufficientScope(*args, uri=info.uri)
    if info.status == 403:
        return PermissionDenied(*args, uri=info.uri)
    if info.status == 404:
        return NotFound(*args, uri=info.uri)
    return GoogleApiError(*args, uri=info.uri, retry_at=info.retry_time(now))


def daily_limit_error(info: ErrorInfo, *, sender: str | None, now: datetime) -> DailyLimitExceeded:
    """A :class:`DailyLimitExceeded` for an error :func:`decide` judged a long block."""
    # On our clock, so a caller comparing with its own now is right even when the server's clock differs.
    retry_at = info.retry_time(now)
    return DailyLimitExceeded(
        sender or gmail_user_of(info.uri),
        retry_at or now + timedelta(hours=24),
        status=info.status,
        reason=info.reason,
        message=info.message,
        uri=info.uri,
    )


def classify_http_error(
    exc: HttpError, *, sender: str | None = None, now: datetime | None = None
) -> GoogleApiError:
    """Turn a googleapiclient ``HttpError`` into the typed error a caller should see when it is final.

    Gmail 429s that name a "Retry after" more than a minute away become :class:`DailyLimitExceeded` too.
    """
    now = now or datetime.now(UTC)
    info = parse_http_error(exc)
    decision, _ = decide(info, now=now, max_wait=60.0)
    if decision == "daily_limit":
        return daily_limit_error(info, sender=sender, now=now)
    return typed_error(info, sender=sender, now=now)
