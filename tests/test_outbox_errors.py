"""The outbox ends in bounded time on errors that do not clear, and never resends on a guess.

Through the real path: ledger rows, the message factory, googleapiclient batches over HTTPS to the emulator,
which injects the failures. Clocks are injected; the only waits are on the emulator's own state.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from emulator_fixtures import EmulatorClock
from sqlalchemy import select

from compliance.google.clients import GoogleClients
from compliance.models import Delivery
from compliance.outbox import Outbox
from compliance.settings import get_settings
from compliance.store import Store
from emulator.district import LocalDistrict
from emulator.limits import EmulatorLimits

SEND = "gmail.users.messages.send"
START = datetime(2026, 10, 5, 4, 0, tzinfo=UTC)
PEOPLE = 6




@pytest.fixture
def district(sample_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    with LocalDistrict(sample_dir, db_url, work_dir=tmp_path, limits=EmulatorLimits(gmail_rewrite_message_id=True),
                       extra_env={"DC_GOOGLE__TIMEOUT_SECONDS": "2", "DC_GOOGLE__NUM_RETRIES": "2"}) as d:
        store = Store(db_url)
        _add_reports(store, PEOPLE)
        yield d, store


def _add_reports(store: Store, n: int, prefix: str = "reader") -> None:
    """``n`` report emails in the ledger: the simplest deliveries the message factory builds."""
    with store.session() as s:
        for i in range(n):
            s.add(Delivery(idempotency_key=f"{prefix}-{i}", kind="compliance_report",
                           recipient=f"{prefix}{i}@standard-sd.org",
                           context={"template": "compliance_report", "language": "en", "vars": {
                               "recipient_name": f"Reader {i}", "generated_at": START.isoformat(),
                               "percent_acknowledged": 50.0, "acknowledged": 1, "required": 2,
                               "outstanding": 1, "open_violations": 0, "resolved_violations": 0,
                               "report_url": ""}}))


def _outbox(store: Store, clock: EmulatorClock, **kwargs) -> Outbox:  # type: ignore[no-untyped-def]
    settings = get_settings()
    clients = GoogleClients(settings, clock=clock, sleep=lambda _s: None)  # the batch layer's backoff: no wait
    return Outbox(store, clients, settings, clock=clock, **kwargs)


def _rows(store: Store) -> list[Delivery]:
    with store.session() as s:
        return list(s.scalars(select(Delivery).order_by(Delivery.id)))


def _send_calls(admin) -> int:  # type: ignore[no-untyped-def]
    return int(admin.stats()["calls"].get(SEND, 0))


def test_a_503_that_never_clears_backs_off_then_fails_each_delivery_with_its_reason(district) -> None:
    d, store = district
    admin = d.emulator.admin
    clock = EmulatorClock(admin, START)
    admin.set_faults(method=SEND, error_rate=1.0, statuses=[503])
    outbox = _outbox(store, clock)
    first = outbox.send()
    assert (first.sent, first.retry_later, first.failed) == (0, PEOPLE, 0)
    assert all(r.status == "pending" and r.not_before and "503" in (r.error or "") for r in _rows(store))
    calls = _send_calls(admin)
    again = outbox.send()  # at once: nothing is due yet, so nothing is tried
    assert again.as_dict()["sent"] == 0 and _send_calls(admin) == calls
    runs = 1
    while any(r.status == "pending" for r in _rows(store)):
        clock.advance(timedelta(hours=6))
        outbox.send()
        runs += 1
        assert runs < 20, "the outbox kept retrying"
    rows = _rows(store)
    assert Counter(r.status for r in rows) == {"failed": PEOPLE}
    assert all(r.error.startswith("gave up after 6 attempts") and "503" in r.error for r in rows)
    assert admin.mail() == []


def test_access_not_configured_refuses_the_senders_and_leaves_the_deliveries_waiting(district) -> None:
    d, store = district
    admin = d.emulator.admin
    admin.set_faults(method=SEND, error_rate=1.0, statuses=[403], reason="accessNotConfigured")
    counts = _outbox(store, EmulatorClock(admin, START)).send()
    assert counts.sent == 0 and counts.deferred == PEOPLE
    assert set(counts.refused_senders) == {str(s) for s in get_settings().senders}
    assert all("accessNotConfigured" in why for why in counts.refused_senders.values())
    rows = _rows(store)
    assert all(r.status == "pending" and r.attempts == 0 and "accessNotConfigured" in r.error for r in rows)
    admin.clear_faults()
    assert _outbox(store, EmulatorClock(admin, START)).send().sent == PEOPLE  # once the API is enabled, all go


def test_a_413_fails_at_once(district) -> None:
    d, store = district
    admin = d.emulator.admin
    admin.set_faults(method=SEND, error_rate=1.0, statuses=[413])
    counts = _outbox(store, EmulatorClock(admin, START)).send()
    assert counts.failed == PEOPLE and counts.retry_later == 0
    assert all(r.status == "failed" and "413" in r.error for r in _rows(store))


def test_a_token_that_could_not_be_fetched_leaves_no_row_sending(district) -> None:
    """The token endpoint does not answer in time before the first batch (a loaded network, Google's OAuth
    having a bad minute): nothing of the batch left the machine, so its rows are tried again at once, not left
    "sending" until the in-flight grace is over. The whole send ends in this run, each message once."""
    d, store = district
    admin = d.emulator.admin
    admin.set_faults(method="oauth2.token", timeout_rate=1.0, hang_ms=4000, count=1)  # the client waits 2 s
    counts = _outbox(store, EmulatorClock(admin, START)).send()
    rows = _rows(store)
    assert Counter(r.status for r in rows) == {"sent": PEOPLE}, [(r.status, r.error) for r in rows]
    assert counts.sent == PEOPLE and counts.retry_later == 0
    assert Counter(m["to"][0] for m in admin.mail()) == {f"reader{i}@standard-sd.org": 1 for i in range(PEOPLE)}
    assert admin.stats()["calls"].get(SEND, 0) == PEOPLE  # the first try never reached Gmail


def test_a_send_that_timed_out_but_finished_on_the_server_is_not_sent_again(district) -> None:
    """The client gives up (timeout) while Google still holds the batch; Google then completes it during the
    grace. The rows stay ``sending`` until the mailbox shows them: each message once, none requeued."""
    d, store = district
    admin = d.emulator.admin
    admin.set_faults(method=SEND, hold=True, count=1)
    clock = EmulatorClock(admin, START)

    def server_completes_during_the_grace(seconds: float) -> None:
        admin.release_held()
        admin.wait_idle()
        clock.advance(timedelta(seconds=seconds))

    outbox = _outbox(store, clock, in_flight_grace=timedelta(seconds=30))
    outbox.sleep = server_completes_during_the_grace
    counts = outbox.send()
    mail = admin.mail()
    assert Counter(m["to"][0] for m in mail) == {f"reader{i}@standard-sd.org": 1 for i in range(PEOPLE)}
    assert counts.reconciled_pending == 0
    assert Counter(r.status for r in _rows(store)) == {"sent": PEOPLE}
    assert {r.gmail_message_id for r in _rows(store)} == {m["id"] for m in mail}


def test_unknown_outcomes_older_than_the_grace_are_left_for_a_later_run_not_waited_for(district) -> None:
    d, store = district
    admin = d.emulator.admin
    admin.set_faults(method=SEND, hold=True, count=1)
    clock = EmulatorClock(admin, START)
    outbox = _outbox(store, clock)  # default grace: 600 s, longer than a run waits

    def no_sleep(_s: float) -> None:
        raise AssertionError("the run waited out a grace longer than settle_wait_seconds")

    outbox.sleep = no_sleep
    counts = outbox.send()
    assert counts.in_flight == PEOPLE and counts.sent == 0
    admin.release_held()
    admin.wait_idle()
    clock.advance(timedelta(minutes=11))
    later = _outbox(store, clock).send()
    assert later.reconciled_sent == PEOPLE and later.sent == 0
    assert len(admin.mail()) == PEOPLE


def test_bounces_match_when_gmail_replaced_the_message_id(district) -> None:
    d, store = district
    admin = d.emulator.admin
    clock = EmulatorClock(admin, START)
    outbox = _outbox(store, clock)
    assert outbox.send().sent == PEOPLE
    rows = _rows(store)
    assert all(r.gmail_rfc822_id and r.gmail_rfc822_id != r.rfc822_message_id for r in rows)
    admin.bounce(rows[0].gmail_message_id, reason="550 5.1.1 The email account does not exist")
    counts = outbox.check_bounces(START - timedelta(days=1))
    assert (counts.seen, counts.marked, counts.requeued) == (1, 1, 0)
    assert [r.status for r in _rows(store)] == ["bounced"] + ["sent"] * (PEOPLE - 1)


def test_recipients_count_toward_the_daily_budget_not_just_messages(district) -> None:
    """A sender with room for messages but not for their recipients is not used for them."""
    d, store = district
    admin = d.emulator.admin
    settings = get_settings()
    quotas = settings.quotas.model_copy(update={"gmail_unique_recipients_per_day": 2})
    tight = settings.model_copy(update={"quotas": quotas})
    clock = EmulatorClock(admin, START)
    clients = GoogleClients(tight, clock=clock, sleep=lambda _s: None)
    counts = Outbox(store, clients, tight, clock=clock).send()
    # 3 senders x 2 distinct recipients a day: 6 people, each sender used for two of them.
    assert counts.sent == PEOPLE and counts.deferred == 0
    per_sender = Counter(r.sender for r in _rows(store))
    assert set(per_sender.values()) == {2}
    _add_reports(store, 3, prefix="extra")
    later = Outbox(store, clients, tight, clock=clock).send()
    assert later.sent == 0 and later.deferred == 3  # nobody has a new address left today


def test_a_limit_refusal_that_arrives_as_a_bounce_requeues_and_pauses_the_sender(district) -> None:
    d, store = district
    admin = d.emulator.admin
    admin.set_limits(gmail_daily_per_sender=1, gmail_daily_style="lateBounce")
    clock = EmulatorClock(admin, START)
    outbox = _outbox(store, clock)
    first = outbox.send()
    assert first.sent == PEOPLE  # Google answered 200 to every send
    used = {r.sender for r in _rows(store)}  # each delivered one message; Google refused the rest later
    bounces = outbox.check_bounces(START - timedelta(hours=1))
    assert (bounces.requeued, bounces.marked, bounces.paused_senders) == (PEOPLE - len(used), 0, len(used))
    rows = _rows(store)
    assert Counter(r.status for r in rows) == {"sent": len(used), "pending": PEOPLE - len(used)}
    first_ids = {r.id for r in rows if r.status == "sent"}
    outbox.send()  # the requeued messages go again, but never through a paused sender
    assert not {r.sender for r in _rows(store) if r.id not in first_ids and r.status == "sent"} & used
    clock.advance(timedelta(hours=24, minutes=5))
    admin.set_limits(gmail_daily_per_sender=2000)
    outbox.send()
    assert Counter(r.status for r in _rows(store)) == {"sent": PEOPLE}
