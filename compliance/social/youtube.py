"""A school's YouTube channel, read incrementally: the uploads playlist's etags say which videos to read.

Each night lists the channel's uploads playlist (``playlistItems.list``, 1 unit per 50 videos) and compares
each item with the version stored: only new or changed items are read with ``videos.list`` (title,
description, tags, thumbnails, status; 1 unit per 50). The version is the item's own content (title,
description, publication time, privacy), not its ``etag``: a playlist item's etag covers its ``position`` too,
and every upload moves every other video's position in the uploads playlist, which would re-read the whole
channel after each new video. Tags are not in a playlist item, so every ``FULL_READ_DAYS`` all videos are read
again. A night with nothing new costs ``1 + ceil(videos / 50)`` units and no ``videos.list`` call.

A channel the school owns (``youtube_channels`` entry with an ``owner``) is read as that mailbox through
domain-wide delegation with ``youtube.readonly``: YouTube then lists the owner's unlisted and private uploads
too, which are on the school's channel all the same (a link shared with a class is a publication). They are
judged like public ones and keep their ``privacyStatus`` (``ItemRead.privacy``), which the findings name.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import datetime, timedelta

from google.auth.exceptions import RefreshError

from compliance.errors import ConfigurationError
from compliance.google import channels as yt
from compliance.google.clients import GoogleClients
from compliance.google.credentials import YOUTUBE_SCOPES
from compliance.google.errors import DailyLimitExceeded, GoogleApiError, InsufficientScope, NotFound
from compliance.social.items import AccountRead, ItemRead, raise_if_configuration
from compliance.vocabulary import FindingKind

FULL_READ_DAYS = 7
WATCH_URL = "https://www.youtube.com/watch?v={}"
DELEGATION_PATH = "Admin console > Security > Access and data control > API controls > Manage Domain Wide Delegation"


def _owner_refused(channel_id: str, owner: str, text: str, domain: str | None) -> str:
    """Why a channel read as its owner was refused a token; raises when the fix is the domain's, not the entry's.

    Google answers ``unauthorized_client`` both to a client ID lacking the scope and to an owner outside the
    domain (delegation reaches only the domain's users): the owner's address tells the two apart.
    """
    outside = bool(domain) and not owner.lower().endswith("@" + str(domain).lower())
    if outside:
        return (f"YouTube channel {channel_id}: its owner {owner} cannot be acted as: not of the district's domain "
                f"{domain} (domain-wide delegation reaches only the domain's users); name the school mailbox that "
                "owns the channel in youtube_channels")
    if "unauthorized_client" in text:
        raise ConfigurationError(
            f"YouTube channel {channel_id} is read as its owner {owner}, but the pipeline's client ID is not allowed "
            f"{', '.join(YOUTUBE_SCOPES)}: {DELEGATION_PATH}, add that scope to the client ID"
        )
    return (f"YouTube channel {channel_id}: its owner {owner} cannot be acted as ({text[:120]}); the owner must be an "
            "active user of the district's domain (Admin console > Directory > Users), or fix owner in "
            "youtube_channels")


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
    owner: str | None = None,
    domain: str | None = None,
) -> AccountRead:
    """What changed on the channel since the versions in ``known`` (video id -> :func:`item_version`).

    ``owner`` (the mailbox that owns the channel) reads it delegated as that owner: unlisted and private videos
    are read too, each with its ``privacy``. Without it, the API key reads public videos only. ``domain``: the
    district's Workspace domain, to say why an owner outside it cannot be acted as.

    Never raises for the channel's own problems: an unknown channel, a quota spent, an owner who cannot be acted
    as or an API error come back as ``held_reason`` with ``complete`` False, so the stored videos stay as they
    were. A client ID not allowed ``youtube.readonly``, or a token refused that scope, raises
    :class:`~compliance.errors.ConfigurationError` with the fix (every owned channel needs it).
    """
    out = AccountRead()

    def listed(privacy: str) -> bool:
        return bool(owner) or privacy == "public"

    try:
        found = yt.channel_uploads(clients, channel_id, counter, owner)
        if found is None or not found["uploads"]:
            out.complete, out.held_reason = False, f"YouTube has no channel {channel_id} (check youtube_channels)"
            return out
        out.title, out.resolved_id = found["title"], found["uploads"]
        versions: dict[str, str] = {}
        for item in yt.playlist_items(clients, found["uploads"], counter, owner):
            video_id = str((item.get("contentDetails") or {}).get("videoId") or "")
            if video_id and listed(str((item.get("status") or {}).get("privacyStatus", "public"))):
                versions[video_id] = item_version(item)
        out.live = set(versions)
        full = full_read_at is None or now - full_read_at >= timedelta(days=FULL_READ_DAYS)
        wanted = [v for v, tag in versions.items() if full or known.get(v) != tag]
        for video in yt.videos(clients, wanted, counter, owner):
            vid = str(video.get("id") or "")
            privacy = str((video.get("status") or {}).get("privacyStatus", "public"))
            if vid not in versions or not listed(privacy):
                out.live.discard(vid)
                continue
            out.changed.append(
                ItemRead(
                    item_id=vid,
                    url=WATCH_URL.format(vid),
                    version=versions[vid],
                    kind=FindingKind.VIDEO,
                    appearances=[(_thumbnail(video), video_texts(video))],
                    privacy=privacy if owner else None,
                )
            )
        # Listed but not served by videos.list: removed between the two calls; gone.
        read = {i.item_id for i in out.changed}
        out.live -= {v for v in wanted if v not in read}
        out.counts = {"videos listed": len(versions), "videos read": len(out.changed), "full read": int(full)}
        if owner:
            out.counts["videos read not public"] = sum(1 for i in out.changed if i.privacy != "public")
    except DailyLimitExceeded:
        out.complete = False
        out.held_reason = "YouTube quota for today is spent (10,000 units a day per project); tried again tomorrow"
    except NotFound:
        out.complete, out.held_reason = False, f"YouTube has no uploads playlist for channel {channel_id}"
    except RefreshError as exc:
        if not owner:
            raise
        out.complete, out.held_reason = False, _owner_refused(channel_id, owner, str(exc), domain)
    except InsufficientScope as exc:
        if not owner:
            raise
        raise ConfigurationError(
            f"YouTube refused the token of {owner} (owner of channel {channel_id}): it lacks "
            f"{', '.join(YOUTUBE_SCOPES)}; {DELEGATION_PATH}, add that scope to the pipeline's client ID"
        ) from exc
    except GoogleApiError as exc:
        raise_if_configuration(exc, "YouTube Data")
        out.complete, out.held_reason = False, f"YouTube answered {exc.status} {exc.reason}"
    return out


__all__ = ["FULL_READ_DAYS", "WATCH_URL", "item_version", "read_channel", "video_texts"]
