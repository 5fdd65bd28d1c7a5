"""The crawl and the store: the cache a crawl reads from the store tables, and the crawl persisted to them.

:class:`StoreCache` reads validators and remembered content from pages, photo_appearances and photos;
:func:`store_crawl` writes a crawl there (idempotent); :func:`crawl_and_store` is the nightly job's one call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.models import Page, Photo, PhotoAppearance, Site, SyncState
from compliance.photos.evidence import ImageEvidence, photo_record
from compliance.photos.fetch import MAX_URL_LENGTH
from compliance.photos.freshness import CacheEntry, CrawlCache
from compliance.photos.results import CrawlResult, build_evidence, coverage
from compliance.photos.traversal import crawl_sites, site_targets

if TYPE_CHECKING:
    from compliance.settings import Settings
    from compliance.store import Store


HELD_KEY_PREFIX = "crawl-held:"


def record_held(session: Session, site_id: str, held: str | None, now: datetime) -> datetime | None:
    """Remember that a site is held (since when, why) or that it is not any more; returns since when it is held.

    The first night of a hold is kept while it lasts, so the report can say how long pages have gone unchecked.
    """
    key = HELD_KEY_PREFIX + site_id
    row = session.get(SyncState, key)
    if held is None:
        if row is not None:
            session.delete(row)
        return None
    since = now
    if row is not None:
        since = datetime.fromisoformat(json.loads(row.value)["since"])
        row.value = json.dumps({"since": since.isoformat(), "reason": held})
    else:
        session.add(SyncState(key=key, value=json.dumps({"since": now.isoformat(), "reason": held})))
    return since


def held_sites(session: Session) -> dict[str, tuple[datetime, str]]:
    """Sites whose last crawl was held: site id -> (held since, why)."""
    found: dict[str, tuple[datetime, str]] = {}
    for row in session.scalars(select(SyncState).where(SyncState.key.startswith(HELD_KEY_PREFIX))):
        data = json.loads(row.value)
        found[row.key.removeprefix(HELD_KEY_PREFIX)] = (datetime.fromisoformat(data["since"]), str(data["reason"]))
    return found


def held_line(summaries: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The one line a run prints about held sites ("2 sites held, pages keep their last known state: ..."), or
    None when every site was crawled. Site ids and reasons only (no URL: a path can carry a name)."""
    held = sorted((site, s) for site, s in summaries.items() if s.get("held"))
    if not held:
        return None
    parts = [f"{site} since {s.get('held_since', '?')[:10]} ({s['held']})" for site, s in held]
    plural = "site" if len(held) == 1 else "sites"
    return f"{len(held)} {plural} held, pages keep their last known state: " + "; ".join(parts)


class StoreCache:
    """A cache read from the store for one site: Page validators and links, live PhotoAppearance rows (image
    validators, freshness) and their Photo.

    An image shown on several pages has one appearance per page; its validators come from one of them and
    its freshness is the earliest ``fresh_until`` of them (the conservative choice if they ever differ).
    ``put`` keeps changes in memory only; :func:`store_crawl` is what persists a crawl.
    """

    def __init__(self, session: Session, site_id: str) -> None:
        self.entries: dict[str, CacheEntry] = {}
        pages = session.scalars(select(Page).where(Page.site_id == site_id, Page.status.in_(("live", "alias")))).all()
        self.live_pages = [p.url for p in pages if p.status == "live"]
        evidence_by_page: dict[int, list[dict[str, Any]]] = {p.id: [] for p in pages}
        rows = session.execute(
            select(PhotoAppearance, Photo)
            .join(Page, Page.id == PhotoAppearance.page_id)
            .outerjoin(Photo, Photo.id == PhotoAppearance.photo_id)
            .where(Page.site_id == site_id, Page.status == "live", PhotoAppearance.status == "live")
        ).all()
        for appearance, photo in rows:
            evidence_by_page[appearance.page_id].append(appearance.evidence or {})
            if photo is None:
                continue
            known = self.entries.get(appearance.image_url)
            if known is not None:
                if known.fresh_until is not None and (
                    appearance.fresh_until is None or appearance.fresh_until < known.fresh_until
                ):
                    self.entries[appearance.image_url] = replace(known, fresh_until=appearance.fresh_until)
                continue
            self.entries[appearance.image_url] = CacheEntry(
                etag=appearance.etag,
                last_modified=appearance.last_modified,
                photo={
                    "sha256": photo.sha256,
                    "phash": photo.phash,
                    "width": photo.width,
                    "height": photo.height,
                    "texts": dict(photo.metadata_text or {}),
                    "error": (appearance.evidence or {}).get("error"),
                },
                fresh_until=appearance.fresh_until,
            )
        for page in pages:
            self.entries[page.url] = CacheEntry(
                etag=page.etag,
                last_modified=page.last_modified,
                links=tuple(page.links or ()),
                text=page.text,
                evidence=tuple(evidence_by_page[page.id]),
                content_sha256=page.content_sha256,
            )

    def get(self, url: str) -> CacheEntry | None:
        return self.entries.get(url)

    def put(self, url: str, entry: CacheEntry) -> None:
        self.entries[url] = entry

    def forget(self, url: str) -> None:
        self.entries.pop(url, None)
        if url in self.live_pages:
            self.live_pages.remove(url)

    def known_pages(self) -> list[str]:
        return list(self.live_pages)


