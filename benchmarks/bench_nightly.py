"""The whole nightly at LAUSD scale: first night and second (unchanged) night, through Prefect and as a plain
Python loop over the same task functions (the orchestration baseline), each night in a process of its own.

    .venv/bin/python -m benchmarks nightly [--scale lausd] [--sites N] [--skip-baseline] [--database-url URL]

Setup (not timed): the sample (``compliance.sample.ensure_sample``: at ``lausd`` 75,040 Directory users, 1,000
school lists, 999 consent folders, 999 school websites of about 100 photos each, a YouTube channel, a blog and
platform exports per school), then for each store the sample district (Workspace emulator + the websites, each
school on a port of its own so per-host politeness is per school) in a process of its own: Google and the
schools' web hosts are other machines, they must not share the pipeline's interpreter lock or its CPU figure.

Measured, per night: wall time, CPU of the night's process and its children (the Prefect server the embedded
default starts included), the night process's peak RSS, requests and bytes the district answered (Google calls
from the emulator's own count, web responses and body bytes from the web server's). The plain loop also gives
each stage its own wall, CPU, requests and bytes (the stages run one after another there); the Prefect night gives
task runs and their summed run time by task name. Nights are replayed at 02:00 district time on the sample's
calendar (2026-11-20, then 2026-11-21), so both runs see the same consent dates and the same Gmail windows.

There is no campaign in the benchmark's stores (the nightly opens no version without one), so follow-up queues
nothing; the mail of the night is the takedown requests to site administrators. ``--sites N`` crawls and reads
the social media of the first N schools only (everything else at full scale), for a quick look.

Goals (issue 17, on 2 cores): first night under 10 minutes; Prefect's overhead under 10 % of the plain loop;
second night under 10 % of the first. The benchmark reports them; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NIGHTS = (datetime(2026, 11, 20, 10, 0, tzinfo=UTC), datetime(2026, 11, 21, 10, 0, tzinfo=UTC))
FIRST_NIGHT_GOAL_SECONDS = 600.0
GOAL_RATIO = 0.10


# ---------------------------------------------------------------- the district, in a process of its own


def serve(sample: Path, work: Path, database_url: str) -> None:
    """Child process: the sample district until SIGTERM; its environment written to ``work/district.json``."""
    from emulator.district import LocalDistrict

    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    with LocalDistrict(sample, database_url, work_dir=work / "district", host_per_site=True) as district:
        env = {**district.env, "DC_OUT_DIR": str(work / "out")}
        tmp = work / "district.tmp"
        tmp.write_text(json.dumps({"env": env, "websites": district.websites.base_url}), encoding="utf-8")
        tmp.replace(work / "district.json")
        while not stop:
            time.sleep(0.2)


@contextmanager
def district_process(sample: Path, work: Path, database_url: str) -> Iterator[dict[str, Any]]:
    work.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_nightly", "serve", str(sample), str(work), database_url]
    )
    try:
        deadline = time.monotonic() + 600
        while not (work / "district.json").is_file():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the sample district did not start")
            time.sleep(0.2)
        info = json.loads((work / "district.json").read_text(encoding="utf-8"))
        info["pid"] = proc.pid
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def _process_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- what the district answered


def district_counts(env: dict[str, str], websites: str) -> dict[str, int]:
    """Google calls (every method, from the emulator's stats) and web responses and bytes so far."""
    import httpx

    from emulator.admin import EmulatorAdmin

    with EmulatorAdmin(env["DC_GOOGLE__EMULATOR_URL"], ca_path=env["DC_GOOGLE__CA_BUNDLE"]) as admin:
        calls = admin.stats().get("calls", {})
    web = httpx.get(f"{websites}/_sample-websites/stats", timeout=30).json()
    return {
        "google calls": sum(int(v) for v in calls.values()),
        "web responses": int(web["responses"]),
        "web bytes": int(web["bytes"]),
    }


def _minus(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before.get(k, 0) for k in after}


# ---------------------------------------------------------------- one night, in its own process


def _plain_night(now: datetime, counts: Callable[[], dict[str, int]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """flows/nightly.py's recipe as a plain loop over the same task bodies (``.fn``): no Prefect at all."""
    from compliance.photos.traversal import site_shares, site_targets
    from flows.nightly import SITES_PER_CONSENT_TASK, in_chunks
    from flows.site_audit import SITES_PER_TASK
    from tasks import resources
    from tasks.acknowledgements import import_paper_acknowledgements, sync_acknowledgements
    from tasks.campaign import check_bounces, send_queued_mail
    from tasks.consent import sync_consents, sync_students
    from tasks.followup import announce_to_joiners, queue_follow_up, queue_takedown_digests
    from tasks.incidents import queue_incident_follow_up, sync_incident_reports
    from tasks.ledger import anchor_ledger
    from tasks.photos import crawl_sites, reconcile_sites
    from tasks.policy import follow_policy_document
    from tasks.roster import sync_roster
    from tasks.social import audit_social_sites

    settings = resources.checked_settings()
    site_ids = [s.id for s in settings.sites]
    web = [s.id for s in settings.sites if s.web_roots]
    social = [s.id for s in settings.sites if s.youtube_channels or s.blogs or s.social_exports]
    chunks = in_chunks(site_ids, SITES_PER_CONSENT_TASK)
    shares = site_shares(site_targets(settings, web), SITES_PER_TASK)
    social_shares = in_chunks(social, SITES_PER_TASK)
    stages: list[tuple[str, Callable[[], object]]] = [
        ("roster", lambda: sync_roster.fn(now)),
        ("policy", lambda: follow_policy_document.fn(now, None, None)),
        ("acknowledgements", lambda: (sync_acknowledgements.fn(now), import_paper_acknowledgements.fn(now))),
        ("bounces", lambda: check_bounces.fn(now, now)),
        ("follow-up", lambda: (announce_to_joiners.fn(now), queue_follow_up.fn(now))),
        ("incidents", lambda: (sync_incident_reports.fn(now), queue_incident_follow_up.fn(now))),
        ("students", lambda: sync_students.fn(now)),
        ("consent", lambda: [sync_consents.fn(chunk) for chunk in chunks]),
        ("crawl", lambda: [crawl_sites.fn(share, now) for share in shares]),
        ("photos", lambda: [reconcile_sites.fn(share, now) for share in shares]),
        ("social", lambda: [audit_social_sites.fn(share, now=now) for share in social_shares]),
        ("takedown", lambda: queue_takedown_digests.fn(now)),
        ("mail", lambda: send_queued_mail.fn(None, now)),
        ("ledger", lambda: anchor_ledger.fn(now)),
    ]
    rows = []
    results: dict[str, Any] = {}
    before = counts()
    for name, run in stages:
        wall, cpu = time.perf_counter(), time.process_time()
        results[name] = run()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        after = counts()
        rows.append({"stage": name, "wall": wall, "cpu": cpu, **_minus(after, before)})
        before = after
    return results, rows


def _prefect_night(now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    from flows.nightly import nightly

    state = nightly(now=now, return_state=True)
    results = state.result()
    rows: dict[str, dict[str, Any]] = {}
    with get_client(sync_client=True) as client:
        runs, offset = [], 0
        while True:  # every task run of this flow run, a page at a time
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[state.state_details.flow_run_id])),
                limit=200,
                offset=offset,
            )
            runs += page
            offset += len(page)
            if len(page) < 200:
                break
    for run in runs:
        name = re.sub(r"-[0-9a-f]{3}$", "", run.name)  # "crawl-site-4f2": the task, not the run
        row = rows.setdefault(name, {"stage": name, "task runs": 0, "run time": 0.0})
        row["task runs"] += 1
        row["run time"] += run.total_run_time.total_seconds()
    return results, sorted(rows.values(), key=lambda r: -r["run time"])


LEDGER_FUNCTIONS = (
    "append_acknowledgement",
    "append_events",
    "record_acknowledgements",
    "record_consents",
    "record_findings",
    "record_missing_sends",
    "record_sends",
    "record_withdrawn_consents",
    "write_anchor",
)


def _time_ledger() -> dict[str, float]:
    """Time every call into the ledger (issue 18's cost), wherever a module imported the function by name.

    Only the outermost ledger call of a thread is counted, so ``record_findings`` -> ``append_events`` is
    counted once; ``seconds`` sums the calls of every thread (sequential in the plain loop: a share of its wall).
    """
    import threading

    import compliance.anchors
    import compliance.ledger

    spent = {"seconds": 0.0, "calls": 0}
    depth = threading.local()
    originals = {getattr(compliance.ledger, n, None) or getattr(compliance.anchors, n) for n in LEDGER_FUNCTIONS}

    def timed(fn: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            level = getattr(depth, "level", 0)
            depth.level = level + 1
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                depth.level = level
                if level == 0:
                    spent["seconds"] += time.perf_counter() - started
                    spent["calls"] += 1

        return wrapper

    wrappers = {id(fn): timed(fn) for fn in originals}
    for module in list(sys.modules.values()):
        for name, value in list(vars(module).items()) if module is not None else ():
            if id(value) in wrappers and value in originals:
                setattr(module, name, wrappers[id(value)])
    return spent


def night(mode: str, now: datetime, info_file: Path, out: Path) -> None:
    """Child process: one night (``prefect`` or ``plain``) against the district of ``info_file``; JSON to ``out``."""
    info = json.loads(info_file.read_text(encoding="utf-8"))
    profile = os.environ.get("DC_PROFILE")  # the benchmark's (maybe trimmed) profile, not the district's
    os.environ.update(info["env"])
    if profile:
        os.environ["DC_PROFILE"] = profile
    from compliance.runtime import configure_prefect_env

    configure_prefect_env()

    def counts() -> dict[str, int]:
        return district_counts(info["env"], info["websites"])

    import flows.nightly  # noqa: F401  (every task module, so the ledger's callers are all in sys.modules)

    ledger = _time_ledger()

    before = counts()
    wall, cpu = time.perf_counter(), time.process_time()
    if mode == "plain":
        with warnings.catch_warnings():  # the tasks' artifacts, published with no flow run to hold them
            warnings.simplefilter("ignore", FutureWarning)
            results, stages = _plain_night(now, counts)
    else:
        results, stages = _prefect_night(now)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    counting = 0.0
    if mode == "plain":  # without the district's counts asked between stages
        counting = wall - sum(s["wall"] for s in stages)
        wall, cpu = sum(s["wall"] for s in stages), sum(s["cpu"] for s in stages)
    payload = {
        "mode": mode,
        "wall": wall,
        "cpu": cpu,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "counting": counting,
        "ledger seconds": ledger["seconds"],
        "ledger calls": ledger["calls"],
        **_minus(counts(), before),
        "stages": stages,
        "results": _summary(results),
    }
    out.write_text(json.dumps(payload, default=str), encoding="utf-8")


def _summary(results: dict[str, Any]) -> dict[str, Any]:
    """The counts that say what the night did (sites crawled, photos, findings, mail), for the report."""

    def total(value: Any, key: str) -> int:
        if isinstance(value, dict):
            return int(value.get(key, 0) or 0)
        if isinstance(value, list | tuple):  # per share, per site
            return sum(total(v, key) for v in value)
        return 0

    picks = {
        "people": ("roster", "people"),
        "consent records added": ("consent", "added"),
        "pages": ("crawl", "pages"),
        "images": ("crawl", "images"),
        "violations": ("photos", "violations"),
        "sent": ("mail", "sent"),
    }
    return {label: total(results.get(stage), key) for label, (stage, key) in picks.items()}


# ---------------------------------------------------------------- the run


def _trimmed_profile(sample: Path, sites: int) -> Path:
    """A copy of the sample's profile, beside it, in which only the first ``sites`` websites are crawled."""
    profile = sample / "profile.toml"
    keep = [s["id"] for s in tomllib.loads(profile.read_text(encoding="utf-8"))["sites"] if s.get("web_roots")]
    keep_set = set(keep[:sites])
    lines, current = [], None
    for line in profile.read_text(encoding="utf-8").splitlines():
        if line.startswith("id = "):
            current = tomllib.loads(line)["id"]
        key = line.split(" = ", 1)[0]
        if current and current not in keep_set and key in ("web_roots", "youtube_channels", "blogs", "social_exports"):
            line = f"{key} = []"
        lines.append(line)
    out = sample / f"profile.first-{sites}-websites.toml"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


def _run_night(mode: str, now: datetime, info: dict[str, Any], work: Path, label: str) -> dict[str, Any]:
    out = work / f"{label}.json"
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect"), "PREFECT_LOGGING_LEVEL": "WARNING"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    district_before = _process_cpu(info["pid"])
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_nightly", "night", mode, now.isoformat(),
         str(work / "district.json"), str(out)],
        check=True, env=env,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = json.loads(out.read_text(encoding="utf-8"))
    # The plain loop asks the district for its counts between stages: not the night's work, left out.
    result["process wall"] = wall - result["counting"]
    result["process cpu"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result["district cpu"] = _process_cpu(info["pid"]) - district_before
    return result


def _print_night(label: str, r: dict[str, Any]) -> None:
    print(
        f"{label:34} wall {r['wall']:7.1f} s (process {r['process wall']:7.1f} s)  CPU {r['process cpu']:7.1f} s  "
        f"peak RSS {r['peak_rss_mb']:6.0f} MB  Google calls {r['google calls']:7,}  web {r['web responses']:7,} "
        f"responses, {r['web bytes'] / 1e6:8.1f} MB  district CPU {r['district cpu']:6.1f} s"
    )
    print(f"{'':34} did: " + ", ".join(f"{k} {v:,}" for k, v in r["results"].items()))
    threads = ", summed over threads" if r["mode"] == "prefect" else ""
    print(f"{'':34} ledger: {r['ledger calls']:,} calls, {r['ledger seconds']:.1f} s "
          f"({r['ledger seconds'] / r['wall']:.1%} of the night's wall{threads})")


def _print_stages(r: dict[str, Any]) -> None:
    if r["mode"] == "plain":
        print(f"  {'stage':18} {'wall s':>8} {'CPU s':>8} {'Google':>8} {'web resp':>9} {'web MB':>8}")
        for s in r["stages"]:
            print(f"  {s['stage']:18} {s['wall']:8.1f} {s['cpu']:8.1f} {s['google calls']:8,} "
                  f"{s['web responses']:9,} {s['web bytes'] / 1e6:8.1f}")
    else:
        print(f"  {'task':28} {'runs':>6} {'run time s':>11}")
        for s in r["stages"][:12]:
            print(f"  {s['stage']:28} {s['task runs']:6,} {s['run time']:11.1f}")


def main(argv: list[str]) -> int:
    if argv[:1] == ["serve"]:
        serve(Path(argv[1]), Path(argv[2]), argv[3])
        return 0
    if argv[:1] == ["night"]:
        night(argv[1], datetime.fromisoformat(argv[2]), Path(argv[3]), Path(argv[4]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m benchmarks nightly", description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="lausd", choices=("lausd", "standard"))
    parser.add_argument("--sites", type=int, default=None, help="crawl only the first N school websites")
    parser.add_argument("--skip-baseline", action="store_true", help="only the nights through Prefect")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file per store")
    parser.add_argument("--keep", type=Path, default=None, help="keep the stores and results in this folder")
    args = parser.parse_args(argv)

    from compliance.sample import ensure_sample

    started = time.perf_counter()
    sample = ensure_sample(args.scale)
    print(f"sample {sample.name} ready in {time.perf_counter() - started:.1f} s", flush=True)
    profile = _trimmed_profile(sample, args.sites) if args.sites else sample / "profile.toml"
    os.environ["DC_PROFILE"] = str(profile)
    modes = ["prefect"] if args.skip_baseline else ["prefect", "plain"]
    tmp = tempfile.TemporaryDirectory(prefix="bench-nightly-")
    base = args.keep or Path(tmp.name)
    results: dict[str, list[dict[str, Any]]] = {}
    try:
        for mode in modes:
            work = base / mode
            db = args.database_url or f"sqlite:///{work / 'store.db'}"
            t = time.perf_counter()
            with district_process(sample, work, db) as info:
                print(f"[{mode}] district up in {time.perf_counter() - t:.1f} s "
                      f"({len(json.loads(info['env'].get('DC_SITES_BASE_URLS', '{}')))} web hosts)", flush=True)
                for n, now in enumerate(NIGHTS, 1):
                    r = _run_night(mode, now, info, work, f"night-{n}")
                    results.setdefault(mode, []).append(r)
                    _print_night(f"[{mode}] night {n} ({'first' if n == 1 else 'unchanged'})", r)
                    _print_stages(r)
    finally:
        if args.keep is None:
            tmp.cleanup()
    first, second = results["prefect"]
    print()
    print(f"first night through Prefect: {first['process wall']:.1f} s (goal < {FIRST_NIGHT_GOAL_SECONDS:.0f} s): "
          f"{'met' if first['process wall'] < FIRST_NIGHT_GOAL_SECONDS else 'NOT met'}")
    ratio = second["process wall"] / first["process wall"]
    print(f"second night / first: {ratio:.1%} (goal < {GOAL_RATIO:.0%}): {'met' if ratio < GOAL_RATIO else 'NOT met'}")
    if "plain" in results:
        plain_first, plain_second = results["plain"]
        for label, p, q in (("first", first, plain_first), ("second", second, plain_second)):
            overhead = p["process wall"] / q["process wall"] - 1
            cpu = p["process cpu"] / q["process cpu"] - 1
            print(
                f"orchestration overhead, {label} night: wall {overhead:+.1%}, CPU {cpu:+.1%} (Prefect "
                f"{p['process wall']:.1f} s vs plain loop {q['process wall']:.1f} s; goal < {GOAL_RATIO:.0%})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
