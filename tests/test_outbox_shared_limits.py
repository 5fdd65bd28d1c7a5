"""Two sending processes share each mailbox's Gmail limits: together they never go over a sender's sends per
minute or messages per day (issue 17: the limits used to be counted in each process's memory).

"Two processes" here are two outboxes with their own Google clients (their own in-process pacers and budgets)
on one store, as two workers have. The second one runs to the end at a named point of the first one's send,
after Google accepted the first batch and before the first outbox recorded it (the crash drill's ``sent``
point): the moment a count kept in memory goes stale. Time is the injected clock, moved by the pacing waits
(the emulator's clock with it), so the drill replays the same on any machine. What is checked is the
emulator's own count of every send attempted per sender, refused ones included.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from emulator_fixtures import EmulatorClock
from test_outbox_errors import START, _add_reports, _rows

from compliance.google.clients import GoogleClients
from compliance.outbox import Outbox
from compliance.settings import get_settings
from compliance.store import Store
from emulator.district import LocalDistrict
from emulator.limits import EmulatorLimits

PER_MINUTE = 3


ONE_SENDER = "policy-mail-1@standard-sd.org"


@pytest.mark.parametrize(
    ("per_day", "messages", "senders"),
    [
        pytest.param(4, 20, None, id="the day binds, three senders"),
        # One mailbox: the second outbox can only send as the sender whose batch the first one has in flight.
        pytest.param(1000, 9, [ONE_SENDER], id="only the minute binds, one sender"),
    ],
)
def test_two_outboxes_together_keep_each_senders_minute_and_day(
    sample_dir: Path, tmp_path: Path, db_url: str, per_day: int, messages: int, senders: list[str] | None
) -> None:
    limits = EmulatorLimits(gmail_sends_per_minute=PER_MINUTE, gmail_daily_per_sender=per_day)
    pipeline = {"DC_QUOTAS__GMAIL_SENDS_PER_MINUTE": str(PER_MINUTE), "DC_QUOTAS__GMAIL_DAILY_PER_SENDER": str(per_day)}
    if senders is not None:
        pipeline["DC_SENDERS"] = json.dumps(senders)
    with LocalDistrict(sample_dir, db_url, work_dir=tmp_path, limits=limits, extra_env=pipeline) as district:
        admin = district.emulator.admin
        store = Store(db_url)
        _add_reports(store, messages)
        clock = EmulatorClock(admin, START)
        waits: list[float] = []

        def sleep(seconds: float) -> None:  # a pacing wait: time passes for both outboxes and for Google
            waits.append(seconds)
            clock.advance(timedelta(seconds=max(seconds, 0.001)))

        settings = get_settings()

        def outbox(**kwargs) -> Outbox:  # type: ignore[no-untyped-def]
            return Outbox(store, GoogleClients(settings, clock=clock, sleep=sleep), settings, clock=clock, **kwargs)

        second = outbox()
        inside: list[dict[str, int]] = []

        def checkpoint(phase: str) -> None:
            if phase == "sent" and not inside:
                inside.append(second.send().as_dict())

        first = outbox(checkpoint=checkpoint).send()
        counts = admin.sender_counts()
        mail = admin.mail()

    used = [str(s) for s in settings.senders]
    assert used == (senders or used) and len(used) == len(senders or "123")
    assert inside, "the second outbox must have run inside the first one's send"
    # The emulator's own count: no send of either outbox was refused, none went over a limit.
    assert sorted(counts) == sorted(used)
    for sender in used:
        got = counts[sender]
        assert got["refused"] == {}, (sender, got)
        assert got["attempted"] == got["sent"], (sender, got)
        assert got["peak_attempted_per_minute"] <= PER_MINUTE, (sender, got)
        assert got["peak_attempted_per_day"] <= per_day, (sender, got)
    # Together: what each sender's day allows went out once, and the rest waits for tomorrow.
    sent = min(messages, per_day * len(used))
    assert first.sent + inside[0]["sent"] == sent
    statuses = Counter(r.status for r in _rows(store))
    assert statuses == ({"sent": sent, "pending": messages - sent} if sent < messages else {"sent": sent})
    assert Counter(m["sender"] for m in mail).total() == sent == len({m["message_id"] for m in mail})
    if per_day < messages:
        assert {counts[s]["sent"] for s in used} == {per_day}
    assert waits, "with 3 sends a minute the outboxes must have waited for the minute"


def test_retries_of_a_batch_google_refused_for_the_minute_wait_for_the_shared_minute(
    sample_dir: Path, tmp_path: Path, db_url: str
) -> None:
    """Google counts a mailbox's minute lower than configured (someone else sends as it too): part of the first
    batch is refused. The retries go through the mailbox's shared minute like the first round did, so the
    attempts in any minute stay within what the pipeline allows itself, instead of a burst of unpaced retries
    (six attempts each, a second or two apart) that only deepens the refusal."""
    allowed = 5
    limits = EmulatorLimits(gmail_sends_per_minute=2)
    pipeline = {"DC_QUOTAS__GMAIL_SENDS_PER_MINUTE": str(allowed), "DC_SENDERS": json.dumps([ONE_SENDER])}
    with LocalDistrict(sample_dir, db_url, work_dir=tmp_path, limits=limits, extra_env=pipeline) as district:
        admin = district.emulator.admin
        store = Store(db_url)
        _add_reports(store, allowed)
        clock = EmulatorClock(admin, START)

        def sleep(seconds: float) -> None:
            clock.advance(timedelta(seconds=max(seconds, 0.001)))

        settings = get_settings()
        outbox = Outbox(store, GoogleClients(settings, clock=clock, sleep=sleep), settings, clock=clock, sleep=sleep)
        for _ in range(10):
            outbox.send()
            if Counter(r.status for r in _rows(store)) == {"sent": allowed}:
                break
            clock.advance(timedelta(minutes=10))  # a later run, after the rows' retry wait
        got = admin.sender_counts()[ONE_SENDER]
        mail = admin.mail()

    assert Counter(r.status for r in _rows(store)) == {"sent": allowed}
    assert len(mail) == allowed == len({m["message_id"] for m in mail})
    assert got["refused"], "Google's lower count must have refused part of the first batch"
    assert got["peak_attempted_per_minute"] <= allowed, got
