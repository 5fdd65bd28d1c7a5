"""A whole school year, simulated night by night on an injected clock against the emulator (issue 13's acceptance).

September campaign; reminders on days 7 and 14; site digests from day 21, weekly; the superintendent's escalation
of everyone past 28 days, joiners included; joiners in October and February; a material revision in January
(central office asked, answers, everyone asked again, about half acknowledge again, the rest are escalated 28
days on), an editorial one in March (nobody asked again); the school-year renewal on July 1. Only the nights that
matter are run (the clock jumps between them), without the website crawl. Every night, every message the
emulator sent is one the store recorded as sent, and it is in its reader's language: Spanish for whoever the
Directory's custom schema or their school's list says prefers Spanish (counted here from what the emulator and
the list files hold), English for everyone else.
Figures are compared with counts made here from the store's people, acknowledgements and deliveries.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from sqlalchemy import select

from compliance.campaign import CampaignParameters
from compliance.google.clients import GoogleClients
from compliance.google.workspace import update_file_content
from compliance.models import Acknowledgement, Campaign, Delivery, Person, PolicyVersion
from compliance.roster import normalize_email
from compliance.settings import get_settings
from compliance.store import Store
from emulator.district import LocalDistrict
from emulator.respondents import simulate_signatures

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3000),  # 15 nightly runs and a campaign: about 2 minutes on a quiet 2-core machine
]

CAMPAIGN = datetime(2026, 9, 8, 16, 0, tzinfo=UTC)  # 09:00 in Los Angeles, the Tuesday after Labor Day


def night(day: datetime) -> datetime:
    """The nightly run of that date: 02:00 in Los Angeles (10:00 UTC in winter, 09:00 in summer)."""
    return day.replace(hour=10, minute=0)


SPANISH_FOOTER = "Reglamento Administrativo 1114"
ENGLISH_FOOTER = "Administrative Regulation 1114"


def language_of(message: dict[str, Any]) -> str:
    text = message.get("text") or ""
    assert (SPANISH_FOOTER in text) != (ENGLISH_FOOTER in text), message["subject"]
    return "es" if SPANISH_FOOTER in text else "en"


def spanish_readers(district: LocalDistrict, district_dir: Path) -> set[str]:
    """Who prefers Spanish, from what the emulator's Directory and the school list files hold (not the store)."""
    said: dict[str, str] = {}
    for user in district.emulator.workspace.directory.users.values():
        language = (user.get("customSchemas") or {}).get("District", {}).get("preferred_language")
        if language:
            said[normalize_email(user["primaryEmail"]) or ""] = language
    for path in sorted((district_dir / "associated").glob("*.xlsx")):
        rows = list(openpyxl.load_workbook(path, read_only=True).worksheets[0].iter_rows(values_only=True))
        header = next((r for r in rows if r and "Idioma / Language" in r), None)
        if header is None:
            continue
        email_at, language_at = header.index("Correo / Email"), header.index("Idioma / Language")
        for row in rows[rows.index(header) + 1:]:
            email = normalize_email(str(row[email_at] or ""))
            if email and row[language_at]:
                said.setdefault(email, "es" if row[language_at] == "Español" else "en")
    return {email for email, language in said.items() if language == "es"}


