"""The mail a case sends, planned as deliveries (``compliance.deliveries``) so the outbox sends each once.

- the case file and checklist to the owner at once (only the owner gets the report's text);
- a page to the district office contacts for urgent categories (case reference, category, site, owner);
- reminders to the owner while steps are overdue, one per ``reminder_every_days`` period;
- an escalation to the superintendent's designee when a case has had no action for ``stale_days``, again every
  ``stale_days`` while nothing happens; a recorded action starts the clock again.

Keys are deterministic (case reference, recipient, kind and period), so planning again adds nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.deliveries import PlannedDelivery, delivery_key
from compliance.incidents.cases import OpenedCase
from compliance.models import IncidentCase, IncidentStep
from compliance.settings import Settings
from compliance.vocabulary import CaseCategory, CaseState, CaseStep, IncidentDeliveryKind


def display_time(moment: datetime, settings: Settings) -> str:
    """A moment as the district reads it: 'Tue Dec 1, 2026 23:59 PST'."""
    local = moment.astimezone(settings.tz)
    return f"{local:%a %b} {local.day}, {local.year} {local:%H:%M %Z}"


def _site_name(site_id: str | None, settings: Settings) -> str:
    return next((s.name for s in settings.sites if s.id == site_id), "site not known")


def _label(value: str, kind: type[CaseCategory] | type[CaseStep]) -> str:
    try:
        return kind(value).label
    except ValueError:
        return value


def _planned(case: IncidentCase, recipient: str, kind: IncidentDeliveryKind, period: str, variables: dict[str, Any],
             name: str) -> PlannedDelivery:
    return PlannedDelivery(
        idempotency_key=delivery_key(f"case:{case.case_ref}", recipient.lower(), f"{kind.value}:{period}"),
        kind=kind,
        recipient=recipient,
        site_id=case.site_id,
        context={"template": kind.value, "language": "en", "vars": {"recipient_name": name, **variables}},
    )


def _common(case: IncidentCase, settings: Settings) -> dict[str, Any]:
    return {
        "case_ref": case.case_ref,
        "category": _label(case.category, CaseCategory),
        "site_name": _site_name(case.site_id, settings),
    }


def plan_case_opened(opened: OpenedCase, settings: Settings) -> list[PlannedDelivery]:
    """The owner's case file (with the agency's instructions) and, for urgent categories, the pages."""
    case, routed = opened.case, opened.route
    agency = routed.agency
    steps = [{"label": _label(s.step, CaseStep), "due": display_time(s.due_at, settings)} for s in opened.steps]
    site = next((s for s in settings.sites if s.id == case.site_id), None)
    variables = {
        **_common(case, settings),
        "owner_reason": case.owner_reason,
        "reported_at": display_time(case.reported_at, settings),
        "reporter_role": case.reporter_role,
        "reporter_contact": case.reporter_contact or "",
        "description": case.description,
        "posting_url": case.posting_url or "",
        "platform": case.platform or "",
        "happened": case.happened or "",
        "involved": case.involved or "",
        "involved_ids": len(case.involved_person_ids or []),
        "input_notes": list(case.input_notes or []),
        "images_of_minors": case.category == CaseCategory.IMAGES_OF_MINORS,
        "suspected_abuse": case.category == CaseCategory.SUSPECTED_ABUSE,
        "against_administrator": case.against_administrator,
        "district_posting": opened.district_posting,
        "web_contact": str(site.web_contact) if site and opened.district_posting else "",
        "agency": None
        if agency is None
        else {
            "agency": agency.agency,
            "contact": agency.contact,
            "phone": agency.phone,
            "send": agency.send,
            "deadline": display_time(case.received_at + timedelta(hours=agency.deadline_hours), settings),
        },
        "steps": steps,
    }
    planned = [_planned(case, case.owner, IncidentDeliveryKind.CASE_OPENED, "opened", variables, "Case owner")]
    page_vars = {
        **_common(case, settings),
        "owner": case.owner,
        "agency_name": agency.agency if agency else "",
        "reported_at": display_time(case.reported_at, settings),
    }
    for contact in routed.page:
        if contact.lower() != case.owner.lower():
            planned.append(_planned(case, contact, IncidentDeliveryKind.AGENCY_PAGE, "opened", page_vars,
                                    "District office"))
    return planned


@dataclass(slots=True)
class IncidentFollowUp:
    reminders: list[PlannedDelivery] = field(default_factory=list)
    escalations: list[PlannedDelivery] = field(default_factory=list)
    open_cases: int = 0
    overdue_steps: int = 0
    stale_cases: int = 0


def _overdue(steps: Sequence[IncidentStep], now: datetime, settings: Settings) -> list[dict[str, Any]]:
    return [
        {
            "label": _label(s.step, CaseStep),
            "due": display_time(s.due_at, settings),
            "days_overdue": (now.astimezone(settings.tz).date() - s.due_at.astimezone(settings.tz).date()).days,
        }
        for s in sorted(steps, key=lambda s: s.due_at)
        if s.done_at is None and s.due_at < now
    ]


def plan_incident_follow_up(session: Session, settings: Settings, now: datetime) -> IncidentFollowUp:
    """Reminders of overdue steps and escalations of stale cases as of ``now`` (see the module docstring)."""
    inc = settings.incidents
    designee = str(inc.designee or inc.default_supervisor or settings.superintendent_recipients[0])
    out = IncidentFollowUp()
    cases = list(session.scalars(select(IncidentCase).where(IncidentCase.status != CaseState.CLOSED)))
    steps_of: dict[int, list[IncidentStep]] = defaultdict(list)
    if cases:
        for step in session.scalars(select(IncidentStep).where(IncidentStep.case_id.in_([c.id for c in cases]))):
            steps_of[step.case_id].append(step)
    today = now.astimezone(settings.tz).date()
    for case in sorted(cases, key=lambda c: c.case_ref):
        out.open_cases += 1
        overdue = _overdue(steps_of[case.id], now, settings)
        out.overdue_steps += len(overdue)
        if overdue:
            first_due = min(s.due_at for s in steps_of[case.id] if s.done_at is None and s.due_at < now)
            # The first reminder is the day after the due date, then one every reminder_every_days.
            late = (today - first_due.astimezone(settings.tz).date()).days
            period = max(0, late - 1) // inc.reminder_every_days
            out.reminders.append(
                _planned(case, case.owner, IncidentDeliveryKind.STEP_REMINDER, f"{first_due.isoformat()}:{period}",
                         {**_common(case, settings), "steps": overdue}, "Case owner")
            )
        idle = (today - case.last_action_at.astimezone(settings.tz).date()).days
        if idle >= inc.stale_days:
            out.stale_cases += 1
            period = idle // inc.stale_days
            out.escalations.append(
                _planned(case, designee, IncidentDeliveryKind.STALE_ESCALATION,
                         f"{case.last_action_at.isoformat()}:{period}",
                         {**_common(case, settings), "owner": case.owner, "days_without_action": idle,
                          "last_action": display_time(case.last_action_at, settings), "steps": overdue},
                         "Superintendent's designee")
            )
    return out
