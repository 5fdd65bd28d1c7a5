"""Report workbook benchmark at LAUSD scale: `write_workbook` vs a plain openpyxl write-only dump.

Synthetic `ReportData` in memory: 175,000 outstanding people, 100,000 photo findings, 1,000 sites.
Baseline: a write-only workbook with the same rows appended as plain tuples (no styles, no hyperlinks, no
charts, no print settings), measured in the same run. Measured: `write_workbook` (every sheet, styles,
65,000 hyperlinks, conditional formats, charts). Each run is a fresh subprocess, so peak memory (maxrss) is
per run and includes the data itself.

    .venv/bin/python -m benchmarks.bench_report [--repeat 3] [--people 175000] [--findings 100000]
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from compliance.report import (
    AgingRow,
    CategoryRow,
    FindingRow,
    OutstandingRow,
    PolicyInfo,
    QuarantineRow,
    ReportData,
    SiteRow,
    TrendPoint,
    write_workbook,
)
from compliance.vocabulary import FindingState, PersonCategory, PersonKind, Verdict

NOW = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
GIVEN = [
    "Maria",
    "José",
    "Ana",
    "Luis",
    "Wei",
    "Aiden",
    "Fatima",
    "Nguyen",
    "Olivia",
    "Kwame",
    "Sofia",
    "Omar",
]
FAMILY = [
    "García López",
    "Smith",
    "Hernández",
    "Kim",
    "O'Brien",
    "Nguyen",
    "Okafor",
    "Rossi",
    "Cohen",
    "Patel",
]
# Plain strings (.value), as rows read from the store hold them.
CATEGORIES = [c.value for c in (PersonCategory.EMPLOYEE, PersonCategory.VOLUNTEER, PersonCategory.COMMITTEE_PARENT,
                                PersonCategory.WALK_ON_COACH, PersonCategory.CONTRACTOR, PersonCategory.VENDOR)]
REASONS = ["no_consent", "revoked", "expired", "principal_missing", "purpose_not_covered"]


def synthetic(people: int, findings: int, sites: int, seed: int = 1114) -> ReportData:
    """Deterministic lausd-scale report data (no database)."""
    rnd = random.Random(seed)
    site_names = [f"School {i:04d} {'Elementary' if i % 3 else 'Middle'}" for i in range(sites)]
    today = NOW.date()
    outstanding = [
        OutstandingRow(
            i,
            f"{rnd.choice(GIVEN)} {rnd.choice(FAMILY)}",
            site_names[i % sites],
            rnd.choice(CATEGORIES),
            (PersonKind.EMPLOYEE if i % 3 else PersonKind.ASSOCIATED).value,
            today - timedelta(days=(d := rnd.randrange(0, 60))),
            d,
            min(2, d // 7),
            "Site admin" if d >= 21 else "",
            i % 17 == 0,
        )
        for i in range(people)
    ]
    finding_rows = []
    for i in range(findings):
        site = i % sites
        resolved = i % 4 == 0
        age = rnd.randrange(0, 40)
        finding_rows.append(
            FindingRow(
                i,
                site_names[site],
                f"https://www.example.org/school-{site:04d}/news/post-{i}.html",
                f"https://www.example.org/school-{site:04d}/images/photo-{i}.jpg",
                f"S{1000000 + i}",
                (Verdict.VIOLATION if i % 10 else Verdict.NEEDS_REVIEW).value,
                rnd.choice(REASONS),
                today - timedelta(days=age),
                (FindingState.RESOLVED if resolved else (FindingState.OPEN if i % 3 else FindingState.NEW)).value,
                None if resolved else age,
                today if resolved else None,
            )
        )
    site_rows = [
        SiteRow(f"school-{i:04d}", site_names[i], 250, 180 + i % 70, 70 - i % 70, 20, 10, 75, 25) for i in range(sites)
    ]
    site_rows.sort(key=lambda s: (s.rate or 0.0, s.site_name))
    summary = {
        "ack_rate": 0.81,
        "active_people": 900_000,
        "outstanding": people,
        "violations_online": 75_000,
        "aging_over_14": 40_000,
        "median_takedown_days": 3.5,
        "quarantine_rows": 1_200,
    }
    trends = [
        TrendPoint(NOW - timedelta(days=7 * k), {**summary, "ack_rate": 0.81 - 0.01 * k}) for k in range(20, 0, -1)
    ]
    return ReportData(
        generated_at=NOW,
        time_zone="America/Los_Angeles",
        policy=PolicyInfo(1, "AR 1114 Social Media", "2026-2027", "r1", NOW - timedelta(days=60)),
        summary=summary,
        previous=trends[-1],
        sites=site_rows,
        categories=[CategoryRow(c, 1000, 800) for c in CATEGORIES],
        outstanding=outstanding,
        findings=finding_rows,
        aging=[AgingRow(name, (10, 20, 15, 30), 39) for name in site_names],
        quarantine=[
            QuarantineRow("roster", f"associated/school-{i:04d}.xlsx", 3, 1, date(2026, 11, 20)) for i in range(400)
        ],
        trends=[*trends, TrendPoint(NOW, summary)],
    )


def baseline_dump(data: ReportData, path: Path) -> Path:
    """The same rows, appended as they are to a plain write-only workbook."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    for title, rows in (
        ("By Site", data.sites),
        ("Outstanding Acknowledgements", data.outstanding),
        ("Photo Consent Findings", data.findings),
        ("Takedown Aging", [(a.site_name, *a.buckets, a.total, a.oldest_days) for a in data.aging]),
        ("Data Quality", data.quarantine),
    ):
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def _child(mode: str, people: int, findings: int, sites: int) -> None:
    data = synthetic(people, findings, sites)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.xlsx"
        started, cpu_started = time.perf_counter(), time.process_time()
        if mode == "baseline":
            baseline_dump(data, out)
        else:
            write_workbook(data, out, district_name="Los Angeles Unified (synthetic)", generated_at=NOW)
        seconds = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
        size = out.stat().st_size
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu": cpu, "maxrss_mb": maxrss_mb, "bytes": size}))


