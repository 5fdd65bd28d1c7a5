"""One-off photo consent audit: students file + consent spreadsheets + site URLs -> findings CSV.

Stands alone (no district profile, no store, no Google): a communications office can run it against one site
before a launch. Interface (stable, scripts depend on it):

    district-compliance consent audit --students FILE --consent PATH [PATH ...] --site URL [--site URL ...]
        --as-of YYYY-MM-DD --out findings.csv [--school-year-start MM-DD] [--default-purposes LIST]
        [--opt-out PATH ...]

Every consent file and folder given is one history per student (consent rule 3); ``--opt-out`` names FERPA
directory opt-out lists (a sheet with an opt-out date column and no consent columns is read as one anyway).
The CSV's last column, ``basis``, names the rule and the records (file, sheet, row) each reason rests on.

Exit code 0 when the audit ran, violations or not; 1 when it could not run, including when a site yielded no
page (closed port, not a website URL): zero pages is never reported as an all-clear.
"""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

from compliance.consent import ConsentResult, Roster, read_consents, read_students, roster_settled
from compliance.photos.evidence import PAGE_TEXT_URL, page_text_sources
from compliance.photos.findings import Appearance, audit_rows, judge_all, match_appearances
from compliance.photos.freshness import MemoryCache
from compliance.photos.matching import build_index
from compliance.photos.results import build_evidence, coverage, page_texts
from compliance.photos.traversal import crawl_sites
from compliance.quarantine import Rejected
from compliance.settings import DEFAULT_SCHOOL_YEAR_START, Crawl

# kind (photo | video | name), channel and basis came later: appended, so scripts reading the first columns work.
AUDIT_COLUMNS = (
    "page_url", "image_url", "student_id", "status", "reason", "confidence", "evidence", "kind", "channel", "basis",
)
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".csv"}


class AuditError(Exception):
    """The audit could not run (unreadable students file, no consent file found, ...)."""


@dataclass(slots=True)
class AuditResult:
    rows: list[dict[str, str]]
    rejected: list[Rejected] = field(default_factory=list)
    notes: list[Rejected] = field(default_factory=list)  # data-quality notes on applied consent rows
    crawl_errors: list[str] = field(default_factory=list)
    pages: int = 0
    images: int = 0
    unidentified_images: int = 0
    coverage: dict[str, dict[str, int]] = field(default_factory=dict)  # per site: results.coverage counts


