"""Incidents and complaints (AR 1114 III.A.2-7 and IV a-k): report intake through a Google Form, routing to the
right owner and agency, the protocol as a checklist with due dates, reminders and staleness escalation, and
the case figures of the superintendent's workbook.

- :mod:`compliance.incidents.form`: the form's questions and reading a response safely;
- :mod:`compliance.incidents.cases`: routing, the checklist, opening a case, recording a step;
- :mod:`compliance.incidents.followup`: the mail a case sends, as planned deliveries;
- :mod:`compliance.incidents.figures`: counts for the workbook.

Plain functions on a session and the settings; Google calls are the task layer's (tasks/incidents.py).
"""

from compliance.incidents.cases import (
    OpenedCase,
    Route,
    UnknownCase,
    case_ref,
    case_state,
    checklist,
    open_case,
    record_step,
    route,
)
from compliance.incidents.figures import IncidentFigures, collect_incident_figures
from compliance.incidents.followup import IncidentFollowUp, plan_case_opened, plan_incident_follow_up
from compliance.incidents.form import (
    FORM_DESCRIPTION,
    FORM_TITLE,
    IncidentForm,
    Report,
    clean_answer,
    form_from_replies,
    form_items,
    parse_report,
)

__all__ = [
    "FORM_DESCRIPTION",
    "FORM_TITLE",
    "IncidentFigures",
    "IncidentFollowUp",
    "IncidentForm",
    "OpenedCase",
    "Report",
    "Route",
    "UnknownCase",
    "case_ref",
    "case_state",
    "checklist",
    "clean_answer",
    "collect_incident_figures",
    "form_from_replies",
    "form_items",
    "open_case",
    "parse_report",
    "plan_case_opened",
    "plan_incident_follow_up",
    "record_step",
    "route",
]
