"""The scale-out profile for real (issue 17): Prefect's server and the pipeline's store on PostgreSQL, two process
workers on the pool, the nightly's websites as `site-audit` flow runs, and a nightly and a campaign at once.

What is checked is counted by others than the pipeline: the websites server's own request log (every site
audited once), the emulator's own mail and per-sender counts (every message sent once; no sender over its
sends a minute or messages a day, refused sends included), Prefect's own runs. Nothing is timed: every wait is
on a state (a run ended, a server answered) with a deadline as a safety net only.

Gmail's limits are small here (5 sends a minute, 8 messages a day per sender) so that both bind while the two
runs send together: the campaign's messages and the nightly's digests are more than the three senders may send
in a day. What is left is sent the next day by the outbox in this process, on an injected clock a day later.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from emulator_fixtures import EmulatorClock
from sqlalchemy import create_engine, select, text
from test_deployments import POOL, PREFECT_FILE, Stack, _free_port, _run_deployment, _stop, _tail, _wait_healthy

from compliance.mail import delivery_reference
from compliance.models import Delivery, SiteAudit
from compliance.settings import PROJECT_ROOT, get_settings
from compliance.shell.deployments import seal_parameter_forms
from compliance.store import Store
from compliance.vocabulary import PersonCategory
from emulator.district import LocalDistrict
from emulator.limits import EmulatorLimits

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PG_ADMIN_URL = os.environ.get("DC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PER_MINUTE = 5
PER_DAY = 8
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
RUN_TIMEOUT = 1500.0  # the nightly, its site audits and a paced campaign, on a loaded 2-core machine
REFERENCE = re.compile(r"DC[0-9A-F]{18}")


def _postgres() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure to connect: skip, saying why
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}"
    return None


@pytest.fixture(scope="module")
def schemas() -> Iterator[tuple[str, str]]:
    """Two fresh schemas in the `test` database: (the pipeline's store, Prefect's own)."""
    reason = _postgres()
    if reason:
        pytest.skip(reason)
    names = (f"t_{uuid.uuid4().hex[:12]}", f"t_{uuid.uuid4().hex[:12]}")
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for name in names:
            conn.execute(text(f'create schema "{name}"'))
    try:
        yield names
    finally:
        with admin.connect() as conn:
            for name in names:
                conn.execute(text(f'drop schema "{name}" cascade'))
        admin.dispose()


def _wait_ended(stack: Stack, run_ids: list[str], workers: list[subprocess.Popen[bytes]]) -> dict[str, Any]:
    deadline = time.monotonic() + RUN_TIMEOUT
    runs: dict[str, Any] = {}
    while time.monotonic() < deadline and all(w.poll() is None for w in workers):
        runs = {run_id: stack.api("GET", f"/flow_runs/{run_id}") for run_id in run_ids}
        if all(run["state_type"] in TERMINAL for run in runs.values()):
            break
        time.sleep(1.0)
    states = {run.get("name"): run["state_type"] for run in runs.values()}
    if len(runs) != len(run_ids) or set(states.values()) != {"COMPLETED"}:
        logs = stack.api("POST", "/logs/filter", json={"logs": {"level": {"ge_": 30}}, "limit": 200})
        messages = "\n".join(entry["message"] for entry in logs)[-5000:]
        tails = "\n".join(_tail(stack.logs / f"worker-{n}.log", 30) for n in ("a", "b"))
        pytest.fail(f"runs ended {states}\nworker logs:\n{tails}\nwarnings and errors:\n{messages}")
    return runs


@pytest.mark.timeout(3000)
def test_two_workers_on_postgresql_run_a_nightly_and_a_campaign_at_once(
    schemas: tuple[str, str], sample_dir: Path, tmp_path: Path
) -> None:
    store_schema, prefect_schema = schemas
    store_url = f"{PG_ADMIN_URL}?options=-csearch_path%3D{store_schema}"
    logs = tmp_path / "logs"
    logs.mkdir()
    port = _free_port()
    base = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    base.update({
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "1",
    })  # fmt: skip
    # Prefect's server keeps its own state in PostgreSQL too (asyncpg), in its own schema.
    server_env = {
        **base,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432/test",
        "PREFECT_SERVER_DATABASE_SQLALCHEMY_CONNECT_ARGS_SEARCH_PATH": prefect_schema,
    }
    limits = EmulatorLimits(gmail_sends_per_minute=PER_MINUTE, gmail_daily_per_sender=PER_DAY)
    pipeline = {
        "DC_QUOTAS__GMAIL_SENDS_PER_MINUTE": str(PER_MINUTE),
        "DC_QUOTAS__GMAIL_DAILY_PER_SENDER": str(PER_DAY),
        "DC_SCALE_OUT__SITE_AUDITS": "workers",
        # One site-audit run per website (each school on a web host of its own: sites sharing a host share a run,
        # for that host's politeness): five for the two workers.
        "DC_SCALE_OUT__SITES_PER_AUDIT": "1",
        "DC_SCALE_OUT__POLL_SECONDS": "1",
    }
    with ExitStack() as cleanup:
        stack = Stack(api_url=f"http://127.0.0.1:{port}/api", env=server_env, work_dir=tmp_path / "district",
                      database_url=store_url, logs=logs)
        server = stack.start("server", "server", "start", "--host", "127.0.0.1", "--port", str(port))
        cleanup.callback(lambda: [_stop(proc) for proc in reversed(stack.processes)])
        district = cleanup.enter_context(
            LocalDistrict(
                sample_dir, store_url, work_dir=stack.work_dir, limits=limits, extra_env=pipeline, host_per_site=True
            )
        )
        admin = district.emulator.admin
        web_sites = sorted(site.id for site in get_settings().sites if site.web_roots)
        stack.env = {**base, **district.env, "PREFECT_API_URL": stack.api_url}
        _wait_healthy(stack, server)
        stack.cli("work-pool", "create", POOL, "--type", "process")
        stack.cli("deploy", "--all", "--prefect-file", str(PREFECT_FILE.relative_to(PROJECT_ROOT)), "--no-prompt")
        seal_parameter_forms(stack.api_url)
        worker_env = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_HEARTBEAT_SECONDS": "5"}
        workers = [
            stack.start(f"worker-{name}", "worker", "start", "--pool", POOL, "--type", "process", "--name",
                        f"worker-{name}", extra_env=worker_env)
            for name in ("a", "b")
        ]  # fmt: skip

        # The roster first (a campaign plans from it), without the websites.
        _wait_ended(stack, [_run_deployment(stack, "nightly/nightly", {"crawl": False})], workers)
        assert district.websites.hits() == 0
        online = stack.api("POST", f"/work_pools/{POOL}/workers/filter", json={})
        assert {w["name"] for w in online} >= {"worker-a", "worker-b"}

        # Then at once: a whole nightly (its websites as site-audit runs) and a real campaign to one category.
        # Consultants and walk-on coaches: more people than three senders may write to in a day.
        categories = [PersonCategory.CONSULTANT.label("en"), PersonCategory.WALK_ON_COACH.label("en")]
        nightly_id = _run_deployment(stack, "nightly/nightly", {})
        campaign_id = _run_deployment(stack, "distribute-policy/campaign",
                                      {"dry_run": False, "campaign_name": "Scale-out drill", "categories": categories})
        _wait_ended(stack, [nightly_id, campaign_id], workers)

        audits = stack.api("POST", "/flow_runs/filter", json={"deployments": {"name": {"any_": ["site-audit"]}}})
        counts_day_one = admin.sender_counts()
        hits = Counter()
        for (method, path, _status), n in district.websites.counts.items():
            if method == "GET":
                hits[path] += n

        summaries = {
            a["key"]: a["data"]
            for a in stack.api("POST", "/artifacts/filter",
                               json={"artifacts": {"flow_run_id": {"any_": [nightly_id, campaign_id]}}})
            if a["key"] in ("nightly", "campaign")
        }  # fmt: skip
        # What the senders may not send today waits for tomorrow: the outbox here, a day later.
        with Store(store_url).session() as s:
            day_one = Counter((r.status, r.sender) for r in s.scalars(select(Delivery)))
        print("day one, deliveries by status and sender:", dict(day_one))
        print("day one, the runs' mail:", [line for text in summaries.values() for line in text.splitlines()
                                          if line.startswith(("| mail:", "| sent", "| deferred", "| still"))])
        print("day one, Gmail sends answered:", admin.stats()["statuses"].get("gmail.users.messages.send"))
        assert day_one[("pending", None)], "more mail than three senders may send in a day: some must wait"
        tomorrow = datetime.now(UTC) + timedelta(days=1, minutes=1)
        _send_the_rest(store_url, EmulatorClock(admin, tomorrow))
        mail = admin.mail()
        counts = admin.sender_counts()
        with Store(store_url).session() as s:
            rows = s.scalars(select(Delivery)).all()
            site_audits = s.scalars(select(SiteAudit)).all()
        for worker in workers:
            _stop(worker)

    # Every site audited once: one site-audit run each, completed; one record each for this night; and the
    # websites' own log saw each page and image of each site asked for once tonight.
    assert len(audits) == len(web_sites) == 5
    assert {run["state_type"] for run in audits} == {"COMPLETED"}
    assert Counter(site for run in audits for site in run["parameters"]["site_ids"]) == dict.fromkeys(web_sites, 1)
    assert Counter((a.night, a.site_id) for a in site_audits) == {(nightly_id, site): 1 for site in web_sites}
    for site in web_sites:
        paths = {path: n for path, n in hits.items() if path.startswith(f"/{site}/")}
        assert paths and max(paths.values()) == 1, (site, {p: n for p, n in paths.items() if n > 1})

    # Every message sent once: each sent delivery's reference is in exactly one message, nothing else went out.
    sent = [r for r in rows if r.status == "sent"]
    assert sent and len(sent) == len(rows), Counter(r.status for r in rows)
    kinds = Counter(r.kind for r in sent)
    assert kinds["announcement"] >= 10 and len(kinds) >= 2, kinds  # the campaign's and the nightly's mail
    references = Counter(ref for m in mail for ref in set(REFERENCE.findall(m["text"])))
    assert references == {delivery_reference(r.idempotency_key): 1 for r in sent}
    assert len(mail) == len(sent)

    # No sender over its limits in the emulator's own count, refused attempts included, on either day.
    assert sorted(counts_day_one) == sorted(counts) and len(counts) == 3
    assert all(c["sent"] <= PER_DAY for c in counts_day_one.values()), counts_day_one
    for sender, got in counts.items():
        assert got["refused"] == {}, (sender, got)
        assert got["attempted"] == got["sent"], (sender, got)
        assert got["peak_attempted_per_minute"] <= PER_MINUTE, (sender, got)
        assert got["peak_attempted_per_day"] <= PER_DAY, (sender, got)
    print("per sender:", json.dumps({s: {k: v for k, v in c.items() if k != "sent_per_minute"}
                                     for s, c in counts.items()}))


def _send_the_rest(store_url: str, clock: EmulatorClock) -> None:
    """The outbox in this process, a day later: pacing waits move the injected clock (and the emulator's)."""
    from compliance.google.clients import GoogleClients
    from compliance.outbox import Outbox
    from compliance.settings import get_settings

    def sleep(seconds: float) -> None:
        clock.advance(timedelta(seconds=max(seconds, 0.001)))

    settings = get_settings()
    outbox = Outbox(Store(store_url), GoogleClients(settings, clock=clock, sleep=sleep), settings, clock=clock)
    for _day in range(5):
        counts = outbox.send()
        if not counts.deferred:
            return
        clock.advance(timedelta(days=1))
    pytest.fail(f"mail still waiting after five more days: {counts.as_dict()}")
