"""Policy versions and the acknowledgement forms that go with them (plain functions, no Google calls).

A version is the Drive revision of the policy document plus the SHA-256 of its exported text, per school year:
a new revision, or a new school year, opens a new acknowledgement cycle while older acknowledgements stay as
history.

Who can read it. People acknowledge "I have read the policy", so everyone asked must be able to open exactly
the revision they acknowledge, community members (no district account) included. The pipeline therefore:

- uploads the policy text itself (``policy_document``) as a Google Doc the app owns. Under the ``drive.file``
  scope the app sees only files it created or that were opened with it, and a service account cannot be
  handed a file through the Drive Picker, so a ``policy_drive_file_id`` naming a Doc someone else made answers
  404 (:func:`policy_file_hint` says what to do);
- publishes that Doc and a PDF exported from the same revision read-only to anyone with the link (not
  discoverable, not editable). This is a deliberate, narrow exception to the rule that the pipeline never makes
  ``anyone`` links (``compliance.google.workspace.share_file`` still refuses them): AR 1114 is a public board
  document, while everything holding personal data (the superintendent report) stays shared with named
  people only;
- shows the revision, the PDF link and the SHA-256 of the text on the acknowledgement form, so what a person
  signed can be checked against the PDF later even after the Doc changes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from compliance.errors import ConfigurationError
from compliance.languages import LANGUAGE_ANSWERS

FormKind = Literal["staff", "community"]
AGREE = "I have read the policy and will follow it"
AGREE_ES = "He leído la política y la cumpliré"


def school_year_of(day: date, start_mmdd: str = "08-01") -> str:
    """The school year containing ``day`` as ``2026-2027`` (a year starts on ``start_mmdd``)."""
    month, dom = (int(x) for x in start_mmdd.split("-"))
    first = day.year if (day.month, day.day) >= (month, dom) else day.year - 1
    return f"{first}-{first + 1}"


def local_school_year(moment: datetime, zone: str, start_mmdd: str = "08-01") -> str:
    """School year of an aware instant, judged by the district's calendar date."""
    return school_year_of(moment.astimezone(ZoneInfo(zone)).date(), start_mmdd)


def policy_sha256(exported_text: bytes) -> str:
    """Hash of what people were asked to read; line endings normalised first."""
    return hashlib.sha256(exported_text.replace(b"\r\n", b"\n").strip()).hexdigest()


class KnownVersion(Protocol):
    id: int
    drive_file_id: str
    revision_id: str
    sha256: str
    school_year: str


def matching_version(
    versions: Iterable[KnownVersion], drive_file_id: str, revision_id: str, sha256: str | None,
    school_year: str | None,
) -> KnownVersion | None:
    """The stored version a document state belongs to, or None when it would open a new one.

    Same file and school year, and the same text (by hash) or the same Drive revision: a new revision whose
    text is unchanged (a comment, a title edit, a sharing change) is still the same version, so nobody is
    asked to sign again for nothing. The newest match wins. ``school_year`` None: any school year (a district
    that does not renew acknowledgements each year, ``renew_each_school_year = false``).
    """
    found = [
        v for v in versions
        if v.drive_file_id == drive_file_id and (school_year is None or v.school_year == school_year)
        and ((sha256 is not None and v.sha256 == sha256) or v.revision_id == revision_id)
    ]
    return max(found, key=lambda v: v.id) if found else None


class DatedVersion(Protocol):
    id: int
    school_year: str
    created_at: datetime


def version_in_force(versions: Iterable[DatedVersion], signed_on: date, zone: str,
                     start_mmdd: str = "08-01") -> DatedVersion | None:
    """The policy version a paper form signed on ``signed_on`` acknowledged: the newest one opened by then in
    that day's school year (a form signed last May is last year's version, not the one opened in August).

    None when no version of that school year had been opened by then (the row is refused, not guessed).
    """
    year = school_year_of(signed_on, start_mmdd)
    tz = ZoneInfo(zone)
    opened = [v for v in versions if v.school_year == year and v.created_at.astimezone(tz).date() <= signed_on]
    return max(opened, key=lambda v: (v.created_at, v.id)) if opened else None


