"""Policy versions as they follow the Drive document: probe, open, publish, decide, supersede.

A version is the policy text people acknowledge. It opens when the document first appears, when a new school
year starts (profile: ``renew_each_school_year``) or when central office calls a changed text material; an
editorial change keeps the version (nobody signs again) and a new Drive revision with unchanged text is the same
version. Each opened version gets its staff and community forms and a read-only PDF of its revision (why the
PDF: ``compliance.policy`` module docstring); older versions' forms stop accepting responses.

The probe reads Drive and the store only, so a dry run can plan against the version a real run would use
without creating anything.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.google.clients import GoogleClients
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
    RevisionDecision,
    VersionProbe,
    change_kind,
    form_description,
    form_items,
    local_school_year,
    matching_version,
    pdf_name,
    policy_file_hint,
    policy_sha256,
    questions_from_replies,
)
from compliance.settings import Settings

POLICY_FILE_KEY = "policy.drive_file_id"
GOOGLE_DOC = "application/vnd.google-apps.document"


class RevisionDecisionNeeded(RuntimeError):
    """The policy text changed and nobody has said yet whether people must acknowledge it again."""


def known_policy_file_id(session: Session, settings: Settings) -> str | None:
    """The Drive file holding the policy, if there is one yet (settings, else the one we uploaded)."""
    if settings.policy_drive_file_id:
        return settings.policy_drive_file_id
    known = session.get(SyncState, POLICY_FILE_KEY)
    return known.value if known is not None else None


def policy_file_id(session: Session, clients: GoogleClients, settings: Settings) -> str:
    """The Drive file holding the policy: settings, else the one we uploaded, else upload now.

    A configured id must be visible to the app (under ``drive.file``, one the pipeline created): anything else
    is a configuration error with the fix in its message, not something a retry can mend.
    """
    if settings.policy_drive_file_id:
        try:
            get_file(clients, settings.policy_drive_file_id)
        except NotFound:
            raise PolicyConfigError(policy_file_hint(settings.policy_drive_file_id)) from None
        return settings.policy_drive_file_id
    known = known_policy_file_id(session, settings)
    if known is not None:
        return known
    path = _require_document(settings)
    created = upload_file(clients, "AR 1114 Social Media Policy", "text/html", path.read_bytes(), convert_to=GOOGLE_DOC)
    session.add(SyncState(key=POLICY_FILE_KEY, value=created["id"]))
    session.flush()
    return str(created["id"])


def _require_document(settings: Settings) -> Path:
    """The policy document to upload; a dry run checks it too, so a real run cannot be the first to fail."""
    if not settings.policy_document:
        raise PolicyConfigError(
            f"{settings.profile_path}: no policy_document (the policy text, HTML) and no policy_drive_file_id; "
            "set policy_document to the policy's HTML file, relative to the profile"
        )
    path = settings.input_path(settings.policy_document)
    if not path.is_file():
        raise PolicyConfigError(f"{settings.profile_path}: policy_document {path} does not exist")
    for language, source in settings.policy_translations.items():
        if not settings.input_path(source).is_file():
            raise PolicyConfigError(
                f"{settings.profile_path}: policy_translations.{language} {settings.input_path(source)} does not exist"
            )
    return path


TRANSLATED_TITLES = {"es": "AR 1114 Política de redes sociales {school_year}"}


def _translation_file_id(session: Session, clients: GoogleClients, settings: Settings, language: str) -> str:
    """The Drive Doc of the policy in ``language``: uploaded from the profile once, then followed in Drive like
    the English one (editors revise the Doc, not the file the profile named)."""
    key = f"{POLICY_FILE_KEY}.{language}"
    known = session.get(SyncState, key)
    if known is not None:
        return known.value
    path = settings.input_path(settings.policy_translations[language])  # type: ignore[index]
    created = upload_file(clients, f"AR 1114 Social Media Policy ({language})", "text/html", path.read_bytes(),
                          convert_to=GOOGLE_DOC)
    session.add(SyncState(key=key, value=created["id"]))
    session.flush()
    return str(created["id"])


def policy_translations(
    session: Session, clients: GoogleClients, settings: Settings, school_year: str, known: dict | None = None
) -> dict[str, dict[str, str]]:
    """The policy's text in the profile's other languages: Doc, current revision, hash and a read-only PDF each.

    The English text is the version (its hash is what a change is judged by); a translation follows it. A
    translation whose text changed since ``known`` gets a new PDF and its new hash; nobody is asked again for it.
    """
    translations = dict(known or {})
    for language in settings.policy_translations:
        file_id = _translation_file_id(session, clients, settings, language)
        revisions = list_revisions(clients, file_id)
        revision_id = str(revisions[-1]["id"]) if revisions else "1"
        digest = policy_sha256(export_file(clients, file_id, "text/plain"))
        known = translations.get(language) or {}
        if known.get("sha256") == digest and known.get("drive_file_id") == file_id:
            continue
        title = TRANSLATED_TITLES.get(language, "{school_year}").format(school_year=school_year)
        pdf_id = publish_revision_pdf(clients, file_id, title, revision_id, digest)
        translations[language] = {"drive_file_id": file_id, "revision_id": revision_id, "sha256": digest,
                                  "pdf_file_id": pdf_id, "title": title}
    return translations


def attach_translations(session: Session, clients: GoogleClients, settings: Settings, version: PolicyVersion) -> bool:
    """Keep a version's translations current (see :func:`policy_translations`); True when one changed."""
    translations = policy_translations(session, clients, settings, version.school_year, version.translations)
    if translations == (version.translations or {}):
        return False
    version.translations = translations
    session.flush()
    return True


