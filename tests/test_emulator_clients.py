"""Independent clients against the emulator: what Google accepts from them, the emulator must accept too.

- gspread (its own requests session, trusting the emulator CA) opens a seeded school sheet by title, which
  lists Drive files with a double-quoted ``q`` (``name = "…" and mimeType="…"``), and reads its values;
- Google's Node ``googleapis`` library gets a token: its JWT carries no ``kid`` header, which Google accepts.

Before issue 12 the emulator refused both (400 on the double-quoted query, invalid_grant without ``kid``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
import requests
from emulator_fixtures import ADMIN_SUBJECT, credentials

from emulator import WorkspaceEmulator

SHEET = {
    "spreadsheetId": "1lincolnVolunteersSheet",
    "title": "Lincoln volunteers & partners",
    "owner": "principal.lincoln@standard-sd.org",
    "permissions": [{"type": "user", "role": "reader", "emailAddress": ADMIN_SUBJECT}],
    "sheets": [{"title": "Form Responses 1", "values": [["Name", "Email Address"], ["A Person", "a@example.org"]]}],
}
GOOGLE_HOSTS = ("https://sheets.googleapis.com", "https://www.googleapis.com")


class _ToEmulator(requests.adapters.HTTPAdapter):
    """Sends gspread's requests for Google's hosts to the emulator (gspread has no endpoint option)."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def, override]
        for host in GOOGLE_HOSTS:
            if request.url.startswith(host):
                request.url = self.base_url + request.url[len(host) :]
        return super().send(request, **kwargs)


def _gspread_client(emulator: WorkspaceEmulator, subject: str):  # type: ignore[no-untyped-def]
    import gspread
    from google.auth.transport.requests import AuthorizedSession, Request

    scopes = [
        "https://www.googleapis.com/auth/spreadsheets.readonly",
        "https://www.googleapis.com/auth/drive.readonly",
    ]
    creds = credentials(emulator, scopes, subject)
    token_session = requests.Session()
    token_session.trust_env = False  # else REQUESTS_CA_BUNDLE from the environment replaces ``verify``
    token_session.verify = str(emulator.ca_path)
    creds.refresh(Request(session=token_session))
    session = AuthorizedSession(creds)
    session.trust_env = False
    session.verify = str(emulator.ca_path)
    for host in GOOGLE_HOSTS:
        session.mount(host, _ToEmulator(emulator.base_url))
    return gspread.Client(auth=creds, session=session)


def test_gspread_opens_a_seeded_sheet_by_title_and_reads_it(emulator: WorkspaceEmulator) -> None:
    import gspread

    emulator.admin.seed(spreadsheets=[SHEET])
    client = _gspread_client(emulator, ADMIN_SUBJECT)
    book = client.open(SHEET["title"])  # Drive files.list with double-quoted strings
    assert book.id == SHEET["spreadsheetId"]
    assert book.sheet1.get_all_values() == SHEET["sheets"][0]["values"]
    by_key = client.open_by_key(SHEET["spreadsheetId"])
    assert by_key.worksheet("Form Responses 1").acell("B2").value == "a@example.org"
    # a subject the school did not share the sheet with neither finds nor opens it, as at Google
    stranger = _gspread_client(emulator, "teacher@standard-sd.org")
    with pytest.raises(gspread.SpreadsheetNotFound):
        stranger.open(SHEET["title"])
    with pytest.raises(PermissionError) as caught:  # gspread's reading of Sheets' 403 PERMISSION_DENIED
        stranger.open_by_key(SHEET["spreadsheetId"])
    assert caught.value.__cause__.response.status_code == 403


NODE_SCRIPT = r"""
const fs = require('fs');
const https = require('https');
const {google} = require('googleapis');
const [keyFile, base] = process.argv.slice(2);
const key = JSON.parse(fs.readFileSync(keyFile, 'utf8'));
// The library posts to Google's token endpoint; send that one host to the emulator (fetch and https both).
const swap = (url) => String(url)
  .replace('https://oauth2.googleapis.com', base)
  .replace('https://www.googleapis.com/oauth2/v4', base);
if (globalThis.fetch) {
  const original = globalThis.fetch;
  const plain = (input) => typeof input === 'string' || input instanceof URL;
  globalThis.fetch = (input, init) => original(plain(input) ? swap(input) : input, init);
}
const originalRequest = https.request;
https.request = function (url, options, cb) {
  if (typeof url === 'string' || url instanceof URL) url = swap(url);
  return originalRequest.call(this, url, options, cb);
};
const auth = new google.auth.JWT({
  email: key.client_email,
  key: key.private_key,  // no keyId: the assertion carries no kid header
  scopes: ['https://www.googleapis.com/auth/admin.directory.user.readonly'],
  subject: process.argv[4],
});
auth.authorize().then((t) => { console.log(JSON.stringify({ok: true, token: t.access_token.slice(0, 9)})); })
  .catch((e) => { console.log(JSON.stringify({ok: false, error: String(e)})); process.exit(3); });
"""


@pytest.fixture(scope="module")
def node_googleapis() -> Path:
    """googleapis installed from the npm registry into a temporary folder (the only network use)."""
    if shutil.which("npm") is None or shutil.which("node") is None:
        pytest.skip("npm/node not installed: cannot check Google's Node library against the emulator")
    folder = Path(tempfile.mkdtemp(prefix="node-googleapis-"))
    try:
        done = subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--silent", "googleapis"],
            cwd=folder, capture_output=True, text=True, timeout=600,
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip("npm install googleapis timed out (no registry access?)")
    if done.returncode != 0:
        shutil.rmtree(folder, ignore_errors=True)
        pytest.skip(f"npm install googleapis failed (no registry access?): {done.stderr.strip()[-300:]}")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_node_googleapis_gets_a_token_without_kid(emulator: WorkspaceEmulator, node_googleapis: Path) -> None:
    key_file = node_googleapis / "key.json"
    key_file.write_text(json.dumps(emulator.service_account_info()))
    (node_googleapis / "token.js").write_text(NODE_SCRIPT)
    before = emulator.admin.stats()["tokens_issued"]
    done = subprocess.run(
        ["node", "token.js", str(key_file), emulator.base_url, ADMIN_SUBJECT],
        cwd=node_googleapis, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "NODE_EXTRA_CA_CERTS": str(emulator.ca_path)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"ok": True, "token": "ya29.emu-"}
    assert emulator.admin.stats()["tokens_issued"] == before + 1
