"""Ledger benchmark: chained event appends/s vs plain inserts of the same rows, and the nightly consent sweep,
then what that costs a LAUSD-scale nightly (issue 18: at most 10 %).

    .venv/bin/python -m benchmarks.bench_ledger [--events 50000] [--consent-rows 50000] [--repeat 3]
                                                [--database-url URL]

Appends go in batches of 100 (one outbox HTTP batch). The baseline inserts the same rows, already hashed, into
a plain table of the same shape: the difference is the chain's own work (lock, key lookup, hashing, head).
The consent sweep (``record_consents``) re-hashes every stored row of the files read that night and looks its
key up; an unchanged night appends nothing, so its cost is per row read.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, Integer, MetaData, String, Table, Text, insert

from compliance.ledger import EventDraft, append_events, record_consents
from compliance.models import ConsentRecord
from compliance.store import Store

NOW = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
BATCH = 100
# LAUSD-scale nightly volumes (benchmarks/README.md): a campaign night sends one announcement per person,
# consent ingest reads 370,000 rows; the nightly's floor without crawl and Gmail time is roster re-sync
# (24.1 s) plus consent ingest (~45 s of CPU).
LAUSD_SENDS = 171_000
LAUSD_CONSENT_ROWS = 370_000
LAUSD_OTHER_EVENTS = 20_000  # acknowledgements, findings, takedowns on a busy night
NIGHTLY_FLOOR_S = 24.1 + 45.0


def _drafts(n: int, offset: int) -> list[EventDraft]:
    return [EventDraft("mail_sent", f"sent:k{offset + i}:g{offset + i}",
                       {"delivery_key": f"{offset + i:064d}", "delivery_kind": "announcement", "campaign_id": 1,
                        "gmail_message_id": f"18c{offset + i:013x}", "rfc822_message_id": f"<{offset + i}@d.org>",
                        "sent_at": NOW.isoformat(), "person_id": offset + i, "site_id": "s1"},
                       person_id=offset + i, delivery_id=offset + i) for i in range(n)]


def bench_appends(url: str, events: int) -> tuple[float, float]:
    store = Store(url)
    start = time.perf_counter()
    for offset in range(0, events, BATCH):
        with store.session() as s:
            append_events(s, _drafts(min(BATCH, events - offset), offset), NOW)
    chained = time.perf_counter() - start
    plain = Table("plain_events", MetaData(), Column("seq", Integer, primary_key=True),
                  Column("event_key", String(300)),
                  Column("kind", String(40)), Column("person_id", Integer), Column("delivery_id", Integer),
                  Column("payload", Text), Column("prev_hash", String(64)), Column("hash", String(64)))
    plain.create(store.engine)
    from compliance.chain import canonical

    rows = [{"seq": i + 1, "event_key": d.event_key, "kind": d.kind, "person_id": d.person_id,
             "delivery_id": d.delivery_id, "payload": canonical(d.payload), "prev_hash": "0" * 64, "hash": f"{i:064x}"}
            for i, d in enumerate(_drafts(events, 0))]
    start = time.perf_counter()
    for offset in range(0, events, BATCH):
        with store.session() as s:
            s.execute(insert(plain), rows[offset:offset + BATCH])
    return chained, time.perf_counter() - start


def bench_consent_sweep(url: str, rows: int) -> float:
    store = Store(url)
    files = [f"consent/school-{i:04d}.xlsx" for i in range(max(rows // 370, 1))]
    with store.session() as s:
        s.execute(insert(ConsentRecord), [
            {"student_id": f"S{i}", "purposes": ["website"], "parent_consent": True, "principal_approved": True,
             "source_file": files[i % len(files)], "source_sheet": "", "source_row": i + 2, "recorded_at": NOW}
            for i in range(rows)])
    with store.session() as s:
        record_consents(s, files, now=NOW)  # first night: every row becomes an event
    start = time.perf_counter()
    with store.session() as s:
        added = record_consents(s, files, now=NOW)  # an unchanged night: nothing to add, every row checked
    assert added == 0
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--consent-rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="an empty database (default: a fresh SQLite file)")
    args = parser.parse_args(argv)
    chained, plain, sweep = [], [], []
    for r in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            url = args.database_url or f"sqlite:///{Path(tmp) / f'bench{r}.db'}"
            c, p = bench_appends(url, args.events)
            chained.append(c)
            plain.append(p)
        with tempfile.TemporaryDirectory() as tmp:
            sweep.append(bench_consent_sweep(args.database_url or f"sqlite:///{Path(tmp) / 'c.db'}",
                                             args.consent_rows))
    c, p, w = statistics.median(chained), statistics.median(plain), statistics.median(sweep)
    rate = args.events / c
    per_row = w / args.consent_rows
    print(f"chained appends: median {c:.2f} s for {args.events} events = {rate:,.0f} events/s "
          f"(plain insert {p:.2f} s = {args.events / p:,.0f} rows/s; ratio {c / p:.2f}x)")
    print(f"consent sweep, unchanged night: median {w:.2f} s for {args.consent_rows} rows "
          f"({args.consent_rows / w:,.0f} rows/s)")
    campaign = (LAUSD_SENDS + LAUSD_OTHER_EVENTS) / rate + LAUSD_CONSENT_ROWS * per_row
    ordinary = LAUSD_OTHER_EVENTS / rate + LAUSD_CONSENT_ROWS * per_row
    print(f"LAUSD estimate: campaign night {campaign:.1f} s, ordinary night {ordinary:.1f} s of ledger work; "
          f"vs the nightly floor of {NIGHTLY_FLOOR_S:.0f} s (roster + consent, no crawl, no Gmail time): "
          f"{100 * ordinary / NIGHTLY_FLOOR_S:.1f} % ordinary, {100 * campaign / NIGHTLY_FLOOR_S:.1f} % campaign "
          f"(a campaign night's 171,000 sends take hours of Gmail time: "
          f"{100 * campaign / (NIGHTLY_FLOOR_S + LAUSD_SENDS * 0.02):.1f} % at 20 ms per send)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