def consent_files(paths: Sequence[Path]) -> list[Path]:
    """Files named directly, plus the spreadsheets inside named folders (sorted, so runs are repeatable)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in SPREADSHEET_SUFFIXES)
        elif path.exists():
            found.append(path)
        else:
            raise AuditError(f"{path}: no such file or folder")
    if not found:
        raise AuditError("no consent spreadsheet found in " + ", ".join(map(str, paths)))
    return found


def site_of(site_arg: str, site_ids: set[str]) -> str | None:
    """The school a ``--site`` argument stands for: ``ID=URL`` explicitly, or an id the URL's path or host names.

    Knowing the school restricts matching to its students, which keeps a common name at another school from
    being reported here; without it every student of the district is a candidate.
    """
    if "=" in site_arg.split("://", 1)[0]:
        named = site_arg.split("=", 1)[0]
        return named if named in site_ids else None
    parts = urlsplit(site_arg)
    words = [w for w in parts.path.split("/") if w] + (parts.hostname or "").split(".")
    found = [w for w in words if w in site_ids]
    return found[0] if len(found) == 1 else None


def site_url(site_arg: str) -> str:
    """The URL of a ``--site`` argument (``ID=URL`` or ``URL``), query kept (``?lang=en``); AuditError when it
    is not an http(s) URL with a host (``file://``, a path, a typo)."""
    url = site_arg.split("=", 1)[1] if "=" in site_arg.split("://", 1)[0] else site_arg
    parts = urlsplit(url.strip())
    try:
        _ = parts.port  # ValueError when not a number or out of range
        valid = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        valid = False
    if not valid:
        raise AuditError(f"--site {site_arg}: not an http(s) URL of a website")
    return url.strip()


def run_audit(
    students_file: Path,
    consent_paths: Sequence[Path],
    site_urls: Sequence[str],
    as_of: date,
    *,
    crawl: Crawl | None = None,
    school_year_start: str = DEFAULT_SCHOOL_YEAR_START,
    default_purposes: Mapping[str, Sequence[str]] | None = None,
    opt_out_paths: Sequence[Path] = (),
) -> AuditResult:
    """Crawl the sites, find students in every photo's evidence, judge each against consent as of ``as_of``.

    ``default_purposes`` maps a consent file (as given, or its file name) or ``"*"`` (every file) to the
    purposes its forms grant when they name none (rule 7).
    """
    defaults = default_purposes or {}
    if not students_file.exists():
        raise AuditError(f"{students_file}: students file not found")
    students = read_students(students_file)
    if not students.students:
        raise AuditError(f"{students_file}: no valid student rows")
    roster = Roster(students.students)
    read = ConsentResult()
    opt_outs = consent_files(opt_out_paths) if opt_out_paths else []
    with roster_settled():
        for path in consent_files(consent_paths) + opt_outs:
            read.extend(
                read_consents(
                    path,
                    None,
                    roster,
                    school_year_start=school_year_start,
                    default_purposes=defaults.get(str(path)) or defaults.get(path.name) or defaults.get("*", ()),
                    kind="opt_out" if path in opt_outs else None,
                )
            )
    rejected = list(students.rejected) + read.rejected
    consents: dict[str, list] = {}
    for rec in read.records:
        consents.setdefault(rec.student_id, []).append(rec)

    settings = crawl or Crawl(allow_loopback=True)
    site_ids = {s.site_id for s in students.students if s.site_id}
    targets = [(site_of(arg, site_ids) or f"site-{i + 1}", [site_url(arg)]) for i, arg in enumerate(site_urls)]
    results = asyncio.run(crawl_sites(targets, settings, lambda _site: MemoryCache()))
    # Zero pages is not an all-clear: a site that yielded nothing makes the audit fail, saying why.
    for (site_id, _roots), arg in zip(targets, site_urls, strict=True):
        result = results[site_id]
        if not result.pages and not result.aliases:
            why = result.held or next((e.reason for e in result.stats.errors), "no page found")
            raise AuditError(f"--site {arg}: no page could be read ({why})")
    index = build_index(students.students)
    outcome = AuditResult(rows=[], rejected=rejected, notes=read.notes)
    for result in results.values():
        evidence = build_evidence(result, settings.max_image_pixels)
        outcome.pages += len(result.pages)
        outcome.images += len(evidence)
        outcome.crawl_errors += [f"{e.url}: {e.reason}" for e in result.stats.errors]
        outcome.coverage[result.site_id] = coverage(result)
        scope = result.site_id if result.site_id in site_ids else None
        appearances: list[Appearance] = [(scope, ev.page_url, ev.image_url, ev.texts) for ev in evidence]
        appearances += [(scope, url, PAGE_TEXT_URL, page_text_sources(url, text)) for url, text in page_texts(result)]
        matched, unidentified = match_appearances(appearances, index)
        outcome.unidentified_images += unidentified
        outcome.rows += audit_rows(judge_all(matched, consents, as_of, school_year_start=school_year_start))
    outcome.rows.sort(key=lambda r: (r["page_url"], r["image_url"], r["student_id"]))
    return outcome


def write_csv(rows: Sequence[dict[str, str]], out: Path) -> None:
    """Write the findings CSV; cells that a spreadsheet would run as formulas are neutralised."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=AUDIT_COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _csv_safe(str(row[k])) for k in AUDIT_COLUMNS})


def _csv_safe(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value
