"""The outbox: every email goes out through the delivery ledger, so nothing is sent twice and nothing is lost.

A delivery row exists (``pending``) before its message is built. Just before a batch is sent its rows become
``sending`` with their sender, deterministic Message-ID and the sending run's lease token, and that is
committed (write-ahead). After the batch each row becomes ``sent`` (with the Gmail id), ``pending`` again (the
sender hit its daily limit and the message was refused) or ``failed``. A process killed mid-batch leaves rows
in ``sending``; once its lease is gone (compliance.leases) the next run looks each one up in its sender's
mailbox by Message-ID and marks it ``sent``, or ``pending`` when it is absent and older than the grace.

Capacity comes from the ledger itself: a sender's messages in the last 24 hours are counted from ``sent_at``,
so a restart cannot forget how much of a mailbox's daily limit is used. A sender that Google says is over its
limit is paused (a ``sync_state`` row) until Google's retry time.

Several processes may send at once (two workers, a nightly beside a campaign): each claim is made in the
sender's turn (compliance.leases.mailbox_turn), which counts the mailbox's day from the ledger and its minute
from ``mailbox_quota_use`` afresh and writes the claim and the minute's units in one transaction, so the
processes together stay within each mailbox's limits.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal

from google.auth.exceptions import RefreshError
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from compliance.google.clients import GMAIL_SEND_UNITS, GoogleClients
from compliance.google.errors import DailyLimitExceeded, GoogleApiError, OutcomeUnknown, RateLimited
from compliance.google.workspace import (
    get_message,
    list_message_ids,
    search_messages,
    send_messages,
    stored_message_ids,
)
from compliance.leases import RunLease, lease_alive, mailbox_turn
from compliance.ledger import record_sends
from compliance.mail import delivery_reference
from compliance.mailbox_quota import MailboxQuota
from compliance.models import Delivery, SyncState
from compliance.settings import OutboxSettings, Quotas, Settings
from compliance.store import Store

if TYPE_CHECKING:
    from compliance.mail import Attachment

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
    retry_later: int = 0  # transient failures, tried again after a backoff
    refused_senders: dict[str, str] = field(default_factory=dict)  # mailbox -> why Google refused it

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "found already sent after a crash": self.reconciled_sent,
            "deferred to a later window": self.deferred,
            "to retry later": self.retry_later,
            "senders paused": self.paused_senders,
            "senders refused": len(self.refused_senders),
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


@dataclass(slots=True)
class SenderBudget:
    """What a sender may still send in the rolling 24 hours: messages, recipients, and new distinct addresses.

    Gmail limits all three per mailbox (2,000 messages, 10,000 recipients, 3,000 unique recipients); a
    site-group message to 99 staff is one message but 100 recipients (the To: line is the sender itself).
    """

    messages: int
    recipients: int
    unique: int
    seen: set[str] = field(default_factory=set)

    def fits(self, addresses: Sequence[str]) -> bool:
        fresh = {a.lower() for a in addresses} - self.seen
        return self.messages >= 1 and self.recipients >= len(addresses) and self.unique >= len(fresh)

    def take(self, addresses: Sequence[str]) -> None:
        fresh = {a.lower() for a in addresses} - self.seen
        self.messages -= 1
        self.recipients -= len(addresses)
        self.unique -= len(fresh)
        self.seen |= fresh


def delivery_addresses(kind: str, recipient: str, recipients: Sequence[str], sender: str) -> list[str]:
    """Every address a delivery's message goes to, as Gmail counts them."""
    if recipients:
        return [sender, *recipients]  # group messages: To the sender, Bcc the members
    return [recipient]


def sender_budgets(session: Session, senders: Iterable[str], quotas: Quotas, now: datetime) -> dict[str, SenderBudget]:
    """Each sender's budget from the ledger: what it sent (or may have sent) in the 24 hours before ``now``."""
    budgets = {
        s: SenderBudget(quotas.gmail_daily_per_sender, quotas.gmail_recipients_per_day,
                        quotas.gmail_unique_recipients_per_day)
        for s in senders
    }
    rows = session.execute(
        select(Delivery.sender, Delivery.kind, Delivery.recipient, Delivery.recipients).where(
            Delivery.sender.in_(list(budgets)),
            Delivery.status.in_(("sent", "sending", "bounced")),
            Delivery.sent_at > now - WINDOW,
        )
    )
    for sender, kind, recipient, recipients in rows:
        budgets[sender].take(delivery_addresses(kind, recipient, recipients or [], sender))
    return budgets


