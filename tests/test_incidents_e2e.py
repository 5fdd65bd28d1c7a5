"""Issue 16 end to end: reports of every category arrive through the emulator's Google Form, become routed
cases, and their mail goes out through the outbox; reminders and escalation follow their cadence on an injected
clock; re-running duplicates nothing; the images-of-minors case never stores, sends or writes image bytes, and
no address in a report is ever fetched."""

from __future__ import annotations

import base64
import json
import threading
import zlib
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from emulator_fixtures import EmulatorClock
from sqlalchemy import select

from compliance.google.workspace import get_form
from compliance.incidents import record_step
from compliance.incidents.form import NO, YES
from compliance.models import Delivery, IncidentCase, SyncState
from compliance.settings import DEFAULT_PROFILE
from compliance.vocabulary import INCIDENT_KINDS, CaseCategory, CaseStep, IncidentDeliveryKind
from emulator.district import LocalDistrict

pytestmark = pytest.mark.slow

NOW = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # 09:00 on a school day in the district
DAY = timedelta(days=1)
# A tiny PNG with a marker chunk: its bytes (raw or base64) must never appear in the store, the mail or on disk.
MARKER = b"AR1114-IMAGE-OF-A-MINOR-MUST-NEVER-BE-STORED"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = (1).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"tEXt", MARKER) + chunk(
        b"IDAT", zlib.compress(b"\x00\x00")) + chunk(b"IEND", b"")


PNG = _png()
PNG_B64 = base64.b64encode(PNG).decode()


