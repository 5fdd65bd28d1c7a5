"""Preflight for the social media read with delegation: a token per owner mailbox (youtube.readonly) and for the
admin subject's export folders (drive.readonly), each owned channel really its owner's, each Drive export folder
shared with the admin subject. Against the emulator, both directions.
"""

from __future__ import annotations

import json

import pytest
from emulator_fixtures import ADMIN_SUBJECT, SCOPES

from compliance.google.clients import GoogleClients
from compliance.preflight import check_social, check_tokens
from compliance.settings import Settings
from emulator import WorkspaceEmulator
from emulator.auth import KeyRing

OWNED = "UC" + "o" * 22
NOT_THEIRS = "UC" + "n" * 22
OWNER = "media@standard-sd.org"
SHARED = "1SharedExportsFolder00000001"
UNSHARED = "1UnsharedExportsFolder000002"


@pytest.fixture
def deployment(emulator: WorkspaceEmulator) -> tuple[WorkspaceEmulator, Settings]:
    users = [{"primaryEmail": e, "name": {"givenName": "A", "familyName": "B"}, "orgUnitPath": "/"}
             for e in (ADMIN_SUBJECT, OWNER, "s@standard-sd.org", "other@standard-sd.org")]
    emulator.admin.seed(directory={"users": users, "orgunits": []}, drive_files=[
        {"id": SHARED, "name": "Exports", "mimeType": "application/vnd.google-apps.folder", "owner": OWNER,
         "permissions": [{"type": "user", "role": "reader", "emailAddress": ADMIN_SUBJECT}]},
        {"id": UNSHARED, "name": "Private", "mimeType": "application/vnd.google-apps.folder", "owner": OWNER},
    ])
    emulator.admin.domain_policy(refuse_unknown_subjects=True)
    emulator.admin._call("POST", "/seed", json={"youtube": [
        {"id": OWNED, "title": "Lincoln Media", "owner": OWNER},
        {"id": NOT_THEIRS, "title": "Someone else's", "owner": "other@standard-sd.org"}]})
    settings = Settings.model_validate({
        "district": {"name": "T", "domain": "standard-sd.org", "time_zone": "America/Los_Angeles"},
        "sites": [{"id": "lincoln-es", "name": "Lincoln", "org_unit": "/L", "site_admin": "a@standard-sd.org",
                   "web_contact": "b@standard-sd.org",
                   "youtube_channels": [{"id": OWNED, "owner": OWNER}, {"id": NOT_THEIRS, "owner": OWNER}],
                   "social_exports": [f"drive:{SHARED}", f"drive:{UNSHARED}"]}],
        "senders": ["s@standard-sd.org"], "superintendent_recipients": ["s@standard-sd.org"],
        "google": {"emulator_url": emulator.base_url, "ca_bundle": str(emulator.ca_path),
                   "service_account_json": json.dumps(emulator.service_account_info()),
                   "admin_subject": ADMIN_SUBJECT},
    })
    return emulator, settings


def test_owned_channels_and_export_folders_are_checked_as_the_pipeline_reads_them(deployment) -> None:  # type: ignore[no-untyped-def]
    emu, settings = deployment
    tokens = {c.name: c for c in check_tokens(settings, GoogleClients(settings))}
    assert tokens[f"token youtube as {OWNER}"].ok and tokens[f"token drive_exports as {ADMIN_SUBJECT}"].ok
    checks = {c.name: c for c in check_social(settings, GoogleClients(settings))}
    assert checks[f"Drive export folder {SHARED} (lincoln-es) readable"].ok
    unshared = checks[f"Drive export folder {UNSHARED} (lincoln-es) readable"]
    assert not unshared.ok and unshared.fix.startswith(f"Drive folder {UNSHARED} (social_exports drive:{UNSHARED}) "
                                                       f"is not shared with {ADMIN_SUBJECT}: share it with")
    assert checks[f"YouTube channel {OWNED} (lincoln-es) read as {OWNER}"].ok
    wrong = checks[f"YouTube channel {NOT_THEIRS} (lincoln-es) read as {OWNER}"]
    assert not wrong.ok and wrong.fix.startswith(f"{OWNER} must own channel {NOT_THEIRS}")


def test_a_client_id_without_the_youtube_and_drive_readonly_scopes_is_named(deployment) -> None:  # type: ignore[no-untyped-def]
    emu, settings = deployment
    client_id = KeyRing.client_id(emu.service_account_info()["client_email"])
    emu.admin.domain_policy(delegation={client_id: SCOPES["drive"] + SCOPES["sheets"] + SCOPES["admin"]})
    tokens = {c.name: c for c in check_tokens(settings, GoogleClients(settings))}
    youtube = tokens[f"token youtube as {OWNER}"]
    assert not youtube.ok and youtube.fix.endswith("https://www.googleapis.com/auth/youtube.readonly")
    drive = tokens[f"token drive_exports as {ADMIN_SUBJECT}"]
    assert not drive.ok and drive.fix.endswith("https://www.googleapis.com/auth/drive.readonly")
    assert tokens[f"token drive as {ADMIN_SUBJECT}"].ok
