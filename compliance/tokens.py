"""Personal tokens for community acknowledgement forms, and the pre-filled links that carry them.

Associated Persons have no district Google account, so their form cannot verify who answers. Their invitation
link pre-fills a personal token: ``<token id>.<mac>``. The MAC is HMAC-SHA256 over the person and policy
version, truncated to 128 bits, so a token cannot be guessed or moved to another person or version without
the district's secret. The token id (derived from the same secret) is what the evidence ledger records; the
token itself is never stored. Tokens are deterministic, so a re-run or a resent invitation carries the same link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping

TOKEN_ID_BYTES = 6  # 48 bits: only names the token; secrecy comes from the MAC
MAC_BYTES = 16  # 128 bits, the floor for an unguessable credential
_VERSION = b"ar1114-ack-v1"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _digest(secret: str | bytes, *parts: str) -> bytes:
    key = secret.encode() if isinstance(secret, str) else secret
    # Unit separators keep ("ab", "c") and ("a", "bc") from hashing alike.
    message = b"\x1f".join([_VERSION, *(p.encode() for p in parts)])
    return hmac.new(key, message, hashlib.sha256).digest()


def token_id_for(secret: str | bytes, person_key: str, policy_version_id: int | str) -> str:
    """The public id of a person's token for a policy version (8 URL-safe characters)."""
    return _b64(_digest(secret, "id", person_key, str(policy_version_id))[:TOKEN_ID_BYTES])


def issue_token(secret: str | bytes, person_key: str, policy_version_id: int | str) -> str:
    """``<token id>.<mac>``: 31 URL-safe characters, the same every time for the same inputs."""
    token_id = token_id_for(secret, person_key, policy_version_id)
    mac = _digest(secret, "mac", token_id, person_key, str(policy_version_id))[:MAC_BYTES]
    return f"{token_id}.{_b64(mac)}"


def token_id_of(token: str) -> str | None:
    """The id part of a token as typed or pre-filled (None when it is not shaped like a token)."""
    head, sep, tail = token.strip().partition(".")
    return head if sep and head and tail else None


def verify_token(secret: str | bytes, token: str, person_key: str, policy_version_id: int | str) -> bool:
    """True when ``token`` was issued for this person and policy version (constant-time comparison)."""
    expected = issue_token(secret, person_key, policy_version_id)
    return hmac.compare_digest(expected.encode(), token.strip().encode("utf-8", "replace"))


def token_index(
    secret: str | bytes, person_keys: Iterable[str], policy_version_id: int | str
) -> dict[str, tuple[str, str]]:
    """``{token: (person_key, token id)}`` for matching form responses back to roster people."""
    index = {}
    for key in person_keys:
        token = issue_token(secret, key, policy_version_id)
        index[token] = (key, token.partition(".")[0])
    return index


def prefilled_link(responder_uri: str, answers: Mapping[str, str]) -> str:
    """A Forms link with ``usp=pp_url`` and ``entry.<int(questionId, 16)>=value`` for each pre-filled answer.

    The Google layer owns the entry-number convention (checked there against the emulator); this is the
    campaign's name for it so planning code does not reach into the client package.
    """
    from compliance.google.workspace import prefill_url

    return prefill_url(responder_uri, answers)
