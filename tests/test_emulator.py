"""Workspace emulator: routing generated from discovery, Google's error shapes, auth and scopes, Directory paging.

Every call goes through the real google-api-python-client over HTTPS to the emulator.
"""

from __future__ import annotations

import json
import re

import httplib2
import pytest
from emulator_fixtures import ADMIN_SUBJECT, SCOPES, directory_orgunits, directory_users, google_service
from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError

from emulator import PROJECT_METHODS, WorkspaceEmulator
from emulator.discovery import load_document, registry


def _error(exc: HttpError) -> dict:
    return json.loads(exc.content)["error"]


def _raw(
    emu: WorkspaceEmulator, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict]:
    http = httplib2.Http(ca_certs=str(emu.ca_path))
    resp, content = http.request(f"{emu.base_url}{path}", method, body=body, headers=headers or {})
    return resp.status, json.loads(content)


def _token(emu: WorkspaceEmulator, scopes: list[str], subject: str = ADMIN_SUBJECT) -> str:
    import google_auth_httplib2
    from emulator_fixtures import credentials

    creds = credentials(emu, scopes, subject)
    creds.refresh(google_auth_httplib2.Request(httplib2.Http(ca_certs=str(emu.ca_path))))
    return creds.token


# -- routing conformance -------------------------------------------------------------------------------------


def _expand(template: str) -> str:
    return re.sub(r"\{\+?([^}]+)\}", lambda m: f"v{len(m.group(1))}x", template)


def test_every_documented_method_routes_to_itself() -> None:
    reg = registry()
    assert len(reg.methods) > 250  # gmail + drive + sheets + forms + directory + youtube + blogger
    for spec in reg.methods.values():
        doc = load_document(spec.api)
        flat = doc.get("servicePath", "") + _find(doc, spec.id).get("flatPath", _find(doc, spec.id)["path"])
        match = reg.match(spec.http_method, _expand(flat))
        assert match is not None and match.spec.id == spec.id, (spec.id, flat)
        for upload in spec.upload_paths:
            match = reg.match(spec.http_method, _expand(upload))
            assert match is not None and match.spec.id == spec.id and match.is_upload


def _find(doc: dict, method_id: str) -> dict:
    def walk(res: dict):
        yield from res.get("methods", {}).values()
        for child in res.get("resources", {}).values():
            yield from walk(child)

    return next(m for m in walk(doc) if m["id"] == method_id)


def test_project_methods_are_documented_routed_and_implemented(emulator: WorkspaceEmulator) -> None:
    reg = registry()
    ws = emulator.workspace
    for method_id in PROJECT_METHODS:
        spec = reg.methods[method_id]  # KeyError here = the project calls a method Google does not document
        assert method_id in ws.handlers, f"{method_id} is used by the project but answers 501"
        match = reg.match(spec.http_method, _expand(spec.path))
        assert match is not None and match.spec.id == method_id


_BUILD = {
    "directory": ("admin", "directory_v1"),
    "gmail": ("gmail", "v1"),
    "drive": ("drive", "v3"),
    "sheets": ("sheets", "v4"),
    "forms": ("forms", "v1"),
    "youtube": ("youtube", "v3"),
    "blogger": ("blogger", "v3"),
}


