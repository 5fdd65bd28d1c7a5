"""Drill (issue 19, item 6): the crawler stays in its scope, on public addresses, and in its sitemap budget.

Absolute links with ``..`` (or ``%2e%2e``) used to pass the allowlist and robots.txt on the raw path and be
normalised afterwards by the HTTP client; 100.64/10, 6to4 and NAT64 addresses passed the filter; the address was
checked with one DNS answer and connected with another; a 3,000-child sitemap index was read whole; a bogus
charset dropped the page. Real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

import pytest

from compliance.photos.fetch import AddressBook, HostLimiter, normalize_url
from compliance.photos.traversal import crawl_site
from compliance.settings import Crawl
from emulator.websites import SampleWebsites


def _page(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("HTTP://Example.COM:80/a/./b/../c/%7euser/%2fx?lang=en#frag", "http://example.com/a/c/~user/%2Fx?lang=en"),
        ("https://example.com:443/x", "https://example.com/x"),
        ("https://example.com:8443/x", "https://example.com:8443/x"),
        ("http://example.com/site/a/../../outside/", "http://example.com/outside/"),
        ("http://example.com/site/%2e%2e/private/p.html", "http://example.com/private/p.html"),
        ("http://example.com/site/%2E./x/..", "http://example.com/"),
        ("http://example.com", "http://example.com/"),
        ("http://example.com/a b/é?q=a b", "http://example.com/a%20b/%C3%A9?q=a%20b"),
        ("http://example.com/?lang=en&x=%41", "http://example.com/?lang=en&x=A"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected
    assert normalize_url(expected) == expected  # a fixed point: the client sends what was checked


@pytest.mark.parametrize("url", ["http://example.com:99999/", "http:///nohost", "http://[::1/"])
def test_not_a_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(url)


def _teredo(server: str, client: str) -> str:
    value = (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64)
    value |= int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    return str(ipaddress.IPv6Address(value))


@pytest.mark.parametrize(
    ("host", "allow_private", "problem"),
    [
        ("100.64.0.1", False, "non-public address 100.64.0.1 refused"),
        ("100.100.100.200", True, "metadata address"),  # Alibaba metadata: refused whatever the settings
        ("[fd00:ec2::254]", True, "metadata address"),  # AWS IPv6 metadata
        ("[2002:7f00:1::1]", False, "loopback address 127.0.0.1 refused (inside 2002:7f00:1::1)"),  # 6to4
        ("[2002:a00:1::1]", False, "private address 10.0.0.1 refused"),
        ("[2002:a9fe:a9fe::1]", True, "link-local address 169.254.169.254 refused"),  # 6to4 metadata
        (f"[{_teredo('65.54.227.120', '192.168.1.1')}]", False, "private address 192.168.1.1 refused"),
        ("[64:ff9b::a00:1]", False, "private address 10.0.0.1 refused"),  # NAT64
        ("[64:ff9b::7f00:1]", False, "loopback address 127.0.0.1 refused"),
        ("[64:ff9b::a9fe:a9fe]", True, "link-local address 169.254.169.254 refused"),
        ("[::ffff:a9fe:a9fe]", True, "link-local address 169.254.169.254 refused"),
        ("[::ffff:100.64.1.1]", False, "non-public address 100.64.1.1 refused"),
        ("[fd12::1]", False, "private address fd12::1 refused"),
        ("[2001:db8::1]", False, "private address 2001:db8::1 refused"),  # documentation
        ("198.18.0.1", False, "private address 198.18.0.1 refused"),  # benchmarking
        ("192.0.2.1", False, "private address 192.0.2.1 refused"),  # documentation
        ("240.0.0.1", False, "private address 240.0.0.1 refused"),  # reserved
        ("[64:ff9b::5db8:d70e]", False, None),  # NAT64 of a public address
        ("[2002:5db8:d70e::1]", False, None),  # 6to4 of a public address
        ("93.184.215.14", False, None),
    ],
)
def test_every_non_public_range_is_refused(host: str, allow_private: bool, problem: str | None) -> None:
    limiter = HostLimiter(Crawl(allow_loopback=False, allow_private=allow_private))
    found = asyncio.run(limiter.address_problem(f"http://{host}/x"))
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem), found


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    www = tmp_path / "www"
    (www / "school" / "private").mkdir(parents=True)
    (www / "school" / "news").mkdir()
    (www / "outside").mkdir()
    (www / "school" / "robots.txt").write_text("User-agent: *\nDisallow: /school/private/\n")
    (www / "school" / "private" / "secret.html").write_text(_page("secret"))
    (www / "school" / "news" / "a.html").write_text(_page("news"))
    (www / "outside" / "secret.html").write_text(_page("outside"))
    with SampleWebsites(www) as sites:
        base = sites.base_url
        (www / "school" / "index.html").write_text(
            _page(
                f'<a href="{base}/school/../outside/secret.html">1</a>'
                f'<a href="{base}/school/%2e%2e/outside/secret.html">2</a>'
                f'<a href="{base}/school/news/../private/secret.html">3</a>'
                f'<a href="{base}/school/news/%2E%2E/private/secret.html">4</a>'
                f'<a href="{base.upper().replace("HTTP", "http")}/school/news/./a.html">5</a>'
                '<a href="http://127.0.0.1:99999/school/x.html">6</a>'
            )
        )
        yield sites


def test_dot_segments_are_resolved_before_scope_and_robots(server: SampleWebsites) -> None:
    result = asyncio.run(crawl_site("school", [f"{server.base_url}/school/"], Crawl(allow_loopback=True)))
    assert server.hits(path_prefix="/outside/") == 0
    assert server.hits(path_prefix="/school/private/") == 0
    assert server.hits(path_prefix="/school/news/a.html") == 1  # ./ and host case: one page, fetched once
    why = {e.url.removeprefix(server.base_url): e.reason for e in result.stats.errors}
    assert why["/outside/secret.html"] == "link outside the site not followed"
    assert why["/school/private/secret.html"] == "disallowed by robots.txt"
    assert any(r == "not a valid URL" for r in why.values())
    assert {u.removeprefix(server.base_url) for u in result.pages} == {"/school/", "/school/news/a.html"}


def test_connection_goes_to_the_address_that_was_checked(server: SampleWebsites) -> None:
    """A name answering 127.0.0.1 when checked and the metadata address afterwards (DNS rebinding): the
    crawler resolves it once and connects to the checked address, with the name in the Host header."""
    answers: list[str] = []

    async def rebinding(host: str, port: int) -> list[str]:
        answers.append(host)
        return ["127.0.0.1"] if len(answers) == 1 else ["169.254.169.254"]

    crawl = Crawl(allow_loopback=True)
    limiter = HostLimiter(crawl, addresses=AddressBook(crawl, resolve=rebinding))
    root = f"http://school.test:{server.port}/school/"
    result = asyncio.run(crawl_site("school", [root], crawl, limiter=limiter))
    assert answers == ["school.test"]  # one resolution for the whole crawl
    assert f"http://school.test:{server.port}/school/" in result.pages
    assert server.hits(path_prefix="/school/", status=200) == 2  # robots.txt and the root, over the pinned address

    # A name whose only answer is refused is refused at connect time too, not only by the pre-check.
    async def metadata(host: str, port: int) -> list[str]:
        return ["169.254.169.254"]

    book = AddressBook(crawl, resolve=metadata)
    problem, _ = asyncio.run(book.check("evil.test", 80))
    assert problem == "link-local address 169.254.169.254 refused"


def test_sitemap_fan_out_is_bounded(tmp_path: Path) -> None:
    www = tmp_path / "www"
    (www / "school").mkdir(parents=True)
    (www / "school" / "index.html").write_text(_page('<a href="a.html">a</a>'))
    (www / "school" / "a.html").write_text(_page("a"))
    with SampleWebsites(www) as sites:
        children = "".join(
            f"<sitemap><loc>{sites.base_url}/school/sm-{i}.xml</loc></sitemap>" for i in range(3000)
        )
        (www / "school" / "sitemap.xml").write_text(
            '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            f"{children}</sitemapindex>"
        )
        result = asyncio.run(crawl_site("school", [f"{sites.base_url}/school/"], Crawl(allow_loopback=True)))
        assert sites.hits(path_prefix="/school/sm-") == 49  # the index counts as one of the 50
    assert not result.complete  # pages only a sitemap names may be unread: nothing unseen is gone
    limits = [e.reason for e in result.stats.errors if e.kind == "limit"]
    assert limits == ["sitemap limit reached (50 read, 2951 left unread)"]
    assert {u.removeprefix(sites.base_url) for u in result.pages} == {"/school/", "/school/a.html"}


@pytest.mark.parametrize("charset", ["x-bogus-42", "utf-9", ""])
def test_unknown_charset_falls_back_to_detection(tmp_path: Path, charset: str) -> None:
    www = tmp_path / "www"
    (www / "school").mkdir(parents=True)
    body = _page("<p>Élodie Müller à l'école, café crème et déjà vu, très réussi</p>").encode("latin-1")
    with SampleWebsites(www) as sites:
        ctype = f"text/html; charset={charset}" if charset else "text/html"
        sites.add_response("/school/", body, ctype)
        # Starlette adds its own charset to text/*; send the header exactly as a broken server would.
        sites._hooks["/school/"].raw_headers = [
            (k, v) for k, v in sites._hooks["/school/"].raw_headers if k != b"content-type"
        ] + [(b"content-type", ctype.encode())]
        result = asyncio.run(crawl_site("school", [f"{sites.base_url}/school/"], Crawl(allow_loopback=True)))
    assert result.held is None
    (page,) = result.pages.values()
    assert page.text is not None and "Élodie Müller" in page.text
