"""Crawl of the whole standard sample district's websites, checked against its truth file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from compliance.photos.evidence import NO_FETCH_FLAG
from compliance.photos.freshness import MemoryCache
from compliance.photos.results import build_evidence
from compliance.photos.store import remember_crawl
from compliance.photos.traversal import crawl_sites, site_targets
from compliance.settings import load_settings
from emulator.websites import SampleWebsites


@pytest.fixture(scope="module")
def sample() -> Path:
    from compliance.sample import ensure_sample

    path = Path(ensure_sample("standard", 1114))
    if not (path / "sites").is_dir():
        pytest.fail(f"{path}: the sample has no sites/ folder")
    return path


def test_standard_sample_crawl_matches_truth(sample: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DC_PROFILE", str(sample / "profile.toml"))
    truth = json.loads((sample / "truth" / "photos.json").read_text(encoding="utf-8"))["appearances"]
    crawlable = {(a["page"], a["image"]) for a in truth if a["crawlable"]}
    pictures = {(page, image) for page, image in crawlable if image}  # photos and videos; not text mentions
    hidden_pages = {a["page"] for a in truth if not a["crawlable"]}
    assert crawlable and hidden_pages

    with SampleWebsites(sample / "sites") as server:
        settings = load_settings(sites_base_url=server.base_url, crawl={"allow_loopback": True})
        caches: dict[str, MemoryCache] = {}
        results = asyncio.run(
            crawl_sites(site_targets(settings), settings.crawl, lambda s: caches.setdefault(s, MemoryCache()))
        )
        prefix = server.base_url + "/"
        pages = {u.removeprefix(prefix) for r in results.values() for u in r.pages}
        evidence = {s: build_evidence(r, settings.crawl.max_image_pixels) for s, r in results.items()}
        found = {
            (e.page_url.removeprefix(prefix), urlsplit(e.image_url).path.lstrip("/"))
            for site_evidence in evidence.values()
            for e in site_evidence
        }
        assert {page for page, _ in crawlable} <= pages  # PDFs too
        assert pictures <= found
        for page in hidden_pages:
            assert server.hits(path_prefix="/" + page) == 0, page
            assert page not in pages
        assert all(r.complete for r in results.values())
        assert not [e for r in results.values() for e in r.stats.errors if e.kind == "error"]
        # The same photo on several pages is one content hash.
        by_image: dict[str, set[str | None]] = {}
        for site_evidence in evidence.values():
            for e in site_evidence:
                if not e.texts.get(NO_FETCH_FLAG):  # a video player is never fetched
                    by_image.setdefault(e.image_url, set()).add(e.sha256)
        assert all(len(hashes) == 1 and None not in hashes for hashes in by_image.values())

        # Unchanged re-crawl: only 304s for pages; images are fresh (a week) on unchanged pages: not asked for.
        for site_id, result in results.items():
            remember_crawl(caches[site_id], result, evidence[site_id])
        server.reset_counts()
        again = asyncio.run(crawl_sites(site_targets(settings), settings.crawl, caches.__getitem__))
        assert sum(r.stats.image_bodies for r in again.values()) == 0
        full = {path for (_, path, status) in server.counts if status == 200}
        assert full == {"/robots.txt"} | {
            f"/{site}/{name}" for site in again for name in ("robots.txt", "sitemap.xml")
        }
        assert server.hits(path_prefix="/", status=304) == sum(len(r.pages) + len(r.aliases) for r in again.values())
        assert sum(r.stats.fresh_skips for r in again.values()) == sum(len(r.images) for r in again.values()) > 100
        image_urls = {u.removeprefix(server.base_url) for r in again.values() for u in r.images}
        assert not [path for (_, path, _) in server.counts if path in image_urls]
