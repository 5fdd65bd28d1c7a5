"""Drill (issue 19, item 2): a site that cannot be looked at tonight is held, not taken down.

A robots.txt that answers 5xx/429 (RFC 9309: do not crawl), a root page that answers 503, or a temporary
``Disallow: /`` used to mark every page gone and resolve every finding; when the site came back the findings
restarted as new (first-seen and notified dates reset) and takedown digests went out again. Real store
(SQLite), real HTTP server on 127.0.0.1, real matching and consent rule.
"""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
import pytest
from PIL import Image
from sqlalchemy import select

from compliance.models import Finding, Page, PhotoAppearance
from compliance.models import Site as SiteRow
from compliance.photos.findings import apply_judgements, judge_all, live_appearances, match_appearances
from compliance.photos.matching import StudentName, build_index
from compliance.photos.results import build_evidence
from compliance.photos.store import StoreCache, held_line, held_sites, store_crawl
from compliance.photos.traversal import crawl_site
from compliance.settings import Crawl
from emulator.websites import SampleWebsites

NIGHT1 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
STUDENTS = [
    StudentName("S-1", "Ana", "Ruiz", site_id="school"),
    StudentName("S-2", "Ben", "Okafor", site_id="school"),
]


def _jpeg(color: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (300, 200), color).save(out, "JPEG")
    return out.getvalue()


def _page(body: str) -> str:
    return f"<!doctype html><html><head><title>t</title></head><body>{body}</body></html>"


@pytest.fixture
def site(tmp_path: Path):  # type: ignore[no-untyped-def]
    root = tmp_path / "www" / "school"
    (root / "images").mkdir(parents=True)
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /school/private/\n")
    (root / "index.html").write_text(_page('<a href="news.html">News</a> <a href="team.html">Team</a>'))
    figure = '<figure><img src="images/{}.jpg"><figcaption>{}</figcaption></figure>'
    (root / "news.html").write_text(_page(figure.format("ana", "Ana Ruiz")))
    (root / "team.html").write_text(_page(figure.format("ben", "Ben Okafor")))
    (root / "images" / "ana.jpg").write_bytes(_jpeg("red"))
    (root / "images" / "ben.jpg").write_bytes(_jpeg("blue"))
    with SampleWebsites(tmp_path / "www") as sites:
        yield sites


def night(store, sites: SampleWebsites, at: datetime) -> dict[str, object]:  # type: ignore[no-untyped-def]
    """One night's crawl, store and reconcile of the site, as the nightly tasks do it (no consent on file)."""
    with store.session() as session:
        cache = StoreCache(session, "school")
        result = asyncio.run(crawl_site("school", [f"{sites.base_url}/school/"], Crawl(allow_loopback=True), cache))
        counts = store_crawl(session, "school", result, build_evidence(result, 40_000_000), at)
    with store.session() as session:
        matched, _ = match_appearances(live_appearances(session, "school"), build_index(STUDENTS))
        reconciled = apply_judgements(session, "school", judge_all(matched, {}, at.date()), at)
    return {"held": result.held, "pages_gone": counts["pages_gone"], "resolved": reconciled.resolved,
            "new": reconciled.new}  # fmt: skip


def findings(store) -> dict[str, tuple[str, datetime, datetime | None]]:  # type: ignore[no-untyped-def]
    with store.session() as session:
        return {
            f.student_id: (f.state, f.first_seen_at.replace(tzinfo=UTC), f.notified_at)
            for f in session.scalars(select(Finding).where(Finding.verdict == "violation"))
        }


def _break_robots_503(sites: SampleWebsites, root: Path) -> None:
    sites.add_response("/robots.txt", b"down for maintenance", "text/plain", status=503)


def _break_robots_429(sites: SampleWebsites, root: Path) -> None:
    sites.add_response("/school/robots.txt", b"slow down", "text/plain", status=429)


def _break_root_503(sites: SampleWebsites, root: Path) -> None:
    sites.add_response("/school/", b"<html>maintenance</html>", "text/html", status=503)


def _disallow_all(sites: SampleWebsites, root: Path) -> None:
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /\n")


def _repair(sites: SampleWebsites, root: Path) -> None:
    for path in ("/robots.txt", "/school/robots.txt", "/school/"):
        sites.remove_hook(path)
    (root / "robots.txt").write_text("User-agent: *\nDisallow: /school/private/\n")


