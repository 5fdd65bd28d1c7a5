"""Bad input is kept, not dropped: each rejected value becomes a quarantine row naming file, sheet, row and field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.models import Quarantine


@dataclass(frozen=True, slots=True)
class Rejected:
    """One rejected input value; ``row`` is the 1-based row a person sees in the spreadsheet (0 if none)."""

    job: str
    source_file: str
    row: int
    field: str
    reason: str
    raw_value: str | None = None
    sheet: str = ""

    def __str__(self) -> str:
        where = f"{self.source_file}" + (f" [{self.sheet}]" if self.sheet else "") + f" row {self.row}"
        return f"{where}, field {self.field!r}: {self.reason}"


def quarantine(session: Session, rejected: Iterable[Rejected]) -> int:
    """Store rejected records once each (re-running an import does not duplicate them); returns rows added."""
    added = 0
    for r in rejected:
        exists = session.scalar(
            select(Quarantine.id).where(
                Quarantine.source_file == r.source_file,
                Quarantine.sheet == r.sheet,
                Quarantine.row == r.row,
                Quarantine.field == r.field,
                Quarantine.reason == r.reason[:500],
            )
        )
        if exists is None:
            session.add(
                Quarantine(
                    job=r.job,
                    source_file=r.source_file,
                    sheet=r.sheet,
                    row=r.row,
                    field=r.field,
                    reason=r.reason[:500],
                    raw_value=None if r.raw_value is None else str(r.raw_value)[:2000],
                )
            )
            session.flush()
            added += 1
    return added
