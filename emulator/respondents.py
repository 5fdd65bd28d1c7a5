"""People answering their invitations, for the demo and the end-to-end tests.

Reads the announcements the pipeline really sent (through the emulator's mail log), follows each person's own
form link and submits the form the way a person would: most sign correctly, some alter the pre-filled code,
type another email or another name, or submit twice. Returns the ground truth the pipeline must reach.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.utils import getaddresses
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from emulator.admin import EmulatorAdmin

FORM_LINK = re.compile(r"https://docs\.google\.com/forms/[^\s\"'<>]+")
AGREE = "I have read the policy and will follow it / He leído la política y la cumpliré"


@dataclass
class SigningTruth:
    """What the store must show after the next acknowledgement sync."""

    signed: set[str] = field(default_factory=set)  # recipient emails whose acknowledgement must be recorded
    refused: int = 0  # submissions that must be refused (altered code, other email, other name)
    duplicates: int = 0  # second submissions by people already signed
    invited: int = 0


def _alter_token(link: str, token_entry: str) -> str:
    parts = urlsplit(link)
    query = [
        (k, (v[:-1] + ("A" if v[-1] != "A" else "B")) if k == token_entry else v) for k, v in parse_qsl(parts.query)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _first_to(message: Mapping[str, Any]) -> str:
    to = getaddresses([(message.get("headers") or {}).get("To", "")])
    return to[0][1].lower() if to else ""


def simulate_signatures(
    admin: EmulatorAdmin,
    forms: Mapping[str, Mapping[str, Any]],
    *,
    rate: float = 0.8,
    bad_rate: float = 0.06,
    duplicate_rate: float = 0.03,
    seed: int = 1114,
) -> SigningTruth:
    """Have about ``rate`` of the invited people sign; ``forms`` is PolicyVersion.form_questions (staff/community).

    Of the signers, ``bad_rate`` make a mistake the pipeline must refuse and ``duplicate_rate`` submit twice.
    Only the first announcement a person received counts (reminders carry the same link).
    """
    rng = random.Random(seed)
    by_uri = {q["responder_uri"]: (kind, q) for kind, q in forms.items()}
    truth = SigningTruth()
    seen: set[str] = set()
    # Gmail ids are random, so ordering by them gave every run its own draw (the demo's counts changed from run
    # to run): people are taken by address, each one's messages in the order they were sent.
    mail = admin.mail()
    order = sorted(range(len(mail)), key=lambda i: (_first_to(mail[i]), i))
    for message in (mail[i] for i in order):
        links = FORM_LINK.findall(message.get("text") or "")
        to = getaddresses([(message.get("headers") or {}).get("To", "")])
        if not links or not to:
            continue
        display_name, email = to[0]
        email = email.lower()
        if email in seen:
            continue
        seen.add(email)
        truth.invited += 1
        link = links[0].rstrip(".,)")
        kind, questions = by_uri[link.split("?", 1)[0]]
        if rng.random() >= rate:
            continue
        name, typed_email, url = display_name, email, link
        mistake = rng.random() < bad_rate
        if mistake:
            choice = rng.choice(["name", "token", "email"] if kind == "community" else ["name"])
            if choice == "name":
                name = "Pat Nobody"
            elif choice == "token":
                url = _alter_token(link, f"entry.{int(questions['token'], 16)}")
            else:
                typed_email = f"not-{email}"
        answers = {questions["name"]: name, questions["agree"]: AGREE}
        submit = {
            "answers": answers,
            "respondent_email": typed_email,
            "signed_in": kind == "staff",
            "prefilled_url": url if kind == "community" else None,
        }
        admin.submit_form_response(None if kind == "community" else questions["form_id"], **submit)
        if mistake:
            truth.refused += 1
            continue
        truth.signed.add(email)
        if rng.random() < duplicate_rate:
            admin.submit_form_response(None if kind == "community" else questions["form_id"], **submit)
            truth.duplicates += 1
    return truth
