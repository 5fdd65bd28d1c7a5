"""Acknowledgement sync: new Forms responses since the watermark, and the office's paper binder, into the ledger."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, time
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance import form_watermarks
from compliance.acknowledgements import (
    RosterEntry,
    VerifiedResponse,
    invitation_languages,
    newest_submission,
    verify_response,
)
from compliance.google.workspace import list_responses
from compliance.ledger import append_acknowledgement
from compliance.models import Person, PolicyVersion, SyncState
from compliance.paper import PaperPerson, read_paper_acknowledgements, signed_by
from compliance.policy import FormKind, FormQuestions, version_in_force
from compliance.quarantine import Rejected, quarantine
from compliance.roster import normalize_email
from compliance.tabular import Source
from compliance.tokens import TokenKeys, token_index
from compliance.vocabulary import AckMethod
from tasks import resources
from tasks.artifacts import warn
from tasks.guard import retry_unless_configuration


def _roster(session: Session) -> dict[int, tuple[Person, RosterEntry]]:
    people = session.scalars(select(Person).where(Person.active.is_(True)))
    return {
        p.id: (p, RosterEntry(p.id, p.person_key, p.given_name, p.family_name, p.email, p.has_district_account))
        for p in people
    }


def _record(session: Session, version: PolicyVersion, people: dict, verified: VerifiedResponse, now: datetime,
            invited: dict[int, str] | None = None) -> str:
    person = people[verified.person_id][0]
    language = verified.language or (invited or {}).get(verified.person_id) or "en"
    result = append_acknowledgement(
        session,
        person=person,
        policy_version=version,
        method=verified.method,
        signed_name=verified.signed_name,
        submitted_at=verified.submitted_at,
        response_id=verified.response_id,
        verified_email=verified.verified_email,
        token_id=verified.token_id,
        now=now,
        language=language,
    )
    return "recorded" if result.created else (result.existing_reason or "already recorded")


@task(
    name="sync-acknowledgements",
    retries=2,
    retry_delay_seconds=[60, 300],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def sync_acknowledgements(now: datetime) -> dict[str, int]:
    """Verify and record new Forms responses for every policy version with forms; refused ones to quarantine."""
    settings = resources.settings()
    clients = resources.google()
    counts = {"responses read": 0, "recorded": 0, "duplicates": 0, "refused": 0}
    with resources.store().session() as session:
        people = _roster(session)
        by_email = {normalize_email(e.email): e for _, e in people.values() if e.email}
        versions = session.scalars(select(PolicyVersion).where(PolicyVersion.staff_form_id.is_not(None))).all()
        for version in versions:
            tokens = token_index(TokenKeys.of(settings), [p.person_key for p, _ in people.values()], version.id)
            by_key = {e.person_key: e for _, e in people.values()}
            by_token = {token: (by_key[key], token_id) for token, (key, token_id) in tokens.items()}
            invited = invitation_languages(session, version)
            forms: list[tuple[FormKind, FormQuestions]] = [
                (kind, FormQuestions.from_json(version.form_questions[kind])) for kind in ("staff", "community")
            ]
            for kind, questions in forms:
                since = form_watermarks.read_from(session, questions.form_id)
                responses = list(
                    list_responses(clients, questions.form_id, since=since)
                )
                counts["responses read"] += len(responses)
                refused: list[Rejected] = []
                for response in sorted(responses, key=lambda r: (r.get("lastSubmittedTime", ""), r["responseId"])):
                    outcome = verify_response(response, kind, questions, by_email=by_email, by_token=by_token)
                    if isinstance(outcome, Rejected):
                        refused.append(outcome)
                        continue
                    status = _record(session, version, people, outcome, now, invited)
                    if status == "recorded":
                        counts["recorded"] += 1
                    elif status == "already_acknowledged":
                        counts["duplicates"] += 1
                        refused.append(
                            Rejected("acknowledgement", f"forms:{questions.form_id}", 0, "responseId",
                                     "duplicate: this person already acknowledged this policy version",
                                     None, outcome.response_id)
                        )
                counts["refused"] += len([r for r in refused if not r.reason.startswith("duplicate")])
                quarantine(session, refused)
                newest = newest_submission(responses)
                if newest is not None:
                    form_watermarks.advance(session, questions.form_id, newest)
                session.commit()  # each form's progress survives a failure in the next
    return counts


# A binder sheet can be briefly unreadable; an unshared one is configuration and ends the run with its fix.
@task(
    name="import-paper-acknowledgements",
    retries=1,
    retry_delay_seconds=60,
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def import_paper_acknowledgements(now: datetime) -> dict[str, int]:
    """The office binder spreadsheet: each signed line matched to one person and recorded once, against the
    policy version in force on the day it was signed."""
    settings = resources.settings()
    if not settings.paper_acknowledgements:
        return {"paper rows recorded": 0}
    with resources.store().session() as session:
        versions = session.scalars(select(PolicyVersion).order_by(PolicyVersion.id)).all()
        if not versions:
            return {"paper rows recorded": 0}
        source = resources.load_source(settings.paper_acknowledgements)
        changed = _note_binder_content(session, settings.paper_acknowledgements, source)
        people = _roster(session)
        candidates = [PaperPerson(e, p.site_id, p.category) for p, e in people.values()]
        found, rejected = read_paper_acknowledgements(
            source,
            candidates,
            settings.sites,
            label=settings.paper_acknowledgements,
        )
        recorded = 0
        # A line dated after tonight is not signed yet as far as anyone can know (a typo, or a form dated
        # ahead): it waits in the binder and is recorded on the night of its date, counted meanwhile.
        found, waiting = signed_by(found, now.astimezone(settings.tz).date())
        for paper in waiting:
            warn("paper binder %s: a line dated %s, after tonight, waits for that day", paper.where,
                 paper.signed_on.isoformat())
        for paper in found:
            version = version_in_force(versions, paper.signed_on, settings.district.time_zone,
                                       settings.district.school_year_start)
            if version is None:
                file, _, rest = paper.where.partition("#")
                sheet, _, row = rest.rpartition("!")
                rejected.append(Rejected("paper", file, int(row or 0), "date_signed",
                                         "signed before any policy version of that school year was opened",
                                         paper.signed_on.isoformat(), sheet))
                continue
            signed_at = datetime.combine(paper.signed_on, time(12), tzinfo=settings.tz)
            verified = VerifiedResponse(paper.person_id, people[paper.person_id][0].person_key, paper.reference,
                                        paper.signed_name, None, None, signed_at, method=AckMethod.PAPER)
            recorded += _record(session, version, people, verified, now) == "recorded"
        quarantined = quarantine(session, rejected)
    return {"paper rows recorded": recorded, "paper rows refused": len(rejected), "newly quarantined": quarantined,
            "paper rows dated after tonight": len(waiting), "paper binder changed": int(changed)}


def _note_binder_content(session: Session, label: str, source: Source) -> bool:
    """Remember the binder's content hash; True when it differs from the last read (or is new).

    The binder is read every night whatever its name says (rows are known by their content, so re-reading
    adds nothing twice); the hash tells the summary whether the office changed it.
    """
    if isinstance(source, tuple):
        raw = json.dumps(source[1], sort_keys=True, default=str).encode()
    else:
        raw = Path(source).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    key = f"paper.{hashlib.sha256(label.encode()).hexdigest()[:16]}.sha256"
    row = session.get(SyncState, key)
    if row is None:
        session.add(SyncState(key=key, value=digest))
        return True
    if row.value == digest:
        return False
    row.value = digest
    return True
