"""Personal tokens for community acknowledgement forms, and the pre-filled links that carry them.

Associated Persons have no district Google account, so their form cannot verify who answers. Their invitation
link pre-fills a personal token: ``<token id>.<mac>``. The MAC is HMAC-SHA256 over the person and policy
version, truncated to 128 bits, so a token cannot be guessed or moved to another person or version without
the district's secret. The token id (derived from the same secret) is what the evidence ledger records; the
token itself is never stored. Tokens are deterministic, so a re-run or a resent invitation carries the same link.

Keys rotate without invalidating codes already sent: a key has an id (``key_id``), written in front of the
tokens it issues (``<key id>.<token id>.<mac>``, covered by the MAC); the original key has the empty id and its
tokens keep the two-part shape they were sent with. :class:`TokenKeys` issues with the current key and
verifies with it and every retired key, so a code sent last year is still recognised.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

TOKEN_ID_BYTES = 6  # 48 bits: only names the token; secrecy comes from the MAC
MAC_BYTES = 16  # 128 bits, the floor for an unguessable credential
_VERSION = b"ar1114-ack-v1"
KEY_ID_PATTERN = r"^[a-z0-9]{0,8}$"  # never "." or base64url's "-"/"_": the token splits on "."


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _digest(secret: str | bytes, *parts: str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    # Unit separators keep ("ab", "c") and ("a", "bc") from hashing alike.
    message = b"\x1f".join([_VERSION, *(p.encode() for p in parts)])
    return hmac.new(key, message, hashlib.sha256).digest()


def _check_key_id(key_id: str) -> None:
    if not re.match(KEY_ID_PATTERN, key_id):
        raise ValueError(f"token key id {key_id!r}: up to 8 lowercase letters and digits")


def token_id_for(secret: str | bytes, person_key: str, policy_version_id: int | str, key_id: str = "") -> str:
    """The public id of a person's token for a policy version (8 URL-safe characters, after ``<key id>.``)."""
    _check_key_id(key_id)
    if not key_id:
        return _b64(_digest(secret, "id", person_key, str(policy_version_id))[:TOKEN_ID_BYTES])
    return f"{key_id}.{_b64(_digest(secret, 'id', key_id, person_key, str(policy_version_id))[:TOKEN_ID_BYTES])}"


def issue_token(secret: str | bytes, person_key: str, policy_version_id: int | str, key_id: str = "") -> str:
    """``[<key id>.]<token id>.<mac>``: the same every time for the same inputs (31 characters without key id).

    The MAC covers the key id, so a token cannot be moved from one key to another.
    """
    token_id = token_id_for(secret, person_key, policy_version_id, key_id)
    parts = (token_id, person_key, str(policy_version_id)) if not key_id else (key_id, token_id, person_key,
                                                                                 str(policy_version_id))
    mac = _digest(secret, "mac", *parts)[:MAC_BYTES]
    return f"{token_id}.{_b64(mac)}"


def token_id_of(token: str) -> str | None:
    """The id part of a token as typed or pre-filled, with its key id (None when it is not shaped like one)."""
    head, sep, tail = token.strip().rpartition(".")
    return head if sep and head and tail and not head.startswith(".") and ".." not in head else None


def key_id_of(token: str) -> str | None:
    """The key id a token names ("" for the original key), None when it is not shaped like a token."""
    parts = token.strip().split(".")
    if len(parts) == 2 and all(parts):
        return ""
    if len(parts) == 3 and all(parts):
        return parts[0]
    return None


def verify_token(
    secret: str | bytes, token: str, person_key: str, policy_version_id: int | str, key_id: str = ""
) -> bool:
    """True when ``token`` was issued for this person and policy version (constant-time comparison)."""
    expected = issue_token(secret, person_key, policy_version_id, key_id)
    return hmac.compare_digest(expected.encode(), token.strip().encode("utf-8", "replace"))


@dataclass(frozen=True)
class TokenKeys:
    """The current token key (issues new codes) and the retired ones (only recognise codes already sent)."""

    secret: str = field(repr=False)
    key_id: str = ""
    retired: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for key_id in (self.key_id, *self.retired):
            _check_key_id(key_id)
        if self.key_id in self.retired:
            raise ValueError(f"token key id {self.key_id!r} is both current and retired")

    @classmethod
    def of(cls, settings: Any) -> TokenKeys:
        """The keys a :class:`compliance.settings.Settings` holds (token_secret, token_key_id, retired keys)."""
        return cls(settings.token_secret, settings.token_key_id, dict(settings.token_retired_keys))

    def issue(self, person_key: str, policy_version_id: int | str) -> str:
        return issue_token(self.secret, person_key, policy_version_id, self.key_id)

    def verifying(self) -> list[tuple[str, str]]:
        """(key id, secret) of every key a code may have been issued with, the current one first."""
        return [(self.key_id, self.secret), *sorted(self.retired.items())]

    def verify(self, token: str, person_key: str, policy_version_id: int | str) -> bool:
        key_id = key_id_of(token)
        keys = dict(self.verifying())
        if key_id is None or key_id not in keys:
            return False
        return verify_token(keys[key_id], token, person_key, policy_version_id, key_id)


def token_index(
    secret: str | bytes | TokenKeys, person_keys: Iterable[str], policy_version_id: int | str
) -> dict[str, tuple[str, str]]:
    """``{token: (person_key, token id)}`` for matching form responses back to roster people.

    With :class:`TokenKeys`, tokens of every key (current and retired) are in the index.
    """
    keys = secret.verifying() if isinstance(secret, TokenKeys) else [("", secret)]
    person_keys = list(person_keys)
    index = {}
    for key_id, key in keys:
        for person in person_keys:
            token = issue_token(key, person, policy_version_id, key_id)
            index[token] = (person, token.rpartition(".")[0])
    return index


def prefilled_link(responder_uri: str, answers: Mapping[str, str]) -> str:
    """A Forms link with ``usp=pp_url`` and ``entry.<int(questionId, 16)>=value`` for each pre-filled answer.

    The Google layer owns the entry-number convention (checked there against the emulator); this is the
    campaign's name for it so planning code does not reach into the client package.
    """
    from compliance.google.workspace import prefill_url

    return prefill_url(responder_uri, answers)
