"""Student roster and parental consent ingest: the SIS export, then each school's consent spreadsheets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from compliance.consent import (
    STUDENTS_JOB,
    RosterCache,
    ingest_site_consents,
    load_roster,
    read_students,
    roster_settled,
    store_students,
)
from compliance.ledger import record_consents, record_withdrawn_consents
from compliance.quarantine import quarantine
from compliance.roster import apply_home_languages, stored_home_languages
from compliance.sources import check_source, content_hash, unreadable_reason
from tasks import resources
from tasks.artifacts import log_rejected, log_source_checks
from tasks.guard import retry_unless_configuration

# One roster for every consent chunk of a night (and the next nights while the students stay the same).
_ROSTERS = RosterCache()


@task(
    name="sync-students",
    retries=1,
    retry_delay_seconds=60,
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
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
            homes = stored_home_languages(session, settings.sis_export)
            counts["parents given their home language"] = apply_home_languages(session, homes)
        counts["newly quarantined"] = quarantine(session, result.rejected)
    log_source_checks([check])
    counts["sources held"] = int(check.held)
    counts["students read"] = len(result.students)
    counts["rows rejected"] = len(result.rejected)
    return counts


@task(
    name="sync-consents",
    retries=1,
    retry_delay_seconds=60,
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def sync_consents(site_ids: Sequence[str]) -> dict[str, int]:
    """Read the consent spreadsheets and opt-out lists of a chunk of sites against the SIS roster (ids and
    names); unknown students, id/name mismatches and bad values are quarantined, unusual principal marks noted."""
    store = resources.store()
    with store.session() as session:
        roster = load_roster(session, _ROSTERS)
    totals: dict[str, int] = {}
    with roster_settled():
        for site_id in site_ids:
            for counts, rejected in ingest_site_consents(store, resources.settings(), site_id, roster,
                                                         resources.load_source, on_changed=record_consents,
                                                         on_removed=record_withdrawn_consents):
                log_rejected(rejected, "consent")
                for key, value in counts.items():
                    totals[key] = totals.get(key, 0) + value
    return totals
