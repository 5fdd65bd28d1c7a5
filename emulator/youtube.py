"""YouTube Data API v3: the public read methods an audit of a school's channel needs.

``channels.list`` (a channel's uploads playlist), ``playlistItems.list`` (the uploads, newest first, 50 a page)
and ``videos.list`` (title, description, tags, thumbnails, status of up to 50 ids). Callers with an API key or
a token that is not the channel's owner see public videos only, as at YouTube. Every resource and page carries
an ``etag`` that changes when its content does. Quota units are charged by the workspace before the handler
runs (``UNIT_COSTS``), per project and Pacific day, like YouTube's 10,000 units a day.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from emulator.clock import parse_rfc3339, rfc3339
from emulator.core import Call, Context, decode_token, encode_token
from emulator.errors import ApiError

# Quota costs in units (YouTube Data API "Quota calculator"): list methods 1, captions.list 50, search 100.
UNIT_COSTS: dict[str, int] = {
    "youtube.channels.list": 1,
    "youtube.playlistItems.list": 1,
    "youtube.videos.list": 1,
    "youtube.captions.list": 50,
    "youtube.captions.download": 200,
    "youtube.search.list": 100,
}
_PARTS = {
    "youtube.channels.list": {"id", "snippet", "contentDetails", "statistics", "status", "brandingSettings"},
    "youtube.playlistItems.list": {"id", "snippet", "contentDetails", "status"},
    "youtube.videos.list": {"id", "snippet", "contentDetails", "status", "statistics", "player"},
}
MAX_IDS = 50


def etag(value: Any) -> str:
    """An opaque version tag of a resource: changes whenever its content does (YouTube's are also opaque)."""
    return hashlib.sha1(json.dumps(value, sort_keys=True).encode()).hexdigest()[:27]


@dataclass
class Video:
    id: str
    channel_id: str
    title: str
    description: str = ""
    tags: list[str] = field(default_factory=list)
    published_at: str = ""
    privacy: str = "public"  # public | unlisted | private


@dataclass
class Channel:
    id: str
    title: str
    description: str = ""
    handle: str = ""
    owner: str | None = None  # the Google account that owns the channel (sees its private videos)
    videos: dict[str, Video] = field(default_factory=dict)

    @property
    def uploads(self) -> str:
        return "UU" + self.id[2:]


def _youtube_error(code: int, reason: str, message: str, domain: str = "youtube.api") -> ApiError:
    return ApiError(code, message, reason, domain=domain)


class YouTube:
    """Channels with their uploads; handlers for the read methods the compliance audit calls."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.reset()

    def reset(self) -> None:
        self.channels: dict[str, Channel] = {}

    def handlers(self) -> dict[str, Callable[[Call], Any]]:
        return {
            "youtube.channels.list": self.channels_list,
            "youtube.playlistItems.list": self.playlist_items_list,
            "youtube.videos.list": self.videos_list,
        }

    # -- seeding and admin changes -------------------------------------------------------------------------

    def seed(self, channels: list[dict[str, Any]]) -> int:
        """Add channels ``{id, title, description?, handle?, owner?, videos: [{id, title, ...}]}``."""
        for raw in channels:
            cid = str(raw["id"])
            if not cid.startswith("UC") or len(cid) != 24:
                raise ValueError(f"channel id {cid!r}: YouTube channel ids are 'UC' + 22 characters")
            channel = Channel(
                cid, str(raw["title"]), str(raw.get("description", "")), str(raw.get("handle", "")), raw.get("owner")
            )
            self.channels[cid] = channel
            for v in raw.get("videos") or []:
                self.put_video(cid, v)
        return sum(len(c.videos) for c in self.channels.values())

    def put_video(self, channel_id: str, raw: dict[str, Any]) -> Video:
        """Add or change one video (admin API: a school uploads or edits a video between two nights)."""
        channel = self.channels.get(channel_id)
        if channel is None:
            raise KeyError(channel_id)
        vid = str(raw["id"])
        if len(vid) != 11:
            raise ValueError(f"video id {vid!r}: YouTube video ids are 11 characters")
        known = channel.videos.get(vid)
        published = str(raw.get("publishedAt") or (known.published_at if known else "")) or rfc3339(
            self.ctx.clock.now()
        )
        video = Video(
            vid,
            channel_id,
            str(raw.get("title", known.title if known else "")),
            str(raw.get("description", known.description if known else "")),
            [str(t) for t in raw.get("tags", known.tags if known else [])],
            rfc3339(parse_rfc3339(published)),
            str(raw.get("privacyStatus", known.privacy if known else "public")),
        )
        channel.videos[vid] = video
        return video

    def delete_video(self, channel_id: str, video_id: str) -> bool:
        channel = self.channels.get(channel_id)
        return bool(channel and channel.videos.pop(video_id, None))

    # -- resources ----------------------------------------------------------------------------------------------

    @staticmethod
    def _parts(call: Call) -> set[str]:
        parts: set[str] = set()
        for value in call.query.get("part") or []:
            parts |= {p.strip() for p in str(value).split(",") if p.strip()}
        allowed = _PARTS[call.spec.id]
        unknown = sorted(parts - allowed)
        if unknown:
            raise _youtube_error(400, "unknownPart", f"'{unknown[0]}'")
        if not parts:
            raise _youtube_error(400, "missingRequiredParameter", "No filter selected. Expected one of: part")
        return parts

    @staticmethod
    def _ids(call: Call, name: str = "id") -> list[str]:
        ids: list[str] = []
        for value in call.query.get(name) or []:
            ids += [i.strip() for i in str(value).split(",") if i.strip()]
        return ids

    def _sees_private(self, call: Call, channel: Channel) -> bool:
        return bool(channel.owner) and call.token.api_key is None and call.subject == str(channel.owner).lower()

    def _thumbnails(self, video_id: str) -> dict[str, Any]:
        sizes = {"default": (120, 90), "medium": (320, 180), "high": (480, 360)}
        return {
            name: {"url": f"https://i.ytimg.com/vi/{video_id}/{name}.jpg", "width": w, "height": h}
            for name, (w, h) in sizes.items()
        }

    def _channel_resource(self, channel: Channel, parts: set[str]) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": "youtube#channel", "id": channel.id}
        if "snippet" in parts:
            out["snippet"] = {
                "title": channel.title,
                "description": channel.description,
                "customUrl": channel.handle,
                "thumbnails": self._thumbnails(channel.id[-11:]),
            }
        if "contentDetails" in parts:
            out["contentDetails"] = {"relatedPlaylists": {"likes": "", "uploads": channel.uploads}}
        out["etag"] = etag(out)
        return out

    def _page(self, call: Call, items: list[Any], kind: str, default_size: int = 5) -> dict[str, Any]:
        size = int(call.query.get("maxResults", default_size))
        start = 0
        token = call.query.get("pageToken")
        if token:
            try:
                data = decode_token(str(token))
                start = int(data["o"])
                if data.get("m") != call.spec.id or start < 0:
                    raise ValueError
            except (ApiError, KeyError, ValueError, TypeError):
                raise _youtube_error(400, "invalidPageToken", "The request specifies an invalid page token.") from None
        chunk = items[start : start + size] if size else []
        page: dict[str, Any] = {
            "kind": kind,
            "pageInfo": {"totalResults": len(items), "resultsPerPage": size},
            "items": chunk,
        }
        if size and start + size < len(items):
            page["nextPageToken"] = encode_token({"m": call.spec.id, "o": start + size})
        if start > 0:
            page["prevPageToken"] = encode_token({"m": call.spec.id, "o": max(0, start - size)})
        page["etag"] = etag(page)
        return page

    # -- handlers ---------------------------------------------------------------------------------------------

    def channels_list(self, call: Call) -> dict[str, Any]:
        parts = self._parts(call)
        names = ("id", "forHandle", "forUsername", "mine", "managedByMe", "categoryId")
        filters = [k for k in names if k in call.query]
        if len(filters) != 1:
            raise _youtube_error(
                400, "incompatibleParameters" if filters else "missingRequiredParameter",
                "Exactly one of id, forHandle, forUsername, mine or managedByMe must be given.",
            )
        if filters[0] == "id":
            wanted = self._ids(call)
            found = [self.channels[i] for i in wanted if i in self.channels]
        elif filters[0] == "forHandle":
            handle = str(call.query["forHandle"]).lstrip("@").lower()
            found = [c for c in self.channels.values() if c.handle.lstrip("@").lower() == handle]
        elif filters[0] == "mine":
            if call.token.api_key is not None:
                raise _youtube_error(401, "authorizationRequired", "The request uses the mine parameter but is "
                                     "not properly authorized.", domain="youtube.parameter")
            found = [c for c in self.channels.values() if c.owner and c.owner.lower() == call.subject]
        else:
            raise _youtube_error(400, "unsupportedFilter", f"The emulator does not model {filters[0]}.")
        return self._page(call, [self._channel_resource(c, parts) for c in found], "youtube#channelListResponse")

    def _visible(self, call: Call, channel: Channel) -> list[Video]:
        private = self._sees_private(call, channel)
        videos = [v for v in channel.videos.values() if private or v.privacy == "public"]
        return sorted(videos, key=lambda v: (v.published_at, v.id), reverse=True)

    def playlist_items_list(self, call: Call) -> dict[str, Any]:
        parts = self._parts(call)
        playlist = call.query.get("playlistId")
        if not playlist:
            raise _youtube_error(
                400, "missingRequiredParameter", "No filter selected. Expected one of: playlistId, id",
                domain="youtube.parameter",
            )
        channel = next((c for c in self.channels.values() if c.uploads == playlist), None)
        if channel is None:
            raise _youtube_error(
                404, "playlistNotFound",
                "The playlist identified with the request's <code>playlistId</code> parameter cannot be found.",
            )
        items = []
        for position, video in enumerate(self._visible(call, channel)):
            item: dict[str, Any] = {
                "kind": "youtube#playlistItem",
                "id": hashlib.sha1(f"{playlist}:{video.id}".encode()).hexdigest()[:40],
            }
            if "snippet" in parts:
                item["snippet"] = {
                    "publishedAt": video.published_at,
                    "channelId": channel.id,
                    "title": video.title,
                    "description": video.description,
                    "thumbnails": self._thumbnails(video.id),
                    "channelTitle": channel.title,
                    "playlistId": playlist,
                    "position": position,
                    "resourceId": {"kind": "youtube#video", "videoId": video.id},
                    "videoOwnerChannelTitle": channel.title,
                    "videoOwnerChannelId": channel.id,
                }
            if "contentDetails" in parts:
                item["contentDetails"] = {"videoId": video.id, "videoPublishedAt": video.published_at}
            if "status" in parts:
                item["status"] = {"privacyStatus": video.privacy}
            item["etag"] = etag(item)
            items.append(item)
        return self._page(call, items, "youtube#playlistItemListResponse")

    def videos_list(self, call: Call) -> dict[str, Any]:
        parts = self._parts(call)
        if "id" not in call.query:
            raise _youtube_error(
                400, "missingRequiredParameter", "No filter selected. Expected one of: id, chart, myRating",
                domain="youtube.parameter",
            )
        ids = self._ids(call)
        if len(ids) > MAX_IDS:
            raise _youtube_error(400, "invalidValue", f"The request specifies {len(ids)} ids; at most {MAX_IDS}.")
        items = []
        for vid in ids:
            video = next((c.videos[vid] for c in self.channels.values() if vid in c.videos), None)
            if video is None:
                continue  # YouTube leaves unknown, deleted and private (to others) ids out of the page
            channel = self.channels[video.channel_id]
            if video.privacy == "private" and not self._sees_private(call, channel):
                continue
            item: dict[str, Any] = {"kind": "youtube#video", "id": vid}
            if "snippet" in parts:
                item["snippet"] = {
                    "publishedAt": video.published_at,
                    "channelId": channel.id,
                    "title": video.title,
                    "description": video.description,
                    "thumbnails": self._thumbnails(vid),
                    "channelTitle": channel.title,
                    "tags": list(video.tags),
                    "categoryId": "27",
                    "liveBroadcastContent": "none",
                }
                if not video.tags:
                    del item["snippet"]["tags"]  # YouTube omits the field when a video has no tags
            if "status" in parts:
                item["status"] = {
                    "uploadStatus": "processed",
                    "privacyStatus": video.privacy,
                    "license": "youtube",
                    "embeddable": True,
                    "publicStatsViewable": True,
                    "madeForKids": False,
                }
            item["etag"] = etag(item)
            items.append(copy.deepcopy(item))
        page = {"kind": "youtube#videoListResponse", "items": items,
                "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)}}
        page["etag"] = etag(page)
        return page


def pacific_day(now: datetime) -> str:
    """The Pacific date a call is counted on: YouTube's daily quota resets at midnight Pacific time."""
    from zoneinfo import ZoneInfo

    return now.astimezone(ZoneInfo("America/Los_Angeles")).date().isoformat()