def test_urls_the_real_client_builds_for_project_methods_route_to_them(emulator: WorkspaceEmulator) -> None:
    import io

    from googleapiclient.discovery import build
    from googleapiclient.http import MediaIoBaseUpload

    reg = registry()
    for method_id in PROJECT_METHODS:
        api, *chain, name = method_id.split(".")
        service = build(
            *_BUILD[api],
            static_discovery=True,
            cache_discovery=False,
            http=httplib2.Http(),
            client_options={"api_endpoint": emulator.endpoint("drive" if api == "drive" else api)},
        )
        resource = service
        for part in chain:
            resource = getattr(resource, part)()
        spec = reg.methods[method_id]
        args = {p: "x1" for p, d in spec.parameters.items() if d.get("required")}
        request = getattr(resource, name)(**args)
        assert request.uri.startswith(emulator.base_url + "/")
        path = request.uri[len(emulator.base_url) :].split("?", 1)[0]
        match = reg.match(request.method, path)
        assert match is not None and match.spec.id == method_id, (method_id, request.method, path)
        if spec.media_upload:
            media = MediaIoBaseUpload(io.BytesIO(b"x"), mimetype="application/octet-stream")
            upload = getattr(resource, name)(**args, media_body=media)
            path = upload.uri[len(emulator.base_url) :].split("?", 1)[0]
            match = reg.match(upload.method, path)
            assert match is not None and match.spec.id == method_id and match.is_upload, (method_id, path)


def test_undocumented_path_and_wrong_method_answer_googles_404(emulator: WorkspaceEmulator) -> None:
    token = _token(emulator, SCOPES["gmail"])
    auth = {"Authorization": f"Bearer {token}"}
    for method, path in [
        ("GET", "/gmail/v1/users/me/no-such-collection"),
        ("PUT", "/gmail/v1/users/me/messages/send"),
        ("GET", "/drive/v2/files"),
    ]:
        status, body = _raw(emulator, method, path, headers=auth)
        assert status == 404
        assert body["error"]["status"] == "NOT_FOUND"
        assert body["error"]["errors"][0] == {"message": "Method not found.", "domain": "global", "reason": "notFound"}


def test_documented_but_unimplemented_method_answers_501(emulator: WorkspaceEmulator) -> None:
    gmail = google_service(
        emulator, "gmail", subject="sender@standard-sd.org", scopes=["https://www.googleapis.com/auth/gmail.readonly"]
    )
    with pytest.raises(HttpError) as caught:
        gmail.users().labels().list(userId="me").execute()
    assert caught.value.resp.status == 501
    assert _error(caught.value)["status"] == "UNIMPLEMENTED"


def test_unknown_body_field_and_wrong_type_answer_400(emulator: WorkspaceEmulator) -> None:
    gmail = google_service(emulator, "gmail", subject="sender@standard-sd.org")
    with pytest.raises(HttpError) as caught:
        gmail.users().messages().send(userId="me", body={"raw": "eA", "foo": 1}).execute()
    err = _error(caught.value)
    assert caught.value.resp.status == 400 and err["status"] == "INVALID_ARGUMENT"
    assert err["message"] == "Invalid JSON payload received. Unknown name \"foo\" at 'message': Cannot find field."
    forms = google_service(emulator, "forms")
    form = forms.forms().create(body={"info": {"title": "T"}}).execute()
    with pytest.raises(HttpError) as caught:
        forms.forms().batchUpdate(
            formId=form["formId"], body={"requests": [{"createItem": {"item": {"title": 5}, "location": {"index": 0}}}]}
        ).execute()
    assert _error(caught.value)["message"] == "Invalid value at 'requests[0].create_item.item.title' (TYPE_STRING), 5"
    with pytest.raises(HttpError) as caught:
        forms.forms().batchUpdate(formId=form["formId"], body={"requests": [{"bogus": {}}]}).execute()
    assert "Unknown name \"bogus\" at 'requests[0]': Cannot find field." in _error(caught.value)["message"]