def remember_crawl(cache: CrawlCache, result: CrawlResult, evidence: Sequence[ImageEvidence]) -> None:
    """Write what the next crawl needs for conditional requests into ``cache``."""
    by_page: dict[str, list[dict[str, Any]]] = {}
    first_by_image: dict[str, ImageEvidence] = {}
    for ev in evidence:
        by_page.setdefault(ev.page_url, []).append(ev.to_dict())
        first_by_image.setdefault(ev.image_url, ev)
    for url, page in [*result.pages.items(), *result.aliases.items()]:
        cache.put(
            url,
            CacheEntry(
                etag=page.etag,
                last_modified=page.last_modified,
                links=tuple(page.links),
                text=page.text,
                evidence=tuple(by_page.get(url, ())),
                content_sha256=page.content_sha256,
            ),
        )
    for url in result.gone:
        cache.forget(url)
    for url, image in result.images.items():
        ev = first_by_image.get(url)
        if image.error is None and ev is not None and (image.etag or image.last_modified or image.fresh_until):
            cache.put(
                url,
                CacheEntry(
                    etag=image.etag,
                    last_modified=image.last_modified,
                    photo=photo_record(ev),
                    fresh_until=image.fresh_until,
                ),
            )
        elif image.error is not None and (old := cache.get(url)) is not None and old.fresh_until is not None:
            cache.put(url, replace(old, fresh_until=None))  # failed this time: ask again next time


def _fit(value: str | None, size: int) -> str | None:
    """A validator longer than its column is useless truncated: drop it (the next request is unconditional)."""
    return value if value is not None and len(value) <= size else None


