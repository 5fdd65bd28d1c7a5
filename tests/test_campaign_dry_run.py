"""A dry run changes nothing: no policy version, form, Drive file, campaign or delivery row, no Google write.

Each dry run below is bracketed by a dump of every table of the store and the emulator's holdings (Drive files
and their revisions, forms and their responses, sent mail, calls of mutating API methods). The real runs in
between show the same dumps do see a change, so the comparison can fail.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from compliance.campaign import CampaignParameters
from compliance.google.clients import GoogleClients
from compliance.google.workspace import update_file_content
from compliance.models import Base, Campaign, Delivery, PolicyVersion
from compliance.settings import get_settings
from compliance.store import Store
from emulator.district import LocalDistrict

pytestmark = pytest.mark.slow

START = datetime(2026, 9, 8, 16, 0, tzinfo=UTC)


def store_dump(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a stable order (what the store holds, value by value)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with Store(db_url).session() as s:
        for table in Base.metadata.sorted_tables:
            rows = s.execute(select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def emulator_dump(district: LocalDistrict) -> dict[str, Any]:
    """What the emulator holds, and how often a method that changes something was called."""
    ws = district.emulator.workspace
    stats = district.emulator.admin.stats()
    writes = {
        method: n for method, n in stats["calls"].items()
        if ws.registry.methods[method].http_method not in ("GET",)
    }
    return {
        "files": sorted((f.id, f.name, len(f.revisions)) for f in ws.drive.files.values()),
        "forms": sorted((form_id, f.revision, len(f.responses), repr(f.form.get("publishSettings")))
                        for form_id, f in ws.forms.forms.items()),
        "messages_sent": stats["messages_sent"],
        "mutating_calls": writes,
    }


@pytest.fixture
def district(sample_dir: Path, db_url: str, tmp_path: Path, prefect_harness: None):  # type: ignore[no-untyped-def]
    from flows.nightly import nightly

    with LocalDistrict(sample_dir, db_url, work_dir=tmp_path, sends_per_minute=6000) as d:
        d.emulator.admin.set_clock(START)
        nightly(now=START, crawl=False)
        yield d


def test_dry_runs_leave_store_and_emulator_unchanged(district: LocalDistrict, db_url: str) -> None:
    from flows.distribute_policy import run_campaign

    # 1. No policy version yet: the dry run plans against the one a real run would create, and says so.
    before = store_dump(db_url), emulator_dump(district)
    first = run_campaign(CampaignParameters(dry_run=True), START)
    assert (store_dump(db_url), emulator_dump(district)) == before
    assert first["campaign_id"] is None and first["queued"] == 0
    assert "new policy version for 2026-2027" in first["summary"]["policy_version"]
    assert "created nothing" in first["summary"]["policy_version"]
    assert first["summary"]["individual_messages"] > 600 and "[name]" in first["sample"]["text"]
    # The policy is not in Drive yet: the sample says the real run links it, not a link to nowhere.
    assert "document/d//" not in first["sample"]["text"] and "the real run uploads" in first["sample"]["text"]
    assert not before[0]["policy_versions"] and not before[0]["campaigns"]  # nothing there to begin with

    # The real run does change both: the dumps see it (this comparison can fail).
    real = run_campaign(CampaignParameters(name="AR 1114 fall", dry_run=False), START)
    after_real = store_dump(db_url), emulator_dump(district)
    assert after_real[0]["policy_versions"] and after_real[0]["deliveries"]
    # Two policy forms more than before (main's incident intake may hold a form of its own already).
    assert len(after_real[1]["forms"]) == len(before[1]["forms"]) + 2 and after_real[1]["messages_sent"] > 600
    assert real["summary"]["individual_messages"] == first["summary"]["individual_messages"]

    # 2. A version exists: the dry run plans against it by id, and everyone it reaches is already announced.
    again = run_campaign(CampaignParameters(dry_run=True), START + timedelta(hours=1))
    resend = run_campaign(CampaignParameters(dry_run=True, resend_announced=True), START + timedelta(hours=1))
    assert (store_dump(db_url), emulator_dump(district)) == after_real
    with Store(db_url).session() as s:
        version_id = s.scalars(select(PolicyVersion.id)).one()
    assert again["summary"]["policy_version"].startswith(f"policy version {version_id} ")
    assert again["summary"]["people_reached"] == 0
    assert again["summary"]["skipped"]["already_announced"] == real["summary"]["people_reached"]
    assert resend["summary"]["resent"] == resend["summary"]["people_reached"] == real["summary"]["people_reached"]

    # 3. The policy text changes in Drive: a dry run reports the new version a real run would open, and opens none.
    settings = get_settings()
    clients = GoogleClients(settings)
    file_id = after_real[0]["policy_versions"][0][1]
    update_file_content(clients, file_id, "text/html", b"<h1>AR 1114</h1><p>Revised: new rules on live video.</p>")
    revised = store_dump(db_url), emulator_dump(district)
    later = run_campaign(CampaignParameters(dry_run=True), START + timedelta(days=120))
    assert (store_dump(db_url), emulator_dump(district)) == revised
    assert "new policy version for 2026-2027" in later["summary"]["policy_version"]
    assert later["summary"]["people_reached"] == real["summary"]["people_reached"]  # nobody signed the new text
    with Store(db_url).session() as s:
        assert len(s.scalars(select(PolicyVersion)).all()) == 1
        assert len(s.scalars(select(Campaign)).all()) == 1
        assert {d.campaign_id for d in s.scalars(select(Delivery))} == {real["campaign_id"]}
