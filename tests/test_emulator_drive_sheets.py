"""Drive (upload, export, revisions, permissions) and Sheets (A1 ranges, batchGet, quota) through the real client."""

from __future__ import annotations

import io
import json

import pytest
from emulator_fixtures import ADMIN_SUBJECT, google_service
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseUpload

from emulator import WorkspaceEmulator

OWNER = "reports@standard-sd.org"
POLICY_HTML = "<html><body><h1>AR 1114</h1><p>Students are not named without consent.</p></body></html>"


def test_drive_upload_export_revisions_and_permissions(emulator: WorkspaceEmulator) -> None:
    # a silent share needs a Google account on the other side: the principal is a Directory user
    emulator.admin.seed(directory={"users": [{"primaryEmail": "principal@standard-sd.org", "name": {}}]})
    drive = google_service(emulator, "drive", subject=OWNER)
    folder = (
        drive.files()
        .create(body={"name": "Compliance", "mimeType": "application/vnd.google-apps.folder"}, supportsAllDrives=True)
        .execute()
    )
    assert set(folder) == {"kind", "id", "name", "mimeType"}  # Drive v3's default fields
    media = MediaIoBaseUpload(io.BytesIO(POLICY_HTML.encode()), mimetype="text/html")
    doc = (
        drive.files()
        .create(
            body={
                "name": "AR 1114 policy",
                "mimeType": "application/vnd.google-apps.document",
                "parents": [folder["id"]],
            },
            media_body=media,
            fields="id,name,mimeType,parents,webViewLink",
            supportsAllDrives=True,
        )
        .execute()
    )
    assert doc["mimeType"] == "application/vnd.google-apps.document" and doc["parents"] == [folder["id"]]
    assert doc["webViewLink"].startswith("https://docs.google.com/document/d/")

    text = drive.files().export(fileId=doc["id"], mimeType="text/plain").execute()
    assert "Students are not named without consent." in text.decode("utf-8-sig")
    assert b"<h1>AR 1114</h1>" in drive.files().export(fileId=doc["id"], mimeType="text/html").execute()
    with pytest.raises(HttpError) as caught:
        drive.files().get_media(fileId=doc["id"]).execute()
    assert json.loads(caught.value.content)["error"]["errors"][0]["reason"] == "fileNotDownloadable"

    revised = MediaIoBaseUpload(
        io.BytesIO(POLICY_HTML.replace("consent", "written consent").encode()), mimetype="text/html"
    )
    drive.files().update(fileId=doc["id"], media_body=revised).execute()
    revisions = drive.revisions().list(fileId=doc["id"]).execute()["revisions"]
    assert len(revisions) == 2 and revisions[0]["id"] != revisions[1]["id"]
    assert "written consent" in drive.files().export(fileId=doc["id"], mimeType="text/plain").execute().decode()

    report = (
        drive.files()
        .create(
            body={"name": "report.xlsx", "parents": [folder["id"]]},
            media_body=MediaIoBaseUpload(io.BytesIO(b"PK\x03\x04xlsx"), mimetype="application/octet-stream"),
        )
        .execute()
    )
    assert drive.files().get_media(fileId=report["id"]).execute() == b"PK\x03\x04xlsx"

    drive.permissions().create(
        fileId=doc["id"],
        body={"type": "user", "role": "reader", "emailAddress": "Principal@standard-sd.org"},
        sendNotificationEmail=False,
    ).execute()
    drive.permissions().create(
        fileId=doc["id"],
        body={"type": "group", "role": "reader", "emailAddress": "staff@standard-sd.org"},
        emailMessage="Please read",
    ).execute()
    domain = (
        drive.permissions()
        .create(fileId=doc["id"], body={"type": "domain", "role": "reader", "domain": "standard-sd.org"})
        .execute()
    )
    assert domain["type"] == "domain" and domain["role"] == "reader"
    drive.permissions().create(fileId=doc["id"], body={"type": "anyone", "role": "reader"}).execute()
    with pytest.raises(HttpError) as caught:
        drive.permissions().create(fileId=doc["id"], body={"type": "user", "role": "reader"}).execute()
    assert caught.value.resp.status == 400
    perms = drive.permissions().list(fileId=doc["id"]).execute()["permissions"]
    assert sorted(p["type"] for p in perms) == ["anyone", "domain", "group", "user", "user"]
    assert {p.get("emailAddress") for p in perms} >= {OWNER, "principal@standard-sd.org"}
    notices = emulator.admin.drive_notifications()
    assert [(n["to"], n["message"]) for n in notices] == [("staff@standard-sd.org", "Please read")]

    listed = drive.files().list(q=f"'{folder['id']}' in parents and name contains 'policy'").execute()["files"]
    assert [f["id"] for f in listed] == [doc["id"]]
    everything = drive.files().list(q=f"'{folder['id']}' in parents and trashed = false", pageSize=1)
    ids = []
    while everything is not None:
        page = everything.execute()
        ids += [f["id"] for f in page["files"]]
        everything = drive.files().list_next(everything, page)
    assert sorted(ids) == sorted([doc["id"], report["id"]])
    with pytest.raises(HttpError) as caught:
        drive.files().list(q="modifiedTime > yesterday-ish").execute()
    assert caught.value.resp.status == 400