def _decision_key(sha256: str) -> str:
    return f"policy.revision_decision.{sha256}"


def _decision(session: Session, sha256: str | None) -> dict | None:
    """Central office's recorded answer for a changed text (material or editorial, who, when), if any."""
    if sha256 is None:
        return None
    row = session.get(SyncState, _decision_key(sha256))
    return json.loads(row.value) if row is not None else None


def probe_version(
    session: Session, clients: GoogleClients, settings: Settings, file_id: str | None, now: datetime
) -> VersionProbe:
    """Which version the document's current state belongs to: Drive reads only, nothing written."""
    school_year = local_school_year(now, settings.district.time_zone, settings.district.school_year_start)
    title = f"AR 1114 Social Media Policy {school_year}"
    if file_id is None:
        _require_document(settings)
        return VersionProbe(None, "1", school_year, None, None, title, change="first")
    revisions = list_revisions(clients, file_id)
    revision_id = str(revisions[-1]["id"]) if revisions else "1"
    digest = policy_sha256(export_file(clients, file_id, "text/plain"))
    versions = [
        v
        for v in session.scalars(select(PolicyVersion).where(PolicyVersion.drive_file_id == file_id))
        if v.staff_form_id and v.community_form_id
    ]
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
        return VersionProbe(
            file_id, revision_id, school_year, digest, int(decided["version_id"]), previous.title,
            previous_id=previous.id, decision="editorial",
        )
    return VersionProbe(
        file_id, revision_id, school_year, digest, None, title, change="changed_text",
        previous_id=previous.id, decision=decided["decision"] if decided else None,
    )


def record_decision(
    session: Session, probe: VersionProbe, decision: RevisionDecision, decided_by: str, now: datetime
) -> None:
    """Keep central office's answer for this text (the evidence of why people were, or were not, asked again)."""
    if not decided_by.strip():
        raise ValueError("a revision decision needs the name or email of who gave it")
    key = _decision_key(probe.sha256 or "")
    value = json.dumps({
        "decision": decision, "decided_by": decided_by.strip(), "decided_at": now.isoformat(),
        "revision_id": probe.revision_id, "version_id": probe.previous_id,
    })
    row = session.get(SyncState, key)
    if row is None:
        session.add(SyncState(key=key, value=value))
    else:
        row.value = value
    session.flush()


