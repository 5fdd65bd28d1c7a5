"""Batch many calls into few HTTP requests, retrying only the parts that failed for retryable reasons.

googleapiclient's ``BatchHttpRequest`` sends up to 100 calls in one multipart POST but has no retries (a 429
on one part reaches the callback as ``HttpError``), builds its URI from the discovery ``rootUrl`` (ignoring
``api_endpoint``), and refreshes tokens through a bare ``httplib2.Http()`` that trusts no custom CA. This
module fixes all three: explicit ``batch_uri``, per-part classification like :mod:`compliance.google.retry`,
and a token refresh over the service's own (CA-trusting) transport before every batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import google_auth_httplib2
from google.auth.exceptions import TransportError
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from compliance.google.errors import (
    DailyLimitExceeded,
    GoogleApiError,
    OutcomeUnknown,
    RateLimited,
    daily_limit_error,
    decide,
    parse_http_error,
    typed_error,
)
from compliance.google.retry import RetryPolicy, is_transport_error

log = logging.getLogger(__name__)

GOOGLE_MAX_BATCH = 100  # hard limit per batch; Gmail discourages more than 50


def _ensure_fresh_token(request: Any) -> None:
    """Refresh the request's credentials over its own transport if they are missing or about to expire."""
    http = getattr(request, "http", None)
    creds = getattr(http, "credentials", None)
    inner = getattr(http, "http", None)  # AuthorizedHttp.http: the httplib2.Http that trusts our CA bundle
    if creds is not None and inner is not None and not creds.valid:
        creds.refresh(google_auth_httplib2.Request(inner))