def _chunks(values: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def store_crawl(
    session: Session, site_id: str, result: CrawlResult, evidence: Sequence[ImageEvidence], now: datetime
) -> dict[str, int]:
    """Upsert the crawl into pages, photos and photo_appearances; mark what disappeared as 'gone'. Idempotent.

    A page is gone when it answered 404/410, or when a complete crawl (no limit hit) did not reach it and it
    did not fail for another reason; a live page's appearances that the page no longer shows are gone. A held
    crawl (robots.txt or the roots unavailable) changes no page: a site that is down has not taken anything down.
    Returns counts.
    """
    if session.get(Site, site_id) is None:
        raise ValueError(f"site {site_id!r} is not in the store; sync sites from the profile first")
    counts = {"pages_new": 0, "pages_gone": 0, "photos_new": 0, "appearances_new": 0, "appearances_gone": 0}
    record_held(session, site_id, result.held, now)
    if result.held is not None:
        session.flush()
        return counts

    pages: dict[str, Page] = {p.url: p for p in session.scalars(select(Page).where(Page.site_id == site_id)).all()}
    missing = [u for u in [*result.pages, *result.aliases] if u not in pages]
    for chunk in _chunks(missing):
        for p in session.scalars(select(Page).where(Page.url.in_(chunk))).all():
            pages[p.url] = p
    for url, fetched in [*result.pages.items(), *result.aliases.items()]:
        row = pages.get(url)
        if row is None:
            row = Page(url=url, site_id=site_id, first_seen_at=now, last_seen_at=now)
            session.add(row)
            pages[url] = row
            counts["pages_new"] += 1
        row.site_id = site_id
        row.etag = _fit(fetched.etag, 300) or row.etag
        row.last_modified = _fit(fetched.last_modified, 100) or row.last_modified
        if fetched.content_sha256:
            row.content_sha256 = fetched.content_sha256
        links = list(fetched.links)
        if row.links != links:
            row.links = links
        if fetched.text is not None and row.text != fetched.text:
            row.text = fetched.text
        row.status = "alias" if fetched.alias_of else "live"
        row.last_seen_at = now
    session.flush()

    # Photos, one per content hash.
    shas = sorted({e.sha256 for e in evidence if e.sha256})
    photos: dict[str, Photo] = {}
    for chunk in _chunks(shas):
        for photo in session.scalars(select(Photo).where(Photo.sha256.in_(chunk))).all():
            photos[photo.sha256] = photo
    for ev in evidence:
        if not ev.sha256:
            continue
        record = photo_record(ev)
        photo = photos.get(ev.sha256)
        if photo is None:
            photo = Photo(sha256=ev.sha256, first_seen_at=now)
            session.add(photo)
            photos[ev.sha256] = photo
            counts["photos_new"] += 1
        photo.phash = ev.phash or photo.phash
        photo.width = ev.width if ev.width is not None else photo.width
        photo.height = ev.height if ev.height is not None else photo.height
        if record["texts"] or not photo.metadata_text:
            photo.metadata_text = record["texts"]
    session.flush()

    # Appearances of the pages seen in this crawl.
    seen_page_ids = [pages[u].id for u in [*result.pages, *result.aliases]]
    appearances: dict[tuple[int, str], PhotoAppearance] = {}
    for start in range(0, len(seen_page_ids), 500):
        ids = seen_page_ids[start : start + 500]
        for row in session.scalars(select(PhotoAppearance).where(PhotoAppearance.page_id.in_(ids))).all():
            appearances[(row.page_id, row.image_url)] = row
    kept: set[tuple[int, str]] = set()
    for ev in evidence:
        page = pages.get(ev.page_url)
        if page is None or len(ev.image_url) > MAX_URL_LENGTH:
            continue
        key = (page.id, ev.image_url)
        kept.add(key)
        row = appearances.get(key)
        if row is None:
            row = PhotoAppearance(page_id=page.id, image_url=ev.image_url)
            session.add(row)
            appearances[key] = row
            counts["appearances_new"] += 1
        fetched_image = result.images.get(ev.image_url)
        row.photo_id = photos[ev.sha256].id if ev.sha256 else None
        if fetched_image is not None and fetched_image.error is None:
            row.etag = _fit(fetched_image.etag, 300) or row.etag
            row.last_modified = _fit(fetched_image.last_modified, 100) or row.last_modified
            row.fresh_until = fetched_image.fresh_until
        else:
            row.fresh_until = None  # not fetched this time: nothing vouches for it
        row.evidence = ev.to_dict()
        row.status = "live"
        row.last_seen_at = now
    for key, row in appearances.items():
        if key not in kept and row.status != "gone":
            row.status = "gone"
            counts["appearances_gone"] += 1

    # Pages that disappeared, and their appearances.
    gone_pages = [
        page
        for url, page in pages.items()
        if page.site_id == site_id
        and page.status != "gone"
        and url not in result.pages
        and url not in result.aliases
        and (url in result.gone or (result.complete and url not in result.failed))
    ]
    if gone_pages:
        for page in gone_pages:
            page.status = "gone"
            counts["pages_gone"] += 1
        gone_ids = [p.id for p in gone_pages]
        for start in range(0, len(gone_ids), 500):
            rows = session.scalars(
                select(PhotoAppearance).where(
                    PhotoAppearance.page_id.in_(gone_ids[start : start + 500]),
                    PhotoAppearance.status != "gone",
                )
            ).all()
            for row in rows:
                row.status = "gone"
                counts["appearances_gone"] += 1
    session.flush()
    return counts


class CrawlStoreError(RuntimeError):
    """Some sites could not be stored; ``summary`` holds the sites that were."""

    def __init__(self, summary: dict[str, dict[str, Any]], failures: list[str]) -> None:
        super().__init__("crawl not stored for " + "; ".join(failures))
        self.summary = summary
        self.failures = failures


async def crawl_and_store_async(
    store: Store, settings: Settings, now: datetime, site_ids: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Crawl sites with validators from the store, build evidence, store it; returns counts per site.

    Each site's evidence is built and stored as soon as its crawl ends, in a worker thread while the other
    sites are still crawled, and its photos' bytes are let go then: a share of many sites never holds more
    than ``crawl.concurrent_sites`` sites' photos at once. Each site is stored in its own transaction, so one
    site's failure keeps the others' results; failures are raised together afterwards as :class:`CrawlStoreError`.
    """
    targets = site_targets(settings, site_ids)
    with store.session() as session:
        caches = {site_id: StoreCache(session, site_id) for site_id, _ in targets}
    # Freshness is reckoned at the run's own time, so a replayed or tested night is consistent with itself.
    hosts = {site.id: site.asset_hosts for site in settings.sites if site.asset_hosts}
    summary: dict[str, dict[str, Any]] = {}
    failures: list[str] = []

    def keep(result: CrawlResult) -> None:
        site_id = result.site_id
        evidence = build_evidence(result, settings.crawl.max_image_pixels)
        for fetched in result.images.values():
            fetched.body = None
        seen = coverage(result)
        try:
            with store.session() as session:
                counts = store_crawl(session, site_id, result, evidence, now)
                since = held_sites(session).get(site_id, (None, ""))[0]
                row = session.get(Site, site_id)
                if row is not None:
                    row.crawl_coverage, row.crawled_at = seen, now
        except Exception as exc:
            failures.append(f"{site_id}: {type(exc).__name__}: {exc}"[:300])
            return
        summary[site_id] = {
            "held": result.held,
            "held_since": since.isoformat() if since else None,
            **result.stats.as_dict(),
            **seen,
            **counts,
            "pages": len(result.pages),
            "images": len(result.images),
            "complete": result.complete,
            "seconds": round(result.seconds, 3),
        }

    async def crawled(result: CrawlResult) -> None:
        await asyncio.to_thread(keep, result)

    await crawl_sites(
        targets, settings.crawl, caches.__getitem__, now=lambda: now, asset_hosts=hosts, on_crawled=crawled
    )
    if failures:
        raise CrawlStoreError(summary, failures)
    return {site_id: summary[site_id] for site_id, _ in targets if site_id in summary}


def crawl_and_store(
    store: Store, settings: Settings, now: datetime, site_ids: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Synchronous :func:`crawl_and_store_async`, for a Prefect task (one per site or per batch of sites)."""
    return asyncio.run(crawl_and_store_async(store, settings, now, site_ids))

