"""Audit benchmark on real school web sites: identification and violation precision/recall per site.

Runs the one-off audit (``compliance.audit.run_audit``, what ``district-compliance consent audit`` runs) over
the five real sites of ``../shared/real-sites`` (HTML as published, placeholder images keeping the original
metadata), each served on 127.0.0.1, and scores its findings at (image, student) level against the labels in
``benchmarks/data/real_sites_labels.csv`` (roster ids and published image paths only; 1 = the student is
identified in that image, 0 = an identification that must not be made). A finding not in the labels counts as
wrong. Violations: an identified student without consent in ``benchmarks/data/real_sites_consent.csv``.

    .venv/bin/python -m benchmarks.bench_audit [--real-sites PATH] [--server starlette|http.server]

``--server http.server`` serves each site with ``python -m http.server`` (how the real-sites README serves
them; it lists folders that have no index page), the default with the project's sample web server (no listings).

Aim (issue 10): at least 0.95 overall for both, no site under 0.85.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlsplit

from compliance.audit import run_audit
from compliance.settings import PROJECT_ROOT
from emulator.websites import SampleWebsites

DATA = Path(__file__).resolve().parent / "data"
LABELS = DATA / "real_sites_labels.csv"
CONSENT = DATA / "real_sites_consent.csv"


def default_real_sites() -> Path:
    """``shared/real-sites`` beside the checkout, or beside a folder above it (a worktree)."""
    for folder in PROJECT_ROOT.parents:
        if (folder / "shared" / "real-sites" / "students.csv").is_file():
            return folder / "shared" / "real-sites"
    return PROJECT_ROOT.parent / "shared" / "real-sites"

SITE_IDS = {
    "ata-4334": "ata",
    "fshs-robotics": "fshs",
    "lchs-roarbots": "lchs",
    "rchs-newspaper": "rchs",
    "sths-barkout": "sths",
}
AS_OF = date(2026, 11, 20)

Key = tuple[str, str, str, str]  # (site dir, page path, image path, student id)


def load_labels(path: Path = LABELS) -> dict[Key, bool]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {(r["site"], r["page"], r["image"], r["student_id"]): r["identified"] == "1" for r in csv.DictReader(fh)}


def consented(path: Path = CONSENT) -> set[str]:
    with path.open(encoding="utf-8", newline="") as fh:
        return {r["Student ID"] for r in csv.DictReader(fh)}


def _path(url: str) -> str:
    return unquote(urlsplit(url).path) if url else ""


SERVERS = ("starlette", "http.server")


@contextmanager
def http_server(root: Path) -> Iterator[str]:
    """``python -m http.server`` on 127.0.0.1 serving ``root`` in its own process; its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 43121 (http://127.0.0.1:43121/) ..."
        yield f"http://127.0.0.1:{int(line.split(' port ')[1].split()[0])}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def run_real_sites(real_sites: Path, server: str = "starlette") -> list[tuple[str, dict[str, str]]]:
    """Run the audit over the real sites, each served on 127.0.0.1; every finding row with its site dir.

    Shared with ``bench_audit_independent`` so both benchmarks score the very same run configuration.
    """
    with ExitStack() as stack:
        if server == "http.server":
            bases = {d: stack.enter_context(http_server(real_sites / "site" / d)) for d in SITE_IDS}
        else:
            bases = {d: stack.enter_context(SampleWebsites(real_sites / "site" / d)).base_url for d in SITE_IDS}
        by_base = {base: d for d, base in bases.items()}
        result = run_audit(
            real_sites / "students.csv",
            [CONSENT],
            [f"{SITE_IDS[d]}={base}/" for d, base in bases.items()],
            AS_OF,
        )
    out = []
    for row in result.rows:
        parts = urlsplit(row["page_url"])
        out.append((by_base[f"{parts.scheme}://{parts.netloc}"], row))
    return out


def audit_real_sites(
    real_sites: Path, server: str = "starlette"
) -> tuple[dict[str, set[Key]], dict[str, set[Key]]]:
    """Run the audit over the real sites; (identified, violations) per site dir."""
    identified: dict[str, set[Key]] = {d: set() for d in SITE_IDS}
    violations: dict[str, set[Key]] = {d: set() for d in SITE_IDS}
    for site, row in run_real_sites(real_sites, server):
        if row["kind"] == "name" or row["status"] == "needs_review":
            continue
        key = (site, _path(row["page_url"]), _path(row["image_url"]), row["student_id"])
        identified[site].add(key)
        if row["status"] == "violation":
            violations[site].add(key)
    return identified, violations


def precision_recall(found: set[Key], expected: set[Key]) -> tuple[float, float]:
    hits = len(found & expected)
    precision = hits / len(found) if found else 1.0
    recall = hits / len(expected) if expected else 1.0
    return precision, recall


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-sites", type=Path, default=default_real_sites())
    parser.add_argument("--server", choices=SERVERS, default="starlette")
    args = parser.parse_args(argv)
    if not (args.real_sites / "students.csv").is_file():
        print(f"{args.real_sites}: real sites not found; pass --real-sites PATH")
        return 2
    labels = load_labels()
    allowed = consented()
    started = time.perf_counter()
    identified, violations = audit_real_sites(args.real_sites, args.server)
    seconds = time.perf_counter() - started
    print(f"{'site':16} {'id P':>6} {'id R':>6} {'viol P':>7} {'viol R':>7}  (found/labelled)")
    all_found: set[Key] = set()
    all_expected: set[Key] = set()
    all_vfound: set[Key] = set()
    all_vexpected: set[Key] = set()
    worst = 1.0
    for site in SITE_IDS:
        expected = {k for k, v in labels.items() if v and k[0] == site}
        v_expected = {k for k in expected if k[3] not in allowed}
        p, r = precision_recall(identified[site], expected)
        vp, vr = precision_recall(violations[site], v_expected)
        worst = min(worst, p, r, vp, vr)
        print(f"{site:16} {p:6.2f} {r:6.2f} {vp:7.2f} {vr:7.2f}  ({len(identified[site])}/{len(expected)})")
        all_found |= identified[site]
        all_expected |= expected
        all_vfound |= violations[site]
        all_vexpected |= v_expected
    p, r = precision_recall(all_found, all_expected)
    vp, vr = precision_recall(all_vfound, all_vexpected)
    print(f"{'overall':16} {p:6.2f} {r:6.2f} {vp:7.2f} {vr:7.2f}  ({len(all_found)}/{len(all_expected)})")
    print(f"audit of the five sites: {seconds:.1f} s; aim >= 0.95 overall, no site under 0.85")
    return 0 if min(p, r, vp, vr) >= 0.95 and worst >= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
