"""What a crawl returns (pages, images, errors, counts) and the evidence built from it."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from compliance.photos.evidence import (
    DECORATIVE_FLAG,
    METADATA_KEYS,
    NO_FETCH_FLAG,
    PAGE_TEXT_URL,
    ImageEvidence,
    ImageFacts,
    ImageRef,
    read_image,
)
from compliance.photos.freshness import CacheEntry

ErrorKind = Literal["error", "refused", "robots", "limit"]


@dataclass(frozen=True)
class CrawlError:
    url: str
    reason: str
    kind: ErrorKind = "error"


@dataclass
class CrawlStats:
    requests: int = 0
    ok: int = 0  # 200 responses
    not_modified: int = 0  # 304 responses
    page_bodies: int = 0
    image_bodies: int = 0
    fresh_skips: int = 0  # images not asked for: still fresh, on an unchanged page
    bytes: int = 0
    pages_found: int = 0  # page and PDF URLs met (linked, in a sitemap, script or manifest), in scope or not
    images_found: int = 0  # image URLs met on pages (fetched, fresh, refused or failed)
    pdfs_found: int = 0
    pdfs_read: int = 0
    videos: int = 0  # videos and embeds on live pages (their uses)
    resources: int = 0  # stylesheets, JSON manifests and caption tracks read
    errors: list[CrawlError] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Counts only (URLs can carry names), for logs and flow artifacts."""
        kinds: dict[str, int] = {}
        for err in self.errors:
            kinds[err.kind] = kinds.get(err.kind, 0) + 1
        return {
            "requests": self.requests,
            "ok": self.ok,
            "not_modified": self.not_modified,
            "page_bodies": self.page_bodies,
            "image_bodies": self.image_bodies,
            "fresh_skips": self.fresh_skips,
            "bytes": self.bytes,
            "pages_found": self.pages_found,
            "images_found": self.images_found,
            "pdfs_found": self.pdfs_found,
            "pdfs_read": self.pdfs_read,
            "videos": self.videos,
            "resources": self.resources,
            "errors": kinds,
        }


@dataclass
class PageFetch:
    url: str
    status: int
    unchanged: bool
    html: str | None
    etag: str | None
    last_modified: str | None
    content_sha256: str | None
    links: list[str]
    images: list[ImageRef]
    alias_of: str | None = None  # same content as this page (e.g. "site/" and "site/index.html")
    text: str | None = None  # the page's own text


@dataclass
class ImageFetch:
    url: str
    status: int | None
    unchanged: bool
    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    content_type: str | None = None
    previous: CacheEntry | None = None
    error: str | None = None
    fresh_until: datetime | None = None
    fresh: bool = False  # not asked for: still fresh and shown on unchanged pages only; ``previous`` holds it


@dataclass
class CrawlResult:
    """One site's crawl; ``complete`` is False when a limit stopped it early (nothing unseen is 'gone')."""

    site_id: str
    roots: list[str]
    pages: dict[str, PageFetch] = field(default_factory=dict)
    aliases: dict[str, PageFetch] = field(default_factory=dict)
    images: dict[str, ImageFetch] = field(default_factory=dict)
    stats: CrawlStats = field(default_factory=CrawlStats)
    complete: bool = True
    gone: set[str] = field(default_factory=set)  # answered 404/410
    failed: set[str] = field(default_factory=set)  # pages that errored otherwise (state unknown)
    refused: dict[str, str] = field(default_factory=dict)  # image URLs not fetched, with why
    seconds: float = 0.0
    # Why the site was not crawled tonight (robots.txt or every root unavailable): its pages keep their last
    # known state, nothing is gone, until a crawl that reaches the site says otherwise.
    held: str | None = None


# --- joining a crawl's pages and images ---------------------------------------------------------------------