def publish_revision_pdf(clients: GoogleClients, file_id: str, title: str, revision_id: str, digest: str) -> str:
    """Publish the Doc and a PDF of this revision read-only to anyone with the link; return the PDF's id."""
    publish_read_only_link(clients, file_id)
    pdf = export_file(clients, file_id, "application/pdf")
    created = upload_file(clients, pdf_name(title, revision_id, digest), "application/pdf", pdf)
    publish_read_only_link(clients, created["id"])
    return str(created["id"])


def _provision_form(clients: GoogleClients, kind: FormKind, title: str, description: str, digest: str,
                    languages: tuple[str, ...] = ("en",)) -> FormQuestions:
    form = create_form(clients, f"{title} ({'staff' if kind == 'staff' else 'community'})", description=description)
    replies = add_form_items(clients, form["formId"], form_items(kind, title, digest, languages))
    # Staff sign in with their district account (verified email) and only the district's signed-in users may
    # answer their form; community members have no district account, so their form takes a typed email and a
    # personal token, and anyone with the link may answer it.
    set_email_collection(clients, form["formId"], "VERIFIED" if kind == "staff" else "RESPONDER_INPUT")
    publish_form(clients, form["formId"])
    allow_form_responders(clients, form["formId"], "domain" if kind == "staff" else "anyone")
    return questions_from_replies(kind, form["formId"], form["responderUri"], replies, languages)


def close_superseded_forms(session: Session, clients: GoogleClients, newest: PolicyVersion) -> int:
    """Older versions' forms stop accepting responses; what they received before stays theirs (the sync keeps
    reading them, so a late response is recorded against the version it acknowledged)."""
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


def ensure_version(
    session: Session,
    clients: GoogleClients,
    settings: Settings,
    now: datetime,
    decision: RevisionDecision | None = None,
    decided_by: str | None = None,
) -> int:
    """Current policy version id, opening one (forms, PDF, older forms closed) when the document calls for it.

    Changed text without ``decision`` raises :class:`RevisionDecisionNeeded`: central office answers
    (material or editorial, and who) as a flow parameter; the answer is recorded.
    """
    file_id = policy_file_id(session, clients, settings)
    probe = probe_version(session, clients, settings, file_id, now)
    if probe.change == "changed_text" and decision is not None and probe.decision is None:
        record_decision(session, probe, decision, decided_by or "", now)
        probe = probe_version(session, clients, settings, file_id, now)
    if probe.existing_id is not None:
        current = session.get(PolicyVersion, probe.existing_id)
        if current is not None and not current.pdf_file_id:  # a version made before PDFs were published
            current.pdf_file_id = publish_revision_pdf(
                clients, file_id, current.title, current.revision_id, current.sha256
            )
        if current is not None:
            attach_translations(session, clients, settings, current)
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
    digest = probe.sha256 or ""
    pdf_id = publish_revision_pdf(clients, file_id, probe.title, probe.revision_id, digest)
    translations = policy_translations(session, clients, settings, probe.school_year)
    description = form_description(probe.title, probe.revision_id, digest, pdf_id, translations)
    languages = ("en", *translations)
    staff = _provision_form(clients, "staff", probe.title, description, digest, languages)
    community = _provision_form(clients, "community", probe.title, description, digest, languages)
    version = existing or PolicyVersion(
        drive_file_id=file_id,
        revision_id=probe.revision_id,
        school_year=probe.school_year,
        sha256=digest,
        title=probe.title,
        created_at=now,
    )
    version.sha256 = digest
    version.pdf_file_id = pdf_id
    version.staff_form_id = staff.form_id
    version.community_form_id = community.form_id
    version.form_questions = {"staff": staff.as_json(), "community": community.as_json()}
    version.translations = translations
    session.add(version)
    session.flush()
    close_superseded_forms(session, clients, version)
    return version.id


def latest_version_id(session: Session) -> int | None:
    """The newest policy version's id, or None before the first campaign."""
    return session.scalars(select(PolicyVersion.id).order_by(PolicyVersion.id.desc())).first()
