"""Planned deliveries and the one way they become rows of the send ledger.

Planning (campaign announcements, reminders, digests, escalations, takedown notices) returns
:class:`PlannedDelivery` values and never touches the ledger; :func:`queue_deliveries` writes them. Keys are
deterministic (:func:`delivery_key`), so queuing the same plan twice adds nothing the second time and a re-run
of any job never sends a message twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.models import Delivery

# Keys looked up per query: well under SQLite's bound-parameter limit, few round trips at 175,000 rows.
_LOOKUP_CHUNK = 5000


def delivery_key(campaign_id: int | str, person_key: str, kind: str) -> str:
    """Idempotency key of one message (64 hex characters): the same campaign, person and kind, the same key."""
    return hashlib.sha256(f"{campaign_id}\x1f{person_key}\x1f{kind}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class PlannedDelivery:
    """One message a job has decided to send, not yet in the ledger.

    ``recipients`` is the Bcc list of a site-group announcement; ``context`` is what the message renders from
    (see :class:`compliance.models.Delivery`).
    """

    idempotency_key: str
    kind: str
    recipient: str
    campaign_id: int | None = None
    person_id: int | None = None
    site_id: str | None = None
    recipients: tuple[str, ...] = ()
    context: Mapping[str, Any] = field(default_factory=dict)

    def to_row(self, now: datetime | None = None) -> Delivery:
        """The ledger row; ``now`` stamps ``created_at`` (the run's clock, so a replayed night dates its rows
        on that night)."""
        return Delivery(
            **({"created_at": now} if now is not None else {}),
            idempotency_key=self.idempotency_key,
            campaign_id=self.campaign_id,
            person_id=self.person_id,
            kind=self.kind,
            recipient=self.recipient,
            recipients=list(self.recipients),
            site_id=self.site_id,
            context=dict(self.context),
        )


def queued_keys(session: Session, keys: Iterable[str]) -> set[str]:
    """Which of ``keys`` the ledger already holds."""
    wanted = list(dict.fromkeys(keys))
    found: set[str] = set()
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        found.update(session.scalars(select(Delivery.idempotency_key).where(Delivery.idempotency_key.in_(chunk))))
    return found


def queue_deliveries(session: Session, planned: Iterable[PlannedDelivery], now: datetime | None = None) -> int:
    """Add a ledger row (status pending) for each planned delivery the ledger does not hold yet.

    Returns how many rows were added. A key already in the ledger, or repeated in ``planned``, is skipped, so
    the same plan queued again adds nothing. The caller commits; rows are flushed so their ids exist.
    ``now``: when they were queued (the run's clock; default the database default, the real time).
    """
    planned = list(planned)
    seen = queued_keys(session, (p.idempotency_key for p in planned))
    rows: list[Delivery] = []
    for p in planned:
        if p.idempotency_key in seen:
            continue
        seen.add(p.idempotency_key)
        rows.append(p.to_row(now))
    session.add_all(rows)
    session.flush()
    return len(rows)
