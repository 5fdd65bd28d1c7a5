"""Every flow run leaves a short artifact (what it did, counts, where the output is) and shows progress.

Artifacts carry counts, labels and links only: never student names, people's names or personal email addresses.
What they say (labels, percentages, site names) is compliance.artifact_text; these helpers hand it to Prefect.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from uuid import UUID

from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from compliance.artifact_text import counts_table, labelled_rows, step_table, summary_markdown


def publish_summary(
    key: str,
    title: str,
    counts: Mapping[str, object],
    *,
    output: str | None = None,
    notes: Sequence[str] = (),
    headline: Sequence[str] = (),
    marker: str | None = None,
    links: Sequence[tuple[str, str]] = (),
) -> None:
    """A markdown artifact, read top down: the run's marker, a title, what a reader must not miss, the
    headline lines, links, then the detail table of labelled counts, and where the output went (wording:
    compliance.artifact_text)."""
    text = summary_markdown(title, headline, marker=marker, notes=notes, links=links,
                            details=counts_table(counts) if counts else (), output=output)
    create_markdown_artifact(text, key=key, description=f"{marker} · {title}" if marker else title)


def publish_steps(
    key: str,
    title: str,
    results: Mapping[str, Mapping[str, object]],
    *,
    headline: Sequence[str],
    output: str | None = None,
    notes: Sequence[str] = (),
) -> None:
    """A run with steps (the nightly): headline lines first, then one detail row per step and count."""
    text = summary_markdown(title, headline, notes=notes, details=step_table(results), output=output)
    create_markdown_artifact(text, key=key, description=title)


def publish_table(key: str, title: str, rows: list[dict[str, object]], site_names: Mapping[str, str]) -> None:
    """A table artifact (e.g. counts by site) with labelled columns and sites by name and id; rows must hold
    ids and numbers only."""
    create_table_artifact(labelled_rows(rows, site_names), key=key, description=title)  # type: ignore[arg-type]


def publish_link(key: str, text: str, address: str, description: str) -> None:
    """A link artifact (the workbook, a print list): what people open from the run's page."""
    create_link_artifact(address, link_text=text, key=key, description=description)


class RunProgress:
    """A Prefect progress artifact advanced as chunks finish (0-100 %)."""

    def __init__(self, total: int, description: str) -> None:
        self.total = max(total, 1)
        self.done = 0
        self.artifact_id: UUID = create_progress_artifact(0.0, description=description)

    def advance(self, amount: int = 1) -> None:
        self.done = min(self.total, self.done + amount)
        update_progress_artifact(self.artifact_id, 100.0 * self.done / self.total)


def progress_line(done: int, total: int, elapsed_seconds: float) -> str:
    """"sent 300 of 700 (43%) at 120 a minute measured; about 4 minutes left": the estimate is the pace this
    run measured (Gmail's per-minute pacing and the server's answers), not the plan's quota arithmetic."""
    share = 100 * done // max(total, 1)
    if done <= 0 or elapsed_seconds <= 0:
        return f"sent {done:,} of {total:,} ({share}%)"
    per_minute = done * 60.0 / elapsed_seconds
    minutes = (total - done) / per_minute
    if done >= total:
        left = "done"
    elif minutes < 1:
        left = "under a minute left"
    else:
        left = f"about {round(minutes):,} minute(s) left"
    return f"sent {done:,} of {total:,} ({share}%) at {per_minute:,.0f} a minute measured; {left}"


class SendProgress(RunProgress):
    """Progress of a campaign's sending: the artifact, plus one log line per batch with the measured pace."""

    def __init__(self, total: int, description: str, clock=None) -> None:  # type: ignore[no-untyped-def]
        import time

        super().__init__(total, description)
        self.clock = clock or time.monotonic
        self.started = self.clock()

    def advance(self, amount: int = 1) -> None:
        super().advance(amount)
        _logger().info("%s", progress_line(self.done, self.total, self.clock() - self.started))


def _logger():  # type: ignore[no-untyped-def]
    import logging

    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        return get_run_logger()
    except MissingContextError:  # called as plain functions (task.fn) by scripts and tests
        return logging.getLogger("district_compliance")


def warn(message: str, *args: object) -> None:
    """One warning line in the run's log (ids, dates and counts only: never a name)."""
    _logger().warning(message, *args)


def log_source_checks(checks: list) -> None:
    """One warning line per held source (compliance.sources.SourceCheck.line: ids and counts only)."""
    logger = _logger()
    for check in checks:
        if check.held:
            logger.warning("%s", check.line())


def log_rejected(rejected: list, job: str) -> None:
    """One log line per source file with how many rows were quarantined and where the first one is.

    File, row, field and reason only: raw values can hold names, so they stay in the quarantine table.
    """
    import logging

    from prefect import get_run_logger
    from prefect.exceptions import MissingContextError

    try:
        logger: logging.Logger | logging.LoggerAdapter = get_run_logger()
    except MissingContextError:  # called as plain functions (task.fn) by scripts and tests
        logger = logging.getLogger("district_compliance")
    by_file: dict[str, list] = {}
    for r in rejected:
        by_file.setdefault(r.source_file, []).append(r)
    for source, rows in sorted(by_file.items()):
        first = rows[0]
        where = f"{first.sheet} row {first.row}" if first.sheet else f"row {first.row}"
        logger.info(
            "%s: %d rows quarantined from %s (first: %s, field %r: %s)",
            job,
            len(rows),
            source,
            where,
            first.field,
            first.reason,
        )
