"""The superintendent's report email: one ledger row per named recipient and report, so a re-run never resends."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.deliveries import PlannedDelivery, delivery_key
from compliance.models import Delivery, ReportRun
from compliance.vocabulary import DeliveryKind, DeliveryStatus

REPORT_KIND = DeliveryKind.COMPLIANCE_REPORT


def plan_report_emails(
    recipients: Sequence[str], summary: Mapping[str, object], drive_file_id: str, now: datetime
) -> list[PlannedDelivery]:
    """The report email for each named recipient: headline numbers in the body, a link to the Drive copy."""
    ack_rate = summary.get("ack_rate") or 0.0
    variables = {
        "generated_at": now.isoformat(),
        "percent_acknowledged": round(100 * float(ack_rate), 1),  # type: ignore[arg-type]
        "acknowledged": summary.get("acknowledged", 0),
        "required": summary.get("active_people", 0),
        "outstanding": summary.get("outstanding", 0),
        "open_violations": summary.get("violations_online", 0),
        "resolved_violations": summary.get("violations_resolved_since_previous") or 0,
        "report_url": f"https://drive.google.com/file/d/{drive_file_id}/view" if drive_file_id else "",
    }
    return [
        PlannedDelivery(
            idempotency_key=delivery_key("report", f"{now.isoformat()}:{recipient}", REPORT_KIND),
            kind=REPORT_KIND,
            recipient=str(recipient),
            context={
                "template": REPORT_KIND,
                "language": "en",
                "vars": {"recipient_name": str(recipient).split("@")[0], **variables},
            },
        )
        for recipient in recipients
    ]


def record_emailed(session: Session, generated_at: datetime, keys: Sequence[str]) -> list[str]:
    """Note on the report run who has been sent it; returns those recipients."""
    sent_to = list(
        session.scalars(
            select(Delivery.recipient).where(
                Delivery.idempotency_key.in_(list(keys)), Delivery.status == DeliveryStatus.SENT
            )
        )
    )
    run = session.scalars(select(ReportRun).where(ReportRun.generated_at == generated_at)).first()
    if run is not None:
        run.emailed_to = sorted(set(run.emailed_to or []) | set(sent_to))
    return sent_to

