"""A partial input is never the whole truth: input sources that come back broken are *held*.

Every sync treats its sources as complete: a student missing from the SIS export is deactivated, a person
missing from every list leaves. So an export that arrives empty, header-only, unreadable or cut short would
deactivate thousands of students (and resolve every photo violation about them) or turn a school's volunteers
into leavers. :func:`check_source` compares each read with the source's last good read (stored in
``source_reads``) and says whether the read may be taken as the truth:

* unreadable (missing file, refused by a safety limit, not a spreadsheet) -> held;
* no records (empty, header-only, every row quarantined) -> held;
* fewer records than ``max_shrink`` (a share, 0.20 by default: ``inputs.max_shrink_share``) below the last
  good read -> held;
* otherwise the read is good and becomes the new baseline (rows, content hash, time); a held source is
  released.

A held source's records keep their last known state: the caller does not store from it and does not let its
absence deactivate anybody. The run reports each held source in one line (:meth:`SourceCheck.line`) and the
report lists held sources and since when (:func:`held_sources`). A source that really did shrink is released by
:func:`accept_source` (somebody who knows says so), after which the next read is the new baseline.

This module is generic on purpose: roster sync, the SIS load and consent ingest call the same two functions.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.models import SourceRead
from compliance.quarantine import Rejected

DEFAULT_MAX_SHRINK = 0.20
_CHUNK = 1 << 20


def content_hash(source: Any) -> str | None:
    """sha256 of what a source held: a file's bytes, or the JSON of values (Sheets values, Directory users).

    None when a file cannot be read (the read itself says why).
    """
    digest = hashlib.sha256()
    if isinstance(source, str | os.PathLike) and not str(source).startswith("sheets:"):
        try:
            with Path(source).open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
        except OSError:
            return None
        return digest.hexdigest()
    digest.update(json.dumps(source, sort_keys=True, default=str, ensure_ascii=False).encode())
    return digest.hexdigest()


def unreadable_reason(rejected: list[Rejected], records: int) -> str | None:
    """Why a read cannot be used at all, from the reader's whole-source rejects (None: it was readable).

    A file-level reject ("(file)") means the source could not be opened or parsed; with no records, a
    sheet-level one (empty sheet, no header) says why nothing in it could be read.
    """
    for r in rejected:
        if r.field == "(file)":
            return f"unreadable: {r.reason}"
    if records == 0:
        first = next((r for r in rejected if r.field in ("(sheet)", "(header)") or r.row == 0), None)
        if first is not None:
            return f"no readable sheet: {first.reason}"
    return None


@dataclass(frozen=True, slots=True)
class SourceCheck:
    """The verdict on one read of one source."""

    source: str
    job: str
    rows: int
    held: bool
    reason: str | None = None  # why held
    good_rows: int | None = None  # the last good read (the baseline kept while held)
    good_at: datetime | None = None
    held_since: datetime | None = None

    def line(self) -> str:
        """One clear log line (ids and counts only)."""
        if not self.held:
            return f"{self.job}: source {self.source} read: {self.rows} records"
        since = f" since {self.held_since:%Y-%m-%d %H:%M} UTC" if self.held_since else ""
        base = (
            f"; last good read {self.good_rows} records on {self.good_at:%Y-%m-%d}"
            if self.good_at is not None
            else "; no good read yet"
        )
        return (
            f"{self.job}: source {self.source} HELD{since}: {self.reason}{base}; "
            f"its records keep their last known state"
        )


def check_source(
    session: Session,
    source: str,
    *,
    job: str,
    rows: int,
    content_sha256: str | None,
    now: datetime,
    unreadable: str | None = None,
    max_shrink: float = DEFAULT_MAX_SHRINK,
) -> SourceCheck:
    """Decide whether this read of ``source`` (``rows`` valid records) may be stored as the whole truth.

    See the module docstring for the rules. Records the verdict in ``source_reads`` (flush, no commit): a good
    read becomes the baseline, a held one keeps the baseline and the first time it was held.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    state = session.get(SourceRead, source)
    if state is None:
        state = SourceRead(source=source, job=job, last_rows=0, checked_at=now)
        session.add(state)
    reason: str | None = None
    if unreadable:
        reason = unreadable
    elif rows <= 0:
        reason = "empty or header-only (0 records)"
    elif state.good_rows and rows < state.good_rows * (1.0 - max_shrink):
        drop = 1.0 - rows / state.good_rows
        reason = (
            f"shrank from {state.good_rows} to {rows} records (-{drop:.0%}, more than the "
            f"{max_shrink:.0%} allowed)"
        )
    state.job, state.last_rows, state.checked_at = job, max(rows, 0), now
    if reason is None:
        state.good_rows, state.good_sha256, state.good_at = rows, content_sha256, now
        state.held_since = state.held_reason = None
    else:
        state.held_since = state.held_since or now
        state.held_reason = reason[:500]
    session.flush()
    return SourceCheck(
        source, job, rows, reason is not None, reason, state.good_rows, state.good_at, state.held_since
    )


def held_sources(session: Session) -> list[SourceRead]:
    """Sources held now, oldest hold first (for the run summary and the report's Data Quality)."""
    stmt = select(SourceRead).where(SourceRead.held_since.is_not(None))
    return sorted(session.scalars(stmt), key=lambda s: (s.held_since, s.source))


def accept_source(session: Session, source: str) -> bool:
    """Forget a source's baseline so its next read is taken as good (a school list that really got shorter).

    Returns False when the source was never read. Empty and unreadable reads stay held whatever happens here.
    """
    state = session.get(SourceRead, source)
    if state is None:
        return False
    state.good_rows = state.good_sha256 = state.good_at = None
    session.flush()
    return True


def record_unchanged_reads(
    session: Session, hashes: list[tuple[str, str | None]], *, job: str, now: datetime, max_shrink: float
) -> list[SourceCheck]:
    """Record tonight's read of sources whose content is what the last complete read saw (same hash, so the same
    records and the same verdict), without parsing them: a good source is a good read again with its baseline's
    row count; a held one stays held, for the same reason and since the same time."""
    reads = {r.source: r for r in session.scalars(select(SourceRead).where(SourceRead.job == job))}
    checks = []
    for label, sha in hashes:
        read = reads[label]
        if read.held_since is None:
            checks.append(check_source(session, label, job=job, rows=read.good_rows or 0, content_sha256=sha,
                                       now=now, max_shrink=max_shrink))
            continue
        read.checked_at = now
        checks.append(SourceCheck(label, job, read.last_rows, True, read.held_reason, read.good_rows, read.good_at,
                                  read.held_since))
    session.flush()
    return checks
