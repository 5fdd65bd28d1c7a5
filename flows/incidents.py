"""Incident intake (every 15 minutes in school hours): new reports from the form become routed cases, owners
get their case file and checklist at once, urgent categories page the district office, overdue steps are
reminded and stale cases escalated. The nightly job runs the same sync, so nothing waits for school hours.

Reads top to bottom; each step is a task in tasks/incidents.py, the rules are compliance.incidents.
"""

from __future__ import annotations

from datetime import UTC, datetime

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from prefect import flow  # noqa: E402

from compliance.artifact_text import steps_headline  # noqa: E402
from tasks import resources  # noqa: E402
from tasks.artifacts import publish_steps  # noqa: E402
from tasks.guard import stops_on_configuration_error  # noqa: E402
from tasks.incidents import queue_incident_follow_up, send_incident_mail, sync_incident_reports  # noqa: E402


@flow(name="incident-intake", log_prints=False)
@stops_on_configuration_error
def incident_intake(now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Sync the incident form, queue the cases' follow-up and send their mail (counts only, never names).

    ``now`` exists for tests and replays; a scheduled run uses the current time.
    """
    now = now or datetime.now(UTC)
    settings = resources.settings()
    results = {
        "reports": sync_incident_reports(now),
        "follow-up": queue_incident_follow_up(now),
        "mail": send_incident_mail(),
    }
    publish_steps(
        "incident-intake",
        f"Incident intake {now.astimezone(settings.tz):%Y-%m-%d %H:%M} {settings.district.time_zone}",
        results,
        headline=steps_headline(results, ("reports", "follow-up", "mail")),
        output=settings.database_url.split("@")[-1],
    )
    return results