@pytest.mark.parametrize(
    ("breakage", "reason"),
    [
        (_break_robots_503, "robots.txt HTTP 503"),
        (_break_robots_429, "robots.txt HTTP 429"),
        (_break_root_503, "root page HTTP 503"),
        (_disallow_all, "root page disallowed by robots.txt"),
    ],
)
def test_unavailable_site_is_held_and_keeps_its_findings(
    store, site: SampleWebsites, tmp_path: Path, breakage, reason: str  # type: ignore[no-untyped-def]
) -> None:
    with store.session() as s:
        s.add(SiteRow(id="school", name="School", kind="elementary", org_unit="/", site_admin_email="a@x.org",
                      web_contact_email="w@x.org"))  # fmt: skip
    first = night(store, site, NIGHT1)
    assert first["new"] == 2 and first["held"] is None
    notified = NIGHT1 + timedelta(hours=1)  # the takedown digest of night 1 went out
    with store.session() as s:
        for f in s.scalars(select(Finding)):
            f.notified_at = notified
    before = findings(store)
    assert {k: v[0] for k, v in before.items()} == {"S-1": "new", "S-2": "new"}

    root = tmp_path / "www" / "school"
    breakage(site, root)
    site.reset_counts()
    second = night(store, site, NIGHT1 + timedelta(days=1))
    assert second["held"] == reason
    assert second["pages_gone"] == 0 and second["resolved"] == 0
    assert site.hits(path_prefix="/school/news") == 0  # a held site is not crawled further
    with store.session() as s:
        assert {p.status for p in s.scalars(select(Page))} <= {"live", "alias"}
        assert {a.status for a in s.scalars(select(PhotoAppearance))} == {"live"}
        since, why = held_sites(s)["school"]
        assert why == reason and since == NIGHT1 + timedelta(days=1)
    assert {k: (v[0], v[1], v[2]) for k, v in findings(store).items()} == {
        k: ("open", first_seen, n) for k, (_, first_seen, n) in before.items()
    }

    # The report's Data Quality says the site is held and since when; the summary says it in one sentence.
    from compliance.report import collect_report_data, write_workbook
    from compliance.settings import load_settings

    with store.session() as s:
        data = collect_report_data(s, NIGHT1 + timedelta(days=2), load_settings())
    path = write_workbook(data, tmp_path / "r.xlsx", district_name="D", generated_at=NIGHT1 + timedelta(days=2))
    cells = [str(c.value) for row in openpyxl.load_workbook(path)["Data Quality"].iter_rows() for c in row]
    assert any(c.startswith(f"school: {reason}; pages keep their last known state") for c in cells)
    assert any("could not be checked since 2026-11-21" in n for n in data.notes)

    # A second held night keeps the first night of the hold.
    night(store, site, NIGHT1 + timedelta(days=2))
    with store.session() as s:
        assert held_sites(s)["school"][0] == NIGHT1 + timedelta(days=1)

    # Back online: the same findings, still open, first seen and notified on night 1: no new digest.
    _repair(site, root)
    third = night(store, site, NIGHT1 + timedelta(days=3))
    assert third["held"] is None and third["new"] == 0 and third["resolved"] == 0
    assert findings(store) == {k: ("open", first_seen, n) for k, (_, first_seen, n) in before.items()}
    with store.session() as s:
        assert held_sites(s) == {}

    # Only a fetched 404 (or the image gone from a fetched page) resolves: the team page is deleted.
    (root / "team.html").unlink()
    fourth = night(store, site, NIGHT1 + timedelta(days=4))
    assert fourth["resolved"] == 1
    assert {k: v[0] for k, v in findings(store).items()} == {"S-1": "open", "S-2": "resolved"}


def test_page_that_fails_to_fetch_is_not_taken_down(store, site: SampleWebsites) -> None:  # type: ignore[no-untyped-def]
    with store.session() as s:
        s.add(SiteRow(id="school", name="School", kind="elementary", org_unit="/", site_admin_email="a@x.org",
                      web_contact_email="w@x.org"))  # fmt: skip
    night(store, site, NIGHT1)
    site.add_response("/school/team.html", b"oops", "text/html", status=500)
    second = night(store, site, NIGHT1 + timedelta(days=1))
    assert second["held"] is None and second["resolved"] == 0 and second["pages_gone"] == 0
    # Robots.txt newly keeping the crawler from one page is not a takedown either.
    site.remove_hook("/school/team.html")
    (site.root / "school" / "robots.txt").write_text("User-agent: *\nDisallow: /school/team.html\n")
    third = night(store, site, NIGHT1 + timedelta(days=2))
    assert third["resolved"] == 0 and third["pages_gone"] == 0
    assert {k: v[0] for k, v in findings(store).items()} == {"S-1": "open", "S-2": "open"}


def test_held_line_names_sites_and_reasons_only() -> None:
    line = held_line(
        {
            "lincoln-es": {"held": "robots.txt HTTP 503", "held_since": "2026-11-21T09:00:00+00:00"},
            "adams-ms": {"held": None},
            "park-hs": {"held": "root page ConnectTimeout: timed out", "held_since": "2026-11-19T09:00:00+00:00"},
        }
    )
    assert line == (
        "2 sites held, pages keep their last known state: lincoln-es since 2026-11-21 (robots.txt HTTP 503); "
        "park-hs since 2026-11-19 (root page ConnectTimeout: timed out)"
    )
    assert held_line({"adams-ms": {"held": None}}) is None