def test_unknown_query_parameter_answers_400(emulator: WorkspaceEmulator) -> None:
    token = _token(emulator, SCOPES["gmail"])
    status, body = _raw(
        emulator, "GET", "/gmail/v1/users/me/messages?colour=blue", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 400
    assert body["error"]["message"].startswith('Invalid JSON payload received. Unknown name "colour"')


# -- authentication and scopes --------------------------------------------------------------------------------


def test_missing_or_invalid_bearer_answers_401(emulator: WorkspaceEmulator) -> None:
    status, body = _raw(emulator, "GET", "/gmail/v1/users/me/messages")
    assert status == 401 and body["error"]["status"] == "UNAUTHENTICATED"
    assert body["error"]["errors"][0]["reason"] == "required"
    status, body = _raw(emulator, "GET", "/gmail/v1/users/me/messages", headers={"Authorization": "Bearer nope"})
    assert status == 401 and body["error"]["errors"][0]["reason"] == "authError"


def test_missing_scope_is_refused_like_google(emulator: WorkspaceEmulator) -> None:
    readonly = google_service(
        emulator, "gmail", subject="sender@standard-sd.org", scopes=["https://www.googleapis.com/auth/gmail.readonly"]
    )
    with pytest.raises(HttpError) as caught:
        readonly.users().messages().send(userId="me", body={"raw": "eA"}).execute()
    err = _error(caught.value)
    assert caught.value.resp.status == 403
    assert err["errors"][0]["reason"] == "insufficientPermissions"
    assert err["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"
    # the same token may read
    assert readonly.users().messages().list(userId="me").execute() == {"resultSizeEstimate": 0}


def test_token_grant_verifies_the_jwt_signature(emulator: WorkspaceEmulator) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from google.oauth2 import service_account

    info = dict(emulator.service_account_info())
    forged = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    info["private_key"] = forged.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    creds = service_account.Credentials.from_service_account_info(info, scopes=SCOPES["admin"])
    import google_auth_httplib2

    with pytest.raises(RefreshError, match="Invalid JWT Signature"):
        creds.refresh(google_auth_httplib2.Request(httplib2.Http(ca_certs=str(emulator.ca_path))))


# -- Directory --------------------------------------------------------------------------------------------------


def test_directory_pages_filters_and_sorts(emulator: WorkspaceEmulator) -> None:
    emulator.admin.seed(
        directory={"users": directory_users(1_250, suspended_every=50), "orgunits": directory_orgunits()}
    )
    directory = google_service(emulator, "admin")
    users, pages = [], 0
    request = directory.users().list(customer="my_customer", maxResults=500, orderBy="email")
    while request is not None:
        response = request.execute()
        pages += 1
        users.extend(response.get("users", []))
        request = directory.users().list_next(request, response)
    assert pages == 3 and len(users) == 1_250
    emails = [u["primaryEmail"] for u in users]
    assert emails == sorted(emails) and len(set(emails)) == 1_250
    assert "customSchemas" not in users[0]  # basic projection

    lincoln = (
        directory.users()
        .list(customer="my_customer", query="orgUnitPath='/Schools/Lincoln'", maxResults=500, projection="full")
        .execute()["users"]
    )
    assert len(lincoln) == 250 and {u["orgUnitPath"] for u in lincoln} == {"/Schools/Lincoln"}
    assert lincoln[0]["customSchemas"]["District"]["site_id"] == "Lincoln"
    schools = directory.users().list(customer="my_customer", query="orgUnitPath='/Schools'", maxResults=500)
    total = 0
    while schools is not None:
        page = schools.execute()
        total += len(page.get("users", []))
        schools = directory.users().list_next(schools, page)
    assert total == 1_000  # the whole chain under /Schools, not /District
    active = (
        directory.users()
        .list(customer="my_customer", query="orgUnitPath=/Schools/Lincoln isSuspended=false", maxResults=500)
        .execute()["users"]
    )
    assert len(active) == 250 - 25 and not any(u["suspended"] for u in active)
    found = directory.users().list(domain="standard-sd.org", query="email:user00012").execute()["users"]
    assert [u["primaryEmail"] for u in found] == [f"user{i:06d}@standard-sd.org" for i in range(120, 130)]
    slim = directory.users().list(customer="my_customer", maxResults=2, fields="nextPageToken,users(primaryEmail)")
    slim = slim.execute()
    assert set(slim) == {"nextPageToken", "users"}
    assert slim["users"] == [
        {"primaryEmail": "user000000@standard-sd.org"},
        {"primaryEmail": "user000001@standard-sd.org"},
    ]
    stale = directory.users().list_next(directory.users().list(customer="my_customer", maxResults=2), slim)
    emulator.admin.advance_clock(3 * 24 * 3600 + 1)
    with pytest.raises(HttpError) as caught:
        stale.execute()
    assert caught.value.resp.status == 400 and "expired" in _error(caught.value)["message"]
    user = directory.users().get(userKey="user000007@standard-sd.org").execute()
    assert user["name"]["givenName"] == "Given7"
    with pytest.raises(HttpError) as caught:
        directory.users().get(userKey="nobody@standard-sd.org").execute()
    assert caught.value.resp.status == 404
    with pytest.raises(HttpError) as caught:
        directory.users().list(customer="my_customer", maxResults=501).execute()
    assert caught.value.resp.status == 400 and "[1, 500]" in _error(caught.value)["message"]
    units = directory.orgunits().list(customerId="my_customer", type="all").execute()["organizationUnits"]
    assert {u["orgUnitPath"] for u in units} >= {"/Schools/Lincoln", "/District"}


# -- admin API --------------------------------------------------------------------------------------------------


def test_admin_clock_limits_stats_and_reset(emulator: WorkspaceEmulator) -> None:
    admin = emulator.admin
    assert admin.set_clock("2026-03-01T08:00:00Z").startswith("2026-03-01T08:00:0")
    assert admin.advance_clock(3600).startswith("2026-03-01T09:00:0")
    assert admin.set_limits(gmail_sends_per_minute=5)["gmail_sends_per_minute"] == 5
    from emulator.admin import EmulatorAdminError

    with pytest.raises(EmulatorAdminError):
        admin.set_limits(no_such_limit=1)
    admin.seed(directory={"users": directory_users(3)})
    google_service(emulator, "admin").users().list(customer="my_customer").execute()
    assert admin.stats()["calls"] == {"directory.users.list": 1}
    admin.reset()
    assert admin.stats()["calls"] == {}
    assert admin.limits()["gmail_sends_per_minute"] == 60
    assert not admin.now().startswith("2026-03-01")


def test_admin_seed_dir_reads_the_sample_layout(emulator: WorkspaceEmulator, tmp_path) -> None:
    (tmp_path / "directory").mkdir()
    (tmp_path / "sheets").mkdir()
    (tmp_path / "directory" / "users.json").write_text(json.dumps(directory_users(12)))
    (tmp_path / "directory" / "orgunits.json").write_text(json.dumps(directory_orgunits()))
    book = {"spreadsheetId": "1abc", "title": "Volunteers", "sheets": [{"title": "Sheet1", "values": [["a"]]}]}
    (tmp_path / "sheets" / "1abc.json").write_text(json.dumps(book))
    counts = emulator.admin.seed_dir(tmp_path)
    assert counts == {"users": 12, "orgunits": 6, "spreadsheets": 1, "drive_files": 1}
    from emulator.admin import EmulatorAdminError

    with pytest.raises(EmulatorAdminError):
        emulator.admin.seed_dir(tmp_path / "missing")


def test_cli_serve_prints_what_settings_need(tmp_path) -> None:
    from typer.testing import CliRunner

    from emulator.cli import app

    seed = tmp_path / "seed"
    (seed / "directory").mkdir(parents=True)
    (seed / "directory" / "users.json").write_text(json.dumps(directory_users(7)))
    result = CliRunner().invoke(
        app, ["serve", "--port", "0", "--seed", str(seed), "--state-dir", str(tmp_path / "state"), "--exit-after", "0"]
    )
    assert result.exit_code == 0, result.output
    assert "DC_GOOGLE__EMULATOR_URL=https://127.0.0.1:" in result.output
    key_file = tmp_path / "state" / "service-account.json"
    assert f"DC_GOOGLE__SERVICE_ACCOUNT_FILE={key_file}" in result.output
    assert json.loads(key_file.read_text())["token_uri"].endswith("/token")
    assert "7 users" in result.output
