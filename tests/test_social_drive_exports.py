"""Platform exports dropped in a Drive folder (``social_exports = ["drive:<folder id>"]``).

Through the emulator's Drive over HTTPS and the real google-api-python-client: the folder is listed as the admin
subject with drive.readonly, downloaded only when its listing changed (a second night with nothing new downloads
nothing: the counts show it), read by the same reader as a local folder, and a folder not shared with the admin
subject holds with the folder named and the fix. The emulator is as strict as Drive: drive.file does not reach a
person's upload, a metadata scope lists but never downloads.
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from emulator_fixtures import ADMIN_SUBJECT, SCOPES, google_service
from googleapiclient.errors import HttpError
from sqlalchemy import select

from compliance.errors import ConfigurationError
from compliance.google.clients import GoogleClients
from compliance.models import Site, SocialAccount, SocialItem
from compliance.settings import Settings
from compliance.social import drive_exports
from compliance.social.audit import read_site
from emulator import WorkspaceEmulator

FOLDER = "1ExportsFolderLincolnComms0001"
UNSHARED = "1ExportsFolderNobodyShared0002"
COMMS = "comms@standard-sd.org"
FB_2024 = "your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
READONLY = "https://www.googleapis.com/auth/drive.readonly"


def _export_zip(*texts: str) -> str:
    buf = io.BytesIO()
    posts = [{"timestamp": 1790000000 + i, "data": [{"post": t}]} for i, t in enumerate(texts)]
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo(f"facebook-lincoln/{FB_2024}", (2026, 11, 18, 9, 0, 0)), json.dumps(posts))
    return base64.b64encode(buf.getvalue()).decode()


def _file(file_id: str, name: str, content_b64: str, parent: str = FOLDER) -> dict:
    return {"id": file_id, "name": name, "mimeType": "application/zip", "parents": [parent], "owner": COMMS,
            "content_base64": content_b64}


@pytest.fixture
def drive(emulator: WorkspaceEmulator, store):  # type: ignore[no-untyped-def]
    emulator.admin.set_clock(NOW - timedelta(days=2))
    emulator.admin.seed(drive_files=[
        {"id": FOLDER, "name": "Lincoln social exports", "mimeType": "application/vnd.google-apps.folder",
         "owner": COMMS, "permissions": [{"type": "user", "role": "reader", "emailAddress": ADMIN_SUBJECT}]},
        {"id": UNSHARED, "name": "Nobody's exports", "mimeType": "application/vnd.google-apps.folder",
         "owner": COMMS},
        _file("1FacebookExportNovember00001", "facebook-lincoln-2026-11.zip",
              _export_zip("Fall festival at Lincoln", "Book fair next week")),
    ])
    with store.session() as s:
        s.add(Site(id="lincoln-es", name="Lincoln", kind="elementary", org_unit="/L", site_admin_email="a@x.org",
                   web_contact_email="b@x.org"))
    return emulator, store


def _settings(emu: WorkspaceEmulator, *folders: str) -> Settings:
    return Settings.model_validate({
        "district": {"name": "T", "domain": "standard-sd.org", "time_zone": "America/Los_Angeles"},
        "sites": [{"id": "lincoln-es", "name": "Lincoln", "org_unit": "/L", "site_admin": "a@standard-sd.org",
                   "web_contact": "b@standard-sd.org", "social_exports": [f"drive:{f}" for f in folders]}],
        "senders": ["s@standard-sd.org"], "superintendent_recipients": ["s@standard-sd.org"],
        "google": {"emulator_url": emu.base_url, "ca_bundle": str(emu.ca_path),
                   "service_account_json": json.dumps(emu.service_account_info()), "admin_subject": ADMIN_SUBJECT},
    })


def _night(drive, now: datetime, *folders: str) -> tuple[dict[str, int], dict[str, int]]:  # type: ignore[no-untyped-def]
    emu, store = drive
    settings = _settings(emu, *(folders or (FOLDER,)))
    before = emu.admin.stats()["calls"]
    with store.session() as s:
        counts = read_site(s, settings, GoogleClients(settings, sleep=lambda _: None), "lincoln-es", now)
    after = emu.admin.stats()["calls"]
    return counts, {m: after[m] - before.get(m, 0) for m in after if after[m] != before.get(m, 0)}


def test_an_unchanged_drive_folder_is_not_downloaded_again(drive) -> None:  # type: ignore[no-untyped-def]
    emu, store = drive
    counts, calls = _night(drive, NOW)
    assert counts["drive files listed"] == 1 and counts["drive files downloaded"] == 1
    assert counts["facebook posts new"] == 2
    assert calls == {"drive.files.get": 2, "drive.files.list": 1}  # the folder, then one download

    counts, calls = _night(drive, NOW + timedelta(days=1))
    assert counts["drive files downloaded"] == 0 and counts["export folders unchanged"] == 1
    assert calls == {"drive.files.get": 1, "drive.files.list": 1}  # the folder's metadata and listing only
    with store.session() as s:
        assert len(s.scalars(select(SocialItem).where(SocialItem.status == "live")).all()) == 2

    emu.admin.advance_clock(86400)
    emu.admin.seed(drive_files=[_file("1FacebookExportDecember00002", "facebook-lincoln-2026-12.zip",
                                      _export_zip("Fall festival at Lincoln", "Winter concert"))])
    counts, calls = _night(drive, NOW + timedelta(days=2))
    assert counts["drive files downloaded"] == 2 and calls["drive.files.get"] == 3
    assert counts["facebook posts new"] == 1 and counts["facebook posts gone"] == 1  # the newest export is read
    with store.session() as s:
        account = s.scalars(select(SocialAccount).where(SocialAccount.platform == "facebook")).one()
        assert account.title == "facebook-lincoln-2026-12.zip" and account.held_reason is None


def test_a_folder_not_shared_with_the_admin_subject_holds_with_the_folder_and_the_fix(drive) -> None:  # type: ignore[no-untyped-def]
    emu, _ = drive
    counts, calls = _night(drive, NOW, UNSHARED)
    assert counts["export folders held"] == 1 and "drive.files.list" not in calls
    settings = _settings(emu, UNSHARED)
    with pytest.raises(drive_exports.FolderNotShared) as refused:
        drive_exports.read_drive_folder(GoogleClients(settings), UNSHARED, last_version=None)
    assert str(refused.value) == (
        f"Drive folder {UNSHARED} (social_exports drive:{UNSHARED}) is not shared with {ADMIN_SUBJECT}: share it with "
        f"{ADMIN_SUBJECT} as Viewer (open the folder > Share > add {ADMIN_SUBJECT} > Viewer), or check the folder id "
        "in the profile")


def test_an_account_held_for_its_folder_is_read_again_once_the_folder_answers(drive) -> None:  # type: ignore[no-untyped-def]
    emu, store = drive
    _night(drive, NOW)
    emu.admin.set_faults("drive.files.list", error_rate=1.0, statuses=[500])
    counts, _ = _night(drive, NOW + timedelta(days=1))
    assert counts["export folders held"] == 1
    with store.session() as s:
        held = s.scalars(select(SocialAccount).where(SocialAccount.platform == "facebook")).one().held_reason
        assert held.startswith(f"Drive folder {FOLDER} (social_exports): Drive answered 500")
    emu.admin.clear_faults()
    counts, _ = _night(drive, NOW + timedelta(days=2))
    assert counts["export folders unchanged"] == 1 and counts["drive files downloaded"] == 0
    with store.session() as s:
        assert s.scalars(select(SocialAccount).where(SocialAccount.platform == "facebook")).one().held_reason is None


def test_names_from_drive_are_not_trusted(drive) -> None:  # type: ignore[no-untyped-def]
    emu, _ = drive
    emu.admin.seed(drive_files=[_file("1EvilName000000000000000001", "../outside.zip", _export_zip("x")),
                                _file("1EvilName000000000000000002", "a\\b.zip", _export_zip("y"))])
    settings = _settings(emu, FOLDER)
    result = drive_exports.read_drive_folder(GoogleClients(settings, sleep=lambda _: None), FOLDER, last_version=None)
    assert sorted(result.problems) == [("../outside.zip", "not downloaded: a slash, backslash or NUL in its name"),
                                       ("a\\b.zip", "not downloaded: a slash, backslash or NUL in its name")]
    assert result.counts["drive files downloaded"] == 1 and result.read is not None
    assert [len(p) for p in result.read.posts.values()] == [2]
    assert not (Path(tempfile.gettempdir()) / "outside.zip").exists()


def test_a_client_id_not_allowed_drive_readonly_stops_with_the_fix(drive) -> None:  # type: ignore[no-untyped-def]
    emu, _ = drive
    from emulator.auth import KeyRing

    client_id = KeyRing.client_id(emu.service_account_info()["client_email"])
    emu.admin.domain_policy(delegation={client_id: SCOPES["drive"] + SCOPES["sheets"]})
    with pytest.raises(ConfigurationError) as stopped:
        _night(drive, NOW)
    assert READONLY in str(stopped.value) and "Manage Domain Wide Delegation" in str(stopped.value)


def test_drive_scopes_reach_an_upload_as_drive_does(drive) -> None:  # type: ignore[no-untyped-def]
    emu, _ = drive
    q = f"'{FOLDER}' in parents and trashed = false"
    as_app = google_service(emu, "drive", ADMIN_SUBJECT, ["https://www.googleapis.com/auth/drive.file"])
    assert as_app.files().list(q=q).execute()["files"] == []  # a person's upload is not the app's file
    with pytest.raises(HttpError) as hidden:
        as_app.files().get(fileId="1FacebookExportNovember00001").execute()
    assert hidden.value.resp.status == 404
    reader = google_service(emu, "drive", ADMIN_SUBJECT, [READONLY])
    listed = reader.files().list(q=q, fields="files(id,md5Checksum,modifiedTime)").execute()["files"]
    assert [f["id"] for f in listed] == ["1FacebookExportNovember00001"] and listed[0]["md5Checksum"]
    assert reader.files().get_media(fileId=listed[0]["id"]).execute()[:2] == b"PK"  # shared through its folder
    other = google_service(emu, "drive", "teacher@standard-sd.org", [READONLY])
    assert other.files().list(q=q).execute()["files"] == []  # the folder is not shared with them
    meta_only = google_service(emu, "drive", ADMIN_SUBJECT, ["https://www.googleapis.com/auth/drive.metadata.readonly"])
    assert [f["id"] for f in meta_only.files().list(q=q).execute()["files"]] == ["1FacebookExportNovember00001"]
    with pytest.raises(HttpError) as no_bytes:
        meta_only.files().get_media(fileId="1FacebookExportNovember00001").execute()
    error = json.loads(no_bytes.value.content)["error"]
    assert no_bytes.value.resp.status == 403 and error["errors"][0]["reason"] == "insufficientPermissions"
