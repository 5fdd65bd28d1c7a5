"""Student roster and parental consent ingest: the SIS export, then each school's consent spreadsheets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select

from compliance.consent import STUDENTS_JOB, Roster, read_consents, read_students, store_consents, store_students
from compliance.ledger import record_consents
from compliance.models import Student
from compliance.quarantine import quarantine
from compliance.sources import check_source, content_hash, unreadable_reason
from tasks import resources
from tasks.artifacts import log_rejected, log_source_checks


@task(name="sync-students", retries=1, retry_delay_seconds=60, cache_policy=NO_CACHE)
def sync_students(now: datetime | None = None) -> dict[str, int]:
    """Load the SIS export (legal and preferred names); bad rows go to quarantine, the rest load.

    An export that is empty, unreadable or shrank beyond ``inputs.max_shrink_share`` is held
    (compliance.sources): no student is added, changed or deactivated from it.
    """
    settings = resources.settings()
    if not settings.sis_export:
        return {"students": 0}
    now = now or datetime.now(UTC)
    source = resources.load_source(settings.sis_export)
    result = read_students(source, label=settings.sis_export, site_ids=[s.id for s in settings.sites])
    with resources.store().session() as session:
        check = check_source(
            session,
            settings.sis_export,
            job=STUDENTS_JOB,
            rows=len(result.students),
            content_sha256=content_hash(source),
            now=now,
            unreadable=unreadable_reason(result.rejected, len(result.students)),
            max_shrink=settings.inputs.max_shrink_share,
        )
        if check.held:
            counts = {"added": 0, "updated": 0, "deactivated": 0}
        else:
            counts = store_students(session, result.students)
        counts["newly quarantined"] = quarantine(session, result.rejected)
    log_source_checks([check])
    counts["sources held"] = int(check.held)
    counts["students read"] = len(result.students)
    counts["rows rejected"] = len(result.rejected)
    return counts


@task(name="sync-consents", retries=1, retry_delay_seconds=60, cache_policy=NO_CACHE)
def sync_consents(site_ids: Sequence[str]) -> dict[str, int]:
    """Read the consent spreadsheets and opt-out lists of a chunk of sites against the SIS roster (ids and
    names); unknown students, id/name mismatches and bad values are quarantined, unusual principal marks noted."""
    settings = resources.settings()
    totals = {
        "sheets read": 0,
        "consent rows": 0,
        "rows rejected": 0,
        "data quality notes": 0,
        "newly quarantined": 0,
        "added": 0,
    }
    with resources.store().session() as session:
        # Plain rows, not ORM objects: a roster of 400,000+ students is read once per chunk.
        roster = Roster(
            session.execute(
                select(
                    Student.id.label("student_id"),
                    Student.legal_first,
                    Student.legal_last,
                    Student.preferred_first,
                    Student.preferred_last,
                    Student.grade,
                    Student.site_id,
                )
            ).all()
        )
    for site_id in site_ids:
        site = settings.site(site_id)
        sources = [(s, None) for s in site.consent_sources] + [(s, "opt_out") for s in site.opt_out_sources]
        for source, kind in sources:
            result = read_consents(
                resources.load_source(source),
                site_id,
                roster,
                label=source,
                school_year_start=settings.district.school_year_start,
                default_purposes=site.default_purposes_for(source),
                kind=kind,  # type: ignore[arg-type]
            )
            with resources.store().session() as session:
                stored = store_consents(session, result.records)
                if stored["added"] or stored["updated"]:
                    # Only a source that changed tonight can hold a record not chained yet.
                    record_consents(session, {r.source_file for r in result.records})
                # Data-quality notes go where people look for bad input: the quarantine (Data Quality sheet).
                totals["newly quarantined"] += quarantine(session, result.rejected + result.notes)
            log_rejected(result.rejected, "consent")
            totals["sheets read"] += 1
            totals["consent rows"] += len(result.records)
            totals["rows rejected"] += len(result.rejected)
            totals["data quality notes"] += len(result.notes)
            totals["added"] += stored["added"]
    return totals
