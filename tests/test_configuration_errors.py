"""Issue 12 acceptance: a configuration error fails the flow run at once, with one clear message and no traceback.

Two first-deployment mistakes, each through a real Prefect run against the emulator: a profile naming a policy
document that does not exist (campaign dry run), and the Admin SDK not enabled for the project (403
accessNotConfigured on the Directory, nightly). Each run must end Failed with the fix as its message, run the
failing task once (no retry delays), and leave no traceback in the run's logs as Prefect stores them. Before the
fix the policy task stopped retrying but the flow still logged "Encountered exception during execution" with a
traceback, and the Directory 403 was retried twice (30 s and 120 s) before ending the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import pytest

from emulator.district import LocalDistrict

NOW = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)

pytestmark = pytest.mark.slow


def _run_logs_and_task_runs(flow_run_id: UUID) -> tuple[list[str], dict[str, int]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all()  # every log line of the run is in the API before we read them
    with get_client(sync_client=True) as client:
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
    return [log.message for log in logs], {t.name.rsplit("-", 1)[0]: t.run_count for t in task_runs}


def _assert_clean_failure(state, flow_run_id: UUID, expected: str, failing_task: str | None) -> None:  # type: ignore[no-untyped-def]
    assert state.is_failed()
    assert "configuration needs fixing" in state.message and expected in state.message
    messages, run_counts = _run_logs_and_task_runs(flow_run_id)
    assert all(count <= 1 for count in run_counts.values()), run_counts  # failed at once: nothing retried
    if failing_task is not None:
        assert run_counts[failing_task] == 1, run_counts
    assert not any("Traceback" in m or "Encountered exception" in m for m in messages), messages
    errors = [m for m in messages if "configuration needs fixing" in m]
    assert len(errors) == 1 and expected in errors[0]  # one clear line, the fix in it
    assert not any("Retry" in m for m in messages), messages


def test_missing_policy_document_fails_the_campaign_at_once_without_traceback(
    sample_dir: Path, tmp_path: Path, prefect_harness: None
) -> None:
    from compliance.campaign import CampaignParameters
    from flows.distribute_policy import run_campaign

    with LocalDistrict(
        sample_dir,
        f"sqlite:///{tmp_path / 'store.db'}",
        work_dir=tmp_path,
        extra_env={"DC_POLICY_DOCUMENT": "no-such-policy.html"},
    ):
        state = run_campaign(CampaignParameters(dry_run=True), NOW, return_state=True)
    # a dry run reads the policy without a task (it creates nothing), and stops on the same error
    _assert_clean_failure(state, state.state_details.flow_run_id, "no-such-policy.html", None)
    with pytest.raises(Exception) as raised:  # a caller asking for the result gets the error itself (CLI: exit 2)
        state.result()
    from compliance.errors import ConfigurationError

    assert isinstance(raised.value, ConfigurationError)


def test_admin_sdk_not_enabled_fails_the_nightly_at_once_without_traceback(
    sample_dir: Path, tmp_path: Path, prefect_harness: None
) -> None:
    from flows.nightly import nightly

    with LocalDistrict(sample_dir, f"sqlite:///{tmp_path / 'store.db'}", work_dir=tmp_path) as district:
        district.emulator.admin.set_faults(
            method="directory.users.list", error_rate=1.0, statuses=[403], reason="accessNotConfigured"
        )
        state = nightly(NOW, crawl=False, return_state=True)
    _assert_clean_failure(state, state.state_details.flow_run_id, "Admin SDK API", "sync-roster")


def test_a_school_sheet_not_shared_holds_that_list_and_the_night_goes_on(sample_dir: Path, tmp_path: Path) -> None:
    """One school's sharing is not the district's configuration: its list is held (people keep their state),
    the run names the sheet and the fix, and every other list still syncs. Before, the 403 ended the roster sync."""
    import json

    from sqlalchemy import func, select

    from compliance.models import Person, SourceRead
    from compliance.preflight import configured_sheets
    from emulator.district import ADMIN_SUBJECT
    from tasks import resources
    from tasks.roster import sync_roster

    with LocalDistrict(sample_dir, f"sqlite:///{tmp_path / 'store.db'}", work_dir=tmp_path) as district:
        first = sync_roster.fn(NOW)
        with resources.store().session() as session:
            active_before = session.scalar(select(func.count()).select_from(Person).where(Person.active))
        sheets = configured_sheets(resources.settings())
        sheet_id = next(sheet for _site, kind, sheet in sheets if kind == "associated persons")
        book = json.loads((sample_dir / "sheets" / f"{sheet_id}.json").read_text(encoding="utf-8"))
        book.pop("permissions")  # the school took its sharing away
        district.emulator.admin.seed(spreadsheets=[book])
        second = sync_roster.fn(NOW)
        with resources.store().session() as session:
            active = session.scalar(select(func.count()).select_from(Person).where(Person.active))
            held = session.scalars(select(SourceRead).where(SourceRead.held_reason.is_not(None))).all()
    assert second["sources held"] == 1 and first["sources held"] == 0
    assert second["left"] == 0 and active == active_before > 0
    assert [r.source for r in held] == [f"sheets:{sheet_id}"]
    assert ADMIN_SUBJECT in held[0].held_reason and "Viewer" in held[0].held_reason
