"""The incident report form and what a response says (no Google calls here: tasks/incidents.py makes them).

Anyone may report (staff, Associated Persons, parents, students) and may stay anonymous, so the form collects
no email and is open to anyone with the link. It has no file-upload question on purpose: images of minors
must never reach district storage (AR 1114 III.A.4), so the form asks for the address of a posting, which is
kept as text and never fetched. Answers are outside text: each is cleaned of control characters and of
embedded images (``data:image/...`` URIs), and cut to ``incidents.max_answer_chars`` with a note.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from compliance.acknowledgements import parse_time
from compliance.settings import Settings
from compliance.vocabulary import CaseCategory

FORM_TITLE = "Report a social media incident or complaint (AR 1114)"
FORM_DESCRIPTION = (
    "Use this form to report a posting or online conduct that breaks the district's social media policy: "
    "threats, harassment, images of minors, a suspicion of abuse or neglect, or any other complaint. "
    "You may leave your contact empty to stay anonymous. In an emergency call 911 first.\n\n"
    "Do not upload, download, print or screenshot images of minors: copy the address (link) of the posting "
    "and say when you saw it. The district does not tolerate retaliation against anyone who reports."
)
ROLES: tuple[str, ...] = (
    "District employee",
    "Associated person (volunteer, coach, contractor, vendor...)",
    "Parent or guardian",
    "Student",
    "Other",
)
YES, NO = "Yes", "No"
SITE_UNKNOWN = "Not sure, or more than one site"

# (name, title, kind, required, description); kind: text | paragraph | radio | dropdown.
_QUESTIONS: tuple[tuple[str, str, str, bool, str], ...] = (
    ("role", "You are", "radio", True, ""),
    ("category", "What kind of incident is it?", "radio", True, ""),
    ("site", "Which school or office is it about?", "dropdown", True, ""),
    ("what", "What happened?", "paragraph", True, "Describe what was posted or done. No images, please."),
    ("url", "Address (link) of the posting, if there is one", "text", False,
     "Copy the address from the browser. Do not download or screenshot images of minors."),
    ("platform", "Platform or website (Instagram, TikTok, a school page...)", "text", False, ""),
    ("when", "When did it happen, or when did you see it?", "text", False, ""),
    ("involved", "Who is involved?", "paragraph", False, "Names or roles, as far as you know them."),
    ("roster_ids", "District ids of people involved, if you know them", "text", False,
     "Employee or roster ids separated by commas."),
    ("against_admin", "Is the complaint about a school or district administrator?", "radio", True,
     "If yes, the administrator's supervisor handles it."),
    ("administrator", "The administrator's district email, if you know it", "text", False, ""),
    ("contact", "Your email or phone for follow-up (leave empty to stay anonymous)", "text", False, ""),
)
QUESTION_NAMES: tuple[str, ...] = tuple(q[0] for q in _QUESTIONS)

# Characters a stored answer never keeps: C0 controls but tab and newline, DEL, C1 controls, line separators.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# An image pasted into a text answer as a data URI: image bytes in disguise, removed before anything is stored.
_EMBEDDED_IMAGE = re.compile(r"data:image/[A-Za-z0-9.+-]*[^\s,]*,[A-Za-z0-9+/=%_-]*", re.IGNORECASE)
EMBEDDED_IMAGE_MARK = "[embedded image removed]"
_ROSTER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}")


def category_options() -> dict[str, CaseCategory]:
    """The category choices as the form shows them, each to its stored value."""
    return {c.label: c for c in CaseCategory}


def site_options(settings: Settings) -> dict[str, str | None]:
    """The site choices as the form shows them, each to its site id (``None``: the reporter is not sure)."""
    options: dict[str, str | None] = {s.name: s.id for s in settings.sites}
    options[SITE_UNKNOWN] = None
    return options


def form_items(settings: Settings) -> list[dict[str, Any]]:
    """The form's items in order (Forms ``Item`` resources; text and choice questions only, no file upload)."""
    choices: dict[str, Sequence[str]] = {
        "role": ROLES,
        "category": list(category_options()),
        "site": list(site_options(settings)),
        "against_admin": (NO, YES),
    }
    items: list[dict[str, Any]] = []
    for name, title, kind, required, description in _QUESTIONS:
        if kind in ("radio", "dropdown"):
            question: dict[str, Any] = {
                "choiceQuestion": {
                    "type": "RADIO" if kind == "radio" else "DROP_DOWN",
                    "options": [{"value": o} for o in choices[name]],
                }
            }
        else:
            question = {"textQuestion": {"paragraph": kind == "paragraph"}}
        item: dict[str, Any] = {"title": title, "questionItem": {"question": {"required": required, **question}}}
        if description:
            item["description"] = description
        items.append(item)
    return items


