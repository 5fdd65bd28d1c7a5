"""Policy version in Drive and its acknowledgement forms: found or created once, then reused by every run."""

from __future__ import annotations

import json
from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.google.workspace import (
    add_form_items,
    create_form,
    export_file,
    list_revisions,
    publish_form,
    set_email_collection,
    upload_file,
)
from compliance.models import PolicyVersion, SyncState
from compliance.policy import (
    FormKind,
    FormQuestions,
    RevisionDecision,
    VersionProbe,
    change_kind,
    form_items,
    local_school_year,
    matching_version,
    policy_sha256,
    questions_from_replies,
)
from tasks import resources

POLICY_FILE_KEY = "policy.drive_file_id"
GOOGLE_DOC = "application/vnd.google-apps.document"


def _known_policy_file_id(session: Session) -> str | None:
    """The Drive file holding the policy, if there is one yet (settings, else the one we uploaded)."""
    settings = resources.settings()
    if settings.policy_drive_file_id:
        return settings.policy_drive_file_id
    known = session.get(SyncState, POLICY_FILE_KEY)
    return known.value if known is not None else None


def _policy_file_id(session: Session) -> str:
    """The Drive file holding the policy: settings, else the one we uploaded, else upload now."""
    settings = resources.settings()
    known = _known_policy_file_id(session)
    if known is not None:
        return known
    if not settings.policy_document:
        raise ValueError("no policy_drive_file_id and no policy_document in the district profile")
    path = settings.input_path(settings.policy_document)
    created = upload_file(
        resources.google(),
        "AR 1114 Social Media Policy",
        "text/html",
        path.read_bytes(),
        convert_to=GOOGLE_DOC,
    )
    session.add(SyncState(key=POLICY_FILE_KEY, value=created["id"]))
    session.flush()
    return str(created["id"])


def _decision_key(sha256: str) -> str:
    return f"policy.revision_decision.{sha256}"


def _decision(session: Session, sha256: str | None) -> dict | None:
    """Central office's recorded answer for a changed text (material or editorial, who, when), if any."""
    if sha256 is None:
        return None
    row = session.get(SyncState, _decision_key(sha256))
    return json.loads(row.value) if row is not None else None


def _probe(session: Session, file_id: str | None, now: datetime) -> VersionProbe:
    """Which version the document's current state belongs to: Drive reads only, nothing written."""
    settings = resources.settings()
    school_year = local_school_year(now, settings.district.time_zone, settings.district.school_year_start)
    title = f"AR 1114 Social Media Policy {school_year}"
    if file_id is None:
        if not settings.policy_document:
            raise ValueError("no policy_drive_file_id and no policy_document in the district profile")
        return VersionProbe(None, "1", school_year, None, None, title, change="first")
    clients = resources.google()
    revisions = list_revisions(clients, file_id)
    revision_id = str(revisions[-1]["id"]) if revisions else "1"
    digest = policy_sha256(export_file(clients, file_id, "text/plain"))
    versions = [v for v in session.scalars(select(PolicyVersion).where(PolicyVersion.drive_file_id == file_id))
                if v.staff_form_id and v.community_form_id]
    year_key = school_year if settings.renew_each_school_year else None
    existing = matching_version(versions, file_id, revision_id, digest, year_key)
    if existing is not None:
        return VersionProbe(file_id, revision_id, school_year, digest, existing.id, existing.title)
    change = change_kind(versions, school_year, settings.renew_each_school_year)
    if change != "changed_text":
        return VersionProbe(file_id, revision_id, school_year, digest, None, title, change=change)
    same_year = [v for v in versions if year_key is None or v.school_year == year_key]
    previous = max(same_year, key=lambda v: v.id)
    decided = _decision(session, digest)
    if decided and decided["decision"] == "editorial":  # the same version: nobody signs again
        return VersionProbe(file_id, revision_id, school_year, digest, int(decided["version_id"]), previous.title,
                            previous_id=previous.id, decision="editorial")
    return VersionProbe(file_id, revision_id, school_year, digest, None, title, change="changed_text",
                        previous_id=previous.id, decision=decided["decision"] if decided else None)


@task(name="probe-policy-version", retries=2, retry_delay_seconds=[30, 120], cache_policy=NO_CACHE)
def probe_policy_version(now: datetime) -> dict:
    """The version a real run would use, as JSON (:class:`~compliance.policy.VersionProbe`); changes nothing.

    Dry runs plan against it, so a dry run never creates a version, a form or a Drive file.
    """
    with resources.store().session() as session:
        probe = _probe(session, _known_policy_file_id(session), now)
        session.rollback()  # read only, whatever a read may have loaded
    return probe.as_json()


def _provision_form(kind: FormKind, title: str) -> FormQuestions:
    clients = resources.google()
    form = create_form(clients, f"{title} ({'staff' if kind == 'staff' else 'community'})")
    replies = add_form_items(clients, form["formId"], form_items(kind, title))
    # Staff sign in with their district account (verified email); community members have none, so their
    # form takes a typed email and a personal token instead.
    set_email_collection(clients, form["formId"], "VERIFIED" if kind == "staff" else "RESPONDER_INPUT")
    publish_form(clients, form["formId"])
    return questions_from_replies(kind, form["formId"], form["responderUri"], replies)