class InProcessMail:
    """The emulator's sent mail read in process (a year's mail outlasts an HTTP read on a busy machine); form
    submissions still go through the emulator's API."""

    def __init__(self, district: LocalDistrict, since: datetime | None = None) -> None:
        self.workspace, self.admin = district.emulator.workspace, district.emulator.admin
        self.since = since  # people answer the invitations sent from then on (a new version's)

    def mail(self, sender: str | None = None, since: datetime | None = None) -> list[dict[str, Any]]:
        with self.workspace.lock:
            return self.workspace.gmail.decoded(sender, since or self.since)

    def submit_form_response(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        return self.admin.submit_form_response(*args, **kwargs)


class Year:
    """The district, its store and the checks every night makes."""

    def __init__(self, district: LocalDistrict, db_url: str, district_dir: Path) -> None:
        self.district, self.db_url, self.dir = district, db_url, district_dir
        self.admin = district.emulator.admin
        self.spanish = spanish_readers(district, district_dir)
        self.checked: Counter[str] = Counter()
        self.bounced: set[int] = set()  # outstanding, in digests, but never reminded
        # person -> their first announcement's send time, for the version last counted by outstanding()
        self.first_sent: dict[int, datetime] = {}

    def store(self) -> Store:
        return Store(self.db_url)

    def nightly(self, at: datetime, **kwargs: Any) -> dict[str, dict[str, int]]:
        from flows.nightly import nightly

        self.admin.set_clock(at)
        result = nightly(now=at, crawl=False, **kwargs)
        self.check_mail(at)
        return result

    def campaign(self, at: datetime, name: str) -> dict[str, Any]:
        from flows.distribute_policy import run_campaign

        self.admin.set_clock(at)
        result = run_campaign(CampaignParameters(name=name, dry_run=False), at)
        self.check_mail(at)
        return result

    def sent_since(self, at: datetime) -> list[Delivery]:
        with self.store().session() as s:
            return list(s.scalars(select(Delivery).where(Delivery.sent_at >= at, Delivery.status == "sent")))

    def check_mail(self, since: datetime) -> None:
        """Every message the emulator sent since ``since`` is a delivery the store recorded as sent, once, and in
        its reader's language (Spanish exactly for the Spanish readers counted above)."""
        messages = {m["id"]: m for m in InProcessMail(self.district).mail(since=since)}
        sent = {d.gmail_message_id: d for d in self.sent_since(since)}
        assert set(messages) == set(sent), "emulator and store disagree on what was sent"
        with self.store().session() as s:
            people = {p.id: p for p in s.scalars(select(Person))}
        for message_id, message in messages.items():
            d = sent[message_id]
            if d.kind == "announcement_group":
                readers = set(message["bcc"])
                expected = {"es" if r in self.spanish else "en" for r in readers}
                assert len(expected) == 1, "a site-group message mixes languages"
                [want] = expected
            elif d.person_id is not None:
                want = "es" if normalize_email(people[d.person_id].email) in self.spanish else "en"
            elif d.kind in ("site_digest", "superintendent_escalation"):
                want = "es" if normalize_email(d.recipient) in self.spanish else "en"
            else:
                want = "en"
            assert language_of(message) == want, (d.kind, message["subject"])
            self.checked[want] += 1

    def by_kind(self, since: datetime) -> Counter[str]:
        return Counter(d.kind for d in self.sent_since(since))

    def version(self) -> PolicyVersion:
        with self.store().session() as s:
            return s.scalars(select(PolicyVersion).order_by(PolicyVersion.id.desc())).first()

    def outstanding(self, version_id: int) -> tuple[set[int], set[int]]:
        """(announced and not acknowledged, paper-only or unreachable and not acknowledged), active people only,
        counted from the store's deliveries and acknowledgements."""
        with self.store().session() as s:
            campaigns = set(s.scalars(select(Campaign.id).where(Campaign.policy_version_id == version_id)))
            rows = s.scalars(select(Delivery).where(Delivery.campaign_id.in_(campaigns),
                                                    Delivery.status.in_(("sent", "bounced")))).all()
            announced: set[int] = set()
            self.first_sent = {}  # this version's
            for d in rows:
                members = [d.person_id] if d.kind == "announcement" else (
                    d.context["person_ids"] if d.kind == "announcement_group" else [])
                for pid in members:
                    announced.add(pid)
                    self.first_sent[pid] = min(d.sent_at, self.first_sent.get(pid, d.sent_at))
                if d.status == "bounced":
                    self.bounced.update([d.person_id] if d.person_id else d.context.get("person_ids", []))
            acked = set(s.scalars(select(Acknowledgement.person_id)
                                  .where(Acknowledgement.policy_version_id == version_id)))
            active = {p.id: p for p in s.scalars(select(Person).where(Person.active))}
        waiting = {p for p in announced if p in active and p not in acked}
        paper = {p for p, person in active.items() if person.paper_only and p not in acked}
        return waiting, paper

    def days(self, person_id: int, at: datetime, since: datetime) -> int:
        """Whole days a person has been outstanding at ``at``: since their announcement, or ``since`` (the
        campaign's start) for paper-only people."""
        return (at - self.first_sent.get(person_id, since)).days

    def reminders_due(self, version_id: int, at: datetime) -> dict[int, int]:
        """Who must get which reminder at ``at``, recomputed here from the store: the highest of days 7 and 14
        passed since their announcement, when higher than any reminder they already had; not after a bounce."""
        waiting, _ = self.outstanding(version_id)
        with self.store().session() as s:
            had: dict[int, int] = {}
            for d in s.scalars(select(Delivery).where(Delivery.kind.like("reminder_%"))):
                had[d.person_id] = max(had.get(d.person_id, 0), int(d.kind.rsplit("_", 1)[1]))
        due = {}
        for pid in waiting - self.bounced:
            number = sum(1 for day in (7, 14) if self.days(pid, at, at) >= day)
            if number > had.get(pid, 0):
                due[pid] = number
        return due

    def add_to_list(self, name: str, row: list[str]) -> None:
        """A school adds a person to its list (a CSV appended, or the bilingual workbook's sheet)."""
        path = self.dir / "associated" / name
        if path.suffix == ".csv":
            path.write_text(path.read_text(encoding="utf-8-sig") + ",".join(row) + "\n", encoding="utf-8-sig")
            return
        book = openpyxl.load_workbook(path)
        book.worksheets[0].append(row)
        book.save(path)


def _revise(text: bytes) -> None:
    with Store(get_settings().database_url).session() as s:
        file_id = s.scalars(select(PolicyVersion)).first().drive_file_id
    update_file_content(GoogleClients(get_settings()), file_id, "text/html", text)


def _person(year: Year, email: str) -> Person:
    with year.store().session() as s:
        return s.scalars(select(Person).where(Person.email_normalized == email)).one()


def everyone_asked_again(year: Year, version_id: int) -> None:
    """A new version's announcements reach every active person with an address, signed before or not: the
    people announced to (from the deliveries sent) are the active non-paper people less those the plan skipped
    for an unusable address or name, counted from the store's people."""
    announced, _ = year.outstanding(version_id)
    with year.store().session() as s:
        reachable = s.scalars(select(Person).where(Person.active, Person.paper_only.is_(False))).all()
        [plan] = [c.plan for c in s.scalars(select(Campaign).where(Campaign.policy_version_id == version_id))]
    unusable = plan["skipped"].get("no_valid_email", 0) + plan["skipped"].get("unsafe_name", 0)
    assert plan["skipped"].get("already_acknowledged", 0) == plan["skipped"].get("already_announced", 0) == 0
    assert len(announced) == plan["people_reached"] == len(reachable) - unusable


def test_a_school_year(sample_dir: Path, sqlite_url: str, tmp_path: Path, prefect_harness: None) -> None:
    district_dir = tmp_path / "district"
    shutil.copytree(sample_dir, district_dir, ignore=shutil.ignore_patterns("sites", "truth"))
    (district_dir / "sites").symlink_to(sample_dir / "sites")
    with LocalDistrict(district_dir, sqlite_url, work_dir=tmp_path / "work", sends_per_minute=6000,
                       extra_env={"DC_DISTRICT__SCHOOL_YEAR_START": "07-01"}) as district:
        year = Year(district, sqlite_url, district_dir)
        assert len(year.spanish) >= 20
        settings = get_settings()

        # -- September: the roster, then the campaign to everyone ---------------------------------------------
        year.nightly(night(CAMPAIGN))
        fall = year.campaign(CAMPAIGN, "AR 1114 2026-27")
        v1 = year.version()
        with year.store().session() as s:
            everyone = s.scalars(select(Person)).all()
        summary = fall["summary"]
        assert summary["people_reached"] + sum(summary["skipped"].values()) == len(everyone)
        assert summary["skipped"]["leaver"] == sum(1 for p in everyone if not p.active)
        assert summary["skipped"]["paper_only"] == sum(1 for p in everyone if p.active and p.paper_only)
        with year.store().session() as s:
            queued = s.scalars(select(Delivery).where(Delivery.campaign_id == fall["campaign_id"])).all()
        assert sum(1 if d.kind == "announcement" else len(d.context["person_ids"]) for d in queued) == \
            summary["people_reached"]
        # What Gmail did not take tonight (a batch cut short on a busy machine) goes on the next nights.
        waiting, paper = year.outstanding(v1.id)
        assert len(waiting) <= summary["people_reached"] and len(waiting) >= summary["people_reached"] - 100
        assert year.checked["es"] >= 10  # Spanish readers were written to in Spanish (checked message by message)

        # About 70 % sign in the first days.
        truth = simulate_signatures(InProcessMail(district), v1.form_questions, rate=0.7, bad_rate=0.0,  # type: ignore[arg-type]
                                    duplicate_rate=0.0)
        signed_night = night(CAMPAIGN + timedelta(days=3))
        counts = year.nightly(signed_night)["acknowledgements"]
        recorded = counts["recorded"]
        with year.store().session() as s:
            everything = s.scalars(select(Acknowledgement).where(Acknowledgement.policy_version_id == v1.id)).all()
        acked = [a for a in everything if a.method == "form"]
        assert len(everything) - len(acked) == counts["paper rows recorded"]  # the office's binder
        # (A site-group message is addressed to its sender mailbox: a "signature" from that mailbox is refused.)
        senders = {str(x).lower() for x in settings.senders}
        assert recorded == len(acked) == len(truth.signed - senders)
        # The Spanish readers who signed read the Spanish text (pre-filled from their invitation).
        with year.store().session() as s:
            emails = {p.id: normalize_email(p.email) for p in s.scalars(select(Person))}
        assert {a.language for a in acked if emails[a.person_id] in year.spanish} == {"es"}
        assert {a.language for a in acked if emails[a.person_id] not in year.spanish} == {"en"}

        # -- Reminders on days 7 and 14, to exactly who is still waiting ---------------------------------------
        for day in (8, 15):
            at = night(CAMPAIGN + timedelta(days=day))
            due = year.reminders_due(v1.id, at)  # before the night: what it must send
            result = year.nightly(at)
            year.outstanding(v1.id)  # bounces the night found are not reminded
            due = {p: n for p, n in due.items() if p not in year.bounced}
            with year.store().session() as s:
                tonight = {d.person_id: int(d.kind.rsplit("_", 1)[1]) for d in s.scalars(
                    select(Delivery).where(Delivery.kind.like("reminder_%"), Delivery.created_at >= at))}
            assert tonight == due and result["follow-up"]["reminders"] == len(due) > 0
            assert max(due.values()) == (1 if day == 8 else 2)
            kinds = year.by_kind(at)
            assert kinds["site_digest"] == kinds["superintendent_escalation"] == 0

        # -- Day 21: a digest to each site with anyone overdue, paper-only people included -------------------
        at = night(CAMPAIGN + timedelta(days=22))
        with year.store().session() as s:
            site_of = {p.id: p.site_id for p in s.scalars(select(Person))}
        result = year.nightly(at)
        # Read after the night: a paper line dated since the last night was recorded tonight, before the digests.
        waiting, paper = year.outstanding(v1.id)
        overdue = {p for p in waiting | paper if year.days(p, at, CAMPAIGN) >= 21}
        sites_overdue = {site_of[p] for p in overdue if site_of[p]}
        digests = [d for d in year.sent_since(at) if d.kind == "site_digest"]
        assert {d.site_id for d in digests} == sites_overdue and result["follow-up"]["site digests"] == len(digests)
        for d in digests:
            expected = {p for p in overdue if site_of[p] == d.site_id}
            assert set(d.context["person_ids"]) == expected
        assert year.by_kind(at)["superintendent_escalation"] == 0

        # -- Day 28: the superintendent's escalation of everyone past 28 days; the second weekly digest -------
        at = night(CAMPAIGN + timedelta(days=29))
        year.nightly(at)
        waiting, paper = year.outstanding(v1.id)  # after the night, as on day 21
        kinds = year.by_kind(at)
        escalations = [d for d in year.sent_since(at) if d.kind == "superintendent_escalation"]
        assert len(escalations) == len(settings.superintendent_recipients)
        past = {p for p in waiting | paper if year.days(p, at, CAMPAIGN) >= 28}
        assert {frozenset(d.context["person_ids"]) for d in escalations} == {frozenset(past)}
        assert kinds["site_digest"] == len({site_of[p] for p in waiting | paper
                                            if site_of[p] and year.days(p, at, CAMPAIGN) >= 21})
        first_escalated = past

        # -- October: a joiner; announced that night, reminded on day 7, escalated once past 28 days ---------
        year.add_to_list("district-office.csv", ["Zelda Newcomer", "Acme", "zelda.newcomer@example.org", "",
                                                 "Contractor - speech therapy"])
        october = night(datetime(2026, 10, 12, tzinfo=UTC))
        joined = year.nightly(october)
        assert joined["roster"]["joined"] == 1 and joined["follow-up"]["joiners announced"] == 1
        zelda = _person(year, "zelda.newcomer@example.org")
        [welcome] = [d for d in year.sent_since(october) if d.kind == "announcement"]
        assert welcome.person_id == zelda.id
        assert year.by_kind(october)["site_digest"] == 0  # the last digest was 5 days ago: not yet
        week = night(datetime(2026, 10, 20, tzinfo=UTC))
        year.nightly(week)
        assert [d.person_id for d in year.sent_since(week) if d.kind == "reminder_1"] == [zelda.id]
        november = night(datetime(2026, 11, 10, tzinfo=UTC))
        year.nightly(november)
        [late] = {frozenset(d.context["person_ids"]) for d in year.sent_since(november)
                  if d.kind == "superintendent_escalation"}
        assert zelda.id in late and not (late & first_escalated)  # each person escalated once

        # -- January: the text changes; central office is asked, answers material; everyone asked again -----
        _revise(b"<h1>AR 1114</h1><p>Revised in January: rules on live video of students.</p>")
        january = night(datetime(2027, 1, 12, tzinfo=UTC))
        pending = year.nightly(january)["policy"]
        assert pending["policy revision pending decision"] == 1 and pending["policy versions opened"] == 0
        assert year.by_kind(january)["announcement"] == 0
        answered = january + timedelta(hours=1)
        material = year.nightly(answered, policy_revision="material", decided_by="central-office@standard-sd.org")
        v2 = year.version()
        assert v2.id != v1.id and material["policy"]["policy versions opened"] == 1
        assert v2.translations["es"]["sha256"] == v1.translations["es"]["sha256"]  # the Spanish text followed
        everyone_asked_again(year, v2.id)
        # About half acknowledge the revised text from its announcement (links to the new forms).
        again = simulate_signatures(InProcessMail(district, since=answered), v2.form_questions, rate=0.5,  # type: ignore[arg-type]
                                    bad_rate=0.0, duplicate_rate=0.0, seed=2027)

        # -- February: a Spanish-speaking joiner at a school with a bilingual list ---------------------------
        bilingual = next(p.name for p in sorted((district_dir / "associated").glob("*.xlsx"))
                         if "Idioma / Language" in str(list(openpyxl.load_workbook(p, read_only=True)
                                                            .worksheets[0].iter_rows(values_only=True))[:3]))
        year.add_to_list(bilingual, ["Lupita", "Ocampo Reyes", "lupita.ocampo@example.org", "213-555-0142",
                                     "Voluntaria", "Español"])
        year.spanish.add("lupita.ocampo@example.org")
        february = night(datetime(2027, 2, 9, tzinfo=UTC))
        joined = year.nightly(february)
        assert joined["roster"]["joined"] == 1
        with year.store().session() as s:
            signed_again = s.scalars(select(Acknowledgement).where(Acknowledgement.policy_version_id == v2.id)).all()
            emails = {p.id: normalize_email(p.email) for p in s.scalars(select(Person))}
        assert joined["acknowledgements"]["recorded"] == len(signed_again) == len(again.signed - senders) > 0
        assert {a.language for a in signed_again if emails[a.person_id] in year.spanish} == {"es"}
        assert {a.language for a in signed_again if emails[a.person_id] not in year.spanish} == {"en"}
        lupita = _person(year, "lupita.ocampo@example.org")
        assert lupita.preferred_language == "es"
        [welcome] = [d for d in year.sent_since(february) if d.kind == "announcement"]
        assert welcome.person_id == lupita.id and welcome.context["language"] == "es"
        assert year.by_kind(february)["superintendent_escalation"] == 0  # the revision's 28 days are not up
        # A week on: her first reminder (check_mail reads it in Spanish; the others had theirs), and the
        # superintendent's escalation of everyone 28 days past the revision's announcement, paper-only included.
        her_week = night(datetime(2027, 2, 17, tzinfo=UTC))
        waiting, paper = year.outstanding(v2.id)
        past = {p for p in waiting | paper if year.days(p, her_week, answered) >= 28}
        year.nightly(her_week)
        [reminder] = [d for d in year.sent_since(her_week) if d.kind == "reminder_1"]
        assert reminder.person_id == lupita.id and reminder.context["language"] == "es"
        escalations = [d for d in year.sent_since(her_week) if d.kind == "superintendent_escalation"]
        assert len(escalations) == len(settings.superintendent_recipients) and lupita.id not in past
        assert {frozenset(d.context["person_ids"]) for d in escalations} == {frozenset(past)}

        # -- March: an editorial change; the answer is kept, nobody is asked again ----------------------------
        _revise(b"<h1>AR 1114</h1><p>Revised in January: rules on live video of students (typo fixed).</p>")
        march = night(datetime(2027, 3, 2, tzinfo=UTC))
        editorial = year.nightly(march, policy_revision="editorial", decided_by="deputy-supt")["policy"]
        assert editorial["policy versions opened"] == 0 and year.version().id == v2.id
        assert year.by_kind(march)["announcement"] == year.by_kind(march)["announcement_group"] == 0

        # -- July 1: a new school year, everyone acknowledges again --------------------------------------------
        july = datetime(2027, 7, 1, 9, 0, tzinfo=UTC)  # 02:00 PDT
        renewal = year.nightly(july)["policy"]
        v3 = year.version()
        assert renewal["policy versions opened"] == 1 and v3.school_year == "2027-2028"
        everyone_asked_again(year, v3.id)
        assert year.checked["es"] > 2 * 10 and year.checked["en"] > 1000
        # Every decision is on record with who gave it.
        with year.store().session() as s:
            from compliance.models import SyncState

            decisions = [json.loads(r.value) for r in s.scalars(
                select(SyncState).where(SyncState.key.like("policy.revision_decision.%")))]
        assert sorted((d["decision"], d["decided_by"]) for d in decisions) == [
            ("editorial", "deputy-supt"), ("material", "central-office@standard-sd.org")]
