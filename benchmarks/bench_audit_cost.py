"""Cost of the one-off audit with every channel (issue 10) against the audit before issue 10, in one run.

Baseline: the audit code of the commit before issue 10's first change (:data:`BASELINE_REF`, the parent of
``1190e9d``), extracted with ``git archive`` into a temporary folder and imported from there. Measured: this
checkout's audit. Both run ``compliance.audit.run_audit`` over the whole standard sample (every site of
``sites/``, ``sis/students.csv``, the ``consent/`` folder, as of 2026-11-20), each run in a fresh interpreter
(the same imports and caches for both), the web server in a process of its own, runs of the two interleaved
so that load from other work falls on both. Timed: the ``run_audit`` call (wall and CPU of the audit process;
the server's CPU is not in the CPU figure).

Two samples, each audited by both codes:

- this checkout's standard sample (``ensure_sample("standard")``: the spotlight pages of issue 10 with
  backgrounds, JSON galleries, videos, embeds, PDFs, text-only mentions): the same pages for both, so the ratio
  is the cost of the code alone;
- the standard sample the baseline commit generates (its own generator, run from the extracted tree): the
  issue's "today's" audit is the baseline code on this sample.

    .venv/bin/python -m benchmarks.bench_audit_cost [--repeat 5] [--warmup 1] [--baseline-ref REF]
        [--skip-baseline-sample]

Bound (issue 10): the standard sample's audit no slower than 1.5x today's. Exit 1 above it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from compliance.sample.core import ensure_sample
from compliance.settings import PROJECT_ROOT

# Parent of 1190e9d ("photos: evidence bound to its image ..."), the first commit of issue 10's work
# (`git log --oneline -- compliance/photos`): the audit as the issue found it.
BASELINE_REF = "7d23ceb"
BOUND = 1.5
AS_OF = "2026-11-20"

# Runs in a fresh interpreter with the tree to measure first on sys.path; prints one JSON line.
WORKER = r"""
import json, sys, time
from datetime import date
from pathlib import Path
tree, sample, base_url, as_of, shim = sys.argv[1:6]
sys.path.insert(0, tree)
import compliance
from compliance.audit import run_audit
shimmed = 0
if shim == "mark":
    # The baseline's yes/no reader raised IndexError on a cell that normalises to nothing ("-", "?"): the
    # current sample has such cells. Fixed later; here its answer is what the fixed line gives, "unreadable".
    import compliance.consent as consent
    original = consent.parse_mark
    def parse_mark(value):
        global shimmed
        try:
            return original(value)
        except IndexError:
            shimmed += 1
            return None, None
    consent.parse_mark = parse_mark
where = Path(compliance.__file__).resolve()
if not where.is_relative_to(Path(tree).resolve()):
    raise SystemExit(f"compliance imported from {where}, not from {tree}")
sample = Path(sample)
sites = sorted(p.name for p in (sample / "sites").iterdir() if (p / "index.html").is_file())
args = [f"{s}={base_url}/{s}/" for s in sites]
wall, cpu = time.perf_counter(), time.process_time()
result = run_audit(sample / "sis" / "students.csv", [sample / "consent"], args, date.fromisoformat(as_of))
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
kinds = {}
for row in result.rows:
    kinds[row.get("kind", "photo")] = kinds.get(row.get("kind", "photo"), 0) + 1
print(json.dumps({"wall": wall, "cpu": cpu, "sites": len(sites), "pages": result.pages, "images": result.images,
                  "rows": len(result.rows), "kinds": kinds,
                  "violations": sum(r["status"] == "violation" for r in result.rows), "shimmed": shimmed}))
"""

GENERATE = r"""
import sys
from pathlib import Path
tree, out = sys.argv[1:3]
sys.path.insert(0, tree)
import compliance
if not Path(compliance.__file__).resolve().is_relative_to(Path(tree).resolve()):
    raise SystemExit(f"compliance imported from {compliance.__file__}, not from {tree}")
from compliance.sample.core import generate
generate(Path(out), "standard")
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DC_")}  # no profile or paths of this shell
    env.pop("PYTHONPATH", None)
    env["PREFECT_LOGGING_LEVEL"] = "WARNING"
    return env


