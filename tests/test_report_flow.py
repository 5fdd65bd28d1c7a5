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
