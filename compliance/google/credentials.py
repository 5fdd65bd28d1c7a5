"""Service-account credentials with least-privilege scopes and domain-wide delegation.

The key JSON comes from, in order: ``settings.google.service_account_file``, ``settings.google.
service_account_json`` (``DC_GOOGLE__SERVICE_ACCOUNT_JSON``), or the Prefect Secret block named
``settings.google.service_account_secret_block``. The key's ``token_uri`` decides where tokens come from:
Google's ``https://oauth2.googleapis.com/token`` in production, the emulator's ``/token`` offline; the code
path is the same.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
from google.oauth2 import service_account

from compliance.errors import ConfigurationError
from compliance.settings import Settings

_AUTH = "https://www.googleapis.com/auth/"

# Least privilege per API: only what the pipeline's calls need (the emulator refuses anything else with 403).
GMAIL_SCOPES: tuple[str, ...] = (_AUTH + "gmail.send", _AUTH + "gmail.readonly")  # send + read bounces
DIRECTORY_SCOPES: tuple[str, ...] = (
    _AUTH + "admin.directory.user.readonly",
    _AUTH + "admin.directory.orgunit.readonly",
)
DRIVE_SCOPES: tuple[str, ...] = (_AUTH + "drive.file",)  # only files this app created or was given
SHEETS_SCOPES: tuple[str, ...] = (_AUTH + "spreadsheets.readonly",)
FORMS_SCOPES: tuple[str, ...] = (_AUTH + "forms.body", _AUTH + "forms.responses.readonly")
# A school's own YouTube channel, read as its owner mailbox: read-only, and it lists the owner's unlisted and
# private uploads too (an API key sees public videos only).
YOUTUBE_SCOPES: tuple[str, ...] = (_AUTH + "youtube.readonly",)
# Platform exports the communications office drops in a Drive folder: files a person uploaded are not the app's,
# so drive.file cannot reach them; read-only Drive, used for that folder listing and download only.
DRIVE_EXPORT_SCOPES: tuple[str, ...] = (_AUTH + "drive.readonly",)

SCOPES_BY_API: dict[str, tuple[str, ...]] = {
    "gmail": GMAIL_SCOPES,
    "directory": DIRECTORY_SCOPES,
    "drive": DRIVE_SCOPES,
    "sheets": SHEETS_SCOPES,
    "forms": FORMS_SCOPES,
    "youtube": YOUTUBE_SCOPES,
    "drive_exports": DRIVE_EXPORT_SCOPES,
}


class CredentialsError(ConfigurationError):
    """No usable service-account key; the message says which setting to fix."""


def _parse_key(raw: str | bytes | dict[str, Any], where: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        info = raw
    else:
        try:
            info = json.loads(raw)
        except ValueError as exc:
            raise CredentialsError(f"{where}: not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise CredentialsError(f'{where}: not a service-account key (expected "type": "service_account")')
    missing = [k for k in ("client_email", "private_key", "token_uri") if not info.get(k)]
    if missing:
        raise CredentialsError(f"{where}: service-account key lacks {', '.join(missing)}")
    return info


def load_secret_block(name: str) -> dict[str, Any]:
    """Read the key from a Prefect Secret block (imported lazily so the library stays Prefect-free)."""
    from prefect.blocks.system import Secret

    value = Secret.load(name).get()
    return _parse_key(value, f"Prefect Secret block {name!r}")


def load_service_account_info(settings: Settings) -> dict[str, Any]:
    """The service-account key as a dict, from the first configured source (file, JSON env, Secret block)."""
    google = settings.google
    if google.service_account_file:
        path = Path(google.service_account_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise CredentialsError(f"google.service_account_file {path}: {exc.strerror or exc}") from None
        return _parse_key(text, f"google.service_account_file {path}")
    if google.service_account_json:
        return _parse_key(
            google.service_account_json, "google.service_account_json (DC_GOOGLE__SERVICE_ACCOUNT_JSON)"
        )
    if google.service_account_secret_block:
        return load_secret_block(google.service_account_secret_block)
    raise CredentialsError(
        "no Google service-account key: set google.service_account_file, DC_GOOGLE__SERVICE_ACCOUNT_JSON or "
        "google.service_account_secret_block"
    )


def make_http(settings: Settings) -> httplib2.Http:
    """A plain httplib2 transport trusting ``settings.google.ca_bundle`` (when set), with the timeout.

    httplib2.Http is not thread-safe: make one per thread (``GoogleClients`` does).
    """
    ca = settings.google.ca_bundle
    http = httplib2.Http(ca_certs=str(ca) if ca else None, timeout=settings.google.timeout_seconds)
    # Drive resumable uploads answer 308 "resume incomplete", which is not a redirect (as googleapiclient
    # does).
    http.redirect_codes = http.redirect_codes - {308}
    return http


def auth_request(settings: Settings) -> google_auth_httplib2.Request:
    """A google-auth transport for token refreshes that trusts the same CA bundle as API calls.

    googleapiclient's own refresh path (used by batches) builds a bare ``httplib2.Http()`` that would not
    trust the emulator's CA, so refreshes go through this instead.
    """
    return google_auth_httplib2.Request(make_http(settings))


def service_account_credentials(
    info: dict[str, Any], scopes: Sequence[str], subject: str | None = None
) -> service_account.Credentials:
    """Credentials for ``scopes``, acting as ``subject`` through domain-wide delegation when given."""
    creds = service_account.Credentials.from_service_account_info(info, scopes=list(scopes))
    return creds.with_subject(subject) if subject else creds


def authorized_http(
    settings: Settings, creds: service_account.Credentials
) -> google_auth_httplib2.AuthorizedHttp:
    """An authorized transport; token refreshes reuse its CA-trusting Http (AuthorizedHttp does so)."""
    return google_auth_httplib2.AuthorizedHttp(creds, http=make_http(settings))


__all__ = [
    "DIRECTORY_SCOPES",
    "DRIVE_EXPORT_SCOPES",
    "DRIVE_SCOPES",
    "FORMS_SCOPES",
    "GMAIL_SCOPES",
    "SCOPES_BY_API",
    "SHEETS_SCOPES",
    "YOUTUBE_SCOPES",
    "CredentialsError",
    "auth_request",
    "authorized_http",
    "load_secret_block",
    "load_service_account_info",
    "make_http",
    "service_account_credentials",
]
