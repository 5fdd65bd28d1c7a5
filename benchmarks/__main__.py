"""Run every benchmark (``make bench``) or the ones named: ``python -m benchmarks render matching``.

Each module prints its own medians and its ratio against the baseline it names; nothing here is a test.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    here = Path(__file__).parent
    names = sorted(m.name for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    wanted = [f"bench_{a.removeprefix('bench_')}" for a in argv] or names
    failed = 0
    for name in wanted:
        if name not in names:
            print(f"unknown benchmark {name!r}; known: {', '.join(names)}")
            return 2
        print(f"\n=== {name} ===", flush=True)
        started = time.perf_counter()
        module = importlib.import_module(f"benchmarks.{name}")
        try:
            module.main([])
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            failed += 1
            print(f"{name} failed: {type(exc).__name__}: {exc}")
        print(f"({name} took {time.perf_counter() - started:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
