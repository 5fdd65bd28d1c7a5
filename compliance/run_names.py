"""Names of flow runs in Prefect's run lists, in the district's words ("Nightly 2026-12-01 — websites included").

Prefect otherwise names a run like "mini-chinchilla": IT looking for last night's run, or the report of a
given week, should read it from the list. Plain functions of the run's parameters; the flows hand them to
Prefect through ``flow_run_name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from zoneinfo import ZoneInfo


def _local_day(when: object, now: datetime, tz: ZoneInfo) -> str:
    """The district day of the run's ``now`` parameter (a replay) or of the start (a scheduled run)."""
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            when = None
    moment = when if isinstance(when, datetime) and when.tzinfo is not None else now
    return f"{moment.astimezone(tz):%Y-%m-%d}"


def nightly_run_name(parameters: Mapping[str, object], now: datetime, tz: ZoneInfo) -> str:
    """ "Nightly 2026-12-01 — websites included" or "… — roster, acknowledgements and mail only"."""
    day = _local_day(parameters.get("now"), now, tz)
    scope = "websites included" if parameters.get("crawl", True) else "roster, acknowledgements and mail only"
    replay = " (replay)" if parameters.get("now") else ""
    return f"Nightly {day} — {scope}{replay}"


def report_run_name(parameters: Mapping[str, object], now: datetime, tz: ZoneInfo) -> str:
    """ "Compliance report 2026-12-01"."""
    return f"Compliance report {_local_day(parameters.get('now'), now, tz)}"


def site_audit_run_name(parameters: Mapping[str, object]) -> str:
    """ "Site audit: lincoln-es, roosevelt-ms" (ids only: a long share is cut after three with a count)."""
    sites = [str(s) for s in parameters.get("site_ids") or []]  # type: ignore[attr-defined]
    shown = ", ".join(sites[:3]) + (f" and {len(sites) - 3} more" if len(sites) > 3 else "")
    return f"Site audit: {shown or 'no sites'}"


__all__ = ["nightly_run_name", "report_run_name", "site_audit_run_name"]
