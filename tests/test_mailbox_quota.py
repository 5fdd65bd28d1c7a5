"""The store-kept minute of a mailbox (compliance.mailbox_quota) and the store-kept site audits of a night
(compliance.site_audits), on SQLite and PostgreSQL: what several workers share instead of their memories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from compliance.mailbox_quota import MailboxQuota
from compliance.models import MailboxQuotaUse
from compliance.site_audits import audited_sites, record_site_audit, site_audits
from compliance.store import Store

T0 = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
MAILBOX = "Policy-Mail-1@standard-sd.org"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def _quota(store: Store, clock: Clock, grace: float = 600.0) -> MailboxQuota:
    return MailboxQuota(store, 500, clock=clock, sleep=clock.sleep, grace=timedelta(seconds=grace))


def test_a_request_counts_until_a_minute_after_it_returned(db_url: str) -> None:
    store, clock = Store(db_url), Clock()
    quota = _quota(store, clock)
    with store.session() as s:
        assert quota.wait_seconds(s, MAILBOX, 500, clock.now) == 0
        use = quota.spend(s, MAILBOX, 500, clock.now)
    clock.sleep(30)  # in flight for 30 s
    with store.session() as s:
        # Still in flight: it counts as returning now at the earliest, so the next waits a full minute.
        assert quota.wait_seconds(s, MAILBOX.lower(), 100, clock.now) == 60
    quota.finish(use)
    clock.sleep(59)
    with store.session() as s:
        assert quota.wait_seconds(s, MAILBOX, 100, clock.now) == 1
    clock.sleep(1)
    with store.session() as s:
        assert quota.wait_seconds(s, MAILBOX, 500, clock.now) == 0
        assert quota.wait_seconds(s, "policy-mail-2@standard-sd.org", 500, clock.now) == 0  # per mailbox


def test_a_request_that_never_returned_counts_until_the_grace_and_a_minute(db_url: str) -> None:
    store, clock = Store(db_url), Clock()
    quota = _quota(store, clock, grace=120)
    with store.session() as s:
        quota.spend(s, MAILBOX, 400, clock.now)  # its process died: never finished
    clock.sleep(170)
    with store.session() as s:
        assert quota.wait_seconds(s, MAILBOX, 200, clock.now) == 10  # 120 s grace + 60 s window
    clock.sleep(10)
    with store.session() as s:
        assert quota.wait_seconds(s, MAILBOX, 500, clock.now) == 0
        quota.spend(s, MAILBOX, 500, clock.now)  # and the dead row is removed as this one is written
        assert s.scalar(select(func.count()).select_from(MailboxQuotaUse)) == 1


def test_reserve_waits_through_sleep_and_stamps_the_request_when_the_block_ends(db_url: str) -> None:
    store, clock = Store(db_url), Clock()
    quota = _quota(store, clock)
    with quota.reserve(MAILBOX, 5, 100) as waited:
        assert waited == 0
        clock.sleep(2)
    with quota.reserve(MAILBOX, 1, 5) as waited:
        assert waited == 60 and clock.now == T0 + timedelta(seconds=62)
    with store.session() as s:
        finished = list(s.scalars(select(MailboxQuotaUse.finished_at)))
    assert finished == [T0 + timedelta(seconds=62)]  # the first had left the minute: removed


def test_a_site_is_recorded_once_a_night(db_url: str) -> None:
    store = Store(db_url)
    with store.session() as s:
        assert record_site_audit(s, "night-1", "lincoln-es", {"pages": 9, "held": None}, {"violations": 2}, T0)
        assert not record_site_audit(s, "night-1", "lincoln-es", {"pages": 1}, {"violations": 0}, T0)
        assert record_site_audit(s, "night-2", "lincoln-es", {"pages": 9}, {"violations": 1}, T0)
    with store.session() as s:
        assert audited_sites(s, "night-1", ["lincoln-es", "roosevelt-es"]) == {"lincoln-es"}
        assert site_audits(s, "night-1") == {"lincoln-es": ({"pages": 9, "held": None}, {"violations": 2})}
