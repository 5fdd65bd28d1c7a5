"""Typed YouTube Data API v3 and Blogger API v3 reads of public channels and blogs (the project's API key), and
of channels a school owns (as the owner mailbox, delegated, youtube.readonly).

Every call goes through :func:`compliance.google.retry.execute` with ``clients.policy``. The methods and parts
are chosen for the nightly audit's budget: one ``channels.list`` and one ``playlistItems.list`` per 50 uploads
(1 unit each) tell which videos are new or changed by their etags, and only those are read with
``videos.list`` (1 unit per 50 ids); a blog's ``posts.list`` without bodies tells which posts changed by
``updated``, and only those are read with ``posts.get``. A project spending past YouTube's daily units gets
:class:`~compliance.google.errors.DailyLimitExceeded` (``quotaExceeded``) from these calls.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from compliance.google.clients import GoogleClients
from compliance.google.paging import paginate
from compliance.google.retry import execute

VIDEOS_PER_CALL = 50  # videos.list takes at most 50 ids; playlistItems.list pages at most 50 items
POSTS_PER_PAGE = 500  # posts.list without bodies: metadata of up to 500 posts a page


@dataclass
class CallCounter:
    """Calls made per method (and YouTube units spent), so a night can say what it cost."""

    calls: dict[str, int] = field(default_factory=dict)
    youtube_units: int = 0

    def add(self, method: str, units: int = 0) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        self.youtube_units += units


def _youtube(clients: GoogleClients, owner: str | None) -> Any:
    # The owner's delegated token (youtube.readonly) for a channel the school owns, else the project's API key.
    return clients.youtube_owner(owner) if owner else clients.public("youtube")


def channel_uploads(
    clients: GoogleClients, channel_id: str, counter: CallCounter, owner: str | None = None
) -> dict[str, str] | None:
    """The channel's title and uploads playlist id, or None when YouTube knows no such channel.

    ``owner``: read as the mailbox that owns the channel (delegated) instead of with the API key.
    """
    service = _youtube(clients, owner)
    counter.add("youtube.channels.list", 1)
    page = execute(
        service.channels().list(part="snippet,contentDetails", id=channel_id, maxResults=1), policy=clients.policy
    )
    items = page.get("items") or []
    if not items:
        return None
    item = items[0]
    return {
        "title": str((item.get("snippet") or {}).get("title") or channel_id),
        "uploads": str(((item.get("contentDetails") or {}).get("relatedPlaylists") or {}).get("uploads") or ""),
    }


def playlist_items(
    clients: GoogleClients, playlist_id: str, counter: CallCounter, owner: str | None = None
) -> Iterator[dict[str, Any]]:
    """Every item of a playlist (an uploads playlist: the channel's public videos, newest first), 50 a page;
    read as the channel's ``owner``, its unlisted and private videos too."""
    service = _youtube(clients, owner)

    def listing(**params: Any) -> Any:
        counter.add("youtube.playlistItems.list", 1)
        return service.playlistItems().list(**params)

    yield from paginate(
        listing, "items", policy=clients.policy, part="snippet,contentDetails,status", playlistId=playlist_id,
        maxResults=VIDEOS_PER_CALL,
    )


def videos(
    clients: GoogleClients, video_ids: Sequence[str], counter: CallCounter, owner: str | None = None
) -> list[dict[str, Any]]:
    """``Video`` resources (snippet: title, description, tags, thumbnails; status) of the ids, 50 a call.

    Ids YouTube no longer serves (deleted, made private to someone other than ``owner``) are simply absent.
    """
    service = _youtube(clients, owner)
    out: list[dict[str, Any]] = []
    for start in range(0, len(video_ids), VIDEOS_PER_CALL):
        chunk = list(video_ids[start : start + VIDEOS_PER_CALL])
        counter.add("youtube.videos.list", 1)
        page = execute(
            service.videos().list(part="snippet,status", id=",".join(chunk), maxResults=len(chunk)),
            policy=clients.policy,
        )
        out += page.get("items") or []
    return out


def blog(clients: GoogleClients, address: str, counter: CallCounter) -> dict[str, Any]:
    """The ``Blog`` a profile entry names: a numeric blog id or the blog's address (``https://x.blogspot.com/``).

    Raises :class:`~compliance.google.errors.NotFound` when Blogger has no such (public) blog.
    """
    service = clients.public("blogger")
    if address.strip().isdigit():
        counter.add("blogger.blogs.get")
        return execute(service.blogs().get(blogId=address.strip()), policy=clients.policy)
    counter.add("blogger.blogs.getByUrl")
    return execute(service.blogs().getByUrl(url=address.strip()), policy=clients.policy)


def post_versions(clients: GoogleClients, blog_id: str, counter: CallCounter) -> Iterator[dict[str, Any]]:
    """Every live post's ``id``, ``updated``, ``url`` and ``title``, most recently updated first, no bodies."""
    service = clients.public("blogger")

    def listing(**params: Any) -> Any:
        counter.add("blogger.posts.list")
        return service.posts().list(**params)

    yield from paginate(
        listing, "items", policy=clients.policy, blogId=blog_id, fetchBodies=False, orderBy="UPDATED",
        status="LIVE", maxResults=POSTS_PER_PAGE, fields="nextPageToken,items(id,updated,url,title)",
    )


def post(clients: GoogleClients, blog_id: str, post_id: str, counter: CallCounter) -> dict[str, Any]:
    """One post with its HTML ``content`` (and title, labels, url, published, updated)."""
    service = clients.public("blogger")
    counter.add("blogger.posts.get")
    return execute(
        service.posts().get(blogId=blog_id, postId=post_id, fetchBody=True,
                            fields="id,url,title,labels,published,updated,content"),
        policy=clients.policy,
    )


__all__ = [
    "POSTS_PER_PAGE",
    "VIDEOS_PER_CALL",
    "CallCounter",
    "blog",
    "channel_uploads",
    "playlist_items",
    "post",
    "post_versions",
    "videos",
]
