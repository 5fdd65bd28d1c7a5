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
    form_items,
    local_school_year,
    policy_sha256,
    questions_from_replies,
)
from tasks import resources

POLICY_FILE_KEY = "policy.drive_file_id"
GOOGLE_DOC = "application/vnd.google-apps.document"


def _policy_file_id(session: Session) -> str:
    """The Drive file holding the policy: settings, else the one we uploaded, else upload now."""
    settings = resources.settings()
    if settings.policy_drive_file_id:
        return settings.policy_drive_file_id
    known = session.get(SyncState, POLICY_FILE_KEY)
    if known is not None:
        return known.value
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
    """Current policy version id: a new revision or school year opens a new one."""
    settings = resources.settings()
    clients = resources.google()
    with resources.store().session() as session:
        file_id = _policy_file_id(session)
        revisions = list_revisions(clients, file_id)
        revision_id = str(revisions[-1]["id"]) if revisions else "1"
        school_year = local_school_year(now, settings.district.time_zone, settings.district.school_year_start)
        existing = session.scalar(
            select(PolicyVersion).where(
                PolicyVersion.drive_file_id == file_id,
                PolicyVersion.revision_id == revision_id,
                PolicyVersion.school_year == school_year,
            )
        )
        if existing is not None and existing.staff_form_id and existing.community_form_id:
            return existing.id
        digest = policy_sha256(export_file(clients, file_id, "text/plain"))
        title = f"AR 1114 Social Media Policy {school_year}"
        staff = _provision_form("staff", title)
        community = _provision_form("community", title)
        version = existing or PolicyVersion(
            drive_file_id=file_id,
            revision_id=revision_id,
            school_year=school_year,
            sha256=digest,
            title=title,
        )
        version.sha256 = digest
        version.staff_form_id = staff.form_id
        version.community_form_id = community.form_id
        version.form_questions = {"staff": staff.as_json(), "community": community.as_json()}
        session.add(version)
        session.flush()
        return version.id
