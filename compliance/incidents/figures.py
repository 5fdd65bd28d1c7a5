"""Case figures for the superintendent's workbook (its Incidents sheet): counts and case references only.

Nothing here reads a case's text, reporter or involved people: the workbook travels by email and Drive.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.models import IncidentCase, IncidentStep
from compliance.vocabulary import CaseState

# Age of a case not yet closed, in district-calendar days since it was received.
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-7 days", 0, 7),
    ("8-30 days", 8, 30),
    ("31-90 days", 31, 90),
    ("over 90 days", 91, None),
)


@dataclass(frozen=True, slots=True)
class CaseLine:
    """One case as the workbook lists it: no names, no text from the report."""

    case_ref: str
    category: str
    site_id: str | None
    status: str
    age_days: int
    overdue_steps: int
    agency: str | None
    against_administrator: bool


@dataclass(slots=True)
class IncidentFigures:
    cases: list[CaseLine] = field(default_factory=list)
    overdue_by_step: Counter[str] = field(default_factory=Counter)

    def count(self, **match: object) -> int:
        """Cases whose attributes equal ``match`` (e.g. ``category="threat", status="open"``)."""
        return sum(1 for c in self.cases if all(getattr(c, k) == v for k, v in match.items()))

    @property
    def unclosed(self) -> list[CaseLine]:
        return [c for c in self.cases if c.status != CaseState.CLOSED]

    def age_buckets(self) -> list[tuple[str, int]]:
        unclosed = self.unclosed
        return [
            (label, sum(1 for c in unclosed if c.age_days >= low and (high is None or c.age_days <= high)))
            for label, low, high in AGE_BUCKETS
        ]

    def by_agency(self) -> dict[str, int]:
        return dict(sorted(Counter(c.agency for c in self.cases if c.agency).items()))

    def headline(self) -> dict[str, int]:
        """Summary-sheet figures (also kept in the report run for the next report's comparison)."""
        return {
            "cases_open": len(self.unclosed),
            "cases_overdue": sum(1 for c in self.unclosed if c.overdue_steps),
            "cases_routed_to_agency": sum(1 for c in self.cases if c.agency),
        }


def collect_incident_figures(session: Session, now: datetime, tz: ZoneInfo) -> IncidentFigures:
    """Every case with its state, age and overdue steps as of ``now`` (aware)."""
    figures = IncidentFigures()
    overdue: Counter[int] = Counter()
    for case_id, step, due_at, done_at in session.execute(
        select(IncidentStep.case_id, IncidentStep.step, IncidentStep.due_at, IncidentStep.done_at)
    ):
        if done_at is None and due_at < now:
            overdue[case_id] += 1
            figures.overdue_by_step[step] += 1
    today = now.astimezone(tz).date()
    rows = session.execute(
        select(IncidentCase.id, IncidentCase.case_ref, IncidentCase.category, IncidentCase.site_id,
               IncidentCase.status, IncidentCase.received_at, IncidentCase.agency,
               IncidentCase.against_administrator).order_by(IncidentCase.received_at, IncidentCase.id)
    )
    for case_id, ref, category, site_id, status, received_at, agency, against in rows:
        figures.cases.append(
            CaseLine(ref, category, site_id, status, max(0, (today - received_at.astimezone(tz).date()).days),
                     overdue[case_id] if status != CaseState.CLOSED else 0, agency, bool(against))
        )
    return figures
