"""Verifying signed acknowledgements before they enter the evidence ledger (plain functions, no Google calls).

Staff answer a form that collects a VERIFIED email (signed in with their district account): the email names
the person. Community members have no district account, so their form takes a typed, unverified email and a
personal token that came pre-filled in their invitation link. Pre-filled answers stay editable, so the token
must map to a roster person, the typed email must be that person's, and the typed name must be theirs too.
Anything that does not verify is rejected with a reason (quarantine), never recorded as an acknowledgement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.columns import misfits
from compliance.languages import answer_language
from compliance.models import Acknowledgement, Campaign, Delivery, PolicyVersion
from compliance.photos.matching import HONORIFICS, SURNAME_PARTICLES, fold
from compliance.policy import FormKind, FormQuestions, answer_text
from compliance.quarantine import Rejected
from compliance.roster import given_names_compatible, normalize_email
from compliance.vocabulary import AckMethod

JOB = "acknowledgement"


@dataclass(frozen=True, slots=True)
class RosterEntry:
    """What verification needs to know about one active person."""

    person_id: int
    person_key: str
    given_name: str
    family_name: str
    email: str | None
    has_district_account: bool
    other_names: tuple[tuple[str, str], ...] = ()  # preferred or former (given, family) the person may sign with

    @property
    def names(self) -> list[tuple[str, str]]:
        return [(self.given_name, self.family_name), *self.other_names]


@dataclass(frozen=True, slots=True)
class VerifiedResponse:
    person_id: int
    person_key: str
    response_id: str
    signed_name: str
    verified_email: str | None
    token_id: str | None
    submitted_at: datetime
    method: AckMethod = AckMethod.FORM
    language: str | None = None  # the form's "which language did you read" answer; None: not answered


def parse_time(value: str) -> datetime:
    """Forms timestamps (RFC 3339 with Z and up to nanoseconds) as aware UTC datetimes."""
    text = value.strip().replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(text).astimezone(UTC)


# Phrases that mean the typed name signs for somebody else: a proxy signature is never an acknowledgement of
# the person whose code or account was used; central office decides (folded, English and Spanish).
PROXY_PHRASES = (
    "signing for", "signed for", "sign for", "signs for", "on behalf of", "in behalf of", "behalf of",
    "in place of", "instead of", "by proxy", "proxy for", "for my", "en nombre de", "a nombre de",
    "por parte de", "de parte de", "en representacion de", "firmando por", "firmo por", "firma por",
    "en lugar de",
)
_SUFFIXES = frozenset({"jr", "sr", "ii", "iii", "iv", "phd", "md", "esq"})
# Spanish given names and their English forms: "Bobby Garcia Lopez" signs for Roberto García López.
COGNATES: Mapping[str, str] = {
    "roberto": "robert", "guillermo": "william", "jose": "joseph", "juan": "john", "miguel": "michael",
    "pedro": "peter", "ricardo": "richard", "antonio": "anthony", "carlos": "charles", "enrique": "henry",
    "alejandro": "alexander", "alejandra": "alexandra", "francisco": "francis", "eduardo": "edward",
    "jorge": "george", "luis": "louis", "tomas": "thomas", "mateo": "matthew", "santiago": "james",
    "diego": "james", "jaime": "james", "andres": "andrew", "esteban": "stephen", "felipe": "philip",
    "maria": "mary", "juana": "jane", "isabel": "elizabeth", "catalina": "catherine", "margarita": "margaret",
    "teresa": "theresa", "elena": "helen", "susana": "susan", "patricia": "patricia", "cristina": "christina",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class NameCheck:
    """Whether a typed signature is this person's name; ``reason`` says why not (it goes to review)."""

    accepted: bool
    reason: str = ""


def proxy_phrase(signed: str) -> str | None:
    """The "signing for" / "on behalf of" phrase in a typed signature, if any."""
    padded = f" {fold(signed)} "
    return next((p for p in PROXY_PHRASES if f" {p} " in padded), None)


def _given_compatible(typed: str, roster: str) -> bool:
    if given_names_compatible(typed, roster):
        return True
    typed_en, roster_en = COGNATES.get(typed, typed), COGNATES.get(roster, roster)
    return given_names_compatible(typed_en, roster_en)


def _words_of(text: str) -> list[str]:
    return [w for w in fold(text).split() if w not in HONORIFICS and w not in _SUFFIXES]


def _fit(words: list[str], given: str, family: str) -> str:
    """"" when ``words`` are this (given, family) name; else what is wrong."""
    given_words = _words_of(given)
    family_words = [w for w in _words_of(family) if w not in SURNAME_PARTICLES]
    if not given_words or not family_words:
        return "the roster holds no full name for this person"
    # Either of two surnames is enough ("Roberto Garcia" for Roberto García López); people drop one.
    if not any(w in family_words for w in words):
        return "typed name does not contain the roster surname"
    rest = [w for w in words if w not in family_words and w not in SURNAME_PARTICLES]
    if not rest:
        return "typed name has no given name"
    if not any(_given_compatible(rest[0], g) for g in given_words[:2]):
        return "typed given name is not this person's (another person's name?)"
    for word in rest[1:]:
        middle = word in given_words or any(_given_compatible(word, g) for g in given_words[1:])
        initial = len(word) == 1 and any(g.startswith(word) for g in given_words[1:] + family_words)
        if not (middle or initial):
            return "typed name has words that are not this person's name"
    return ""