def _normalize_key(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def build_evidence(result: CrawlResult, max_pixels: int) -> list[ImageEvidence]:
    """One :class:`ImageEvidence` per (page, image) of every live page of a crawl, changed or not.

    Unchanged pages (304) reuse the page texts kept from the previous crawl; unchanged images reuse the
    previous hashes and metadata, so the list is complete either way.
    """
    facts_by_url: dict[str, ImageFacts] = {}
    for url, fetched in result.images.items():
        if fetched.body is not None:
            facts_by_url[url] = read_image(fetched.body, max_pixels)
        elif fetched.unchanged and fetched.previous is not None and fetched.previous.photo:
            photo = fetched.previous.photo
            facts_by_url[url] = ImageFacts(
                sha256=photo.get("sha256"),
                phash=photo.get("phash"),
                width=photo.get("width"),
                height=photo.get("height"),
                texts=dict(photo.get("texts") or {}),
                error=photo.get("error"),
            )
        else:
            facts_by_url[url] = ImageFacts(error=fetched.error or "image not fetched")
    evidence: list[ImageEvidence] = []
    for page in result.pages.values():
        # Every use of one image URL on a page keeps its own texts (a placeholder silhouette shown for 17
        # people carries 17 names): the second use's alt is "alt#2", and so on.
        merged: dict[str, dict[str, str]] = {}
        uses: dict[str, int] = {}
        decorative: dict[str, bool] = {}
        for ref in page.images:
            n = uses[ref.image_url] = uses.get(ref.image_url, 0) + 1
            texts = merged.setdefault(ref.image_url, {})
            flagged = False
            for key, value in ref.texts.items():
                if key in METADATA_KEYS:
                    continue
                if key == DECORATIVE_FLAG:
                    flagged = True
                    if n > 1:
                        continue
                if n > 1 and (key == "filename" or value in texts.values()):
                    continue
                texts[key if n == 1 or "#" in key else f"{key}#{n}"] = _normalize_key(value)
            # An image is decorative only if every use of it is (a logo in the footer and as a story photo).
            decorative[ref.image_url] = decorative.get(ref.image_url, True) and flagged
        for url, page_texts in merged.items():
            facts = facts_by_url.get(url) or ImageFacts(error=result.refused.get(url, "image not fetched"))
            texts = dict(page_texts)
            if not decorative[url]:
                texts.pop(DECORATIVE_FLAG, None)
            if facts.width is not None and facts.height is not None and max(facts.width, facts.height) < 100:
                texts.setdefault(DECORATIVE_FLAG, "under 100 px")
            texts.update({k: _normalize_key(v) for k, v in facts.texts.items()})
            if url == PAGE_TEXT_URL or texts.get(NO_FETCH_FLAG):
                facts = ImageFacts()  # a video file or player: nothing to fetch is not a failure
            evidence.append(
                ImageEvidence(
                    page_url=page.url,
                    image_url=url,
                    texts=texts,
                    sha256=facts.sha256,
                    phash=facts.phash,
                    width=facts.width,
                    height=facts.height,
                    error=facts.error,
                )
            )
    return evidence


def _refusal(err: CrawlError) -> str:
    """The coverage report's reason class of one crawl error."""
    reason = err.reason.lower()
    if err.kind == "robots":
        return "robots"
    if err.kind == "limit":
        return "limit"
    if "outside" in reason or "another host" in reason:
        return "off_site"
    if "exceeds the limit" in reason or "pixels exceeds" in reason:
        return "size"
    if reason.startswith("content-type"):
        return "type"
    if err.kind == "refused":
        return "address"
    return "error"


REFUSAL_CLASSES = ("robots", "off_site", "size", "type", "address", "limit", "error")
COVERAGE_KEYS = (
    "pages_found", "pages_crawled", "images_found", "images_fetched", "videos", "pdfs_found", "pdfs_read",
    *(f"refused_{name}" for name in REFUSAL_CLASSES),
)  # fmt: skip


def coverage(result: CrawlResult) -> dict[str, Any]:
    """What a site's crawl saw and what it could not read, as flat counts (no URLs: they can carry names):
    pages found vs crawled, images found vs fetched, videos, PDFs found vs read, and ``refused_<why>`` for
    each of ``REFUSAL_CLASSES`` (robots, off_site, size, type, address, limit, error)."""
    stats = result.stats
    refused = dict.fromkeys(REFUSAL_CLASSES, 0)
    for err in stats.errors:
        refused[_refusal(err)] += 1
    fetched = sum(1 for i in result.images.values() if i.error is None)
    return {
        "pages_found": max(stats.pages_found, len(result.pages)),
        "pages_crawled": sum(1 for u in result.pages if not u.lower().split("?", 1)[0].endswith(".pdf")),
        "images_found": max(stats.images_found, len(result.images)),
        "images_fetched": fetched,
        "videos": stats.videos,
        "pdfs_found": stats.pdfs_found,
        "pdfs_read": stats.pdfs_read,
        **{f"refused_{name}": count for name, count in refused.items()},
    }


def page_texts(result: CrawlResult) -> list[tuple[str, str]]:
    """(page URL, the page's own text) of every live page that has text: where name findings are read."""
    return [(page.url, page.text) for page in result.pages.values() if page.text]
