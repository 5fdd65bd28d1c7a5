"""Where the crawler may go and how fast: canonical URLs, address checks, per-host limits, the HTTP client.

Hosts resolving to loopback or private addresses are refused unless the settings allow them (the demo serves
sample sites on 127.0.0.1); link-local addresses (cloud metadata endpoints) are always refused.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpx

from compliance.photos.freshness import CacheEntry
from compliance.settings import Crawl as CrawlSettings

MAX_REDIRECTS = 5
MAX_URL_LENGTH = 2000  # the store's URL columns are String(2000)
REQUEST_TIMEOUT_SECONDS = 30.0
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")


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
        # robots.txt location -> (parser or None when there is none, why it was unavailable)
        self.robots: dict[str, asyncio.Future[tuple[RobotFileParser | None, str | None]]] = {}
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
class Response:
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


