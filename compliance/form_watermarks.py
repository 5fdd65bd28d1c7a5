"""How far each Google Form's responses have been read: one watermark per form, kept in ``sync_state``.

The Forms API's timestamp filter is strict and responses can land with the same timestamp as the watermark, so
readers ask again from a little before it (``OVERLAP``); each caller ignores a response id it already holds.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from compliance.models import SyncState

OVERLAP = timedelta(minutes=5)


def _key(form_id: str) -> str:
    return f"forms.{form_id}.since"


def read_from(session: Session, form_id: str) -> datetime | None:
    """Where the next read of ``form_id`` starts (the watermark less the overlap); None: from the beginning."""
    row = session.get(SyncState, _key(form_id))
    return datetime.fromisoformat(row.value) - OVERLAP if row is not None else None


def advance(session: Session, form_id: str, moment: datetime) -> None:
    """Move the watermark forward to ``moment`` (never back: a late page must not re-open older responses)."""
    row = session.get(SyncState, _key(form_id))
    if row is None:
        session.add(SyncState(key=_key(form_id), value=moment.isoformat()))
    elif datetime.fromisoformat(row.value) < moment:
        row.value = moment.isoformat()
