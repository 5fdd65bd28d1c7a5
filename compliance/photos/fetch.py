"""Where the crawler may go and how fast: canonical URLs, address checks, per-host limits, the HTTP client.

Hosts resolving to loopback or private addresses are refused unless the settings allow them (the demo serves
sample sites on 127.0.0.1); link-local addresses (cloud metadata endpoints) are always refused.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import ipaddress
import re
import socket
import ssl
import string
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urldefrag, urlsplit, urlunsplit
from urllib.robotparser import RobotFileParser

import httpcore
import httpx

from compliance.photos.freshness import CacheEntry
from compliance.settings import Crawl as CrawlSettings

MAX_REDIRECTS = 5
MAX_URL_LENGTH = 2000  # the store's URL columns are String(2000)
REQUEST_TIMEOUT_SECONDS = 30.0
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
HTML_TYPES = ("text/html", "application/xhtml+xml")


_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# Cloud metadata services outside link-local space: never a school web page, whatever allow_private says.
_METADATA_ADDRESSES = frozenset({ipaddress.ip_address("100.100.100.200"), ipaddress.ip_address("fd00:ec2::254")})
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _normal_escapes(text: str) -> str:
    """RFC 3986 6.2.2: escapes of unreserved characters decoded ('%7E' -> '~', '%2e' -> '.'), others upper-case."""

    def fix(found: re.Match[str]) -> str:
        char = chr(int(found.group(1), 16))
        return char if char in _UNRESERVED else "%" + found.group(1).upper()

    return _ESCAPE.sub(fix, text)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, after escapes are decoded (so '%2e%2e' is '..' too, as the server will read it)."""
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    joined = "/".join(out)
    return joined if joined.startswith("/") else "/" + joined


@functools.lru_cache(maxsize=65_536)
def normalize_url(url: str) -> str:
    """The one form of a URL that scope, robots.txt, de-duplication and the request all use.

    Lower-case scheme and host, no default port, no fragment, escapes normalised and dot segments removed (so
    ``/site/a/../../outside/`` is checked as ``/outside/``, the path the server will serve), then encoded as
    the HTTP client sends it (spaces and non-ASCII percent-encoded): the client changes nothing after the
    checks. Raises ValueError for what is not a URL (bad port, bad host). Cached: a site's pages name the same
    images and links over and over, and httpx's URL parsing is most of the cost.
    """
    parts = urlsplit(urldefrag(url.strip())[0])
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port  # ValueError when out of range or not a number
    if scheme in ("http", "https") and not host:
        raise ValueError("URL without a host")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    path = _remove_dot_segments(_normal_escapes(parts.path or "/"))
    query = _normal_escapes(parts.query)
    candidate = urlunsplit((scheme, netloc, path, query, ""))
    if scheme not in ("http", "https"):
        return candidate
    try:
        encoded = httpx.URL(candidate)
    except httpx.InvalidURL as exc:
        raise ValueError(str(exc)) from None
    # httpx encodes spaces and non-ASCII; its own rendering keeps ports it considers explicit, so rebuild.
    target = encoded.raw_path.decode("ascii")
    path, _, query = target.partition("?")
    return urlunsplit((scheme, netloc, path or "/", query, ""))


def _address_problem(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, crawl: CrawlSettings) -> str | None:
    """Why a crawler must not connect to ``ip``, or None: only globally reachable addresses, unless the
    settings allow loopback or private ones; link-local and metadata addresses never.

    IPv6 forms that carry an IPv4 address (IPv4-mapped ::ffff:0:0/96, 6to4 2002::/16, Teredo 2001::/32,
    NAT64 64:ff9b::/96) are judged by the address they carry too.
    """
    if ip in _METADATA_ADDRESSES:
        return f"metadata address {ip} refused"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded: list[ipaddress.IPv4Address] = []
        if ip.ipv4_mapped is not None:
            embedded.append(ip.ipv4_mapped)
        if ip.sixtofour is not None:
            embedded.append(ip.sixtofour)
        if ip.teredo is not None:
            embedded.extend(ip.teredo)
        if any(ip in net for net in _NAT64):
            embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
        for inner in embedded:
            problem = _address_problem(inner, crawl)
            if problem:
                return f"{problem} (inside {ip})"
        if ip.ipv4_mapped is not None:
            return None  # judged as the IPv4 address it is
    if ip.is_link_local:
        return f"link-local address {ip} refused"
    if ip.is_loopback:
        return None if crawl.allow_loopback else f"loopback address {ip} refused"
    if ip.is_unspecified or ip.is_multicast:
        return f"address {ip} refused"
    if not ip.is_global:
        # Private, shared (100.64/10), reserved, documentation, benchmarking, ...: not the public web.
        what = "private" if ip.is_private else "non-public"
        return None if crawl.allow_private else f"{what} address {ip} refused"
    return None


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def _system_resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0].split("%", 1)[0] for info in infos))


