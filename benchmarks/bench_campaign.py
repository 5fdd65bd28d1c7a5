"""Campaign dry run at LAUSD scale: roster sync into a fresh SQLite store, then the dry run, timed.

Setup: the ``lausd`` sample (``compliance.sample.ensure_sample("lausd")``: ~75,000 Directory users, ~100,000
associated-person rows in 1,000 school lists) served by the Workspace emulator through
``emulator.district.LocalDistrict``, the store a fresh SQLite file.

Measured, in this order:

1. emulator start seeded with the sample (``LocalDistrict`` enter), once;
2. the Prefect ephemeral server start (``prefect_test_harness``: the same subprocess server a first
   ``distribute_policy`` call without ``PREFECT_API_URL`` starts), once: a fixed cost per process;
3. roster sync (the ``tasks.roster.sync_roster`` task: Directory pages through the real Google client over
   HTTPS, every school list, ``build_roster``, ``sync_people``) into the empty store, once, with its stages;
   then the same sync again on the unchanged roster (what every nightly run does), once;
4. the policy version (Drive revision, two Forms provisioned), once;
5. ``plan_and_queue.fn(CampaignParameters(dry_run=True))`` (the task body without Prefect), median of N;
6. ``run_campaign(CampaignParameters(dry_run=True))`` through Prefect: the first call, then median of N.

Baseline, same run: ``compliance.campaign.plan_campaign`` alone on the people already loaded in memory (the
pure planning cost with no database and no Prefect). The ratios say what the store and Prefect add.

    .venv/bin/python -m benchmarks.bench_campaign [--repeat 3] [--scale lausd] [--no-resync] [--keep DIR]

The acceptance target is a dry run under 30 s at LAUSD scale.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

TARGET_SECONDS = 30.0


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


@contextmanager
def _stage_timers(module: Any, names: list[str], spent: dict[str, float]):  # type: ignore[no-untyped-def]
    """Wrap ``module.<name>`` so the real task's stages are timed without copying its body here."""
    saved = {name: getattr(module, name) for name in names}

    def wrap(name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = fn(*args, **kwargs)
            if hasattr(result, "__next__"):  # a generator (Directory pages): time its consumption too
                result = list(result)
            spent[name] = spent.get(name, 0.0) + time.perf_counter() - started
            return result

        return timed

    for name, fn in saved.items():
        setattr(module, name, wrap(name, fn))
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(module, name, fn)


def _sync_roster(now: datetime) -> tuple[float, dict[str, int], dict[str, float]]:
    import tasks.roster as roster_task
    from tasks import resources

    spent: dict[str, float] = {}
    names = ["list_users", "build_roster", "sync_people", "quarantine"]
    original_load = resources.load_source
    with _stage_timers(roster_task, names, spent), _stage_timers(resources, ["load_source"], spent):
        # Called as a task (outside a flow, Prefect 3 runs it in-process): it logs through the run logger.
        seconds, counts = _timed(lambda: roster_task.sync_roster(now))
    assert resources.load_source is original_load
    return seconds, counts, spent


def _plain_plan(version_id: int, now: datetime) -> tuple[float, int]:
    """Baseline: plan_campaign on people already in memory (loaded before the clock starts)."""
    from sqlalchemy import select

    from compliance.campaign import Audience, plan_campaign
    from compliance.models import Acknowledgement, PolicyVersion
    from tasks import resources
    from tasks.campaign import _PLANNING_COLUMNS

    with resources.store().session() as session:
        people = session.execute(select(*_PLANNING_COLUMNS)).all()  # the same rows the task plans on
        version = session.get(PolicyVersion, version_id)
        acknowledged = set(
            session.scalars(select(Acknowledgement.person_id).where(Acknowledgement.policy_version_id == version_id))
        )
        seconds, plan = _timed(
            lambda: plan_campaign(people, acknowledged, Audience(), version, resources.settings(), now,
                                  campaign_id="bench")
        )
        return seconds, len(plan.deliveries) + sum(len(g.person_ids) for g in plan.group_announcements)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="bench_campaign")
    parser.add_argument("--repeat", type=int, default=3, help="timed dry runs of each kind (median)")
    parser.add_argument("--scale", default="lausd", help="sample scale (lausd is the acceptance figure)")
    parser.add_argument("--no-resync", action="store_true", help="skip the second (unchanged) roster sync")
    parser.add_argument("--keep", type=Path, help="keep the store and work folder here instead of a temp dir")
    args = parser.parse_args(argv or [])

    from compliance.runtime import configure_prefect_env

    configure_prefect_env()
    from compliance.campaign import CampaignParameters
    from compliance.sample import ensure_sample
    from emulator.district import LocalDistrict

    sample_seconds, sample = _timed(lambda: ensure_sample(args.scale))
    print(f"sample {sample.name}: ready in {sample_seconds:.1f} s (generated once, then reused)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    work.mkdir(parents=True, exist_ok=True)
    db = work / "compliance.db"
    for leftover in work.glob("compliance.db*"):
        leftover.unlink()
    now = datetime.now(UTC)
    try:
        district = LocalDistrict(sample, f"sqlite:///{db}", work_dir=work)
        harness = None
        start_seconds, _ = _timed(district.__enter__)
        try:
            print(f"emulator + sample websites start, seeded from the sample: {start_seconds:.1f} s")
            from tasks import resources
            from tasks.campaign import plan_and_queue
            from tasks.policy import ensure_policy_version

            migrate_seconds, _ = _timed(resources.store)
            print(f"fresh SQLite store migrated: {migrate_seconds:.1f} s")
            from prefect.testing.utilities import prefect_test_harness

            harness = prefect_test_harness(server_startup_timeout=180)
            server_seconds, _ = _timed(harness.__enter__)
            print(f"Prefect ephemeral server start (fixed cost, once per process): {server_seconds:.1f} s")

            seconds, counts, spent = _sync_roster(now)
            print(
                f"roster sync (sync_roster task): {seconds:.1f} s for {counts['directory users']:,} "
                f"Directory users + {counts['lists read']:,} school lists -> {counts['people']:,} people "
                f"({counts['rows rejected']:,} rows rejected)"
            )
            listed = spent.get("list_users", 0.0)
            read = spent.get("load_source", 0.0)
            build = spent.get("build_roster", 0.0)
            store = spent.get("sync_people", 0.0) + spent.get("quarantine", 0.0)
            print(
                f"  stages: Directory pages {listed:.1f} s, list fetch {read:.1f} s, build_roster (read lists, "
                f"validate, dedupe) {build:.1f} s, sync_people + quarantine {store:.1f} s, "
                f"other (commit, sites) {seconds - listed - read - build - store:.1f} s"
            )

            if not args.no_resync:
                # The nightly case: the same roster again, every person known, nothing to insert.
                again, again_counts, again_spent = _sync_roster(now)
                print(
                    f"roster re-sync, unchanged roster (the nightly run): {again:.1f} s; joined "
                    f"{again_counts['joined']:,}, left {again_counts['left']:,}; sync_people + quarantine "
                    f"{again_spent.get('sync_people', 0.0) + again_spent.get('quarantine', 0.0):.1f} s"
                )

            version_seconds, version_id = _timed(lambda: ensure_policy_version.fn(now))
            print(f"policy version (Drive revision, two Forms): {version_seconds:.1f} s")

            params = CampaignParameters(dry_run=True)
            task_times = []
            summary: dict[str, Any] = {}
            for _ in range(args.repeat):
                t, result = _timed(lambda: plan_and_queue.fn(params, version_id, datetime.now(UTC)))
                task_times.append(t)
                summary = result["summary"]
            baseline_times = []
            reached = 0
            for _ in range(args.repeat):
                t, reached = _plain_plan(version_id, now)
                baseline_times.append(t)
            assert reached == summary["people_reached"], (reached, summary["people_reached"])

            from flows.distribute_policy import run_campaign

            first_seconds, _ = _timed(lambda: run_campaign(params))
            flow_times = [_timed(lambda: run_campaign(params))[0] for _ in range(args.repeat)]
        finally:
            if harness is not None:
                harness.__exit__(None, None, None)
            district.__exit__(None, None, None)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)

    base = statistics.median(baseline_times)
    task_median = statistics.median(task_times)
    flow_median = statistics.median(flow_times)
    print(
        f"dry run plan: {summary['people_reached']:,} people reached, {summary['individual_messages']:,} "
        f"individual + {summary['group_messages']:,} site-group messages, skipped {summary['skipped']}"
    )
    print(f"baseline plan_campaign on in-memory people: median {base:.2f} s ({args.repeat} runs)")
    print(
        f"plan_and_queue.fn dry run (load people + plan + record): median {task_median:.2f} s "
        f"({args.repeat} runs); ratio to baseline {task_median / base:.1f}x"
    )
    print(
        f"distribute_policy dry run through Prefect: first call {first_seconds:.2f} s, then median "
        f"{flow_median:.2f} s ({args.repeat} runs); ratio to baseline {flow_median / base:.1f}x"
    )
    verdict = "meets" if max(flow_median, first_seconds) < TARGET_SECONDS else "MISSES"
    print(f"target dry run < {TARGET_SECONDS:.0f} s at {args.scale} scale: {verdict}")


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
