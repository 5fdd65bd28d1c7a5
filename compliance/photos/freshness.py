"""HTTP freshness (RFC 9111) and the crawl cache: what a re-crawl may skip or ask for conditionally.

Every page is asked for with its stored ETag / Last-Modified, so re-crawling an unchanged site costs 304s
only: a page answered 304 reuses its links and image texts from the cache, an image answered 304 reuses its
hashes and embedded metadata. Images are cached like a browser caches them: an image the server declared
fresh (``Cache-Control: max-age`` or ``Expires``, capped by ``max_image_freshness_seconds``) is not asked for
at all while it is fresh, provided the page showing it answered 304 (same HTML, so the same image
references). :class:`MemoryCache` keeps all that between runs of one process; the store's cache
(:class:`compliance.photos.store.StoreCache`) reads it from the tables a crawl is stored in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import httpx


def utcnow() -> datetime:
    return datetime.now(UTC)


def cache_directives(headers: httpx.Headers) -> dict[str, str | None]:
    """Cache-Control directives, lower-cased names; a repeated directive keeps its first value (RFC 9111 4.2.1).

    Hand-parsed because no installed library offers a public parser; the grammar is a comma-separated list of
    ``token[=token|quoted-string]``, and quoted commas only occur in directives we do not read.
    """
    found: dict[str, str | None] = {}
    for line in headers.get_list("cache-control"):
        for part in line.split(","):
            name, sep, value = part.strip().partition("=")
            name = name.strip().lower()
            if name and name not in found:
                found[name] = value.strip().strip('"') if sep else None
    return found


def _http_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def fresh_until(
    headers: httpx.Headers, response_time: datetime, max_seconds: int, received_at: datetime | None = None
) -> datetime | None:
    """Until when a response (200 or 304) may be reused without asking the server, or None: ask every time.

    RFC 9111 4.2 for a private cache: the freshness lifetime is ``max-age``, else ``Expires`` minus ``Date``;
    the response's current age (``Age`` header, or how far ``Date`` lies behind ``received_at``) is used up
    already; ``no-cache``/``no-store`` or no explicit lifetime mean no freshness (we do not guess a heuristic
    lifetime from Last-Modified). The result is at most ``max_seconds`` after ``response_time``.

    ``response_time`` is the crawl's clock (a replayed night's time); ``received_at`` (default: the same) is
    the physical clock the server's ``Date`` is compared with, so a replay does not look like a stale answer.
    """
    directives = cache_directives(headers)
    if "no-store" in directives or "no-cache" in directives:
        return None
    date = _http_date(headers.get("date"))
    if "max-age" in directives:
        value = directives["max-age"] or ""
        if not value.isdigit():
            return None  # an invalid max-age makes the response stale
        lifetime = float(value)
    elif "expires" in headers:
        expires = _http_date(headers.get("expires"))
        if expires is None:
            return None  # invalid Expires (e.g. "0") means already expired
        lifetime = (expires - (date or response_time)).total_seconds()
    else:
        return None
    age_header = headers.get("age", "").strip()
    age = float(age_header) if age_header.isdigit() else 0.0
    received_at = received_at or response_time
    apparent_age = max(0.0, (received_at - date).total_seconds()) if date is not None else 0.0
    remaining = min(lifetime - max(age, apparent_age), float(max_seconds))
    if remaining <= 0:
        return None
    return response_time.astimezone(UTC) + timedelta(seconds=remaining)


@dataclass(frozen=True)
class CacheEntry:
    """What the previous crawl kept about one URL.

    Pages keep their links and image references (image URL + page texts, as evidence dicts) so a 304 page
    needs no HTML; images keep their photo record (hashes, size, embedded texts) so a 304 image needs no
    bytes.
    """

    etag: str | None = None
    last_modified: str | None = None
    links: tuple[str, ...] = ()
    text: str | None = None  # pages: their own text (names without a photo), reused on a 304
    evidence: tuple[dict[str, Any], ...] = ()
    photo: dict[str, Any] | None = None
    content_sha256: str | None = None
    fresh_until: datetime | None = None  # images: not asked for again before this (aware UTC)

    @property
    def has_validators(self) -> bool:
        return bool(self.etag or self.last_modified)


class CrawlCache(Protocol):
    """Validators and remembered content per URL.

    The crawler reads it; :func:`compliance.photos.store.remember_crawl` writes it.
    """

    def get(self, url: str) -> CacheEntry | None: ...

    def put(self, url: str, entry: CacheEntry) -> None: ...

    def forget(self, url: str) -> None:
        """Drop a URL that is gone (404/410), so it is not revalidated as a known page again."""
        ...

    def known_pages(self) -> Iterable[str]:
        """Pages the last crawl found live; each is revalidated even if no page links it any more."""
        ...


class MemoryCache:
    """A cache living as long as the object (tests, benchmarks, one process crawling repeatedly)."""

    def __init__(self) -> None:
        self.entries: dict[str, CacheEntry] = {}

    def get(self, url: str) -> CacheEntry | None:
        return self.entries.get(url)

    def put(self, url: str, entry: CacheEntry) -> None:
        self.entries[url] = entry

    def forget(self, url: str) -> None:
        self.entries.pop(url, None)

    def known_pages(self) -> list[str]:
        return [url for url, entry in self.entries.items() if entry.photo is None]


