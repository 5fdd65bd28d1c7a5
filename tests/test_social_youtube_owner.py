"""A channel the school owns, read as its owner mailbox (domain-wide delegation, youtube.readonly).

Both directions, through the emulator's HTTPS and the real google-api-python-client: the owner's token lists
the channel's unlisted and private videos, which an API key, a token without the YouTube scope, another
mailbox of the domain or a subject outside the domain never get; the pipeline judges them too and says which
are not public.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import httplib2
import pytest
from emulator_fixtures import SCOPES, authorized_http
from google.auth.exceptions import RefreshError
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from sqlalchemy import select

from compliance.errors import ConfigurationError
from compliance.followup import plan_takedown_notices
from compliance.google.clients import GoogleClients
from compliance.mail import render_email
from compliance.models import Finding, Site, SocialAccount, SocialItem, Student
from compliance.photos.findings import roster_index
from compliance.photos.matching import IndexCache
from compliance.settings import Settings
from compliance.social.audit import read_site, reconcile_site
from emulator import WorkspaceEmulator

CHANNEL = "UC" + "m" * 22
UPLOADS = "UU" + "m" * 22
OWNER = "media@standard-sd.org"
OTHER_STAFF = "teacher@standard-sd.org"
YT_READONLY = "https://www.googleapis.com/auth/youtube.readonly"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
STUDENT = ("Zephyrine", "Oakhollow")  # made up: no real person


def _user(email: str) -> dict:
    return {"primaryEmail": email, "name": {"givenName": "M", "familyName": "Office"}, "orgUnitPath": "/L"}


@pytest.fixture
def owned(emulator: WorkspaceEmulator) -> WorkspaceEmulator:
    emulator.admin.seed(directory={"users": [_user(OWNER), _user(OTHER_STAFF), _user("it-admin@standard-sd.org")],
                                   "orgunits": []})
    emulator.admin.domain_policy(refuse_unknown_subjects=True)
    emulator.admin._call("POST", "/seed", json={"youtube": [{"id": CHANNEL, "title": "Lincoln Media", "owner": OWNER,
                                                              "videos": [
        {"id": "pub00000001", "title": "Fall concert", "publishedAt": "2026-10-01T10:00:00Z"},
        {"id": "unl00000001", "title": f"Science fair: {STUDENT[0]} {STUDENT[1]} explains her volcano",
         "publishedAt": "2026-10-02T10:00:00Z", "privacyStatus": "unlisted"},
        {"id": "prv00000001", "title": "Rehearsal (draft)", "publishedAt": "2026-10-03T10:00:00Z",
         "privacyStatus": "private"},
    ]}]})
    return emulator


def _youtube(emu: WorkspaceEmulator, subject: str | None, scopes: list[str]):  # type: ignore[no-untyped-def]
    return build("youtube", "v3", http=authorized_http(emu, scopes, subject), static_discovery=True,
                 cache_discovery=False, client_options={"api_endpoint": emu.endpoint("youtube")})


def _listed(service) -> dict[str, str]:  # type: ignore[no-untyped-def]
    page = service.playlistItems().list(part="contentDetails,status", playlistId=UPLOADS, maxResults=50).execute()
    return {i["contentDetails"]["videoId"]: i["status"]["privacyStatus"] for i in page["items"]}


def test_the_owner_sees_unlisted_and_private_videos_nobody_else_does(owned: WorkspaceEmulator) -> None:
    as_owner = _youtube(owned, OWNER, [YT_READONLY])
    assert _listed(as_owner) == {"prv00000001": "private", "unl00000001": "unlisted", "pub00000001": "public"}
    got = as_owner.videos().list(part="status", id="prv00000001,unl00000001").execute()["items"]
    assert {v["id"]: v["status"]["privacyStatus"] for v in got} == {"prv00000001": "private",
                                                                      "unl00000001": "unlisted"}

    keyed = build("youtube", "v3", http=httplib2.Http(ca_certs=str(owned.ca_path)), developerKey=owned.api_key(),
                  client_options={"api_endpoint": owned.endpoint("youtube")}, static_discovery=True,
                  cache_discovery=False)
    assert _listed(keyed) == {"pub00000001": "public"}  # a key: public videos only
    assert _listed(_youtube(owned, OTHER_STAFF, [YT_READONLY])) == {"pub00000001": "public"}  # not the owner
    assert [v["id"] for v in keyed.videos().list(part="id", id="prv00000001").execute()["items"]] == []


def test_a_token_without_the_youtube_scope_gets_googles_403(owned: WorkspaceEmulator) -> None:
    drive_only = _youtube(owned, OWNER, ["https://www.googleapis.com/auth/drive.file"])
    with pytest.raises(HttpError) as refused:
        drive_only.playlistItems().list(part="id", playlistId=UPLOADS).execute()
    error = json.loads(refused.value.content)["error"]
    assert refused.value.resp.status == 403 and error["status"] == "PERMISSION_DENIED"
    assert error["errors"][0]["reason"] == "insufficientPermissions"
    assert error["details"][0]["reason"] == "ACCESS_TOKEN_SCOPE_INSUFFICIENT"


@pytest.mark.parametrize("subject, error", [("media@gmail.com", "unauthorized_client"),
                                            ("media@another-district.org", "unauthorized_client"),
                                            ("nobody@standard-sd.org", "invalid_grant")])
def test_delegation_outside_the_domain_or_to_no_user_is_refused(owned: WorkspaceEmulator, subject: str,
                                                                error: str) -> None:
    with pytest.raises(RefreshError) as refused:
        _youtube(owned, subject, [YT_READONLY])
    assert error in str(refused.value)


def _settings(emu: WorkspaceEmulator, owner: str | None) -> Settings:
    channel: object = {"id": CHANNEL, "owner": owner} if owner else CHANNEL
    return Settings.model_validate({
        "district": {"name": "T", "domain": "standard-sd.org", "time_zone": "America/Los_Angeles"},
        "sites": [{"id": "lincoln-es", "name": "Lincoln", "org_unit": "/L", "site_admin": "a@standard-sd.org",
                   "web_contact": "b@standard-sd.org", "youtube_channels": [channel]}],
        "senders": ["s@standard-sd.org"], "superintendent_recipients": ["s@standard-sd.org"],
        "google": {"emulator_url": emu.base_url, "ca_bundle": str(emu.ca_path), "api_key": emu.api_key(),
                   "service_account_json": json.dumps(emu.service_account_info()),
                   "admin_subject": "it-admin@standard-sd.org"},
    })


def _night(emu: WorkspaceEmulator, store, owner: str | None) -> dict[str, int]:  # type: ignore[no-untyped-def]
    settings = _settings(emu, owner)
    with store.session() as s:
        if s.get(Site, "lincoln-es") is None:
            s.add(Site(id="lincoln-es", name="Lincoln", kind="elementary", org_unit="/L",
                       site_admin_email="a@x.org", web_contact_email="b@x.org"))
            s.add(Student(id="S1", site_id="lincoln-es", legal_first=STUDENT[0], legal_last=STUDENT[1]))
            s.flush()
        counts = read_site(s, settings, GoogleClients(settings, sleep=lambda _: None), "lincoln-es", NOW)
        counts |= reconcile_site(s, settings, "lincoln-es", roster_index(s, ["Lincoln"], IndexCache()), NOW)
    return counts


def test_an_owned_channel_is_read_as_its_owner_and_its_hidden_videos_are_judged(owned: WorkspaceEmulator,
                                                                                 store) -> None:  # type: ignore[no-untyped-def]
    counts = _night(owned, store, None)  # as configured before: the API key, public only
    assert counts["youtube videos listed"] == 1 and counts["violations"] == 0

    counts = _night(owned, store, OWNER)
    assert counts["youtube videos listed"] == 3 and counts["youtube videos read not public"] == 2
    with store.session() as s:
        items = {i.item_id: i for i in s.scalars(select(SocialItem).where(SocialItem.status == "live"))}
        # the public video is unchanged since the key read it: not read again (incremental), so no privacy noted
        assert {k: v.evidence.get("privacy") for k, v in items.items()} == {
            "pub00000001": None, "unl00000001": "unlisted", "prv00000001": "private"}
        finding = s.scalars(select(Finding).where(Finding.platform == "youtube")).one()
        assert finding.verdict == "violation" and finding.page_url.endswith("v=unl00000001")
        assert finding.evidence.startswith("unlisted video; title:")
    assert owned.admin.stats()["quota_units"]["youtube.v3"] > 0  # the owner's calls spend the project's units

    # the takedown digest says where the video is, that it is unlisted, and the removal path that fits
    with store.session() as s:
        notices = plan_takedown_notices(s, _settings(owned, OWNER), NOW)
    (digest,) = [d for d in notices.digests if d.recipient == "a@x.org"]
    variables = {**digest.context["vars"], "district_name": "T",
                 "respond_by": date.fromisoformat(digest.context["vars"]["respond_by"])}
    text = render_email(digest.context["template"], variables, "en")[1]
    assert ("Where: YouTube, unlisted video (to remove it: YouTube Studio > Content > the video > Visibility: "
            "Private (unlisted, anyone with the link can still watch it), or Options > Delete forever)") in text
    assert STUDENT[1] not in text  # ids only, never the evidence that names the student


def test_an_owner_outside_the_domain_holds_the_channel_and_says_why(owned: WorkspaceEmulator,
                                                                     store) -> None:  # type: ignore[no-untyped-def]
    counts = _night(owned, store, "media@gmail.com")
    assert counts["accounts held"] == 1 and counts.get("youtube videos new", 0) == 0
    with store.session() as s:
        reason = s.scalars(select(SocialAccount)).one().held_reason
    assert reason.startswith(f"YouTube channel {CHANNEL}: its owner media@gmail.com cannot be acted as")
    assert "not of the district's domain standard-sd.org" in reason


def test_a_client_id_not_allowed_youtube_readonly_stops_with_the_fix(owned: WorkspaceEmulator,
                                                                      store) -> None:  # type: ignore[no-untyped-def]
    from emulator.auth import KeyRing

    client_id = KeyRing.client_id(owned.service_account_info()["client_email"])
    owned.admin.domain_policy(delegation={client_id: SCOPES["drive"] + SCOPES["sheets"]})
    with pytest.raises(ConfigurationError) as stopped:
        _night(owned, store, OWNER)
    assert "Manage Domain Wide Delegation, add that scope" in str(stopped.value) and YT_READONLY in str(stopped.value)
