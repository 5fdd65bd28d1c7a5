"""Run leases on both stores: alive while the holding process runs, gone the moment it is SIGKILLed; the outbox
never settles a row whose claimer is alive, however old the claim."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

from compliance.leases import RunLease, lease_alive
from compliance.models import Delivery
from compliance.outbox import Outbox
from compliance.settings import Settings
from compliance.store import Store

HOLDER = textwrap.dedent(
    """
    import sys, time
    from compliance.leases import RunLease
    from compliance.store import Store
    with RunLease(Store(sys.argv[1], migrate=False).engine, sys.argv[2]):
        print("held", flush=True)
        sys.stdin.read()  # until the test kills us
    """
)


def _hold_in_child(db_url: str, token: str) -> subprocess.Popen[str]:
    child = subprocess.Popen([sys.executable, "-c", HOLDER, db_url, token], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


def test_lease_is_alive_while_its_process_runs_and_gone_once_killed(db_url: str) -> None:
    store = Store(db_url)
    child = _hold_in_child(db_url, "token-child")
    try:
        assert lease_alive(store.engine, "token-child") is True
        assert lease_alive(store.engine, "token-child") is True  # checking does not take it over
        assert lease_alive(store.engine, "never-held") is False
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert lease_alive(store.engine, "token-child") is False


def test_own_lease_reads_as_alive_and_ends_with_the_block(db_url: str) -> None:
    store = Store(db_url)
    with RunLease(store.engine) as lease:
        assert lease_alive(store.engine, lease.token) is True
    assert lease_alive(store.engine, lease.token) is False
    assert lease_alive(store.engine, None) is None


def test_in_memory_store_cannot_tell() -> None:
    store = Store("sqlite://")
    assert lease_alive(store.engine, "anything") is None


def test_rows_of_a_live_sender_are_left_alone_past_any_grace(db_url: str) -> None:
    store = Store(db_url)
    long_ago = datetime.now(UTC) - timedelta(days=1)
    child = _hold_in_child(db_url, "live-sender")
    try:
        with store.session() as s:
            s.add(Delivery(idempotency_key="k1", kind="announcement", recipient="a@example.org",
                           sender="sender@standard-sd.org", status="sending", claimed_by="live-sender",
                           rfc822_message_id="<m1@standard-sd.org>", sent_at=long_ago))
        # No Google call can happen: the only row in flight belongs to a live run, so clients are not needed.
        outbox = Outbox(store, None, Settings(), in_flight_grace=timedelta(0))  # type: ignore[arg-type]
        assert outbox.reconcile() == (0, 0)
        with store.session() as s:
            row = s.query(Delivery).one()
            assert (row.status, row.claimed_by) == ("sending", "live-sender")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
