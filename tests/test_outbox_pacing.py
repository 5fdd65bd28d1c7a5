"""A row is ``sending`` only for the request that carries it: Gmail's per-minute pacing is waited out while the
rows are still ``pending`` (issue 14: 250 rows sat in "sending" for minutes behind the pacer).

The real path: ledger rows, the message factory, googleapiclient batches over HTTPS to the emulator; the
pacer's sleep is the injected hook, which moves the (emulator's) clock and looks at the ledger as it waits.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from emulator_fixtures import EmulatorClock
from sqlalchemy import func, select
from test_outbox_errors import START, _add_reports, _rows

from compliance.google.clients import GoogleClients
from compliance.models import Delivery
from compliance.outbox import Outbox
from compliance.settings import get_settings
from compliance.store import Store
from emulator.district import LocalDistrict


def _sending(store: Store) -> int:
    with store.session() as s:
        return int(s.scalar(select(func.count()).select_from(Delivery).where(Delivery.status == "sending")) or 0)


def test_no_row_waits_for_the_pacer_in_sending(sample_dir: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'store.db'}"
    with LocalDistrict(
        sample_dir, db_url, work_dir=tmp_path, extra_env={"DC_QUOTAS__GMAIL_SENDS_PER_MINUTE": "2"}
    ) as district:
        store = Store(db_url)
        _add_reports(store, 6)
        clock = EmulatorClock(district.emulator.admin, START)
        seen_while_waiting: list[int] = []

        def sleep(seconds: float) -> None:
            seen_while_waiting.append(_sending(store))
            clock.advance(timedelta(seconds=max(seconds, 0.001)))

        settings = get_settings()
        outbox = Outbox(store, GoogleClients(settings, clock=clock, sleep=sleep), settings, clock=clock)
        counts = outbox.send()
    assert counts.sent == 6
    assert all(r.status == "sent" for r in _rows(store))
    assert seen_while_waiting, "with 2 sends a minute the pacer must have waited"
    assert set(seen_while_waiting) == {0}, seen_while_waiting
