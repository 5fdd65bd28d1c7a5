"""The sample district: deterministic, as messy as promised, and its truth files agree with the files written."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from openpyxl import load_workbook
from PIL import Image, IptcImagePlugin
from sample_fixtures import sample_dir  # noqa: F401
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from compliance.photos.evidence import pdf_text
from compliance.sample import GENERATOR_VERSION, ensure_sample, generate
from compliance.sample.context import Student
from compliance.sample.names import strip_accents
from compliance.sample.websites import NameIndex

PROJECT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------- readers (independent of the generator)


def decode_csv(path: Path) -> tuple[list[list[str]], str]:
    data = path.read_bytes()
    try:
        text, encoding = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = data.decode("cp1252"), "cp1252"
    return list(csv.reader(io.StringIO(text, newline=""))), encoding


def raw_rows(sample: Path, source: str, sheet: str | None = None) -> list[list[str]]:
    """Rows of a source as strings; formulas as written (not evaluated)."""
    if source.startswith("sheets:"):
        doc = json.loads((sample / "sheets" / f"{source.split(':', 1)[1]}.json").read_text(encoding="utf-8"))
        tab = next(s for s in doc["sheets"] if sheet in (None, s["title"]))
        return tab["values"]
    path = sample / source
    if path.suffix == ".csv":
        return decode_csv(path)[0]
    wb = load_workbook(path)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    return [["" if v is None else str(v) for v in row] for row in ws.iter_rows(values_only=True)]


def raw_row(sample: Path, ref: dict[str, Any]) -> list[str]:
    return raw_rows(sample, ref["source"], ref.get("sheet"))[ref["row"] - 1]


def snapshot(root: Path) -> dict[str, Any]:
    """Parsed content of every file: what must be identical for the same seed."""
    out: dict[str, Any] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".complete"):
        rel = path.relative_to(root).as_posix()
        if path.suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if path.name == "summary.json":
                data.pop("timings_seconds")
                data.pop("generation_seconds")
            out[rel] = data
        elif path.suffix == ".jsonl":
            out[rel] = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        elif path.suffix == ".csv":
            out[rel] = decode_csv(path)
        elif path.suffix == ".xlsx":
            wb = load_workbook(path)
            out[rel] = [(ws.title, sorted(str(r) for r in ws.merged_cells.ranges),
                         [list(r) for r in ws.iter_rows(values_only=True)]) for ws in wb.worksheets]
        elif path.suffix == ".pdf":
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        elif path.suffix == ".jpg":
            with Image.open(path) as im:
                out[rel] = (im.size, hashlib.sha256(im.tobytes()).hexdigest(), dict(im.getexif()),
                            IptcImagePlugin.getiptcinfo(im), im.info.get("xmp"))
        elif path.suffix == ".zip":  # platform exports: members and their contents
            with zipfile.ZipFile(path) as zf:
                out[rel] = sorted((i.filename, i.file_size, i.CRC) for i in zf.infolist())
        else:
            out[rel] = path.read_text(encoding="utf-8")
    return out


def load_json(sample: Path, rel: str) -> Any:
    return json.loads((sample / rel).read_text(encoding="utf-8"))


# ---------------------------------------------------------------- determinism


# Three whole generations (~20 s on 2 cores): `make test` runs it, `make test-fast` does not.
@pytest.mark.slow
def test_same_seed_same_content_and_other_seed_differs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from compliance.shell.cli import app

    a, b = (generate(tmp_path / n, "standard", 1114) for n in ("a", "b"))
    c = tmp_path / "c"
    result = CliRunner().invoke(app, ["sample", "generate", "--seed", "7", "--out", str(c)])
    assert result.exit_code == 0, result.output
    assert load_json(c, "truth/summary.json")["seed"] == 7
    snap_a, snap_b, snap_c = snapshot(a), snapshot(b), snapshot(c)
    assert snap_a.keys() == snap_b.keys()
    for key in snap_a:
        assert snap_a[key] == snap_b[key], key
    # Beyond parsed content, the bytes too: only the summary's timings may differ.
    for path in a.rglob("*"):
        rel = path.relative_to(a)
        if path.is_file() and rel.as_posix() != "truth/summary.json":
            assert path.read_bytes() == (b / rel).read_bytes(), rel
    assert snap_c["sis/students.csv"] != snap_a["sis/students.csv"]
    assert snap_c["truth/people.json"] != snap_a["truth/people.json"]
    assert snap_c["truth/photos.json"] != snap_a["truth/photos.json"]


def test_generate_refuses_a_folder_that_is_not_a_sample(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ValueError, match="not a sample district"):
        generate(tmp_path)
    assert (tmp_path / "notes.txt").read_text(encoding="utf-8") == "mine"


# Two processes generating at once, then a rebuild (~10 s on 2 cores).
@pytest.mark.slow
def test_ensure_sample_two_processes_at_once_then_version_change(tmp_path: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from compliance.sample import ensure_sample; "
        "print(ensure_sample('standard', 99, root=Path(sys.argv[1])))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, cwd=PROJECT) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-2000:] for o in outs]
    paths = {o[0].strip() for o in outs}
    final = tmp_path / "standard-seed99"
    assert paths == {str(final)}
    assert (final / ".complete").read_text(encoding="utf-8").strip() == GENERATOR_VERSION
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["standard-seed99"]  # no temp leftovers
    assert load_json(final, "truth/summary.json")["seed"] == 99
    # A cached copy from another generator version is rebuilt, not reused.
    (final / ".complete").write_text("old-version\n", encoding="utf-8")
    (final / "stale-marker").write_text("x", encoding="utf-8")
    again = ensure_sample("standard", 99, root=tmp_path)
    assert again == final and not (final / "stale-marker").exists()
    assert (final / ".complete").read_text(encoding="utf-8").strip() == GENERATOR_VERSION
    (final / "kept-marker").write_text("x", encoding="utf-8")
    assert ensure_sample("standard", 99, root=tmp_path) == final  # current: returned as is, not rebuilt
    assert (final / "kept-marker").exists()


# ---------------------------------------------------------------- promised messiness


def test_counts_match_the_standard_scale(sample_dir: Path) -> None:  # noqa: F811
    summary = load_json(sample_dir, "truth/summary.json")
    people = load_json(sample_dir, "truth/people.json")
    kinds = Counter(p["kind"] for p in people)
    assert 250 <= kinds["employee"] <= 350 and summary["employees"] == kinds["employee"]
    assert 350 <= kinds["associated"] <= 450 and summary["associated_persons"] == kinds["associated"]
    with (sample_dir / "sis" / "students.csv").open(encoding="utf-8", newline="") as fh:
        students = list(csv.DictReader(fh))
    assert 2700 <= len(students) <= 3300 and summary["students"] == len(students)
    assert len({s["student_id"] for s in students}) == len(students)
    images = list((sample_dir / "sites").glob("*/images/*.jpg"))
    assert 150 <= len(images) <= 500
    assert all(Image.open(p).size == (640, 480) for p in images[:20])  # photo-sized, like real school sites
    users = load_json(sample_dir, "directory/users.json")
    assert any(u["suspended"] for u in users)
    domain = "@standard-sd.org"
    assert all(u["primaryEmail"].endswith(domain) for u in users)
    assert all(p["email"].endswith(domain) for p in people if p["has_district_account"])
    assert not any(p["email"].endswith(domain) for p in people if p["email"] and not p["has_district_account"])
    assert {p["category"] for p in people} <= {"employee", "committee_parent", "volunteer", "walk_on_coach",
                                              "consultant", "contractor", "vendor", "child_care_provider",
                                              "after_school_provider"}
    captions = (sample_dir / "truth" / "captions.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(captions) == summary["captions"] >= 1000


def test_profile_loads_and_every_source_exists(sample_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from compliance.settings import load_settings

    monkeypatch.setenv("DC_PROFILE", str(sample_dir / "profile.toml"))
    settings = load_settings()
    assert len(settings.sites) == 6
    sources = [s for site in settings.sites for s in site.associated_sources + site.consent_sources]
    assert any(s.startswith("sheets:") for site in settings.sites for s in site.associated_sources)
    assert any(s.startswith("sheets:") for site in settings.sites for s in site.consent_sources)
    for source in sources:
        if source.startswith("sheets:"):
            doc = load_json(sample_dir, f"sheets/{source[7:]}.json")
            assert doc["spreadsheetId"] == source[7:]
            assert all(isinstance(v, str) for tab in doc["sheets"] for row in tab["values"] for v in row)
        else:
            assert settings.input_path(source).is_file(), source
    for name in (settings.sis_export, settings.paper_acknowledgements, settings.policy_document):
        assert name and settings.input_path(name).is_file()
    assert all(root.endswith(f"/{site.id}/") for site in settings.sites for root in settings.site_roots(site))


def test_a_cp1252_csv_fails_utf8(sample_dir: Path) -> None:  # noqa: F811
    failing = []
    for path in sorted(sample_dir.glob("*/*.csv")):
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            failing.append(path.relative_to(sample_dir).as_posix())
            rows, encoding = decode_csv(path)
            assert encoding == "cp1252" and any("á" in c or "é" in c or "ñ" in c or "í" in c
                                                for r in rows for c in r)
    assert any(f.startswith("associated/") for f in failing) and any(f.startswith("consent/") for f in failing)


def test_xlsx_with_merged_title_and_formulas(sample_dir: Path) -> None:  # noqa: F811
    found_title = found_formula = 0
    for path in sorted(sample_dir.glob("*/*.xlsx")):
        wb = load_workbook(path)
        for ws in wb.worksheets:
            merged = [r for r in ws.merged_cells.ranges if r.min_row == 1 and r.max_col > r.min_col]
            first = [c.value for c in ws[1] if c.value is not None]
            if merged and len(first) == 1:
                found_title += 1
            found_formula += sum(1 for row in ws.iter_rows() for c in row if c.data_type == "f")
            # Hostile text typed into a name cell stays text, never a live formula.
            for row in ws.iter_rows():
                for c in row:
                    if isinstance(c.value, str) and c.value.startswith('=HYPERLINK("http://x"'):
                        assert c.data_type == "s"
    assert found_title >= 2 and found_formula >= 1


def test_duplicates_across_lists_with_different_spellings(sample_dir: Path) -> None:  # noqa: F811
    people = load_json(sample_dir, "truth/people.json")
    kinds: Counter[str] = Counter()
    for p in people:
        refs = [s for s in p["sources"] if s["source"] != "directory/users.json"]
        if p["kind"] != "associated" or len(refs) < 2:
            continue
        first, second = (" | ".join(raw_row(sample_dir, r)) for r in refs[:2])
        given, family = p["given_name"], p["family_name"]
        assert strip_accents(family).split()[0].split("-")[0].lower()[:3] in strip_accents(second).lower()
        if given in first and (given not in second or family not in second):
            if strip_accents(given) in second and strip_accents(given) != given:
                kinds["accents"] += 1
            elif family.replace("-", " ") in second and "-" in family:
                kinds["hyphen"] += 1
            elif given.upper() in second:
                kinds["case"] += 1
            else:
                kinds["other"] += 1
        # Evidence that it is the same person: an email or a phone number on both rows.
        digits = "".join(ch for ch in (p["phone"] or "") if ch.isdigit())[-10:]
        second_digits = "".join(ch for ch in second if ch.isdigit())
        assert (p["email"] and p["email"].lower() in second.lower()) or (digits and digits in second_digits)
    assert kinds["accents"] >= 1 and kinds["hyphen"] >= 1 and sum(kinds.values()) >= 5
    bob = next(p for p in people if p["family_name"] == "O'Brien" and p["given_name"] == "Robert")
    assert any("Robert" not in " ".join(raw_row(sample_dir, ref)) for ref in bob["sources"])  # a nickname


def test_paper_only_people_and_the_paper_file(sample_dir: Path) -> None:  # noqa: F811
    people = load_json(sample_dir, "truth/people.json")
    paper = [p for p in people if p["paper_only"]]
    assert len(paper) >= 10 and all(p["email"] is None and not p["has_district_account"] for p in paper)
    acked = [p for p in paper if p.get("paper_acknowledgement")]
    assert len(acked) >= 5
    rows = raw_rows(sample_dir, "paper/paper-acknowledgements.xlsx")
    for p in acked:
        row = rows[p["paper_acknowledgement"]["row"] - 1]
        assert strip_accents(p["family_name"]) in strip_accents(row[0])


def test_quarantine_truth_points_at_malformed_rows(sample_dir: Path) -> None:  # noqa: F811
    quarantine = load_json(sample_dir, "truth/quarantine.json")
    assert {q["field"] for q in quarantine} >= {"email", "name", "category", "date_signed"}
    emails = {p["email"] for p in load_json(sample_dir, "truth/people.json") if p["email"]}
    for q in quarantine:
        row = raw_row(sample_dir, q)
        assert any(cell.strip() for cell in row), q
        if q["field"] == "email":
            assert not any(cell in emails for cell in row)
    consent = load_json(sample_dir, "truth/consent.json")
    with (sample_dir / "sis" / "students.csv").open(encoding="utf-8", newline="") as fh:
        known = {r["student_id"] for r in csv.DictReader(fh)}
    assert {q["field"] for q in consent["quarantine"]} == {"student_id", "signed_date", "purposes", "opt_out_date"}
    for q in consent["quarantine"]:
        row = raw_row(sample_dir, q)
        assert any(cell.strip() for cell in row), q
        if q["field"] == "signed_date":
            assert row[0] in known  # the row is right but for its date
    # Unusual principal marks on applied rows (rule 4), for the Data Quality sheet.
    assert {n["value"] for n in consent["data_quality"]} <= {"TBD", "Pend", "ask", "N/A", "?", "pending"}
    assert len(consent["data_quality"]) >= 5


def test_consent_truth_has_every_reason(sample_dir: Path) -> None:  # noqa: F811
    consent = load_json(sample_dir, "truth/consent.json")
    assert consent["as_of"] == "2026-11-20" and consent["purpose"] == "website"
    reasons = Counter(v["reason"] for v in consent["students"].values())
    assert set(reasons) == {"ok", "no_consent", "revoked", "expired", "principal_missing", "purpose_not_covered",
                            "opted_out"}
    assert all(v["allowed"] == (v["reason"] == "ok") for v in consent["students"].values())
    assert all(v["allowed"] == ("website" in v["allowed_purposes"]) for v in consent["students"].values())
    assert any(v["allowed_purposes"] == ["video"] for v in consent["students"].values())
    # Same-day conflicting rows (one approved, one not): the approved form is in force (rule 1), still flagged.
    assert consent["conflicts"] and all(consent["students"][s]["reason"] == "ok" for s in consent["conflicts"])


def test_hostile_strings_are_in_the_lists(sample_dir: Path) -> None:  # noqa: F811
    people = load_json(sample_dir, "truth/people.json")
    hostile = [p for p in people if p.get("hostile")]
    texts = [p["given_name"] + " " + p["family_name"] for p in hostile]
    assert any("<script>" in t for t in texts) and any(t.startswith('=HYPERLINK("http://x"') for t in texts)
    assert any("\n" in t for t in texts)
    for p in hostile:
        row = " ".join(raw_row(sample_dir, p["sources"][0]))
        assert p["family_name"] in row and p["given_name"] in row


def test_jpeg_with_exif_iptc_and_xmp(sample_dir: Path) -> None:  # noqa: F811
    appearances = load_json(sample_dir, "truth/photos.json")["appearances"]
    identified = {a["image"] for a in appearances if a["identified"]}
    full = 0
    for path in sorted((sample_dir / "sites").glob("*/images/*.jpg")):
        with Image.open(path) as im:
            exif = im.getexif().get(270)
            iptc = IptcImagePlugin.getiptcinfo(im) or {}
            xmp = im.getxmp() if "xmp" in im.info else {}
        if exif and iptc.get((2, 120)) and xmp:
            full += 1
            desc = xmp["xmpmeta"]["RDF"]["Description"]["description"]["Alt"]["li"]["text"]
            assert iptc[(2, 120)].decode("utf-8") == desc and strip_accents(desc) == exif
            assert path.relative_to(sample_dir / "sites").as_posix() in identified
    assert full >= 3


def test_robots_sitemap_and_external_links(sample_dir: Path) -> None:  # noqa: F811
    sites = sorted(p for p in (sample_dir / "sites").iterdir() if p.is_dir())
    assert len(sites) == 5
    for site in sites:
        robots = (site / "robots.txt").read_text(encoding="utf-8")
        assert f"Disallow: /{site.name}/private/" in robots
        assert (site / "private").is_dir() and any((site / "private").glob("*.html"))
        assert "private/" not in (site / "sitemap.xml").read_text(encoding="utf-8")
        index = HTMLParser((site / "index.html").read_text(encoding="utf-8"))
        hrefs = [a.attributes.get("href") or "" for a in index.css("a")]
        assert any(h.startswith("https://") for h in hrefs)  # another host: not to be followed
        assert any("private/" in h for h in hrefs)  # linked, yet disallowed
    photos = load_json(sample_dir, "truth/photos.json")["appearances"]
    private = [a for a in photos if "/private/" in a["page"]]
    assert private and not any(a["crawlable"] for a in private) and any(a["identified"] for a in private)


# ---------------------------------------------------------------- the photo truth, derived again from the files


def _students(sample: Path) -> list[Student]:
    with (sample / "sis" / "students.csv").open(encoding="utf-8", newline="") as fh:
        return [Student(r["student_id"], r["legal_first"], r["legal_last"], r["preferred_first"],
                        r["preferred_last"], r["grade"], r["site_id"]) for r in csv.DictReader(fh)]


def _index(sample: Path) -> NameIndex:
    adults = [(p["given_name"], p["family_name"]) for p in load_json(sample, "truth/people.json")]
    return NameIndex(_students(sample), adults)


def _image_texts(path: Path) -> list[str]:
    with Image.open(path) as im:
        texts = [str(im.getexif().get(270) or "")]
        iptc = IptcImagePlugin.getiptcinfo(im) or {}
        caption = iptc.get((2, 120))
        keywords = iptc.get((2, 25)) or []
        texts += [b.decode("utf-8") for b in ([caption] if caption else []) + list(
            keywords if isinstance(keywords, list) else [keywords])]
        if "xmp" in im.info:
            desc = im.getxmp()["xmpmeta"]["RDF"]["Description"]
            texts.append(((desc.get("description") or {}).get("Alt") or {}).get("li", {}).get("text", ""))
            people = (desc.get("PersonInImage") or {}).get("Bag", {}).get("li", [])
            texts += [people] if isinstance(people, str) else list(people)
    return texts + [path.name]


def test_photo_truth_is_what_the_pages_and_images_say(sample_dir: Path) -> None:  # noqa: F811
    index = _index(sample_dir)
    consent = load_json(sample_dir, "truth/consent.json")["students"]
    truth = load_json(sample_dir, "truth/photos.json")
    derived: dict[tuple[str, str], set[str]] = {}
    image_texts: dict[str, list[str]] = {}
    page_text: dict[str, str] = {}

    def add(rel: str, image: str, texts: list[str]) -> None:
        if image not in image_texts:
            path = sample_dir / "sites" / image
            image_texts[image] = _image_texts(path) if path.is_file() else []
        ids: set[str] = set()
        for text in texts + image_texts[image]:
            found = index.identifies(text)
            assert found is not None, (rel, text)  # never an ambiguous name
            ids |= found
        derived.setdefault((rel, image), set()).update(ids)

    for page in sorted((sample_dir / "sites").glob("*/**/*.html")):
        rel = page.relative_to(sample_dir / "sites").as_posix()
        tree = HTMLParser(page.read_text(encoding="utf-8"))
        for img in tree.css("img"):
            src = img.attributes.get("data-src") or img.attributes.get("src") or ""
            image = urljoin(f"/{rel}", src).lstrip("/")
            texts = [img.attributes.get("alt") or ""]
            node = img.parent
            while node is not None and node.tag not in ("figure", "li", "a", "div", "td"):
                node = node.parent
            if node is not None and node.tag == "td":
                # A roster table: the name is in the same column of the row below the portraits.
                row = node.parent
                column = [c.mem_id for c in row.css("td")].index(node.mem_id)
                below = row.next
                while below is not None and below.tag != "tr":
                    below = below.next
                texts.append(below.css("td")[column].text() if below is not None else "")
            elif node is not None and node.attributes.get("class") != "photos":
                texts += [node.text(separator=" "), node.attributes.get("data-caption") or ""]
            add(rel, image, texts)
        for tile in tree.css("[style*='url(']"):
            style = tile.attributes.get("style") or ""
            add(rel, style.split("url(", 1)[1].split(")", 1)[0].strip("'\"").lstrip("/"), [tile.text(separator=" ")])
        for script in tree.css('script[type="application/ld+json"]'):
            for item in json.loads(script.text()).get("associatedMedia", []):
                add(rel, item["contentUrl"].lstrip("/"), [item["caption"]])
        for video in tree.css("video[poster]"):
            poster = urljoin(f"/{rel}", video.attributes["poster"] or "").lstrip("/")
            add(rel, poster, [video.attributes.get("title") or ""])
        for frame in tree.css("iframe"):
            player = urlsplit(frame.attributes.get("src") or "").path.lstrip("/")
            add(rel, player, [frame.attributes.get("title") or ""])
        body = tree.css_first("main")
        page_text[rel] = body.text(separator=" ") if body is not None else ""
    for pdf in sorted((sample_dir / "sites").glob("*/docs/*.pdf")):
        rel = pdf.relative_to(sample_dir / "sites").as_posix()
        page_text[rel] = " ".join(pdf_text(pdf.read_bytes())[0].split("\f"))
    # Text-only mentions: students the page's text names who are in no photo or video of that page.
    for rel, text in page_text.items():
        pictured = {sid for (page, _image), ids in derived.items() if page == rel for sid in ids}
        named = index.identifies(text)
        assert named is not None, rel
        if named - pictured:
            derived[(rel, "")] = named - pictured
    expected = {(a["page"], a["image"]): set(a["student_ids"]) for a in truth["appearances"]}
    assert derived == expected
    kinds = Counter(a["kind"] for a in truth["appearances"])
    assert kinds["video"] >= 5 and kinds["name"] >= 5  # every site: a video, an embed, mentions and a PDF
    for a in truth["appearances"]:
        assert a["identified"] == bool(a["student_ids"])
        assert a["crawlable"] == ("/private/" not in a["page"])
        assert a["violations"] == [{"student_id": s, "reason": consent[s]["reason"]}
                                   for s in a["student_ids"] if not consent[s]["allowed"]]
    reasons = {v["reason"] for a in truth["appearances"] for v in a["violations"]}
    assert len(reasons) >= 4
    assert sum(not a["identified"] for a in truth["appearances"]) >= 20  # group shots, staff portraits
    pages_per_image = Counter(a["image"] for a in truth["appearances"])
    assert max(pages_per_image.values()) >= 2  # the same photo on several pages


def test_word_and_place_names_only_count_when_they_name_someone(sample_dir: Path) -> None:  # noqa: F811
    students = {s.id: s for s in _students(sample_dir)}
    texts = " ".join(p.read_text(encoding="utf-8") for p in (sample_dir / "sites").glob("*/**/*.html"))
    assert "Lincoln Park" in texts and " hope " in texts.lower() and " May" in texts
    appearances = load_json(sample_dir, "truth/photos.json")["appearances"]
    named = {sid for a in appearances for sid in a["student_ids"]}
    word_named = [students[s] for s in named if students[s].legal_first in ("Hope", "May", "Grace", "Summer",
                                                                           "Faith", "Joy", "Sierra")]
    assert word_named  # some of them really appear, by full name


def test_captions_truth(sample_dir: Path) -> None:  # noqa: F811
    index = _index(sample_dir)
    lines = (sample_dir / "truth" / "captions.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert len({r["caption_id"] for r in records}) == len(records)
    for r in records[:: max(1, len(records) // 400)]:
        assert index.identifies(r["text"]) == set(r["student_ids"]), r
    assert sum(bool(r["student_ids"]) for r in records) > len(records) // 3
    assert sum(not r["student_ids"] for r in records) > len(records) // 10


def test_large_scale_layouts_on_a_small_district(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lausd code paths (streamed xlsx, CSV layouts, per-school name scope) on a dozen schools."""
    import dataclasses

    from compliance.sample import context
    from compliance.settings import load_settings

    small = dataclasses.replace(context.SCALES["lausd"], schools=12, employees_per_school=10, office_employees=10,
                                associated_per_school=12, office_associated=12, students_per_school=60,
                                website_schools=1, captions=600)
    monkeypatch.setitem(context.SCALES, "lausd", small)
    out = generate(tmp_path / "l", "lausd", 3)
    monkeypatch.setenv("DC_PROFILE", str(out / "profile.toml"))
    settings = load_settings()
    assert len(settings.sites) == 13 and len({s.id for s in settings.sites}) == 13
    assert sum(bool(s.web_roots) for s in settings.sites) == 1
    sources = [src for site in settings.sites for src in site.associated_sources + site.consent_sources]
    assert {Path(src).suffix for src in sources if not src.startswith("sheets:")} == {".csv", ".xlsx"}
    for src in sources:
        assert src.startswith("sheets:") or settings.input_path(src).is_file()
    summary = load_json(out, "truth/summary.json")
    assert summary["students"] == 12 * 60 and summary["employees"] == 130
    people = load_json(out, "truth/people.json")
    for p in people[::7]:
        for ref in p["sources"]:
            if ref["source"] != "directory/users.json":
                row = " ".join(raw_row(out, ref))
                assert strip_accents(p["family_name"]).split()[0][:3].lower() in strip_accents(row).lower()
    students = _students(out)
    adults: dict[str, list[tuple[str, str]]] = {}
    for p in people:
        for site in p["site_ids"]:
            adults.setdefault(site, []).append((p["given_name"], p["family_name"]))
    indexes = {site: NameIndex([s for s in students if s.site_id == site], adults.get(site, []))
               for site in {s.site_id for s in students}}
    captions = [json.loads(line) for line in (out / "truth" / "captions.jsonl").read_text("utf-8").splitlines()]
    assert len(captions) == 600 and load_json(out, "truth/photos.json")["name_scope"] == "site"
    for caption in captions:
        assert indexes[caption["site_id"]].identifies(caption["text"]) == set(caption["student_ids"])
