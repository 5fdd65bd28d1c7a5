"""Values that fit their column: lengths come from the model, so one over-long value is a quarantine row, not a
failed night.

PostgreSQL refuses a string longer than its ``VARCHAR(n)`` and any text holding a NUL character; SQLite takes
both. A value that fails its column fails the whole transaction on every retry, and everything queued after it
with it. Each writer of untrusted text therefore checks its values here first, with the limits read from
:mod:`compliance.models` (one source of truth: a migration that widens a column widens the check).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import DeclarativeBase, InstrumentedAttribute


def max_length(column: InstrumentedAttribute[Any]) -> int | None:
    """The declared length of a ``String(n)`` model column (None for Text and non-string columns)."""
    sql_type = column.property.columns[0].type
    return sql_type.length if isinstance(sql_type, String) else None


@dataclass(frozen=True, slots=True)
class Misfit:
    """One value that would not fit its column: which column and why (never the value: it may be a name)."""

    field: str
    reason: str


def misfits(model: type[DeclarativeBase], values: Mapping[str, Any]) -> list[Misfit]:
    """The values of ``values`` (column name -> value) that the database would refuse for ``model``."""
    out: list[Misfit] = []
    for name, value in values.items():
        if not isinstance(value, str):
            continue
        if "\x00" in value:
            out.append(Misfit(name, "contains a NUL character"))
            continue
        limit = max_length(getattr(model, name))
        if limit is not None and len(value) > limit:
            out.append(Misfit(name, f"longer than {limit} characters ({len(value):,})"))
    return out


def fit(model: type[DeclarativeBase], values: Mapping[str, Any]) -> tuple[dict[str, Any], list[Misfit]]:
    """``values`` made storable (NULs removed, over-long text cut to the column), and what had to change.

    For values that must be stored anyway (a student's legal name: dropping the student would deactivate
    them); the caller quarantines each :class:`Misfit` so the full value is kept for a person to look at.
    """
    problems = misfits(model, values)
    fixed = dict(values)
    for problem in problems:
        value = str(fixed[problem.field]).replace("\x00", "")
        limit = max_length(getattr(model, problem.field))
        fixed[problem.field] = value[:limit] if limit is not None else value
    return fixed, problems
