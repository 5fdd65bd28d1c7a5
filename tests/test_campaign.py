"""Campaign planning and follow-up: plain functions, with ``now`` passed in."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from compliance.campaign import (
    Audience,
    CampaignParameters,
    DeliveryRecord,
    delivery_key,
    due_reminders,
    estimate_quota,
    plan_campaign,
)
from compliance.settings import Reminders, load_settings

NOW = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)
SITES = ["lincoln-es", "roosevelt-es", "washington-ms"]


@dataclass
class P:
    id: int
    person_key: str
    kind: str = "associated"
    category: str = "volunteer"
    given_name: str = "Ana"
    family_name: str = "López"
    email: str | None = "ana@example.com"
    site_id: str | None = "lincoln-es"
    paper_only: bool = False
    active: bool = True
    has_district_account: bool = False
    preferred_language: str = ""  # no source said one
    left_at: datetime | None = None


@dataclass(frozen=True)
class Version:
    id: int = 1


def roster(n: int, employees: int = 0) -> list[P]:
    people = []
    for i in range(n):
        staff = i < employees
        people.append(P(
            id=i + 1, person_key=f"k{i}", kind="employee" if staff else "associated",
            category="employee" if staff else ("volunteer", "vendor", "committee_parent")[i % 3],
            given_name=f"G{i}", email=f"p{i}@{'standard-sd.org' if staff else 'example.com'}",
            site_id=SITES[i % 3], has_district_account=staff,
        ))
    return people


def settings(senders: int = 3, daily: int = 2000, per_minute: int = 60):  # type: ignore[no-untyped-def]
    profile = load_settings()
    return load_settings(
        senders=[f"policy-mail-{i}@standard-sd.org" for i in range(senders)],
        quotas=profile.quotas.model_copy(
            update={"gmail_daily_per_sender": daily, "gmail_sends_per_minute": per_minute}
        ),
    )


def test_skips_each_unusable_person_with_its_reason() -> None:
    people = [
        P(1, "ok"),
        P(2, "leaver", active=False),
        P(3, "left", left_at=NOW),
        P(4, "acked"),
        P(5, "paper", paper_only=True, email=None),
        P(6, "noemail", email=None),
        P(7, "bademail", email="ana@@example"),
        P(8, "spaces", email="ana lopez@example.com"),
        P(9, "inject", given_name="Ana\r\nBcc: victim@example.com"),
        P(10, "script", given_name="<script>alert(1)</script>", email="s@example.com"),
        P(11, "formula", given_name='=HYPERLINK("http://x","y")', email="f@example.com"),
        P(12, "injectmail", email="a@example.com\nBcc: v@example.com"),
    ]
    plan = plan_campaign(people, {4}, Audience(), Version(), settings(), NOW, campaign_id=7)
    reasons = {s.person_key: s.reason for s in plan.skipped}
    assert reasons == {
        "leaver": "leaver", "left": "leaver", "acked": "already_acknowledged", "paper": "paper_only",
        "noemail": "no_valid_email", "bademail": "no_valid_email", "spaces": "no_valid_email",
        "inject": "unsafe_name", "injectmail": "no_valid_email",
    }
    # Hostile but header-safe names are sent (HTML escaping is the template's job), not dropped.
    assert sorted(d.person_key for d in plan.deliveries) == ["formula", "ok", "script"]
    assert {s.person_key for s in plan.print_list} == {"paper", "noemail", "bademail", "spaces", "injectmail"}
    assert [s.person_key for s in plan.header_unsafe] == ["inject"]
    assert plan.skipped_by_reason["no_valid_email"] == 4
    assert "invalid email" in next(s.detail for s in plan.skipped if s.person_key == "bademail")
    summary = plan.summary()
    assert "ana@example.com" not in repr(summary) and "López" not in repr(summary)


def test_audience_filters_and_validation() -> None:
    people = roster(30)
    by_site = plan_campaign(people, set(), Audience(scope="sites", site_ids=["lincoln-es"]), Version(), settings(),
                            NOW, campaign_id=1)
    assert by_site.counts_by_site == {"lincoln-es": 10}
    by_cat = plan_campaign(people, set(), Audience(scope="categories", categories=["vendor", "volunteer"]),
                           Version(), settings(), NOW, campaign_id=1)
    assert set(by_cat.counts_by_category) == {"vendor", "volunteer"} and len(by_cat.deliveries) == 20
    everyone = plan_campaign(people, {1, 2}, Audience(only_outstanding=False), Version(), settings(), NOW,
                             campaign_id=1)
    assert len(everyone.deliveries) == 30
    with pytest.raises(ValidationError):
        Audience(scope="sites")
    with pytest.raises(ValidationError):
        Audience(scope="everyone", categories=["vendor"])
    with pytest.raises(ValidationError):
        CampaignParameters(language="fr")
    params = CampaignParameters(audience={"scope": "categories", "categories": ["walk_on_coach"]})
    assert params.audience.categories == ["walk_on_coach"] and params.dry_run is True  # dry run unless unticked


def test_quota_days_three_thousand_people_one_sender_at_500() -> None:
    plan = plan_campaign(roster(3000), set(), Audience(), Version(), settings(senders=1, daily=500), NOW,
                         campaign_id=1)
    assert plan.quota.messages == 3000 and plan.quota.days == 6
    assert plan.quota.per_minute == 60 and plan.quota.sending_minutes == 50
    assert estimate_quota(3001, 3001, 1, 500, 60).days == 7
    assert estimate_quota(6000, 6000, 3, 2000, 60).days == 1
    assert estimate_quota(0, 0, 3, 2000, 60).days == 0


def test_staff_go_by_site_group_only_when_faster() -> None:
    small = plan_campaign(roster(700, employees=300), set(), Audience(), Version(), settings(), NOW, campaign_id=1)
    assert small.staff_channel == "individual" and len(small.deliveries) == 700 and not small.group_announcements
    assert "1 day" in small.staff_channel_reason
    # 9,000 staff + 1,000 others with one sender at 2,000/day: 5 days one by one; Bcc groups of 99 (the To:
    # line is the sender, and Gmail counts To + Bcc up to 100) make 1,093 messages but 10,000 unique recipients
    # at 3,000/day: 4 days.
    big = plan_campaign(roster(10_000, employees=9000), set(), Audience(), Version(), settings(senders=1), NOW,
                        campaign_id=1)
    assert big.individual_quota.days == 5
    assert big.staff_channel == "site_group" and big.quota.days == 4
    assert "4 days instead of 5" in big.staff_channel_reason
    assert len(big.deliveries) == 1000 and all(d.category != "employee" for d in big.deliveries)
    reached = [pid for g in big.group_announcements for pid in g.person_ids]
    assert len(reached) == len(set(reached)) == 9000
    assert all(len(g.recipients) <= 99 and len({g.site_id}) == 1 for g in big.group_announcements)
    assert max(len(g.recipients) for g in big.group_announcements) == 99
    assert len(big.group_announcements) == 3 * math.ceil(3000 / 99)
    assert big.summary()["people_reached"] == 10_000


def test_delivery_keys_are_deterministic_and_distinct() -> None:
    key = delivery_key(7, "k1", "announcement")
    assert len(key) == 64 and key == delivery_key(7, "k1", "announcement")
    assert len({key, delivery_key(7, "k1", "reminder_1"), delivery_key(8, "k1", "announcement"),
                delivery_key(7, "k2", "announcement"), delivery_key("7\x1fk", "1", "announcement")}) == 5
    a = plan_campaign(roster(50), set(), Audience(), Version(), settings(), NOW, campaign_id=3)
    b = plan_campaign(list(reversed(roster(50))), set(), Audience(), Version(), settings(), NOW, campaign_id=3)
    assert {d.idempotency_key for d in a.deliveries} == {d.idempotency_key for d in b.deliveries}


def test_preferred_language_wins_over_campaign_default() -> None:
    people = [P(1, "a"), P(2, "b", preferred_language="es", email="b@example.com")]
    plan = plan_campaign(people, set(), Audience(), Version(), settings(), NOW, campaign_id=1, language="en")
    assert {d.person_key: d.language for d in plan.deliveries} == {"a": "en", "b": "es"}
    plan = plan_campaign(people, set(), Audience(), Version(), settings(), NOW, campaign_id=1, language="es")
    assert {d.language for d in plan.deliveries} == {"es"}
    # Someone whose Directory or list says English reads English even in a Spanish campaign.
    people.append(P(3, "c", preferred_language="en", email="c@example.com"))
    plan = plan_campaign(people, set(), Audience(), Version(), settings(), NOW, campaign_id=1, language="es")
    assert {d.person_key: d.language for d in plan.deliveries} == {"a": "es", "b": "es", "c": "en"}


def people_map(n: int) -> dict[int, P]:
    return {p.id: p for p in roster(n)}


CADENCE = Reminders(reminder_days=[7, 14], site_admin_digest_days=21, superintendent_days=28)


def test_reminders_each_once_and_never_after_acknowledgement_or_leaving() -> None:
    people = people_map(6)
    people[5] = replace(people[5], active=False)  # left after the announcement
    deliveries = [DeliveryRecord(pid, "announcement", NOW) for pid in people]
    deliveries.append(DeliveryRecord(6, "announcement", NOW, status="bounced"))
    acknowledged = {2}
    sent: list[DeliveryRecord] = list(deliveries)
    timeline: dict[int, list[int]] = {pid: [] for pid in people}
    for day in range(0, 40):
        now = NOW + timedelta(days=day, hours=1)
        if day == 10:
            acknowledged.add(3)  # acknowledges between reminder 1 and 2
        plan = due_reminders(sent, acknowledged, CADENCE, now, people=people)
        for r in plan.reminders:
            timeline[r.person_id].append(r.number)
            sent.append(DeliveryRecord(r.person_id, r.kind, now))
            assert now - NOW >= timedelta(days=CADENCE.reminder_days[r.number - 1])
    assert timeline[1] == [1, 2] and timeline[4] == [1, 2]
    assert timeline[2] == []  # acknowledged before any reminder
    assert timeline[3] == [1]  # acknowledged after reminder 1
    assert timeline[5] == []  # leaver
    assert timeline[6] == []  # announcement bounced: the site administrator chases them instead


def test_missed_runs_send_only_the_latest_reminder() -> None:
    people = people_map(1)
    plan = due_reminders([DeliveryRecord(1, "announcement", NOW)], set(), CADENCE, NOW + timedelta(days=15),
                         people=people)
    assert [(r.person_id, r.number) for r in plan.reminders] == [(1, 2)]
    plan = due_reminders([DeliveryRecord(1, "announcement", NOW), DeliveryRecord(1, "reminder_2", NOW)],
                         set(), CADENCE, NOW + timedelta(days=16), people=people)
    assert plan.reminders == []
    # Not announced yet (pending) means no clock has started.
    plan = due_reminders([DeliveryRecord(1, "announcement", None, status="pending")], set(), CADENCE,
                         NOW + timedelta(days=30), people=people)
    assert plan.reminders == [] and plan.outstanding == []


def test_site_digest_weekly_while_overdue_and_each_person_escalated_once() -> None:
    people = people_map(8)
    records = [DeliveryRecord(pid, "announcement", NOW) for pid in people if pid <= 6]
    acked = {1}
    early = due_reminders(records, acked, CADENCE, NOW + timedelta(days=20), people=people)
    assert early.site_digests == {} and early.superintendent == []
    at21 = due_reminders(records, acked, CADENCE, NOW + timedelta(days=21, hours=2), people=people)
    assert sorted(at21.site_digests) == SITES
    assert {o.person_id for o in at21.site_digests["lincoln-es"]} == {4}  # person 1 acknowledged
    assert all(o.days_outstanding == 21 for rows in at21.site_digests.values() for o in rows)
    assert at21.superintendent == []
    records += [DeliveryRecord(None, "site_digest", None, status="pending", site_id=s,
                               planned_at=NOW + timedelta(days=21, hours=2)) for s in SITES]
    # Within the week no site hears again; a week later every site with someone overdue does.
    at27 = due_reminders(records, acked, CADENCE, NOW + timedelta(days=27, hours=2), people=people)
    assert at27.site_digests == {}
    at28 = due_reminders(records, acked, CADENCE, NOW + timedelta(days=28, hours=1), people=people)
    assert sorted(at28.site_digests) == SITES
    assert sorted(o.person_id for o in at28.superintendent) == [2, 3, 4, 5, 6]
    records.append(DeliveryRecord(None, "superintendent_escalation", None, status="pending",
                                  person_ids=(2, 3, 4, 5, 6), planned_at=NOW + timedelta(days=28, hours=1)))
    # Joiners: 7 announced on day 4 crosses the line on day 32, 8 announced on day 12 on day 40.
    records += [DeliveryRecord(7, "announcement", NOW + timedelta(days=4)),
                DeliveryRecord(8, "announcement", NOW + timedelta(days=12))]
    at32 = due_reminders(records, acked, CADENCE, NOW + timedelta(days=32, hours=1), people=people)
    assert at32.superintendent == []  # 7 is past the line but the last escalation is 4 days old
    at35 = due_reminders(records, acked, CADENCE, NOW + timedelta(days=35, hours=1), people=people)
    assert [o.person_id for o in at35.superintendent] == [7]  # the earlier five are never reported twice
    assert len(at35.overdue) == 6 and len(at35.outstanding) == 7
    records.append(DeliveryRecord(None, "superintendent_escalation", None, status="pending", person_ids=(7,),
                                  planned_at=NOW + timedelta(days=35, hours=1)))
    at42 = due_reminders(records, acked, CADENCE, NOW + timedelta(days=42, hours=1), people=people)
    assert [o.person_id for o in at42.superintendent] == [8]
    # Everyone signs: no digest and no escalation however long the ledger says they were outstanding.
    done = due_reminders(records, set(people), CADENCE, NOW + timedelta(days=60), people=people)
    assert done.site_digests == {} and done.superintendent == [] and done.outstanding == []


def test_escalation_rows_from_before_named_people_cover_who_was_due_then() -> None:
    people = people_map(3)
    records = [DeliveryRecord(1, "announcement", NOW), DeliveryRecord(2, "announcement", NOW),
               DeliveryRecord(3, "announcement", NOW + timedelta(days=5)),
               DeliveryRecord(None, "superintendent_escalation", NOW + timedelta(days=28))]
    plan = due_reminders(records, set(), CADENCE, NOW + timedelta(days=35, hours=1), people=people)
    assert [o.person_id for o in plan.superintendent] == [3]  # 1 and 2 were past the line on day 28


def test_paper_only_people_are_outstanding_from_their_start_without_reminders() -> None:
    people = people_map(3)
    records = [DeliveryRecord(1, "announcement", NOW)]
    unreachable = {2: NOW, 3: NOW + timedelta(days=10)}  # 3 joined later
    plan = due_reminders(records, set(), CADENCE, NOW + timedelta(days=21, hours=1), people=people,
                         unreachable=unreachable)
    assert {r.person_id for r in plan.reminders} == {1}  # nobody can email the paper-only
    digested = [o for rows in plan.site_digests.values() for o in rows]
    assert {(o.person_id, o.no_email) for o in digested} == {(1, False), (2, True)}  # 3 is 11 days in
    signed = due_reminders(records, {2}, CADENCE, NOW + timedelta(days=21, hours=1), people=people,
                           unreachable=unreachable)
    assert {o.person_id for rows in signed.site_digests.values() for o in rows} == {1}


def test_plans_from_store_rows(store) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from compliance.models import Person, PolicyVersion, Site

    with store.session() as s:
        s.add(Site(id="lincoln-es", name="Lincoln", kind="elementary", org_unit="/L", site_admin_email="p@d.org",
                   web_contact_email="w@d.org"))
        s.flush()  # no relationship() between the tables, so the unit of work needs the site first
        s.add(PolicyVersion(id=4, drive_file_id="f", revision_id="r", sha256="0" * 64, title="AR 1114",
                            school_year="2026-2027"))
        s.add_all([
            Person(person_key="e1", kind="employee", category="employee", given_name="Eva", family_name="Ruiz",
                   email="eva@standard-sd.org", site_id="lincoln-es", has_district_account=True, source="directory"),
            Person(person_key="v1", kind="associated", category="volunteer", given_name="Ana", family_name="Paz",
                   email=None, site_id="lincoln-es", paper_only=True, source="associated/lincoln-es.xlsx"),
            Person(person_key="c1", kind="associated", category="walk_on_coach", given_name="Bo", family_name="Li",
                   email="bo@example.com", site_id="lincoln-es", preferred_language="es", source="x"),
        ])
    with store.session() as s:
        people = s.scalars(select(Person)).all()
        plan = plan_campaign(people, set(), Audience(), s.get(PolicyVersion, 4), settings(), NOW, campaign_id=1)
    assert plan.policy_version_id == 4
    assert {(d.person_key, d.language) for d in plan.deliveries} == {("e1", "en"), ("c1", "es")}
    assert [(s.person_key, s.reason) for s in plan.print_list] == [("v1", "paper_only")]
    assert plan.counts_by_category == {"employee": 1, "walk_on_coach": 1}


def test_group_announcements_start_each_members_reminder_clock() -> None:
    people = people_map(4)
    records = [
        DeliveryRecord(None, "announcement_group", NOW, site_id="lincoln-es", person_ids=(1, 2)),
        DeliveryRecord(None, "announcement_group", None, status="pending", person_ids=(3,)),
        DeliveryRecord(4, "announcement", NOW + timedelta(days=3)),
    ]
    plan = due_reminders(records, {2}, CADENCE, NOW + timedelta(days=7, hours=1), people=people)
    assert [(r.person_id, r.kind) for r in plan.reminders] == [(1, "reminder_1")]
    assert {o.person_id for o in plan.outstanding} == {1, 4}
