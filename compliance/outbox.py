"""The outbox: every email goes out through the delivery ledger, so nothing is sent twice and nothing is lost.

A delivery row exists (``pending``) before its message is built. Just before a batch is sent its rows become
``sending`` with their sender and deterministic Message-ID, and that is committed (write-ahead). After the
batch each row becomes ``sent`` (with the Gmail id), ``pending`` again (the sender hit its daily limit and the
message was refused) or ``failed``. A process killed mid-batch leaves rows in ``sending``; the next run looks
each one up in its sender's mailbox by Message-ID (``rfc822msgid:``) and marks it ``sent`` or ``pending``.

Capacity comes from the ledger itself: a sender's messages in the last 24 hours are counted from ``sent_at``,
so a restart cannot forget how much of a mailbox's daily limit is used. A sender that Google says is over its
limit is paused (a ``sync_state`` row) until Google's retry time.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from compliance.google.batch import execute_batch
from compliance.google.clients import GoogleClients
from compliance.google.errors import DailyLimitExceeded, GoogleApiError, OutcomeUnknown
from compliance.google.workspace import get_message, list_message_ids, send_messages
from compliance.models import Delivery, SyncState
from compliance.settings import Settings
from compliance.store import Store

WINDOW = timedelta(hours=24)
# Rows claimed per round: at most one HTTP batch, so a claim is never older than the one request in flight
# for it (what the in-flight grace relies on); rounds rotate over the pool so senders share the load.
CHUNK = 100
MessageBuilder = Callable[[Delivery, str], tuple[bytes, str]]  # (delivery, sender) -> (raw, Message-ID)


class UnsendableMessage(ValueError):
    """The message for a delivery cannot be built (header injection, malformed address); it fails, others go on."""


@dataclass(slots=True)
class OutboxCounts:
    sent: int = 0
    failed: int = 0
    reconciled_sent: int = 0
    reconciled_pending: int = 0
    deferred: int = 0  # still pending because every sender is at its limit or paused
    paused_senders: int = 0
    in_flight: int = 0  # still ``sending`` at the end: settled by the next run


    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "found already sent after a crash": self.reconciled_sent,
            "deferred to a later window": self.deferred,
            "senders paused": self.paused_senders,
            "still in flight": self.in_flight,
        }


def _pause_key(sender: str) -> str:
    return f"sender.paused_until.{sender.lower()}"


def paused_until(session: Session, sender: str) -> datetime | None:
    row = session.get(SyncState, _pause_key(sender))
    return datetime.fromisoformat(row.value) if row is not None else None


def pause_sender(session: Session, sender: str, until: datetime) -> None:
    """Stop using ``sender`` until ``until`` (Google's retry time for a daily or mail-sending limit)."""
    row = session.get(SyncState, _pause_key(sender))
    if row is None:
        session.add(SyncState(key=_pause_key(sender), value=until.isoformat()))
    elif datetime.fromisoformat(row.value) < until:
        row.value = until.isoformat()
    session.flush()


def sender_usage(session: Session, senders: Iterable[str], now: datetime) -> dict[str, int]:
    """Messages each sender sent (or may have sent) in the rolling 24 hours before ``now``."""
    usage = {s: 0 for s in senders}
    rows = session.execute(
        select(Delivery.sender, func.count())
        .where(
            Delivery.sender.in_(list(usage)),
            Delivery.status.in_(("sent", "sending", "bounced")),
            Delivery.sent_at > now - WINDOW,
        )
        .group_by(Delivery.sender)
    )
    for sender, count in rows:
        usage[sender] = count
    return usage


def choose_sender(session: Session, senders: Sequence[str], daily_limit: int, now: datetime) -> tuple[str, int] | None:
    """The least-used sender that is not paused and has room today, with how many more it may send."""
    usage = sender_usage(session, senders, now)
    best: tuple[str, int] | None = None
    for sender in senders:
        until = paused_until(session, sender)
        if until is not None and until > now:
            continue
        room = daily_limit - usage[sender]
        if room > 0 and (best is None or room > best[1]):
            best = (sender, room)
    return best


def reconcile_in_flight(
    session: Session, clients: GoogleClients, now: datetime | None = None, grace: timedelta = timedelta(0)
) -> tuple[int, int]:
    """Rows left ``sending`` by a crash: in the sender's mailbox -> sent, otherwise back to pending.

    A row claimed less than ``grace`` before ``now`` that is not in the mailbox yet stays ``sending``: its
    request may still be running (a killed client does not stop a batch the server is working through, and
    search can lag), so requeueing it now could send it twice. It is looked at again later.
    """
    found = requeued = 0
    rows = list(session.scalars(select(Delivery).where(Delivery.status == "sending").order_by(Delivery.id)))
    by_sender: dict[str, list[Delivery]] = {}
    for row in rows:
        by_sender.setdefault(row.sender, []).append(row)
    for sender, group in by_sender.items():
        # One search per row, 50 to an HTTP batch: after a crash up to a whole claim is in flight.
        for row, hit in zip(group, _search_message_ids(clients, sender, group), strict=True):
            if isinstance(hit, Exception):
                continue  # could not look: stays ``sending`` and is looked at again, never resent blindly
            if hit:
                row.status, row.gmail_message_id = "sent", hit
                found += 1
            elif now is None or row.sent_at is None or row.sent_at <= now - grace:
                row.status, row.sent_at = "pending", None
                requeued += 1
    session.flush()
    return found, requeued


def _search_message_ids(clients: GoogleClients, sender: str, rows: list[Delivery]) -> list[str | None | Exception]:
    """For each row, the Gmail id of the message with its Message-ID in ``sender``'s mailbox (None: absent)."""
    service = clients.gmail(sender)
    requests = [
        (i, service.users().messages().list(
            userId="me", q=f"rfc822msgid:{row.rfc822_message_id.strip('<>')}", maxResults=1
        ))
        for i, row in enumerate(rows)
    ]
    results = execute_batch(
        service, requests, batch_uri=clients.batch_uri("gmail"), max_per_batch=50, policy=clients.policy,
        idempotent=True,
    )
    out: list[str | None | Exception] = []
    for i in range(len(rows)):
        value = results[i]
        if isinstance(value, Exception):
            out.append(value)
        else:
            messages = value.get("messages") or []
            out.append(str(messages[0]["id"]) if messages else None)
    return out


def _youngest_in_flight(session: Session) -> datetime | None:
    return session.scalar(select(func.max(Delivery.sent_at)).where(Delivery.status == "sending"))


def send_pending(
    store: Store,
    clients: GoogleClients,
    build: MessageBuilder,
    *,
    senders: Sequence[str],
    daily_limit: int,
    clock: Callable[[], datetime],
    select_rows: Callable[[Session, int], list[Delivery]],
    progress: Callable[[int], None] | None = None,
    in_flight_grace: timedelta = timedelta(0),
    sleep: Callable[[float], None] = time.sleep,
) -> OutboxCounts:
    """Send pending deliveries chosen by ``select_rows(session, n)`` until none are left or no sender has room.

    ``build`` renders one delivery for the chosen sender; :class:`UnsendableMessage` (or ValueError) fails that
    delivery with the reason and the rest go on. Rows another (perhaps killed) process claimed less than
    ``in_flight_grace`` ago are left alone while they may still be in flight; once everything else is sent
    the run waits (``sleep``) for them to settle, a few times at most, and sends those that never left.
    """
    counts = OutboxCounts()
    with store.session() as session:
        counts.reconciled_sent, counts.reconciled_pending = reconcile_in_flight(
            session, clients, clock(), in_flight_grace
        )
    for _settle in range(4):
        _send_rounds(store, clients, build, senders, daily_limit, clock, select_rows, progress, in_flight_grace,
                     counts)
        with store.session() as session:
            youngest = _youngest_in_flight(session)
        if youngest is None or counts.deferred:
            break
        wait = (youngest + in_flight_grace - clock()).total_seconds() + 0.05
        if wait > 0:
            sleep(wait)
        with store.session() as session:
            found, requeued = reconcile_in_flight(session, clients, clock(), in_flight_grace)
        counts.reconciled_sent += found
        counts.reconciled_pending += requeued
    with store.session() as session:
        counts.in_flight = len(session.scalars(select(Delivery.id).where(Delivery.status == "sending")).all())
    return counts


def _send_rounds(
    store: Store,
    clients: GoogleClients,
    build: MessageBuilder,
    senders: Sequence[str],
    daily_limit: int,
    clock: Callable[[], datetime],
    select_rows: Callable[[Session, int], list[Delivery]],
    progress: Callable[[int], None] | None,
    in_flight_grace: timedelta,
    counts: OutboxCounts,
) -> None:
    while True:
        now = clock()
        with store.session() as session:
            choice = choose_sender(session, senders, daily_limit, now)
            if choice is None:
                counts.deferred = len(select_rows(session, 10**9))
                break
            sender, room = choice
            rows = select_rows(session, min(room, CHUNK, clients.send_batch_size))
            if not rows:
                break
            built: list[tuple[int, bytes, str]] = []
            for row in rows:
                try:
                    raw, message_id = build(row, sender)
                except ValueError as exc:  # HeaderInjection and malformed addresses are ValueErrors
                    row.status, row.error = "failed", f"{type(exc).__name__}: {exc}"[:1000]
                    counts.failed += 1
                    continue
                built.append((row.id, raw, message_id))
            batch: list[tuple[int, bytes]] = []
            for row_id, raw, message_id in built:
                # Claim with a conditional update: another process that read the same pending rows (a nightly
                # run and an operator's ``campaign send`` at once) finds them taken and skips them.
                claimed = session.execute(
                    update(Delivery)
                    .where(Delivery.id == row_id, Delivery.status == "pending")
                    .values(status="sending", sender=sender, rfc822_message_id=message_id,
                            attempts=Delivery.attempts + 1, sent_at=now)
                    .execution_options(synchronize_session=False)
                ).rowcount
                if claimed:
                    batch.append((row_id, raw))
        if not batch:
            continue
        results = send_messages(clients, sender, batch)
        with store.session() as session:
            outcome = _record(session, results, now)
        counts.sent += outcome["sent"]
        counts.failed += outcome["failed"]
        if outcome["paused_until"] is not None:
            with store.session() as session:
                pause_sender(session, sender, outcome["paused_until"])
            counts.paused_senders += 1
        if outcome["unknown"]:
            with store.session() as session:
                found, _ = reconcile_in_flight(session, clients, clock(), in_flight_grace)
                counts.sent += found
        if progress is not None:
            progress(outcome["sent"] + outcome["failed"])


def pending_rows(campaign_id: int | None = None, kinds: tuple[str, ...] | None = None) -> Callable[
    [Session, int], list[Delivery]
]:
    """A row selector for :func:`send_pending`: pending deliveries (of a campaign, of some kinds) oldest first."""

    def select_rows(session: Session, limit: int) -> list[Delivery]:
        stmt = select(Delivery).where(Delivery.status == "pending")
        if campaign_id is not None:
            stmt = stmt.where(Delivery.campaign_id == campaign_id)
        if kinds is not None:
            stmt = stmt.where(Delivery.kind.in_(kinds))
        return list(session.scalars(stmt.order_by(Delivery.id).limit(limit)))

    return select_rows


def send_ledger(
    settings: Settings,
    store: Store,
    clients: GoogleClients,
    campaign_id: int | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
    progress: Callable[[int], None] | None = None,
    in_flight_grace: timedelta | None = None,
) -> OutboxCounts:
    """Send what the ledger holds pending (one campaign's, or all) through the settings' sender pool.

    Plain function without Prefect, so a process that only sends (``district-compliance campaign send``)
    starts fast; the Prefect task ``tasks.campaign.send_queued_mail`` calls it too. ``in_flight_grace``
    (default: twice the Google request timeout) is how long a row another process claimed may still be in
    flight before it counts as never sent.
    """
    from compliance.mailings import MessageFactory  # mailings pulls in templates; only senders need it

    clock = clock or (lambda: datetime.now(UTC))
    with store.session() as session:
        factory = MessageFactory(session, settings, clock())
        return send_pending(
            store,
            clients,
            factory,
            senders=[str(s) for s in settings.senders],
            daily_limit=settings.quotas.gmail_daily_per_sender,
            clock=clock,
            select_rows=pending_rows(campaign_id),
            progress=progress,
            in_flight_grace=(
                in_flight_grace
                if in_flight_grace is not None
                else timedelta(seconds=2 * settings.google.timeout_seconds)
            ),
        )


def _record(session: Session, results: dict, now: datetime) -> dict:
    out: dict = {"sent": 0, "failed": 0, "unknown": 0, "paused_until": None}
    rows = {r.id: r for r in session.scalars(select(Delivery).where(Delivery.id.in_(list(results))))}
    for delivery_id, result in results.items():
        row = rows[delivery_id]
        if isinstance(result, str):
            row.status, row.gmail_message_id, row.sent_at, row.error = "sent", result, now, None
            out["sent"] += 1
        elif isinstance(result, DailyLimitExceeded):
            # Refused, not sent: it waits for this or another sender's window.
            row.status, row.sender, row.sent_at = "pending", None, None
            out["paused_until"] = max(filter(None, [out["paused_until"], result.retry_at]))
        elif isinstance(result, OutcomeUnknown):
            out["unknown"] += 1  # stays "sending": looked up in the mailbox before anything is resent
        elif isinstance(result, GoogleApiError) and result.status in (400, 404):
            row.status, row.error = "failed", f"{result.status} {result.reason}: {result}"[:1000]
            out["failed"] += 1
        else:
            row.status, row.sender, row.sent_at = "pending", None, None
            row.error = f"{type(result).__name__}: {result}"[:1000]
    session.flush()
    return out


_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


def bounced_message_ids(clients: GoogleClients, mailbox: str, since: datetime) -> set[str]:
    """Message-IDs of our messages that bounced back into ``mailbox`` (mailer-daemon DSNs) since ``since``.

    A 200 from messages.send only means Gmail accepted the message; the DSN names the original in
    In-Reply-To/References and in its attached headers.
    """
    query = f"from:mailer-daemon after:{int(since.timestamp())}"
    found: set[str] = set()
    for message_id in list_message_ids(clients, mailbox, query):
        full = get_message(clients, mailbox, message_id, format="raw")
        parsed = email.message_from_bytes(_raw_bytes(full), policy=email.policy.default)
        for header in ("In-Reply-To", "References"):
            found.update(_MESSAGE_ID.findall(str(parsed.get(header, ""))))
    return found


def _raw_bytes(message: dict) -> bytes:
    return base64.urlsafe_b64decode(message["raw"] + "=" * (-len(message["raw"]) % 4))


def mark_bounces(session: Session, message_ids: set[str]) -> int:
    """Sent deliveries whose message bounced become ``bounced`` (they count as not delivered)."""
    if not message_ids:
        return 0
    changed = 0
    for row in session.scalars(
        select(Delivery).where(Delivery.rfc822_message_id.in_(list(message_ids)), Delivery.status == "sent")
    ):
        row.status, row.error = "bounced", "delivery failed: bounce received"
        changed += 1
    session.flush()
    return changed
