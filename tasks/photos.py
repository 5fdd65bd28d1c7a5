"""School websites: crawl a share of the sites, then reconcile their photos against consent (one task per share).

A share is a few dozen sites, those on one web host together (``compliance.photos.traversal.site_shares``): a
task run per site would cost the orchestration more than the work of a small site.
"""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.orm import Session

from compliance.consent import load_consents
from compliance.ledger import record_findings
from compliance.photos.findings import (
    apply_judgements,
    judge_all,
    live_appearances,
    match_appearances,
    matched_students,
    roster_index,
)
from compliance.photos.matching import IndexCache, NameIndex
from compliance.photos.results import COVERAGE_KEYS
from compliance.photos.store import crawl_and_store
from tasks import resources
from tasks.guard import retry_unless_configuration


@task(
    name="crawl-sites",
    retries=1,
    retry_delay_seconds=120,
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def crawl_sites(site_ids: list[str], now: datetime) -> list[dict[str, object]]:
    """Crawl a share of sites politely (robots, allowlist, conditional GET, per-host limits shared by the sites
    on one host) and store pages, photos and evidence; counts per site, in the order given."""
    summary = crawl_and_store(resources.store(), resources.settings(), now, site_ids)
    return [summary.get(site_id, {}) for site_id in site_ids]


def coverage_rows(site_ids: list[str], crawls: list[dict[str, object]]) -> list[dict[str, object]]:
    """One row per site of the crawl's coverage counts (the nightly artifact): ids and numbers only."""
    return [
        {"site": site_id, **{key: counts.get(key, 0) for key in COVERAGE_KEYS}}
        for site_id, counts in zip(site_ids, crawls, strict=True)
    ]


_INDEXES = IndexCache()


def _name_index(session: Session) -> NameIndex:
    # Rebuilt only when the roster's content changes (not its size): see IndexCache.
    settings = resources.settings()
    return roster_index(session, [s.name for s in settings.sites] + [settings.district.name], _INDEXES)


@task(name="reconcile-sites", cache_policy=NO_CACHE)
def reconcile_sites(site_ids: list[str], now: datetime) -> list[dict[str, int]]:
    """Judge every live photo of a share of sites against consent as of the district's date; persist findings.
    Counts per site, in the order given.

    The roster's name index is read once for the share (420,000 students at LAUSD scale), not once a site.
    """
    with resources.store().session() as session:
        index = _name_index(session)
    return [reconcile_site(site_id, now, index) for site_id in site_ids]


def reconcile_site(site_id: str, now: datetime, index: NameIndex) -> dict[str, int]:
    """One site of :func:`reconcile_sites`, in its own transaction."""
    settings = resources.settings()
    on = now.astimezone(settings.tz).date()
    with resources.store().session() as session:
        appearances = live_appearances(session, site_id)
        matched, unidentified = match_appearances(appearances, index)
        consents = load_consents(session, matched_students(matched))
        judgements = judge_all(matched, consents, on, school_year_start=settings.district.school_year_start)
        counts = apply_judgements(session, site_id, judgements, now)
        record_findings(session, site_id, now)
    counts.appearances = len(appearances)
    counts.unidentified_images = unidentified
    return counts.as_dict()
