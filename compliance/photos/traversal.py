"""Polite, bounded crawl of school websites: finds every page and photo a site publishes.

Per site it starts from the site's web roots (``settings.site_roots(site)``), reads robots.txt and
sitemap.xml, then follows links, staying inside the site's allowlist: the scheme, host and path prefix of
one of its roots. Redirects are followed by hand (at most five, loops detected) so a redirect to another
host is refused like a link to it; every hop is checked against the addresses :mod:`compliance.photos.fetch`
allows. Conditional requests and image freshness come from :mod:`compliance.photos.freshness`; every page
known from the last crawl is revalidated, linked or not: a page still served is still published.

Errors (timeouts, HTTP errors, refusals, limits) are recorded with their URL in the result; they never stop
the crawl.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from compliance.photos.evidence import (
    MAX_RESOURCES_PER_PAGE,
    METADATA_KEYS,
    NO_FETCH_FLAG,
    ImageRef,
    ParseBudgetExceeded,
    folder_listing,
    parse_page,
    pdf_text,
    resource_images,
)
from compliance.photos.fetch import (
    HTML_TYPES,
    MAX_REDIRECTS,
    MAX_URL_LENGTH,
    REDIRECT_CODES,
    HostLimiter,
    Response,
    decode_html,
    make_client,
    normalize_url,
)
from compliance.photos.freshness import CacheEntry, CrawlCache, MemoryCache, fresh_until, utcnow
from compliance.photos.results import CrawlError, CrawlResult, ErrorKind, ImageFetch, PageFetch
from compliance.settings import Crawl as CrawlSettings

if TYPE_CHECKING:
    from compliance.settings import Settings

# Links to these are documents or media, never pages with photos in HTML; skipping them saves a request each.
_NOT_PAGES = frozenset(
    {
        "jpg", "jpeg", "png", "gif", "webp", "svg", "bmp", "tif", "tiff", "heic", "ico", "pdf", "doc", "docx",
        "xls", "xlsx", "ppt", "pptx", "zip", "mp3", "mp4", "mov", "avi", "webm", "css", "js", "xml", "txt",
    }
)  # fmt: skip
# What each kind of request must answer with; anything else is refused before its body is read.
_WANTED_TYPES: dict[str, tuple[str, ...]] = {
    "page": HTML_TYPES,
    "image": ("image/",),
    "pdf": ("application/pdf", "application/x-pdf", "application/octet-stream"),
    "stylesheet": ("text/css",),
    "manifest": ("application/json", "text/json", "application/ld+json", "text/plain", "application/manifest+json"),
    "captions": ("text/vtt", "text/plain", "application/x-subrip", "text/srt"),
    "script": ("application/javascript", "text/javascript", "application/x-javascript", "application/ecmascript",
               "text/plain"),
}
MAX_RESOURCES_PER_SITE = 60  # stylesheets, JSON manifests, caption tracks and scripts read per site


def is_pdf(url: str) -> bool:
    return urlsplit(url).path.lower().endswith(".pdf")


def _normal_or_none(url: str) -> str | None:
    try:
        return normalize_url(url)
    except ValueError:
        return None


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
        asset_hosts: Iterable[str] = (),
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
        # While the roots are probed, the pages and images they lead to wait here (dropped if the site is held).
        self._deferred: list[tuple[str, Callable[[str], Awaitable[None]]]] | None = None
        self._roots_reached: set[str] = set()
        self._root_failures: list[str] = []
        # Image hosts the site's profile allows (a CDN, Google Drive): its photos are fetched from there, under
        # the same limits and that host's own robots.txt; nothing else is fetched from them.
        self.asset_hosts = frozenset(h.strip().lower() for h in asset_hosts if h.strip())
        self._resources: dict[tuple[str, str], asyncio.Future[bytes | None]] = {}
        self._folders: set[str] = set()  # folders above pages, asked for once each (see ``folder``)

    def on_asset_host(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and (parts.hostname or "") in self.asset_hosts

    # -- bookkeeping
    def error(self, url: str, reason: str, kind: ErrorKind = "error") -> None:
        if (url, reason) in self._reported:
            return
        self._reported.add((url, reason))
        self.result.stats.errors.append(CrawlError(url=url, reason=reason, kind=kind))
        if kind == "limit":
            self.result.complete = False

    def hold(self, reason: str) -> None:
        """The site could not be looked at tonight: nothing of it may count as gone (see ``CrawlResult.held``)."""
        self.result.held = reason
        self.result.complete = False

    def allowed_by_robots(self, url: str) -> bool:
        agent = self.crawl.user_agent
        return all(rp.can_fetch(agent, url) for rp in self._parsers)

    # -- HTTP
    async def fetch(
        self,
        url: str,
        kind: Literal["page", "image", "robots", "sitemap", "pdf", "stylesheet", "manifest", "captions", "script"],
        use_cache: bool = True,
        quiet_statuses: frozenset[int] = frozenset(),
    ) -> Response:
        """GET with redirects followed by hand; every hop is checked against scope, addresses and robots."""
        origin = urlsplit(url)
        chain: list[str] = []
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            if kind == "robots":
                parts = urlsplit(current)
                inside = (parts.scheme, parts.netloc) == (origin.scheme, origin.netloc)
            else:
                inside = self.scope.contains(current) or (kind == "image" and self.on_asset_host(current))
            if not inside:
                why = "redirect to another host or outside the site refused" if chain else "outside the site"
                self.error(current if not chain else url, why, "refused")
                return Response(current, 0, httpx.Headers(), None, error=why)
            problem = await self.limiter.address_problem(current)
            if problem:
                self.error(current, problem, "refused")
                return Response(current, 0, httpx.Headers(), None, error=problem)
            if kind not in ("robots", "sitemap") and not await self.robots_allow(current):
                self.error(current, "disallowed by robots.txt", "robots")
                return Response(current, 0, httpx.Headers(), None, error="disallowed by robots.txt")
            if self.clock() > self.deadline:
                self.error(current, "time limit for the site reached", "limit")
                return Response(current, 0, httpx.Headers(), None, error="time limit")
            entry = self.cache.get(current) if use_cache else None
            headers: dict[str, str] = {}
            if entry is not None:
                if entry.etag:
                    headers["If-None-Match"] = entry.etag
                if entry.last_modified:
                    headers["If-Modified-Since"] = entry.last_modified
            response = await self._request(current, kind, headers)
            response.entry = entry
            if response.status in REDIRECT_CODES and response.error is None:
                location = response.headers.get("location")
                if not location:
                    reason = f"HTTP {response.status} without Location"
                    self.error(current, reason)
                    return Response(current, response.status, response.headers, None, error=reason)
                chain.append(current)
                try:
                    current = normalize_url(urljoin(current, location))
                except ValueError:
                    self.error(current, "redirect to an invalid URL")
                    return Response(current, 0, httpx.Headers(), None, error="redirect to an invalid URL")
                if current in chain:
                    self.error(url, "redirect loop", "error")
                    return Response(current, 0, httpx.Headers(), None, error="redirect loop")
                continue
            if response.error is None and response.status not in (200, 304):
                response.error = f"HTTP {response.status}"
                if response.status not in quiet_statuses:
                    self.error(current, response.error)
            elif response.error is not None:
                self.error(current, response.error)
            return response
        self.error(url, f"more than {MAX_REDIRECTS} redirects")
        return Response(current, 0, httpx.Headers(), None, error="too many redirects")

    async def _request(self, url: str, kind: str, headers: dict[str, str]) -> Response:
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
                        return Response(url, status, resp_headers, None)
                    stats.ok += 1
                    result = Response(url, status, resp_headers, None)
                    wanted = _WANTED_TYPES.get(kind)
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
                    elif kind in ("page", "pdf"):
                        stats.page_bodies += 1
                    return result
            except httpx.HTTPError as exc:
                return Response(url, 0, httpx.Headers(), None, error=f"{type(exc).__name__}: {exc}"[:300])

    async def robots_allow(self, url: str) -> bool:
        """The site's robots.txt rules for its own URLs; an asset host's URL answers to that host's robots.txt."""
        if self.scope.contains(url) or not self.on_asset_host(url):
            return self.allowed_by_robots(url)
        parts = urlsplit(url)
        location = urlunsplit((parts.scheme, parts.netloc, "/robots.txt", "", ""))
        if location not in self.limiter.robots:
            self.limiter.robots[location] = asyncio.ensure_future(self._read_robots(location, True))
        parser, unavailable = await self.limiter.robots[location]
        if unavailable is not None:
            return False  # the asset host's robots.txt could not be read: its photos wait for a later night
        return parser is None or parser.can_fetch(self.crawl.user_agent, url)

    async def resource(self, kind: str, url: str) -> bytes | None:
        """A same-site stylesheet, JSON manifest, captions track or script, read once per site (bounded)."""
        key = (kind, normalize_url(url))
        if key not in self._resources:
            if not self.scope.contains(key[1]) or len(self._resources) >= MAX_RESOURCES_PER_SITE:
                return None  # a CDN's stylesheet or a third party's JSON shows no photo of this site

            async def read() -> bytes | None:
                response = await self.fetch(key[1], kind)  # type: ignore[arg-type]
                self.result.stats.resources += response.body is not None
                return response.body if response.error is None and response.status == 200 else None

            self._resources[key] = asyncio.ensure_future(read())
        return await self._resources[key]

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
            parser, unavailable = await self.limiter.robots[location]
            if unavailable is not None and self.result.held is None:
                self.hold(f"robots.txt {unavailable}")
            if parser is not None:
                self._parsers.append(parser)
                delay = parser.crawl_delay(self.crawl.user_agent)
                if delay:
                    netloc = urlsplit(location).netloc
                    # A site may ask for a delay, but not for one that would stop the nightly crawl.
                    self.limiter.delays[netloc] = min(float(delay), 10.0)

    async def _read_robots(self, location: str, host_level: bool) -> tuple[RobotFileParser | None, str | None]:
        """The parsed robots.txt (None: none, everything allowed) and why it was unavailable, if it was.

        RFC 9309 2.3.1.3-4: a server error (5xx, and 429 as Google reads it) or a network failure on robots.txt
        means "do not crawl", not "the pages are gone": the site is held.
        """
        parser = RobotFileParser(location)
        kind: Literal["robots", "sitemap"] = "robots" if host_level else "sitemap"
        quiet = frozenset(s for s in range(400, 500) if s != 429)
        response = await self.fetch(location, kind, use_cache=False, quiet_statuses=quiet)
        if response.status == 200 and response.body is not None:
            parser.parse(response.body.decode("utf-8", errors="replace").splitlines())
            return parser, None
        if response.status in (401, 403):
            parser.disallow_all = True
            return parser, None
        if 400 <= response.status < 500 and response.status != 429:
            return None, None  # no robots.txt: everything allowed
        # Server error or network failure: do not guess that crawling is welcome, nor that pages went away.
        parser.disallow_all = True
        return parser, response.error or f"HTTP {response.status}"

    async def sitemap_urls(self) -> list[str]:
        """Page URLs the site's sitemaps list, reading at most ``max_sitemaps_per_site`` sitemaps and at most a
        quarter of the site's time: an index naming thousands of sitemaps must leave time for the pages."""
        candidates = [urljoin(root, "sitemap.xml") for root in self.roots]
        for parser in self._parsers:
            candidates.extend(parser.site_maps() or [])
        found: list[str] = []
        done: set[str] = set()
        queue = [u for u in map(_normal_or_none, candidates) if u]
        depth = 0
        budget = self.crawl.max_sitemaps_per_site
        stop_at = self.clock() + self.crawl.max_seconds_per_site / 4
        while queue and depth < 3:
            next_queue: list[str] = []
            for location in dict.fromkeys(queue):
                if location in done or not self.scope.contains(location):
                    continue
                if len(done) >= budget or self.clock() > stop_at:
                    left = len(set(queue) - done) + len(set(next_queue) - done)
                    why = f"sitemap limit reached ({len(done)} read, {left} left unread)"
                    self.error(location, why, "limit")
                    return found
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
            url
            for el in root.iter()
            if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] == "loc" and (el.text or "").strip()
            if (url := _normal_or_none(urljoin(location, (el.text or "").strip())))
        ]
        if root.tag.rsplit("}", 1)[-1] == "sitemapindex":
            return [], locs
        return locs, []

    # -- scheduling
    def schedule_page(self, url: str, from_page: str | None = None) -> None:
        raw = url
        try:
            url = normalize_url(url)
        except ValueError:
            self.error(raw[:MAX_URL_LENGTH], "not a valid URL", "refused")
            return
        if url in self._seen_pages:
            return
        self._seen_pages.add(url)
        if len(url) > MAX_URL_LENGTH:
            self.error(url[:MAX_URL_LENGTH], f"URL longer than {MAX_URL_LENGTH} characters not followed", "refused")
            return
        if urlsplit(url).scheme not in ("http", "https"):
            return
        pdf = is_pdf(url)
        if pdf:
            self.result.stats.pdfs_found += 1
        elif urlsplit(url).path.rsplit(".", 1)[-1].lower() in _NOT_PAGES and "." in urlsplit(url).path:
            return
        self.result.stats.pages_found += 1
        if not self.scope.contains(url):
            self.error(url, "PDF outside the site not read" if pdf else "link outside the site not followed", "refused")
            return
        if not self.allowed_by_robots(url):
            self.error(url, "disallowed by robots.txt", "robots")
            if url in self.roots:
                self._root_failures.append("disallowed by robots.txt")
            # Not looked at is not taken down: a page robots.txt keeps us from keeps its last known state.
            self.result.failed.add(url)
            return
        if self._page_budget <= 0:
            self.error(url, f"page limit of {self.crawl.max_pages_per_site} reached", "limit")
            return
        self._page_budget -= 1
        self._start(url, self.page)

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
        raw = url
        try:
            url = normalize_url(url)
        except ValueError:
            self.result.refused[raw] = "not a valid URL"
            self.error(raw[:MAX_URL_LENGTH], "not a valid URL", "refused")
            return
        if url in self._seen_images:
            if not page_unchanged and url in self._fresh_skipped:
                # A changed page shows it too: its HTML may point at a replaced file under the same URL.
                self._fresh_skipped.discard(url)
                self._start(url, self.image)
            return
        self._seen_images.add(url)
        self.result.stats.images_found += 1
        if len(url) > MAX_URL_LENGTH:
            reason = f"image URL longer than {MAX_URL_LENGTH} characters not fetched"
            self.result.refused[url] = reason
            self.error(url[:MAX_URL_LENGTH], reason, "refused")
            return
        if not self.scope.contains(url) and not self.on_asset_host(url):
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
        self._start(url, self.image)

    def _start(self, url: str, job: Callable[[str], Awaitable[None]]) -> None:
        """Run ``job(url)`` in the crawl's task group, or keep it for later while the roots are being probed."""
        if self._deferred is not None and not (job == self.page and url in self.roots):
            self._deferred.append((url, job))
            return
        assert self._tg is not None
        self._tg.create_task(self._guard(url, job(url)))

    async def _guard(self, url: str, job: Any) -> None:
        try:
            await job
        except Exception as exc:  # a bug on one URL must not end the crawl of the site
            self.error(url, f"crawler error: {type(exc).__name__}: {exc}"[:300])
            self.result.failed.add(url)

    async def page(self, url: str) -> None:
        response = await self.fetch(url, "pdf" if is_pdf(url) else "page")
        if url in self.roots and (response.error is None or response.status in (404, 410)):
            self._roots_reached.add(url)
        elif url in self.roots:
            self._root_failures.append(response.error or f"HTTP {response.status}")
        if response.error is not None:
            if response.status in (404, 410):
                self.result.gone.add(url)
            else:  # a server error, timeout or refusal says nothing about whether the page is still published
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
                text=entry.text,
            )
        elif response.body is not None and is_pdf(url):
            # A newsletter or flyer: its text per page is where students are named (name findings).
            text, problem = await asyncio.to_thread(pdf_text, response.body)
            if problem:
                self.error(final, problem)
            self.result.stats.pdfs_read += problem is None
            fetched = _fresh_fetch(final, response, html=None, links=[], images=[], text=text)
        elif response.body is not None:
            html = decode_html(response.body, response.charset)
            entries = folder_listing(html, final)
            if entries is not None:  # a folder listing linked as a page: its entries, not its text
                self._follow_listing(entries, final)
                return
            # Off the event loop (the other sites' crawls go on) and within a budget the parser checks, capped
            # by what is left of the site's time: no page can hold the crawl past its limit.
            budget = max(0.0, min(self.crawl.max_parse_seconds_per_page, self.deadline - self.clock()))
            try:
                parsed = await asyncio.to_thread(parse_page, html, final, max_seconds=budget)
            except ParseBudgetExceeded as exc:
                self.error(final, f"page not read: {exc}")
                self.result.failed.add(url)
                return
            images, links = parsed.images, parsed.links
            resources = parsed.resources
            # Two rounds at most: the page's own resources, then the manifests its scripts load.
            for _round in range(2):
                if not resources:
                    break
                bodies = await asyncio.gather(*(self.resource(kind, u) for kind, u in resources))
                images, more, resources = resource_images(
                    html, final, images, dict(zip(resources, bodies, strict=True))
                )
                links = links + [u for u in more if u not in links]
                resources = resources[:MAX_RESOURCES_PER_PAGE]
            fetched = _fresh_fetch(final, response, html=html, links=links, images=images, text=parsed.text)
        else:
            self.error(url, f"unexpected HTTP {response.status}")
            self.result.failed.add(url)
            return
        self.result.pages[final] = fetched
        self.schedule_folders(final)
        for ref in fetched.images:
            if ref.texts.get(NO_FETCH_FLAG):
                continue  # a video file or a player page: its title and poster are the evidence
            self.schedule_image(ref.image_url, fetched.unchanged)
        for link in fetched.links:
            self.schedule_page(link, final)

    def schedule_folders(self, page_url: str) -> None:
        """The folders above a page, inside the site (``/site/news/`` and ``/site/`` for
        ``/site/news/a.html``), asked for once each: see ``folder``."""
        parts = urlsplit(page_url)
        path = parts.path
        while path.rstrip("/"):
            path = path[: path.rstrip("/").rfind("/") + 1]
            url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))
            if not self.scope.contains(url):
                break
            self._probe_folder(url)

    def _probe_folder(self, url: str) -> None:
        if url in self._folders or url in self._seen_pages or len(url) > MAX_URL_LENGTH:
            return
        self._folders.add(url)
        # A folder robots.txt keeps us from, or past the page limit, is simply not asked for: no page lost.
        if not self.allowed_by_robots(url) or self._page_budget <= 0:
            return
        self._page_budget -= 1
        self._start(url, self.folder)

    async def folder(self, url: str) -> None:
        """A folder some page sits in: when the server lists it (autoindex), the pages in it are published
        even if no link leads to them (a script that drew the site's navigation is gone); anything else the
        folder answers (its index page, 403, 404) is left alone, quietly: the folder was never linked."""
        response = await self.fetch(url, "page", quiet_statuses=frozenset({401, 403, 404, 405, 410}))
        if response.error is not None or response.body is None:
            return
        entries = folder_listing(decode_html(response.body, response.charset), response.url)
        if entries is not None:
            self._follow_listing(entries, response.url)

    def _follow_listing(self, entries: list[str], listing_url: str) -> None:
        for entry in entries:
            if entry.endswith("/"):
                self._probe_folder(entry)
            elif not entry.lower().endswith(".json"):  # a manifest is read through the page that loads it
                self.schedule_page(entry, listing_url)

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
                response.headers, self.now(), self.crawl.max_image_freshness_seconds, received_at=utcnow()
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
                if self.result.held is None:
                    await self._probe_roots()
                if self.result.held is None:
                    sitemap = await self.sitemap_urls()
                    async with asyncio.TaskGroup() as tg:
                        self._tg = tg
                        deferred, self._deferred = self._deferred or [], None
                        for url, job in deferred:
                            self._start(url, job)
                        for url in sitemap:
                            self.schedule_page(url)
                        for link in self.cache.known_pages():
                            # A page unlinked but still served is still published: revalidate it (a 304 each).
                            if self.scope.contains(link):
                                self.schedule_page(link)
        except TimeoutError:
            self.error(self.roots[0] if self.roots else "", "time limit for the site reached", "limit")
        self.result.stats.fresh_skips = sum(1 for image in self.result.images.values() if image.fresh)
        self.result.stats.videos = sum(
            1 for page in self.result.pages.values() for ref in page.images if ref.texts.get("_kind") == "video"
        )
        self._resolve_aliases()
        self.result.seconds = self.clock() - started
        return self.result

    async def _probe_roots(self) -> None:
        """Fetch the roots first: when none answers (5xx, timeout, refused, disallowed) the site is held and
        nothing else is asked for; a 404/410 root is an answer (the site's pages are then judged one by one)."""
        self._deferred = []
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            for url in self.roots:
                self.schedule_page(url)
        self._tg = None
        if self.roots and not self._roots_reached:
            self.hold(f"root page {self._root_failures[0] if self._root_failures else 'not reached'}")
            self._deferred = None


