"""Student roster and parental consent ingest: the SIS export, then each school's consent spreadsheets."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select

from compliance.consent import read_consents, read_students, store_consents, store_students
from compliance.models import Student
from compliance.quarantine import quarantine
from tasks import resources
from tasks.artifacts import log_rejected


@task(name="sync-students", retries=1, retry_delay_seconds=60, cache_policy=NO_CACHE)
def sync_students() -> dict[str, int]:
    """Load the SIS export (legal and preferred names); bad rows go to quarantine, the rest load."""
    settings = resources.settings()
    if not settings.sis_export:
        return {"students": 0}
    result = read_students(
        resources.load_source(settings.sis_export),
        label=settings.sis_export,
        site_ids=[s.id for s in settings.sites],
    )
    with resources.store().session() as session:
        counts = store_students(session, result.students)
        counts["newly quarantined"] = quarantine(session, result.rejected)
    counts["students read"] = len(result.students)
    counts["rows rejected"] = len(result.rejected)
    return counts


@task(name="sync-consents", retries=1, retry_delay_seconds=60, cache_policy=NO_CACHE)
def sync_consents(site_ids: Sequence[str]) -> dict[str, int]:
    """Read the consent spreadsheets of a chunk of sites; unknown students and bad values are quarantined."""
    settings = resources.settings()
    totals = {"sheets read": 0, "consent rows": 0, "rows rejected": 0, "newly quarantined": 0, "added": 0}
    with resources.store().session() as session:
        known = set(session.scalars(select(Student.id)))
    for site_id in site_ids:
        site = settings.site(site_id)
        for source in site.consent_sources:
            result = read_consents(
                resources.load_source(source),
                site_id,
                known,
                label=source,
                school_year_start=settings.district.school_year_start,
            )
            with resources.store().session() as session:
                stored = store_consents(session, result.records)
                totals["newly quarantined"] += quarantine(session, result.rejected)
            log_rejected(result.rejected, "consent")
            totals["sheets read"] += 1
            totals["consent rows"] += len(result.records)
            totals["rows rejected"] += len(result.rejected)
            totals["added"] += stored["added"]
    return totals
