"""A class or school blog on Blogger, read incrementally by each post's ``updated`` time.

Each night lists the blog's live posts without their bodies (``posts.list`` with ``fetchBodies=false``, 500
a page: id, url, title, updated) and reads the HTML of only the posts that are new or whose ``updated``
moved (``posts.get``). The HTML goes through the website audit's evidence extraction
(:func:`compliance.photos.evidence.parse_page`): images with their alt text, captions and cards, and the
post's own text for names written without a photo. A night with nothing new makes no ``posts.get`` call.
"""

from __future__ import annotations

from collections.abc import Mapping

from compliance.google import channels as api
from compliance.google.clients import GoogleClients
from compliance.google.errors import DailyLimitExceeded, GoogleApiError, NotFound
from compliance.photos.evidence import PAGE_TEXT_URL, ParseBudgetExceeded, page_text_sources, parse_page
from compliance.social.items import AccountRead, ItemRead, raise_if_configuration
from compliance.vocabulary import FindingKind

MAX_POST_CHARS = 2_000_000  # a post's HTML past this is cut (Blogger's own limit is far below)
MAX_PARSE_SECONDS = 10.0


def post_appearances(html: str, url: str, title: str) -> list[tuple[str, dict[str, str]]]:
    """The post's images with their texts, and its own text (title first) as the web page audit reads it."""
    parsed = parse_page(html[:MAX_POST_CHARS], url, max_seconds=MAX_PARSE_SECONDS)
    found: list[tuple[str, dict[str, str]]] = [(ref.image_url, dict(ref.texts)) for ref in parsed.images]
    text = "\n".join(t for t in (title.strip(), parsed.text) if t)
    if text:
        found.append((PAGE_TEXT_URL, page_text_sources(url, text)))
    return found


def read_blog(
    clients: GoogleClients, address: str, known: Mapping[str, str], counter: api.CallCounter
) -> AccountRead:
    """What changed on the blog since the versions in ``known`` (post id -> ``updated``).

    A blog Blogger does not serve, a quota spent or an API error come back as ``held_reason`` with
    ``complete`` False (stored posts stay as they were); a post whose HTML cannot be parsed is a problem.
    """
    out = AccountRead()
    try:
        blog = api.blog(clients, address, counter)
        out.title, out.resolved_id = str(blog.get("name") or address), str(blog["id"])
        versions: dict[str, tuple[str, str]] = {}
        for item in api.post_versions(clients, out.resolved_id, counter):
            versions[str(item["id"])] = (str(item.get("updated") or ""), str(item.get("url") or ""))
        out.live = set(versions)
        wanted = [pid for pid, (updated, _) in versions.items() if known.get(pid) != updated]
        for pid in wanted:
            try:
                post = api.post(clients, out.resolved_id, pid, counter)
            except NotFound:
                out.live.discard(pid)  # deleted or reverted to draft since the listing
                continue
            url = str(post.get("url") or versions[pid][1])
            try:
                appearances = post_appearances(str(post.get("content") or ""), url, str(post.get("title") or ""))
            except ParseBudgetExceeded as exc:
                out.problems.append((url, f"post HTML not read: {exc}"))
                continue
            out.changed.append(ItemRead(pid, url, str(post.get("updated") or versions[pid][0]), FindingKind.POST,
                                        appearances))
        out.counts = {"posts listed": len(versions), "posts read": len(out.changed)}
    except NotFound:
        out.complete, out.held_reason = False, f"Blogger has no public blog at {address} (check blogs)"
    except DailyLimitExceeded:
        out.complete, out.held_reason = False, "Blogger quota for today is spent; tried again tomorrow"
    except GoogleApiError as exc:
        raise_if_configuration(exc, "Blogger")
        out.complete, out.held_reason = False, f"Blogger answered {exc.status} {exc.reason}"
    return out


__all__ = ["post_appearances", "read_blog"]