SPREADSHEET = {
    "spreadsheetId": "1consentSheetLincoln",
    "title": "Lincoln consent 2025-26",
    # the school's office owns it and shares it with the admin subject, as a configured deployment does
    "owner": "office.lincoln@standard-sd.org",
    "permissions": [{"type": "user", "role": "reader", "emailAddress": ADMIN_SUBJECT}],
    "sheets": [
        {"title": "Sheet1", "values": [["Student", "Parent consent"], ["Ana Lopez", "Y"], ["Ben Ode", ""]]},
        {
            "title": "Consent list",
            "values": [
                ["Lincoln Elementary"],
                [],
                ["Name", "Website", "Yearbook"],
                ["Garcia, Maria", "✓", "x"],
                ["Nguyen, Bao", "", ""],
            ],
        },
    ],
}


def test_sheets_get_values_and_batch_get(emulator: WorkspaceEmulator) -> None:
    emulator.admin.seed(spreadsheets=[SPREADSHEET])
    sheets = google_service(emulator, "sheets")
    meta = sheets.spreadsheets().get(spreadsheetId=SPREADSHEET["spreadsheetId"]).execute()
    assert meta["properties"]["title"] == "Lincoln consent 2025-26"
    assert [s["properties"]["title"] for s in meta["sheets"]] == ["Sheet1", "Consent list"]
    got = (
        sheets.spreadsheets()
        .values()
        .batchGet(spreadsheetId=SPREADSHEET["spreadsheetId"], ranges=["Sheet1", "'Consent list'!A1:Z999"])
        .execute()
    )
    first, second = got["valueRanges"]
    assert first["range"] == "Sheet1!A1:Z1000"
    assert first["values"] == [["Student", "Parent consent"], ["Ana Lopez", "Y"], ["Ben Ode"]]
    assert second["range"] == "'Consent list'!A1:Z999"
    assert second["values"][2:] == [["Name", "Website", "Yearbook"], ["Garcia, Maria", "✓", "x"], ["Nguyen, Bao"]]
    assert second["values"][1] == []
    cell = (
        sheets.spreadsheets()
        .values()
        .get(spreadsheetId=SPREADSHEET["spreadsheetId"], range="'Consent list'!B4")
        .execute()
    )
    assert cell["values"] == [["✓"]]
    column = (
        sheets.spreadsheets()
        .values()
        .get(spreadsheetId=SPREADSHEET["spreadsheetId"], range="Sheet1!A:A", majorDimension="COLUMNS")
        .execute()
    )
    assert column["values"] == [["Student", "Ana Lopez", "Ben Ode"]]
    with pytest.raises(HttpError) as caught:
        sheets.spreadsheets().values().get(spreadsheetId=SPREADSHEET["spreadsheetId"], range="Nope!A1").execute()
    assert caught.value.resp.status == 400
    assert json.loads(caught.value.content)["error"]["message"] == "Unable to parse range: Nope!A1"


