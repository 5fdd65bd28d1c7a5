"""Gmail's per-minute quota of a mailbox, counted in the store so every process sending as it shares one count.

Google counts a mailbox's quota units per minute (a send costs 100, a list or get 5) whoever sends as it; a count
kept in each process's memory lets two workers each spend the whole minute. Here every request is a row of
``mailbox_quota_use``, written before it goes and stamped when it returns, and a request may start only when the
units of the mailbox's last minute leave room. The count and the write happen in the mailbox's turn
(:func:`compliance.leases.mailbox_turn`), and the outbox claims its rows in that same turn, so the check, the
claim and the units spent are one atomic step in the database.

Why a request counts until a minute after it *returned*: Google counts it when it receives it, somewhere between
start and return. If two requests reach Google less than a minute apart, the first had not returned a minute
before the second started, so the second one's check saw it. A request that never returned (its process died)
counts as returned at most ``grace`` after it started: the outbox's bound on how long Google may still act on a
request whose client is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from compliance.leases import mailbox_turn
from compliance.models import MailboxQuotaUse
from compliance.store import Store

WINDOW = timedelta(minutes=1)


@dataclass
class MailboxQuota:
    """At most ``per_window`` units per mailbox in any ``window``, across every process on ``store``.

    ``reserve`` has the interface of :class:`compliance.google.pacing.SendPacer` (searches and reads after a
    send go through it); the outbox uses :meth:`wait_seconds` and :meth:`spend` inside its own claim instead.
    ``per_window <= 0`` disables pacing. ``clock`` and ``sleep`` are injected so tests move time.
    """

    store: Store
    per_window: int
    clock: Callable[[], datetime]
    sleep: Callable[[float], None]
    grace: timedelta
    window: timedelta = WINDOW

    def _counted(self, session: Session, mailbox: str, now: datetime) -> list[tuple[datetime, int]]:
        """(when the units leave the window, units) of every request still counted at ``now``."""
        edge = now - self.window
        rows = session.execute(
            select(MailboxQuotaUse.units, MailboxQuotaUse.started_at, MailboxQuotaUse.finished_at).where(
                MailboxQuotaUse.mailbox == mailbox,
                or_(
                    MailboxQuotaUse.finished_at > edge,
                    and_(MailboxQuotaUse.finished_at.is_(None), MailboxQuotaUse.started_at > edge - self.grace),
                ),
            )
        ).all()
        # Unfinished: counted as returning now, or at ``grace`` after its start when that is sooner.
        return [
            ((finished or min(now, started + self.grace)) + self.window, units) for units, started, finished in rows
        ]

    def wait_seconds(self, session: Session, mailbox: str, units: int, now: datetime) -> float:
        """0 when ``units`` fit the mailbox's last minute now; else the seconds until enough of it has passed.

        Call it in the mailbox's turn, then :meth:`spend` in the same session when it answers 0.
        """
        if self.per_window <= 0 or units <= 0:
            return 0.0
        if units > self.per_window:
            raise ValueError(f"{units} units at once can never fit {self.per_window} per window")
        counted = self._counted(session, mailbox.lower(), now)
        over = sum(u for _, u in counted) + units - self.per_window
        if over <= 0:
            return 0.0
        freed = 0
        for leaves, u in sorted(counted):
            freed += u
            if freed >= over:
                return max((leaves - now).total_seconds(), 0.001)
        return self.window.total_seconds()

    def spend(self, session: Session, mailbox: str, units: int, now: datetime) -> int | None:
        """Write a request of ``units`` starting ``now`` (in the turn that checked it); its id for :meth:`finish`.

        Rows that no longer count are removed here, so the table holds about a minute of requests per mailbox.
        """
        if self.per_window <= 0 or units <= 0:
            return None
        key = mailbox.lower()
        edge = now - self.window
        session.execute(
            delete(MailboxQuotaUse)
            .where(
                MailboxQuotaUse.mailbox == key,
                or_(
                    MailboxQuotaUse.finished_at <= edge,
                    and_(MailboxQuotaUse.finished_at.is_(None), MailboxQuotaUse.started_at <= edge - self.grace),
                ),
            )
            .execution_options(synchronize_session=False)
        )
        use = MailboxQuotaUse(mailbox=key, units=units, started_at=now)
        session.add(use)
        session.flush()
        return use.id

    def finish(self, use_id: int | None) -> None:
        """Stamp a request as returned now (once: a second call keeps the first stamp); its units leave the
        count a minute from now."""
        if use_id is None:
            return
        with self.store.session() as session:
            session.execute(
                update(MailboxQuotaUse)
                .where(MailboxQuotaUse.id == use_id, MailboxQuotaUse.finished_at.is_(None))
                .values(finished_at=self.clock())
                .execution_options(synchronize_session=False)
            )

    @contextmanager
    def reserve(self, key: str, n: int, weight: int = 1) -> Iterator[float]:
        """Wait (through ``sleep``) until ``n`` calls of ``weight`` units fit mailbox ``key``'s minute, then hold
        them until the block ends; yields the seconds waited."""
        units = n * weight
        if self.per_window <= 0 or units <= 0:
            yield 0.0
            return
        waited = 0.0
        while True:
            with mailbox_turn(self.store, key) as session:
                now = self.clock()
                wait = self.wait_seconds(session, key, units, now)
                use_id = self.spend(session, key, units, now) if not wait else None
            if not wait:
                break
            self.sleep(wait)
            waited += wait
        try:
            yield waited
        finally:
            self.finish(use_id)


__all__ = ["WINDOW", "MailboxQuota"]
