"""Incident intake: the report form (created once, then reused), new responses into cases, the cases' reminders
and escalations, and sending their mail (domain logic: compliance.incidents)."""

from __future__ import annotations

import json
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.orm import Session

from compliance import form_watermarks
from compliance.acknowledgements import newest_submission
from compliance.deliveries import queue_deliveries
from compliance.google.workspace import (
    add_form_items,
    allow_form_responders,
    create_form,
    list_responses,
    publish_form,
    set_email_collection,
)
from compliance.incidents import FORM_DESCRIPTION, FORM_TITLE, IncidentForm, form_from_replies, form_items
from compliance.incidents.followup import plan_incident_follow_up
from compliance.incidents.intake import ingest_reports
from compliance.models import SyncState
from compliance.vocabulary import INCIDENT_KINDS
from tasks import resources
from tasks.guard import retry_unless_configuration

FORM_KEY = "incidents.form"


def _incident_form(session: Session) -> IncidentForm:
    """The report form: the one made before, else made now (no email collected: reporters may stay anonymous;
    anyone with the link may answer: parents and students have no district account)."""
    known = session.get(SyncState, FORM_KEY)
    if known is not None:
        return IncidentForm.from_json(json.loads(known.value))
    clients = resources.google()
    form = create_form(clients, FORM_TITLE, description=FORM_DESCRIPTION)
    replies = add_form_items(clients, form["formId"], form_items(resources.settings()))
    set_email_collection(clients, form["formId"], "DO_NOT_COLLECT")
    publish_form(clients, form["formId"])
    allow_form_responders(clients, form["formId"], "anyone")
    made = form_from_replies(form["formId"], form["responderUri"], replies)
    session.add(SyncState(key=FORM_KEY, value=json.dumps(made.as_json())))
    session.flush()
    return made



@task(
    name="sync-incident-reports",
    retries=2,
    retry_delay_seconds=[60, 300],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def sync_incident_reports(now: datetime) -> dict[str, int]:
    """New form responses into cases, routed, with the owner's case file and any pages queued."""
    with resources.store().session() as session:
        form = _incident_form(session)
        since = form_watermarks.read_from(session, form.form_id)
        responses = list(list_responses(resources.google(), form.form_id, since))
        counts = ingest_reports(session, form, responses, resources.settings(), now)
        newest = newest_submission(responses)
        if newest is not None:
            form_watermarks.advance(session, form.form_id, newest)
        return counts.as_dict()


@task(name="queue-incident-follow-up", cache_policy=NO_CACHE)
def queue_incident_follow_up(now: datetime) -> dict[str, int]:
    """Reminders of overdue checklist steps to owners; stale cases to the superintendent's designee."""
    with resources.store().session() as session:
        planned = plan_incident_follow_up(session, resources.settings(), now)
        return {
            "open cases": planned.open_cases,
            "overdue steps": planned.overdue_steps,
            "step reminders": queue_deliveries(session, planned.reminders, now),
            "stale escalations": queue_deliveries(session, planned.escalations, now),
        }


@task(
    name="send-incident-mail",
    retries=2,
    retry_delay_seconds=[60, 300],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def send_incident_mail() -> dict[str, int]:
    """Send the cases' pending mail only (the 15-minute run must not send a campaign's backlog)."""
    return resources.outbox().send(kinds=INCIDENT_KINDS).as_dict()
