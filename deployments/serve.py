"""Run every deployment from one long-lived process (one machine, no work pool).

    prefect server start            # in one terminal (or point PREFECT_API_URL at an existing server)
    python deployments/serve.py     # in another

Schedules pause when this process stops; IT runs it under systemd or similar.
"""

from __future__ import annotations

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from prefect import serve  # noqa: E402
from prefect.schedules import Cron  # noqa: E402

from compliance.settings import get_settings  # noqa: E402
from flows.compliance_report import compliance_report  # noqa: E402
from flows.distribute_policy import distribute_policy  # noqa: E402
from flows.nightly import nightly  # noqa: E402


def main() -> None:
    zone = get_settings().district.time_zone
    serve(
        nightly.to_deployment(
            name="nightly", schedule=Cron("0 2 * * *", timezone=zone), concurrency_limit=1, tags=["ar1114"]
        ),
        compliance_report.to_deployment(
            name="weekly-report", schedule=Cron("0 6 * * 1", timezone=zone), concurrency_limit=1, tags=["ar1114"]
        ),
        distribute_policy.to_deployment(name="campaign", concurrency_limit=1, tags=["ar1114"]),
        limit=3,
    )


if __name__ == "__main__":
    main()
