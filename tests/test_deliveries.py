"""Planned deliveries into the ledger (idempotent), and the dry run's sample from the sending message factory."""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser

from sqlalchemy import func, select

from compliance.campaign import CampaignParameters, open_campaign, plan_stored_campaign, sample_announcement
from compliance.deliveries import PlannedDelivery, delivery_key, queue_deliveries
from compliance.mailings import MASKED_LINK, MASKED_NAME, MessageFactory, policy_url
from compliance.models import Campaign, Delivery, Person, PolicyVersion
from compliance.policy import FormQuestions
from compliance.roster import sync_sites
from compliance.settings import load_settings
from compliance.vocabulary import CampaignStatus, DeliveryKind, DeliveryStatus

NOW = datetime(2026, 11, 2, 16, 0, tzinfo=UTC)


def _planned(n: int, kind: str = DeliveryKind.SITE_DIGEST) -> list[PlannedDelivery]:
    return [
        PlannedDelivery(delivery_key("c", f"site:{i}", kind), kind, f"admin{i}@standard-sd.org", site_id=f"s{i}",
                        context={"template": "site_admin_digest", "vars": {"n": i}})
        for i in range(n)
    ]


def test_queue_deliveries_adds_each_key_once(store) -> None:  # type: ignore[no-untyped-def]
    planned = _planned(3)
    with store.session() as session:
        assert queue_deliveries(session, planned + planned[:1]) == 3  # a key repeated in one plan: one row
    with store.session() as session:
        assert queue_deliveries(session, planned) == 0  # the same plan again: nothing new
        assert queue_deliveries(session, _planned(5)) == 2  # a larger plan: only what is new
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        assert [r.status for r in rows] == [DeliveryStatus.PENDING] * 5
        assert rows[1].context == {"template": "site_admin_digest", "vars": {"n": 1}} and rows[1].site_id == "s1"
        assert session.scalar(select(func.count(Delivery.id))) == 5


def _district(session, settings) -> PolicyVersion:  # type: ignore[no-untyped-def]
    sync_sites(session, settings.sites)
    site = settings.sites[0]
    questions = {
        "staff": FormQuestions("sf", "https://forms.example/staff", "aaaa0001", "aaaa0002").as_json(),
        "community": FormQuestions("cf", "https://forms.example/comm", "bbbb0001", "bbbb0002", "bbbb0003").as_json(),
    }
    version = PolicyVersion(drive_file_id="doc123", revision_id="r1", sha256="0" * 64, title="AR 1114",
                            school_year="2026-2027", form_questions=questions, created_at=NOW)
    session.add(version)
    session.add(Person(person_key="p_vol", kind="associated", category="volunteer", given_name="Zuzana",
                       family_name="Quillfeather", email="zq@example.com", email_normalized="zq@example.com",
                       site_id=site.id, source="test", preferred_language="es"))
    session.flush()
    return version


def test_dry_run_sample_is_the_message_the_factory_sends_with_name_and_link_masked(store) -> None:  # type: ignore[no-untyped-def]
    settings = load_settings()
    params = CampaignParameters(dry_run=True, language="en")
    with store.session() as session:
        version = _district(session, settings)
        campaign = open_campaign(session, params, version, settings, NOW)
        # A dry run's campaign is a draft: never added to the session, so it leaves no row behind.
        assert campaign.status == CampaignStatus.DRY_RUN and campaign.name.startswith("DRY RUN — ")
        assert campaign.id is None and campaign not in session
        plan = plan_stored_campaign(session, campaign, params, version, settings, NOW)
        sample = sample_announcement(session, settings, campaign, plan, NOW, version)
        assert campaign not in session and session.scalar(select(func.count(Campaign.id))) == 0
        real_params = CampaignParameters(name="real", dry_run=False, language="en")
        real_campaign = open_campaign(session, real_params, version, settings, NOW)
        [planned] = plan_stored_campaign(session, real_campaign, real_params, version, settings, NOW).deliveries
        real = Delivery(idempotency_key=planned.idempotency_key, kind=DeliveryKind.ANNOUNCEMENT,
                        recipient=planned.recipient, campaign_id=real_campaign.id, person_id=planned.person_id,
                        context={"language": planned.language})
        raw, _ = MessageFactory(session, settings, NOW)(real, str(settings.senders[0]))
    message = BytesParser(policy=policy.default).parsebytes(raw)
    text = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    # The sent message ends with its delivery reference (crash recovery searches for it); a sample has none.
    text = text.rstrip("\n").rsplit("\n\nRef. ", 1)[0] + "\n"
    assert sample["subject"] == message["Subject"]
    assert MASKED_NAME in sample["text"] and MASKED_LINK in sample["text"]
    assert "Zuzana" not in sample["text"] and "Quillfeather" not in sample["text"]
    assert "Zuzana Quillfeather" in text and "https://forms.example/comm" in text
    # Apart from the masked name and personal link, the sample is what the person gets: language, policy link.
    assert policy_url(version) in sample["text"] and policy_url(version) in text
    assert "Voluntario/a" in sample["text"] and "Voluntario/a" in text
    link = next(line for line in text.splitlines() if "https://forms.example/comm" in line)
    masked = link.replace(link[link.index("https://forms.example/comm"):].split()[0], MASKED_LINK)
    assert sample["text"].strip() == text.replace(link, masked).replace("Zuzana Quillfeather", MASKED_NAME).strip()


def test_a_second_campaign_for_the_same_version_skips_who_was_announced_unless_asked(store) -> None:  # type: ignore[no-untyped-def]
    from compliance.campaign import announcement_deliveries

    settings = load_settings()
    sender = str(settings.senders[0])
    with store.session() as session:
        version = _district(session, settings)
        fall = CampaignParameters(name="fall", dry_run=False)
        first = open_campaign(session, fall, version, settings, NOW)
        plan = plan_stored_campaign(session, first, fall, version, settings, NOW)
        assert queue_deliveries(session, announcement_deliveries(plan, first.id, sender)) == 1
        # The same campaign again plans the same message (found by key, queued once): not a duplicate.
        assert len(plan_stored_campaign(session, first, fall, version, settings, NOW).deliveries) == 1

        spring = CampaignParameters(name="spring", dry_run=False)
        second = open_campaign(session, spring, version, settings, NOW)
        skipped = plan_stored_campaign(session, second, spring, version, settings, NOW)
        assert skipped.deliveries == [] and skipped.skipped_by_reason == {"already_announced": 1}
        assert second.plan["resent"] == 0

        resend = CampaignParameters(name="spring", dry_run=False, resend_announced=True)
        again = plan_stored_campaign(session, second, resend, version, settings, NOW)
        assert len(again.deliveries) == 1 and again.resent == 1 and second.plan["resent"] == 1

        # A send that failed reached nobody: the next campaign announces to that person.
        for row in session.scalars(select(Delivery)):
            row.status = DeliveryStatus.FAILED
        retry = plan_stored_campaign(session, second, spring, version, settings, NOW)
        assert len(retry.deliveries) == 1 and retry.resent == 0
