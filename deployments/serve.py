"""Run every deployment from one long-lived process (one machine, no work pool, no worker).

    prefect server start                                                   # one terminal
    PREFECT_API_URL=http://127.0.0.1:4200/api python deployments/serve.py   # another, from the project root

The deployments are the same as deployments/prefect.yaml (names, schedules, concurrency); use one or the
other on a machine, not both. Schedules pause when this process stops, so IT runs it under systemd or similar.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy  # noqa: E402
from prefect.schedules import Cron  # noqa: E402

from compliance.settings import PROJECT_ROOT, get_settings  # noqa: E402

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

NIGHTLY_CRON = "0 2 * * *"  # 02:00 district time, after the day's roster and consent edits
WEEKLY_REPORT_CRON = "0 6 * * 1"  # Monday 06:00 district time, before the superintendent's week starts
# At most one run of each job at a time; a run that arrives while one is going waits its turn (never dropped).
ONE_AT_A_TIME = ConcurrencyLimitConfig(limit=1, collision_strategy=ConcurrencyLimitStrategy.ENQUEUE)
CAMPAIGN_FLOW_FILE = PROJECT_ROOT / "flows" / "distribute_policy.py"
# How many flow runs this process executes at once: nightly, the report and one campaign may overlap.
RUN_LIMIT = 3


def build_deployments(time_zone: str | None = None) -> list[RunnerDeployment]:
    """The district's deployments, ready for ``prefect.serve`` (nothing is sent to the API here).

    ``time_zone`` defaults to the district profile's; schedules fire on the district's wall clock (Prefect
    keeps them in UTC and follows daylight saving).
    """
    from flows.compliance_report import compliance_report
    from flows.nightly import nightly

    zone = time_zone or get_settings().district.time_zone
    deployments = [
        nightly.to_deployment(
            name="nightly",
            description="Roster sync, acknowledgement sync, reminders and escalation, crawl and consent "
            "reconciliation.",
            schedule=Cron(NIGHTLY_CRON, timezone=zone),
            concurrency_limit=ONE_AT_A_TIME,
            tags=["ar1114", "nightly"],
        ),
        compliance_report.to_deployment(
            name="weekly-report",
            description="Superintendent compliance workbook, emailed and stored in Drive.",
            schedule=Cron(WEEKLY_REPORT_CRON, timezone=zone),
            concurrency_limit=ONE_AT_A_TIME,
            tags=["ar1114", "report"],
        ),
    ]
    # The campaign flow is written separately; until its file exists there is nothing to serve. Checking the
    # file (not catching ImportError) keeps a real import error in that flow loud.
    if CAMPAIGN_FLOW_FILE.exists():
        from flows.distribute_policy import distribute_policy

        deployments.append(
            distribute_policy.to_deployment(
                name="campaign",
                description="Policy distribution campaign started by central office (dry run first).",
                concurrency_limit=ONE_AT_A_TIME,
                tags=["ar1114", "campaign"],
            )
        )
    return deployments


def main() -> None:
    """Register the deployments with the API and execute their runs until stopped (Ctrl-C)."""
    import os

    from prefect import serve
    from prefect.settings import get_current_settings

    # Without an API URL Prefect would start a throw-away in-process server that never fires schedules: the
    # district would silently get no nightly run. Refuse and say what to do instead.
    if not get_current_settings().api.url:
        raise SystemExit(
            "PREFECT_API_URL is not set. Start `prefect server start` and run, for example:\n"
            "  PREFECT_API_URL=http://127.0.0.1:4200/api python deployments/serve.py"
        )

    # Entrypoints are recorded relative to the working directory; the project root makes them the same
    # ("flows/nightly.py:nightly") as the prefect.yaml deployments wherever this script is started from.
    os.chdir(PROJECT_ROOT)
    serve(*build_deployments(), limit=RUN_LIMIT)


if __name__ == "__main__":
    main()
