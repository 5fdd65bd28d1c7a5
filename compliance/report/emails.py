"""The superintendent's report email: one ledger row per named recipient and report, so a re-run never resends.

The email also quotes the event chain's head as the report read it (event number, short fingerprint, time):
a sent message the database administrator cannot rewrite, which ``verify-ledger`` reads back from Gmail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.deliveries import PlannedDelivery, delivery_key
from compliance.greetings import name_for, roster_names
from compliance.models import Delivery, Person, ReportRun
from compliance.vocabulary import DeliveryKind, DeliveryStatus

REPORT_KIND = DeliveryKind.COMPLIANCE_REPORT
# Hex digits of the head's hash the email shows: short enough to read aloud, 64 bits to check against.
SHORT_HASH = 16
VERIFY_COMMAND = "district-compliance verify-ledger"
# The head line as both languages' templates write it ("event 12, fingerprint 0123...", "evento 12, huella ...").
HEAD_LINE = re.compile(r"\b(?:event|evento) (\d+), (?:fingerprint|huella) ([0-9a-f]{16})\b")


def ledger_head_vars(summary: Mapping[str, object], now: datetime, time_zone: str) -> dict[str, object]:
    """The chain head the email quotes (empty values before the first event is chained)."""
    head = summary.get("ledger_head_hash")
    if not head:
        return {"ledger_seq": 0, "ledger_hash": "", "ledger_at": "", "verify_command": VERIFY_COMMAND}
    return {
        "ledger_seq": int(summary.get("ledger_events") or 0),  # type: ignore[call-overload]
        "ledger_hash": str(head)[:SHORT_HASH],
        "ledger_at": now.astimezone(ZoneInfo(time_zone)).strftime("%Y-%m-%d %H:%M %Z"),
        "verify_command": VERIFY_COMMAND,
    }


def heads_in_text(body: str) -> list[tuple[int, str]]:
    """The (event number, short hash) heads a report email's text quotes: what ``verify-ledger`` checks."""
    return [(int(seq), short) for seq, short in HEAD_LINE.findall(body)]


def recipient_names(session: Session, addresses: Sequence[str]) -> dict[str, str]:
    """The roster's names of ``addresses`` (normalized address -> name); unknown addresses are left out."""
    wanted = sorted({a.strip().lower() for a in addresses if a})
    return roster_names(session.scalars(select(Person).where(Person.email_normalized.in_(wanted)).order_by(Person.id)))


def plan_report_emails(
    recipients: Sequence[str],
    summary: Mapping[str, object],
    drive_file_id: str,
    now: datetime,
    time_zone: str = "America/Los_Angeles",
    names: Mapping[str, str] | None = None,
) -> list[PlannedDelivery]:
    """The report email for each named recipient: headline numbers in the body, a link to the Drive copy,
    and the ledger's head with how to check it.

    ``names``: the roster's names by normalized address (:func:`compliance.greetings.roster_names`). A
    recipient greeted by name, or with no name when the roster does not know them: never by the address's
    local part ("Hello superintendent"), and never by a title the profile does not give them.
    """
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
        **ledger_head_vars(summary, now, time_zone),
    }
    return [
        PlannedDelivery(
            idempotency_key=delivery_key("report", f"{now.isoformat()}:{recipient}", REPORT_KIND),
            kind=REPORT_KIND,
            recipient=str(recipient),
            context={
                "template": REPORT_KIND,
                "language": "en",
                "vars": {"recipient_name": name_for(str(recipient), names or {}), **variables},
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

