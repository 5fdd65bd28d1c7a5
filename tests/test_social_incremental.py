"""Nightly reads of a YouTube channel and a Blogger blog are incremental: only what changed is read in full.

The emulator counts calls per method; the store is real (SQLite). No consent or names needed: this is about
what is read, stored, kept on a bad night and taken for deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from compliance.google.clients import GoogleClients
from compliance.models import Site, SocialAccount, SocialItem
from compliance.settings import Settings
from compliance.social.audit import read_site
from emulator import WorkspaceEmulator

CHANNEL = "UC" + "b" * 22
BLOG = "8123"
NOW = datetime(2026, 11, 20, 10, tzinfo=UTC)
BODIES = ("youtube.videos.list", "blogger.posts.get")


def _settings(emu: WorkspaceEmulator) -> Settings:
    return Settings.model_validate({
        "district": {"name": "T", "domain": "standard-sd.org", "time_zone": "America/Los_Angeles"},
        "sites": [{"id": "lincoln-es", "name": "Lincoln", "org_unit": "/L", "site_admin": "a@standard-sd.org",
                   "web_contact": "b@standard-sd.org", "youtube_channels": [CHANNEL],
                   "blogs": ["https://room4.blogspot.com/"]}],
        "senders": ["s@standard-sd.org"], "superintendent_recipients": ["s@standard-sd.org"],
        "google": {"emulator_url": emu.base_url, "ca_bundle": str(emu.ca_path), "api_key": emu.api_key()},
    })


@pytest.fixture
def channel(emulator: WorkspaceEmulator, store):  # type: ignore[no-untyped-def]
    emulator.admin._call("POST", "/seed", json={
        "youtube": [{"id": CHANNEL, "title": "Lincoln", "videos": [
            {"id": f"v{i:010d}", "title": f"Video {i}", "description": "Fall festival",
             "publishedAt": (NOW - timedelta(days=90 - i)).isoformat()} for i in range(60)]}],
        "blogger": [{"id": BLOG, "name": "Room 4", "url": "https://room4.blogspot.com/", "posts": [
            {"id": f"p{i}", "title": f"Week {i}", "content": f"<p>Week {i}</p><img src='a.jpg' alt='Art show'>",
             "published": f"2026-09-{i + 1:02d}T10:00:00Z"} for i in range(7)]}],
    })
    with store.session() as s:
        s.add(Site(id="lincoln-es", name="Lincoln", kind="elementary", org_unit="/L", site_admin_email="a@x.org",
                   web_contact_email="b@x.org"))
    settings = _settings(emulator)
    return emulator, store, settings, GoogleClients(settings, sleep=lambda s: None)


def _night(channel, now: datetime) -> tuple[dict[str, int], dict[str, int]]:
    emu, store, settings, clients = channel
    before = emu.admin.stats()["calls"]
    with store.session() as s:
        counts = read_site(s, settings, clients, "lincoln-es", now)
    after = emu.admin.stats()["calls"]
    return counts, {m: after[m] - before.get(m, 0) for m in after if after[m] != before.get(m, 0)}


def test_only_new_or_changed_videos_and_posts_are_read_in_full(channel) -> None:  # type: ignore[no-untyped-def]
    emu = channel[0]
    counts, calls = _night(channel, NOW)
    assert counts["youtube videos new"] == 60 and counts["blog posts new"] == 7
    assert calls["youtube.videos.list"] == 2 and calls["blogger.posts.get"] == 7
    assert counts["youtube units"] == 1 + 2 + 2  # channels.list, two playlist pages, two videos.list

    counts, calls = _night(channel, NOW + timedelta(days=1))
    assert [calls.get(m, 0) for m in BODIES] == [0, 0]  # nothing new: the listings only
    assert calls == {"youtube.channels.list": 1, "youtube.playlistItems.list": 2, "blogger.blogs.getByUrl": 1,
                     "blogger.posts.list": 1}
    assert counts["youtube units"] == 3

    emu.admin.put_video(CHANNEL, {"id": "v0000000007", "title": "Video 7, with a new title"})
    emu.admin.put_video(CHANNEL, {"id": "v0000000099", "title": "A new video", "publishedAt": "2026-11-20T12:00:00Z"})
    emu.admin.delete_video(CHANNEL, "v0000000003")
    emu.admin.put_post(BLOG, {"id": "p2", "content": "<p>Edited</p>"})
    emu.admin.delete_post(BLOG, "p5")
    counts, calls = _night(channel, NOW + timedelta(days=2))
    assert calls["youtube.videos.list"] == 1 and calls["blogger.posts.get"] == 1
    assert counts["youtube videos new"] == 1 and counts["youtube videos changed"] == 1
    assert counts["youtube videos gone"] == 1 and counts["blog posts changed"] == 1 and counts["blog posts gone"] == 1
    with channel[1].session() as s:
        items = {i.item_id: i for i in s.scalars(select(SocialItem))}
        assert items["v0000000007"].evidence["appearances"][0]["texts"]["title"] == "Video 7, with a new title"
        assert items["v0000000003"].status == "gone" and items["p5"].status == "gone"
        assert "Edited" in items["p2"].evidence["appearances"][-1]["texts"]["page_text"]


def test_every_seventh_night_reads_every_video_again(channel) -> None:  # type: ignore[no-untyped-def]
    _night(channel, NOW)
    assert _night(channel, NOW + timedelta(days=6))[1].get("youtube.videos.list", 0) == 0
    counts, calls = _night(channel, NOW + timedelta(days=7))
    assert calls["youtube.videos.list"] == 2 and counts["youtube videos read"] == 60  # tags are not in the etag
    assert _night(channel, NOW + timedelta(days=8))[1].get("youtube.videos.list", 0) == 0


def test_a_spent_quota_holds_the_channel_and_keeps_its_videos(channel) -> None:  # type: ignore[no-untyped-def]
    emu, store = channel[0], channel[1]
    _night(channel, NOW)
    emu.admin.set_limits(youtube_daily_units=emu.admin.stats()["quota_units"]["youtube.v3"] + 2)
    counts, _ = _night(channel, NOW + timedelta(days=1))  # channels.list and one page, then quotaExceeded
    assert counts["accounts held"] == 1 and counts["youtube videos gone"] == 0
    with store.session() as s:
        account = s.scalars(select(SocialAccount).where(SocialAccount.platform == "youtube")).one()
        assert account.held_reason.startswith("YouTube quota for today is spent")
        assert len(s.scalars(select(SocialItem).where(SocialItem.status == "live")).all()) == 67
    emu.admin.set_limits(youtube_daily_units=10_000)
    counts, _ = _night(channel, NOW + timedelta(days=2))
    assert counts["accounts held"] == 0


def test_an_unknown_channel_or_blog_is_held_with_the_reason(channel) -> None:  # type: ignore[no-untyped-def]
    emu, store, settings, clients = channel
    settings.sites[0].youtube_channels = ["UC" + "z" * 22]
    settings.sites[0].blogs = ["https://nobody.blogspot.com/"]
    counts, _ = _night(channel, NOW)
    assert counts["accounts held"] == 2
    with store.session() as s:
        reasons = sorted(a.held_reason for a in s.scalars(select(SocialAccount)))
    assert reasons == [
        "Blogger has no public blog at https://nobody.blogspot.com/ (check blogs)",
        f"YouTube has no channel UC{'z' * 22} (check youtube_channels)",
    ]
