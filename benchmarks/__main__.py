"""Run every benchmark (``make bench``) or the ones named: ``python -m benchmarks render matching``
(``audit-independent`` runs ``bench_audit_independent``). With one name, the options after it go to that
module: ``python -m benchmarks nightly --scale lausd``.

Each module prints its own medians and its ratio against the baseline it names; nothing here is a test.
``--quick`` gives each module the smaller arguments in :data:`QUICK_ARGS` (fewer repeats, smaller volumes):
the figures then show the shape, not the acceptance numbers; ``benchmarks/README.md`` has the full commands.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from pathlib import Path

# Smaller runs for a quick look (minutes in all instead of ~15 on two cores); a module not listed runs as is.
QUICK_ARGS: dict[str, list[str]] = {
    "bench_audit_cost": ["--repeat", "1", "--warmup", "0", "--skip-baseline-sample"],
    "bench_campaign": ["--scale", "standard", "--repeat", "1"],
    "bench_consent": ["--schools", "100", "--repeat", "1"],
    "bench_crawl": ["--repeat", "1"],
    "bench_emulator": ["--users", "20000", "--repeat", "1"],
    "bench_ledger": ["--events", "10000", "--consent-rows", "20000", "--repeat", "1"],
    "bench_matching": ["--scale", "standard", "--repeat", "1"],
    "bench_nightly": ["--scale", "standard"],
    "bench_render": ["--messages", "5000", "--runs", "3", "--baseline-sample", "200"],
    "bench_report": ["--repeat", "1", "--people", "20000", "--findings", "10000", "--sites", "200"],
    "bench_roster": ["--scale", "standard", "--repeat", "1", "--people", "20000"],
    "bench_sample": ["--repeat", "1", "--skip-lausd"],
}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (default: all), e.g. render or bench_render")
    parser.add_argument("--quick", action="store_true", help="smaller volumes and one repeat per module")
    args, extra = parser.parse_known_args(argv)
    if extra and len(args.names) != 1:
        parser.error(f"options {' '.join(extra)} need exactly one benchmark named (they are passed to it)")
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    # Dashed names on the command line (``audit-independent``) are the module's underscored name.
    wanted = [f"bench_{a.removeprefix('bench_').replace('-', '_')}" for a in args.names] or names
    failed = 0
    for name in wanted:
        if name not in names:
            print(f"unknown benchmark {name!r}; known: {', '.join(names)}")
            return 2
        module_args = QUICK_ARGS.get(name, []) if args.quick else []
        module_args += extra
        shown = " ".join([name, *module_args])
        print(f"\n=== {shown} ===", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        try:
            status = module.main(module_args)
            if isinstance(status, int) and status != 0:
                failed += 1
                print(f"{name} exited with status {status}")
        except SystemExit as exc:  # argparse errors and sys.exit inside a module
            if exc.code not in (0, None):
                failed += 1
                print(f"{name} exited with status {exc.code}")
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed += 1
            print(f"{name} failed: {type(exc).__name__}: {exc}")
        print(f"({name} took {time.perf_counter() - started:.1f} s)", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
