"""Follow-up the nightly job queues in the ledger: reminders, site-administrator digests, the superintendent's
escalation, joiner announcements and photo takedown notices (planned in :mod:`compliance.followup`). Queuing is
idempotent (deterministic keys); the outbox sends them."""

from __future__ import annotations

from datetime import datetime

from prefect import task
from prefect.cache_policies import NO_CACHE

from compliance.deliveries import queue_deliveries
from compliance.followup import plan_acknowledgement_follow_up, plan_joiner_announcements, plan_takedown_notices
from tasks import resources


@task(name="queue-acknowledgement-follow-up", cache_policy=NO_CACHE)
def queue_follow_up(now: datetime) -> dict[str, int]:
    """Reminders at the cadence's days, each once; a digest per site admin; the superintendent's list after."""
    with resources.store().session() as session:
        planned = plan_acknowledgement_follow_up(session, resources.settings(), now)
        return {
            "reminders": queue_deliveries(session, planned.reminders, now),
            "site digests": queue_deliveries(session, planned.site_digests, now),
            "superintendent escalations": queue_deliveries(session, planned.escalations, now),
            "outstanding": planned.outstanding,
        }


@task(name="queue-takedown-digests", cache_policy=NO_CACHE)
def queue_takedown_digests(now: datetime) -> dict[str, int]:
    """New violations to each site's administrator and web contact; a reminder while they stay online."""
    with resources.store().session() as session:
        notices = plan_takedown_notices(session, resources.settings(), now)
        counts = {
            "takedown digests": queue_deliveries(session, notices.digests, now),
            "takedown reminders": queue_deliveries(session, notices.reminders, now),
        }
        notices.mark(now)
        return counts


@task(name="announce-to-joiners", cache_policy=NO_CACHE)
def announce_to_joiners(now: datetime) -> dict[str, int]:
    """People who joined the roster after a campaign started get its announcement (individually), once."""
    with resources.store().session() as session:
        planned = plan_joiner_announcements(session, resources.settings(), now)
        return {"joiners announced": queue_deliveries(session, planned, now)}
