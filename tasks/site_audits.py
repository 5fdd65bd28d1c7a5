"""The store side of ``site-audit`` flow runs: which sites are still to audit tonight, and their counts."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from compliance.site_audits import audited_sites, record_site_audit, site_audits
from tasks import resources


@task(name="sites-to-audit", cache_policy=NO_CACHE)
def sites_to_audit(night: str, site_ids: list[str]) -> list[str]:
    """The sites of this share not yet audited for ``night`` (all of them, unless a run is repeated)."""
    with resources.store().session() as session:
        done = audited_sites(session, night, site_ids)
    return [s for s in site_ids if s not in done]


@task(name="record-site-audits", cache_policy=NO_CACHE)
def record_site_audits(
    night: str, site_ids: list[str], crawls: list[dict[str, object]], photos: list[dict[str, int]], now: datetime
) -> int:
    """Keep each site's crawl and reconciliation counts for the nightly that asked; how many were new."""
    with resources.store().session() as session:
        return sum(
            record_site_audit(session, night, site_id, crawl, counts, now)
            for site_id, crawl, counts in zip(site_ids, crawls, photos, strict=True)
        )


@task(name="read-site-audits", cache_policy=NO_CACHE)
def read_site_audits(night: str) -> dict[str, tuple[dict[str, object], dict[str, int]]]:
    """Every site audited for ``night``, with its counts."""
    with resources.store().session() as session:
        return site_audits(session, night)  # type: ignore[return-value]