RevisionDecision = Literal["material", "editorial"]
# Why a document state opens a new version: the first one, a new school year (renewal), or changed text.
VersionChange = Literal["", "first", "new_school_year", "changed_text"]


def change_kind(versions: Iterable[KnownVersion], school_year: str, renew_each_school_year: bool) -> VersionChange:
    """Why a document state no stored version matches would open a new one."""
    known = list(versions)
    if not known:
        return "first"
    if renew_each_school_year and not any(v.school_year == school_year for v in known):
        return "new_school_year"
    return "changed_text"


@dataclass(frozen=True, slots=True)
class VersionProbe:
    """Which policy version a run would use, found without changing anything (what a dry run plans against).

    ``existing_id`` is None when a real run would open a new version (new text, new school year, or a policy
    document not uploaded yet); the dry run then plans as if nobody had signed it, which is what would happen.
    """

    drive_file_id: str | None
    revision_id: str
    school_year: str
    sha256: str | None
    existing_id: int | None
    title: str
    change: VersionChange = ""
    # For changed text: the version whose text changed, and central office's decision if one was given.
    previous_id: int | None = None
    decision: RevisionDecision | None = None

    @property
    def needs_decision(self) -> bool:
        """Changed text nobody has classified yet: material (everyone signs again) or editorial (nobody does)."""
        return self.change == "changed_text" and self.decision is None

    @property
    def would_create(self) -> bool:
        return self.existing_id is None

    def describe(self) -> str:
        """One line for the plan: which version, and whether the real run would create it."""
        if self.existing_id is not None:
            return f"policy version {self.existing_id} ({self.title}, revision {self.revision_id})"
        where = f"revision {self.revision_id}" if self.drive_file_id else "the policy document, not uploaded yet"
        why = {"first": "", "new_school_year": ", a new school year: everyone acknowledges again",
               "changed_text": f", the text of version {self.previous_id} changed", "": ""}[self.change]
        pending = "; central office must first say whether the change is material or editorial" \
            if self.needs_decision else ""
        return (f"a new policy version for {self.school_year} ({where}{why}); the real run creates it and its "
                f"forms, this dry run created nothing{pending}")

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionProbe:
        return cls(**data)