class _Counting(BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        type(self).hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def trap():  # type: ignore[no-untyped-def]
    """A private-address server that records every request: a report's address must never be fetched."""
    _Counting.hits = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", _Counting.hits
    server.shutdown()
    server.server_close()


def _profile(sample_dir: Path, tmp_path: Path) -> Path:
    # The generated sample profile plus the district's [incidents] table (kept last in data/district.toml).
    text = DEFAULT_PROFILE.read_text(encoding="utf-8")
    path = tmp_path / "profile.toml"
    sample = (sample_dir / "profile.toml").read_text(encoding="utf-8")
    path.write_text(sample + "\n" + text[text.index("\n[incidents]\n"):], encoding="utf-8")
    return path


def test_reports_through_the_form_routed_reminded_escalated_and_never_an_image(
    sample_dir: Path, tmp_path: Path, trap
) -> None:  # type: ignore[no-untyped-def]
    from tasks import resources
    from tasks.incidents import queue_incident_follow_up, sync_incident_reports

    trap_url, hits = trap
    db_path = tmp_path / "store.db"
    env = {"DC_PROFILE": str(_profile(sample_dir, tmp_path))}
    with LocalDistrict(sample_dir, f"sqlite:///{db_path}", work_dir=tmp_path / "work", extra_env=env) as district:
        admin = district.emulator.admin
        clock = EmulatorClock(admin, NOW)
        settings = resources.settings()
        assert settings.incidents.agencies, "the test profile carries the district's routing"

        def send() -> None:
            resources.outbox(clock).send(kinds=INCIDENT_KINDS)

        first = sync_incident_reports.fn(clock())  # makes and publishes the form; nothing to read yet
        assert first["cases opened"] == 0
        with resources.store().session() as s:
            form = json.loads(s.get(SyncState, "incidents.form").value)
        q = form["questions"]
        items = get_form(resources.google(), form["form_id"])["items"]
        assert not [i for i in items if "fileUploadQuestion" in i["questionItem"]["question"]]

        def report(category: CaseCategory, site: str = "Lincoln Elementary School", **extra: str) -> None:
            answers = {q["role"]: "Student", q["category"]: category.label, q["site"]: site,
                       q["what"]: f"report of {category.value}", q["against_admin"]: NO}
            answers.update({q[k]: v for k, v in extra.items()})
            # Anonymous, not signed in: anyone with the link may report.
            admin.submit_form_response(form["form_id"], answers, timestamp=clock() + timedelta(minutes=1))

        report(CaseCategory.THREAT, what="someone threatened to bring a weapon")
        report(CaseCategory.IMAGES_OF_MINORS, site="Washington Middle School", url=f"{trap_url}/minor.png",
               what=f"an image was posted data:image/png;base64,{PNG_B64} please look")
        report(CaseCategory.SUSPECTED_ABUSE, site="Roosevelt Elementary School")
        report(CaseCategory.HARASSMENT, url=f"{trap_url}/private/admin?id=1", platform="Instagram")
        report(CaseCategory.MISCONDUCT, against_admin=YES, what="the principal posted about a student")
        report(CaseCategory.OTHER, site="Not sure, or more than one site", contact="parent@example.org")

        clock.advance(timedelta(minutes=15))
        counts = sync_incident_reports.fn(clock())
        assert counts["cases opened"] == 6 and counts["urgent cases"] == 3
        again = sync_incident_reports.fn(clock())  # the 15-minute run again: nothing new
        assert again["cases opened"] == 0 and again["emails queued"] == 0
        send()
        mail = admin.mail()
        with resources.store().session() as s:
            cases = {c.category: c for c in s.scalars(select(IncidentCase))}
            assert len(cases) == 6
        owners = {
            CaseCategory.THREAT: "principal.lincoln@standard-sd.org",
            CaseCategory.IMAGES_OF_MINORS: "principal.washington@standard-sd.org",
            CaseCategory.SUSPECTED_ABUSE: "principal.roosevelt@standard-sd.org",
            CaseCategory.HARASSMENT: "principal.lincoln@standard-sd.org",
            CaseCategory.MISCONDUCT: "asst.superintendent@standard-sd.org",  # against the principal: the supervisor
            CaseCategory.OTHER: "chief-of-staff@standard-sd.org",  # site unknown: the designee
        }
        for category, owner in owners.items():
            case = cases[category]
            assert case.owner == owner, category
            files = [m for m in mail if case.case_ref in m["subject"] and "case owner" in m["subject"]]
            assert [m["to"] for m in files] == [[owner]], category
            # The report's text goes to the owner only.
            readers = {a for m in mail if "report of" in m["text"] and case.case_ref in m["subject"] for a in m["to"]}
            assert readers <= {owner}, category
        agencies = {c: cases[c].agency for c in owners}
        assert agencies[CaseCategory.THREAT] == "Kern County Sheriff's Office"
        assert agencies[CaseCategory.IMAGES_OF_MINORS] == "County, state and federal law enforcement"
        assert agencies[CaseCategory.SUSPECTED_ABUSE] == "Child Protective Services"
        assert not any(agencies[c] for c in (CaseCategory.HARASSMENT, CaseCategory.MISCONDUCT, CaseCategory.OTHER))
        threat_file = next(m for m in mail if cases[CaseCategory.THREAT].case_ref in m["subject"]
                           and "case owner" in m["subject"])
        assert "661-861-3110" in threat_file["text"]
        pages = [m for m in mail if m["subject"].startswith("Urgent case")]
        assert len(pages) == 3 * 2  # each urgent case pages both district office contacts
        assert not [m for m in pages if "report of" in m["text"] or "weapon" in m["text"]]
        first_mail = len(mail)

        # Cadence: overdue steps are reminded the day after, then every 3 days; no action for 10 days escalates.
        def follow_up(at: datetime) -> dict[str, int]:
            clock.advance(at - clock())
            result = queue_incident_follow_up.fn(clock())
            send()
            return result

        day1 = follow_up(NOW + DAY)
        assert day1["step reminders"] == 6 and day1["stale escalations"] == 0
        assert follow_up(NOW + DAY + timedelta(hours=2))["step reminders"] == 0  # a re-run the same day
        assert follow_up(NOW + 3 * DAY)["step reminders"] == 0
        assert follow_up(NOW + 4 * DAY)["step reminders"] == 6
        with resources.store().session() as s:
            record_step(s, cases[CaseCategory.THREAT].case_ref, CaseStep.AGENCY_REPORTED,
                        by="principal.lincoln@standard-sd.org", at=NOW + 5 * DAY, note="called dispatch")
        day10 = follow_up(NOW + 10 * DAY)
        assert day10["stale escalations"] == 5  # the threat case had an action on day 5
        assert follow_up(NOW + 10 * DAY + timedelta(hours=3))["stale escalations"] == 0
        assert follow_up(NOW + 15 * DAY)["stale escalations"] == 1  # the threat case, 10 days after its action
        mail = admin.mail()
        escalations = [m for m in mail if "has had no action" in m["subject"]]
        assert len(escalations) == 6 and {a for m in escalations for a in m["to"]} == {"chief-of-staff@standard-sd.org"}
        reminders = [m for m in mail if "overdue" in m["subject"]]
        assert len(reminders) == len(mail) - first_mail - len(escalations)
        with resources.store().session() as s:
            kinds = [d.kind for d in s.scalars(select(Delivery))]
            assert len(kinds) == len(mail) and set(kinds) <= set(INCIDENT_KINDS)
            assert kinds.count(IncidentDeliveryKind.CASE_OPENED) == 6
            image_case = s.scalar(select(IncidentCase).where(IncidentCase.category == CaseCategory.IMAGES_OF_MINORS))
            assert image_case.posting_url == f"{trap_url}/minor.png"
            assert "[embedded image removed]" in image_case.description

        # Never fetched, never stored, never sent, never written.
        assert hits == []
        assert all(not m.get("attachments") for m in mail)
        for m in mail:
            body = (m["text"] + m["html"]).encode()
            assert MARKER not in body and PNG_B64[:40].encode() not in body
    needles = (MARKER, PNG_B64[:40].encode())
    for path in tmp_path.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not any(n in data for n in needles), path  # the store (db, WAL), out/, work/: no image bytes
    assert db_path.exists()


def test_the_intake_flow_runs_the_sync_follow_up_and_mail_and_its_artifact_holds_counts(
    sample_dir: Path, tmp_path: Path, prefect_harness: None
) -> None:
    import asyncio

    from prefect.client.orchestration import get_client

    from flows.incidents import incident_intake
    from tasks import resources

    env = {"DC_PROFILE": str(_profile(sample_dir, tmp_path))}
    with LocalDistrict(sample_dir, f"sqlite:///{tmp_path / 'store.db'}", work_dir=tmp_path / "work",
                       extra_env=env) as district:
        incident_intake(now=NOW)  # first run: the form is made
        with resources.store().session() as s:
            form = json.loads(s.get(SyncState, "incidents.form").value)
        q = form["questions"]
        district.emulator.admin.submit_form_response(form["form_id"], {
            q["role"]: "Parent or guardian", q["category"]: CaseCategory.THREAT.label,
            q["site"]: "Sierra Vista K-8 Academy", q["what"]: "Jordan Example threatened a teacher",
            q["against_admin"]: NO, q["contact"]: "reporter@example.org",
        })
        result = incident_intake(now=datetime.now(UTC))
        assert result["reports"]["cases opened"] == 1
        assert result["mail"]["sent"] == 3  # the owner's case file and two pages
        assert incident_intake(now=datetime.now(UTC))["reports"]["cases opened"] == 0

    async def artifacts() -> list[str]:
        async with get_client() as client:
            return [str(a.data) for a in await client.read_artifacts() if a.key == "incident-intake"]

    texts = "\n".join(asyncio.run(artifacts()))
    assert "cases opened" in texts
    assert "Jordan" not in texts and "reporter@example.org" not in texts