def chunked(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    """Split ``items`` in consecutive chunks of at most ``size`` (1..100)."""
    if not 1 <= size <= GOOGLE_MAX_BATCH:
        raise ValueError(f"batch size must be 1..{GOOGLE_MAX_BATCH}, got {size}")
    return [items[i : i + size] for i in range(0, len(items), size)]


def execute_batch(
    service: Any,
    requests: Sequence[tuple[Hashable, Any]],
    *,
    batch_uri: str,
    max_per_batch: int = 50,
    policy: RetryPolicy | None = None,
    sender: str | None = None,
    idempotent: bool = False,
    around_chunk: Callable[[int], AbstractContextManager[Any]] | None = None,
    paced_from_round: int = 1,
) -> dict[Hashable, Any]:
    """Run ``(request_id, HttpRequest)`` pairs in batches; return ``{request_id: result or exception}``.

    - At most ``max_per_batch`` (<= 100) calls per HTTP request, sent to ``batch_uri``
      (``GoogleClients.batch_uri(api)``).
    - Parts failing with 429, 5xx or 403 rate-limit reasons are retried in a later batch after a capped,
      jittered backoff (or the server-named wait); after ``policy.max_attempts`` they get
      :class:`RateLimited`.
    - A part answering a long sending block yields :class:`DailyLimitExceeded` (with ``sender``); the parts
      not yet sent then get a ``DailyLimitExceeded`` with ``attempted=False`` and are not sent.
    - Other failures become typed errors (:class:`InsufficientScope`, :class:`NotFound`, ...).
    - A connection failure on the whole batch is retried only when ``idempotent``; otherwise its parts get
      :class:`OutcomeUnknown` (a send may have happened).

    ``around_chunk(n)`` is a context manager wrapped around each HTTP batch of ``n`` calls (``send_messages``
    paces sends with it) from round ``paced_from_round`` on: 2 when the caller already holds the first round's
    quota (the outbox claims rows and the minute's units together) so that retries still wait for the shared
    minute instead of adding unpaced attempts to it. ``service`` is the Resource the requests were built from
    (kept for symmetry with googleapiclient; the requests carry their own transport).
    """
    del service  # the requests carry their authorized transport
    policy = policy or RetryPolicy()
    ids = [rid for rid, _ in requests]
    if len(set(ids)) != len(ids):
        raise ValueError("request ids must be unique")
    size = min(max_per_batch, GOOGLE_MAX_BATCH)
    by_id = dict(requests)
    results: dict[Hashable, Any] = {}
    pending: list[Hashable] = list(ids)
    attempts: dict[Hashable, int] = dict.fromkeys(ids, 0)
    blocked: DailyLimitExceeded | None = None
    round_number = 0

    while pending:
        round_number += 1
        retry_later: list[Hashable] = []
        server_waits: list[float] = []
        for chunk in chunked(pending, size):
            if blocked is not None:
                for rid in chunk:
                    results[rid] = _not_attempted(blocked)
                continue
            paced = around_chunk is not None and round_number >= paced_from_round
            with around_chunk(len(chunk)) if paced else nullcontext():
                now = policy.clock()
                outcome = _run_chunk(chunk, by_id, batch_uri, idempotent)
            for rid in chunk:
                attempts[rid] += 1
                value = outcome[rid]
                if not isinstance(value, BaseException):
                    results[rid] = value
                    continue
                if isinstance(value, HttpError):
                    info = parse_http_error(value)
                    decision, wait = decide(info, now=now, max_wait=policy.max_wait)
                    if decision == "daily_limit":
                        blocked = daily_limit_error(info, sender=sender, now=now)
                        results[rid] = blocked
                    elif decision == "fatal":
                        results[rid] = typed_error(info, sender=sender, now=now)
                    elif attempts[rid] >= policy.max_attempts or (wait is not None and wait > policy.max_wait):
                        results[rid] = RateLimited(
                            info.status,
                            info.reason,
                            info.message,
                            uri=info.uri,
                            retry_at=info.retry_time(now),
                        )
                    else:
                        retry_later.append(rid)
                        if wait is not None:
                            server_waits.append(wait)
                elif isinstance(value, _RetryChunk) and attempts[rid] < policy.max_attempts:
                    retry_later.append(rid)
                elif isinstance(value, _RetryChunk):
                    results[rid] = value.final
                else:
                    results[rid] = value
        pending = [rid for rid in retry_later if rid not in results]
        if blocked is not None:
            for rid in pending:
                results[rid] = _not_attempted(blocked)
            pending = []
        if pending:
            delay = policy.delay(round_number, max(server_waits) if server_waits else None)
            log.warning(
                "batch: %d of %d calls to retry (round %d) in %.2fs",
                len(pending),
                len(ids),
                round_number,
                delay,
            )
            policy.sleep(delay)
    return {rid: results[rid] for rid in ids}


class _RetryChunk(Exception):
    """Marker: the batch POST failed retryably; ``final`` is reported if attempts run out."""

    def __init__(self, final: GoogleApiError) -> None:
        super().__init__(str(final))
        self.final = final


def _not_attempted(blocked: DailyLimitExceeded) -> DailyLimitExceeded:
    return DailyLimitExceeded(
        blocked.sender,
        blocked.retry_at,
        status=blocked.status,
        reason=blocked.reason,
        message="not sent: the sender's limit was already reached",
        uri=None,
        attempted=False,
    )


def _run_chunk(
    chunk: Sequence[Hashable], by_id: dict[Hashable, Any], batch_uri: str, idempotent: bool
) -> dict:
    """Send one batch; map every id to its parsed result, an ``HttpError``, or a typed/marker exception."""
    outcome: dict[Hashable, Any] = {}

    def callback(request_id: str, response: Any, exception: Exception | None) -> None:
        outcome[keys[request_id]] = exception if exception is not None else response

    batch = BatchHttpRequest(callback=callback, batch_uri=batch_uri)
    keys: dict[str, Hashable] = {}
    for index, rid in enumerate(chunk):
        keys[str(index)] = rid  # Content-IDs must be strings; callers' ids may be anything hashable
        batch.add(by_id[rid], request_id=str(index))
    try:
        _ensure_fresh_token(by_id[chunk[0]])
    except Exception as exc:
        if not (isinstance(exc, TransportError) or is_transport_error(exc)):
            raise
        # No token, so no call of this batch left the machine: every part may be tried again, sends too. Raised
        # from here it would leave an outbox's claimed rows in "sending" until the in-flight grace passed.
        error = GoogleApiError(0, "TransportError", " ".join(str(exc).split())[:300])
        return dict.fromkeys(chunk, _RetryChunk(error))
    try:
        batch.execute()
    except HttpError as exc:
        # The batch POST itself was refused, so none of its calls ran: each part is judged like that error.
        return {rid: outcome.get(rid, exc) for rid in chunk}
    except Exception as exc:
        if not is_transport_error(exc):
            raise
        error: GoogleApiError = GoogleApiError(0, type(exc).__name__, str(exc))
        if not idempotent:
            error = OutcomeUnknown(0, type(exc).__name__, str(exc))
            return {rid: outcome.get(rid, error) for rid in chunk}
        return {rid: outcome.get(rid, _RetryChunk(error)) for rid in chunk}
    return {
        rid: outcome.get(rid, GoogleApiError(0, "missingPart", "no answer for this call in the batch"))
        for rid in chunk
    }


__all__ = ["GOOGLE_MAX_BATCH", "chunked", "execute_batch"]