def extract(ref: str, into: Path) -> Path:
    """``git archive`` of ``ref`` unpacked into ``into``: the baseline's code, imported from there."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=PROJECT_ROOT, check=True,
                         capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "archive", "--format=tar", sha], cwd=PROJECT_ROOT, check=True,
                             capture_output=True).stdout
    into.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


@contextmanager
def serve(root: Path) -> Iterator[str]:
    """The sample web server (this checkout's) in its own process; its base URL."""
    proc = subprocess.Popen([sys.executable, "-m", "emulator.websites", str(root)], stdout=subprocess.PIPE,
                            text=True, cwd=PROJECT_ROOT, env=_env())
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_once(tree: Path, sample: Path, base_url: str, shim: str = "none") -> dict:
    """One audit of ``sample`` by the code in ``tree``, in a fresh interpreter; its JSON line.

    ``shim="mark"`` (the baseline) answers "unreadable" where the baseline's ``parse_mark`` raised IndexError.
    """
    done = subprocess.run([sys.executable, "-c", WORKER, str(tree), str(sample), base_url, AS_OF, shim], cwd=tree,
                          env=_env(), capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"audit by {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per (code, sample)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per (code, sample) first")
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    parser.add_argument("--skip-baseline-sample", action="store_true",
                        help="only this checkout's sample (no generation by the baseline's generator)")
    args = parser.parse_args(argv)

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-audit-cost-")))
        baseline = extract(args.baseline_ref, tmp / "baseline")
        samples = {"current sample": ensure_sample("standard")}
        if not args.skip_baseline_sample:
            old_sample = tmp / "baseline-sample"
            subprocess.run([sys.executable, "-c", GENERATE, str(baseline), str(old_sample)], cwd=baseline,
                           env=_env(), check=True, capture_output=True)
            samples["baseline's sample"] = old_sample
        urls = {name: stack.enter_context(serve(path / "sites")) for name, path in samples.items()}
        codes = {"baseline": baseline, "current": PROJECT_ROOT}
        configs = [(code, name) for name in samples for code in codes]
        shims = {"baseline": "mark", "current": "none"}
        for _ in range(args.warmup):
            for code, name in configs:
                run_once(codes[code], samples[name], urls[name], shims[code])
        runs: dict[tuple[str, str], list[dict]] = {c: [] for c in configs}
        for _ in range(args.repeat):
            for code, name in configs:
                runs[(code, name)].append(run_once(codes[code], samples[name], urls[name], shims[code]))

    print(f"baseline: {args.baseline_ref} (before issue 10); current: {PROJECT_ROOT}")
    print(f"{'code':9} {'sample':18} {'wall med':>9} {'cpu med':>8}  {'runs (wall s)':28} pages images rows kinds")
    med: dict[tuple[str, str], tuple[float, float]] = {}
    for (code, name), got in runs.items():
        wall = statistics.median(r["wall"] for r in got)
        cpu = statistics.median(r["cpu"] for r in got)
        med[(code, name)] = (wall, cpu)
        last = got[-1]
        shown = ", ".join(f"{r['wall']:.1f}" for r in got)
        kinds = " ".join(f"{k} {v}" for k, v in sorted(last["kinds"].items()))
        print(f"{code:9} {name:18} {wall:8.2f}s {cpu:7.2f}s  {shown:28} {last['pages']:5} {last['images']:6} "
              f"{last['rows']:4} {kinds}" + (f" ({last['shimmed']} cells read by the shim)" if last["shimmed"] else ""))
    worst = 0.0
    for name in samples:
        (bw, bc), (cw, cc) = med[("baseline", name)], med[("current", name)]
        worst = max(worst, cw / bw)
        print(f"ratio on the {name}: wall {cw / bw:.2f}x, cpu {cc / bc:.2f}x (current / baseline)")
    if "baseline's sample" in samples:
        (bw, bc), (cw, cc) = med[("baseline", "baseline's sample")], med[("current", "current sample")]
        worst = max(worst, cw / bw)
        print(f"ratio current code + sample / today's (baseline code + sample): wall {cw / bw:.2f}x, "
              f"cpu {cc / bc:.2f}x")
    print(f"bound: {BOUND}x (issue 10); worst wall ratio above: {worst:.2f}x")
    return 0 if worst <= BOUND else 1


if __name__ == "__main__":
    sys.exit(main())
