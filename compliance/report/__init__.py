"""The superintendent's compliance report: figures from the store (`collect_report_data`) and the Excel
workbook (`write_workbook`). Domain code only; the report flow orchestrates it and records the `ReportRun`."""

from compliance.report.data import (
    AgingRow,
    CategoryRow,
    FindingRow,
    LedgerHead,
    OutstandingRow,
    PolicyInfo,
    QuarantineRow,
    ReportData,
    SiteRow,
    TrendPoint,
    collect_report_data,
    record_report_run,
)
from compliance.report.workbook import SHEETS, attention_sentences, report_filename, safe_text, write_workbook

__all__ = [
    "SHEETS",
    "AgingRow",
    "CategoryRow",
    "FindingRow",
    "LedgerHead",
    "OutstandingRow",
    "PolicyInfo",
    "QuarantineRow",
    "ReportData",
    "SiteRow",
    "TrendPoint",
    "attention_sentences",
    "collect_report_data",
    "record_report_run",
    "report_filename",
    "safe_text",
    "write_workbook",
]
