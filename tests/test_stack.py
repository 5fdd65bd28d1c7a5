"""`make stack` as the README has it, the way a new IT person would follow it: stack up, load the env file it
wrote, nightly, a campaign dry run and a real campaign from `prefect deployment run`, the weekly report, stack
down; and `make demo` works with the stack up (ignoring the PREFECT_API_URL the person loaded) and down.

Every process is a subprocess on 127.0.0.1; the stack lives in a temporary folder
(DISTRICT_COMPLIANCE_STACK_DIR) and is stopped in teardown, pass or fail.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from compliance.settings import PROJECT_ROOT

TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT = 600.0


def _clean_env(stack_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "DC_")) and k != "DATABASE_URL"}
    env["DISTRICT_COMPLIANCE_STACK_DIR"] = str(stack_dir)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def _sh(args: list[str], env: dict[str, str], timeout: float = 900.0, ok: bool = True) -> str:
    done = subprocess.run(args, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    output = done.stdout + done.stderr
    assert (done.returncode == 0) == ok, f"{' '.join(args)} exited {done.returncode}:\n{output[-4000:]}"
    return output


def _source(env_file: Path) -> dict[str, str]:
    """What `set -a; . file; set +a` gives: the file's NAME=value lines (comments skipped)."""
    values = {}
    for line in env_file.read_text(encoding="utf-8").splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def _run(env: dict[str, str], deployment: str, *params: str) -> str:
    output = _sh([sys.executable, "-m", "prefect", "deployment", "run", deployment, *params], env, timeout=180)
    match = re.search(r"UUID:\s*([0-9a-f-]{36})", output)
    assert match, output
    return match.group(1)


def _wait(api: str, run_id: str) -> dict:
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = httpx.get(f"{api}/flow_runs/{run_id}", timeout=30).json()
        if run["state_type"] in TERMINAL:
            break
        time.sleep(2.0)
    if run["state_type"] != "COMPLETED":
        messages = "\n".join(_log_messages(api, run_id))[-3000:]
        pytest.fail(f"{run['name']} ended {run['state_type']}:\n{messages}")
    return run


def _log_messages(api: str, run_id: str) -> list[str]:
    logs = httpx.post(f"{api}/logs/filter", json={"logs": {"flow_run_id": {"any_": [run_id]}}}, timeout=30)
    return [entry["message"] for entry in logs.json()]


def _flow_run_count(api: str) -> int:
    return int(httpx.post(f"{api}/flow_runs/count", json={}, timeout=30).json())


@pytest.mark.slow
@pytest.mark.timeout(3600)  # four flow runs and two demos, on a loaded 2-core machine
def test_make_stack_as_the_readme_says_then_demo_with_it_up_and_down(tmp_path: Path) -> None:
    stack_dir = tmp_path / "stack"
    env = _clean_env(stack_dir)
    try:
        up = _sh(["make", "-s", "stack"], env)
        ui = re.search(r"Prefect UI: (http://127\.0\.0\.1:\d+)", up)
        assert ui, up
        assert httpx.get(ui.group(1), timeout=30).status_code == 200  # the UI itself is served
        # The person loads the env file it wrote (README: set -a; . var/stack/district-compliance.env; set +a).
        loaded = {**env, **_source(stack_dir / "district-compliance.env")}
        api = loaded["PREFECT_API_URL"]
        assert api == f"{ui.group(1)}/api"
        assert loaded["PREFECT_HOME"] == str(stack_dir / "prefect")
        assert loaded["DATABASE_URL"] == f"sqlite:///{stack_dir / 'compliance.db'}"

        nightly = _wait(api, _run(loaded, "nightly/nightly", "-p", "crawl=false"))
        assert nightly["state_type"] == "COMPLETED"
        dry = _wait(api, _run(loaded, "distribute-policy/campaign", "-p", "dry_run=true"))
        assert dry["name"].startswith("DRY RUN — AR 1114 "), dry["name"]
        real = _wait(api, _run(loaded, "distribute-policy/campaign", "--params",
                               json.dumps({"dry_run": False, "campaign_name": "Stack drill"})))
        assert real["name"] == "SEND — Stack drill, everyone"
        assert any("a minute measured" in m for m in _log_messages(api, real["id"]))  # one line per batch
        report = _wait(api, _run(loaded, "compliance-report/weekly-report"))
        assert report["state_type"] == "COMPLETED"
        assert list((stack_dir / "out").glob("compliance-report-*.xlsx"))

        # make demo with the stack up, the stack's PREFECT_API_URL loaded: it runs on its own Prefect state.
        before = _flow_run_count(api)
        demo = _sh(["make", "-s", "demo"], loaded)
        assert "Workbook:" in demo
        assert _flow_run_count(api) == before  # no demo run mixed into the stack's
    finally:
        _sh(["make", "-s", "stack-down"], env, timeout=180)
    assert not (stack_dir / "stack.json").exists()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{api}/health", timeout=5)
    # ...and with the stack down (the variable still loaded): the demo does not reach for it.
    again = _sh(["make", "-s", "demo"], loaded)
    assert "Workbook:" in again
    # Same seed, same story: the demo's counts do not change from run to run (issue 14).
    assert _counts(again) == _counts(demo) != {}


def _counts(demo_output: str) -> dict[str, str]:
    """The demo's summary table (what -> count); steps' timings are left out."""
    table = demo_output.split("Sample district after the demo", 1)[-1].split("Workbook:", 1)[0]
    rows = (re.split(r"\s*[│|]\s*", line.strip(" │|")) for line in table.splitlines())
    return {row[0]: row[1] for row in rows if len(row) == 2 and row[1] and row[1] != "count"}