def _fresh_fetch(
    url: str, response: Response, *, html: str | None, links: list[str], images: list[ImageRef], text: str
) -> PageFetch:
    """A page (or PDF) fetched with a body tonight, with the validators a later crawl revalidates it by."""
    assert response.body is not None
    return PageFetch(
        url=url,
        status=200,
        unchanged=False,
        html=html,
        etag=response.headers.get("etag"),
        last_modified=response.headers.get("last-modified"),
        content_sha256=hashlib.sha256(response.body).hexdigest(),
        links=links,
        images=images,
        text=text,
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
    now: Callable[[], datetime] = utcnow,
    asset_hosts: Iterable[str] = (),
) -> CrawlResult:
    """Crawl one site from its roots (``settings.site_roots(site)``); never raises for what the web does.

    ``asset_hosts`` are the image hosts the site's profile allows photos to be fetched from.

    ``clock`` (monotonic seconds) drives limits and delays; ``now`` (aware UTC) is the wall clock image
    freshness is computed and checked against.
    """
    cache = cache if cache is not None else MemoryCache()
    limiter = limiter or HostLimiter(crawl, clock)
    if not roots:
        return CrawlResult(site_id=site_id, roots=[])
    if client is not None:
        return await _SiteCrawl(site_id, roots, crawl, cache, client, limiter, clock, now, asset_hosts).run()
    async with make_client(crawl, limiter.addresses) as own:
        return await _SiteCrawl(site_id, roots, crawl, cache, own, limiter, clock, now, asset_hosts).run()


