"""How a message greets its reader and how a reminder is worded for its stage (no Google calls, no store writes).

A digest, an escalation or the report goes to an address the profile names for a role (a site's administrator,
its web contact, the superintendent's recipients). Greeting that address by a made-up name reads wrong: the
principal who is also on the takedown list was greeted "Lincoln web team", the chief of staff "Superintendent",
the report "Hello superintendent" (the address's local part). So a message greets its reader by the name the
roster holds for that address, and only when the roster does not know it by the title of the role the profile
gives the address, written as a title; when not even the role is known (a superintendent's recipient the
roster does not have) the greeting has no name at all ("Hello," / "Hola:"), which is never wrong.

Reminders are worded by where they stand in the cadence and against the deadline on the day they are sent:
the first is a reminder, the last one of the cadence says so, and one sent after the deadline says the
acknowledgement is overdue instead of asking for it "by" a date that has passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Literal

# Sites whose administrator is a principal (everything but the district office and "other" sites).
SCHOOL_KINDS: frozenset[str] = frozenset({"elementary", "middle", "high", "k8", "adult"})

ReminderStage = Literal["first", "later", "final", "overdue"]

_TITLES: dict[str, dict[str, str]] = {
    "en": {
        "principal": "Principal",
        "site_admin": "Site Administrator",
        "web_contact": "Web Coordinator",
        "staff": "{site} staff",
    },
    "es": {
        "principal": "director/a",
        "site_admin": "administrador/a del sitio",
        "web_contact": "coordinador/a web",
        "staff": "personal de {site}",
    },
}


def _words(language: str) -> dict[str, str]:
    return _TITLES.get(language, _TITLES["en"])


def person_name(given_name: str | None, family_name: str | None) -> str:
    """'Given Family' as the roster holds it; blank parts dropped."""
    return " ".join(part.strip() for part in (given_name or "", family_name or "") if part and part.strip())


def roster_names(people: Iterable[object]) -> dict[str, str]:
    """Normalized email -> the person's name, for the active people of the roster who have both.

    ``people`` are :class:`compliance.models.Person` rows (anything with ``email_normalized``, ``given_name``,
    ``family_name`` and ``active``). When two active people share an address, the first one wins.
    """
    names: dict[str, str] = {}
    for person in people:
        address = getattr(person, "email_normalized", None)
        if not address or not getattr(person, "active", True):
            continue
        name = person_name(getattr(person, "given_name", ""), getattr(person, "family_name", ""))
        if name:
            names.setdefault(address, name)
    return names


def name_for(address: str | None, names: Mapping[str, str]) -> str:
    """The roster's name for ``address``, or '' when the roster does not know it."""
    # Normalized as compliance.roster.normalize_email does (lower case, stripped), without importing the roster.
    return names.get(address.strip().lower(), "") if address else ""


def site_admin_title(site_kind: str | None, language: str = "en") -> str:
    """A school's site administrator is its principal; the district office's is its site administrator."""
    return _words(language)["principal" if (site_kind or "elementary") in SCHOOL_KINDS else "site_admin"]


def web_contact_title(language: str = "en") -> str:
    return _words(language)["web_contact"]


def staff_title(site_name: str, language: str = "en") -> str:
    """Whom a site-group (Bcc) announcement greets: the site's staff, in the message's language."""
    return _words(language)["staff"].format(site=site_name)


def greeting(name: str | None, title: str | None = None, language: str = "en") -> str:
    """'Hello Ana Pérez,' / 'Hola, Ana Pérez:'; the title when there is no name; no name at all when neither.

    ``name`` may also be an older stored context's recipient name (what queued rows carry): it is used as is.
    """
    who = (name or "").strip() or (title or "").strip()
    if language == "es":
        return f"Hola, {who}:" if who else "Hola:"
    return f"Hello {who}," if who else "Hello,"


def reminder_stage(number: int, total: int, deadline: date, today: date) -> ReminderStage:
    """Where reminder ``number`` of a cadence of ``total`` stands on ``today``.

    ``overdue`` once the deadline has passed (the deadline day itself still asks "by" it); ``final`` for the
    last reminder of a cadence of more than one; ``first`` for the first; ``later`` for those in between.
    """
    if today > deadline:
        return "overdue"
    if number >= total and total > 1:
        return "final"
    return "first" if number <= 1 else "later"
