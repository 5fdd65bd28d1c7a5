"""YouTube Data API v3 and Blogger API v3 in the emulator: routed from the shipped discovery documents, read
with an API key through the real google-api-python-client, with paging, etags, quota units and Google's errors.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httplib2
import pytest
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from emulator import WorkspaceEmulator

CHANNEL = "UC" + "a" * 22
UPLOADS = "UU" + "a" * 22
BLOG = "7001"


def _video(i: int, **extra: object) -> dict:
    return {"id": f"vid{i:08d}", "title": f"Video {i}", "description": f"About {i}",
            "publishedAt": (datetime(2026, 9, 1, tzinfo=UTC) + timedelta(hours=i)).isoformat(), **extra}


def _seed(emu: WorkspaceEmulator, videos: int = 120) -> None:
    emu.admin._call("POST", "/seed", json={
        "youtube": [{"id": CHANNEL, "title": "Lincoln Elementary", "handle": "@lincoln-es",
                     "videos": [_video(i) for i in range(videos)]
                     + [_video(900, privacyStatus="private"), _video(901, privacyStatus="unlisted")]}],
        "blogger": [{"id": BLOG, "name": "Room 12", "url": "https://room12-lincoln.blogspot.com/",
                     "posts": [{"id": f"p{i}", "title": f"Post {i}", "content": f"<p>Body {i}</p>",
                                "published": f"2026-09-{i + 1:02d}T10:00:00Z",
                                "updated": f"2026-10-{30 - i:02d}T10:00:00Z"} for i in range(5)]
                     + [{"id": "draft", "title": "Draft", "content": "<p>x</p>", "status": "DRAFT",
                         "published": "2026-09-20T10:00:00Z"}]}],
    })


def _service(emu: WorkspaceEmulator, api: str, key: str | None = None):
    return build(api, "v3", http=httplib2.Http(ca_certs=str(emu.ca_path)), developerKey=key or emu.api_key(),
                 client_options={"api_endpoint": emu.endpoint(api)}, static_discovery=True, cache_discovery=False)


def _error(exc: HttpError) -> dict:
    return json.loads(exc.content)["error"]


def test_uploads_playlist_pages_50_at_a_time_public_videos_only(emulator: WorkspaceEmulator) -> None:
    _seed(emulator)
    yt = _service(emulator, "youtube")
    channel = yt.channels().list(part="snippet,contentDetails", id=CHANNEL).execute()
    assert channel["items"][0]["contentDetails"]["relatedPlaylists"]["uploads"] == UPLOADS
    assert yt.channels().list(part="id", id="UC" + "z" * 22).execute()["items"] == []  # unknown: empty, no 404
    ids, token, pages = [], None, 0
    while True:
        page = yt.playlistItems().list(part="snippet,contentDetails,status", playlistId=UPLOADS, maxResults=50,
                                       pageToken=token).execute()
        pages += 1
        assert page["pageInfo"]["totalResults"] == 120 and page["etag"]
        ids += [i["contentDetails"]["videoId"] for i in page["items"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert pages == 3 and len(ids) == 120 == len(set(ids))
    assert ids[0] == "vid00000119"  # newest first
    assert "vid00000900" not in ids and "vid00000901" not in ids  # private and unlisted: not for a key
    first = yt.playlistItems().list(part="snippet", playlistId=UPLOADS, maxResults=1).execute()["items"][0]
    again = yt.playlistItems().list(part="snippet", playlistId=UPLOADS, maxResults=1).execute()["items"][0]
    assert first["etag"] == again["etag"]
    emulator.admin.put_video(CHANNEL, {"id": "vid00000119", "title": "Video 119, renamed"})
    edited = yt.playlistItems().list(part="snippet", playlistId=UPLOADS, maxResults=1).execute()["items"][0]
    assert edited["etag"] != first["etag"] and edited["snippet"]["title"] == "Video 119, renamed"


def test_videos_list_reads_up_to_50_ids_and_leaves_unknown_and_private_out(emulator: WorkspaceEmulator) -> None:
    _seed(emulator)
    emulator.admin.put_video(CHANNEL, {"id": "vid00000001", "tags": ["science fair", "grade 3"]})
    yt = _service(emulator, "youtube")
    page = yt.videos().list(part="snippet,status", id="vid00000001,vid00000002,nosuchvideo,vid00000900").execute()
    assert [v["id"] for v in page["items"]] == ["vid00000001", "vid00000002"]
    assert page["items"][0]["snippet"]["tags"] == ["science fair", "grade 3"]
    assert "tags" not in page["items"][1]["snippet"]
    assert page["items"][0]["status"]["privacyStatus"] == "public"
    with pytest.raises(HttpError) as too_many:
        yt.videos().list(part="id", id=",".join(f"vid{i:08d}" for i in range(51))).execute()
    assert too_many.value.resp.status == 400


def test_youtube_errors_have_googles_shape(emulator: WorkspaceEmulator) -> None:
    _seed(emulator)
    yt = _service(emulator, "youtube")
    with pytest.raises(HttpError) as missing:
        yt.playlistItems().list(part="snippet", playlistId="UUnosuchplaylist0000000").execute()
    assert missing.value.resp.status == 404 and _error(missing.value)["errors"][0]["reason"] == "playlistNotFound"
    with pytest.raises(HttpError) as token:
        yt.playlistItems().list(part="snippet", playlistId=UPLOADS, pageToken="garbage").execute()
    assert _error(token.value)["errors"][0]["reason"] == "invalidPageToken"
    with pytest.raises(HttpError) as part:
        yt.videos().list(part="snippet,fileDetails", id="vid00000001").execute()
    assert part.value.resp.status == 400 and _error(part.value)["errors"][0]["reason"] == "unknownPart"
    with pytest.raises(HttpError) as size:
        yt.playlistItems().list(part="id", playlistId=UPLOADS, maxResults=51).execute()  # discovery: max 50
    assert size.value.resp.status == 400
    with pytest.raises(HttpError) as bad_key:
        _service(emulator, "youtube", key="AIzaNotAKeyTheEmulatorIssued").videos().list(part="id", id="x").execute()
    details = _error(bad_key.value)["details"][0]
    assert bad_key.value.resp.status == 400 and details["reason"] == "API_KEY_INVALID"
    gmail = build("gmail", "v1", http=httplib2.Http(ca_certs=str(emulator.ca_path)), developerKey=emulator.api_key(),
                  client_options={"api_endpoint": emulator.endpoint("gmail")}, static_discovery=True,
                  cache_discovery=False)
    with pytest.raises(HttpError) as keyed:
        gmail.users().messages().list(userId="me").execute()
    assert keyed.value.resp.status == 401  # an API key reads public YouTube/Blogger data only


def test_youtube_daily_units_per_project_reset_at_pacific_midnight(emulator: WorkspaceEmulator) -> None:
    _seed(emulator, videos=3)
    emulator.admin.set_clock(datetime(2026, 11, 20, 7, 0, tzinfo=UTC))  # 23:00 in Los Angeles
    emulator.admin.set_limits(youtube_daily_units=4)
    yt = _service(emulator, "youtube")
    yt.channels().list(part="id", id=CHANNEL).execute()
    with pytest.raises(HttpError):
        yt.videos().list(part="nosuchpart", id="vid00000001").execute()  # invalid requests cost a unit too
    yt.playlistItems().list(part="id", playlistId=UPLOADS).execute()
    yt.videos().list(part="id", id="vid00000001").execute()
    with pytest.raises(HttpError) as spent:
        yt.videos().list(part="id", id="vid00000001").execute()
    error = _error(spent.value)
    assert spent.value.resp.status == 403
    assert error["errors"][0] == {"message": error["message"], "domain": "youtube.quota", "reason": "quotaExceeded"}
    other = _service(emulator, "youtube", key=emulator.api_key("another-project"))
    other.videos().list(part="id", id="vid00000001").execute()  # quota is per project
    assert emulator.admin.stats()["quota_units"] == {"youtube.v3": 5}  # 4 + 1: a refused call costs nothing
    emulator.admin.advance_clock(3600 + 60)  # past midnight Pacific: a new quota day
    yt.videos().list(part="id", id="vid00000001").execute()


def test_blogger_lists_live_posts_by_updated_without_bodies_and_pages(emulator: WorkspaceEmulator) -> None:
    _seed(emulator)
    bl = _service(emulator, "blogger")
    blog = bl.blogs().getByUrl(url="https://room12-lincoln.blogspot.com").execute()
    assert blog["id"] == BLOG and blog["posts"]["totalItems"] == 5
    assert bl.blogs().get(blogId=BLOG).execute()["name"] == "Room 12"
    seen, token = [], None
    while True:
        page = bl.posts().list(blogId=BLOG, fetchBodies=False, orderBy="UPDATED", maxResults=2,
                               pageToken=token).execute()
        assert all("content" not in p for p in page["items"])
        seen += [(p["id"], p["updated"]) for p in page["items"]]
        token = page.get("nextPageToken")
        if not token:
            break
    assert [i for i, _ in seen] == ["p0", "p1", "p2", "p3", "p4"]  # most recently updated first, no draft
    assert [u for _, u in seen] == sorted((u for _, u in seen), reverse=True)
    full = bl.posts().get(blogId=BLOG, postId="p3").execute()
    assert full["content"] == "<p>Body 3</p>" and full["url"].startswith("https://room12-lincoln.blogspot.com/2026/09/")
    by_published = bl.posts().list(blogId=BLOG, maxResults=1).execute()["items"][0]
    assert by_published["id"] == "p4" and by_published["content"]  # default: by published, with bodies
    emulator.admin.put_post(BLOG, {"id": "p4", "content": "<p>Edited</p>"})
    assert bl.posts().list(blogId=BLOG, fetchBodies=False, orderBy="UPDATED", maxResults=1).execute()[
        "items"][0]["id"] == "p4"


def test_blogger_errors_and_daily_requests(emulator: WorkspaceEmulator) -> None:
    _seed(emulator)
    bl = _service(emulator, "blogger")
    for call in (bl.blogs().get(blogId="999"), bl.blogs().getByUrl(url="https://nobody.blogspot.com/"),
                 bl.posts().get(blogId=BLOG, postId="nosuchpost"), bl.posts().get(blogId=BLOG, postId="draft")):
        with pytest.raises(HttpError) as missing:
            call.execute()
        assert missing.value.resp.status == 404 and _error(missing.value)["errors"][0]["reason"] == "notFound"
    with pytest.raises(HttpError) as drafts:
        bl.posts().list(blogId=BLOG, status="DRAFT").execute()
    assert drafts.value.resp.status == 403  # drafts are the authors' only
    # The client checks enums itself; a hand-made request shows the server checks them against discovery too.
    resp, _ = httplib2.Http(ca_certs=str(emulator.ca_path)).request(
        f"{emulator.base_url}/v3/blogs/{BLOG}/posts?orderBy=newest&key={emulator.api_key()}")
    assert resp.status == 400
    emulator.admin.set_limits(blogger_daily_requests=emulator.admin.stats()["quota_units"]["blogger.v3"] + 1)
    bl.blogs().get(blogId=BLOG).execute()
    with pytest.raises(HttpError) as spent:
        bl.blogs().get(blogId=BLOG).execute()
    assert spent.value.resp.status == 403 and _error(spent.value)["errors"][0]["reason"] == "dailyLimitExceeded"


def test_the_compliance_layer_reads_channels_and_blogs_and_types_quota_errors(emulator: WorkspaceEmulator,
                                                                               tmp_path) -> None:
    from compliance.google import channels
    from compliance.google.clients import GoogleClients
    from compliance.google.errors import DailyLimitExceeded
    from compliance.settings import Settings

    _seed(emulator)
    settings = Settings.model_validate({
        "district": {"name": "T", "domain": "standard-sd.org", "time_zone": "America/Los_Angeles"},
        "sites": [{"id": "a", "name": "A", "org_unit": "/A", "site_admin": "a@standard-sd.org",
                   "web_contact": "b@standard-sd.org"}],
        "senders": ["s@standard-sd.org"], "superintendent_recipients": ["s@standard-sd.org"],
        "google": {"emulator_url": emulator.base_url, "ca_bundle": str(emulator.ca_path),
                   "api_key": emulator.api_key()},
    })
    clients = GoogleClients(settings, sleep=lambda s: None)
    counter = channels.CallCounter()
    found = channels.channel_uploads(clients, CHANNEL, counter)
    assert found == {"title": "Lincoln Elementary", "uploads": UPLOADS}
    items = list(channels.playlist_items(clients, UPLOADS, counter))
    videos = channels.videos(clients, [i["contentDetails"]["videoId"] for i in items], counter)
    assert len(items) == len(videos) == 120
    assert counter.calls == {"youtube.channels.list": 1, "youtube.playlistItems.list": 3, "youtube.videos.list": 3}
    assert counter.youtube_units == 7 == emulator.admin.stats()["quota_units"]["youtube.v3"]
    blog = channels.blog(clients, "https://room12-lincoln.blogspot.com/", counter)
    assert [p["id"] for p in channels.post_versions(clients, blog["id"], counter)] == ["p0", "p1", "p2", "p3", "p4"]
    assert "Body 2" in channels.post(clients, blog["id"], "p2", counter)["content"]
    emulator.admin.set_limits(youtube_daily_units=7)
    with pytest.raises(DailyLimitExceeded) as spent:
        channels.channel_uploads(clients, CHANNEL, counter)
    assert settings.google.api_key not in str(spent.value)  # the key never reaches a message or a log
