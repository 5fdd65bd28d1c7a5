"""Audit benchmark against an independent truth: the real sites scored on labels not derived from the pipeline.

Runs the audit exactly as ``bench_audit`` does (its :func:`~benchmarks.bench_audit.run_real_sites`), then
scores it against ``benchmarks/data/real_sites_truth_independent.csv``: labels made by reading the pages'
HTML and the placeholder images' metadata by hand (roster ids and published paths only, no names). Verdicts:
``identified`` (strong evidence: the image's own text or text bound to exactly that image), ``not_identified``
(an identification that must not be made) and ``ambiguous`` (needs review: namesakes, first names alone,
section text). A finding on an ``ambiguous`` key counts neither way; any other finding not labelled
``identified`` is wrong.

Images (kinds photo and video) are scored at (page, image, student) level, the image keeping its query string
(Drive's ``/uc?id=...`` images differ only there); names at (page, student). Violations: identified students
without consent in ``benchmarks/data/real_sites_consent.csv``. ``names w/o credits`` treats bylines, author
boxes, site credits and quote attributions as ``ambiguous``, for pipelines that choose not to report them.

    .venv/bin/python -m benchmarks audit-independent [--real-sites PATH] [--list] [--server http.server]
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from benchmarks.bench_audit import (
    CONSENT,
    SERVERS,
    SITE_IDS,
    consented,
    default_real_sites,
    precision_recall,
    run_real_sites,
)

TRUTH = Path(__file__).resolve().parent / "data" / "real_sites_truth_independent.csv"
CREDIT_EVIDENCE = {"byline", "credit", "quote"}

ImageKey = tuple[str, str, str, str]  # (site dir, page path, image path?query, student id)
NameKey = tuple[str, str, str]  # (site dir, page path, student id)


def page_path(url: str) -> str:
    """A page's path as the truth writes it: a directory's index page is the directory."""
    path = unquote(urlsplit(url).path) if "://" in url else url
    return path[: -len("index.html")] if path.endswith("/index.html") else path


def image_path(url: str) -> str:
    """An image's path and query without its host: hot-linked images are labelled by their path on the host."""
    parts = urlsplit(url.strip())
    return unquote(parts.path) + (f"?{parts.query}" if parts.query else "")


@dataclass
class Truth:
    """The labelled keys of one kind, by verdict."""

    identified: set = field(default_factory=set)
    ambiguous: set = field(default_factory=set)
    not_identified: set = field(default_factory=set)
    evidence: dict = field(default_factory=dict)


def load_truth(path: Path = TRUTH) -> tuple[Truth, Truth]:
    """(images, names) from the truth CSV; video rows are scored with images."""
    images, names = Truth(), Truth()
    with path.open(encoding="utf-8", newline="") as fh:
        for r in csv.DictReader(fh):
            if r["kind"] == "name":
                key, into = (r["site"], page_path(r["page"]), r["student_id"]), names
            else:
                key, into = (r["site"], page_path(r["page"]), r["image"], r["student_id"]), images
            getattr(into, r["verdict"]).add(key)
            into.evidence[key] = f"{r['verdict']}/{r['evidence']}"
    return images, names


def score(found: set, truth_ok: set, ambiguous: set) -> tuple[float, float, int, int]:
    """Precision and recall with findings on ambiguous keys left out; also (counted found, expected)."""
    counted = found - ambiguous
    p, r = precision_recall(counted, truth_ok)
    return p, r, len(counted), len(truth_ok)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real-sites", type=Path, default=default_real_sites())
    parser.add_argument("--list", action="store_true", help="list every disagreement (ids and paths only)")
    parser.add_argument("--server", choices=SERVERS, default="starlette", help="see bench_audit")
    args = parser.parse_args(argv)
    if not (args.real_sites / "students.csv").is_file():
        print(f"{args.real_sites}: real sites not found; pass --real-sites PATH")
        return 2
    images, names = load_truth()
    allowed = consented(CONSENT)
    started = time.perf_counter()
    rows = run_real_sites(args.real_sites, args.server)
    seconds = time.perf_counter() - started

    found_img: set[ImageKey] = set()
    review_img: set[ImageKey] = set()
    viol_img: set[ImageKey] = set()
    found_name: set[NameKey] = set()
    review_name: set[NameKey] = set()
    viol_name: set[NameKey] = set()
    for site, row in rows:
        page = page_path(row["page_url"])
        if row["kind"] == "name":
            key: tuple = (site, page, row["student_id"])
            found, review, viol = found_name, review_name, viol_name
        else:
            key = (site, page, image_path(row["image_url"]), row["student_id"])
            found, review, viol = found_img, review_img, viol_img
        if row["status"] == "needs_review":
            review.add(key)
            continue
        found.add(key)
        if row["status"] == "violation":
            viol.add(key)

    credits = {k for k, ev in names.evidence.items() if ev.split("/")[1] in CREDIT_EVIDENCE}
    print(f"{'site':16} {'kind':16} {'id P':>6} {'id R':>6} {'viol P':>7} {'viol R':>7}  (found/expected, review)")
    worst = 1.0
    for site in [*SITE_IDS, None]:
        label = site or "overall"

        def of(keys: set, s: str | None = site) -> set:
            return {k for k in keys if s is None or k[0] == s}

        for kind, found, viol, review, truth, amb in (
            ("photo+video", found_img, viol_img, review_img, images.identified, images.ambiguous),
            ("name", found_name, viol_name, review_name, names.identified, names.ambiguous),
            ("names w/o credits", found_name, viol_name, review_name, names.identified - credits,
             names.ambiguous | credits),
        ):
            expected = of(truth)
            v_expected = {k for k in expected if k[-1] not in allowed}
            p, r, nf, ne = score(of(found), expected, of(amb))
            vp, vr, _, _ = score(of(viol), v_expected, of(amb))
            if kind == "photo+video":
                worst = min(worst, p, r, vp, vr)
            print(f"{label:16} {kind:16} {p:6.2f} {r:6.2f} {vp:7.2f} {vr:7.2f}  ({nf}/{ne}, {len(of(review))})")
    print(f"audit of the five sites: {seconds:.1f} s")

    if args.list:
        for title, found, review, truth in (
            ("image", found_img, review_img, images),
            ("name", found_name, review_name, names),
        ):
            wrong = sorted(found - truth.identified - truth.ambiguous)
            missed = sorted(truth.identified - found)
            print(f"\n{title}: {len(wrong)} found but not identified in the truth")
            for k in wrong:
                print("  FP", *k, truth.evidence.get(k, "unlabelled"))
            print(f"{title}: {len(missed)} identified in the truth, not found")
            for k in missed:
                print("  FN", *k, truth.evidence[k], "(pipeline: needs_review)" if k in review else "")
            amb_found = sorted((found | review) & truth.ambiguous)
            print(f"{title}: ambiguous in the truth: {len(truth.ambiguous)}; pipeline found "
                  f"{len(found & truth.ambiguous)}, needs_review {len(review & truth.ambiguous)}")
            for k in sorted(truth.ambiguous - found - review):
                print("  AMB-silent", *k, truth.evidence[k])
            del amb_found
    return 0 if worst >= 0.85 else 1


if __name__ == "__main__":
    sys.exit(main())
