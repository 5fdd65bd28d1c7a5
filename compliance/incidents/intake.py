"""From form responses to cases and their first mail: idempotent, and no report is ever dropped.

A response that already has a case adds nothing; what was off in one (an unknown choice, a cut answer, an
embedded image) is kept on the case and listed in quarantine by response id, field and reason (never the
text), and the case is still opened and routed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from compliance.deliveries import queue_deliveries
from compliance.incidents.cases import open_case
from compliance.incidents.followup import plan_case_opened
from compliance.incidents.form import IncidentForm, parse_report
from compliance.quarantine import Rejected, quarantine
from compliance.settings import Settings

JOB = "incident"


@dataclass(slots=True)
class IntakeCounts:
    responses: int = 0
    opened: int = 0
    already_open: int = 0
    queued: int = 0
    input_notes: int = 0
    urgent: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "responses read": self.responses,
            "cases opened": self.opened,
            "already open": self.already_open,
            "urgent cases": self.urgent,
            "emails queued": self.queued,
            "input notes": self.input_notes,
        }


def ingest_reports(
    session: Session,
    form: IncidentForm,
    responses: Iterable[Mapping[str, Any]],
    settings: Settings,
    now: datetime,
) -> IntakeCounts:
    """Open a case for each new response, queue its mail, and quarantine notes on its input; the caller commits."""
    counts = IntakeCounts()
    for response in responses:
        counts.responses += 1
        report = parse_report(response, form, settings)
        opened = open_case(session, report, form.form_id, settings, now)
        if opened is None:
            counts.already_open += 1
            continue
        counts.opened += 1
        counts.urgent += bool(opened.route.page or opened.route.agency)
        counts.queued += queue_deliveries(session, plan_case_opened(opened, settings), now)
        notes = list(opened.case.input_notes or [])
        counts.input_notes += len(notes)
        quarantine(
            session,
            (
                Rejected(JOB, f"forms:{form.form_id}", 0, note.split(":", 1)[0], note, sheet=report.response_id)
                for note in notes
            ),
        )
    return counts

