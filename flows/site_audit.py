"""Site audit: crawl a share of the district's websites and reconcile their photos against consent.

The nightly audits every website. By default each site is a task of the nightly's own flow run
(``scale_out.site_audits = "in-run"``). A district with several workers sets ``"workers"``: the nightly then
starts one ``site-audit`` flow run per ``scale_out.sites_per_audit`` sites through the work pool
(``run_deployment``), and whichever worker is free, on whichever machine, takes the next one. Each run keeps its
sites' counts in the store (compliance.site_audits), where the nightly reads them back.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime
from typing import Any

from compliance.runtime import configure_prefect_env

configure_prefect_env()

from prefect import flow, get_run_logger  # noqa: E402

from compliance.errors import ConfigurationError  # noqa: E402
from compliance.photos.traversal import site_shares, site_targets  # noqa: E402
from compliance.settings import Settings  # noqa: E402
from compliance.vocabulary import SiteAuditPlacement  # noqa: E402
from tasks import resources  # noqa: E402
from tasks.guard import stops_on_configuration_error  # noqa: E402
from tasks.photos import crawl_sites, reconcile_sites  # noqa: E402
from tasks.site_audits import read_site_audits, record_site_audits, sites_to_audit  # noqa: E402

# The registry's job (compliance/shell/deployments.py): flow name / deployment name.
DEPLOYMENT = "site-audit/site-audit"
# Sites per crawl (and reconcile) task in a run: 999 schools are 4 task runs, one a thread of the runner
# (PREFECT_TASKS_RUNNER_THREAD_POOL_MAX_WORKERS, 4), not 999. A share reads the roster's name index once
# (420,000 students at LAUSD scale, seconds each time) and crawls ``crawl.concurrent_sites`` sites at once.
SITES_PER_TASK = 250

Counts = dict[str, Any]


class SiteAuditsFailed(RuntimeError):
    """Some of the nightly's site-audit runs did not complete: the nightly fails, naming them."""


def _run_name() -> str:
    """"Site audit: lincoln-es, roosevelt-ms" in run lists (see compliance.run_names)."""
    from prefect.runtime import flow_run

    from compliance.run_names import site_audit_run_name

    return site_audit_run_name(dict(flow_run.parameters))


@flow(name="site-audit", log_prints=False, flow_run_name=_run_name)
@stops_on_configuration_error
def site_audit(site_ids: list[str], now: datetime, night: str) -> dict[str, int]:
    """Crawl these sites politely and judge their photos against consent, for the nightly run ``night``.

    Started by the nightly (one run per share of the sites), not by a schedule. Sites already audited for
    ``night`` are skipped, so running the same share again changes nothing.
    """
    settings = resources.checked_settings()
    todo = sites_to_audit(night, site_ids)
    crawls, photos = _audit_in_run(settings, todo, now)
    recorded = record_site_audits(night, todo, crawls, photos, now)
    return {"sites audited": recorded, "sites already audited tonight": len(site_ids) - len(todo)}


def audit_sites(site_ids: list[str], now: datetime) -> tuple[list[Counts], list[Counts]]:
    """Crawl and reconcile every site, in this run or on the pool's workers; (crawl, photos) counts per site.

    Called from the nightly flow; which way follows ``scale_out.site_audits``.
    """
    settings = resources.settings()
    if settings.scale_out.site_audits is SiteAuditPlacement.IN_RUN:
        return _audit_in_run(settings, site_ids, now)
    return _audit_on_workers(settings, site_ids, now)


def _shares(settings: Settings, site_ids: list[str], per_share: int) -> list[list[str]]:
    return site_shares(site_targets(settings, site_ids), per_share)


def _audit_in_run(settings: Settings, site_ids: list[str], now: datetime) -> tuple[list[Counts], list[Counts]]:
    """Crawl, then reconcile, one task per share of sites (at most the runner's threads at once)."""
    shares = _shares(settings, site_ids, SITES_PER_TASK)
    crawled = dict(zip(_flat(shares), _flat(crawl_sites.map(shares, now=now).result()), strict=True))
    judged = dict(zip(_flat(shares), _flat(reconcile_sites.map(shares, now=now).result()), strict=True))
    return [crawled[s] for s in site_ids], [judged[s] for s in site_ids]


def _flat(lists: list[list[Any]]) -> list[Any]:
    return [item for part in lists for item in part]


def _audit_on_workers(settings: Settings, site_ids: list[str], now: datetime) -> tuple[list[Counts], list[Counts]]:
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound
    from prefect.runtime import flow_run

    night = str(flow_run.id or now.isoformat())
    shares = _shares(settings, site_ids, settings.scale_out.sites_per_audit)
    poll_seconds = settings.scale_out.poll_seconds
    runs = []
    for share in shares:
        # Keyed by the night and its sites: a retried nightly finds the runs it already started.
        key = hashlib.sha256("\n".join([night, *share]).encode()).hexdigest()[:32]
        try:
            runs.append(
                run_deployment(
                    DEPLOYMENT,
                    parameters={"site_ids": share, "now": now.isoformat(), "night": night},
                    timeout=0,
                    idempotency_key=f"site-audit-{key}",
                )
            )
        except ObjectNotFound:
            raise ConfigurationError(
                f"scale_out.site_audits is 'workers' but the {DEPLOYMENT} deployment does not exist: deploy "
                "deployments/prefect.yaml again (README, 'Scale-out'), or set DC_SCALE_OUT__SITE_AUDITS=in-run"
            ) from None
    get_run_logger().info("%d sites in %d site-audit runs on the work pool", len(site_ids), len(runs))
    ended = _wait_for([run.id for run in runs], poll_seconds)
    failed = [run for run in ended if not (run.state and run.state.is_completed())]
    if failed:
        names = ", ".join(f"{run.name} ({run.state.name if run.state else 'no state'})" for run in failed)
        raise SiteAuditsFailed(f"{len(failed)} of {len(runs)} site-audit runs did not complete: {names}")
    audits = read_site_audits(night)
    missing = [s for s in site_ids if s not in audits]
    if missing:
        raise SiteAuditsFailed(f"{len(missing)} sites have no audit tonight: {', '.join(missing[:10])}")
    return [audits[s][0] for s in site_ids], [audits[s][1] for s in site_ids]


def _wait_for(run_ids: list[Any], poll_seconds: float) -> list[Any]:
    """The flow runs, once every one of them has ended (completed, failed, crashed or cancelled)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=run_ids)))
            if len(runs) == len(run_ids) and all(run.state and run.state.is_final() for run in runs):
                return runs
            time.sleep(poll_seconds)
