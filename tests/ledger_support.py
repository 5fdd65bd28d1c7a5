"""Test helper: what an attacker with database access and this code can do to the event chain."""

from __future__ import annotations

import json

from sqlalchemy import select, update

from compliance.chain import GENESIS
from compliance.ledger import EVENTS_HEAD_KEY, entry_of
from compliance.models import LedgerEvent, SyncState
from compliance.store import Store


def recompute_chain(store: Store) -> None:
    """Rehash every event in order and rewrite the head record: the chain then agrees with itself."""
    with store.session() as s:
        prev = GENESIS
        seq = 0
        for row in s.scalars(select(LedgerEvent).order_by(LedgerEvent.seq)):
            entry = entry_of(row)
            entry = type(entry)(**{**entry.as_dict(), "prev_hash": prev})
            row.prev_hash, row.hash = prev, entry.computed_hash()
            prev, seq = row.hash, row.seq
            s.flush()
        s.execute(update(SyncState).where(SyncState.key == EVENTS_HEAD_KEY)
                  .values(value=json.dumps({"seq": seq, "hash": prev})))
