"""Cases: who owns a report, which agency it goes to, its checklist with due dates, and its timeline.

Routing follows AR 1114: the site's administrator investigates (III.A.2); a complaint against an administrator
goes to that administrator's supervisor (IV, last paragraph), from the profile's ``incidents.reporting_lines``;
threats, images of minors and suspected abuse also go to the agency the profile names for them (III.A.3) and
page the district office contacts. Due dates fall at the end of a district-calendar day (America/Los_Angeles
by default) and are stored in UTC.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.incidents.form import Report
from compliance.models import IncidentAction, IncidentCase, IncidentStep, Person
from compliance.settings import AgencyRoute, Settings
from compliance.vocabulary import CaseCategory, CaseState, CaseStep

PIPELINE = "district-compliance"  # the actor of what the pipeline itself does on a case's timeline
REPORTER = "reporter"  # never the reporter's contact: the timeline is shown to more people than the case file

# Days after the report each protocol step is due (end of that district-calendar day).
STEP_DAYS: dict[CaseStep, int] = {
    CaseStep.SAFETY_SECURED: 0,
    CaseStep.PARTIES_ASSURED: 2,
    CaseStep.BEHAVIOUR_STOPPED: 3,
    CaseStep.STATEMENTS_REQUESTED: 5,
    CaseStep.CRIMINAL_COMPLAINT_TOLD: 5,
    CaseStep.REMOVAL_REQUESTED: 5,
    CaseStep.INVESTIGATED: 10,
    CaseStep.CONSULTED: 10,
    CaseStep.ACTIONS_DOCUMENTED: 14,
    CaseStep.DISCIPLINE_SUPPORT: 21,
    CaseStep.MONITORING: 30,
    CaseStep.RETALIATION_CHECK_30: 30,
    CaseStep.RETALIATION_CHECK_90: 90,
}


@dataclass(frozen=True, slots=True)
class Route:
    """Where a case goes: its owner (and why), the outside agency, and who is paged at once."""

    owner: str
    owner_reason: str
    administrator: str | None
    agency: AgencyRoute | None
    page: tuple[str, ...]


def case_ref(form_id: str, response_id: str) -> str:
    """The case's reference, the same for the same response on every run: ``IC-`` and 10 hex digits."""
    return "IC-" + hashlib.sha256(f"{form_id}\x1f{response_id}".encode()).hexdigest()[:10].upper()


def _administrators(settings: Settings) -> set[str]:
    return {str(s.site_admin).lower() for s in settings.sites} | set(settings.incidents.reporting_lines)


def route(report: Report, settings: Settings) -> Route:
    """The owner and agency of a report (see the module docstring); a site the reporter was unsure of goes to
    the superintendent's designee, who passes it on."""
    inc = settings.incidents
    fallback = str(inc.designee or inc.default_supervisor or settings.superintendent_recipients[0])
    site = next((s for s in settings.sites if s.id == report.site_id), None)
    agency = inc.agencies.get(report.category)
    page = tuple(str(p) for p in inc.page) if report.category.urgent else ()
    if report.against_administrator:
        named = report.administrator if report.administrator in _administrators(settings) else None
        administrator = named or (str(site.site_admin).lower() if site else None)
        supervisor = inc.reporting_lines.get(administrator or "")
        if supervisor is None or str(supervisor).lower() == administrator:
            owner = str(inc.default_supervisor or fallback)
            reason = "supervisor (no reporting line for the administrator complained about)"
        else:
            owner = str(supervisor)
            reason = "supervisor of the administrator complained about"
        return Route(owner, reason, administrator, agency, page)
    if site is None:
        return Route(fallback, "superintendent's designee (site not known)", None, agency, page)
    return Route(str(site.site_admin), f"site administrator of {site.name}", None, agency, page)


def end_of_local_day(moment: datetime, days: int, settings: Settings) -> datetime:
    """The last minute of the district-calendar day ``days`` after ``moment``, as an aware datetime."""
    local = moment.astimezone(settings.tz).date() + timedelta(days=days)
    return datetime.combine(local, time(23, 59), tzinfo=settings.tz)


def _district_posting(url: str | None, settings: Settings) -> bool:
    """Whether the posting is on one of the district's own websites (the photo audit's takedown workflow)."""
    if not url:
        return False
    try:
        host = (urlsplit(url if "://" in url else f"https://{url}").hostname or "").lower()
    except ValueError:
        return False
    roots = {urlsplit(root).hostname for s in settings.sites for root in settings.site_roots(s)}
    return bool(host) and host in {h.lower() for h in roots if h}