class RevisionDecisionNeeded(RuntimeError):
    """The policy text changed and nobody has said yet whether people must acknowledge it again."""


def record_decision(session: Session, probe: VersionProbe, decision: RevisionDecision, decided_by: str,
                    now: datetime) -> None:
    """Keep central office's answer for this text (the evidence of why people were, or were not, asked again)."""
    if not decided_by.strip():
        raise ValueError("a revision decision needs the name or email of who gave it")
    key = _decision_key(probe.sha256 or "")
    value = json.dumps({"decision": decision, "decided_by": decided_by.strip(), "decided_at": now.isoformat(),
                        "revision_id": probe.revision_id, "version_id": probe.previous_id})
    row = session.get(SyncState, key)
    if row is None:
        session.add(SyncState(key=key, value=value))
    else:
        row.value = value
    session.flush()


def _close_superseded_forms(session: Session, newest: PolicyVersion) -> int:
    """Older versions' forms stop accepting responses; what they received before stays theirs (the sync keeps
    reading them, so a late response is recorded against the version it acknowledged)."""
    clients = resources.google()
    closed = 0
    older = session.scalars(select(PolicyVersion).where(PolicyVersion.id != newest.id)).all()
    for version in older:
        for form_id in (version.staff_form_id, version.community_form_id):
            key = f"forms.{form_id}.closed"
            if not form_id or session.get(SyncState, key) is not None:
                continue
            publish_form(clients, form_id, accepting_responses=False)
            session.add(SyncState(key=key, value=f"superseded by policy version {newest.id}"))
            closed += 1
    session.flush()
    return closed


@task(name="ensure-policy-version", retries=2, retry_delay_seconds=[30, 120], cache_policy=NO_CACHE)
def ensure_policy_version(
    now: datetime, decision: RevisionDecision | None = None, decided_by: str | None = None
) -> int:
    """Current policy version id. The first document, a new school year (``renew_each_school_year``) or a
    material change opens a new one with its forms and closes the older forms; an editorial change keeps the
    version (nobody signs again); a new Drive revision with unchanged text is the same version.

    Changed text without ``decision`` raises :class:`RevisionDecisionNeeded`: central office answers
    (material or editorial, and who) as a flow parameter; the answer is recorded.
    """
    with resources.store().session() as session:
        file_id = _policy_file_id(session)
        probe = _probe(session, file_id, now)
        if probe.change == "changed_text" and decision is not None and probe.decision is None:
            record_decision(session, probe, decision, decided_by or "", now)
            probe = _probe(session, file_id, now)
        if probe.existing_id is not None:
            return probe.existing_id
        if probe.needs_decision:
            raise RevisionDecisionNeeded(
                f"the policy text changed since version {probe.previous_id} (Drive revision {probe.revision_id}): "
                "say whether the change is material (everyone acknowledges again) or editorial (nobody does) "
                "with the parameters policy_revision and decided_by"
            )
        existing = session.scalar(
            select(PolicyVersion).where(
                PolicyVersion.drive_file_id == file_id,
                PolicyVersion.revision_id == probe.revision_id,
                PolicyVersion.school_year == probe.school_year,
            )
        )
        staff = _provision_form("staff", probe.title)
        community = _provision_form("community", probe.title)
        version = existing or PolicyVersion(
            drive_file_id=file_id,
            revision_id=probe.revision_id,
            school_year=probe.school_year,
            sha256=probe.sha256 or "",
            title=probe.title,
            created_at=now,
        )
        version.sha256 = probe.sha256 or ""
        version.staff_form_id = staff.form_id
        version.community_form_id = community.form_id
        version.form_questions = {"staff": staff.as_json(), "community": community.as_json()}
        session.add(version)
        session.flush()
        _close_superseded_forms(session, version)
        return version.id


@task(name="follow-policy-document", retries=2, retry_delay_seconds=[30, 120], cache_policy=NO_CACHE)
def follow_policy_document(
    now: datetime, decision: RevisionDecision | None = None, decided_by: str | None = None
) -> dict[str, int]:
    """The nightly's look at the policy document: a new school year or a material change opens the new
    version; changed text nobody has classified yet is reported as pending (nothing opens, nothing is sent)."""
    with resources.store().session() as session:
        if not session.scalars(select(PolicyVersion.id)).first():
            return {"policy versions opened": 0, "policy revision pending decision": 0, "policy version": 0}
        before = session.scalars(select(PolicyVersion.id).order_by(PolicyVersion.id.desc())).first()
    try:
        current = ensure_policy_version.fn(now, decision, decided_by)
    except RevisionDecisionNeeded:
        return {"policy versions opened": 0, "policy revision pending decision": 1, "policy version": before or 0}
    return {"policy versions opened": int(current > (before or 0)), "policy revision pending decision": 0,
            "policy version": current}
