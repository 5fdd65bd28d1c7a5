"""Blogger API v3: the public read methods an audit of a school's or class's blog needs.

``blogs.getByUrl`` / ``blogs.get`` (the blog from the address the profile names), ``posts.list`` (live posts,
by ``published`` or ``updated``, with or without bodies, paged) and ``posts.get`` (one post's HTML). Public
blogs answer an API key; drafts and scheduled posts are for the blog's authors only. Each request costs one
unit of the project's daily Blogger quota (charged by the workspace).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.clock import parse_rfc3339, rfc3339
from emulator.core import Call, Context, decode_token, encode_token
from emulator.errors import ApiError, bad_request

DEFAULT_PAGE = 10
MAX_PAGE = 500


@dataclass
class Post:
    id: str
    title: str
    content: str
    published: str
    updated: str
    labels: list[str] = field(default_factory=list)
    status: str = "LIVE"  # LIVE | DRAFT | SCHEDULED
    author: str = ""


@dataclass
class Blog:
    id: str
    name: str
    url: str  # https://<name>.blogspot.com/
    description: str = ""
    owner: str | None = None
    private: bool = False
    posts: dict[str, Post] = field(default_factory=dict)


def _not_found(what: str = "Not Found") -> ApiError:
    return ApiError(404, what, "notFound")


def _slug(title: str) -> str:
    words = "".join(ch.lower() if ch.isalnum() else " " for ch in title).split()
    return "-".join(words[:8]) or "post"


class Blogger:
    """Blogs with their posts; handlers for the read methods the compliance audit calls."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.reset()

    def reset(self) -> None:
        self.blogs: dict[str, Blog] = {}

    def handlers(self) -> dict[str, Callable[[Call], Any]]:
        return {
            "blogger.blogs.get": self.blogs_get,
            "blogger.blogs.getByUrl": self.blogs_get_by_url,
            "blogger.posts.list": self.posts_list,
            "blogger.posts.get": self.posts_get,
        }

    # -- seeding and admin changes -------------------------------------------------------------------------

    def seed(self, blogs: list[dict[str, Any]]) -> int:
        """Add blogs ``{id, name, url, description?, owner?, private?, posts: [{id, title, content, ...}]}``."""
        for raw in blogs:
            bid = str(raw["id"])
            if not bid.isdigit():
                raise ValueError(f"blog id {bid!r}: Blogger ids are decimal digits")
            url = str(raw["url"])
            if not url.endswith("/"):
                url += "/"
            self.blogs[bid] = Blog(
                bid, str(raw["name"]), url, str(raw.get("description", "")), raw.get("owner"),
                bool(raw.get("private")),
            )
            for p in raw.get("posts") or []:
                self.put_post(bid, p)
        return sum(len(b.posts) for b in self.blogs.values())

    def put_post(self, blog_id: str, raw: dict[str, Any]) -> Post:
        """Add or edit one post (admin API); an edit without ``updated`` is stamped with the emulator's now."""
        blog = self.blogs.get(blog_id)
        if blog is None:
            raise KeyError(blog_id)
        pid = str(raw["id"])
        known = blog.posts.get(pid)
        now = rfc3339(self.ctx.clock.now())
        published = str(raw.get("published") or (known.published if known else now))
        updated = str(raw.get("updated") or (now if known else published))
        post = Post(
            pid,
            str(raw.get("title", known.title if known else "")),
            str(raw.get("content", known.content if known else "")),
            rfc3339(parse_rfc3339(published)),
            rfc3339(parse_rfc3339(updated)),
            [str(x) for x in raw.get("labels", known.labels if known else [])],
            str(raw.get("status", known.status if known else "LIVE")),
            str(raw.get("author", known.author if known else "")),
        )
        blog.posts[pid] = post
        return post

    def delete_post(self, blog_id: str, post_id: str) -> bool:
        blog = self.blogs.get(blog_id)
        return bool(blog and blog.posts.pop(post_id, None))

    # -- resources ----------------------------------------------------------------------------------------------

    def _is_author(self, call: Call, blog: Blog) -> bool:
        return bool(blog.owner) and call.token.api_key is None and call.subject == str(blog.owner).lower()

    def _blog(self, call: Call, blog_id: str) -> Blog:
        blog = self.blogs.get(blog_id)
        if blog is None:
            raise _not_found("Blog not found")
        if blog.private and not self._is_author(call, blog):
            raise ApiError(403, "We're sorry, but you don't have permission to access this resource.", "forbidden")
        return blog

    def _blog_resource(self, blog: Blog) -> dict[str, Any]:
        live = [p for p in blog.posts.values() if p.status == "LIVE"]
        return {
            "kind": "blogger#blog",
            "id": blog.id,
            "name": blog.name,
            "description": blog.description,
            "published": min((p.published for p in live), default="2020-01-01T00:00:00.000Z"),
            "updated": max((p.updated for p in live), default="2020-01-01T00:00:00.000Z"),
            "url": blog.url,
            "selfLink": f"https://www.googleapis.com/blogger/v3/blogs/{blog.id}",
            "posts": {"totalItems": len(live), "selfLink": f"https://www.googleapis.com/blogger/v3/blogs/{blog.id}/posts"},
            "locale": {"language": "en", "country": "US", "variant": ""},
        }

    def _post_resource(self, blog: Blog, post: Post, body: bool) -> dict[str, Any]:
        published = parse_rfc3339(post.published)
        out: dict[str, Any] = {
            "kind": "blogger#post",
            "id": post.id,
            "blog": {"id": blog.id},
            "published": post.published,
            "updated": post.updated,
            "url": f"{blog.url}{published:%Y/%m}/{_slug(post.title)}.html",
            "selfLink": f"https://www.googleapis.com/blogger/v3/blogs/{blog.id}/posts/{post.id}",
            "title": post.title,
            "author": {"id": hashlib.sha1(post.author.encode()).hexdigest()[:18], "displayName": post.author or
                       blog.name},
            "replies": {"totalItems": "0"},
            "status": post.status,
        }
        if post.labels:
            out["labels"] = list(post.labels)
        if body:
            out["content"] = post.content
        out["etag"] = '"' + hashlib.sha1(json.dumps(out, sort_keys=True).encode()).hexdigest()[:32] + '"'
        return out

    # -- handlers ---------------------------------------------------------------------------------------------

    def blogs_get(self, call: Call) -> dict[str, Any]:
        return self._blog_resource(self._blog(call, call.path["blogId"]))

    def blogs_get_by_url(self, call: Call) -> dict[str, Any]:
        wanted = str(call.query["url"]).strip().lower().rstrip("/")
        wanted = wanted.replace("http://", "https://", 1)
        for blog in self.blogs.values():
            if blog.url.lower().rstrip("/") == wanted:
                return self._blog_resource(self._blog(call, blog.id))
        raise _not_found("Blog not found")

    def posts_list(self, call: Call) -> dict[str, Any]:
        blog = self._blog(call, call.path["blogId"])
        statuses = {str(s) for s in call.query.get("status") or ["LIVE"]}
        if statuses - {"LIVE"} and not self._is_author(call, blog):
            raise ApiError(403, "We're sorry, but you don't have permission to access this resource.", "forbidden")
        size = int(call.query.get("maxResults", DEFAULT_PAGE))
        if size < 1 or size > MAX_PAGE:
            raise bad_request(f"Invalid value '{size}'. Values must be within the range: [1, {MAX_PAGE}]",
                              reason="invalid")
        order = "updated" if call.query.get("orderBy") == "UPDATED" else "published"
        posts = [p for p in blog.posts.values() if p.status in statuses]
        for name, keep in (("startDate", lambda p, t: p.published >= t), ("endDate", lambda p, t: p.published < t)):
            if call.query.get(name):
                try:
                    bound = rfc3339(parse_rfc3339(str(call.query[name])))
                except ValueError:
                    raise bad_request(f"Invalid value for {name}: {call.query[name]}", reason="invalid") from None
                posts = [p for p in posts if keep(p, bound)]
        ascending = call.query.get("sortOption") == "ASCENDING"
        posts.sort(key=lambda p: (getattr(p, order), p.id), reverse=not ascending)
        start = 0
        if call.query.get("pageToken"):
            data = decode_token(str(call.query["pageToken"]))
            if data.get("b") != blog.id:
                raise bad_request("Invalid page token.", reason="invalid")
            start = int(data.get("o", 0))
        body = call.query.get("fetchBodies", True) is not False
        chunk = posts[start : start + size]
        page: dict[str, Any] = {
            "kind": "blogger#postList",
            "items": [self._post_resource(blog, p, body) for p in chunk],
        }
        if start + size < len(posts):
            page["nextPageToken"] = encode_token({"b": blog.id, "o": start + size})
        page["etag"] = '"' + hashlib.sha1(json.dumps(page, sort_keys=True).encode()).hexdigest()[:32] + '"'
        return page

    def posts_get(self, call: Call) -> dict[str, Any]:
        blog = self._blog(call, call.path["blogId"])
        post = blog.posts.get(call.path["postId"])
        if post is None or (post.status != "LIVE" and not self._is_author(call, blog)):
            raise _not_found()
        return self._post_resource(blog, post, call.query.get("fetchBody", True) is not False)
