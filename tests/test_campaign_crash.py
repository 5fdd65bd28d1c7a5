"""Crash drill: the sending process is SIGKILLed 20 times at seeded points of the send and resumed each time;
the emulator's sent mail then holds every planned message exactly once. Hostile roster input travels the same
real path (plan, ledger, outbox, HTTPS emulator) and comes out escaped or quarantined, never injected.

Every kill lands at a named point rather than on a timer, so the drill replays the same on a quiet and on a
loaded machine: after the write-ahead commit (``claimed``), after Google accepted a batch but before the run
recorded it (``sent``), while Google is still working through the batch (``in_request``: the emulator parks
the batch, the client is killed, then the batch completes on the server) and after the outcome is recorded
(``recorded``). Before the next process starts the drill waits until the emulator has no request left in
hand, which is what the outbox's in-flight grace stands for in production.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from compliance.campaign import CampaignParameters
from compliance.mail import delivery_reference
from compliance.models import Delivery, Person, Quarantine
from compliance.store import Store
from emulator.district import LocalDistrict
from emulator.limits import EmulatorLimits

# Drill: twenty SIGKILLed sender processes and their resumption; `make test-fast` leaves it out, `make test` runs it.
pytestmark = pytest.mark.slow

START = datetime.now(UTC)
KILLS = 20
SEED = 1114
# Batches of 10: a run that dies at its third batch at the latest uses at most 30 of the ~650 messages, so
# 20 runs cannot finish the campaign before the last kill and the resume always has work left.
BATCH_SIZE = 10
PHASES = ("claimed", "sent", "in_request", "recorded")
GRACE_SECONDS = 5.0
CRASH_SENDER = Path(__file__).parent / "drills" / "crash_sender.py"

SCRIPT_NAME = "<script>alert(1)</script>"
FORMULA_NAME = '=HYPERLINK("http://x","y")'
HOSTILE = [
    # (person_key, given, family, email)
    ("hostile-script", SCRIPT_NAME, "Volunteer", "script.volunteer@example.org"),
    ("hostile-formula", FORMULA_NAME, "Vendor", "formula.vendor@example.org"),
    ("hostile-newline", "Eve\r\nBcc: victim@evil.example", "Injector", "eve.injector@example.org"),
    ("hostile-bad-email", "Mallory", "Malformed", "mallory@@example..org"),
]


def _send_command(campaign_id: int) -> list[str]:
    return [
        sys.executable, "-m", "compliance.shell.cli", "campaign", "send",
        "--campaign-id", str(campaign_id), "--in-flight-grace", str(GRACE_SECONDS),
    ]


def _ledger(db_url: str, campaign_id: int) -> Counter:
    with Store(db_url).session() as s:
        return Counter(
            dict(
                s.execute(
                    select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
                    .group_by(Delivery.status)
                ).all()
            )
        )


def load_roster(now: datetime) -> None:
    """What the nightly roster task does, through the same domain functions, without a Prefect run context."""
    from compliance.google.workspace import list_users
    from compliance.quarantine import quarantine
    from compliance.roster import build_roster, sync_people, sync_sites
    from tasks import resources

    settings = resources.settings()
    associated = [
        (resources.load_source(src), site.id, src) for site in settings.sites for src in site.associated_sources
    ]
    result = build_roster(list(list_users(resources.google())), associated, settings.sites,
                          skip_emails=[str(s) for s in settings.senders])
    with resources.store().session() as session:
        sync_sites(session, settings.sites)
        sync_people(session, result.people, now)
        quarantine(session, result.rejected)


@pytest.fixture(scope="module")
def drill(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    from tasks.campaign import plan_and_queue
    from tasks.policy import ensure_policy_version

    work = tmp_path_factory.mktemp("crash")
    db_url = f"sqlite:///{work / 'store.db'}"
    # Gmail may replace the client's Message-ID on API sends: the emulator does here, so recovery is proved to
    # rest on what the pipeline controls (the reference in the text) and on what Gmail reports back.
    with LocalDistrict(sample_dir, db_url, work_dir=work, sends_per_minute=6000,
                       limits=EmulatorLimits(gmail_rewrite_message_id=True),
                       extra_env={"DC_QUOTAS__GMAIL_BATCH_SIZE": str(BATCH_SIZE)}) as district:
        admin = district.emulator.admin
        load_roster(START)
        store = Store(db_url)
        with store.session() as s:
            site_id = s.scalar(select(Person.site_id).where(Person.site_id.is_not(None)).limit(1))
            for key, given, family, address in HOSTILE:
                s.add(Person(person_key=key, kind="associated", category="volunteer", given_name=given,
                             family_name=family, email=address, site_id=site_id, source="test:hostile",
                             first_seen_at=START))
        version_id = ensure_policy_version.fn(START)
        queued = plan_and_queue.fn(CampaignParameters(name="crash drill", dry_run=False), version_id, START)
        campaign_id = queued["campaign_id"]
        env = {**os.environ, **district.env}
        rng = random.Random(SEED)
        kills: list[dict] = []
        for i in range(KILLS):
            phase = PHASES[i % len(PHASES)]
            nth = 1 if phase == "in_request" else 1 + rng.randrange(3)
            if phase == "in_request":
                # The real command, killed while the emulator holds its first batch; the batch then completes.
                admin.set_faults(method="gmail.users.messages.send", hold=True, count=1)
                proc = subprocess.Popen(_send_command(campaign_id), env=env, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
                admin.wait_for(lambda stats, p=proc: stats["held"] >= 1 or p.poll() is not None)
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                admin.release_held()
                admin.clear_faults()
            else:
                proc = subprocess.Popen(
                    [sys.executable, str(CRASH_SENDER), str(campaign_id), phase, str(nth), str(GRACE_SECONDS)],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )
                proc.wait(timeout=300)
            admin.wait_idle()
            kills.append({"phase": phase, "nth": nth, "killed": proc.returncode == -signal.SIGKILL,
                          "returncode": proc.returncode, **_ledger(db_url, campaign_id)})
        # Resume with two processes at once (an operator's run while the nightly one sends): they read the
        # same pending rows, and the conditional claim must keep them from both sending a message.
        finals = [subprocess.Popen(_send_command(campaign_id), env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for _ in range(2)]
        final = [(p.communicate(timeout=120), p.returncode) for p in finals]
        again = subprocess.run(_send_command(campaign_id), env=env, capture_output=True, text=True, timeout=120)
        yield {
            "district": district, "db": db_url, "campaign_id": campaign_id, "queued": queued, "kills": kills,
            "final": final, "again": again, "mail": admin.mail(),
        }


def test_twenty_kills_then_resume_send_each_message_exactly_once(drill) -> None:
    kills, final = drill["kills"], drill["final"]
    print(*kills, sep="\n")
    assert [code for _, code in final] == [0, 0], [err[-2000:] for (_, err), _ in final]
    resumed = [json.loads(out.strip().splitlines()[-1]) for (out, _), _ in final]
    assert sum(r["sent"] for r in resumed) > 0, resumed  # together they sent what the kills left
    assert sum(k["killed"] for k in kills) == KILLS, "\n".join(map(str, kills))
    assert all(k["returncode"] == -signal.SIGKILL for k in kills)
    # The kills span the send: some before anything went out, many mid-batch (rows left in ``sending``
    # between the write-ahead commit and the result commit), and work was still left at the last kill.
    assert kills[0].get("sent", 0) < drill["queued"]["queued"] // 4
    assert sum(1 for k in kills if k.get("sending", 0)) >= 5, kills
    assert kills[-1].get("pending", 0) + kills[-1].get("sending", 0) > 0, kills

    with Store(drill["db"]).session() as s:
        rows = s.scalars(select(Delivery).where(Delivery.campaign_id == drill["campaign_id"])).all()
    assert len(rows) == drill["queued"]["queued"] > 600
    assert Counter(r.status for r in rows) == {"sent": len(rows)}

    mail = drill["mail"]
    by_message_id = Counter(m["message_id"] for m in mail)
    assert max(by_message_id.values()) == 1, "a message went out twice"
    assert set(by_message_id) == {r.gmail_rfc822_id for r in rows}, "a planned message is missing"
    assert not set(by_message_id) & {r.rfc822_message_id for r in rows}  # Gmail's ids, not ours
    references = Counter(ref for m in mail for ref in re.findall(r"DC[0-9A-F]{18}", m["text"]))
    assert references == {delivery_reference(r.idempotency_key): 1 for r in rows}
    sent_to = Counter(a.lower() for m in mail for a in [*m["to"], *m["bcc"]] if a.lower() != m["sender"].lower())
    planned = Counter(a.lower() for r in rows for a in (r.recipients if r.kind == "announcement_group"
                                                         else [r.recipient]))
    duplicates = sum((sent_to - planned).values())  # recipients written to more often than planned
    missed = sum((planned - sent_to).values())
    print(f"drill: {len(rows)} planned messages, {len(mail)} sent, {duplicates} duplicates, {missed} missed")
    assert sent_to == planned  # 0 duplicates, 0 missed recipients
    assert {r.gmail_message_id for r in rows} == {m["id"] for m in mail}

    again = json.loads(drill["again"].stdout.strip().splitlines()[-1])
    assert again["sent"] == 0 and again["found already sent after a crash"] == 0


def test_hostile_names_are_escaped_or_quarantined(drill) -> None:
    mail = drill["mail"]
    to_script = [m for m in mail if "script.volunteer@example.org" in m["to"]]
    assert len(to_script) == 1
    html = to_script[0]["html"]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    to_formula = [m for m in mail if "formula.vendor@example.org" in m["to"]]
    assert len(to_formula) == 1 and "=HYPERLINK(" in to_formula[0]["text"]
    assert "=HYPERLINK(&#34;http://x&#34;" in to_formula[0]["html"] or "=HYPERLINK(&quot;" in to_formula[0]["html"]
    for m in mail:  # no header line was injected anywhere: no Bcc, no stray recipient
        assert not m["bcc"] or m["to"] == [m["sender"]]
        assert "victim@evil.example" not in json.dumps(m["headers"]).lower()
        assert all("\n" not in v and "\r" not in v for v in m["headers"].values())
    everyone = {a.lower() for m in mail for a in [*m["to"], *m["bcc"]]}
    assert not everyone & {"eve.injector@example.org", "victim@evil.example", "mallory@@example..org"}

    skipped = drill["queued"]["summary"]["skipped"]
    assert skipped["unsafe_name"] == 1 and skipped["no_valid_email"] >= 1
    with Store(drill["db"]).session() as s:
        keys = dict(s.execute(select(Person.id, Person.person_key)).all())
        unsafe = s.scalars(select(Quarantine).where(Quarantine.job == "campaign")).all()
        assert [keys.get(int(q.row)) for q in unsafe] == ["hostile-newline"]
        queued_people = set(s.scalars(select(Delivery.person_id).where(Delivery.campaign_id == drill["campaign_id"])))
    assert {keys[p] for p in queued_people if p} >= {"hostile-script", "hostile-formula"}
    assert not {keys[p] for p in queued_people if p} & {"hostile-newline", "hostile-bad-email"}
