"""Nightly job (02:00 district time): keep people, acknowledgements, reminders and photo consent current.

Reads top to bottom as the night's recipe; each step is a task (or one task per site) in tasks/.
"""

from __future__ import annotations

from datetime import UTC, datetime

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from prefect import flow  # noqa: E402

from tasks.artifacts import publish_summary  # noqa: E402
from tasks.roster import sync_roster  # noqa: E402


@flow(name="nightly", log_prints=False)
def nightly(now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Roster sync, acknowledgement sync, reminders and escalation, crawl and consent reconciliation.

    ``now`` exists for tests and replays; a scheduled run uses the current time.
    """
    now = now or datetime.now(UTC)
    results: dict[str, dict[str, int]] = {}
    results["roster"] = sync_roster(now)
    publish_summary(
        "nightly",
        f"Nightly run {now:%Y-%m-%d %H:%M} UTC",
        {f"{step}: {name}": value for step, counts in results.items() for name, value in counts.items()},
    )
    return results
