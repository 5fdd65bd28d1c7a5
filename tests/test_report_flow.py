"""The weekly report flow: workbook under out/, Drive copy shared with named people only, email with attachment."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from compliance.google.workspace import list_permissions
from compliance.models import ReportRun
from compliance.store import Store
from emulator.district import LocalDistrict

# Drill: the weekly report flow end to end; `make test-fast` leaves it out, `make test` runs it.
pytestmark = pytest.mark.slow


def test_report_is_stored_shared_and_emailed_once(sample_dir: Path, tmp_path: Path, prefect_harness: None) -> None:
    from flows.compliance_report import compliance_report
    from tasks import resources

    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)  # Monday 06:00 district time
    with LocalDistrict(sample_dir, db_url, work_dir=tmp_path) as district:
        first = compliance_report(now=now)
        sent_bytes = Path(first["path"]).read_bytes()
        again = compliance_report(now=now)  # a retried run sends nothing twice
        permissions = list_permissions(resources.google(), first["drive_file_id"])
        mail = district.emulator.admin.mail()
    path = Path(first["path"])
    assert path.exists() and path.name == "compliance-report-2026-11-23.xlsx" and path.parent == tmp_path / "out"
    shared = {p.get("emailAddress") for p in permissions if p["role"] != "owner"}
    assert shared == {"superintendent@standard-sd.org", "chief-of-staff@standard-sd.org"}
    assert not [p for p in permissions if p["type"] in ("anyone", "domain")]
    assert first["report emails sent"] == 2 and again["report emails sent"] == 0
    named = ["chief-of-staff@standard-sd.org", "superintendent@standard-sd.org"]
    assert sorted(a for m in mail for a in m["to"]) == named
    for message in mail:
        assert [a["filename"] for a in message["attachments"]] == [path.name]
        assert message["attachments"][0]["sha256"] == hashlib.sha256(sent_bytes).hexdigest()
        assert "Acknowledgements:" in message["text"]
    with Store(db_url).session() as s:
        run = s.scalars(select(ReportRun)).one()
        assert run.drive_file_id == first["drive_file_id"]
        assert run.emailed_to == named


def test_report_sharing_goes_on_past_a_refused_recipient_and_a_retry_shares_the_rest(
    sample_dir: Path, tmp_path: Path
) -> None:
    """Issue 12 item 7: Drive refuses a silent share with an address that has no Google account; the others must
    still get access, and a retry (after a transient failure on one of them) shares only with those missing."""
    import json
    import os

    from compliance.settings import get_settings
    from tasks import resources
    from tasks.report import ReportShareIncomplete, store_in_drive

    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    now = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)
    workbook = tmp_path / "report.xlsx"
    workbook.write_bytes(b"PK\x03\x04 workbook")
    recipients = ["superintendent@standard-sd.org", "board-clerk@example.net", "chief-of-staff@standard-sd.org"]
    os.environ["DC_REPORT_SHARE_WITH"] = json.dumps(recipients)
    os.environ["DC_GOOGLE__NUM_RETRIES"] = "0"  # one attempt per call: the 503 reaches the task at once
    try:
        with LocalDistrict(sample_dir, db_url, work_dir=tmp_path) as district:
            resources.store()  # schema
            with Store(db_url).session() as session:
                session.add(ReportRun(generated_at=now, path=str(workbook), summary={}))
            admin = district.emulator.admin
            # the first share answers 503 (transient), the outside address 400 (no Google account)
            admin.set_faults(method="drive.permissions.create", statuses=[503], error_rate=1.0, count=1)
            with pytest.raises(ReportShareIncomplete):
                store_in_drive.fn(str(workbook), now)
            with Store(db_url).session() as session:
                file_id = session.scalars(select(ReportRun)).one().drive_file_id
            shared_once = {p.get("emailAddress") for p in list_permissions(resources.google(), file_id)}
            assert "chief-of-staff@standard-sd.org" in shared_once  # the refusals before it did not stop it
            assert "superintendent@standard-sd.org" not in shared_once
            admin.clear_faults()
            assert store_in_drive.fn(str(workbook), now) == file_id  # the retry: same file, the rest shared
            permissions = list_permissions(resources.google(), file_id)
            creates = admin.stats()["statuses"]["drive.permissions.create"]
    finally:
        os.environ.pop("DC_REPORT_SHARE_WITH")
        os.environ.pop("DC_GOOGLE__NUM_RETRIES")
        get_settings.cache_clear()
    shared = {p.get("emailAddress") for p in permissions if p["role"] != "owner"}
    assert shared == {"superintendent@standard-sd.org", "chief-of-staff@standard-sd.org"}
    assert creates.get("400", 0) == 2  # the outside address was tried once per attempt and refused each time
