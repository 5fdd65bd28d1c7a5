"""Service-account keys the emulator issues, and the JWT-bearer token grant google-auth performs against them."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from emulator.errors import ApiError, unauthenticated

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass
class IssuedKey:
    client_email: str
    key_id: str
    private_pem: str
    public_pem: str


@dataclass
class AccessToken:
    client_email: str
    subject: str | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    # Set for a call made with an API key instead of a token (public data only: no subject, no scopes).
    api_key: str | None = None


class TokenError(Exception):
    """A refused grant: OAuth's ``{"error": ..., "error_description": ...}`` with status 400."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class KeyRing:
    """Keys by key id, access tokens by value. Keys survive ``reset`` (clients keep working after it)."""

    def __init__(self) -> None:
        # Who may be impersonated: answers None when the subject is fine, else Google's refusal text. Set by the
        # Workspace (from its Directory); None accepts every subject.
        # A tuple ``(error, description)`` is refused with that OAuth error instead of invalid_grant.
        self.subject_check: Callable[[str], str | tuple[str, str] | None] | None = None
        # Admin console > Security > API controls > Domain-wide delegation: client id -> scopes it was granted.
        # None (the default) means every client is authorized for every scope.
        self.delegation: dict[str, frozenset[str]] | None = None
        self._keys: dict[str, IssuedKey] = {}
        self._by_email: dict[str, IssuedKey] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._lock = threading.Lock()

    def issue(self, client_email: str) -> IssuedKey:
        """The key for ``client_email`` (one per account, generated on first use: a real 2048-bit RSA key)."""
        with self._lock:
            if client_email in self._by_email:
                return self._by_email[client_email]
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        key = IssuedKey(
            client_email=client_email,
            key_id=secrets.token_hex(20),
            private_pem=private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            public_pem=private.public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            .decode(),
        )
        with self._lock:
            existing = self._by_email.setdefault(client_email, key)
            self._keys[existing.key_id] = existing
            return existing

    @staticmethod
    def client_id(client_email: str) -> str:
        """The numeric OAuth client id of a service account (what the Admin console's delegation list names)."""
        return str(int(hashlib.sha256(client_email.encode()).hexdigest()[:16], 16))

    def service_account_info(self, client_email: str, token_uri: str) -> dict[str, Any]:
        """A service-account key JSON like the one the Cloud console downloads."""
        key = self.issue(client_email)
        project = client_email.split("@", 1)[1].split(".", 1)[0] if "@" in client_email else "emulator"
        return {
            "type": "service_account",
            "project_id": project,
            "private_key_id": key.key_id,
            "private_key": key.private_pem,
            "client_email": client_email,
            "client_id": self.client_id(client_email),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": token_uri,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "universe_domain": "googleapis.com",
        }

    def grant(self, form: dict[str, str], expected_audiences: set[str]) -> dict[str, Any]:
        """Answer a JWT-bearer grant: verify the RS256 signature against the issued key, record sub and scopes."""
        from google.auth import exceptions, jwt

        if form.get("grant_type") != JWT_BEARER:
            raise TokenError("unsupported_grant_type", f"Invalid grant_type: {form.get('grant_type')}")
        assertion = form.get("assertion", "")
        try:
            header = jwt.decode_header(assertion)
        except (ValueError, exceptions.GoogleAuthError) as exc:
            raise TokenError("invalid_grant", f"Invalid JWT: {exc}") from None
        # Google accepts assertions without a ``kid`` header (Google's Node library sends none) and then checks
        # the signature against every active key of the issuing service account; the key id only narrows it.
        kid = header.get("kid")
        if kid:
            key = self._keys.get(str(kid))
        else:
            try:
                unverified = jwt.decode(assertion, verify=False)
            except (ValueError, exceptions.GoogleAuthError) as exc:
                raise TokenError("invalid_grant", f"Invalid JWT: {exc}") from None
            key = self._by_email.get(str(unverified.get("iss", "")))
        if key is None:
            raise TokenError("invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(assertion, certs={key.key_id: key.public_pem}, verify=True, clock_skew_in_seconds=300)
        except (ValueError, exceptions.GoogleAuthError) as exc:
            text = str(exc)
            if "signature" in text.lower() or "certificate" in text.lower():
                raise TokenError("invalid_grant", "Invalid JWT Signature.") from None
            raise TokenError("invalid_grant", f"Invalid JWT: {text}") from None
        if claims.get("iss") != key.client_email:
            raise TokenError("invalid_client", "The OAuth client was not found.")
        if claims.get("aud") not in expected_audiences:
            raise TokenError(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token and in a reasonable timeframe",
            )
        scopes = frozenset(str(claims.get("scope", "")).split())
        if not scopes:
            raise TokenError("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
        subject = claims.get("sub")
        if subject:
            client_id = self.client_id(key.client_email)
            if self.delegation is not None and not scopes <= self.delegation.get(client_id, frozenset()):
                # Google's answer when the client id is not listed in domain-wide delegation for every scope asked
                raise TokenError(
                    "unauthorized_client",
                    "Client is unauthorized to retrieve access tokens using this method, or client not authorized "
                    "for any of the scopes requested.",
                )
            refusal = self.subject_check(str(subject)) if self.subject_check else None
            if isinstance(refusal, tuple):
                raise TokenError(*refusal)
            if refusal:
                raise TokenError("invalid_grant", refusal)
        token = "ya29.emu-" + secrets.token_urlsafe(32)
        with self._lock:
            self._tokens[token] = AccessToken(key.client_email, claims.get("sub"), scopes)
        return {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def authenticate(self, authorization: str | None) -> AccessToken:
        """The token behind an ``Authorization: Bearer`` header, or Google's 401."""
        if not authorization or not authorization.lower().startswith("bearer "):
            raise unauthenticated(missing=True)
        with self._lock:
            token = self._tokens.get(authorization[7:].strip())
        if token is None:
            raise unauthenticated(missing=False)
        return token

    def add_token(self, value: str, token: AccessToken) -> None:
        """Register a token directly (tests and the CLI can mint one without a JWT)."""
        with self._lock:
            self._tokens[value] = token


def check_scopes(token: AccessToken, method_scopes: list[str], service: str, method_id: str) -> None:
    if method_scopes and not token.scopes.intersection(method_scopes):
        from emulator.errors import insufficient_scopes

        raise insufficient_scopes(service, method_id)


__all__ = ["AccessToken", "ApiError", "KeyRing", "TokenError", "check_scopes"]
