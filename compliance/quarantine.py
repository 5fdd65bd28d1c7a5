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


def _storable(r: Rejected) -> dict[str, object]:
    # Quarantine is where poison values go, so it must never be poisoned itself: a NUL (refused by PostgreSQL
    # in any text) is shown as the four characters \x00, and each field is cut to its column.
    from compliance.columns import fit

    def visible(value: str | None) -> str | None:
        return None if value is None else str(value).replace("\x00", "\\x00")

    values, _ = fit(
        Quarantine,
        {
            "job": visible(r.job),
            "source_file": visible(r.source_file),
            "sheet": visible(r.sheet) or "",
            "row": r.row,
            "field": visible(r.field),
            "reason": visible(r.reason),
        },
    )
    raw = visible(r.raw_value)
    values["raw_value"] = None if raw is None else raw[:2000]
    return values


def quarantine(session: Session, rejected: Iterable[Rejected]) -> int:
    """Store rejected records once each (re-running an import does not duplicate them); returns rows added."""
    added = 0
    for r in rejected:
        values = _storable(r)
        exists = session.scalar(
            select(Quarantine.id).where(
                Quarantine.source_file == values["source_file"],
                Quarantine.sheet == values["sheet"],
                Quarantine.row == values["row"],
                Quarantine.field == values["field"],
                Quarantine.reason == values["reason"],
            )
        )
        if exists is None:
            session.add(Quarantine(**values))
            session.flush()
            added += 1
    return added
