"""A school's YouTube channel, read incrementally: the uploads playlist's etags say which videos to read.

Each night lists the channel's uploads playlist (``playlistItems.list``, 1 unit per 50 videos) and compares
each item with the version stored: only new or changed items are read with ``videos.list`` (title,
description, tags, thumbnails, status; 1 unit per 50). The version is the item's own content (title,
description, publication time, privacy), not its ``etag``: a playlist item's etag covers its ``position`` too,
and every upload moves every other video's position in the uploads playlist, which would re-read the whole
channel after each new video. Tags are not in a playlist item, so every ``FULL_READ_DAYS`` all videos are read
again. A night with nothing new costs ``1 + ceil(videos / 50)`` units and no ``videos.list`` call.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from compliance.google import channels as yt
from compliance.google.clients import GoogleClients
from compliance.google.errors import DailyLimitExceeded, GoogleApiError, NotFound
from compliance.social.items import AccountRead, ItemRead, raise_if_configuration
from compliance.vocabulary import FindingKind

FULL_READ_DAYS = 7
WATCH_URL = "https://www.youtube.com/watch?v={}"


def video_texts(video: Mapping[str, object]) -> dict[str, str]:
    """The texts of a video that may name a student: title, description and tags (as one text)."""
    snippet = video.get("snippet") or {}
    assert isinstance(snippet, dict)
    texts = {
        "title": str(snippet.get("title") or ""),
        "description": str(snippet.get("description") or ""),
        "tags": "; ".join(str(t) for t in snippet.get("tags") or []),
    }
    return {k: v for k, v in texts.items() if v.strip()}


def item_version(item: Mapping[str, object]) -> str:
    """What tells a changed video from its playlist item: its texts, publication time and privacy, not its
    position (which every new upload shifts)."""
    snippet = item.get("snippet") or {}
    details = item.get("contentDetails") or {}
    status = item.get("status") or {}
    assert isinstance(snippet, dict) and isinstance(details, dict) and isinstance(status, dict)
    fields = [snippet.get("title"), snippet.get("description"), details.get("videoPublishedAt"),
              status.get("privacyStatus")]
    return hashlib.sha256(json.dumps(fields).encode()).hexdigest()[:40]


def _thumbnail(video: Mapping[str, object]) -> str:
    thumbs = (video.get("snippet") or {}).get("thumbnails") or {}  # type: ignore[union-attr]
    for size in ("maxres", "standard", "high", "medium", "default"):
        if size in thumbs and thumbs[size].get("url"):
            return str(thumbs[size]["url"])
    return ""


def read_channel(
    clients: GoogleClients,
    channel_id: str,
    known: Mapping[str, str],  # video id -> item_version
    counter: yt.CallCounter,
    *,
    full_read_at: datetime | None,
    now: datetime,
) -> AccountRead:
    """What changed on the channel since the versions in ``known`` (video id -> :func:`item_version`).

    Never raises for the channel's own problems: an unknown channel, a quota spent or an API error come back
    as ``held_reason`` with ``complete`` False, so the stored videos stay as they were.
    """
    out = AccountRead()
    try:
        found = yt.channel_uploads(clients, channel_id, counter)
        if found is None or not found["uploads"]:
            out.complete, out.held_reason = False, f"YouTube has no channel {channel_id} (check youtube_channels)"
            return out
        out.title, out.resolved_id = found["title"], found["uploads"]
        versions: dict[str, str] = {}
        for item in yt.playlist_items(clients, found["uploads"], counter):
            video_id = str((item.get("contentDetails") or {}).get("videoId") or "")
            if video_id and (item.get("status") or {}).get("privacyStatus", "public") == "public":
                versions[video_id] = item_version(item)
        out.live = set(versions)
        full = full_read_at is None or now - full_read_at >= timedelta(days=FULL_READ_DAYS)
        wanted = [v for v, tag in versions.items() if full or known.get(v) != tag]
        for video in yt.videos(clients, wanted, counter):
            vid = str(video.get("id") or "")
            if vid not in versions or (video.get("status") or {}).get("privacyStatus", "public") != "public":
                out.live.discard(vid)
                continue
            out.changed.append(
                ItemRead(
                    item_id=vid,
                    url=WATCH_URL.format(vid),
                    version=versions[vid],
                    kind=FindingKind.VIDEO,
                    appearances=[(_thumbnail(video), video_texts(video))],
                )
            )
        # Listed but not served by videos.list: removed between the two calls; gone.
        read = {i.item_id for i in out.changed}
        out.live -= {v for v in wanted if v not in read}
        out.counts = {"videos listed": len(versions), "videos read": len(out.changed), "full read": int(full)}
    except DailyLimitExceeded:
        out.complete = False
        out.held_reason = "YouTube quota for today is spent (10,000 units a day per project); tried again tomorrow"
    except NotFound:
        out.complete, out.held_reason = False, f"YouTube has no uploads playlist for channel {channel_id}"
    except GoogleApiError as exc:
        raise_if_configuration(exc, "YouTube Data")
        out.complete, out.held_reason = False, f"YouTube answered {exc.status} {exc.reason}"
    return out


__all__ = ["FULL_READ_DAYS", "WATCH_URL", "item_version", "read_channel", "video_texts"]
