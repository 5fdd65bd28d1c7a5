"""Roster sync: Directory employees plus every school's Associated Persons lists, deduplicated into people."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy.orm import Session

from compliance.google.workspace import list_users
from compliance.quarantine import quarantine
from compliance.review import likely_duplicates, review_csv, review_xlsx
from compliance.roster import (
    DIRECTORY_SOURCE,
    JOB,
    assemble_roster,
    directory_content,
    read_roster_parts,
    remember_roster,
    remembered_counts,
    roster_fingerprint,
    roster_unchanged,
    stored_home_languages,
    sync_people,
    sync_sites,
)
from compliance.sources import check_source, content_hash, record_unchanged_reads, unreadable_reason
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
def sync_roster(now: datetime, recompare: bool = False) -> dict[str, int]:
    """One task for the whole district: deduplication needs every list at once (people appear on several).

    Directory users are read page by page (500 a call); Google Sheets lists are fetched in two reads each.
    Rows that do not validate go to quarantine and the rest still load. A source that is empty, unreadable or
    shrank beyond ``inputs.max_shrink_share`` is held (compliance.sources): its people keep their state.
    Likely duplicates and shared mailboxes go to ``out/roster-review.csv`` and ``.xlsx`` for central office.

    An unchanged roster (every source's content hash and the rules as at the last complete sync,
    compliance.roster.roster_unchanged) is not parsed or compared again: each source's read is recorded and
    nothing else is written. ``recompare`` reads and compares everything anyway (after a hand fix in the store).
    """
    settings = resources.settings()
    skip = [str(s) for s in settings.senders]
    users = list(list_users(resources.google()))
    associated = [
        (resources.load_source(source), site.id, source)
        for site in settings.sites
        for source in site.associated_sources
    ]
    hashes = [(DIRECTORY_SOURCE, content_hash(directory_content(users))),
              *((label, content_hash(src)) for src, _, label in associated)]
    review_files = [settings.out_dir / "roster-review.csv", settings.out_dir / "roster-review.xlsx"]
    with resources.store().session() as session:
        homes = stored_home_languages(session, settings.sis_export or "sis")
        fingerprint = roster_fingerprint(hashes, settings.sites, skip, homes)
        if not recompare and all(f.is_file() for f in review_files) and roster_unchanged(session, fingerprint, hashes):
            return _unchanged(session, hashes, users, associated, now)
    parts = read_roster_parts(users, associated, settings.sites, skip_emails=skip)
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
        counts = sync_people(session, result.people, now, held_sources=held, home_languages=homes)
        quarantined = quarantine(session, result.rejected)
        review = likely_duplicates(result.people)
        remember_roster(session, fingerprint, now, {"people": len(result.people),
                                                    "rows rejected": len(result.rejected),
                                                    "likely duplicates to review": len(review)})
    log_source_checks(checks)
    log_rejected(result.rejected, "roster")
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    review_files[0].write_text(review_csv(review), encoding="utf-8")
    review_files[1].write_bytes(review_xlsx(review))
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
        "roster unchanged": 0,
    }


def _unchanged(session: Session, hashes: list[tuple[str, str | None]], users: list, associated: list,
               now: datetime) -> dict[str, int]:
    """Record tonight's read of each source (the same as its last good one) and say nothing changed."""
    settings = resources.settings()
    checks = record_unchanged_reads(session, hashes, job=JOB, now=now, max_shrink=settings.inputs.max_shrink_share)
    sync_sites(session, settings.sites)
    last = remembered_counts(session)
    session.commit()
    log_source_checks(checks)
    return {
        "directory users": len(users),
        "lists read": len(associated),
        "sources held": sum(1 for c in checks if c.held),
        "people": last.get("people", 0),
        "joined": 0,
        "updated": 0,
        "left": 0,
        "rows rejected": last.get("rows rejected", 0),  # the same rows as last time, already in quarantine
        "newly quarantined": 0,
        "likely duplicates to review": last.get("likely duplicates to review", 0),  # the review files still hold
        "roster unchanged": 1,
    }
