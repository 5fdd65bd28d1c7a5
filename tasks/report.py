"""Superintendent report: build the workbook from the store, keep it in Drive shared with named people only."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE
from sqlalchemy import select

from compliance.google.workspace import share_file, upload_file
from compliance.models import ReportRun
from compliance.report import collect_report_data, record_report_run, report_filename, write_workbook
from tasks import resources

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@task(name="build-workbook", cache_policy=NO_CACHE)
def build_workbook(now: datetime) -> tuple[str, dict[str, object]]:
    """Write the workbook under out/ and record the run (its summary feeds next week's trends)."""
    settings = resources.settings()
    with resources.store().session() as session:
        data = collect_report_data(session, now, settings)
        path = write_workbook(
            data,
            Path(settings.out_dir) / report_filename(now, settings.district.time_zone),
            district_name=settings.district.name,
            generated_at=now,
        )
        record_report_run(session, data, str(path))
    return str(path), dict(data.summary)


@task(name="store-report-in-drive", retries=2, retry_delay_seconds=[30, 120], cache_policy=NO_CACHE)
def store_in_drive(path: str, now: datetime) -> str:
    """Upload once per report run and share with the named recipients only (no link sharing, no emails)."""
    settings = resources.settings()
    clients = resources.google()
    with resources.store().session() as session:
        run = session.scalars(select(ReportRun).where(ReportRun.generated_at == now)).first()
        if run is not None and run.drive_file_id:
            return run.drive_file_id
        parents = [settings.report_drive_folder_id] if settings.report_drive_folder_id else None
        created = upload_file(clients, Path(path).name, XLSX, Path(path).read_bytes(), parents=parents)
        if run is not None:
            run.drive_file_id = created["id"]
    for person in settings.report_share_with:
        share_file(clients, created["id"], str(person), role="reader", notify=False)
    return str(created["id"])