def test_sheets_read_quota_answers_429(emulator: WorkspaceEmulator) -> None:
    emulator.admin.seed(spreadsheets=[SPREADSHEET])
    emulator.admin.set_limits(sheets_reads_per_minute=3)
    sheets = google_service(emulator, "sheets")
    for _ in range(3):
        sheets.spreadsheets().values().get(spreadsheetId=SPREADSHEET["spreadsheetId"], range="Sheet1").execute()
    with pytest.raises(HttpError) as caught:
        sheets.spreadsheets().values().get(spreadsheetId=SPREADSHEET["spreadsheetId"], range="Sheet1").execute()
    error = json.loads(caught.value.content)["error"]
    assert caught.value.resp.status == 429 and error["status"] == "RESOURCE_EXHAUSTED"
    emulator.admin.advance_clock(60)
    sheets.spreadsheets().values().get(spreadsheetId=SPREADSHEET["spreadsheetId"], range="Sheet1").execute()


def test_resumable_upload_in_chunks_and_partial_fields(emulator: WorkspaceEmulator) -> None:
    drive = google_service(emulator, "drive", subject=OWNER)
    payload = bytes(range(256)) * 3000  # 768,000 bytes: three 256 KiB chunks
    media = MediaIoBaseUpload(io.BytesIO(payload), mimetype="application/pdf", chunksize=256 * 1024, resumable=True)
    request = drive.files().create(body={"name": "evidence.pdf"}, media_body=media, fields="id,size,md5Checksum")
    response = None
    chunks = 0
    while response is None:
        _status, response = request.next_chunk()
        chunks += 1
    assert chunks == 3 and response["size"] == str(len(payload))
    assert drive.files().get_media(fileId=response["id"]).execute() == payload
    listed = drive.files().list(fields="files(id,size)").execute()
    assert listed == {"files": [{"id": response["id"], "size": str(len(payload))}]}


def test_drive_access_is_by_subject_and_scope_as_at_google(emulator: WorkspaceEmulator) -> None:
    """Issue 12 items 7 and 9: each refusal below was accepted by the emulator before."""
    emulator.admin.seed(
        directory={"users": [{"primaryEmail": OWNER, "name": {}}, {"primaryEmail": ADMIN_SUBJECT, "name": {}}]},
        spreadsheets=[{**SPREADSHEET, "permissions": []}],  # the school never shared it
        drive_files=[{"id": "1boardDoc", "name": "Board doc", "owner": ADMIN_SUBJECT, "content": "x"}],
    )
    drive = google_service(emulator, "drive", subject=OWNER)

    def status(request) -> int:  # type: ignore[no-untyped-def]
        with pytest.raises(HttpError) as caught:
            request.execute()
        return caught.value.resp.status

    # a parent folder that does not exist
    assert status(drive.files().create(body={"name": "x", "parents": ["1noSuchFolder"]})) == 404
    mine = drive.files().create(body={"name": "mine"}).execute()
    # a silent share with an address that has no Google account
    silent = {"type": "user", "role": "reader", "emailAddress": "parent@example.net"}
    assert status(drive.permissions().create(fileId=mine["id"], body=silent, sendNotificationEmail=False)) == 400
    drive.permissions().create(fileId=mine["id"], body=silent).execute()  # an invitation email is fine
    # another subject sees neither the file nor it in listings
    other = google_service(emulator, "drive", subject=ADMIN_SUBJECT)
    assert status(other.files().get(fileId=mine["id"])) == 404
    assert mine["id"] not in {f["id"] for f in other.files().list().execute()["files"]}
    # drive.file: the admin subject owns 1boardDoc, but the app never created or opened it
    assert status(other.files().get(fileId="1boardDoc")) == 404
    wide = google_service(emulator, "drive", subject=ADMIN_SUBJECT, scopes=["https://www.googleapis.com/auth/drive"])
    assert wide.files().get(fileId="1boardDoc").execute()["id"] == "1boardDoc"
    # a seeded spreadsheet not shared with the admin subject
    sheets = google_service(emulator, "sheets", subject=ADMIN_SUBJECT)
    assert status(sheets.spreadsheets().get(spreadsheetId=SPREADSHEET["spreadsheetId"])) == 403
