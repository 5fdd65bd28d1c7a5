"""Sample district generation time, standard and lausd scale.

Baseline: writing the same number of SIS student rows with a plain ``csv.writer`` (the cheapest possible export
of the roster alone), measured in the same run. Measured: ``compliance.sample.generate`` (every file: directory,
lists, consent, SIS, websites with JPEGs, truth files, captions). Prints medians and the ratio to the baseline.

    .venv/bin/python -m benchmarks.bench_sample [--repeat 3] [--skip-lausd]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from compliance.sample import generate


def _baseline(rows: int, folder: Path) -> float:
    started = time.perf_counter()
    with (folder / "baseline.csv").open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["student_id", "legal_first", "legal_last", "preferred_first", "preferred_last", "grade",
                         "site_id"])
        for i in range(rows):
            writer.writerow([2_000_000 + i, "María José", "García López", "", "", "3", f"site-{i % 1000}"])
    return time.perf_counter() - started


def _run(scale: str, repeat: int) -> None:
    times, base, summary = [], [], {}
    for _ in range(repeat):
        folder = Path(tempfile.mkdtemp(prefix=f"bench-sample-{scale}-"))
        try:
            started = time.perf_counter()
            generate(folder / "out", scale)  # type: ignore[arg-type]
            times.append(time.perf_counter() - started)
            summary = json.loads((folder / "out" / "truth" / "summary.json").read_text(encoding="utf-8"))
            base.append(_baseline(summary["students"], folder))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    gen, ref = statistics.median(times), statistics.median(base)
    print(f"{scale}: generate median {gen:.2f} s over {repeat} run(s) (min {min(times):.2f} s); "
          f"baseline csv of {summary['students']:,} student rows {ref:.3f} s; ratio {gen / ref:.0f}x")
    keys = ("sites", "employees", "associated_persons", "people", "students", "consent_rows", "pages", "images",
            "appearances", "violations", "captions")
    print("  " + ", ".join(f"{k}={summary.get(k):,}" for k in keys))
    print("  phases (last run): " + ", ".join(f"{k} {v:.1f}s" for k, v in summary["timings_seconds"].items()))


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the standard scale")
    parser.add_argument("--skip-lausd", action="store_true", help="only the standard scale")
    args = parser.parse_args(argv)
    _run("standard", args.repeat)
    if not args.skip_lausd:
        _run("lausd", 1)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
