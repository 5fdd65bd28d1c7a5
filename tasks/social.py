"""District-sponsored social media: each site's YouTube channels, blogs and platform exports (one task per share
of sites, as the websites)."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from compliance.ledger import record_findings
from compliance.photos.findings import roster_index
from compliance.photos.matching import IndexCache, NameIndex
from compliance.social.audit import alumni_names, read_site, reconcile_site
from tasks import resources
from tasks.guard import retry_unless_configuration

_INDEXES = IndexCache()


@task(
    name="audit-social-sites",
    retries=1,
    retry_delay_seconds=120,
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def audit_social_sites(site_ids: list[str], now: datetime) -> list[dict[str, int]]:
    """Read what changed on a share of sites' channels, blogs and exports, then judge their live items against
    consent; counts per site, in the order given."""
    settings = resources.settings()
    alumni = (
        alumni_names(resources.load_source(settings.sis_alumni_export), settings.sis_alumni_export)
        if settings.sis_alumni_export
        else []
    )
    places = [s.name for s in settings.sites] + [settings.district.name]
    with resources.store().session() as session:  # the roster's index once for the share, not once a site
        index = roster_index(session, places, _INDEXES, alumni)
    return [audit_social_site(site_id, now, index) for site_id in site_ids]


def audit_social_site(site_id: str, now: datetime, index: NameIndex) -> dict[str, int]:
    """One site of :func:`audit_social_sites`, in its own transaction."""
    settings = resources.settings()
    site = settings.site(site_id)
    clients = resources.google() if site.youtube_channels or site.blogs or site.drive_export_folders() else None
    with resources.store().session() as session:
        counts = read_site(session, settings, clients, site_id, now)
        counts |= reconcile_site(session, settings, site_id, index, now)
        record_findings(session, site_id, now)
    return counts