@dataclass(frozen=True, slots=True)
class IncidentForm:
    """The provisioned form: its id, responder link and question id per question name."""

    form_id: str
    responder_uri: str
    questions: Mapping[str, str]

    def as_json(self) -> dict[str, Any]:
        return {"form_id": self.form_id, "responder_uri": self.responder_uri, "questions": dict(self.questions)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> IncidentForm:
        return cls(str(data["form_id"]), str(data["responder_uri"]), dict(data["questions"]))


def form_from_replies(form_id: str, responder_uri: str, replies: Sequence[Mapping[str, Any]]) -> IncidentForm:
    """Map batchUpdate createItem replies (in :func:`form_items` order) to question ids."""
    ids = [(r.get("questionId") or [None])[0] for r in replies]
    if len(ids) != len(QUESTION_NAMES) or not all(ids):
        raise ValueError(f"incident form {form_id}: createItem replies carry no question id for every question")
    return IncidentForm(form_id, responder_uri, dict(zip(QUESTION_NAMES, ids, strict=True)))


def clean_answer(value: str | None, limit: int, name: str) -> tuple[str | None, list[str]]:
    """An answer made safe to store: controls and embedded images removed, cut to ``limit`` characters.

    Returns the text (None when empty) and notes saying what was changed, for the case's input notes. The
    text is never interpreted: scripts and formulas stay inert text, escaped wherever they are shown.
    """
    if value is None:
        return None, []
    notes: list[str] = []
    text, images = _EMBEDDED_IMAGE.subn(EMBEDDED_IMAGE_MARK, value)
    if images:
        notes.append(f"{name}: {images} embedded image(s) removed, never stored")
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n")).strip()
    if len(text) > limit:
        notes.append(f"{name}: answer of {len(text)} characters cut to {limit}")
        text = text[:limit] + " [cut]"
    return text or None, notes


@dataclass(frozen=True, slots=True)
class Report:
    """One form response as the pipeline reads it; ``notes`` say what in the input was off or changed."""

    response_id: str
    submitted_at: datetime
    category: CaseCategory
    site_id: str | None
    reporter_role: str
    description: str
    posting_url: str | None
    platform: str | None
    happened: str | None
    involved: str | None
    roster_ids: tuple[str, ...]
    against_administrator: bool
    administrator: str | None
    contact: str | None
    notes: tuple[str, ...] = field(default_factory=tuple)


def _answers(response: Mapping[str, Any], question_id: str | None) -> list[str]:
    answer = (response.get("answers") or {}).get(question_id or "") or {}
    return [str(a.get("value", "")) for a in (answer.get("textAnswers") or {}).get("answers") or []]


def parse_report(response: Mapping[str, Any], form: IncidentForm, settings: Settings) -> Report:
    """Read one ``FormResponse``; never refuses one (a report is never lost): what is off becomes a note.

    An unknown category is read as ``other`` and an unknown site as "not sure", both with a note, so the
    case still reaches an owner who can correct it.
    """
    limit = settings.incidents.max_answer_chars
    notes: list[str] = []

    def text(name: str, bound: int = limit) -> str | None:
        values = _answers(response, form.questions.get(name))
        cleaned, changed = clean_answer(values[0] if values else None, bound, name)
        notes.extend(changed)
        return cleaned

    category_text = text("category", 300)
    category = category_options().get(category_text or "")
    if category is None:
        notes.append("category: not one of the form's choices, read as 'other'")
        category = CaseCategory.OTHER
    site_text = text("site", 300)
    sites = site_options(settings)
    site_id = sites.get(site_text or "")
    if site_text is not None and site_text not in sites:
        notes.append("site: not one of the form's choices, read as not sure")
    roster_text = text("roster_ids", 2000) or ""
    roster_ids = tuple(dict.fromkeys(m.group(0) for m in _ROSTER_ID.finditer(roster_text)))[:50]
    administrator = (text("administrator", 320) or "").lower() or None
    return Report(
        response_id=str(response["responseId"]),
        submitted_at=parse_time(str(response.get("lastSubmittedTime") or response["createTime"])),
        category=category,
        site_id=site_id,
        reporter_role=(text("role", 60) or "Not given")[:60],
        description=text("what") or "(no description given)",
        posting_url=text("url", 4000),
        platform=text("platform", 1000),
        happened=text("when", 1000),
        involved=text("involved"),
        roster_ids=roster_ids,
        against_administrator=text("against_admin", 10) == YES,
        administrator=administrator,
        contact=text("contact", 400),
        notes=tuple(notes),
    )
