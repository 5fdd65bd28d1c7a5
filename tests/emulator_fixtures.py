"""Reusable pytest fixtures and helpers for code that talks to the Workspace emulator.

Import into a conftest or test module: ``from emulator_fixtures import emulator, workspace_emulator  # noqa``.
``workspace_emulator`` is one HTTPS emulator per test session; ``emulator`` hands it to a test after a reset
(data, counters, faults, limits and clock all back to defaults).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from emulator import WorkspaceEmulator
from emulator.synthetic import directory_orgunits, directory_users  # noqa: F401  (re-exported for tests)

# Least-privilege scopes per API, as the compliance client layer requests them.
SCOPES: dict[str, list[str]] = {
    "gmail": ["https://www.googleapis.com/auth/gmail.send", "https://www.googleapis.com/auth/gmail.readonly"],
    "admin": [
        "https://www.googleapis.com/auth/admin.directory.user.readonly",
        "https://www.googleapis.com/auth/admin.directory.orgunit.readonly",
    ],
    "drive": ["https://www.googleapis.com/auth/drive.file"],
    "sheets": ["https://www.googleapis.com/auth/spreadsheets.readonly"],
    "forms": ["https://www.googleapis.com/auth/forms.body", "https://www.googleapis.com/auth/forms.responses.readonly"],
}
VERSIONS = {"gmail": "v1", "admin": "directory_v1", "drive": "v3", "sheets": "v4", "forms": "v1"}
ADMIN_SUBJECT = "it-admin@standard-sd.org"


@pytest.fixture(scope="session")
def workspace_emulator() -> Iterator[WorkspaceEmulator]:
    """One emulator for the whole session (start costs ~0.2 s, but each test still gets a clean state)."""
    with WorkspaceEmulator(fault_seed=1114) as emu:
        yield emu


@pytest.fixture
def emulator(workspace_emulator: WorkspaceEmulator) -> WorkspaceEmulator:
    """The session emulator, reset: no data, no faults, default limits, clock back to real time."""
    workspace_emulator.admin.reset()
    return workspace_emulator


def credentials(emu: WorkspaceEmulator, scopes: list[str], subject: str | None) -> Any:
    """Service-account credentials (domain-wide delegation to ``subject``) whose token_uri is the emulator."""
    from google.oauth2 import service_account

    creds = service_account.Credentials.from_service_account_info(emu.service_account_info(), scopes=scopes)
    return creds.with_subject(subject) if subject else creds


def authorized_http(emu: WorkspaceEmulator, scopes: list[str], subject: str | None, timeout: float = 30) -> Any:
    import google_auth_httplib2
    import httplib2

    creds = credentials(emu, scopes, subject)
    # googleapiclient refreshes credentials for a batch with a fresh httplib2.Http() that does not trust the
    # emulator's CA; a token obtained up front through the trusting Http avoids that path.
    creds.refresh(google_auth_httplib2.Request(httplib2.Http(ca_certs=str(emu.ca_path), timeout=timeout)))
    http = httplib2.Http(ca_certs=str(emu.ca_path), timeout=timeout)
    # as googleapiclient.http.build_http() does: 308 means "resume incomplete" for uploads, not a redirect
    http.redirect_codes = http.redirect_codes - {308}
    return google_auth_httplib2.AuthorizedHttp(creds, http=http)


def google_service(
    emu: WorkspaceEmulator,
    api: str,
    subject: str | None = ADMIN_SUBJECT,
    scopes: list[str] | None = None,
    timeout: float = 30,
) -> Any:
    """The real googleapiclient service for ``api`` (gmail, admin, drive, sheets, forms) pointed at ``emu``."""
    from googleapiclient.discovery import build

    return build(
        api,
        VERSIONS[api],
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": emu.endpoint(api)},
        http=authorized_http(emu, scopes if scopes is not None else SCOPES[api], subject, timeout),
    )


class EmulatorClock:
    """A clock for the pipeline that moves the emulator's clock with it (``advance``): quota and retry drills."""

    def __init__(self, admin: Any, now: Any) -> None:
        self.admin, self.now = admin, now
        admin.set_clock(now)

    def __call__(self) -> Any:
        return self.now

    def advance(self, delta: Any) -> None:
        self.now += delta
        self.admin.advance_clock(delta.total_seconds())
