"""Weekly superintendent report (Monday 06:00 district time): workbook, Drive copy, email with the headlines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from prefect import flow  # noqa: E402

from compliance.artifact_text import drive_link, report_headline  # noqa: E402
from tasks import resources  # noqa: E402
from tasks.artifacts import publish_link, publish_summary  # noqa: E402
from tasks.guard import stops_on_configuration_error  # noqa: E402
from tasks.report import build_workbook, email_report, store_in_drive  # noqa: E402

HEADLINES = (
    "active_people",
    "acknowledged",
    "outstanding",
    "ack_rate",
    "violations_online",
    "violations_resolved",
    "median_takedown_days",
    "quarantine_rows",
)


def _run_name() -> str:
    """"Compliance report 2026-12-01" in run lists (see compliance.run_names)."""
    from prefect.runtime import flow_run

    from compliance.run_names import report_run_name
    from compliance.settings import get_settings

    return report_run_name(dict(flow_run.parameters), datetime.now(UTC), get_settings().tz)


@flow(name="compliance-report", log_prints=False, flow_run_name=_run_name)
@stops_on_configuration_error
def compliance_report(now: datetime | None = None) -> dict[str, object]:
    """Build the workbook from the store, keep it in Drive for named people, email it to the superintendent."""
    replayed = now is not None  # the outbox keeps the wall clock unless the run replays a time (flows.nightly)
    now = now or datetime.now(UTC)
    settings = resources.checked_settings()
    path, summary = build_workbook(now)
    drive_file_id = store_in_drive(path, now)
    emailed = email_report(path, summary, drive_file_id, now, replayed)
    headline = {name: summary.get(name) for name in HEADLINES}
    day = f"{now.astimezone(settings.tz):%Y-%m-%d}"
    drive = drive_link(drive_file_id)
    publish_summary(
        "compliance-report",
        f"Compliance report {day}",
        {**headline, **emailed},
        headline=report_headline(summary),
        links=[(f"The workbook in Drive (shared with the named recipients only): {Path(path).name}", drive)],
        output=path,
    )
    publish_link("compliance-report-workbook", f"Compliance report {day} (workbook in Drive)", drive,
                 f"The superintendent's workbook of {day}; this server's copy: {path}")
    return {"path": path, "drive_file_id": drive_file_id, **emailed, **headline}
