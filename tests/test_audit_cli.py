"""The one-off audit command: stable interface, CSV columns, exit codes, agreement with the ground truth."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from compliance.audit import AUDIT_COLUMNS
from emulator.websites import SampleWebsites

CLI = [sys.executable, "-m", "compliance.shell.cli"]


def _run(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "WARNING"}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, env=env)


def test_audit_of_one_school_matches_truth(sample_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "findings.csv"
    with SampleWebsites(sample_dir / "sites") as web:
        done = _run(
            "consent", "audit",
            "--students", str(sample_dir / "sis" / "students.csv"),
            # The school's three files form one history per student (rule 3); the opt-out list is found by
            # its header (rule 8); the late forms grant the profile's default purposes (rule 7).
            "--consent", str(sample_dir / "consent" / "lincoln-es.xlsx"),
            "--consent", str(sample_dir / "consent" / "lincoln-es-late-forms.xlsx"),
            "--consent", str(sample_dir / "consent" / "lincoln-es-directory-opt-outs.csv"),
            "--default-purposes", "lincoln-es-late-forms.xlsx=website,yearbook",
            "--school-year-start", "08-01",
            "--site", f"{web.base_url}/lincoln-es/",
            "--as-of", "2026-11-20",
            "--out", str(out),
        )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    # The coverage table: what the crawl found and read per site, and what it refused and why.
    assert "Crawl coverage" in done.stderr and "lincoln-es" in done.stderr
    assert "robots 1" in done.stderr and "off-site" in done.stderr and "1/1" in done.stderr  # the PDF, read
    with out.open(encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames or ()) == AUDIT_COLUMNS
    found = {(urlsplit(r["page_url"]).path.lstrip("/"), urlsplit(r["image_url"]).path.lstrip("/"), r["student_id"])
             for r in rows if r["status"] == "violation"}
    truth = json.loads((sample_dir / "truth" / "photos.json").read_text())
    expected = {(a["page"], a["image"], v["student_id"]) for a in truth["appearances"]
                if a["crawlable"] and a["site_id"] == "lincoln-es" for v in a["violations"]}
    hits = len(found & expected)
    assert expected and hits / len(found) >= 0.95 and hits / len(expected) >= 0.95
    assert all(r["reason"] in {"ok", "no_consent", "revoked", "expired", "principal_missing",
                               "purpose_not_covered", "opted_out", "low_confidence"} for r in rows)
    # Each row's basis names the rule and the consent record(s) it rests on (rule 9).
    assert rows and all(r["basis"].startswith("rule ") for r in rows)
    assert any("consent/lincoln-es" in r["basis"] and " row " in r["basis"] for r in rows)


def test_audit_that_cannot_run_exits_non_zero(tmp_path: Path) -> None:
    done = _run("consent", "audit", "--students", str(tmp_path / "missing.csv"), "--consent", str(tmp_path),
                "--site", "http://127.0.0.1:9/", "--as-of", "2026-11-20", "--out", str(tmp_path / "f.csv"))
    assert done.returncode == 1 and "students file not found" in done.stderr
    bad_date = _run("consent", "audit", "--students", "x", "--consent", "y", "--site", "z", "--as-of", "20/11/2026",
                    "--out", "o.csv")
    assert bad_date.returncode != 0 and "YYYY-MM-DD" in bad_date.stderr
    bad_start = _run("consent", "audit", "--students", "x", "--consent", "y", "--site", "z", "--as-of", "2026-11-20",
                     "--out", "o.csv", "--school-year-start", "13-45")
    assert bad_start.returncode != 0 and "MM-DD" in bad_start.stderr
    bad_purpose = _run("consent", "audit", "--students", "x", "--consent", "y", "--site", "z", "--as-of",
                       "2026-11-20", "--out", "o.csv", "--default-purposes", "website,billboard")
    assert bad_purpose.returncode != 0 and "billboard" in bad_purpose.stderr


def _closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens there


def test_audit_of_a_site_that_yields_no_page_fails(sample_dir: Path, tmp_path: Path) -> None:
    """Drill (issue 19, item 7): a closed port, a file:// URL or not a URL used to exit 0 with "0 pages"."""
    common = ["consent", "audit", "--students", str(sample_dir / "sis" / "students.csv"),
              "--consent", str(sample_dir / "consent" / "lincoln-es.xlsx"), "--as-of", "2026-11-20"]
    for site, message in (
        (f"http://127.0.0.1:{_closed_port()}/lincoln-es/", "no page could be read"),
        ((sample_dir / "sites" / "lincoln-es" / "index.html").as_uri(), "not an http(s) URL"),
        ("lincoln-es", "not an http(s) URL"),
        ("http://127.0.0.1:99999/", "not an http(s) URL"),
    ):
        out = tmp_path / "f.csv"
        done = _run(*common, "--site", site, "--out", str(out))
        assert done.returncode == 1, (site, done.stderr)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0] and "Traceback" not in done.stderr, done.stderr
        assert not out.exists()


def test_site_url_keeps_its_query() -> None:
    from compliance.audit import site_of, site_url

    assert site_url("http://127.0.0.1:8000/lincoln-es/?lang=en") == "http://127.0.0.1:8000/lincoln-es/?lang=en"
    assert site_url("lincoln-es=http://h.example/?lang=en&x=1") == "http://h.example/?lang=en&x=1"
    assert site_of("lincoln-es=http://h.example/?lang=en", {"lincoln-es"}) == "lincoln-es"
    assert site_of("http://h.example/lincoln-es/?lang=en", {"lincoln-es"}) == "lincoln-es"