@dataclass(frozen=True, slots=True)
class FormQuestions:
    """Question ids of one acknowledgement form (Forms keys answers by these 8-hex-digit ids)."""

    form_id: str
    responder_uri: str
    name: str
    agree: str
    token: str | None = None
    language: str | None = None  # the "which language did you read" question, when the policy has translations

    def as_json(self) -> dict[str, Any]:
        return {
            "form_id": self.form_id,
            "responder_uri": self.responder_uri,
            "name": self.name,
            "agree": self.agree,
            "token": self.token,
            "language": self.language,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FormQuestions:
        return cls(**data)


class PolicyConfigError(ConfigurationError, ValueError):
    """The profile does not say where the policy is, or names a file the pipeline cannot use; says the fix."""


def policy_file_hint(file_id: str) -> str:
    """What to do when ``policy_drive_file_id`` is not visible to the app (404 under ``drive.file``)."""
    return (
        f"policy_drive_file_id {file_id!r}: the Drive file is not visible to the pipeline (404). With the "
        "drive.file scope the pipeline can open only files it created itself. Fix: remove policy_drive_file_id "
        "from the district profile and set policy_document to the policy text (HTML, e.g. File > Download > Web "
        "page of the board's Doc); the pipeline uploads it, publishes it read-only and keeps its id. Set "
        "policy_drive_file_id only to an id the pipeline created (see `district-compliance preflight`)."
    )


def doc_url(file_id: str) -> str:
    """Where people read the policy Doc (open to anyone with the link)."""
    return f"https://docs.google.com/document/d/{file_id}/view"


def pdf_url(file_id: str) -> str:
    """Where people read the PDF of the acknowledged revision (open to anyone with the link)."""
    return f"https://drive.google.com/file/d/{file_id}/view"


def pdf_name(title: str, revision_id: str, sha256: str) -> str:
    """File name of a revision's PDF: the title, revision and short hash make each one recognisable."""
    return f"{title} (revision {revision_id}, sha256 {sha256[:12]}).pdf"


def form_description(title: str, revision_id: str, sha256: str, pdf_file_id: str | None,
                     translations: dict[str, dict[str, str]] | None = None) -> str:
    """Form text naming exactly what is acknowledged: revision, SHA-256 of its text, link to its PDF, and the
    same for each translation (a Spanish reader checks the Spanish text they read)."""
    lines = [
        f"{title}: please read the policy, then sign below. / Lea la política y firme abajo.",
        f"Policy revision {revision_id}; SHA-256 of its text: {sha256}",
    ]
    if pdf_file_id:
        lines.append(f"The exact text you acknowledge (PDF) / El texto exacto (PDF): {pdf_url(pdf_file_id)}")
    for language, t in sorted((translations or {}).items()):
        label = TRANSLATION_LABELS.get(language, language)
        lines.append(f"{label}: revision {t['revision_id']}, SHA-256 {t['sha256']}, PDF {pdf_url(t['pdf_file_id'])}")
    return "\n".join(lines)


TRANSLATION_LABELS = {"es": "Versión en español / Spanish version"}
LANGUAGE_QUESTION = "Language of the policy you read / Idioma en que leyó la política"


def form_items(kind: FormKind, policy_title: str, sha256: str | None = None,
               languages: tuple[str, ...] = ("en",)) -> list[dict[str, Any]]:
    """Items of the acknowledgement form: typed name as signature, agreement, token, and when the policy exists
    in more than one language, which one the person read (pre-filled from their invitation, changeable).

    Google Forms has no hidden fields: the community token is a visible, pre-filled, editable answer, which is
    why it is cross-checked against the roster and the typed email on sync.
    """
    items: list[dict[str, Any]] = [
        {
            "title": "Full name (typing your name is your signature) / Nombre completo (su firma)",
            "questionItem": {"question": {"required": True, "textQuestion": {"paragraph": False}}},
        },
        {
            "title": f"{policy_title}",
            "description": "AR 1114 social media policy acknowledgement"
            + (f" (policy SHA-256 {sha256})" if sha256 else ""),
            "questionItem": {
                "question": {
                    "required": True,
                    "choiceQuestion": {"type": "RADIO", "options": [{"value": f"{AGREE} / {AGREE_ES}"}]},
                }
            },
        },
    ]
    if kind == "community":
        items.append(
            {
                "title": "Personal code from your invitation (do not change) / Código personal (no cambiar)",
                "questionItem": {"question": {"required": True, "textQuestion": {"paragraph": False}}},
            }
        )
    if len(languages) > 1:
        items.append(
            {
                "title": LANGUAGE_QUESTION,
                "questionItem": {"question": {"required": False, "choiceQuestion": {
                    "type": "RADIO", "options": [{"value": LANGUAGE_ANSWERS[code]} for code in languages
                                                 if code in LANGUAGE_ANSWERS]}}},
            }
        )
    return items


def questions_from_replies(
    kind: FormKind, form_id: str, responder_uri: str, replies: list[dict[str, Any]],
    languages: tuple[str, ...] = ("en",),
) -> FormQuestions:
    """Map batchUpdate createItem replies (in item order) to the form's question ids."""
    ids = [(r.get("questionId") or [None])[0] for r in replies]
    expected = (3 if kind == "community" else 2) + (1 if len(languages) > 1 else 0)
    if len(ids) < expected or not all(ids):
        raise ValueError(f"{kind} form {form_id}: createItem replies carry no question ids")
    return FormQuestions(
        form_id=form_id,
        responder_uri=responder_uri,
        name=ids[0],
        agree=ids[1],
        token=ids[2] if kind == "community" else None,
        language=ids[expected - 1] if len(languages) > 1 else None,
    )


def answer_text(response: dict[str, Any], question_id: str | None) -> str | None:
    """The first text answer to ``question_id`` in a Forms ``FormResponse``, stripped; None when absent."""
    if not question_id:
        return None
    answer = (response.get("answers") or {}).get(question_id) or {}
    values = (answer.get("textAnswers") or {}).get("answers") or []
    if not values:
        return None
    value = str(values[0].get("value", "")).strip()
    return value or None