def _run(mode: str, args: argparse.Namespace) -> dict[str, float]:
    cmd = [sys.executable, "-m", "benchmarks.bench_report", "--child", mode]
    cmd += ["--people", str(args.people), "--findings", str(args.findings), "--sites", str(args.sites)]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_report")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--people", type=int, default=175_000)
    parser.add_argument("--findings", type=int, default=100_000)
    parser.add_argument("--sites", type=int, default=1_000)
    parser.add_argument("--child", choices=["baseline", "report"])
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child, args.people, args.findings, args.sites)
        return 0
    print(
        f"report workbook: {args.people:,} outstanding people, {args.findings:,} findings, "
        f"{args.sites:,} sites; median of {args.repeat} runs each, one subprocess per run"
    )
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "report": []}
    for _ in range(args.repeat):
        for mode in runs:  # interleaved so machine load affects both alike
            runs[mode].append(_run(mode, args))
    med = {m: statistics.median(r["seconds"] for r in rs) for m, rs in runs.items()}
    # CPU seconds are steadier than wall time on a shared machine; both are printed.
    cpu = {m: statistics.median(r["cpu"] for r in rs) for m, rs in runs.items()}
    rss = {m: max(r["maxrss_mb"] for r in rs) for m, rs in runs.items()}
    size = {m: rs[-1]["bytes"] / 1e6 for m, rs in runs.items()}
    print(
        f"  baseline (plain write-only dump): median {med['baseline']:.2f} s wall, {cpu['baseline']:.2f} s CPU, "
        f"peak RSS {rss['baseline']:.0f} MB, {size['baseline']:.1f} MB file"
    )
    print(
        f"  write_workbook (full report):     median {med['report']:.2f} s wall, {cpu['report']:.2f} s CPU, "
        f"peak RSS {rss['report']:.0f} MB, {size['report']:.1f} MB file"
    )
    ratio, cpu_ratio = med["report"] / med["baseline"], cpu["report"] / cpu["baseline"]
    print(
        f"  ratio report/baseline: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU (target <= 1.5x); "
        "peak memory target < 1024 MB"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