def check_signed_name(signed: str, names: Iterable[tuple[str, str]]) -> NameCheck:
    """A typed signature against a person's name variants (legal, preferred): (given, family) pairs.

    Accepted: accents, case, hyphens and honorifics aside, one of two surnames, the first given name or a
    nickname of it (English or its Spanish form: "Bobby" for Roberto), middle names or their initials. Not
    accepted, with the reason (the response goes to review, never silently in): a proxy signature ("Ann Baker
    signing for Tom Chen", "en nombre de"), another given name, a missing surname, words that are nobody's
    part of this person's name.
    """
    phrase = proxy_phrase(signed)
    if phrase:
        return NameCheck(False, f"needs review: signed on behalf of someone else ('{phrase}')")
    words = _words_of(signed)
    if not words:
        return NameCheck(False, "needs review: typed name is empty after removing titles")
    problems = [_fit(words, given, family) for given, family in names]
    if "" in problems:
        return NameCheck(True)
    return NameCheck(False, f"needs review: {problems[0] if problems else 'no roster name to compare with'}")


def name_matches(signed: str, given: str, family: str) -> bool:
    """A typed signature matches a roster name (see :func:`check_signed_name`)."""
    return check_signed_name(signed, [(given, family)]).accepted


def verify_response(
    response: Mapping[str, Any],
    kind: FormKind,
    questions: FormQuestions,
    *,
    by_email: Mapping[str, RosterEntry],
    by_token: Mapping[str, tuple[RosterEntry, str]],
) -> VerifiedResponse | Rejected:
    """Check one Forms response against the roster; return the verified acknowledgement or why it was refused.

    ``by_token`` maps each issued token to (person, token id). The rejection names the form as its source and
    the response id as its sheet, so the office can find the response in Forms.
    """
    response_id = str(response.get("responseId", ""))
    source = f"forms:{questions.form_id}"

    def reject(field: str, reason: str, raw: str | None) -> Rejected:
        return Rejected(JOB, source, 0, field, reason, raw, response_id)

    signed = answer_text(response, questions.name)
    if not signed:
        return reject("name", "no typed name (the signature)", None)
    if any(ch in signed for ch in "\r\n\t\x00"):
        return reject("name", "typed name contains control characters", signed)
    for problem in misfits(Acknowledgement, {"signed_name": signed}):
        # Refused here, not at the column: on PostgreSQL it would fail the night's ledger write on every retry.
        return reject("name", f"typed name {problem.reason}", signed)
    if not answer_text(response, questions.agree):
        return reject("agree", "the agreement was not ticked", None)
    typed_email = normalize_email(response.get("respondentEmail"))
    token_id = None
    if kind == "staff":
        if not typed_email:
            return reject("respondentEmail", "no verified email on a staff response", None)
        person = by_email.get(typed_email)
        if person is None or not person.has_district_account:
            return reject("respondentEmail", "signed-in account is not an active person on the roster", typed_email)
    else:
        token = (answer_text(response, questions.token) or "").strip()
        found = by_token.get(token)
        if found is None:
            return reject("token", "unknown or altered personal code", token or None)
        person, token_id = found
        if person.email and typed_email != normalize_email(person.email):
            return reject("respondentEmail", "typed email is not the one on the roster for this code", typed_email)
    named = check_signed_name(signed, person.names)
    if not named.accepted:
        return reject("name", named.reason, signed)
    submitted = parse_time(str(response.get("lastSubmittedTime") or response.get("createTime")))
    return VerifiedResponse(
        person_id=person.person_id,
        person_key=person.person_key,
        response_id=response_id,
        signed_name=signed,
        verified_email=typed_email if kind == "staff" else None,
        token_id=token_id,
        submitted_at=submitted,
        language=answer_language(answer_text(response, questions.language)),
    )


def newest_submission(responses: Iterable[Mapping[str, Any]]) -> datetime | None:
    """The latest lastSubmittedTime among responses: the next incremental sync's watermark."""
    times = [parse_time(str(r["lastSubmittedTime"])) for r in responses if r.get("lastSubmittedTime")]
    return max(times) if times else None


def invitation_languages(session: Session, version: PolicyVersion) -> dict[int, str]:
    """Person id -> the language of the policy text their invitation linked (the newest one), for responses that
    leave the form's language question blank."""
    rows = session.execute(
        select(Delivery.person_id, Delivery.context, Delivery.kind)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Campaign.policy_version_id == version.id)
        .order_by(Delivery.id)
    )
    found: dict[int, str] = {}
    for person_id, context, _kind in rows:
        context = context or {}
        language = context.get("policy_language") or context.get("language")
        if not language:
            continue
        for pid in (person_id, *context.get("person_ids", ())):
            if pid is not None:
                found[int(pid)] = str(language)
    return found
