"""What a handler receives and returns; shared by the HTTP front, the batch endpoint and the services."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from emulator.auth import AccessToken
from emulator.discovery import MethodSpec
from emulator.errors import bad_request

if TYPE_CHECKING:
    from emulator.clock import Clock
    from emulator.limits import EmulatorLimits


@dataclass
class Call:
    """One API call after routing, authentication and validation."""

    spec: MethodSpec
    path: dict[str, str]
    query: dict[str, Any]
    body: Any
    token: AccessToken
    now: datetime
    media: bytes | None = None
    media_type: str | None = None
    is_upload: bool = False

    @property
    def subject(self) -> str:
        """The delegated user the token acts as (service account itself when no subject was given)."""
        return (self.token.subject or self.token.client_email).lower()


@dataclass
class Result:
    """A handler's answer: JSON (default) or raw bytes."""

    json: Any = None
    status: int = 200
    content: bytes | None = None
    content_type: str = "application/json; charset=UTF-8"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Context:
    """Shared by every service: the clock and the limits object the admin API can replace."""

    clock: Clock
    limits: EmulatorLimits
    stats: dict[str, Any]


def encode_token(data: dict[str, Any]) -> str:
    """An opaque page token (base64url JSON), like Google's in spirit: clients must not parse it."""
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_token(token: str) -> dict[str, Any]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded))
        if not isinstance(data, dict):
            raise ValueError
        return data
    except ValueError:
        raise bad_request("Invalid page token.", reason="invalid") from None
