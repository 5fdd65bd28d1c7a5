"""Crawler against a real local HTTP server (emulator.websites) serving fixture school sites built here."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from compliance.models import Page, Photo, PhotoAppearance
from compliance.models import Site as SiteRow
from compliance.photos.fetch import normalize_url
from compliance.photos.freshness import MemoryCache
from compliance.photos.results import CrawlResult, build_evidence
from compliance.photos.store import StoreCache, remember_crawl, store_crawl
from compliance.photos.traversal import crawl_site
from compliance.settings import Crawl
from emulator.websites import SampleWebsites

NOW = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def jpeg(color: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def page(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"


def build_site(root: Path) -> Path:
    """A small school site under root/school/ with every case the crawler must handle."""
    site = root / "school"
    (site / "news").mkdir(parents=True)
    (site / "private").mkdir()
    (site / "images").mkdir()
    files = {
        "index.html": page(
            '<a href="news/a.html">A</a> <a href="gallery.html">Gallery</a>'
            ' <a href="private/secret.html">x</a>'
            ' <a href="https://www.facebook.com/school">fb</a> <a href="away.html">away</a>'
            ' <a href="loop1.html">loop</a> <a href="missing.html">gone</a> <a href="handbook.pdf">pdf</a>'
            ' <a href="/elsewhere/page.html">other site on host</a>'
        ),
        "robots.txt": "User-agent: *\nDisallow: /school/private/\n",
        "sitemap.xml": (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            "<url><loc>{base}/school/news/b.html</loc></url>"
            "<url><loc>{base}/school/index.html</loc></url></urlset>"
        ),
        "news/a.html": page(
            '<figure><img src="../images/ana-ruiz.jpg" alt="Ana"><figcaption>Ana Ruiz</figcaption></figure>'
            '<p><img src="../images/shared.jpg" alt="Team"></p>'
            '<img src="https://cdn.example.net/x.jpg" alt="Chloe Tran">'
        ),
        "news/b.html": page('<p>Left to right: Ben, Diego <img src="../images/shared.jpg"></p>'),
        "gallery.html": page(
            '<ul><li><a data-caption="Priya N."><img data-src="images/priya.jpg" src="data:,"></a></li></ul>'
        ),
        "private/secret.html": page('<img src="../images/secret.jpg" alt="Secret">'),
    }
    for name, text in files.items():
        (site / name).write_text(text, encoding="utf-8")
    for name, color in (("ana-ruiz", "red"), ("shared", "green"), ("priya", "blue"), ("secret", "black")):
        (site / "images" / f"{name}.jpg").write_bytes(jpeg(color))
    return site


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    build_site(tmp_path / "www")
    with SampleWebsites(tmp_path / "www") as sites:
        sitemap = tmp_path / "www" / "school" / "sitemap.xml"
        sitemap.write_text(sitemap.read_text().replace("{base}", sites.base_url))
        sites.add_redirect("/school/away.html", "http://other.example.org/school/landing.html")
        sites.add_redirect("/school/loop1.html", f"{sites.base_url}/school/loop2.html")
        sites.add_redirect("/school/loop2.html", f"{sites.base_url}/school/loop1.html")
        yield sites


def crawl(sites: SampleWebsites, cache=None, **settings) -> CrawlResult:  # type: ignore[no-untyped-def]
    options = {"allow_loopback": True, **settings}
    return asyncio.run(crawl_site("school", [f"{sites.base_url}/school/"], Crawl(**options), cache))


def rel(sites: SampleWebsites, url: str) -> str:
    return url.removeprefix(sites.base_url)


def reasons(result: CrawlResult, sites: SampleWebsites) -> dict[str, str]:
    return {rel(sites, e.url): e.reason for e in result.stats.errors}


def test_first_crawl_pages_images_and_refusals(server: SampleWebsites) -> None:
    result = crawl(server)
    pages = {rel(server, u) for u in result.pages}
    assert pages == {
        "/school/index.html",
        "/school/news/a.html",
        "/school/news/b.html",
        "/school/gallery.html",
    }
    # The directory URL serves index.html: one page, recorded once, the other URL kept as its alias.
    assert {rel(server, u) for u in result.aliases} == {"/school/"}
    assert "/school/news/b.html" in pages  # only reachable through sitemap.xml
    images = {rel(server, u) for u, f in result.images.items() if f.body}
    assert images == {"/school/images/ana-ruiz.jpg", "/school/images/shared.jpg", "/school/images/priya.jpg"}
    assert result.stats.image_bodies == 3
    assert server.hits(path_prefix="/school/images/shared.jpg") == 1  # one fetch for two pages

    why = reasons(result, server)
    assert why["/school/private/secret.html"] == "disallowed by robots.txt"
    assert server.hits(path_prefix="/school/private/") == 0
    assert server.hits(path_prefix="/school/images/secret.jpg") == 0
    assert why["https://www.facebook.com/school"] == "link outside the site not followed"
    assert why["/elsewhere/page.html"] == "link outside the site not followed"
    assert server.hits(path_prefix="/elsewhere") == 0
    assert "another host" in why["/school/away.html"]
    assert why["/school/loop1.html"] == "redirect loop"
    assert server.hits(path_prefix="/school/loop") == 2
    assert why["/school/missing.html"] == "HTTP 404"
    # A linked PDF is read like a page (its text names students); this one is not served.
    assert result.gone == {f"{server.base_url}/school/missing.html", f"{server.base_url}/school/handbook.pdf"}
    assert why["https://cdn.example.net/x.jpg"] == "image outside the site not fetched"
    assert server.hits(path_prefix="/school/handbook.pdf") == 1
    assert result.complete

    evidence = build_evidence(result, 40_000_000)
    by_key = {(rel(server, e.page_url), rel(server, e.image_url)): e for e in evidence}
    cdn = by_key[("/school/news/a.html", "https://cdn.example.net/x.jpg")]
    assert cdn.texts["alt"] == "Chloe Tran" and cdn.sha256 is None and cdn.error
    shared_a = by_key[("/school/news/a.html", "/school/images/shared.jpg")]
    shared_b = by_key[("/school/news/b.html", "/school/images/shared.jpg")]
    assert shared_a.sha256 == shared_b.sha256 and shared_a.sha256
    assert "Left to right: Ben, Diego" in shared_b.texts["context"]
    assert by_key[("/school/gallery.html", "/school/images/priya.jpg")].texts["data_caption"] == "Priya N."


def test_recrawl_unchanged_site_downloads_no_image_bodies(server: SampleWebsites) -> None:
    cache = MemoryCache()
    first = crawl(server, cache)
    evidence = build_evidence(first, 40_000_000)
    remember_crawl(cache, first, evidence)
    server.reset_counts()

    second = crawl(server, cache)
    assert second.stats.image_bodies == 0 and second.stats.page_bodies == 0
    # Images are fresh for a week (Cache-Control max-age) and their pages answered 304: not asked for at all.
    assert server.hits(path_prefix="/school/images/") == 0
    assert second.stats.fresh_skips == 3 and all(i.fresh for i in second.images.values())
    assert server.hits(path_prefix="/school/news/", status=304) == 2
    assert set(second.pages) == set(first.pages)
    again = build_evidence(second, 40_000_000)
    assert sorted((e.page_url, e.image_url, e.sha256, tuple(sorted(e.texts.items()))) for e in again) == sorted(
        (e.page_url, e.image_url, e.sha256, tuple(sorted(e.texts.items()))) for e in evidence
    )


def test_changed_image_is_downloaded_again(server: SampleWebsites, tmp_path: Path) -> None:
    server.image_cache_control = "max-age=0"  # always stale: every crawl revalidates images
    cache = MemoryCache()
    first = crawl(server, cache)
    remember_crawl(cache, first, build_evidence(first, 40_000_000))
    (tmp_path / "www" / "school" / "images" / "priya.jpg").write_bytes(jpeg("yellow", (50, 50)))
    second = crawl(server, cache)
    assert second.stats.image_bodies == 1 and second.stats.fresh_skips == 0
    (changed,) = [e for e in build_evidence(second, 40_000_000) if e.image_url.endswith("priya.jpg")]
    assert (changed.width, changed.height) == (50, 50)
    assert changed.texts["data_caption"] == "Priya N."  # page unchanged: its texts come from the cache


def test_loopback_refused_unless_allowed(server: SampleWebsites) -> None:
    result = crawl(server, allow_loopback=False)
    assert result.pages == {} and server.hits() == 0
    assert any(e.reason == "loopback address 127.0.0.1 refused" for e in result.stats.errors)


def test_limits_pages_bytes_and_content_type(server: SampleWebsites) -> None:
    server.add_huge("/school/huge.html", 50_000_000)
    server.add_huge("/school/declared.html", 50_000_000, declare_length=True)
    server.add_response("/school/images/priya.jpg", b"<html>not an image</html>", "text/html")
    index = f"{server.root}/school/index.html"
    Path(index).write_text(
        Path(index).read_text().replace("</body>", '<a href="huge.html">h</a><a href="declared.html">d</a></body>')
    )
    result = crawl(server, max_bytes_per_response=1_000_000)
    why = reasons(result, server)
    assert why["/school/huge.html"] == "response exceeds the limit of 1000000 bytes"
    assert why["/school/declared.html"] == "response of 50000000 bytes exceeds the limit of 1000000"
    assert result.stats.bytes < 3_000_000
    assert why["/school/images/priya.jpg"] == "content-type text/html is not image/"
    assert result.complete

    limited = crawl(server, max_pages_per_site=2)
    assert len(limited.pages) + len(limited.aliases) <= 2
    assert not limited.complete
    assert any(e.kind == "limit" for e in limited.stats.errors)


def test_time_limit_with_injected_clock(server: SampleWebsites) -> None:
    ticks = iter(range(0, 10_000, 7))
    result = asyncio.run(
        crawl_site(
            "school",
            [f"{server.base_url}/school/"],
            Crawl(allow_loopback=True, max_seconds_per_site=30),
            clock=lambda: float(next(ticks)),
        )
    )
    assert not result.complete
    assert any(e.reason == "time limit for the site reached" for e in result.stats.errors)


def test_normalize_url() -> None:
    assert normalize_url("HTTP://Example.ORG:80/a/b.html#x") == "http://example.org/a/b.html"
    assert normalize_url("https://example.org") == "https://example.org/"
    assert normalize_url("https://example.org:8443/?q=1") == "https://example.org:8443/?q=1"


def _site_row(session) -> None:  # type: ignore[no-untyped-def]
    session.add(
        SiteRow(
            id="school", name="School", kind="elementary", org_unit="/S", site_admin_email="a@x.org",
            web_contact_email="w@x.org",
        )
    )  # fmt: skip


def test_store_crawl_idempotent_store_cache_and_gone(db_url: str, server: SampleWebsites, tmp_path: Path) -> None:
    from compliance.store import Store

    store = Store(db_url)
    with store.session() as session:
        _site_row(session)
    with store.session() as session:
        first = crawl(server, StoreCache(session, "school"))
        evidence = build_evidence(first, 40_000_000)
        counts = store_crawl(session, "school", first, evidence, NOW)
        assert counts["pages_new"] == 5 and counts["photos_new"] == 3
    with store.session() as session:
        assert store_crawl(session, "school", first, evidence, NOW)["appearances_new"] == 0  # idempotent
        assert session.scalar(select(func.count()).select_from(Photo)) == 3  # shared.jpg once for two pages
        shared = session.scalars(select(PhotoAppearance).where(PhotoAppearance.image_url.like("%shared.jpg"))).all()
        assert len(shared) == 2 and len({a.photo_id for a in shared}) == 1
        cdn = session.scalars(select(PhotoAppearance).where(PhotoAppearance.image_url.like("%cdn%"))).one()
        assert cdn.photo_id is None and cdn.evidence["texts"]["alt"] == "Chloe Tran"

    server.reset_counts()
    with store.session() as session:
        second = crawl(server, StoreCache(session, "school"))
        assert second.stats.image_bodies == 0
        assert server.hits(path_prefix="/school/images/") == 0  # fresh, on unchanged pages
        assert second.stats.fresh_skips == 3
        store_crawl(session, "school", second, build_evidence(second, 40_000_000), NOW)

    # A page removed from the site: its page and appearances become gone.
    (tmp_path / "www" / "school" / "news" / "b.html").unlink()
    with store.session() as session:
        third = crawl(server, StoreCache(session, "school"))
        counts = store_crawl(session, "school", third, build_evidence(third, 40_000_000), NOW)
        assert counts["pages_gone"] == 1 and counts["appearances_gone"] == 1
        b = session.scalars(select(Page).where(Page.url.like("%/news/b.html"))).one()
        assert b.status == "gone"
        live = session.scalars(select(PhotoAppearance).where(PhotoAppearance.status == "live")).all()
        assert len(live) == 4


@pytest.mark.parametrize(
    ("url", "allow_loopback", "allow_private", "problem"),
    [
        ("http://127.0.0.1:9/x", False, False, "loopback address 127.0.0.1 refused"),
        ("http://127.0.0.1:9/x", True, False, None),
        ("http://localhost:9/x", False, False, "loopback address"),
        ("http://[::1]:9/x", False, False, "loopback address ::1 refused"),
        ("http://[::ffff:127.0.0.1]/x", False, False, "loopback address 127.0.0.1 refused"),
        ("http://10.1.2.3/x", False, False, "private address 10.1.2.3 refused"),
        ("http://192.168.0.10/x", False, True, None),
        (
            "http://169.254.169.254/latest/meta-data/",
            True,
            True,
            "link-local address 169.254.169.254 refused",
        ),
        ("http://0.0.0.0/x", True, True, "address 0.0.0.0 refused"),
        ("http://93.184.215.14/x", False, False, None),
    ],
)
def test_address_checks(url: str, allow_loopback: bool, allow_private: bool, problem: str | None) -> None:
    from compliance.photos.fetch import HostLimiter

    limiter = HostLimiter(Crawl(allow_loopback=allow_loopback, allow_private=allow_private))
    found = asyncio.run(limiter.address_problem(url))
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


def test_crawl_and_store_from_settings(store, server: SampleWebsites) -> None:  # type: ignore[no-untyped-def]
    from compliance.photos.store import crawl_and_store
    from compliance.photos.traversal import site_targets
    from compliance.settings import load_settings

    settings = load_settings(
        sites_base_url=server.base_url,
        crawl={"allow_loopback": True},
        sites=[
            {
                "id": "school", "name": "School", "org_unit": "/S", "site_admin": "a@example.org",
                "web_contact": "w@example.org", "web_roots": ["{sites_base_url}/school/"],
            },
            {"id": "office", "name": "Office", "org_unit": "/O", "site_admin": "a@example.org",
             "web_contact": "w@example.org"},
        ],
    )  # fmt: skip
    assert site_targets(settings) == [("school", [f"{server.base_url}/school/"])]
    with store.session() as session:
        _site_row(session)
    summary = crawl_and_store(store, settings, NOW)
    assert summary["school"]["pages"] == 4 and summary["school"]["image_bodies"] == 3
    again = crawl_and_store(store, settings, NOW)
    assert again["school"]["image_bodies"] == 0 and again["school"]["pages_new"] == 0
    assert again["school"]["not_modified"] == 4 + 1  # the pages and the site's directory URL
    # The same requests as the first night minus the three image fetches.
    assert again["school"]["fresh_skips"] == 3 and again["school"]["requests"] == summary["school"]["requests"] - 3


def test_per_host_delay_and_robots_crawl_delay(server: SampleWebsites, tmp_path: Path) -> None:
    from compliance.photos.fetch import HostLimiter

    robots = tmp_path / "www" / "school" / "robots.txt"
    robots.write_text(robots.read_text() + "Crawl-delay: 3\n")
    now = [0.0]
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    crawl_settings = Crawl(allow_loopback=True, per_host_delay_seconds=0.5, per_host_concurrency=1)
    limiter = HostLimiter(crawl_settings, clock=lambda: now[0], sleep=fake_sleep)
    result = asyncio.run(
        crawl_site("school", [f"{server.base_url}/school/"], crawl_settings, limiter=limiter, clock=lambda: now[0])
    )
    assert result.complete and len(result.pages) == 4
    netloc = server.base_url.removeprefix("http://")
    assert limiter.delays[netloc] == 3.0  # robots.txt asked for more than the setting
    # One request at a time, each one delay apart: total sleep covers every request after the first.
    assert sum(slept) == pytest.approx(0.5 * 2 + 3.0 * (result.stats.requests - 3), abs=0.01)


def test_bomb_image_and_overlong_url_recorded_crawl_goes_on(server: SampleWebsites, tmp_path: Path) -> None:
    import struct

    small = jpeg("white", (16, 16))
    at = small.index(b"\xff\xc0")
    bomb = small[: at + 5] + struct.pack(">HH", 20_000, 20_000) + small[at + 9 :]
    site = tmp_path / "www" / "school"
    (site / "images" / "bomb.jpg").write_bytes(bomb)
    long_link = "news/" + "x" * 2_100 + ".html"
    (site / "gallery.html").write_text(
        page(f'<p><img src="images/bomb.jpg" alt="Ana Ruiz"></p><a href="{long_link}">long</a>'), encoding="utf-8"
    )
    result = crawl(server)
    assert f"{server.base_url}/school/images/bomb.jpg" in result.images
    (ev,) = [e for e in build_evidence(result, 40_000_000) if e.image_url.endswith("bomb.jpg")]
    assert ev.error is not None and "refused" in ev.error
    assert ev.texts["alt"] == "Ana Ruiz" and ev.phash is None
    assert any("longer than 2000" in e.reason for e in result.stats.errors)
    assert len(result.pages) == 4 and result.complete


def test_crawl_and_store_reports_unstored_site(store, server: SampleWebsites) -> None:  # type: ignore[no-untyped-def]
    from compliance.photos.store import CrawlStoreError, crawl_and_store
    from compliance.settings import load_settings

    site = {"name": "S", "org_unit": "/S", "site_admin": "a@example.org", "web_contact": "w@example.org"}
    settings = load_settings(
        sites_base_url=server.base_url,
        crawl={"allow_loopback": True},
        sites=[
            {"id": "school", "web_roots": ["{sites_base_url}/school/"], **site},
            {"id": "unknown", "web_roots": ["{sites_base_url}/unknown/"], **site},
        ],
    )
    with store.session() as session:
        _site_row(session)
    with pytest.raises(CrawlStoreError) as caught:
        crawl_and_store(store, settings, NOW)
    assert list(caught.value.summary) == ["school"]  # the stored site is kept
    assert caught.value.failures[0].startswith("unknown: ValueError")


def test_evidence_to_dict_is_complete_and_round_trips() -> None:
    import dataclasses

    from compliance.photos.evidence import ImageEvidence

    ev = ImageEvidence("p", "i", {"alt": "Ana"}, sha256="s", phash="f", width=1, height=2, error="e")
    assert ev.to_dict() == dataclasses.asdict(ev)  # every field, should one be added
    assert ImageEvidence.from_dict(ev.to_dict()) == ev
    assert ev.to_dict()["texts"] is not ev.texts
