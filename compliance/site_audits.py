"""Site audits of one nightly run, kept in the store: how the nightly's per-site work travels between workers.

When the nightly hands its websites to ``site-audit`` flow runs (``scale_out.site_audits = "workers"``), each
run may execute on another worker, on another machine. Each writes its sites' crawl and reconciliation counts
here, and the nightly reads them back for its summary, the coverage table and the takedown digests: the store
is the one thing every worker already shares. A site already written for a night is skipped, so a retried or
repeated site-audit run never audits a site twice in one night.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from compliance.models import SiteAudit


def audited_sites(session: Session, night: str, site_ids: Sequence[str]) -> set[str]:
    """The sites of ``site_ids`` already audited for ``night``."""
    return set(
        session.scalars(select(SiteAudit.site_id).where(SiteAudit.night == night, SiteAudit.site_id.in_(site_ids)))
    )


def record_site_audit(
    session: Session, night: str, site_id: str, crawl: Mapping[str, Any], photos: Mapping[str, Any], now: datetime
) -> bool:
    """Keep one site's counts for ``night``; False when that site was already recorded (by another run)."""
    try:
        with session.begin_nested():
            session.add(SiteAudit(night=night, site_id=site_id, crawl=dict(crawl), photos=dict(photos), audited_at=now))
    except IntegrityError:
        return False
    return True


def site_audits(session: Session, night: str) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """Every site audited for ``night``: site id -> (crawl summary, reconciliation counts)."""
    return {
        site_id: (dict(crawl or {}), dict(photos or {}))
        for site_id, crawl, photos in session.execute(
            select(SiteAudit.site_id, SiteAudit.crawl, SiteAudit.photos).where(SiteAudit.night == night)
        )
    }
