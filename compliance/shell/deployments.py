"""The deployment registry: every job the district runs, its schedule and its concurrency limit, written once.

Both ways of running the jobs come from ``JOBS``: ``deployments/serve.py`` builds runner deployments from it
(one process, no work pool), and ``deployments/prefect.yaml`` (for ``prefect deploy`` and a process worker) is
generated from it by ``district-compliance deployments write``. Schedules are on the district's clock: the time
zone is the district profile's, never written here (tests/test_deployments.py checks the committed YAML is what
the registry and the default profile give).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from compliance.settings import PROJECT_ROOT, get_settings

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

PREFECT_FILE = PROJECT_ROOT / "deployments" / "prefect.yaml"
WORK_POOL = "district-compliance"
# How many flow runs serve.py executes at once: nightly, the report and one campaign may overlap.
SERVE_RUN_LIMIT = 3
# A second run of the same job waits for the first to finish (ENQUEUE), it is never dropped or doubled.
COLLISION_STRATEGY = "ENQUEUE"
# Site-audit runs of a night that may run at once across the whole pool (the other jobs: one at a time).
SITE_AUDITS_AT_ONCE = 4


@dataclass(frozen=True, slots=True)
class Job:
    """One deployment: which flow (``entrypoint`` relative to the project root), when, and how many at once."""

    name: str
    entrypoint: str
    description: str
    tags: tuple[str, ...]
    cron: str | None = None  # on the district's wall clock; None: started by hand only
    concurrency_limit: int = 1


JOBS: tuple[Job, ...] = (
    Job(
        name="nightly",
        entrypoint="flows/nightly.py:nightly",
        description="Roster sync, acknowledgement sync, reminders and escalation, crawl and consent reconciliation.",
        tags=("ar1114", "nightly"),
        cron="0 2 * * *",  # 02:00, after the day's roster and consent edits
    ),
    Job(
        name="weekly-report",
        entrypoint="flows/compliance_report.py:compliance_report",
        description="Superintendent compliance workbook, emailed and stored in Drive.",
        tags=("ar1114", "report"),
        cron="0 6 * * 1",  # Monday 06:00, before the superintendent's week starts
    ),
    Job(
        name="incident-intake",
        entrypoint="flows/incidents.py:incident_intake",
        description="Incident reports from the form into routed cases; case reminders and stale-case escalation.",
        tags=("ar1114", "incidents"),
        cron="*/15 7-17 * * 1-5",  # every 15 minutes, 07:00-17:45 on school days (the nightly run covers the rest)
    ),
    Job(
        name="campaign",
        entrypoint="flows/distribute_policy.py:distribute_policy",
        description="Policy distribution campaign started by central office (dry run first).",
        tags=("ar1114", "campaign"),
    ),
    Job(
        name="site-audit",
        entrypoint="flows/site_audit.py:site_audit",
        description="A share of the nightly's websites: crawl and photo consent reconciliation (started by the "
        "nightly when scale_out.site_audits is 'workers').",
        tags=("ar1114", "nightly", "site-audit"),
        # Shares of one night run side by side on whichever workers are free, at most this many at once
        # across the pool: each crawls its own sites, politely, host by host.
        concurrency_limit=SITE_AUDITS_AT_ONCE,
    ),
)


def _zone(time_zone: str | None) -> str:
    return time_zone or get_settings().district.time_zone


def load_flow(job: Job) -> Any:
    """The flow object an entrypoint names (``flows/nightly.py:nightly`` -> ``flows.nightly.nightly``)."""
    path, attribute = job.entrypoint.split(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), attribute)


def build_deployments(time_zone: str | None = None) -> list[RunnerDeployment]:
    """The registry as runner deployments for ``prefect.serve`` (nothing is sent to the API here).

    ``time_zone`` defaults to the district profile's; Prefect keeps schedules in UTC and follows daylight saving.
    Entrypoints are recorded relative to the working directory: call this from the project root.
    """
    from prefect.client.schemas.objects import ConcurrencyLimitConfig, ConcurrencyLimitStrategy
    from prefect.schedules import Cron

    zone = _zone(time_zone)
    return [
        load_flow(job).to_deployment(
            name=job.name,
            description=job.description,
            schedules=[Cron(job.cron, timezone=zone)] if job.cron else [],
            concurrency_limit=ConcurrencyLimitConfig(
                limit=job.concurrency_limit, collision_strategy=ConcurrencyLimitStrategy(COLLISION_STRATEGY)
            ),
            tags=list(job.tags),
            # Runs started by hand (the campaign's form) are checked against the flow's typed parameters.
            enforce_parameter_schema=True,
        )
        for job in JOBS
    ]


_YAML_HEADER = """\
# Deployment registry for `prefect deploy`: GENERATED from compliance/shell/deployments.py and the district
# profile's time zone by `district-compliance deployments write`. Do not edit by hand: change the registry (or
# the profile's district.time_zone) and write it again; tests/test_deployments.py fails when this file is stale.
#
# IT deploys from the project root (entrypoints below are relative to it):
#   prefect work-pool create district-compliance --type process      # once
#   prefect deploy --all --prefect-file deployments/prefect.yaml --no-prompt
# and keeps a process worker running on the same machine:
#   prefect worker start --pool district-compliance
#
# Schedules are in the district's time zone; Prefect stores them in UTC and follows daylight saving.
# deployments/serve.py serves the same deployments from one process (no pool, no worker): use one or the
# other on a machine, not both.
#
# No `pull:` section on purpose. Prefect then records, at deploy time, a `set_working_directory` pull step
# with the absolute path of the directory `prefect deploy` ran in (the project root), and the worker changes
# into it before loading the entrypoint. A templated directory (`{{ $VAR }}`) would need the variable set
# either when deploying (its value is baked in then) or in the worker's environment (resolved at each run;
# unset, it becomes an empty path and every run crashes); this way nobody has to set anything.
# Moved the checkout? Deploy again from it. Workers on other machines need a git_clone pull step instead.
"""


def prefect_yaml(time_zone: str | None = None) -> str:
    """The text of deployments/prefect.yaml for the registry, schedules in ``time_zone`` (default: profile's)."""
    zone = _zone(time_zone)
    deployments = [
        {
            "name": job.name,
            "description": job.description,
            "entrypoint": job.entrypoint,
            "tags": list(job.tags),
            "work_pool": {"name": WORK_POOL, "work_queue_name": "default"},
            "concurrency_limit": {"limit": job.concurrency_limit, "collision_strategy": COLLISION_STRATEGY},
            "enforce_parameter_schema": True,
            "schedules": [{"cron": job.cron, "timezone": zone, "active": True}] if job.cron else [],
        }
        for job in JOBS
    ]
    body = yaml.safe_dump(
        {"name": "district-compliance", "deployments": deployments}, sort_keys=False, width=120, allow_unicode=True
    )
    return f"{_YAML_HEADER}\n{body}"


def write_prefect_yaml(path: Path = PREFECT_FILE, time_zone: str | None = None) -> bool:
    """Write the YAML when it differs from the registry's; True when the file changed."""
    text = prefect_yaml(time_zone)
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return False
    path.write_text(text, encoding="utf-8")
    return True


def parameter_form(job: Job) -> dict[str, Any]:
    """The run form the API keeps for ``job``: the flow's parameters with unknown fields refused.

    Prefect builds the schema from the flow's signature but drops ``additionalProperties``; without it a
    misspelt field (``dryrun``) would be accepted and the default used in silence.
    """
    from prefect.utilities.callables import parameter_schema

    schema = parameter_schema(load_flow(job)).model_dump_for_openapi()
    schema["additionalProperties"] = False
    return schema


def seal_parameter_forms(api_url: str, timeout: float = 30.0) -> list[str]:
    """After ``prefect deploy``: store each deployment's form with unknown fields refused; the names done."""
    import httpx

    done = []
    for job in JOBS:
        flow_name = load_flow(job).name
        found = httpx.get(f"{api_url}/deployments/name/{flow_name}/{job.name}", timeout=timeout)
        found.raise_for_status()
        httpx.patch(
            f"{api_url}/deployments/{found.json()['id']}",
            json={"parameter_openapi_schema": parameter_form(job)},
            timeout=timeout,
        ).raise_for_status()
        done.append(f"{flow_name}/{job.name}")
    return done