def checklist(report: Report, agency: AgencyRoute | None, opened_at: datetime, settings: Settings) -> list[
    tuple[CaseStep, datetime]
]:
    """The steps of a case and when each is due: IV a-k for every case, plus the agency report (urgent
    categories, within the agency's deadline), the evidence record (images of minors: address and time only)
    and the removal request (a posting that can be taken down)."""
    steps: list[tuple[CaseStep, datetime]] = []
    if agency is not None:
        steps.append((CaseStep.AGENCY_REPORTED, opened_at + timedelta(hours=agency.deadline_hours)))
    if report.category is CaseCategory.IMAGES_OF_MINORS:
        steps.append((CaseStep.EVIDENCE_RECORDED, opened_at + timedelta(hours=agency.deadline_hours if agency else 24)))
    for step, days in STEP_DAYS.items():
        # Removal of images of minors is law enforcement's call (they gather the evidence first).
        if step is CaseStep.REMOVAL_REQUESTED and (
            report.category is CaseCategory.IMAGES_OF_MINORS or not report.posting_url
        ):
            continue
        steps.append((step, end_of_local_day(opened_at, days, settings)))
    return steps


def case_state(steps: Iterable[IncidentStep]) -> CaseState:
    """``closed`` when every step is done, ``in_progress`` when some are, else ``open``."""
    done = [s.done_at is not None for s in steps]
    if done and all(done):
        return CaseState.CLOSED
    return CaseState.IN_PROGRESS if any(done) else CaseState.OPEN


@dataclass(frozen=True, slots=True)
class OpenedCase:
    case: IncidentCase
    route: Route
    steps: Sequence[IncidentStep]
    district_posting: bool


def _roster_matches(session: Session, ids: Sequence[str]) -> tuple[list[int], list[str]]:
    if not ids:
        return [], []
    found = dict(session.execute(select(Person.person_key, Person.id).where(Person.person_key.in_(list(ids)))).all())
    return [found[i] for i in ids if i in found], [i for i in ids if i not in found]


def open_case(session: Session, report: Report, form_id: str, settings: Settings, now: datetime) -> OpenedCase | None:
    """Store a new case for ``report`` with its checklist and first timeline entries; ``None`` when the response
    already has a case (re-running the sync adds nothing)."""
    ref = case_ref(form_id, report.response_id)
    if session.scalar(select(IncidentCase.id).where(IncidentCase.case_ref == ref)) is not None:
        return None
    routed = route(report, settings)
    person_ids, unknown = _roster_matches(session, report.roster_ids)
    notes = list(report.notes)
    if unknown:
        notes.append(f"roster_ids: {len(unknown)} id(s) not found in the roster")
    district_posting = _district_posting(report.posting_url, settings)
    case = IncidentCase(
        case_ref=ref,
        form_id=form_id,
        response_id=report.response_id,
        category=report.category,
        site_id=report.site_id,
        status=CaseState.OPEN,
        owner=routed.owner,
        owner_reason=routed.owner_reason[:400],
        against_administrator=report.against_administrator,
        administrator=routed.administrator,
        agency=routed.agency.agency[:200] if routed.agency else None,
        reporter_role=report.reporter_role,
        reporter_contact=report.contact,
        description=report.description,
        posting_url=report.posting_url,
        platform=report.platform,
        happened=report.happened,
        involved=report.involved,
        involved_person_ids=person_ids,
        input_notes=notes,
        reported_at=report.submitted_at,
        received_at=now,
        last_action_at=now,
    )
    session.add(case)
    session.flush()
    planned = checklist(report, routed.agency, now, settings)
    steps = [IncidentStep(case_id=case.id, step=step, due_at=due) for step, due in planned]
    session.add_all(steps)
    actions = [
        IncidentAction(case_id=case.id, at=report.submitted_at, actor=REPORTER, action="reported",
                       detail=f"reported through the form as {report.category.value}"),
        IncidentAction(case_id=case.id, at=now, actor=PIPELINE, action="routed",
                       detail=f"owner: {routed.owner} ({routed.owner_reason})"
                       + (f"; agency: {routed.agency.agency}" if routed.agency else "")),
    ]
    if district_posting:
        actions.append(IncidentAction(case_id=case.id, at=now, actor=PIPELINE, action="takedown_workflow",
                                      detail="posting is on a district website: removal goes through the "
                                             "site's web contact, as photo takedowns do"))
    session.add_all(actions)
    session.flush()
    return OpenedCase(case, routed, steps, district_posting)


class UnknownCase(LookupError):
    """No case has this reference, or it has no such step."""


def record_step(
    session: Session, ref: str, step: CaseStep, *, by: str, at: datetime, note: str | None = None
) -> IncidentCase:
    """Mark one checklist step done (by whom, when, with an optional note) and update the case's state.

    Recording a step is an action: it restarts the staleness clock. Recording it again keeps the first date.
    """
    case = session.scalar(select(IncidentCase).where(IncidentCase.case_ref == ref))
    if case is None:
        raise UnknownCase(f"no case {ref}")
    steps = list(session.scalars(select(IncidentStep).where(IncidentStep.case_id == case.id)))
    target = next((s for s in steps if s.step == step), None)
    if target is None:
        raise UnknownCase(f"case {ref} has no step {step}")
    if target.done_at is None:
        target.done_at, target.done_by, target.note = at, by, note
    session.add(IncidentAction(case_id=case.id, at=at, actor=by, action=f"step:{step.value}", detail=note))
    case.last_action_at = max(case.last_action_at, at)
    case.status = case_state(steps)
    case.closed_at = at if case.status == CaseState.CLOSED else None
    session.flush()
    return case
