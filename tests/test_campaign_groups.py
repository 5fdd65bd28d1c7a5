"""When the sender pool is small, staff get one Bcc message per site and still sign and get reminded."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from compliance.campaign import CampaignParameters
from compliance.models import Delivery, Person
from compliance.store import Store
from emulator.district import LocalDistrict
from emulator.limits import EmulatorLimits

# Drill: a campaign and a nightly run end to end; `make test-fast` leaves it out, `make test` runs it.
pytestmark = pytest.mark.slow


def test_site_group_announcements_reach_staff_by_bcc(sample_dir: Path, tmp_path: Path, prefect_harness: None) -> None:
    from flows.distribute_policy import run_campaign
    from flows.nightly import nightly

    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    limits = EmulatorLimits(gmail_daily_per_sender=150)
    env = {"DC_QUOTAS__GMAIL_DAILY_PER_SENDER": "150"}
    now = datetime.now(UTC)
    with LocalDistrict(sample_dir, db_url, work_dir=tmp_path, limits=limits, extra_env=env,
                       sends_per_minute=6000) as district:
        nightly(now=now, crawl=False)
        result = run_campaign(CampaignParameters(name="groups", dry_run=False), now=now)
        assert result["summary"]["staff_channel"] == "site_group"
        mail = district.emulator.admin.mail()
    groups = [m for m in mail if m["bcc"]]
    with Store(db_url).session() as s:
        staff = set(s.scalars(select(Person.email).where(Person.kind == "employee", Person.active.is_(True),
                                                          Person.has_district_account.is_(True))))
        group_rows = s.scalars(select(Delivery).where(Delivery.kind == "announcement_group")).all()
    bcc = [a.lower() for m in groups for a in m["bcc"]]
    assert groups and len(groups) == len(group_rows) == result["summary"]["group_messages"]
    assert len(bcc) == len(set(bcc)) and set(bcc) == {e.lower() for e in staff if e}
    assert all(len(m["bcc"]) <= 100 and not m["to"] or m["to"][0] in m["sender"] for m in groups)
    assert all("docs.google.com/forms" in m["text"] and "viewform" in m["text"] for m in groups)
