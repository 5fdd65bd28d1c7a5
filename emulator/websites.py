"""A local static web server for the sample school websites (demo, tests and benchmarks).

Starlette's StaticFiles gives every file an ETag and a Last-Modified header and answers conditional requests
(If-None-Match / If-Modified-Since) with 304, the behaviour of a real school web host that the crawler's
"unchanged site costs only 304s" relies on. Like school CMSs and CDNs, images are sent with
``Cache-Control: public, max-age=604800`` (a week) and HTML with ``Cache-Control: no-cache`` (always
revalidate); both are attributes tests may change while the server runs. Uvicorn runs in a background thread
on a free port of 127.0.0.1.

Test-only hooks add redirect routes (to another host, or in a loop) and huge streamed responses, and a request
counter keyed by (method, path, status) lets tests assert what the crawler actually asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.staticfiles import NotModifiedResponse, StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

IMAGE_CACHE_CONTROL = "public, max-age=604800"
# Requests and bytes served so far, as JSON, for a benchmark whose server runs in another process.
STATS_PATH = "/_sample-websites/stats"
PAGE_CACHE_CONTROL = "no-cache"


class _CachingStaticFiles(StaticFiles):
    """StaticFiles adding the owner's Cache-Control by media type, on 200s and on 304s alike."""

    def __init__(self, owner: SampleWebsites, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.owner = owner

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = FileResponse(full_path, status_code=status_code, stat_result=stat_result)
        media_type = response.media_type or ""
        if media_type.startswith("image/"):
            cache_control = self.owner.image_cache_control
        elif media_type.startswith("text/html"):
            cache_control = self.owner.page_cache_control
        else:
            cache_control = None
        if cache_control:
            response.headers["cache-control"] = cache_control
        # A 304 repeats the Cache-Control of the 200 (RFC 9110 15.4.5); NotModifiedResponse copies it.
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class _Recorder:
    """ASGI middleware: serves test hook routes first; counts every response by (method, path, status)."""

    def __init__(self, app: ASGIApp, owner: SampleWebsites) -> None:
        self.app = app
        self.owner = owner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if path == STATS_PATH:
            await JSONResponse(self.owner.stats())(scope, receive, send)
            return

        async def counting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                with self.owner._lock:
                    self.owner.counts[(method, path, int(message["status"]))] += 1
            elif message["type"] == "http.response.body":
                with self.owner._lock:
                    self.owner.bytes_sent += len(message.get("body", b""))
            await send(message)

        site = self.owner._site_by_port.get((scope.get("server") or ("", 0))[1])
        if site is not None and path == "/robots.txt" and (self.owner.root / site / "robots.txt").is_file():
            # A school's own host answers with that school's robots.txt, not the whole district's.
            scope = {**scope, "path": f"/{site}/robots.txt", "raw_path": f"/{site}/robots.txt".encode()}
        hook = self.owner._hooks.get(path)
        target = hook if hook is not None else self.app
        await target(scope, receive, counting_send)


class SampleWebsites:
    """Serve ``root`` over plain HTTP on 127.0.0.1; use as a context manager.

    ``base_url`` is ``http://127.0.0.1:PORT`` (no trailing slash): a file ``root/lincoln-es/index.html`` is
    ``{base_url}/lincoln-es/index.html``, so ``base_url`` is what the profile's ``sites_base_url`` should be.

    ``host_per_site`` also listens on one more port for each site folder of ``root``: ``site_urls`` maps the
    folder to its own ``http://127.0.0.1:PORT``, a host of its own for the crawler's per-host politeness, as
    when every school of a large district has its own web host (settings ``sites_base_urls``); such a port
    answers ``/robots.txt`` with the school's own ``<site>/robots.txt``.
    """

    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        *,
        image_cache_control: str | None = IMAGE_CACHE_CONTROL,
        page_cache_control: str | None = PAGE_CACHE_CONTROL,
        host_per_site: bool = False,
    ) -> None:
        self.root = Path(root)
        self.host_per_site = host_per_site
        self.site_urls: dict[str, str] = {}
        self._site_by_port: dict[int, str] = {}
        self.host = host
        self.image_cache_control = image_cache_control
        self.page_cache_control = page_cache_control
        self.counts: Counter[tuple[str, str, int]] = Counter()
        self.bytes_sent = 0
        self._lock = threading.Lock()
        self._hooks: dict[str, ASGIApp] = {}
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sockets: list[socket.socket] = []
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # -- test hooks ---------------------------------------------------------------------------------------
    def add_redirect(self, path: str, location: str, status: int = 302) -> None:
        """Answer ``path`` with a redirect to ``location`` (absolute, e.g. another host, or another path)."""
        self._hooks[path] = RedirectResponse(location, status_code=status)

    def add_huge(self, path: str, size: int, content_type: str = "text/html", *, declare_length: bool = False) -> None:
        """Answer ``path`` with ``size`` bytes streamed in chunks (never held in memory at once).

        ``declare_length`` sends a Content-Length header; without it the body is chunked, so a client must
        count bytes itself to stop early.
        """
        chunk = (b"<p>" + b"x" * 65_530 + b"</p>")[:65_536]

        async def body() -> AsyncIterator[bytes]:
            left = size
            while left > 0:
                piece = chunk[: min(left, len(chunk))]
                left -= len(piece)
                yield piece

        headers = {"content-length": str(size)} if declare_length else None

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await StreamingResponse(body(), media_type=content_type, headers=headers)(scope, receive, send)

        self._hooks[path] = app

    def add_response(self, path: str, content: bytes, content_type: str, status: int = 200) -> None:
        """Answer ``path`` with fixed content (e.g. an HTML page served as an image type)."""
        self._hooks[path] = Response(content, status_code=status, media_type=content_type)

    def remove_hook(self, path: str) -> None:
        """Serve ``path`` from the files again (undo add_redirect / add_huge / add_response)."""
        self._hooks.pop(path, None)

    def hits(self, *, path_prefix: str = "", status: int | None = None, method: str | None = None) -> int:
        """Number of responses whose path starts with ``path_prefix`` (and status/method, if given)."""
        with self._lock:
            return sum(
                n
                for (m, p, s), n in self.counts.items()
                if p.startswith(path_prefix) and (status is None or s == status) and (method is None or m == method)
            )

    def reset_counts(self) -> None:
        with self._lock:
            self.counts.clear()
            self.bytes_sent = 0

    def stats(self) -> dict[str, object]:
        """Responses so far by status and method, and the body bytes sent (also served at ``STATS_PATH``)."""
        with self._lock:
            by_status: Counter[str] = Counter()
            for (method, _, status), n in self.counts.items():
                by_status[f"{method} {status}"] += n
            return {"responses": sum(self.counts.values()), "bytes": self.bytes_sent, "by_status": dict(by_status)}

    # -- lifecycle ----------------------------------------------------------------------------------------
    def _app(self) -> ASGIApp:
        app = Starlette()
        app.mount("/", _CachingStaticFiles(self, directory=self.root, html=True, check_dir=True))
        return _Recorder(app, self)

    def _listen(self) -> socket.socket:
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP, and
        # without it every 200 response waits ~40 ms for a delayed ACK (Nagle) between headers and body.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._sockets.append(sock)
        return sock

    def __enter__(self) -> SampleWebsites:
        self.port = self._listen().getsockname()[1]
        if self.host_per_site:
            folders = sorted(p.name for p in self.root.iterdir() if p.is_dir() and (p / "index.html").is_file())
            for folder in folders:
                port = self._listen().getsockname()[1]
                self.site_urls[folder] = f"http://{self.host}:{port}"
                self._site_by_port[port] = folder
        config = uvicorn.Config(self._app(), log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": self._sockets}, name="sample-websites", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("sample websites server did not start")
            time.sleep(0.005)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the server and wait for its thread."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        self._server = self._thread = None

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"SampleWebsites(root={self.root!s}, base_url={self.base_url})"


def main(argv: list[str] | None = None) -> None:
    """``python -m emulator.websites ROOT [--host-per-site]``: serve ROOT, print the base URL on one line
    (and with ``--host-per-site`` the JSON of ``site_urls`` on the next), run until stopped.

    A separate process gives benchmarks a server that does not share the crawler's interpreter lock.
    """
    import argparse
    import signal

    parser = argparse.ArgumentParser(description="Serve the sample school websites on 127.0.0.1")
    parser.add_argument("root", type=Path)
    parser.add_argument("--host-per-site", action="store_true", help="also one port for each site folder")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with SampleWebsites(args.root, host_per_site=args.host_per_site) as sites:
        print(sites.base_url, flush=True)
        if args.host_per_site:
            print(json.dumps(sites.site_urls), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()


if __name__ == "__main__":
    main()
