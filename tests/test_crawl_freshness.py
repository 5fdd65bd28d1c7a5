"""HTTP freshness of images (RFC 9111) in the crawler, against the real local sample web server."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from test_crawl import NOW, _site_row, build_site, jpeg, page

from compliance.models import Page, PhotoAppearance
from compliance.photos.freshness import MemoryCache, fresh_until
from compliance.photos.results import CrawlResult, build_evidence
from compliance.photos.store import StoreCache, remember_crawl, store_crawl
from compliance.photos.traversal import crawl_site
from compliance.settings import Crawl
from emulator.websites import SampleWebsites

WEEK = timedelta(days=7)
# The server's Date has one-second resolution and uvicorn refreshes it about once a second: the age the
# crawler measures from it (and subtracts from a week) is a second or two, more on a loaded machine.
SLACK = timedelta(seconds=5)
IMAGES = {"/school/images/ana-ruiz.jpg", "/school/images/shared.jpg", "/school/images/priya.jpg"}


@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    build_site(tmp_path / "www")
    with SampleWebsites(tmp_path / "www") as sites:
        sitemap = tmp_path / "www" / "school" / "sitemap.xml"
        sitemap.write_text(sitemap.read_text().replace("{base}", sites.base_url))
        yield sites


def crawl_at(sites: SampleWebsites, at: datetime, cache=None, **settings) -> CrawlResult:  # type: ignore[no-untyped-def]
    """One crawl of the fixture site with the wall clock fixed at ``at``; one request at a time (ordered)."""
    options = {"allow_loopback": True, "per_host_concurrency": 1, **settings}
    return asyncio.run(
        crawl_site("school", [f"{sites.base_url}/school/"], Crawl(**options), cache, now=lambda: at)
    )


def image_hits(sites: SampleWebsites, status: int | None = None) -> dict[str, int]:
    return {path: sites.hits(path_prefix=path, status=status) for path in sorted(IMAGES)}


def evidence_key(result: CrawlResult) -> list[tuple]:  # type: ignore[type-arg]
    return sorted(
        (e.page_url, e.image_url, e.sha256, e.width, tuple(sorted(e.texts.items())))
        for e in build_evidence(result, 40_000_000)
    )


def first_crawl(sites: SampleWebsites, at: datetime) -> tuple[MemoryCache, CrawlResult]:
    cache = MemoryCache()
    result = crawl_at(sites, at, cache)
    remember_crawl(cache, result, build_evidence(result, 40_000_000))
    sites.reset_counts()
    return cache, result


# --- the rules, on headers alone ----------------------------------------------------------------------------

T = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def _headers(*pairs: tuple[str, str], date: datetime | None = T) -> httpx.Headers:
    values = [("date", format_datetime(date, usegmt=True))] if date is not None else []
    return httpx.Headers([*values, *pairs])


@pytest.mark.parametrize(
    ("pairs", "date", "expected"),
    [
        ([("cache-control", "public, max-age=3600")], T, timedelta(seconds=3600)),
        ([("Cache-Control", "max-age=\"3600\"")], T, timedelta(seconds=3600)),
        ([("cache-control", "public"), ("cache-control", "max-age=60")], T, timedelta(seconds=60)),
        ([("cache-control", "max-age=60, max-age=9999")], T, timedelta(seconds=60)),  # first occurrence
        ([("cache-control", "max-age=3600"), ("age", "600")], T, timedelta(seconds=3000)),
        ([("cache-control", "max-age=3600")], T - timedelta(seconds=100), timedelta(seconds=3500)),  # old Date
        ([("expires", format_datetime(T + timedelta(hours=2), usegmt=True))], T, timedelta(hours=2)),
        (
            [("cache-control", "max-age=60"), ("expires", format_datetime(T + timedelta(hours=2), usegmt=True))],
            T,
            timedelta(seconds=60),  # max-age wins over Expires
        ),
        ([("cache-control", "max-age=999999999")], T, WEEK),  # capped by the setting
        ([("cache-control", "max-age=0")], T, None),
        ([("cache-control", "no-cache")], T, None),
        ([("cache-control", "no-store, max-age=3600")], T, None),
        ([("cache-control", "max-age=soon")], T, None),
        ([("expires", "0")], T, None),
        ([("expires", format_datetime(T - timedelta(hours=1), usegmt=True))], T, None),
        ([("last-modified", format_datetime(T - timedelta(days=300), usegmt=True))], T, None),  # no heuristics
        ([("cache-control", "max-age=3600"), ("age", "7200")], T, None),
        ([("cache-control", "max-age=3600")], None, timedelta(seconds=3600)),  # no Date: received now
    ],
)
def test_fresh_until_rules(pairs: list[tuple[str, str]], date: datetime | None, expected: timedelta | None) -> None:
    found = fresh_until(_headers(*pairs, date=date), T, int(WEEK.total_seconds()))
    assert found == (None if expected is None else T + expected)


def test_fresh_until_measures_age_on_the_physical_clock() -> None:
    # A replayed night (crawl clock in the past) still gets the full lifetime from a fresh answer...
    headers = _headers(("cache-control", "max-age=3600"))
    replay = T - timedelta(days=30)
    assert fresh_until(headers, replay, 604_800, received_at=T) == replay + timedelta(hours=1)
    # ...and an answer whose Date lies two hours behind our receipt is already stale.
    assert fresh_until(headers, T, 604_800, received_at=T + timedelta(hours=2)) is None


# --- against the server -------------------------------------------------------------------------------------


def test_unchanged_recrawl_makes_no_image_request_while_fresh(server: SampleWebsites) -> None:
    t0 = datetime.now(UTC)
    cache, first = first_crawl(server, t0)
    assert first.stats.image_bodies == 3 and first.stats.fresh_skips == 0
    for image in first.images.values():
        assert image.fresh_until is not None
        assert abs(image.fresh_until - (t0 + WEEK)) <= SLACK

    second = crawl_at(server, t0 + timedelta(days=6), cache)
    assert image_hits(server) == dict.fromkeys(sorted(IMAGES), 0)
    assert second.stats.fresh_skips == 3 and second.stats.image_bodies == 0 and second.stats.page_bodies == 0
    assert second.stats.not_modified == len(second.pages) + len(second.aliases) > 0
    assert evidence_key(second) == evidence_key(first)
    # The skip keeps the original deadline: freshness is not extended without asking the server.
    assert {u: i.fresh_until for u, i in second.images.items()} == {u: i.fresh_until for u, i in first.images.items()}


def test_stale_image_is_revalidated_and_answered_304(server: SampleWebsites) -> None:
    t0 = datetime.now(UTC)
    cache, first = first_crawl(server, t0)
    late = max(i.fresh_until for i in first.images.values() if i.fresh_until) + timedelta(seconds=1)

    second = crawl_at(server, late, cache)
    assert image_hits(server, status=304) == dict.fromkeys(sorted(IMAGES), 1)
    assert second.stats.fresh_skips == 0 and second.stats.image_bodies == 0
    assert evidence_key(second) == evidence_key(first)
    # The 304 repeats Cache-Control: the image is fresh for another week from the revalidation.
    for image in second.images.values():
        assert image.fresh_until is not None and abs(image.fresh_until - (late + WEEK)) <= SLACK
    remember_crawl(cache, second, build_evidence(second, 40_000_000))
    server.reset_counts()
    third = crawl_at(server, late + timedelta(days=1), cache)
    assert third.stats.fresh_skips == 3 and server.hits(path_prefix="/school/images/") == 0


@pytest.mark.parametrize("cache_control", ["max-age=0", "no-cache", "no-store", None])
def test_image_without_freshness_is_always_revalidated(server: SampleWebsites, cache_control: str | None) -> None:
    server.image_cache_control = cache_control
    t0 = datetime.now(UTC)
    cache, first = first_crawl(server, t0)
    assert all(i.fresh_until is None for i in first.images.values())
    second = crawl_at(server, t0 + timedelta(minutes=1), cache)
    assert image_hits(server, status=304) == dict.fromkeys(sorted(IMAGES), 1)
    assert second.stats.fresh_skips == 0 and second.stats.image_bodies == 0


@pytest.mark.parametrize(
    ("changed_page", "revalidated"),
    [
        # b.html is read before a.html (sitemap): shared.jpg is first met on the changed page.
        ("news/b.html", {"/school/images/shared.jpg"}),
        # a.html is read after b.html: shared.jpg was skipped for b.html, then a.html asks for it after all.
        ("news/a.html", {"/school/images/shared.jpg", "/school/images/ana-ruiz.jpg"}),
        ("gallery.html", {"/school/images/priya.jpg"}),
    ],
)
def test_image_on_changed_page_is_revalidated(
    server: SampleWebsites, tmp_path: Path, changed_page: str, revalidated: set[str]
) -> None:
    t0 = datetime.now(UTC)
    cache, first = first_crawl(server, t0)
    path = tmp_path / "www" / "school" / changed_page
    # An edit invisible in the texts (a comment) still changes the file, its ETag and so its answer (200).
    path.write_text(path.read_text().replace("</body>", "<!-- edited --></body>"), encoding="utf-8")

    second = crawl_at(server, t0 + timedelta(hours=1), cache)
    assert image_hits(server, status=304) == {p: int(p in revalidated) for p in sorted(IMAGES)}
    assert server.hits(path_prefix="/school/images/", status=200) == 0
    assert second.stats.fresh_skips == len(IMAGES) - len(revalidated)
    assert second.stats.page_bodies == 1 and second.stats.image_bodies == 0
    assert evidence_key(second) == evidence_key(first)


def test_replaced_image_on_changed_page_is_downloaded(server: SampleWebsites, tmp_path: Path) -> None:
    t0 = datetime.now(UTC)
    cache, _ = first_crawl(server, t0)
    site = tmp_path / "www" / "school"
    (site / "images" / "priya.jpg").write_bytes(jpeg("yellow", (50, 50)))
    gallery = '<ul><li><a data-caption="Priya N."><img data-src="images/priya.jpg" src="data:,"></a></li></ul>'
    (site / "gallery.html").write_text(page(gallery + "<p>New photo.</p>"), encoding="utf-8")
    second = crawl_at(server, t0 + timedelta(hours=1), cache)
    assert second.stats.image_bodies == 1 and second.stats.fresh_skips == 2
    (priya,) = [e for e in build_evidence(second, 40_000_000) if e.image_url.endswith("priya.jpg")]
    assert (priya.width, priya.height) == (50, 50)


@pytest.mark.parametrize(
    "settings",
    [{"revalidate_fresh_images": True}, {"max_image_freshness_seconds": 3600}, {"max_image_freshness_seconds": 0}],
)
def test_settings_force_revalidation(server: SampleWebsites, settings: dict[str, object]) -> None:
    t0 = datetime.now(UTC)
    cache, _ = first_crawl(server, t0)  # fresh for a week
    second = crawl_at(server, t0 + timedelta(minutes=5), cache, **settings)
    assert image_hits(server, status=304) == dict.fromkeys(sorted(IMAGES), 1)
    assert second.stats.fresh_skips == 0
    cap = settings.get("max_image_freshness_seconds")
    for image in second.images.values():
        if cap == 0:
            assert image.fresh_until is None
        elif cap:
            # A lowered cap takes effect at once and bounds the new deadline.
            assert image.fresh_until is not None and image.fresh_until <= t0 + timedelta(minutes=5, seconds=3600)


def test_robots_disallowing_images_wins_over_freshness(server: SampleWebsites, tmp_path: Path) -> None:
    t0 = datetime.now(UTC)
    cache, _ = first_crawl(server, t0)
    robots = tmp_path / "www" / "school" / "robots.txt"
    robots.write_text(robots.read_text() + "Disallow: /school/images/\n")
    second = crawl_at(server, t0 + timedelta(hours=1), cache)
    assert server.hits(path_prefix="/school/images/") == 0 and second.stats.fresh_skips == 0
    assert {e.url.removeprefix(server.base_url) for e in second.stats.errors if e.kind == "robots"} >= IMAGES


def test_store_round_trip_of_freshness_and_links(db_url: str, server: SampleWebsites, tmp_path: Path) -> None:
    from compliance.store import Store

    store = Store(db_url)
    with store.session() as session:
        _site_row(session)
    t0 = datetime.now(UTC)
    with store.session() as session:
        first = crawl_at(server, t0, StoreCache(session, "school"))
        store_crawl(session, "school", first, build_evidence(first, 40_000_000), NOW)

    index_url = f"{server.base_url}/school/index.html"
    with store.session() as session:
        stored = {a.image_url: a.fresh_until for a in session.scalars(select(PhotoAppearance))}
        cdn = stored.pop("https://cdn.example.net/x.jpg")
        assert cdn is None  # never fetched: nothing says it is fresh
        assert {u.removeprefix(server.base_url) for u in stored} == IMAGES
        for value in stored.values():
            assert value is not None and value.utcoffset() == timedelta(0)
            assert abs(value - (t0 + WEEK)) <= SLACK
        links = {p.url: p.links for p in session.scalars(select(Page).where(Page.status != "gone"))}
        assert links[index_url] == first.pages[index_url].links
        assert f"{server.base_url}/school/news/a.html" in links[index_url]
        assert links[f"{server.base_url}/school/news/b.html"] == []

        cache = StoreCache(session, "school")
        assert cache.get(f"{server.base_url}/school/news/b.html").links == ()  # its own links, not every page
        assert cache.get(index_url).links == tuple(links[index_url])
        assert {u: cache.get(u).fresh_until for u in stored} == stored
        assert sorted(cache.known_pages()) == sorted(first.pages)

    server.reset_counts()
    with store.session() as session:
        second = crawl_at(server, t0 + timedelta(days=1), StoreCache(session, "school"))
        assert server.hits(path_prefix="/school/images/") == 0 and second.stats.fresh_skips == 3
        store_crawl(session, "school", second, build_evidence(second, 40_000_000), NOW)
    with store.session() as session:
        again = {a.image_url: a.fresh_until for a in session.scalars(select(PhotoAppearance))}
        assert {u: again[u] for u in stored} == stored  # skipping keeps the deadline

    # Past the deadline: revalidated (304) and fresh for another week from then, persisted.
    late = max(stored.values()) + timedelta(seconds=1)
    server.reset_counts()
    with store.session() as session:
        third = crawl_at(server, late, StoreCache(session, "school"))
        assert image_hits(server, status=304) == dict.fromkeys(sorted(IMAGES), 1)
        store_crawl(session, "school", third, build_evidence(third, 40_000_000), NOW)
    with store.session() as session:
        for url, value in ((a.image_url, a.fresh_until) for a in session.scalars(select(PhotoAppearance))):
            if url in stored:
                assert value is not None and abs(value - (late + WEEK)) <= SLACK

    # The index stops linking the gallery, which is still served: revalidated as a known page, still live;
    # the index's stored links follow the page.
    index = tmp_path / "www" / "school" / "index.html"
    index.write_text(index.read_text().replace('<a href="gallery.html">Gallery</a>', ""), encoding="utf-8")
    server.reset_counts()
    gallery_url = f"{server.base_url}/school/gallery.html"
    with store.session() as session:
        fourth = crawl_at(server, late + timedelta(hours=1), StoreCache(session, "school"))
        assert server.hits(path_prefix="/school/gallery.html", status=304) == 1 and gallery_url in fourth.pages
        store_crawl(session, "school", fourth, build_evidence(fourth, 40_000_000), NOW)
    with store.session() as session:
        rows = {p.url: p for p in session.scalars(select(Page))}
        assert rows[gallery_url].status == "live"
        assert gallery_url not in rows[index_url].links and rows[index_url].links
