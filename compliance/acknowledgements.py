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

from compliance.columns import misfits
from compliance.models import Acknowledgement
from compliance.policy import FormKind, FormQuestions, answer_text
from compliance.quarantine import Rejected
from compliance.roster import given_names_compatible, normalize_email, normalize_name
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


def parse_time(value: str) -> datetime:
    """Forms timestamps (RFC 3339 with Z and up to nanoseconds) as aware UTC datetimes."""
    text = value.strip().replace("Z", "+00:00")
    if "." in text:
        head, rest = text.split(".", 1)
        digits = "".join(ch for ch in rest if ch.isdigit())
        zone = rest[len(digits) :]
        text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
    return datetime.fromisoformat(text).astimezone(UTC)


def name_matches(signed: str, given: str, family: str) -> bool:
    """A typed signature matches a roster name: every surname word present, first given name compatible.

    Accents, case, hyphens and nicknames do not matter ("Bobby Garcia Lopez" signs for Roberto García-López);
    a different surname or given name does.
    """
    words = normalize_name(signed).split()
    surname = normalize_name(family).split()
    if not words or not surname or not all(w in words for w in surname):
        return False
    rest = [w for w in words if w not in surname]
    return bool(rest) and given_names_compatible(rest[0], given)


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
    if not name_matches(signed, person.given_name, person.family_name):
        return reject("name", "typed name does not match the roster for this person", signed)
    submitted = parse_time(str(response.get("lastSubmittedTime") or response.get("createTime")))
    return VerifiedResponse(
        person_id=person.person_id,
        person_key=person.person_key,
        response_id=response_id,
        signed_name=signed,
        verified_email=typed_email if kind == "staff" else None,
        token_id=token_id,
        submitted_at=submitted,
    )


def newest_submission(responses: Iterable[Mapping[str, Any]]) -> datetime | None:
    """The latest lastSubmittedTime among responses: the next incremental sync's watermark."""
    times = [parse_time(str(r["lastSubmittedTime"])) for r in responses if r.get("lastSubmittedTime")]
    return max(times) if times else None