class AddressBook:
    """Each host is resolved once per run and every address checked; connections go to those addresses.

    Checking one resolution and connecting with another lets a name change its answer in between (DNS
    rebinding); :class:`PinnedBackend` connects to the address recorded here, never resolving again.
    """

    def __init__(self, crawl: CrawlSettings, resolve: Resolver = _system_resolve) -> None:
        self.crawl = crawl
        self.resolve = resolve
        self._entries: dict[str, tuple[str | None, list[str]]] = {}
        self._lock = asyncio.Lock()

    async def check(self, host: str, port: int) -> tuple[str | None, list[str]]:
        """(why the host must not be contacted or None, the addresses to connect to)."""
        host = host.lower().strip("[]")
        if host in self._entries:
            return self._entries[host]
        async with self._lock:
            if host in self._entries:
                return self._entries[host]
            problem: str | None = None
            try:
                addresses = [str(ipaddress.ip_address(host))]
            except ValueError:
                try:
                    addresses = await self.resolve(host, port)
                except (OSError, ValueError) as exc:
                    addresses, problem = [], f"cannot resolve host: {exc}"
                if not addresses and problem is None:
                    problem = "cannot resolve host: no address"
            for address in addresses:
                try:
                    problem = problem or _address_problem(ipaddress.ip_address(address), self.crawl)
                except ValueError:
                    problem = problem or f"resolver gave a bad address {address!r}"
            self._entries[host] = (problem, addresses)
            return self._entries[host]


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """httpcore network backend connecting to the addresses :class:`AddressBook` checked.

    The URL keeps the host name, so the Host header and the TLS server name (SNI, certificate check) are the
    name's; only the TCP connection is made to the recorded address. A host with a problem is refused here
    too, so no path around the check exists.
    """

    def __init__(self, book: AddressBook) -> None:
        self.book = book
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        problem, addresses = await self.book.check(host, port)
        if problem is not None:
            raise httpcore.ConnectError(problem)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error or httpcore.ConnectError("no address to connect to")

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not crawled")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class HostLimiter:
    """Per-host politeness shared by the sites of one run: concurrency, delay, address, robots verdicts."""

    def __init__(
        self,
        crawl: CrawlSettings,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        addresses: AddressBook | None = None,
    ) -> None:
        self.crawl = crawl
        self.clock = clock
        self.sleep = sleep
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._next_at: dict[str, float] = {}
        self.addresses = addresses or AddressBook(crawl)
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
        """Why this URL's host must not be contacted, or None. Resolves names once, checks every address."""
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        problem, _ = await self.addresses.check(parts.hostname or "", port)
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
    def charset(self) -> str | None:
        """The charset the Content-Type header declares, if any (not checked: see :func:`decode_html`)."""
        for part in self.headers.get("content-type", "").split(";")[1:]:
            key, _, value = part.strip().partition("=")
            if key.lower() == "charset" and value:
                return value.strip("\"' ")
        return None


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~40 ms; one context serves every client of the process (thread-safe once
    # configured), instead of one per site task.
    return httpx.create_ssl_context(trust_env=False)


class _PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with its connection pool on :class:`PinnedBackend` (httpx has no resolver option;
    the pool is the documented httpcore one, built as httpx builds it)."""

    def __init__(self, book: AddressBook, limits: httpx.Limits) -> None:
        super().__init__(verify=_tls_context(), trust_env=False, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=_tls_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(book),
        )


def make_client(crawl: CrawlSettings, addresses: AddressBook | None = None) -> httpx.AsyncClient:
    """The HTTP client the crawler uses: no automatic redirects (each hop is checked), bounded timeouts, and
    connections only to the addresses ``addresses`` checked (a new book when none is given)."""
    limits = httpx.Limits(max_connections=max(4, crawl.per_host_concurrency * 4), max_keepalive_connections=20)
    return httpx.AsyncClient(
        transport=_PinnedTransport(addresses or AddressBook(crawl), limits),
        follow_redirects=False,
        timeout=httpx.Timeout(REQUEST_TIMEOUT_SECONDS, connect=10.0),
        headers={
            "User-Agent": crawl.user_agent,
            "Accept": "text/html,application/xhtml+xml,image/*;q=0.9,*/*;q=0.5",
        },
        trust_env=False,
    )


def decode_html(body: bytes, declared: str | None) -> str:
    """The page's text: its declared charset when Python knows it, else what charset-normalizer detects
    (a bogus or unknown charset must not drop the page), else UTF-8 with replacement characters."""
    if declared:
        try:
            codecs.lookup(declared)
        except LookupError:
            pass
        else:
            return body.decode(declared, errors="replace")
    from charset_normalizer import from_bytes

    best = from_bytes(body[:1_000_000]).best()
    if best is not None and best.encoding:
        return body.decode(best.encoding, errors="replace")
    return body.decode("utf-8", errors="replace")
