"""Execute one Google API request with capped exponential backoff and full jitter.

Why not ``request.execute(num_retries=N)``: googleapiclient sleeps ``rand() * 2**n`` with no cap, ignores
``Retry-After`` and Gmail's "Retry after <time>", and cannot tell a per-minute rate limit (wait seconds) from
a mail-sending block (wait hours: pause the sender instead). This module retries 429, 5xx, 408 and 403
rate-limit reasons, honours a server-named wait up to ``RetryPolicy.max_wait``, raises
:class:`~compliance.google.errors.DailyLimitExceeded` for long blocks and typed errors for everything else.
"""

from __future__ import annotations

import errno
import logging
import random
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httplib2
from googleapiclient.errors import HttpError

from compliance.google.errors import (
    GoogleApiError,
    OutcomeUnknown,
    RateLimited,
    daily_limit_error,
    decide,
    parse_http_error,
    typed_error,
)

log = logging.getLogger(__name__)

# Connection failures worth another try (the same set googleapiclient retries).
_RETRYABLE_ERRNOS = frozenset(
    getattr(errno, name) for name in ("ETIMEDOUT", "EPIPE", "ECONNABORTED", "ECONNREFUSED", "ECONNRESET")
)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. ``sleep``, ``rand`` and ``clock`` are injectable so tests never really wait.

    Delay before retry ``n`` (1-based) is full jitter, ``rand() * min(max_delay, base_delay * 2**(n-1))``, or
    the server-named wait when that is longer. A server-named wait above ``max_wait`` is not waited out.
    """

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 32.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)
    rand: Callable[[], float] = field(default=random.random, compare=False)
    clock: Callable[[], datetime] = field(default=_utcnow, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")

    def backoff(self, retry_number: int) -> float:
        """Full-jitter delay before retry ``retry_number`` (1 for the first retry)."""
        return self.rand() * min(self.max_delay, self.base_delay * 2 ** (retry_number - 1))

    def delay(self, retry_number: int, server_wait: float | None) -> float:
        """Delay before a retry: the jittered backoff, or the server's wait when it asked for longer."""
        jittered = self.backoff(retry_number)
        return jittered if server_wait is None else max(server_wait, jittered)


def is_transport_error(exc: BaseException) -> bool:
    """A connection failure that may succeed on another try (timeouts, resets, DNS hiccups, TLS drops)."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False  # a wrong CA bundle never fixes itself
    if isinstance(
        exc, (socket.timeout, TimeoutError, ConnectionError, httplib2.ServerNotFoundError, ssl.SSLError)
    ):
        return True
    return isinstance(exc, OSError) and exc.errno in _RETRYABLE_ERRNOS


def _method_id(request: Any) -> str:
    return str(getattr(request, "methodId", None) or getattr(request, "method", "request"))


def _is_idempotent(request: Any) -> bool:
    # A POST that died on the wire may have been carried out (a sent message, a created file).
    return str(getattr(request, "method", "POST")).upper() != "POST"


def execute(
    request: Any,
    *,
    sleep: Callable[[float], None] | None = None,
    max_attempts: int | None = None,
    policy: RetryPolicy | None = None,
    sender: str | None = None,
    idempotent: bool | None = None,
) -> Any:
    """Run ``request.execute()`` (a googleapiclient ``HttpRequest``) with retries; return its parsed result.

    ``sleep``/``max_attempts`` override the ``policy`` (default :class:`RetryPolicy`). ``sender`` names the
    Gmail sending user for :class:`DailyLimitExceeded` (default: the ``userId`` in the URI when not ``me``).
    ``idempotent`` (default: not a POST) allows retrying connection failures; a non-idempotent call whose
    connection failed raises :class:`OutcomeUnknown` instead.

    Raises DailyLimitExceeded, RateLimited (attempts exhausted or wait too long), InsufficientScope,
    PermissionDenied, NotFound, GoogleApiError, OutcomeUnknown.
    """
    policy = policy or RetryPolicy()
    if sleep is not None or max_attempts is not None:
        policy = replace(
            policy,
            sleep=sleep if sleep is not None else policy.sleep,
            max_attempts=max_attempts if max_attempts is not None else policy.max_attempts,
        )
    if idempotent is None:
        idempotent = _is_idempotent(request)
    method = _method_id(request)
    attempt = 0
    while True:
        attempt += 1
        try:
            return request.execute(num_retries=0)
        except HttpError as exc:
            now = policy.clock()
            info = parse_http_error(exc)
            decision, server_wait = decide(info, now=now, max_wait=policy.max_wait)
            if decision == "daily_limit":
                raise daily_limit_error(info, sender=sender, now=now) from exc
            if decision == "fatal":
                raise typed_error(info, sender=sender, now=now) from exc
            if server_wait is not None and server_wait > policy.max_wait:
                raise RateLimited(
                    info.status,
                    info.reason,
                    f"server asks to wait {server_wait:.0f}s: {info.message}",
                    uri=info.uri,
                    retry_at=info.retry_time(now),
                ) from exc
            if attempt >= policy.max_attempts:
                final = typed_error(info, sender=sender, now=now)
                if not isinstance(final, RateLimited):
                    final = RateLimited(
                        info.status, info.reason, info.message, uri=info.uri, retry_at=info.retry_time(now)
                    )
                raise final from exc
            delay = policy.delay(attempt, server_wait)
            log.warning(
                "%s: %s %s, retry %d of %d in %.2fs",
                method,
                info.status,
                info.reason,
                attempt,
                policy.max_attempts - 1,
                delay,
            )
            policy.sleep(delay)
        except Exception as exc:
            if not is_transport_error(exc):
                raise
            if not idempotent:
                raise OutcomeUnknown(0, type(exc).__name__, str(exc)) from exc
            if attempt >= policy.max_attempts:
                raise GoogleApiError(0, type(exc).__name__, str(exc)) from exc
            delay = policy.delay(attempt, None)
            log.warning("%s: %s, retry %d in %.2fs", method, type(exc).__name__, attempt, delay)
            policy.sleep(delay)


__all__ = ["RetryPolicy", "execute", "is_transport_error"]
