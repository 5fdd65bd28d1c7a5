"""Deployments as IT runs them: a real Prefect server, `prefect deploy` of deployments/prefect.yaml, a process
worker executing the weekly report against the local district (emulator + websites), and the one registry
(compliance/shell/deployments.py) both the YAML and serve.py come from.

Everything here is a subprocess talking to 127.0.0.1; every wait has a deadline and every process is stopped
in teardown, pass or fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml

from compliance.settings import DEFAULT_PROFILE, PROJECT_ROOT
from compliance.shell.deployments import prefect_yaml, seal_parameter_forms, write_prefect_yaml

PREFECT_FILE = PROJECT_ROOT / "deployments" / "prefect.yaml"
SERVE_FILE = PROJECT_ROOT / "deployments" / "serve.py"
CAMPAIGN_FILE = PROJECT_ROOT / "flows" / "distribute_policy.py"
# The same interpreter as the tests (and so the same installed project) whatever the PATH says.
PREFECT = [sys.executable, "-m", "prefect"]
POOL = "district-compliance"
ZONE = "America/Los_Angeles"  # the default profile's (data/district.toml), what the committed YAML carries

# What the district asked for, independent of how the YAML spells it.
EXPECTED = {
    "nightly": {"flow": "nightly", "entrypoint": "flows/nightly.py:nightly", "cron": "0 2 * * *"},
    "weekly-report": {
        "flow": "compliance-report",
        "entrypoint": "flows/compliance_report.py:compliance_report",
        "cron": "0 6 * * 1",
    },
    "incident-intake": {
        "flow": "incident-intake",
        "entrypoint": "flows/incidents.py:incident_intake",
        "cron": "*/15 7-17 * * 1-5",
    },
    "campaign": {"flow": None, "entrypoint": "flows/distribute_policy.py:distribute_policy", "cron": None},
    # Started by the nightly (scale_out.site_audits = "workers"), a few shares of one night at once.
    "site-audit": {"flow": "site-audit", "entrypoint": "flows/site_audit.py:site_audit", "cron": None, "limit": 4},
}
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
SERVER_START_TIMEOUT = 120.0
CLI_TIMEOUT = 120.0
FLOW_RUN_TIMEOUT = 240.0  # two report runs one after the other, on a loaded 2-core machine


def _expected_names() -> list[str]:
    # The campaign flow is written by someone else; until its file exists only the other two can deploy.
    return [name for name in EXPECTED if name != "campaign" or CAMPAIGN_FILE.exists()]


def _campaign_flow_name() -> str:
    from flows.distribute_policy import distribute_policy

    return distribute_policy.name


def _flow_name(deployment: str) -> str:
    return EXPECTED[deployment]["flow"] or _campaign_flow_name()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Stop a process we started (and its children: it leads its own session), politely then firmly."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@dataclass
class Stack:
    """A running server with the deployments applied, and the environment children get."""

    api_url: str
    env: dict[str, str]
    work_dir: Path
    database_url: str
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def cli(self, *args: str, timeout: float = CLI_TIMEOUT, ok: bool = True) -> str:
        """Run a prefect CLI command from the project root; its output. ``ok``: fail the test unless it
        succeeds (else: unless it fails)."""
        done = subprocess.run(
            [*PREFECT, *args],
            cwd=PROJECT_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = done.stdout + done.stderr
        assert (done.returncode == 0) == ok, (
            f"prefect {' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
        )
        return output

    def start(
        self, name: str, *args: str, extra_env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running prefect command; output goes to logs/<name>.log."""
        log = (self.logs / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            [*PREFECT, *args],
            cwd=PROJECT_ROOT,
            env={**self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.processes.append(proc)
        return proc

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(method, f"{self.api_url}{path}", timeout=30.0, **kwargs)
        response.raise_for_status()
        return response.json()


def _wait_healthy(stack: Stack, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"prefect server exited {server.returncode}:\n{_tail(stack.logs / 'server.log')}")
        try:
            if httpx.get(f"{stack.api_url}/health", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(
        f"prefect server not healthy after {SERVER_START_TIMEOUT:.0f} s:\n{_tail(stack.logs / 'server.log')}"
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, sample_dir: Path) -> Iterator[Stack]:
    """Server up (own PREFECT_HOME), local district up, work pool created, prefect.yaml deployed."""
    from emulator.district import LocalDistrict

    root = tmp_path_factory.mktemp("deployments")
    logs = root / "logs"
    logs.mkdir()
    port = _free_port()
    database_url = f"sqlite:///{root / 'store.db'}"
    base = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    base.update(
        {
            "PREFECT_HOME": str(root / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_UI_ENABLED": "false",
            # Runs are started by hand here; the scheduler would only add tomorrow's runs nobody executes.
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            # A run waiting for its deployment's concurrency slot is retried after this (default 30 s).
            "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "1",
        }
    )
    with ExitStack() as cleanup:
        stack = Stack(
            api_url=f"http://127.0.0.1:{port}/api",
            env={},
            work_dir=root / "district",
            logs=logs,
            database_url=database_url,
        )
        stack.env = base  # the server itself must not be told to talk to an API
        server = stack.start("server", "server", "start", "--host", "127.0.0.1", "--port", str(port))
        cleanup.callback(lambda: [_stop(proc) for proc in reversed(stack.processes)])
        # The district starts while the server migrates its fresh database (the slow part).
        district = cleanup.enter_context(LocalDistrict(sample_dir, database_url, work_dir=stack.work_dir))
        stack.env = {**base, **district.env, "PREFECT_API_URL": stack.api_url}
        _wait_healthy(stack, server)

        stack.cli("work-pool", "create", POOL, "--type", "process")
        names = _expected_names()
        selection = ["--all"] if names == list(EXPECTED) else [arg for n in names for arg in ("--name", n)]
        stack.cli(
            "deploy", *selection, "--prefect-file", str(PREFECT_FILE.relative_to(PROJECT_ROOT)), "--no-prompt"
        )
        seal_parameter_forms(stack.api_url)  # the README's step after `prefect deploy`
        yield stack


@pytest.mark.slow
def test_prefect_yaml_deploys_schedules_limits_and_working_directory(stack: Stack) -> None:
    for name in _expected_names():
        want = EXPECTED[name]
        got = stack.api("GET", f"/deployments/name/{_flow_name(name)}/{name}")
        assert got["entrypoint"] == want["entrypoint"]
        assert got["work_pool_name"] == POOL
        # Deployment concurrency lives in a global limit (1 but for site audits); a colliding run waits
        # (ENQUEUE), never dropped.
        assert got["global_concurrency_limit"]["limit"] == want.get("limit", 1), name
        assert got["concurrency_options"]["collision_strategy"] == "ENQUEUE", name
        # The worker changes into this checkout before loading the entrypoint: no variable for IT to set.
        assert got["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(PROJECT_ROOT)}}
        ], name
        schedules = [
            (s["schedule"].get("cron"), s["schedule"].get("timezone"), s["active"]) for s in got["schedules"]
        ]
        if want["cron"]:
            assert schedules == [(want["cron"], ZONE, True)], name
        else:
            assert schedules == [], name
            # The campaign's (and a site audit's) run form comes from the flow's typed parameters, and the API
            # enforces them.
            assert got["parameter_openapi_schema"]["properties"], name
            assert got["enforce_parameter_schema"] is True


def _run_deployment(stack: Stack, name: str, parameters: dict[str, Any]) -> str:
    """`prefect deployment run` as central office would type it; returns the flow run id it printed."""
    output = stack.cli("deployment", "run", name, "--params", json.dumps(parameters))
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def _wait_terminal(stack: Stack, worker: subprocess.Popen[bytes], flow_run_ids: list[str]) -> dict[str, Any]:
    """Poll until every run is terminal (or the deadline passes, or the worker dies); the runs by id."""
    deadline = time.monotonic() + FLOW_RUN_TIMEOUT
    runs: dict[str, Any] = {}
    while time.monotonic() < deadline and worker.poll() is None:
        runs = {run_id: stack.api("GET", f"/flow_runs/{run_id}") for run_id in flow_run_ids}
        if all(run["state_type"] in TERMINAL for run in runs.values()):
            break
        time.sleep(1.0)
    return runs


def _execute_on_worker(stack: Stack, run_ids: list[str]) -> dict[str, Any]:
    """Start a process worker on the pool, wait until the runs are terminal, stop it; the runs by id.

    Fails with the worker's log and the runs' logs unless every run COMPLETED.
    """
    worker = stack.start(
        f"worker-{run_ids[0][:8]}",
        "worker",
        "start",
        "--pool",
        POOL,
        "--type",
        "process",
        extra_env={"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_HEARTBEAT_SECONDS": "5"},
    )
    try:
        runs = _wait_terminal(stack, worker, run_ids)
    finally:
        _stop(worker)
    states = {run_id: run["state_type"] for run_id, run in runs.items()}
    if len(states) != len(run_ids) or set(states.values()) != {"COMPLETED"}:
        logs = stack.api("POST", "/logs/filter", json={"logs": {"flow_run_id": {"any_": run_ids}}})
        messages = "\n".join(entry["message"] for entry in logs)[-4000:]
        worker_log = _tail(stack.logs / f"worker-{run_ids[0][:8]}.log")
        pytest.fail(f"runs ended {states}\nworker log:\n{worker_log}\nrun logs:\n{messages}")
    return runs


def _artifact_keys(stack: Stack, run_id: str) -> set[str]:
    artifacts = stack.api(
        "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}
    )
    return {a["key"] for a in artifacts if a["key"]}


@pytest.mark.slow
@pytest.mark.skipif(not CAMPAIGN_FILE.exists(), reason="flows/distribute_policy.py not written yet")
def test_campaign_parameters_are_a_checked_form(stack: Stack) -> None:
    name = f"{_flow_name('campaign')}/campaign"
    schema = stack.api("GET", f"/deployments/name/{name}")["parameter_openapi_schema"]
    # Flat fields, the site and category choices as lists (definitions), unknown fields refused.
    assert schema.get("definitions") and schema["additionalProperties"] is False, schema
    assert "params" not in schema["properties"] and "now" not in schema["properties"]
    # The README's dry-run command is accepted as written...
    run_id = _run_deployment(stack, name, {"dry_run": True})
    try:
        run = stack.api("GET", f"/flow_runs/{run_id}")
        assert run["parameters"]["dry_run"] is True
    finally:
        # ...but nobody executes it here (the worker in the next test must only see the report runs).
        httpx.delete(f"{stack.api_url}/flow_runs/{run_id}", timeout=30.0).raise_for_status()
    # A parameter outside the model is refused before any run exists.
    refused = stack.cli("deployment", "run", name, "--params", json.dumps({"deadline_days": 0}), ok=False)
    assert "deadline_days" in refused or "validation" in refused.lower(), refused
    # ...and so is a misspelt one (it used to run as a dry run in silence).
    refused = stack.cli("deployment", "run", name, "--params", json.dumps({"dryrun": False}), ok=False)
    assert "dryrun" in refused or "validation" in refused.lower(), refused


@pytest.mark.slow
def test_weekly_report_runs_on_a_process_worker_one_at_a_time(stack: Stack) -> None:
    from openpyxl import load_workbook
    from sqlalchemy import select

    from compliance.models import ReportRun
    from compliance.report.workbook import report_filename
    from compliance.store import Store

    # Two Mondays at 06:00 in Los Angeles (14:00 UTC in November): the moments the schedule would fire.
    mondays = [datetime(2026, 11, 23, 14, 0, tzinfo=UTC), datetime(2026, 11, 30, 14, 0, tzinfo=UTC)]
    run_ids = [
        _run_deployment(stack, "compliance-report/weekly-report", {"now": now.isoformat()}) for now in mondays
    ]
    runs = _execute_on_worker(stack, run_ids)

    # Concurrency limit 1 with ENQUEUE: both ran, the second only after the first finished, having waited.
    first, second = sorted(runs.values(), key=lambda run: run["start_time"])
    assert datetime.fromisoformat(second["start_time"]) >= datetime.fromisoformat(first["end_time"])
    history = stack.api("GET", "/flow_run_states/", params={"flow_run_id": second["id"]})
    assert "AwaitingConcurrencySlot" in {state["name"] for state in history}

    with Store(stack.database_url).session() as session:
        for now, run_id in zip(mondays, run_ids, strict=True):
            expected = Path(stack.env["DC_OUT_DIR"]) / report_filename(now, ZONE)
            assert expected.name == f"compliance-report-{now.date().isoformat()}.xlsx"
            workbook = load_workbook(expected, read_only=True)
            assert "Summary" in workbook.sheetnames
            workbook.close()
            recorded = session.scalars(select(ReportRun).where(ReportRun.generated_at == now)).one()
            assert Path(recorded.path) == expected
            assert recorded.drive_file_id  # the Drive copy was made in the emulator
            artifacts = stack.api(
                "POST", "/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run_id]}}}
            )
            assert any(a["key"] == "compliance-report" and str(expected) in a["data"] for a in artifacts)


@pytest.mark.slow
def test_nightly_and_campaign_dry_run_run_on_a_process_worker(stack: Stack) -> None:
    # The README's hand-started commands: a nightly without the websites, and a campaign dry run. Different
    # deployments have separate limits, so these two may run side by side.
    # The campaign plans from the roster the nightly synced (an empty roster is an error), so it runs second.
    run_ids = [_run_deployment(stack, "nightly/nightly", {"crawl": False})]
    _execute_on_worker(stack, run_ids)
    if CAMPAIGN_FILE.exists():
        run_ids.append(_run_deployment(stack, f"{_flow_name('campaign')}/campaign", {"dry_run": True}))
        runs = _execute_on_worker(stack, run_ids[1:])
        assert runs[run_ids[1]]["name"].startswith("DRY RUN — AR 1114 "), runs[run_ids[1]]["name"]
    assert "nightly" in _artifact_keys(stack, run_ids[0])
    if CAMPAIGN_FILE.exists():
        assert "campaign-plan" in _artifact_keys(stack, run_ids[1])


def _load_serve() -> ModuleType:
    spec = importlib.util.spec_from_file_location("district_serve", SERVE_FILE)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_serve_builds_the_same_deployments_as_prefect_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    # Entrypoints are recorded relative to the working directory, as serve.py's main() arranges.
    monkeypatch.chdir(PROJECT_ROOT)
    served = {d.name: d for d in _load_serve().build_deployments(ZONE)}
    declared = {d["name"]: d for d in yaml.safe_load(PREFECT_FILE.read_text())["deployments"]}

    assert sorted(served) == sorted(_expected_names())
    assert set(declared) == set(EXPECTED)
    for name, deployment in served.items():
        spec = declared[name]
        assert deployment.entrypoint == spec["entrypoint"] == EXPECTED[name]["entrypoint"]
        assert deployment.concurrency_limit == spec["concurrency_limit"]["limit"] == EXPECTED[name].get("limit", 1)
        assert (
            deployment.concurrency_options.collision_strategy.value
            == spec["concurrency_limit"]["collision_strategy"]
            == "ENQUEUE"
        )
        assert sorted(deployment.tags) == sorted(spec["tags"])
        served_schedules = [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules]
        declared_schedules = [(s["cron"], s["timezone"]) for s in spec["schedules"]]
        assert served_schedules == declared_schedules
        want = [(EXPECTED[name]["cron"], ZONE)] if EXPECTED[name]["cron"] else []
        assert served_schedules == want


def test_serve_follows_the_district_time_zone() -> None:
    served = _load_serve().build_deployments("America/Denver")
    zones = {s.schedule.timezone for d in served for s in d.schedules}
    assert zones == {"America/Denver"}


def test_committed_prefect_yaml_is_the_registry_with_the_profile_time_zone() -> None:
    # The YAML is generated (district-compliance deployments write): a hand edit or a registry change without
    # writing it again fails here, so `prefect deploy` and serve.py can never drift apart.
    profile_zone = tomllib.loads(DEFAULT_PROFILE.read_text(encoding="utf-8"))["district"]["time_zone"]
    assert profile_zone == ZONE
    assert PREFECT_FILE.read_text(encoding="utf-8") == prefect_yaml(profile_zone)


def test_written_yaml_follows_the_district_time_zone(tmp_path: Path) -> None:
    target = tmp_path / "prefect.yaml"
    assert write_prefect_yaml(target, "America/Denver") is True
    assert write_prefect_yaml(target, "America/Denver") is False  # already up to date: left alone
    declared = yaml.safe_load(target.read_text(encoding="utf-8"))["deployments"]
    zones = {s["timezone"] for d in declared for s in d["schedules"]}
    assert zones == {"America/Denver"}
    assert [d["name"] for d in declared] == list(EXPECTED)
