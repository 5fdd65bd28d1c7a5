"""Job 1 end to end on the sample district: dry run, real run, people sign (some badly), nightly sync,
reminders, digests and escalation; the store's numbers equal the emulator's ground truth exactly."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import getaddresses
from pathlib import Path

import pytest
from sqlalchemy import func, select

from compliance.campaign import CampaignParameters
from compliance.ledger import verify_ledger
from compliance.models import Acknowledgement, Delivery, Person, PolicyVersion, Quarantine
from compliance.store import Store
from emulator.district import LocalDistrict
from emulator.respondents import simulate_signatures

# Drill: campaign, signatures and nightly runs end to end; `make test-fast` leaves it out, `make test` runs it.
pytestmark = pytest.mark.slow

START = datetime.now(UTC)


def _recipients(mail: list[dict]) -> Counter:
    return Counter(addr.lower() for m in mail for _, addr in getaddresses(m.get("to") or []))


@pytest.fixture(scope="module")
def campaign_world(sample_dir: Path, tmp_path_factory: pytest.TempPathFactory, prefect_harness: None):
    from flows.distribute_policy import run_campaign
    from flows.nightly import nightly

    work = tmp_path_factory.mktemp("campaign")
    db_url = f"sqlite:///{work / 'store.db'}"
    with LocalDistrict(sample_dir, db_url, work_dir=work, sends_per_minute=6000) as district:
        admin = district.emulator.admin
        nightly(now=START, crawl=False)
        dry = run_campaign(CampaignParameters(dry_run=True), now=START)
        mail_after_dry_run = len(admin.mail())
        real = run_campaign(CampaignParameters(name="AR 1114 fall", dry_run=False), now=START)
        again = run_campaign(CampaignParameters(name="AR 1114 fall", dry_run=False), now=START)
        announcements = admin.mail()
        with Store(db_url).session() as s:
            forms = s.scalars(select(PolicyVersion)).one().form_questions
        truth = simulate_signatures(admin, forms, seed=7)
        first_sync = nightly(now=START + timedelta(hours=1), crawl=False)
        yield {
            "district": district, "db": db_url, "dry": dry, "real": real, "again": again, "truth": truth,
            "mail_after_dry_run": mail_after_dry_run, "announcements": announcements, "sync": first_sync,
            "nightly": nightly,
        }


def test_dry_run_plans_and_sends_nothing(campaign_world) -> None:
    dry = campaign_world["dry"]["summary"]
    assert campaign_world["mail_after_dry_run"] == 0
    assert dry["individual_messages"] == campaign_world["real"]["summary"]["individual_messages"] > 600
    assert sum(dry["by_site"].values()) == dry["people_reached"]
    assert dry["skipped"].get("paper_only", 0) > 0 and dry["quota"]["days"] >= 1
    assert "[name]" in campaign_world["dry"]["sample"]["text"]


def test_real_run_sends_each_person_once(campaign_world) -> None:
    sent = campaign_world["announcements"]
    counts = _recipients(sent)
    assert len(sent) == campaign_world["real"]["summary"]["individual_messages"]
    assert max(counts.values()) == 1
    assert campaign_world["again"]["queued"] == 0 and campaign_world["again"]["sent"]["sent"] == 0
    senders = Counter(m["sender"] for m in sent)
    assert len(senders) == 3  # the pool shares the load


def test_acknowledgements_equal_ground_truth(campaign_world) -> None:
    truth = campaign_world["truth"]
    assert truth.invited > 600 and 0.7 < len(truth.signed) / truth.invited < 0.9
    assert truth.refused > 0 and truth.duplicates > 0
    with Store(campaign_world["db"]).session() as s:
        recorded = set(
            s.scalars(
                select(func.lower(Person.email)).join(Acknowledgement, Acknowledgement.person_id == Person.id)
                .where(Acknowledgement.method == "form")
            )
        )
        refused = s.scalar(select(func.count()).select_from(Quarantine).where(
            Quarantine.job == "acknowledgement", ~Quarantine.reason.startswith("duplicate")))
        duplicates = s.scalar(select(func.count()).select_from(Quarantine).where(
            Quarantine.job == "acknowledgement", Quarantine.reason.startswith("duplicate")))
        assert recorded == truth.signed
        assert refused == truth.refused and duplicates == truth.duplicates
        assert verify_ledger(s) == []
    sync = campaign_world["sync"]["acknowledgements"]
    assert sync["recorded"] == len(truth.signed) and sync["duplicates"] == truth.duplicates


def test_reminders_digests_and_escalation_follow_the_cadence(campaign_world) -> None:
    nightly, admin = campaign_world["nightly"], campaign_world["district"].emulator.admin
    signed = campaign_world["truth"].signed
    before = len(admin.mail())
    nightly(now=START + timedelta(days=7, hours=2), crawl=False)
    nightly(now=START + timedelta(days=7, hours=3), crawl=False)  # a re-run sends nothing again
    reminders = admin.mail()[before:]
    # Each person reads their reminder in their own language: a first reminder is one of these two subjects.
    first = [m for m in reminders if m["subject"].startswith(("Reminder:", "Recordatorio:"))]
    assert first and len(first) == len(reminders)
    assert {m["subject"].split(":")[0] for m in first} == {"Reminder", "Recordatorio"}
    assert not _recipients(first).keys() & signed and max(_recipients(first).values()) == 1
    before = len(admin.mail())
    nightly(now=START + timedelta(days=21, hours=2), crawl=False)
    later = admin.mail()[before:]
    # The second reminder is the cadence's last; sent on the deadline's day it still asks "by" it, after it
    # (the night's local date can be the day after) it says the acknowledgement is overdue.
    assert {m["subject"].split(":")[0] for m in later} & {"Last reminder", "Overdue"}
    digests = [m for m in later if "have not acknowledged" in m["subject"] and not m["subject"].startswith("Esc")]
    with Store(campaign_world["db"]).session() as s:
        admins = {r.site_admin_email for r in s.scalars(select(__import__("compliance.models").models.Site))}
    assert digests and set(_recipients(digests)) <= admins
    before = len(admin.mail())
    nightly(now=START + timedelta(days=28, hours=2), crawl=False)
    escalation = [m for m in admin.mail()[before:] if m["subject"].startswith(("Escalation:", "Escalamiento:"))]
    assert set(_recipients(escalation)) == {"superintendent@standard-sd.org", "chief-of-staff@standard-sd.org"}
    with Store(campaign_world["db"]).session() as s:
        kinds = Counter(s.scalars(select(Delivery.kind).where(Delivery.status == "sent")))
        assert kinds["superintendent_escalation"] == 2 and kinds["reminder_1"] == len(first)


def test_joiners_get_the_open_campaign_and_leavers_drop_out(campaign_world, sample_dir: Path) -> None:
    import json

    nightly, admin = campaign_world["nightly"], campaign_world["district"].emulator.admin
    users = json.loads((sample_dir / "directory" / "users.json").read_text())
    template = next(u for u in users if not u.get("suspended") and u["orgUnitPath"].startswith("/Schools/"))
    joiner = {**template, "primaryEmail": "new.teacher@standard-sd.org", "id": "joiner-1",
              "name": {"givenName": "Nuevo", "familyName": "Maestro", "fullName": "Nuevo Maestro"}}
    with Store(campaign_world["db"]).session() as s:
        leaver_id, leaver_email = s.execute(select(Person.id, Person.email).join(Acknowledgement, isouter=True).where(
            Person.kind == "employee", Person.active.is_(True), Acknowledgement.id.is_(None)).limit(1)).one()
    leaver = {**next(u for u in users if u["primaryEmail"].lower() == leaver_email.lower()), "suspended": True}
    admin.seed(directory={"users": [joiner, leaver], "orgunits": []})
    before = len(admin.mail())
    result = nightly(now=START + timedelta(days=29, hours=2), crawl=False)
    new_mail = admin.mail()[before:]
    announced = [m for m in new_mail if m["subject"].startswith("Action needed")]
    assert [a for m in announced for a in m["to"]] == ["new.teacher@standard-sd.org"]
    assert result["roster"]["joined"] == 1 and result["roster"]["left"] == 1
    assert result["follow-up"]["joiners announced"] == 1
    again = nightly(now=START + timedelta(days=29, hours=3), crawl=False)
    assert again["follow-up"]["joiners announced"] == 0
    with Store(campaign_world["db"]).session() as s:
        from compliance.report import collect_report_data
        from tasks import resources

        data = collect_report_data(s, START + timedelta(days=29, hours=4), resources.settings())
        assert leaver_id not in {r.person_id for r in data.outstanding}
        assert len(data.outstanding) == data.summary["outstanding"]
        assert data.summary["active_people"] == s.scalar(select(func.count()).select_from(Person).where(
            Person.active.is_(True)))
