"""Polite, bounded crawler for school websites: finds every page and photo a site publishes.

Per site it starts from the site's web roots (``settings.site_roots(site)``), reads robots.txt and
sitemap.xml, then follows links, staying inside the site's allowlist: the scheme, host and path prefix of
one of its roots. Redirects are followed by hand (at most five, loops detected) so a redirect to another
host is refused like a link to it. Hosts resolving to loopback or private addresses are refused unless the
settings allow them (the demo serves sample sites on 127.0.0.1); link-local addresses (cloud metadata
endpoints) are always refused.

Every page is asked for with its stored ETag / Last-Modified, so re-crawling an unchanged site costs 304s
only: a page answered 304 reuses its links and image texts from the cache, an image answered 304 reuses its
hashes and embedded metadata. Images are cached like a browser caches them (RFC 9111): an image the server
declared fresh (``Cache-Control: max-age`` or ``Expires``, capped by ``max_image_freshness_seconds``) is not
asked for at all while it is fresh, provided the page showing it answered 304 (same HTML, so the same image
references); an image on a changed page, or a stale one, is revalidated with a conditional GET. Every page
known from the last crawl is revalidated, linked or not: a page still served is still published.
:class:`MemoryCache` keeps all that between runs of one process; :class:`StoreCache` reads it from the store
tables (pages, photo_appearances, photos) that :func:`store_crawl` writes.

Errors (timeouts, HTTP errors, refusals, limits) are recorded with their URL in the result; they never stop
the crawl.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal, Protocol
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from compliance.evidence import METADATA_KEYS, ImageEvidence, ImageRef, parse_page, photo_record
from compliance.settings import Crawl as CrawlSettings

MAX_REDIRECTS = 5
MAX_URL_LENGTH = 2000  # the store's URL columns are String(2000)
REQUEST_TIMEOUT_SECONDS = 30.0
_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_HTML_TYPES = ("text/html", "application/xhtml+xml")
# Links to these are documents or media, never pages with photos in HTML; skipping them saves a request each.
_NOT_PAGES = frozenset(
    {
        "jpg", "jpeg", "png", "gif", "webp", "svg", "bmp", "tif", "tiff", "heic", "ico", "pdf", "doc", "docx",
        "xls", "xlsx", "ppt", "pptx", "zip", "mp3", "mp4", "mov", "avi", "webm", "css", "js", "xml", "txt",
    }
)  # fmt: skip

ErrorKind = Literal["error", "refused", "robots", "limit"]


# --- cache --------------------------------------------------------------------------------------------------


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
    evidence: tuple[dict[str, Any], ...] = ()
    photo: dict[str, Any] | None = None
    content_sha256: str | None = None
    fresh_until: datetime | None = None  # images: not asked for again before this (aware UTC)

    @property
    def has_validators(self) -> bool:
        return bool(self.etag or self.last_modified)


class CrawlCache(Protocol):
    """Validators and remembered content per URL; the crawler reads it, :func:`remember_crawl` writes it."""

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


class StoreCache:
    """A cache read from the store for one site: Page validators and links, live PhotoAppearance rows (image
    validators, freshness) and their Photo.

    An image shown on several pages has one appearance per page; its validators come from one of them and
    its freshness is the earliest ``fresh_until`` of them (the conservative choice if they ever differ).
    ``put`` keeps changes in memory only; :func:`store_crawl` is what persists a crawl.
    """

    def __init__(self, session: Any, site_id: str) -> None:
        from sqlalchemy import select

        from compliance.models import Page, Photo, PhotoAppearance

        self.entries: dict[str, CacheEntry] = {}
        pages = session.scalars(select(Page).where(Page.site_id == site_id, Page.status.in_(("live", "alias")))).all()
        self.live_pages = [p.url for p in pages if p.status == "live"]
        evidence_by_page: dict[int, list[dict[str, Any]]] = {p.id: [] for p in pages}
        rows = session.execute(
            select(PhotoAppearance, Photo)
            .join(Page, Page.id == PhotoAppearance.page_id)
            .outerjoin(Photo, Photo.id == PhotoAppearance.photo_id)
            .where(Page.site_id == site_id, Page.status == "live", PhotoAppearance.status == "live")
        ).all()
        for appearance, photo in rows:
            evidence_by_page[appearance.page_id].append(appearance.evidence or {})
            if photo is None:
                continue
            known = self.entries.get(appearance.image_url)
            if known is not None:
                if known.fresh_until is not None and (
                    appearance.fresh_until is None or appearance.fresh_until < known.fresh_until
                ):
                    self.entries[appearance.image_url] = replace(known, fresh_until=appearance.fresh_until)
                continue
            self.entries[appearance.image_url] = CacheEntry(
                etag=appearance.etag,
                last_modified=appearance.last_modified,
                photo={
                    "sha256": photo.sha256,
                    "phash": photo.phash,
                    "width": photo.width,
                    "height": photo.height,
                    "texts": dict(photo.metadata_text or {}),
                    "error": (appearance.evidence or {}).get("error"),
                },
                fresh_until=appearance.fresh_until,
            )
        for page in pages:
            self.entries[page.url] = CacheEntry(
                etag=page.etag,
                last_modified=page.last_modified,
                links=tuple(page.links or ()),
                evidence=tuple(evidence_by_page[page.id]),
                content_sha256=page.content_sha256,
            )

    def get(self, url: str) -> CacheEntry | None:
        return self.entries.get(url)

    def put(self, url: str, entry: CacheEntry) -> None:
        self.entries[url] = entry

    def forget(self, url: str) -> None:
        self.entries.pop(url, None)
        if url in self.live_pages:
            self.live_pages.remove(url)

    def known_pages(self) -> list[str]:
        return list(self.live_pages)


# --- results ------------------------------------------------------------------------------------------------


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


# --- HTTP freshness (RFC 9111) -----------------------------------------------------------------------------


def _utcnow() -> datetime:
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


# --- URL helpers --------------------------------------------------------------------------------------------


def normalize_url(url: str) -> str:
    """Canonical form for de-duplication: lower-case scheme and host, no default port, no fragment."""
    parts = urlsplit(urldefrag(url.strip())[0])
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


@dataclass(frozen=True)
class Scope:
    """The allowlist of one site: (scheme, netloc, path prefix) of each root."""

    prefixes: tuple[tuple[str, str, str], ...]

    @classmethod
    def from_roots(cls, roots: Iterable[str]) -> Scope:
        prefixes = []
        for root in roots:
            parts = urlsplit(normalize_url(root))
            path = parts.path if parts.path.endswith("/") else parts.path.rsplit("/", 1)[0] + "/"
            prefixes.append((parts.scheme, parts.netloc, path))
        return cls(tuple(prefixes))

    def contains(self, url: str) -> bool:
        parts = urlsplit(url)
        return any(
            parts.scheme == scheme and parts.netloc == netloc and (parts.path or "/").startswith(prefix)
            for scheme, netloc, prefix in self.prefixes
        )


def _address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, crawl: CrawlSettings) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_link_local:
        return f"link-local address {ip} refused"
    if ip.is_loopback:
        return None if crawl.allow_loopback else f"loopback address {ip} refused"
    if ip.is_unspecified or ip.is_multicast:
        return f"address {ip} refused"
    if ip.is_private or ip.is_reserved:
        return None if crawl.allow_private else f"private address {ip} refused"
    return None


class HostLimiter:
    """Per-host politeness shared by the sites of one run: concurrency, delay, address, robots verdicts."""

    def __init__(
        self,
        crawl: CrawlSettings,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.crawl = crawl
        self.clock = clock
        self.sleep = sleep
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._next_at: dict[str, float] = {}
        self._addresses: dict[str, str | None] = {}
        self.robots: dict[str, asyncio.Future[RobotFileParser | None]] = {}
        self.delays: dict[str, float] = {}

    def semaphore(self, netloc: str) -> asyncio.Semaphore:
        if netloc not in self._semaphores:
            self._semaphores[netloc] = asyncio.Semaphore(max(1, self.crawl.per_host_concurrency))
        return self._semaphores[netloc]

    async def wait_turn(self, netloc: str) -> None:
        """Space requests to one host by the configured delay (or the robots.txt Crawl-delay, if larger)."""
        delay = max(self.crawl.per_host_delay_seconds, self.delays.get(netloc, 0.0))
        if delay <= 0:
            return
        now = self.clock()
        start = max(now, self._next_at.get(netloc, now))
        self._next_at[netloc] = start + delay
        if start > now:
            await self.sleep(start - now)

    async def address_problem(self, url: str) -> str | None:
        """Why this URL's host must not be contacted, or None. Resolves names, checks every address."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host in self._addresses:
            return self._addresses[host]
        problem: str | None = None
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, parts.port or (443 if parts.scheme == "https" else 80), type=socket.SOCK_STREAM
                )
                addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
            except (OSError, ValueError) as exc:
                addresses, problem = [], f"cannot resolve host: {exc}"
        for ip in addresses:
            problem = problem or _address_problem(ip, self.crawl)
        self._addresses[host] = problem
        return problem