def choose_sender(
    session: Session, budgets: dict[str, SenderBudget], now: datetime
) -> tuple[str, SenderBudget] | None:
    """The sender with the most room that is not paused, with its budget (None: nobody may send now)."""
    best: tuple[str, SenderBudget] | None = None
    for sender, budget in budgets.items():
        until = paused_until(session, sender)
        if until is not None and until > now:
            continue
        if budget.messages > 0 and budget.recipients > 0 and (best is None or budget.messages > best[1].messages):
            best = (sender, budget)
    return best


Checkpoint = Callable[[str], None]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class _InFlight:
    id: int
    key: str
    sender: str | None
    message_id: str | None
    claimed_by: str | None
    claimed_at: datetime | None


@dataclass
class Outbox:
    """The one way mail leaves the pipeline: campaign, nightly follow-up, report email and CLI all use it.

    ``in_flight_grace`` (default ``settings.outbox.in_flight_grace_seconds``) bounds how long Google may still
    act on a request whose client gave up or died: such a row that is not in its sender's mailbox is requeued
    only after that. A row claimed by a run that is still alive (its lease held) is never touched.
    ``checkpoint(phase)`` is called after each claim commit (``claimed``), after each HTTP batch returns
    (``sent``) and after its results are recorded (``recorded``): the crash drill stops a process there.
    """

    store: Store
    clients: GoogleClients
    settings: Settings
    clock: Callable[[], datetime] = _utcnow
    in_flight_grace: timedelta | None = None
    checkpoint: Checkpoint | None = None
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        # Gmail's minute is per mailbox across processes: this process's searches and reads (through the
        # clients' pacer) and its claims count in the store, with every other process's.
        clients: GoogleClients | None = self.clients  # None: a test that only settles rows
        self.quota = MailboxQuota(
            self.store,
            self.settings.quotas.gmail_sends_per_minute * GMAIL_SEND_UNITS,
            clock=self.clock,
            sleep=clients.policy.sleep if clients is not None else self.sleep,
            grace=self.grace,
        )
        if clients is not None:
            clients.send_pacer = self.quota

    @property
    def grace(self) -> timedelta:
        if self.in_flight_grace is not None:
            return self.in_flight_grace
        return timedelta(seconds=self.settings.outbox.in_flight_grace_seconds)

    @property
    def senders(self) -> list[str]:
        return [str(s) for s in self.settings.senders]

    def send(
        self,
        *,
        campaign_id: int | None = None,
        kinds: tuple[str, ...] | None = None,
        keys: Sequence[str] | None = None,
        attachments: dict[str, list[Attachment]] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> OutboxCounts:
        """Send pending deliveries (of a campaign, of some kinds, or with these idempotency keys; else all).

        ``attachments`` maps an idempotency key to the files its message carries (the report workbook).
        The run ends when nothing is left that may go now: rows whose sender windows are full, that failed
        transiently (tried again after a backoff) or whose outcome is unknown stay for a later run.
        """
        from compliance.mailings import MessageFactory  # templates load only in processes that send

        criteria = []
        if campaign_id is not None:
            criteria.append(Delivery.campaign_id == campaign_id)
        if kinds is not None:
            criteria.append(Delivery.kind.in_(kinds))
        if keys is not None:
            criteria.append(Delivery.idempotency_key.in_(list(keys)))
        with self.store.session() as session:
            by_id: dict[int, list[Attachment]] | None = None
            if attachments:
                ids = session.execute(
                    select(Delivery.idempotency_key, Delivery.id).where(
                        Delivery.idempotency_key.in_(list(attachments))
                    )
                ).all()
                by_id = {row_id: attachments[key] for key, row_id in ids}
            factory = MessageFactory(session, self.settings, self.clock(), attachments=by_id)
            return self._run(criteria, factory, progress)

    def reconcile(self) -> tuple[int, int]:
        """Settle rows dead runs left ``sending``: (found in the mailbox -> sent, requeued -> pending)."""
        return self._reconcile(None)

    def check_bounces(self, since: datetime) -> BounceCounts:
        """Bounces in every sender mailbox since ``since``.

        A bounce that says the sender hit a sending limit (Gmail can accept a message and refuse it minutes
        later) means the message never went: it is queued again and the sender paused for a day.
        """
        self._backfill_stored_ids()
        counts = BounceCounts()
        for sender in self.senders:
            found = bounced_message_ids(self.clients, sender, since)
            counts.seen += len(found)
            with self.store.session() as session:
                failed, requeued = mark_bounces(session, found)
                counts.marked += failed
                counts.requeued += requeued
                if requeued:
                    pause_sender(session, sender, self.clock() + WINDOW)
                    counts.paused_senders += 1
        return counts

    # -- internals ------------------------------------------------------------------------------------

    def _run(self, criteria: list, build: MessageBuilder, progress: Callable[[int], None] | None) -> OutboxCounts:
        counts = OutboxCounts()
        with RunLease(self.store.engine) as lease:
            counts.reconciled_sent, counts.reconciled_pending = self._reconcile(lease.token)
            self._backfill_stored_ids()
            for _settle in range(4):
                self._send_rounds(criteria, build, progress, counts, lease.token)
                youngest = self._youngest_unsettled(lease.token)
                if youngest is None or counts.deferred:
                    break
                wait = (youngest + self.grace - self.clock()).total_seconds() + 0.05
                if wait > self.settings.outbox.settle_wait_seconds:
                    break  # Google may act on them for a while yet: a later run settles them
                if wait > 0:
                    self.sleep(wait)
                found, requeued = self._reconcile(lease.token)
                counts.reconciled_sent += found
                counts.reconciled_pending += requeued
        with self.store.session() as session:
            counts.in_flight = len(session.scalars(select(Delivery.id).where(Delivery.status == "sending")).all())
        return counts

    def _pending(self, session: Session, criteria: list, limit: int, now: datetime) -> list[Delivery]:
        stmt = select(Delivery).where(
            Delivery.status == "pending",
            or_(Delivery.not_before.is_(None), Delivery.not_before <= now),
            *criteria,
        )
        return list(session.scalars(stmt.order_by(Delivery.id).limit(limit)))

    def _in_flight(self, own: str | None) -> list[_InFlight]:
        """Rows in ``sending`` that this run may settle: its own, and those of runs that are not alive."""
        with self.store.session() as session:
            rows = [
                _InFlight(*r)
                for r in session.execute(
                    select(Delivery.id, Delivery.idempotency_key, Delivery.sender, Delivery.rfc822_message_id,
                           Delivery.claimed_by, Delivery.sent_at)
                    .where(Delivery.status == "sending")
                    .order_by(Delivery.id)
                )
            ]
        alive: dict[str, bool | None] = {}
        settleable = []
        for row in rows:
            token = row.claimed_by
            if token is not None and token != own:
                if token not in alive:
                    alive[token] = lease_alive(self.store.engine, token)
                if alive[token]:
                    continue  # its run is working on it: that run records the outcome
            settleable.append(row)
        return settleable

    def _youngest_unsettled(self, own: str) -> datetime | None:
        claims = [r.claimed_at for r in self._in_flight(own) if r.claimed_at is not None]
        return max(claims) if claims else None

    def _reconcile(self, own: str | None) -> tuple[int, int]:
        """Rows in flight: in the sender's mailbox -> sent; absent and older than the grace -> pending.

        Absent but younger than the grace stays ``sending``: Google may still be working through the request
        of a client that gave up or died, so requeueing it would be a guess. Every change is conditional on
        the row still holding the claim that was read, so two runs settling at once cannot undo each other.
        """
        rows = self._in_flight(own)
        if not rows:
            return 0, 0
        now = self.clock()
        found = requeued = 0
        by_sender: dict[str, list[_InFlight]] = {}
        for row in rows:
            by_sender.setdefault(row.sender or "", []).append(row)
        for sender, group in by_sender.items():
            hits = self._lookup(sender, group)
            with self.store.session() as session:
                for row, hit in zip(group, hits, strict=True):
                    if isinstance(hit, Exception):
                        continue  # could not look: stays ``sending``, looked at again, never resent blindly
                    if hit:
                        settled = _settle(session, row, status="sent", gmail_message_id=hit, error=None)
                        found += settled
                        if settled:
                            record_sends(session, [row.id], now=now)
                    elif row.claimed_at is None or row.claimed_at <= now - self.grace:
                        requeued += _settle(session, row, status="pending", sender=None, sent_at=None,
                                            claimed_by=None)
        return found, requeued

    def _lookup(self, sender: str, rows: list[_InFlight]) -> list[str | None | Exception]:
        """Each row's message in ``sender``'s mailbox: by our Message-ID, else by the reference in its text.

        Gmail may have replaced our Message-ID, so absence by Message-ID alone proves nothing; the reference
        (compliance.mail.delivery_reference) is text we control and Gmail search finds.
        """
        if not sender:
            return [None] * len(rows)
        hits = search_messages(
            self.clients, sender, [f"rfc822msgid:{(r.message_id or '').strip('<>')}" for r in rows]
        )
        missing = [i for i, hit in enumerate(hits) if hit is None]
        if missing:
            again = search_messages(
                self.clients, sender, [f'in:sent "{delivery_reference(rows[i].key)}"' for i in missing]
            )
            for i, hit in zip(missing, again, strict=True):
                hits[i] = hit
        found = {str(h) for h in hits if isinstance(h, str)}
        if found:
            self._remember_stored_ids(sender, {r.id: h for r, h in zip(rows, hits, strict=True) if isinstance(h, str)})
        return hits

    def _remember_stored_ids(self, sender: str, gmail_ids: dict[int, str]) -> None:
        """Keep the Message-ID Gmail stored for each sent row: the id its bounces will quote."""
        if not gmail_ids:
            return
        stored = stored_message_ids(self.clients, sender, list(gmail_ids.values()))
        with self.store.session() as session:
            for row_id, gmail_id in gmail_ids.items():
                if stored.get(gmail_id):
                    session.execute(
                        update(Delivery).where(Delivery.id == row_id).values(gmail_rfc822_id=stored[gmail_id])
                        .execution_options(synchronize_session=False)
                    )

    def _backfill_stored_ids(self, limit: int = 5000) -> None:
        """Sent rows whose stored Message-ID was never read back (a run died right after recording them)."""
        with self.store.session() as session:
            rows = session.execute(
                select(Delivery.id, Delivery.sender, Delivery.gmail_message_id)
                .where(Delivery.status == "sent", Delivery.gmail_rfc822_id.is_(None),
                       Delivery.gmail_message_id.is_not(None), Delivery.sender.is_not(None))
                .limit(limit)
            ).all()
        by_sender: dict[str, dict[int, str]] = {}
        for row_id, sender, gmail_id in rows:
            by_sender.setdefault(sender, {})[row_id] = gmail_id
        for sender, ids in by_sender.items():
            self._remember_stored_ids(sender, ids)

    def _send_rounds(
        self,
        criteria: list,
        build: MessageBuilder,
        progress: Callable[[int], None] | None,
        counts: OutboxCounts,
        token: str,
    ) -> None:
        full: set[str] = set()  # senders whose recipient budget no pending message fits this run
        # Budgets are read from the ledger once a run to choose a sender; the chosen sender's budget is read
        # again in its turn (another process may have used it) and kept, so a run reads each mailbox's day once
        # per claim, never the whole district's.
        with self.store.session() as session:
            budgets = sender_budgets(session, self.senders, self.settings.quotas, self.clock())
        while True:
            # The minute's units stay counted from the claim to after the request returns; a wait for the
            # minute happens before the claim, while the rows are still pending, so a row is `sending` only for
            # the one request that carries it.
            with ExitStack() as pacing:
                now = self.clock()
                usable = {s: b for s, b in budgets.items() if s not in counts.refused_senders and s not in full}
                with self.store.session() as session:
                    choice = choose_sender(session, usable, now)
                    if choice is None:
                        counts.deferred = len(self._pending(session, criteria, 10**9, now))
                        break
                sender = choice[0]
                turn = self._claim_in_turn(sender, criteria, build, token, counts, budgets)
                if turn is None:
                    break
                now, batch, use_id, is_full = turn
                pacing.callback(self.quota.finish, use_id)  # on any way out (finishing twice keeps the first)
                if is_full:
                    full.add(sender)
                if self.checkpoint is not None:
                    self.checkpoint("claimed")
                if not batch:
                    continue
                try:
                    results = send_messages(self.clients, sender, batch, paced=False)
                except RefreshError as exc:
                    # The service account may not act as this mailbox (delegation, suspended user): nothing was
                    # sent; give the rows back and use the other senders.
                    counts.refused_senders[sender] = f"cannot act as {sender}: {_short(exc)}"
                    with self.store.session() as session:
                        _unclaim(session, [row_id for row_id, _ in batch], counts.refused_senders[sender])
                    continue
                finally:
                    self.quota.finish(use_id)  # returned: its units leave the minute a minute from now
                if self.checkpoint is not None:
                    self.checkpoint("sent")
                with self.store.session() as session:
                    outcome = _record(session, results, now, self.settings.outbox)
                    # Chained in the same transaction as the rows become ``sent``: no send without its event.
                    record_sends(session, [k for k, v in results.items() if isinstance(v, str)], now=self.clock())
                if self.checkpoint is not None:
                    self.checkpoint("recorded")
                self._remember_stored_ids(sender, {k: v for k, v in results.items() if isinstance(v, str)})
                counts.sent += outcome.sent
                counts.failed += outcome.failed
                counts.retry_later += outcome.retry_later
                if outcome.refused is not None:
                    counts.refused_senders[sender] = outcome.refused
                if outcome.paused_until is not None:
                    with self.store.session() as session:
                        pause_sender(session, sender, outcome.paused_until)
                    counts.paused_senders += 1
                if outcome.unknown:
                    found, _ = self._reconcile(token)
                    counts.sent += found
                if progress is not None:
                    progress(outcome.sent + outcome.failed)

    def _claim_in_turn(
        self,
        sender: str,
        criteria: list,
        build: MessageBuilder,
        token: str,
        counts: OutboxCounts,
        budgets: dict[str, SenderBudget],
    ) -> tuple[datetime, list[tuple[int, bytes]], int | None, bool] | None:
        """Claim the next rows for ``sender`` in its turn; (claim time, batch, units' id, sender full) or None
        when nothing is pending.

        In one transaction, with no other process in the mailbox's turn: the day's budget from the ledger, the
        minute's units, the claim, and the units the batch spends. When the minute has no room the turn is
        given up, the run waits (rows still pending) and tries again.
        """
        while True:
            with mailbox_turn(self.store, sender) as session:
                # Read in the turn, after any wait for the minute: the claim is stamped when its request can
                # start, so the in-flight grace never counts the wait and another run never sees it older.
                now = self.clock()
                budget = sender_budgets(session, [sender], self.settings.quotas, now)[sender]
                budgets[sender] = budget
                limit = min(budget.messages, CHUNK, self.clients.send_batch_size)
                if limit <= 0 or budget.recipients <= 0:
                    return now, [], None, True
                rows = self._pending(session, criteria, limit, now)
                if not rows:
                    return None
                wait = self.quota.wait_seconds(session, sender, len(rows) * GMAIL_SEND_UNITS, now)
                if not wait:
                    batch = self._claim(session, rows, build, sender, now, token, counts, budget)
                    use_id = self.quota.spend(session, sender, len(batch) * GMAIL_SEND_UNITS, now)
                    is_full = not batch and not any(
                        budget.fits(delivery_addresses(r.kind, r.recipient, r.recipients or [], sender))
                        for r in rows if r.status == "pending"
                    )
                    return now, batch, use_id, is_full
            self.quota.sleep(wait)

    @staticmethod
    def _claim(
        session: Session,
        rows: list[Delivery],
        build: MessageBuilder,
        sender: str,
        now: datetime,
        token: str,
        counts: OutboxCounts,
        budget: SenderBudget,
    ) -> list[tuple[int, bytes]]:
        """Build each row's message and claim it (write-ahead); return what this run may now send.

        A row whose recipients no longer fit the sender's budget stays pending for another sender or window.
        """
        batch: list[tuple[int, bytes]] = []
        for row in rows:
            addresses = delivery_addresses(row.kind, row.recipient, row.recipients or [], sender)
            if not budget.fits(addresses):
                continue
            try:
                raw, message_id = build(row, sender)
            except ValueError as exc:  # HeaderInjection and malformed addresses are ValueErrors
                row.status, row.error = "failed", f"{type(exc).__name__}: {exc}"[:1000]
                counts.failed += 1
                continue
            # Conditional update: another process that read the same pending rows (a nightly run and an
            # operator's ``campaign send`` at once) finds them taken and skips them.
            claimed = session.execute(
                update(Delivery)
                .where(Delivery.id == row.id, Delivery.status == "pending")
                .values(status="sending", sender=sender, rfc822_message_id=message_id, claimed_by=token,
                        attempts=Delivery.attempts + 1, sent_at=now, not_before=None)
                .execution_options(synchronize_session=False)
            ).rowcount
            if claimed:
                budget.take(addresses)
                batch.append((row.id, raw))
        return batch


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _unclaim(session: Session, ids: list[int], reason: str) -> None:
    session.execute(
        update(Delivery)
        .where(Delivery.id.in_(ids), Delivery.status == "sending")
        .values(status="pending", sender=None, sent_at=None, claimed_by=None, error=reason[:1000],
                attempts=Delivery.attempts - 1)
        .execution_options(synchronize_session=False)
    )


def _settle(session: Session, row: _InFlight, **values: object) -> int:
    """Apply ``values`` to a row only if it still holds the claim that was read (returns 1 if it did)."""
    claimer = Delivery.claimed_by.is_(None) if row.claimed_by is None else Delivery.claimed_by == row.claimed_by
    claimed_at = Delivery.sent_at.is_(None) if row.claimed_at is None else Delivery.sent_at == row.claimed_at
    return session.execute(
        update(Delivery)
        .where(Delivery.id == row.id, Delivery.status == "sending", claimer, claimed_at)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount


# Refusals that no retry can change: the request itself is wrong (400), names nothing (404), is too large
# (413) or unprocessable (422). The delivery fails with Google's reason.
_PERMANENT = frozenset({400, 404, 413, 422})


@dataclass(slots=True)
class _Outcome:
    sent: int = 0
    failed: int = 0
    unknown: int = 0
    retry_later: int = 0
    paused_until: datetime | None = None
    refused: str | None = None  # the sender is refused (403 that is not a rate limit, 401)


def _record(session: Session, results: dict, now: datetime, policy: OutboxSettings) -> _Outcome:
    out = _Outcome()
    rows = {r.id: r for r in session.scalars(select(Delivery).where(Delivery.id.in_(list(results))))}
    for delivery_id, result in results.items():
        row = rows[delivery_id]
        if isinstance(result, str):
            row.status, row.gmail_message_id, row.sent_at, row.error = "sent", result, now, None
            out.sent += 1
            continue
        reason = f"{type(result).__name__}: {_short(result)}"[:1000]
        if isinstance(result, DailyLimitExceeded):
            # Refused, not sent: it waits for this or another sender's window.
            row.status, row.sender, row.sent_at, row.claimed_by = "pending", None, None, None
            row.attempts -= 1
            out.paused_until = max(filter(None, [out.paused_until, result.retry_at]))
        elif isinstance(result, OutcomeUnknown):
            out.unknown += 1  # stays "sending": looked up in the mailbox before anything is resent
        elif isinstance(result, GoogleApiError) and result.status in _PERMANENT:
            row.status, row.error = "failed", reason
            out.failed += 1
        elif isinstance(result, GoogleApiError) and (
            result.status == 401 or (result.status == 403 and not isinstance(result, RateLimited))
        ):
            # accessNotConfigured, a domain policy, a missing scope: the mailbox cannot send at all. Not the
            # message's fault: it waits for another sender or for the set-up to be fixed.
            row.status, row.sender, row.sent_at, row.claimed_by, row.error = "pending", None, None, None, reason
            row.attempts -= 1
            out.refused = reason
        elif row.attempts >= policy.max_attempts:
            row.status, row.error = "failed", f"gave up after {row.attempts} attempts: {reason}"[:1000]
            out.failed += 1
        else:
            backoff = policy.retry_after_seconds * 2 ** max(row.attempts - 1, 0)
            row.status, row.sender, row.sent_at, row.claimed_by = "pending", None, None, None
            row.error, row.not_before = reason, now + timedelta(seconds=backoff)
            out.retry_later += 1
    session.flush()
    return out


_MESSAGE_ID = re.compile(r"<[^<>\s]+@[^<>\s]+>")


@dataclass(slots=True)
class BounceCounts:
    seen: int = 0
    marked: int = 0  # deliveries that failed for good (bounced)
    requeued: int = 0  # refused for a sending limit after acceptance: queued again
    paused_senders: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"bounces seen": self.seen, "deliveries marked bounced": self.marked,
                "requeued after a late sending-limit refusal": self.requeued, "senders paused": self.paused_senders}


# How Gmail words a refusal for a sending limit in a DSN: the enhanced status 5.4.5 ("Daily user sending limit
# exceeded") or the "You have reached a limit for sending mail" notice.
_LIMIT_DSN = re.compile(r"\b5\.4\.5\b|limit for sending|sending (?:limit|quota) exceeded", re.I)
BounceKind = Literal["failed", "limit"]


def bounced_message_ids(clients: GoogleClients, mailbox: str, since: datetime) -> dict[str, BounceKind]:
    """Message-IDs of our messages that bounced back into ``mailbox`` since ``since``, with why.

    A 200 from messages.send only means Gmail accepted the message; the DSN names the original in
    In-Reply-To/References. ``limit``: the sender was over a sending limit (the message was not sent);
    ``failed``: the recipient could not be reached.
    """
    query = f"from:mailer-daemon after:{int(since.timestamp())}"
    found: dict[str, BounceKind] = {}
    for message_id in list_message_ids(clients, mailbox, query):
        full = get_message(clients, mailbox, message_id, format="raw")
        parsed = email.message_from_bytes(_raw_bytes(full), policy=email.policy.default)
        text = " ".join(
            part.get_content() for part in parsed.walk()
            if part.get_content_type() in ("text/plain", "message/delivery-status") and not part.is_multipart()
            and isinstance(part.get_content(), str)
        )
        kind: BounceKind = "limit" if _LIMIT_DSN.search(text) else "failed"
        for header in ("In-Reply-To", "References"):
            for quoted in _MESSAGE_ID.findall(str(parsed.get(header, ""))):
                found[quoted] = kind
    return found


def _raw_bytes(message: dict) -> bytes:
    return base64.urlsafe_b64decode(message["raw"] + "=" * (-len(message["raw"]) % 4))


def mark_bounces(session: Session, bounces: dict[str, BounceKind]) -> tuple[int, int]:
    """Apply bounces to sent deliveries: (marked ``bounced``, queued again after a sending-limit refusal)."""
    if not bounces:
        return 0, 0
    ids = list(bounces)
    marked = requeued = 0
    for row in session.scalars(
        select(Delivery).where(
            or_(Delivery.rfc822_message_id.in_(ids), Delivery.gmail_rfc822_id.in_(ids)), Delivery.status == "sent"
        )
    ):
        kind = bounces.get(row.gmail_rfc822_id or "") or bounces.get(row.rfc822_message_id or "")
        if kind == "limit":
            row.status, row.sender, row.sent_at, row.claimed_by = "pending", None, None, None
            row.gmail_message_id, row.gmail_rfc822_id = None, None
            row.error = "refused after acceptance: the sender was over a Gmail sending limit"
            requeued += 1
        else:
            row.status, row.error = "bounced", "delivery failed: bounce received"
            marked += 1
    session.flush()
    return marked, requeued
