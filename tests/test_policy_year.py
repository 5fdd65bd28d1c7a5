"""Policy versions follow the document over a year: a changed text waits for central office's decision
(material: everyone again; editorial: nobody), the answer and who gave it are kept, superseded forms close,
a new school year renews (unless the profile says not to). Emulator over HTTPS, real store, injected clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from compliance.campaign import CampaignParameters
from compliance.google.clients import GoogleClients
from compliance.google.workspace import update_file_content
from compliance.models import Campaign, Delivery, PolicyVersion, SyncState
from compliance.settings import get_settings
from compliance.store import Store
from emulator.admin import EmulatorAdminError
from emulator.district import LocalDistrict

pytestmark = pytest.mark.slow

SEPTEMBER = datetime(2026, 9, 8, 16, 0, tzinfo=UTC)


def _versions(db_url: str) -> list[PolicyVersion]:
    with Store(db_url).session() as s:
        return list(s.scalars(select(PolicyVersion).order_by(PolicyVersion.id)))


def _accepting(district: LocalDistrict, form_id: str) -> bool:
    form = district.emulator.workspace.forms.forms[form_id].form
    return bool(form["publishSettings"]["publishState"]["isAcceptingResponses"])


def _revise(text: bytes) -> None:
    with Store(get_settings().database_url).session() as s:
        version = s.scalars(select(PolicyVersion)).first()
        file_id = version.drive_file_id
    update_file_content(GoogleClients(get_settings()), file_id, "text/html", text)


def test_revisions_and_renewal_over_a_school_year(sample_dir: Path, sqlite_url: str, tmp_path: Path,
                                                  prefect_harness: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.distribute_policy import run_campaign
    from flows.nightly import nightly

    with LocalDistrict(sample_dir, sqlite_url, work_dir=tmp_path, sends_per_minute=6000) as district:
        admin = district.emulator.admin
        admin.set_clock(SEPTEMBER)
        nightly(now=SEPTEMBER, crawl=False)
        fall = run_campaign(CampaignParameters(name="AR 1114 fall", dry_run=False), SEPTEMBER)
        [v1] = _versions(sqlite_url)
        reached = fall["summary"]["people_reached"]

        # A new Drive revision with the same text is not a new version.
        night = SEPTEMBER + timedelta(days=1)
        assert nightly(now=night, crawl=False)["policy"]["policy versions opened"] == 0

        # January: the text changes. Nothing opens until central office says what kind of change it is.
        _revise(b"<h1>AR 1114</h1><p>Revised in January: rules on live video of students.</p>")
        january = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)
        pending = nightly(now=january, crawl=False)["policy"]
        assert pending["policy revision pending decision"] == 1 and pending["policy versions opened"] == 0
        assert len(_versions(sqlite_url)) == 1 and _accepting(district, v1.staff_form_id)
        with pytest.raises(Exception, match="material .* or editorial"):
            run_campaign(CampaignParameters(name="january", dry_run=False), january)

        sent_before = admin.stats()["messages_sent"]
        with Store(sqlite_url).session() as s:
            last_before = max(s.scalars(select(Delivery.id)).all(), default=0)
        material = nightly(now=january + timedelta(hours=1), crawl=False, policy_revision="material",
                           decided_by="central-office@standard-sd.org")["policy"]
        assert material["policy versions opened"] == 1 and material["announcements queued"] == reached
        v1_, v2 = _versions(sqlite_url)
        assert v2.sha256 != v1.sha256 and v2.school_year == "2026-2027"
        # Superseded forms stop accepting responses; the new ones accept.
        assert not _accepting(district, v1.staff_form_id) and not _accepting(district, v1.community_form_id)
        assert _accepting(district, v2.staff_form_id)
        with pytest.raises(EmulatorAdminError):
            admin.submit_form_response(v1.staff_form_id, {}, respondent_email="x@standard-sd.org", signed_in=True)
        # Everyone asked again, once: the emulator's count of mail sent that night is the new announcements
        # plus the follow-up the same nightly sends on its weekly cadence (digests, escalations), as stored.
        with Store(sqlite_url).session() as s:
            new = select(Delivery).where(Delivery.id > last_before, Delivery.status == "sent")
            kinds = [d.kind for d in s.scalars(new)]
        assert admin.stats()["messages_sent"] - sent_before == len(kinds)
        assert kinds.count("announcement") == reached
        with Store(sqlite_url).session() as s:
            decision = json.loads(s.get(SyncState, f"policy.revision_decision.{v2.sha256}").value)
        assert decision["decision"] == "material" and decision["decided_by"] == "central-office@standard-sd.org"

        # March: an editorial change, so decided: same version, nobody asked again, the answer recorded.
        _revise(b"<h1>AR 1114</h1><p>Revised in January: rules on live video of students (typo fixed).</p>")
        march = datetime(2027, 3, 2, 10, 0, tzinfo=UTC)
        sent_before = admin.stats()["messages_sent"]
        editorial = nightly(now=march, crawl=False, policy_revision="editorial", decided_by="deputy-supt")["policy"]
        assert editorial["policy versions opened"] == 0 and editorial["policy version"] == v2.id
        assert len(_versions(sqlite_url)) == 2
        assert nightly(now=march + timedelta(days=1), crawl=False)["policy"]["policy revision pending decision"] == 0
        with Store(sqlite_url).session() as s:
            rows = s.scalars(select(SyncState).where(SyncState.key.like("policy.revision_decision.%"))).all()
            assert {json.loads(r.value)["decision"] for r in rows} == {"material", "editorial"}
            announcements = s.scalars(select(Delivery).where(Delivery.kind == "announcement")).all()
        assert len([d for d in announcements if d.created_at >= march]) == 0

        # Renewal: on the new school year's first nightly everyone acknowledges again (new version, new forms).
        august = datetime(2027, 8, 3, 9, 0, tzinfo=UTC)
        renewal = nightly(now=august, crawl=False)["policy"]
        assert renewal["policy versions opened"] == 1
        v3 = _versions(sqlite_url)[-1]
        # The text as it stands (March's editorial fix included) is what the new year acknowledges.
        assert v3.school_year == "2027-2028" and v3.sha256 not in (v1.sha256, v2.sha256)
        assert not _accepting(district, v2.staff_form_id)
        with Store(sqlite_url).session() as s:
            assert s.scalars(select(Campaign).where(Campaign.policy_version_id == v3.id)).one()

        # A district that does not renew each year: the next school year keeps the version.
        monkeypatch.setenv("DC_RENEW_EACH_SCHOOL_YEAR", "false")
        from tasks import resources

        resources.reset()
        next_year = datetime(2028, 8, 4, 9, 0, tzinfo=UTC)
        assert nightly(now=next_year, crawl=False)["policy"]["policy versions opened"] == 0
        assert len(_versions(sqlite_url)) == 3
