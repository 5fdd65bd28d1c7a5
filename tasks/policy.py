"""Policy version in Drive and its acknowledgement forms: found or created once, then reused by every run."""

from __future__ import annotations

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
    VersionProbe,
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


def _probe(session: Session, file_id: str | None, now: datetime) -> VersionProbe:
    """Which version the document's current state belongs to: Drive reads only, nothing written."""
    settings = resources.settings()
    school_year = local_school_year(now, settings.district.time_zone, settings.district.school_year_start)
    title = f"AR 1114 Social Media Policy {school_year}"
    if file_id is None:
        if not settings.policy_document:
            raise ValueError("no policy_drive_file_id and no policy_document in the district profile")
        return VersionProbe(None, "1", school_year, None, None, title)
    clients = resources.google()
    revisions = list_revisions(clients, file_id)
    revision_id = str(revisions[-1]["id"]) if revisions else "1"
    digest = policy_sha256(export_file(clients, file_id, "text/plain"))
    versions = session.scalars(select(PolicyVersion).where(PolicyVersion.drive_file_id == file_id)).all()
    existing = matching_version(versions, file_id, revision_id, digest, school_year)
    ready = existing is not None and bool(existing.staff_form_id and existing.community_form_id)
    return VersionProbe(file_id, revision_id, school_year, digest, existing.id if ready and existing else None,
                        existing.title if ready and existing else title)


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


@task(name="ensure-policy-version", retries=2, retry_delay_seconds=[30, 120], cache_policy=NO_CACHE)
def ensure_policy_version(now: datetime) -> int:
    """Current policy version id: changed text or a new school year opens a new one (an unchanged text under
    a new Drive revision does not)."""
    with resources.store().session() as session:
        file_id = _policy_file_id(session)
        probe = _probe(session, file_id, now)
        if probe.existing_id is not None:
            return probe.existing_id
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
        return version.id