async def crawl_sites(
    sites: Sequence[tuple[str, Sequence[str]]],
    crawl: CrawlSettings,
    cache_for: Callable[[str], CrawlCache],
    *,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = utcnow,
    asset_hosts: Mapping[str, Iterable[str]] | None = None,
    on_crawled: Callable[[CrawlResult], Awaitable[None]] | None = None,
) -> dict[str, CrawlResult]:
    """Crawl several sites at once sharing per-host limits (sites on a host share them);
    ``asset_hosts`` maps a site id to the image hosts its profile allows.

    ``on_crawled`` is awaited with each site's result as soon as that site is done, while it still holds its
    place among the ``crawl.concurrent_sites`` (what it keeps in memory counts against the bound).
    """
    limiter = HostLimiter(crawl, clock)
    # Sites crawled at once: each holds its host's connections and its pages' evidence in memory.
    at_once = asyncio.Semaphore(max(1, crawl.concurrent_sites))

    async def one(site_id: str, roots: Sequence[str]) -> CrawlResult:
        async with at_once:
            try:
                # A client (connection pool) per site: one pool for many hosts closes one host's idle
                # connections to open another's and scans all of them for every request.
                result = await crawl_site(
                    site_id, roots, crawl, cache_for(site_id), limiter=limiter, clock=clock,
                    now=now, asset_hosts=(asset_hosts or {}).get(site_id, ()),
                )
            except Exception as exc:  # one site's failure must not lose the other sites' crawls
                result = CrawlResult(site_id=site_id, roots=list(roots), complete=False)
                result.held = f"crawl failed: {type(exc).__name__}"
                result.stats.errors.append(
                    CrawlError(url=",".join(roots), reason=f"crawl failed: {type(exc).__name__}")
                )
            if on_crawled is not None:
                await on_crawled(result)
            return result

    results = await asyncio.gather(*(one(site_id, roots) for site_id, roots in sites))
    return {r.site_id: r for r in results}


