"""Policy version in Drive and its acknowledgement forms: found or created once, then reused by every run.

The Doc and a PDF of the acknowledged revision are published read-only to anyone with the link, and the forms
name the revision, its SHA-256 and the PDF (why: ``compliance.policy`` module docstring).
"""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.google.errors import NotFound
from compliance.google.workspace import (
    add_form_items,
    allow_form_responders,
    create_form,
    export_file,
    get_file,
    list_revisions,
    publish_form,
    publish_read_only_link,
    set_email_collection,
    upload_file,
)
from compliance.models import PolicyVersion, SyncState
from compliance.policy import (
    FormKind,
    FormQuestions,
    PolicyConfigError,
    form_description,
    form_items,
    local_school_year,
    pdf_name,
    policy_file_hint,
    policy_sha256,
    questions_from_replies,
)
from tasks import resources
from tasks.guard import retry_unless_configuration

POLICY_FILE_KEY = "policy.drive_file_id"
GOOGLE_DOC = "application/vnd.google-apps.document"


def _policy_file_id(session: Session) -> str:
    """The Drive file holding the policy: settings, else the one we uploaded, else upload now.

    A configured id must be visible to the app (under ``drive.file``, one the pipeline created): anything else
    is a configuration error with the fix in its message, not something a retry can mend.
    """
    settings = resources.settings()
    clients = resources.google()
    if settings.policy_drive_file_id:
        try:
            get_file(clients, settings.policy_drive_file_id)
        except NotFound:
            raise PolicyConfigError(policy_file_hint(settings.policy_drive_file_id)) from None
        return settings.policy_drive_file_id
    known = session.get(SyncState, POLICY_FILE_KEY)
    if known is not None:
        return known.value
    if not settings.policy_document:
        raise PolicyConfigError(
            f"{settings.profile_path}: no policy_document (the policy text, HTML) and no policy_drive_file_id; "
            "set policy_document to the policy's HTML file, relative to the profile"
        )
    path = settings.input_path(settings.policy_document)
    if not path.is_file():
        raise PolicyConfigError(f"{settings.profile_path}: policy_document {path} does not exist")
    created = upload_file(clients, "AR 1114 Social Media Policy", "text/html", path.read_bytes(), convert_to=GOOGLE_DOC)
    session.add(SyncState(key=POLICY_FILE_KEY, value=created["id"]))
    session.flush()
    return str(created["id"])


def _publish_revision_pdf(file_id: str, title: str, revision_id: str, digest: str) -> str:
    """Publish the Doc and a PDF of this revision read-only to anyone with the link; return the PDF's id."""
    clients = resources.google()
    publish_read_only_link(clients, file_id)
    pdf = export_file(clients, file_id, "application/pdf")
    created = upload_file(clients, pdf_name(title, revision_id, digest), "application/pdf", pdf)
    publish_read_only_link(clients, created["id"])
    return str(created["id"])


def _provision_form(kind: FormKind, title: str, description: str, digest: str) -> FormQuestions:
    clients = resources.google()
    form = create_form(clients, f"{title} ({'staff' if kind == 'staff' else 'community'})", description=description)
    replies = add_form_items(clients, form["formId"], form_items(kind, title, digest))
    # Staff sign in with their district account (verified email) and only the district's signed-in users may
    # answer their form; community members have no district account, so their form takes a typed email and a
    # personal token, and anyone with the link may answer it.
    set_email_collection(clients, form["formId"], "VERIFIED" if kind == "staff" else "RESPONDER_INPUT")
    publish_form(clients, form["formId"])
    allow_form_responders(clients, form["formId"], "domain" if kind == "staff" else "anyone")
    return questions_from_replies(kind, form["formId"], form["responderUri"], replies)



@task(
    name="ensure-policy-version",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
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
            if not existing.pdf_file_id:  # a version made before PDFs were published
                existing.pdf_file_id = _publish_revision_pdf(file_id, existing.title, revision_id, existing.sha256)
            return existing.id
        digest = policy_sha256(export_file(clients, file_id, "text/plain"))
        title = f"AR 1114 Social Media Policy {school_year}"
        pdf_id = _publish_revision_pdf(file_id, title, revision_id, digest)
        description = form_description(title, revision_id, digest, pdf_id)
        staff = _provision_form("staff", title, description, digest)
        community = _provision_form("community", title, description, digest)
        version = existing or PolicyVersion(
            drive_file_id=file_id,
            revision_id=revision_id,
            school_year=school_year,
            sha256=digest,
            title=title,
        )
        version.sha256 = digest
        version.pdf_file_id = pdf_id
        version.staff_form_id = staff.form_id
        version.community_form_id = community.form_id
        version.form_questions = {"staff": staff.as_json(), "community": community.as_json()}
        session.add(version)
        session.flush()
        return version.id
