"""`district-compliance docs screenshots`: the README's pictures of the Prefect UI, taken from the running stack.

What central office sees is the Prefect UI: the campaign's Custom Run form and a dry run's artifacts. The
pictures in docs/screenshots/ are taken from a real stack (``stack up``) by headless Chromium (Debian's
chromium and chromium-driver, ``make browser``), after a roster night and a dry run started through the API the
way the UI starts them, so they show what this version of the pipeline really puts on screen.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import typer
from rich.console import Console

from compliance.settings import PROJECT_ROOT
from compliance.shell.browser import HeadlessChromium, headless_chromium, unavailable_reason

SHOTS = PROJECT_ROOT / "docs" / "screenshots"
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}

docs_app = typer.Typer(help="Documentation: the README's screenshots of the Prefect UI.", no_args_is_help=True)
console = Console(soft_wrap=True)


def _shoot(browser: HeadlessChromium, url: str, path: Path, ready_text: str, tab: str | None = None,
           timeout: float = 60.0) -> None:
    """Open ``url`` (and its ``tab``), wait until ``ready_text`` is on the page and the UI's fade-in is over,
    save a full-page PNG."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser.driver
    driver.get(url)
    if tab is not None:
        WebDriverWait(driver, timeout).until(lambda d: d.find_elements("xpath", f"//*[normalize-space()='{tab}']"))
        driver.find_elements("xpath", f"//*[normalize-space()='{tab}']")[-1].click()
    WebDriverWait(driver, timeout).until(lambda d: ready_text in d.find_element("tag name", "body").text)
    time.sleep(1.5)  # the page is there; its transitions end within a second (only the picture waits for it)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(browser.screenshot())
    console.print(f"wrote {path.relative_to(PROJECT_ROOT)}")


def _deployment_id(api: httpx.Client, name: str) -> str:
    flow, deployment = name.split("/")
    return str(api.get(f"/deployments/name/{flow}/{deployment}").raise_for_status().json()["id"])


def _run(api: httpx.Client, deployment_id: str, parameters: dict[str, Any], timeout: float = 900.0) -> str:
    """Start a run of the deployment as the UI's Run button does and wait until it ended; its id."""
    run = api.post(f"/deployments/{deployment_id}/create_flow_run", json={"parameters": parameters})
    run_id = str(run.raise_for_status().json()["id"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = api.get(f"/flow_runs/{run_id}").raise_for_status().json()["state_type"]
        if state in TERMINAL:
            if state != "COMPLETED":
                raise SystemExit(f"the run {run_id} ended {state}: see the stack's worker log")
            return run_id
        time.sleep(2.0)
    raise SystemExit(f"the run {run_id} did not end within {timeout:.0f} s: is the stack's worker running?")


@docs_app.command("screenshots")
def screenshots() -> None:
    """Start the stack if it is not up, run a roster night and a dry run, and photograph the UI."""
    from compliance.shell import stack

    if (reason := unavailable_reason()) is not None:
        raise SystemExit(f"{reason}: run `make browser` first")
    if not stack.read_pids():
        stack.up(port=0)
    recorded = stack.read_pids()
    ui, api_url = str(recorded["ui_url"]), str(recorded["api_url"])
    with httpx.Client(base_url=api_url, timeout=30.0) as api:
        campaign = _deployment_id(api, "distribute-policy/campaign")
        _run(api, _deployment_id(api, "nightly/nightly"), {"crawl": False})
        dry_run = _run(api, campaign, {"dry_run": True})
        artifacts = api.post("/artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [dry_run]}}})
        plan = next(a for a in artifacts.raise_for_status().json() if a.get("key") == "campaign-plan")
    with headless_chromium() as browser:
        browser.set_viewport(1280, 1000, mobile=False)
        _shoot(browser, f"{ui}/deployments/deployment/{campaign}/run", SHOTS / "campaign-form.png",
               "Dry run: plan only")
        _shoot(browser, f"{ui}/runs/flow-run/{dry_run}", SHOTS / "dry-run-artifacts.png", "campaign-plan",
               tab="Artifacts")
        browser.set_viewport(1280, 1900, mobile=False)  # the UI scrolls inside the page: show the sample too
        _shoot(browser, f"{ui}/artifacts/artifact/{plan['id']}", SHOTS / "dry-run-plan.png", "Campaign plan")


__all__ = ["docs_app", "screenshots"]
