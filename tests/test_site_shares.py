"""Shares of sites for the nightly's crawl tasks, a web host per school, and the consent chunks' shared roster."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

import httpx
import pytest

from compliance.consent import Roster, RosterCache
from compliance.photos.freshness import MemoryCache
from compliance.photos.traversal import crawl_sites, site_shares, site_targets
from compliance.settings import load_settings
from emulator.websites import STATS_PATH, SampleWebsites


def test_sites_on_one_host_share_a_task_so_its_politeness_holds() -> None:
    targets = [
        ("a", ["https://cms.example.org/a/"]),
        ("b", ["https://b.example.org/"]),
        ("c", ["https://cms.example.org/c/"]),
        ("d", ["https://d.example.org/"]),
        ("e", ["https://e.example.org/", "https://cms.example.org/e-news/"]),  # joins the CMS group
        ("f", ["https://f.example.org/"]),
    ]
    shares = site_shares(targets, per_share=2)
    cms = next(share for share in shares if "a" in share)
    assert {"a", "c", "e"} <= set(cms)  # larger than the share size rather than split across tasks
    assert sorted(s for share in shares for s in share) == ["a", "b", "c", "d", "e", "f"]  # each site once
    assert all(len(share) <= 2 for share in shares if share is not cms)


def test_a_site_that_links_two_host_groups_joins_them() -> None:
    targets = [
        ("a", ["https://one.example.org/a/"]),
        ("b", ["https://two.example.org/b/"]),
        ("bridge", ["https://one.example.org/x/", "https://two.example.org/y/"]),
    ]
    assert [sorted(share) for share in site_shares(targets, per_share=1)] == [["a", "b", "bridge"]]


def test_one_host_per_site_each_school_on_its_own_port(tmp_path: Path) -> None:
    for site in ("north-es", "south-ms"):
        (tmp_path / site).mkdir()
        (tmp_path / site / "index.html").write_text(f"<h1>{site}</h1>", encoding="utf-8")
        (tmp_path / site / "robots.txt").write_text(f"User-agent: *\nDisallow: /{site}/private/\n", encoding="utf-8")
    (tmp_path / "robots.txt").write_text("User-agent: *\nDisallow: /north-es/private/\nDisallow: /south-ms/private/\n",
                                         encoding="utf-8")
    with SampleWebsites(tmp_path, host_per_site=True) as web:
        assert set(web.site_urls) == {"north-es", "south-ms"}
        ports = {urlsplit(url).port for url in web.site_urls.values()}
        assert len(ports) == 2 and web.port not in ports
        page = httpx.get(f"{web.site_urls['south-ms']}/south-ms/index.html")
        assert page.text == "<h1>south-ms</h1>"
        stats = httpx.get(f"{web.base_url}{STATS_PATH}").json()
        assert stats["responses"] == 1 and stats["bytes"] == len(page.content)
        # Each school's host has its own robots.txt; the shared address keeps the district's.
        assert httpx.get(f"{web.site_urls['north-es']}/robots.txt").text.count("Disallow") == 1
        assert httpx.get(f"{web.base_url}/robots.txt").text.count("Disallow") == 2


def test_the_standard_sample_crawled_one_host_per_school_finds_what_one_host_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from compliance.sample import ensure_sample

    sample = Path(ensure_sample("standard", 1114))
    monkeypatch.setenv("DC_PROFILE", str(sample / "profile.toml"))
    with SampleWebsites(sample / "sites", host_per_site=True) as web:
        found = {}
        for per_site in (False, True):
            settings = load_settings(
                sites_base_url=web.base_url,
                sites_base_urls=web.site_urls if per_site else {},
                crawl={"allow_loopback": True},
            )
            targets = site_targets(settings)
            assert len(targets) == 5
            results = asyncio.run(crawl_sites(targets, settings.crawl, lambda _: MemoryCache()))
            found[per_site] = {s: {urlsplit(u).path for u in r.pages} for s, r in results.items()}
            if per_site:
                for site_id, result in results.items():
                    assert {urlsplit(u).netloc for u in result.pages} == {urlsplit(web.site_urls[site_id]).netloc}
        assert found[True] == found[False] and all(found[True].values())


class _Row(NamedTuple):  # the columns ``compliance.consent.load_roster`` selects
    student_id: str
    legal_first: str
    legal_last: str
    preferred_first: str
    preferred_last: str
    grade: str
    site_id: str


def test_consent_chunks_share_one_roster_until_the_students_change() -> None:
    rows = [_Row("S1", "Ana", "Ruiz", "", "", "3", "north-es"), _Row("S2", "Ben", "Li", "", "", "4", "north-es")]
    cache = RosterCache()
    first = cache.get(rows)
    assert isinstance(first, Roster) and "S2" in first and cache.get(list(rows)) is first
    renamed = [rows[0], rows[1]._replace(legal_first="Benjamin")]
    assert cache.get(renamed) is not first
