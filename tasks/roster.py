"""Roster sync: Directory employees plus every school's Associated Persons lists, deduplicated into people."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from compliance.google.workspace import list_users
from compliance.quarantine import quarantine
from compliance.review import likely_duplicates, review_csv, review_xlsx
from compliance.roster import (
    JOB,
    assemble_roster,
    read_roster_parts,
    stored_home_languages,
    sync_people,
    sync_sites,
)
from compliance.sources import check_source, unreadable_reason
from tasks import resources
from tasks.artifacts import log_rejected, log_source_checks
from tasks.guard import retry_unless_configuration


@task(
    name="sync-roster",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def sync_roster(now: datetime) -> dict[str, int]:
    """One task for the whole district: deduplication needs every list at once (people appear on several).

    Directory users are read page by page (500 a call); Google Sheets lists are fetched in two reads each.
    Rows that do not validate go to quarantine and the rest still load. A source that is empty, unreadable or
    shrank beyond ``inputs.max_shrink_share`` is held (compliance.sources): its people keep their state.
    Likely duplicates and shared mailboxes go to ``out/roster-review.csv`` and ``.xlsx`` for central office.
    """
    settings = resources.settings()
    users = list(list_users(resources.google()))
    associated = [
        (resources.load_source(source), site.id, source)
        for site in settings.sites
        for source in site.associated_sources
    ]
    parts = read_roster_parts(users, associated, settings.sites, skip_emails=[str(s) for s in settings.senders])
    with resources.store().session() as session:
        checks = [
            check_source(
                session,
                part.label,
                job=JOB,
                rows=len(part.result.people),
                content_sha256=part.sha256,
                now=now,
                unreadable=unreadable_reason(part.result.rejected, len(part.result.people)),
                max_shrink=settings.inputs.max_shrink_share,
            )
            for part in parts
        ]
        held = {c.source for c in checks if c.held}
        result = assemble_roster(parts, held)
        sync_sites(session, settings.sites)
        homes = stored_home_languages(session, settings.sis_export or "sis")
        counts = sync_people(session, result.people, now, held_sources=held, home_languages=homes)
        quarantined = quarantine(session, result.rejected)
    log_source_checks(checks)
    log_rejected(result.rejected, "roster")
    review = likely_duplicates(result.people)
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    (settings.out_dir / "roster-review.csv").write_text(review_csv(review), encoding="utf-8")
    (settings.out_dir / "roster-review.xlsx").write_bytes(review_xlsx(review))
    return {
        "directory users": len(users),
        "lists read": len(associated),
        "sources held": len(held),
        "people": len(result.people),
        "joined": counts.joined,
        "updated": counts.updated,
        "left": counts.left,
        "rows rejected": len(result.rejected),
        "newly quarantined": quarantined,
        "likely duplicates to review": len(review),
    }