def site_shares(targets: Sequence[tuple[str, Sequence[str]]], per_share: int) -> list[list[str]]:
    """The sites cut into shares of about ``per_share``, for one crawl task each; sites on one host share one.

    Per-host politeness (concurrency, delay, robots.txt) lives in the crawl of one share: two schools under the
    same web host crawled by two tasks at once would each take the host's whole allowance. So sites whose roots
    name a common host stay together, even when that makes one share larger (a district on one CMS host is one
    share, crawled politely, however many schools it has).
    """
    owner: dict[str, int] = {}  # host -> group
    groups: list[list[str]] = []
    for site_id, roots in targets:
        hosts = {urlsplit(root).netloc.lower() for root in roots}
        found = sorted({owner[h] for h in hosts if h in owner})
        if not found:
            groups.append([site_id])
            index = len(groups) - 1
        else:
            index = found[0]
            groups[index].append(site_id)
            for other in found[1:]:  # this site joins hosts that were apart: one group from now on
                groups[index] += groups[other]
                groups[other] = []
                owner.update({h: index for h, g in owner.items() if g == other})
        owner.update({h: index for h in hosts})
    shares: list[list[str]] = []
    for group in filter(None, groups):
        if shares and len(shares[-1]) + len(group) <= max(1, per_share):
            shares[-1] += group
        else:
            shares.append(list(group))
    return shares


def site_targets(settings: Settings, site_ids: Iterable[str] | None = None) -> list[tuple[str, list[str]]]:
    """(site id, web roots) for every site that has web roots, or for the given site ids."""
    wanted = set(site_ids) if site_ids is not None else None
    return [
        (site.id, settings.site_roots(site))
        for site in settings.sites
        if site.web_roots and (wanted is None or site.id in wanted)
    ]


