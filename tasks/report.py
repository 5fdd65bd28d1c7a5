"""Superintendent report: build the workbook from the store, keep it in Drive shared with named people only."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import MissingContextError
from sqlalchemy import select

from compliance.deliveries import queue_deliveries
from compliance.google.workspace import share_file_with_each, upload_file
from compliance.mail import Attachment
from compliance.models import ReportRun
from compliance.report import collect_report_data, record_report_run, report_filename, write_workbook
from compliance.report.emails import plan_report_emails, recipient_names, record_emailed
from tasks import resources
from tasks.guard import retry_unless_configuration

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


class ReportShareIncomplete(RuntimeError):
    """Some recipients could not be given access for a reason that may clear; a retry shares with the rest."""


@task(
    name="store-report-in-drive",
    retries=2,
    retry_delay_seconds=[30, 120],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def store_in_drive(path: str, now: datetime) -> str:
    """Upload once per report run and share with the named recipients only (no link sharing, no emails).

    Sharing goes on past a refused recipient, and a retry (or a re-run of the same report) shares with those
    still missing: the upload is kept on the report run, the permissions already there are skipped.
    """
    settings = resources.settings()
    clients = resources.google()
    with resources.store().session() as session:
        run = session.scalars(select(ReportRun).where(ReportRun.generated_at == now)).first()
        if run is not None and run.drive_file_id:
            file_id = run.drive_file_id
        else:
            parents = [settings.report_drive_folder_id] if settings.report_drive_folder_id else None
            created = upload_file(clients, Path(path).name, XLSX, Path(path).read_bytes(), parents=parents)
            file_id = str(created["id"])
            if run is not None:
                run.drive_file_id = file_id
    recipients = [str(person) for person in settings.report_share_with]
    outcome = share_file_with_each(clients, file_id, recipients, role="reader", notify=False)
    try:
        logger: logging.Logger | logging.LoggerAdapter = get_run_logger()
    except MissingContextError:  # called as a plain function (task.fn) by scripts and tests
        logger = logging.getLogger("district_compliance")
    for index, person in enumerate(recipients, start=1):
        error = outcome.refused.get(person)
        if error is not None:
            # recipient by position in report_share_with, not by address (logs carry no addresses)
            logger.warning(
                "report_share_with[%d] was not given access to the report: %s. A Google account is needed for "
                "a share without an invitation email; check the address in the district profile.",
                index - 1,
                getattr(error, "reason", None) or type(error).__name__,
            )
    if outcome.transient:
        raise ReportShareIncomplete(
            f"{len(outcome.refused)} of {len(recipients)} report recipients not shared yet (transient); retrying"
        )
    return file_id


@task(
    name="email-report",
    retries=2,
    retry_delay_seconds=[60, 300],
    retry_condition_fn=retry_unless_configuration,
    cache_policy=NO_CACHE,
)
def email_report(
    path: str, summary: dict[str, object], drive_file_id: str, now: datetime, replayed: bool = False
) -> dict[str, int]:
    """The workbook as an attachment, headline numbers in the body, to the named superintendent recipients only.

    One ledger row per recipient and report, so a re-run of the same report never sends it twice. The outbox
    runs on the wall clock unless ``replayed`` (Gmail's minute is counted across processes on that clock).
    """
    settings = resources.settings()
    recipients = [str(r) for r in settings.superintendent_recipients]
    with resources.store().session() as session:
        planned = plan_report_emails(recipients, summary, drive_file_id, now, settings.district.time_zone,
                                     names=recipient_names(session, recipients))
        queue_deliveries(session, planned, now)
    keys = [p.idempotency_key for p in planned]
    workbook = Attachment(Path(path).name, Path(path).read_bytes(), XLSX)
    # Campaign rows another process is sending right now are left to it (see compliance.outbox).
    outbox = resources.outbox(resources.clock_from(now) if replayed else None)
    counts = outbox.send(keys=keys, attachments={key: [workbook] for key in keys})
    with resources.store().session() as session:
        sent_to = record_emailed(session, now, keys)
    return {"report emails sent": counts.sent, "recipients": len(sent_to)}