@dataclass
class _Response:
    url: str  # after redirects
    status: int
    headers: httpx.Headers
    body: bytes | None
    error: str | None = None
    entry: CacheEntry | None = None  # the cache entry whose validators were sent

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    @property
    def charset(self) -> str:
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"' ")
        return "utf-8"


# --- the crawl of one site ----------------------------------------------------------------------------------


class _SiteCrawl:
    def __init__(
        self,
        site_id: str,
        roots: Sequence[str],
        crawl: CrawlSettings,
        cache: CrawlCache,
        client: httpx.AsyncClient,
        limiter: HostLimiter,
        clock: Callable[[], float],
        now: Callable[[], datetime],
    ) -> None:
        self.crawl = crawl
        self.cache = cache
        self.client = client
        self.limiter = limiter
        self.clock = clock
        self.now = now
        self.roots = [normalize_url(r) for r in roots]
        self.scope = Scope.from_roots(self.roots)
        self.result = CrawlResult(site_id=site_id, roots=list(self.roots))
        self.deadline = clock() + crawl.max_seconds_per_site
        self._seen_pages: set[str] = set()
        self._seen_images: set[str] = set()
        self._fresh_skipped: set[str] = set()
        self._reported: set[tuple[str, str]] = set()
        self._parsers: list[RobotFileParser] = []
        self._page_budget = crawl.max_pages_per_site
        self._tg: asyncio.TaskGroup | None = None

    # -- bookkeeping
    def error(self, url: str, reason: str, kind: ErrorKind = "error") -> None:
        if (url, reason) in self._reported:
            return
        self._reported.add((url, reason))
        self.result.stats.errors.append(CrawlError(url=url, reason=reason, kind=kind))
        if kind == "limit":
            self.result.complete = False

    def allowed_by_robots(self, url: str) -> bool:
        agent = self.crawl.user_agent
        return all(rp.can_fetch(agent, url) for rp in self._parsers)

    # -- HTTP
    async def fetch(
        self,
        url: str,
        kind: Literal["page", "image", "robots", "sitemap"],
        use_cache: bool = True,
        quiet_statuses: frozenset[int] = frozenset(),
    ) -> _Response:
        """GET with redirects followed by hand; every hop is checked against scope, addresses and robots."""
        origin = urlsplit(url)
        chain: list[str] = []
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            if kind == "robots":
                parts = urlsplit(current)
                inside = (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc)
            else:
                inside = self.scope.contains(current)
            if not inside:
                why = "redirect to another host or outside the site refused" if chain else "outside the site"
                self.error(current if not chain else url, why, "refused")
                return _Response(current, 0, httpx.Headers(), None, error=why)
            problem = await self.limiter.address_problem(current)
            if problem:
                self.error(current, problem, "refused")
                return _Response(current, 0, httpx.Headers(), None, error=problem)
            if kind in ("page", "image") and not self.allowed_by_robots(current):
                self.error(current, "disallowed by robots.txt", "robots")
                return _Response(current, 0, httpx.Headers(), None, error="disallowed by robots.txt")
            if self.clock() > self.deadline:
                self.error(current, "time limit for the site reached", "limit")
                return _Response(current, 0, httpx.Headers(), None, error="time limit")
            entry = self.cache.get(current) if use_cache else None
            headers: dict[str, str] = {}
            if entry is not None:
                if entry.etag:
                    headers["If-None-Match"] = entry.etag
                if entry.last_modified:
                    headers["If-Modified-Since"] = entry.last_modified
            response = await self._request(current, kind, headers)
            response.entry = entry
            if response.status in _REDIRECT_CODES and response.error is None:
                location = response.headers.get("location")
                if not location:
                    reason = f"HTTP {response.status} without Location"
                    self.error(current, reason)
                    return _Response(current, response.status, response.headers, None, error=reason)
                chain.append(current)
                current = normalize_url(urljoin(current, location))
                if current in chain:
                    self.error(url, "redirect loop", "error")
                    return _Response(current, 0, httpx.Headers(), None, error="redirect loop")
                continue
            if response.error is None and response.status not in (200, 304):
                response.error = f"HTTP {response.status}"
                if response.status not in quiet_statuses:
                    self.error(current, response.error)
            elif response.error is not None:
                self.error(current, response.error)
            return response
        self.error(url, f"more than {MAX_REDIRECTS} redirects")
        return _Response(current, 0, httpx.Headers(), None, error="too many redirects")

    async def _request(self, url: str, kind: str, headers: dict[str, str]) -> _Response:
        netloc = urlsplit(url).netloc
        stats = self.result.stats
        limit = self.crawl.max_bytes_per_response
        async with self.limiter.semaphore(netloc):
            await self.limiter.wait_turn(netloc)
            stats.requests += 1
            try:
                async with self.client.stream("GET", url, headers=headers) as resp:
                    status, resp_headers = resp.status_code, resp.headers
                    if status != 200:
                        if status == 304:
                            stats.not_modified += 1
                        # Drain a small body (redirect, error page) so the connection goes back to the pool.
                        drained = 0
                        async for chunk in resp.aiter_bytes():
                            drained += len(chunk)
                            stats.bytes += len(chunk)
                            if drained > 65_536:
                                break
                        return _Response(url, status, resp_headers, None)
                    stats.ok += 1
                    result = _Response(url, status, resp_headers, None)
                    wanted = {
                        "page": _HTML_TYPES,
                        "image": ("image/",),
                    }.get(kind)
                    if wanted and not result.content_type.startswith(wanted):
                        result.error = f"content-type {result.content_type or 'missing'} is not {wanted[0]}"
                        return result
                    declared = resp_headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limit:
                        result.error = f"response of {declared} bytes exceeds the limit of {limit}"
                        return result
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in resp.aiter_bytes():
                        size += len(chunk)
                        stats.bytes += len(chunk)
                        if size > limit:
                            result.error = f"response exceeds the limit of {limit} bytes"
                            return result
                        chunks.append(chunk)
                    result.body = b"".join(chunks)
                    if kind == "image":
                        stats.image_bodies += 1
                    elif kind == "page":
                        stats.page_bodies += 1
                    return result
            except httpx.HTTPError as exc:
                return _Response(url, 0, httpx.Headers(), None, error=f"{type(exc).__name__}: {exc}"[:300])

    # -- robots and sitemaps
    async def load_robots(self) -> None:
        locations: list[tuple[str, bool]] = []
        for root in self.roots:
            parts = urlsplit(root)
            locations.append((urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", "")), True))
            if parts.path not in ("", "/"):
                # Sample and shared-host school sites keep a robots.txt at the site's own root too.
                locations.append((urljoin(root, "robots.txt"), False))
        for location, host_level in dict.fromkeys(locations):
            # Sites crawled at once share a host's robots.txt: the first asks, the others await its answer.
            if location not in self.limiter.robots:
                self.limiter.robots[location] = asyncio.ensure_future(self._read_robots(location, host_level))
            parser = await self.limiter.robots[location]
            if parser is not None:
                self._parsers.append(parser)
                delay = parser.crawl_delay(self.crawl.user_agent)
                if delay:
                    netloc = urlsplit(location).netloc
                    # A site may ask for a delay, but not for one that would stop the nightly crawl.
                    self.limiter.delays[netloc] = min(float(delay), 10.0)

    async def _read_robots(self, location: str, host_level: bool) -> RobotFileParser | None:
        parser = RobotFileParser(location)
        kind: Literal["robots", "sitemap"] = "robots" if host_level else "sitemap"
        response = await self.fetch(location, kind, use_cache=False, quiet_statuses=frozenset(range(400, 500)))
        if response.status == 200 and response.body is not None:
            parser.parse(response.body.decode("utf-8", errors="replace").splitlines())
            return parser
        if response.status in (401, 403):
            parser.disallow_all = True
            return parser
        if 400 <= response.status < 500:
            return None  # no robots.txt: everything allowed
        # Server error or network failure: do not guess that crawling is welcome.
        parser.disallow_all = True
        return parser

    async def sitemap_urls(self) -> list[str]:
        candidates = [urljoin(root, "sitemap.xml") for root in self.roots]
        for parser in self._parsers:
            candidates.extend(parser.site_maps() or [])
        found: list[str] = []
        done: set[str] = set()
        queue = [normalize_url(c) for c in candidates]
        depth = 0
        while queue and depth < 3:
            next_queue: list[str] = []
            for location in dict.fromkeys(queue):
                if location in done or not self.scope.contains(location):
                    continue
                done.add(location)
                response = await self.fetch(location, "sitemap", use_cache=False, quiet_statuses=frozenset({404, 410}))
                if response.status != 200 or response.body is None:
                    continue
                pages, children = self._parse_sitemap(location, response.body)
                found.extend(pages)
                next_queue.extend(children)
            queue, depth = next_queue, depth + 1
        return found

    def _parse_sitemap(self, location: str, body: bytes) -> tuple[list[str], list[str]]:
        from defusedxml import ElementTree
        from defusedxml.common import DefusedXmlException

        try:
            root = ElementTree.fromstring(body)
        except (ElementTree.ParseError, DefusedXmlException) as exc:
            self.error(location, f"sitemap not readable: {type(exc).__name__}")
            return [], []
        locs = [
            normalize_url(urljoin(location, (el.text or "").strip()))
            for el in root.iter()
            if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] == "loc" and (el.text or "").strip()
        ]
        if root.tag.rsplit("}", 1)[-1] == "sitemapindex":
            return [], locs
        return locs, []

    # -- scheduling
    def schedule_page(self, url: str, from_page: str | None = None) -> None:
        url = normalize_url(url)
        if url in self._seen_pages:
            return
        self._seen_pages.add(url)
        if len(url) > MAX_URL_LENGTH:
            self.error(url[:MAX_URL_LENGTH], f"URL longer than {MAX_URL_LENGTH} characters not followed", "refused")
            return
        if urlsplit(url).scheme not in ("http", "https"):
            return
        if urlsplit(url).path.rsplit(".", 1)[-1].lower() in _NOT_PAGES and "." in urlsplit(url).path:
            return
        if not self.scope.contains(url):
            self.error(url, "link outside the site not followed", "refused")
            return
        if not self.allowed_by_robots(url):
            self.error(url, "disallowed by robots.txt", "robots")
            return
        if self._page_budget <= 0:
            self.error(url, f"page limit of {self.crawl.max_pages_per_site} reached", "limit")
            return
        self._page_budget -= 1
        assert self._tg is not None
        self._tg.create_task(self._guard(url, self.page(url)))

    def still_fresh(self, url: str) -> CacheEntry | None:
        """The cache entry of an image that need not be asked for (fresh, hashes known), or None."""
        if self.crawl.revalidate_fresh_images:
            return None
        entry = self.cache.get(url)
        if entry is None or entry.photo is None or entry.fresh_until is None:
            return None
        now = self.now()
        # A stored lifetime longer than the current cap (the setting was lowered) counts as stale.
        if not now < entry.fresh_until <= now + timedelta(seconds=self.crawl.max_image_freshness_seconds):
            return None
        return entry if self.allowed_by_robots(url) else None

    def schedule_image(self, url: str, page_unchanged: bool = False) -> None:
        url = normalize_url(url)
        if url in self._seen_images:
            if not page_unchanged and url in self._fresh_skipped:
                # A changed page shows it too: its HTML may point at a replaced file under the same URL.
                self._fresh_skipped.discard(url)
                assert self._tg is not None
                self._tg.create_task(self._guard(url, self.image(url)))
            return
        self._seen_images.add(url)
        if len(url) > MAX_URL_LENGTH:
            reason = f"image URL longer than {MAX_URL_LENGTH} characters not fetched"
            self.result.refused[url] = reason
            self.error(url[:MAX_URL_LENGTH], reason, "refused")
            return
        if not self.scope.contains(url):
            reason = "image outside the site not fetched"
            self.result.refused[url] = reason
            self.error(url, reason, "refused")
            return
        fresh = self.still_fresh(url) if page_unchanged else None
        if fresh is not None:
            # Same page HTML, same image reference, and the server said the file stays as is until then.
            self.result.images[url] = ImageFetch(
                url=url,
                status=None,
                unchanged=True,
                body=None,
                etag=fresh.etag,
                last_modified=fresh.last_modified,
                previous=fresh,
                fresh_until=fresh.fresh_until,
                fresh=True,
            )
            self._fresh_skipped.add(url)
            return
        assert self._tg is not None
        self._tg.create_task(self._guard(url, self.image(url)))

    async def _guard(self, url: str, job: Any) -> None:
        try:
            await job
        except Exception as exc:  # a bug on one URL must not end the crawl of the site
            self.error(url, f"crawler error: {type(exc).__name__}: {exc}"[:300])
            self.result.failed.add(url)

    async def page(self, url: str) -> None:
        response = await self.fetch(url, "page")
        if response.error is not None:
            if response.status in (404, 410):
                self.result.gone.add(url)
            elif response.status != 0 or response.error != "disallowed by robots.txt":
                self.result.failed.add(url)
            return
        final = response.url
        if final != url:
            if final in self.result.pages:
                return
            self._seen_pages.add(final)
        entry = response.entry
        if response.status == 304 and entry is not None:
            links = list(entry.links)
            refs = [
                ImageRef(
                    image_url=ev["image_url"],
                    texts={k: v for k, v in (ev.get("texts") or {}).items() if k not in METADATA_KEYS},
                )
                for ev in entry.evidence
                if ev.get("image_url")
            ]
            fetched = PageFetch(
                url=final,
                status=304,
                unchanged=True,
                html=None,
                etag=response.headers.get("etag") or entry.etag,
                last_modified=response.headers.get("last-modified") or entry.last_modified,
                content_sha256=entry.content_sha256,
                links=links,
                images=refs,
            )
        elif response.body is not None:
            html = response.body.decode(response.charset, errors="replace")
            parsed = parse_page(html, final)
            fetched = PageFetch(
                url=final,
                status=200,
                unchanged=False,
                html=html,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
                content_sha256=hashlib.sha256(response.body).hexdigest(),
                links=parsed.links,
                images=parsed.images,
            )
        else:
            self.error(url, f"unexpected HTTP {response.status}")
            self.result.failed.add(url)
            return
        self.result.pages[final] = fetched
        for ref in fetched.images:
            self.schedule_image(ref.image_url, fetched.unchanged)
        for link in fetched.links:
            self.schedule_page(link, final)

    async def image(self, url: str) -> None:
        entry = self.cache.get(url)
        # Without the previous photo record a 304 would leave us with neither bytes nor hashes.
        usable = entry is not None and entry.photo is not None and entry.has_validators
        response = await self.fetch(url, "image", use_cache=usable)
        if response.error is not None:
            self.result.images[url] = ImageFetch(
                url=url, status=response.status or None, unchanged=False, body=None, error=response.error
            )
            return
        cached = response.entry
        self.result.images[url] = ImageFetch(
            url=url,
            status=response.status,
            unchanged=response.status == 304,
            body=response.body,
            etag=response.headers.get("etag") or (cached.etag if cached else None),
            last_modified=response.headers.get("last-modified") or (cached.last_modified if cached else None),
            content_type=response.content_type or None,
            previous=cached if response.status == 304 else None,
            # A 304 carries the Cache-Control/Expires/Date a 200 would (RFC 9110 15.4.5): freshness restarts.
            fresh_until=fresh_until(
                response.headers, self.now(), self.crawl.max_image_freshness_seconds, received_at=_utcnow()
            ),
        )

    def _resolve_aliases(self) -> None:
        """One page served under two URLs (a directory and its index.html) counts once: the file URL wins."""
        pages = self.result.pages
        first: dict[str, str] = {}
        for url in sorted(pages, key=lambda u: (u.endswith("/"), u)):
            digest = pages[url].content_sha256
            if digest is None:
                continue
            if digest in first:
                alias = pages.pop(url)
                alias.alias_of = first[digest]
                self.result.aliases[url] = alias
            else:
                first[digest] = url

    async def run(self) -> CrawlResult:
        started = self.clock()
        try:
            async with asyncio.timeout(max(0.0, self.deadline - self.clock()) + 1.0):
                await self.load_robots()
                sitemap = await self.sitemap_urls()
                async with asyncio.TaskGroup() as tg:
                    self._tg = tg
                    for url in [*self.roots, *sitemap]:
                        self.schedule_page(url)
                    for link in self.cache.known_pages():
                        # A page unlinked but still served is still published: revalidate it (a 304 each).
                        if self.scope.contains(link):
                            self.schedule_page(link)
        except TimeoutError:
            self.error(self.roots[0] if self.roots else "", "time limit for the site reached", "limit")
        self.result.stats.fresh_skips = sum(1 for image in self.result.images.values() if image.fresh)
        self._resolve_aliases()
        self.result.seconds = self.clock() - started
        return self.result


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~40 ms; one context serves every client of the process (thread-safe once
    # configured), instead of one per site task.
    return httpx.create_ssl_context(trust_env=False)


def make_client(crawl: CrawlSettings) -> httpx.AsyncClient:
    """The HTTP client the crawler uses: no automatic redirects (each hop is checked), bounded timeouts."""
    return httpx.AsyncClient(
        verify=_tls_context(),
        follow_redirects=False,
        timeout=httpx.Timeout(REQUEST_TIMEOUT_SECONDS, connect=10.0),
        headers={
            "User-Agent": crawl.user_agent,
            "Accept": "text/html,application/xhtml+xml,image/*;q=0.9,*/*;q=0.5",
        },
        limits=httpx.Limits(max_connections=max(4, crawl.per_host_concurrency * 4), max_keepalive_connections=20),
        trust_env=False,
    )


async def crawl_site(
    site_id: str,
    roots: Sequence[str],
    crawl: CrawlSettings,
    cache: CrawlCache | None = None,
    *,
    client: httpx.AsyncClient | None = None,
    limiter: HostLimiter | None = None,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = _utcnow,
) -> CrawlResult:
    """Crawl one site from its roots (``settings.site_roots(site)``); never raises for what the web does.

    ``clock`` (monotonic seconds) drives limits and delays; ``now`` (aware UTC) is the wall clock image
    freshness is computed and checked against.
    """
    cache = cache if cache is not None else MemoryCache()
    limiter = limiter or HostLimiter(crawl, clock)
    if not roots:
        return CrawlResult(site_id=site_id, roots=[])
    if client is not None:
        return await _SiteCrawl(site_id, roots, crawl, cache, client, limiter, clock, now).run()
    async with make_client(crawl) as own:
        return await _SiteCrawl(site_id, roots, crawl, cache, own, limiter, clock, now).run()


async def crawl_sites(
    sites: Sequence[tuple[str, Sequence[str]]],
    crawl: CrawlSettings,
    cache_for: Callable[[str], CrawlCache],
    *,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = _utcnow,
) -> dict[str, CrawlResult]:
    """Crawl several sites at once sharing one client and per-host limits (sites on a host share it)."""
    limiter = HostLimiter(crawl, clock)

    async def one(client: httpx.AsyncClient, site_id: str, roots: Sequence[str]) -> CrawlResult:
        try:
            return await crawl_site(
                site_id, roots, crawl, cache_for(site_id), client=client, limiter=limiter, clock=clock, now=now
            )
        except Exception as exc:  # one site's failure must not lose the other sites' crawls
            failed = CrawlResult(site_id=site_id, roots=list(roots), complete=False)
            failed.stats.errors.append(CrawlError(url=",".join(roots), reason=f"crawl failed: {type(exc).__name__}"))
            return failed

    async with make_client(crawl) as client:
        results = await asyncio.gather(*(one(client, site_id, roots) for site_id, roots in sites))
    return {r.site_id: r for r in results}


def crawl_site_sync(
    site_id: str, roots: Sequence[str], crawl: CrawlSettings, cache: CrawlCache | None = None
) -> CrawlResult:
    """:func:`crawl_site` for synchronous callers (a Prefect task, the CLI)."""
    return asyncio.run(crawl_site(site_id, roots, crawl, cache))


# --- remembering and storing --------------------------------------------------------------------------------


def remember_crawl(cache: CrawlCache, result: CrawlResult, evidence: Sequence[ImageEvidence]) -> None:
    """Write what the next crawl needs for conditional requests into ``cache``."""
    by_page: dict[str, list[dict[str, Any]]] = {}
    first_by_image: dict[str, ImageEvidence] = {}
    for ev in evidence:
        by_page.setdefault(ev.page_url, []).append(ev.to_dict())
        first_by_image.setdefault(ev.image_url, ev)
    for url, page in [*result.pages.items(), *result.aliases.items()]:
        cache.put(
            url,
            CacheEntry(
                etag=page.etag,
                last_modified=page.last_modified,
                links=tuple(page.links),
                evidence=tuple(by_page.get(url, ())),
                content_sha256=page.content_sha256,
            ),
        )
    for url in result.gone:
        cache.forget(url)
    for url, image in result.images.items():
        ev = first_by_image.get(url)
        if image.error is None and ev is not None and (image.etag or image.last_modified or image.fresh_until):
            cache.put(
                url,
                CacheEntry(
                    etag=image.etag,
                    last_modified=image.last_modified,
                    photo=photo_record(ev),
                    fresh_until=image.fresh_until,
                ),
            )
        elif image.error is not None and (old := cache.get(url)) is not None and old.fresh_until is not None:
            cache.put(url, replace(old, fresh_until=None))  # failed this time: ask again next time


def _fit(value: str | None, size: int) -> str | None:
    """A validator longer than its column is useless truncated: drop it (the next request is unconditional)."""
    return value if value is not None and len(value) <= size else None


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def store_crawl(
    session: Any, site_id: str, result: CrawlResult, evidence: Sequence[ImageEvidence], now: datetime
) -> dict[str, int]:
    """Upsert the crawl into pages, photos and photo_appearances; mark what disappeared as 'gone'. Idempotent.

    A page is gone when it answered 404/410, or when a complete crawl (no limit hit) did not reach it and it
    did not fail for another reason; a live page's appearances that the page no longer shows are gone.
    Returns counts.
    """
    from sqlalchemy import select

    from compliance.models import Page, Photo, PhotoAppearance, Site

    if session.get(Site, site_id) is None:
        raise ValueError(f"site {site_id!r} is not in the store; sync sites from the profile first")
    counts = {"pages_new": 0, "pages_gone": 0, "photos_new": 0, "appearances_new": 0, "appearances_gone": 0}

    pages: dict[str, Page] = {p.url: p for p in session.scalars(select(Page).where(Page.site_id == site_id)).all()}
    missing = [u for u in [*result.pages, *result.aliases] if u not in pages]
    for chunk in _chunks(missing):
        for p in session.scalars(select(Page).where(Page.url.in_(chunk))).all():
            pages[p.url] = p
    for url, fetched in [*result.pages.items(), *result.aliases.items()]:
        row = pages.get(url)
        if row is None:
            row = Page(url=url, site_id=site_id, first_seen_at=now, last_seen_at=now)
            session.add(row)
            pages[url] = row
            counts["pages_new"] += 1
        row.site_id = site_id
        row.etag = _fit(fetched.etag, 300) or row.etag
        row.last_modified = _fit(fetched.last_modified, 100) or row.last_modified
        if fetched.content_sha256:
            row.content_sha256 = fetched.content_sha256
        links = list(fetched.links)
        if row.links != links:
            row.links = links
        row.status = "alias" if fetched.alias_of else "live"
        row.last_seen_at = now
    session.flush()

    # Photos, one per content hash.
    shas = sorted({e.sha256 for e in evidence if e.sha256})
    photos: dict[str, Photo] = {}
    for chunk in _chunks(shas):
        for photo in session.scalars(select(Photo).where(Photo.sha256.in_(chunk))).all():
            photos[photo.sha256] = photo
    for ev in evidence:
        if not ev.sha256:
            continue
        record = photo_record(ev)
        photo = photos.get(ev.sha256)
        if photo is None:
            photo = Photo(sha256=ev.sha256, first_seen_at=now)
            session.add(photo)
            photos[ev.sha256] = photo
            counts["photos_new"] += 1
        photo.phash = ev.phash or photo.phash
        photo.width = ev.width if ev.width is not None else photo.width
        photo.height = ev.height if ev.height is not None else photo.height
        if record["texts"] or not photo.metadata_text:
            photo.metadata_text = record["texts"]
    session.flush()

    # Appearances of the pages seen in this crawl.
    seen_page_ids = [pages[u].id for u in [*result.pages, *result.aliases]]
    appearances: dict[tuple[int, str], PhotoAppearance] = {}
    for start in range(0, len(seen_page_ids), 500):
        ids = seen_page_ids[start : start + 500]
        for row in session.scalars(select(PhotoAppearance).where(PhotoAppearance.page_id.in_(ids))).all():
            appearances[(row.page_id, row.image_url)] = row
    kept: set[tuple[int, str]] = set()
    for ev in evidence:
        page = pages.get(ev.page_url)
        if page is None or len(ev.image_url) > MAX_URL_LENGTH:
            continue
        key = (page.id, ev.image_url)
        kept.add(key)
        row = appearances.get(key)
        if row is None:
            row = PhotoAppearance(page_id=page.id, image_url=ev.image_url)
            session.add(row)
            appearances[key] = row
            counts["appearances_new"] += 1
        fetched_image = result.images.get(ev.image_url)
        row.photo_id = photos[ev.sha256].id if ev.sha256 else None
        if fetched_image is not None and fetched_image.error is None:
            row.etag = _fit(fetched_image.etag, 300) or row.etag
            row.last_modified = _fit(fetched_image.last_modified, 100) or row.last_modified
            row.fresh_until = fetched_image.fresh_until
        else:
            row.fresh_until = None  # not fetched this time: nothing vouches for it
        row.evidence = ev.to_dict()
        row.status = "live"
        row.last_seen_at = now
    for key, row in appearances.items():
        if key not in kept and row.status != "gone":
            row.status = "gone"
            counts["appearances_gone"] += 1

    # Pages that disappeared, and their appearances.
    gone_pages = [
        page
        for url, page in pages.items()
        if page.site_id == site_id
        and page.status != "gone"
        and url not in result.pages
        and url not in result.aliases
        and (url in result.gone or (result.complete and url not in result.failed))
    ]
    if gone_pages:
        for page in gone_pages:
            page.status = "gone"
            counts["pages_gone"] += 1
        gone_ids = [p.id for p in gone_pages]
        for start in range(0, len(gone_ids), 500):
            rows = session.scalars(
                select(PhotoAppearance).where(
                    PhotoAppearance.page_id.in_(gone_ids[start : start + 500]),
                    PhotoAppearance.status != "gone",
                )
            ).all()
            for row in rows:
                row.status = "gone"
                counts["appearances_gone"] += 1
    session.flush()
    return counts


# --- one call for the nightly job ---------------------------------------------------------------------------


class CrawlStoreError(RuntimeError):
    """Some sites could not be stored; ``summary`` holds the sites that were."""

    def __init__(self, summary: dict[str, dict[str, Any]], failures: list[str]) -> None:
        super().__init__("crawl not stored for " + "; ".join(failures))
        self.summary = summary
        self.failures = failures


def site_targets(settings: Any, site_ids: Iterable[str] | None = None) -> list[tuple[str, list[str]]]:
    """(site id, web roots) for every site that has web roots, or for the given site ids."""
    wanted = set(site_ids) if site_ids is not None else None
    return [
        (site.id, settings.site_roots(site))
        for site in settings.sites
        if site.web_roots and (wanted is None or site.id in wanted)
    ]


async def crawl_and_store_async(
    store: Any, settings: Any, now: datetime, site_ids: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Crawl sites with validators from the store, build evidence, store it; returns counts per site.

    Each site is stored in its own transaction, so one site's failure keeps the others' results; failures
    are raised together afterwards as :class:`CrawlStoreError`.
    """
    from compliance.evidence import build_evidence

    targets = site_targets(settings, site_ids)
    with store.session() as session:
        caches = {site_id: StoreCache(session, site_id) for site_id, _ in targets}
    # Freshness is reckoned at the run's own time, so a replayed or tested night is consistent with itself.
    results = await crawl_sites(targets, settings.crawl, caches.__getitem__, now=lambda: now)
    summary: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    for site_id, result in results.items():
        evidence = build_evidence(result, settings.crawl.max_image_pixels)
        try:
            with store.session() as session:
                counts = store_crawl(session, site_id, result, evidence, now)
        except Exception as exc:
            failures.append(f"{site_id}: {type(exc).__name__}: {exc}"[:300])
            continue
        summary[site_id] = {
            **result.stats.as_dict(),
            **counts,
            "pages": len(result.pages),
            "images": len(result.images),
            "complete": result.complete,
            "seconds": round(result.seconds, 3),
        }
    if failures:
        raise CrawlStoreError(summary, failures)
    return summary


def crawl_and_store(
    store: Any, settings: Any, now: datetime, site_ids: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Synchronous :func:`crawl_and_store_async`, for a Prefect task (one per site or per batch of sites)."""
    return asyncio.run(crawl_and_store_async(store, settings, now, site_ids))
