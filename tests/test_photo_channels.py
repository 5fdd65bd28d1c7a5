"""Every channel a school page publishes a student through (issue 10), crawled from a real local server:
CSS backgrounds (inline and stylesheet), data-attribute and JSON/JSON-LD galleries, JSON manifests, videos
and embeds (kind video), linked PDFs (name findings per page) and per-site asset hosts. Both directions:
the student named through the channel is found, the photo or text that does not name them is not."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from compliance.photos.evidence import PAGE_TEXT_URL, page_text_sources, parse_page
from compliance.photos.findings import match_appearances
from compliance.photos.matching import StudentName, build_index
from compliance.photos.results import CrawlResult, build_evidence, coverage, page_texts
from compliance.photos.traversal import crawl_site
from compliance.sample.pdfs import text_pdf
from compliance.settings import Crawl, Site
from emulator.websites import SampleWebsites

INDEX = build_index(
    [
        StudentName("s1", "Ana", "Ruiz", site_id="a"),
        StudentName("s2", "Ben", "Okafor", site_id="a"),
        StudentName("s3", "Chloe", "Tran", site_id="a"),
        StudentName("s4", "Diego", "Alvarez", site_id="a"),
        StudentName("s5", "Naomi", "Davies", site_id="a"),
        StudentName("s6", "Maria", "Lopez", site_id="a"),
        StudentName("s7", "Priya", "Natarajan", site_id="a"),
        StudentName("s8", "Omar", "Haddad", site_id="a"),
        StudentName("s9", "Mia", "Chen", site_id="a"),
        StudentName("s10", "Lena", "Fischer", site_id="a"),
    ]
)


def jpeg(color: str, size: tuple[int, int] = (400, 300)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def page(body: str, head: str = "") -> str:
    return f"<!doctype html><html><head><title>t</title>{head}</head><body>{body}</body></html>"


GALLERY_LD = {
    "@context": "https://schema.org",
    "@type": "ImageGallery",
    "associatedMedia": [
        {"@type": "ImageObject", "contentUrl": "images/ld1.jpg", "caption": "Maria Lopez at the science fair"},
        {"@type": "ImageObject", "contentUrl": "images/ld2.jpg", "caption": "Science fair tables"},
    ],
}
ARTICLE_LD = {"@type": "NewsArticle", "headline": "Omar Haddad wins the spelling bee", "image": "images/bee.jpg"}


def build_site(root: Path, asset_base: str) -> None:
    site = root / "school"
    (site / "images").mkdir(parents=True)
    (site / "css").mkdir()
    (site / "data").mkdir()
    (site / "media").mkdir()
    files = {
        "index.html": page(
            '<div class="hero" style="background-image: url(\'images/hero.jpg\')"><h2>Ana Ruiz, top scorer</h2></div>'
            '<div class="tile" style="background: #fff url(images/field.jpg) no-repeat"></div>'
            '<p>The field was busy all week.</p>'
            '<ul class="lightbox"><li><a href="images/big1.jpg" data-lightbox="g" data-title="Chloe Tran">1</a></li>'
            '<li><a href="images/big2.jpg" data-lightbox="g" data-title="Art show">2</a></li></ul>'
            '<div class="team-photo">Captains</div>'
            f'<script type="application/ld+json">{json.dumps(GALLERY_LD)}</script>'
            f'<script type="application/ld+json">{json.dumps(ARTICLE_LD)}</script>'
            "<script>fetch('data/manifest.json').then(r => r.json()).then(show);</script>"
            '<figure><video poster="media/poster.jpg" title="Lena Fischer science talk">'
            '<source src="media/talk.mp4"><track kind="captions" src="media/talk.vtt"></video>'
            "<figcaption>Science night</figcaption></figure>"
            '<video src="media/concert.mp4" title="Spring concert"></video>'
            '<iframe src="https://www.youtube.com/embed/abc123" title="Ben Okafor robotics demo"></iframe>'
            '<iframe src="https://player.vimeo.com/video/42" title="Winter assembly"></iframe>'
            '<p>Read the <a href="news.pdf">newsletter</a>.</p>'
            f'<img src="{asset_base}/hosted/naomi-davies.jpg" alt="Naomi Davies">'
            '<img src="https://elsewhere.example.net/diego-alvarez.jpg" alt="Diego Alvarez">',
            head='<link rel="stylesheet" href="css/site.css"><link rel="stylesheet" href="https://fonts.example.com/x.css">',
        ),
        "club.html": page("<p>Chess club meets on Tuesdays.</p>"),
        "css/site.css": ".team-photo { background-image: url(../images/team.jpg); }\n"
        ".team-photo:hover { opacity: .9 }\n"
        "@media (min-width: 600px) { .unused { background: url(../images/unused.jpg) } }",
        "data/manifest.json": json.dumps(
            {"pages": ["club.html"], "photos": [{"src": "images/m1.jpg", "caption": "Priya Natarajan"}]}
        ),
        "media/talk.vtt": "WEBVTT\n\n1\n00:00.000 --> 00:03.000\n<v Coach>Please welcome our presenter.\n",
        "robots.txt": "User-agent: *\nDisallow: /school/private/\n",
    }
    for name, text in files.items():
        (site / name).write_text(text, encoding="utf-8")
    for name in ("hero", "field", "big1", "big2", "ld1", "ld2", "bee", "team", "unused", "m1"):
        (site / "images" / f"{name}.jpg").write_bytes(jpeg("green"))
    (site / "media" / "poster.jpg").write_bytes(jpeg("blue"))
    (site / "news.pdf").write_bytes(
        text_pdf([["Spring newsletter", "Welcome back, families."], ["Honor roll: Mia Chen"]])
    )


@pytest.fixture
def sites(tmp_path: Path):  # type: ignore[no-untyped-def]
    assets = tmp_path / "assets"
    (assets / "hosted").mkdir(parents=True)
    (assets / "hosted" / "naomi-davies.jpg").write_bytes(jpeg("red"))
    (assets / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    with SampleWebsites(assets, host="127.0.0.2") as cdn:
        build_site(tmp_path / "www", cdn.base_url)
        with SampleWebsites(tmp_path / "www") as www:
            yield www, cdn


def crawl(www: SampleWebsites, asset_hosts: tuple[str, ...] = ()) -> CrawlResult:
    return asyncio.run(
        crawl_site("a", [f"{www.base_url}/school/"], Crawl(allow_loopback=True), asset_hosts=asset_hosts)
    )


def findings(result: CrawlResult) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(image file or page file, student) -> (kind, channel, best confidence band) of identified students."""
    appearances = [("a", ev.page_url, ev.image_url, ev.texts) for ev in build_evidence(result, 40_000_000)]
    appearances += [("a", url, PAGE_TEXT_URL, page_text_sources(url, text)) for url, text in page_texts(result)]
    matched, _ = match_appearances(appearances, INDEX)
    out: dict[tuple[str, str], tuple[str, str, str]] = {}
    for _site, page_url, image_url, matches, kind in matched:
        for m in matches:
            where = (image_url or page_url).rsplit("/", 1)[-1]
            out[(where, m.student_id)] = (kind, m.source.split("#")[0], "id" if m.identified else "review")
    return out


def test_every_channel_is_crawled_and_names_its_student(sites) -> None:  # type: ignore[no-untyped-def]
    www, cdn = sites
    result = crawl(www, asset_hosts=("127.0.0.2",))
    got = findings(result)
    identified = {k: v for k, v in got.items() if v[2] == "id"}
    assert identified == {
        ("hero.jpg", "s1"): ("photo", "background:overlay", "id"),
        ("big1.jpg", "s3"): ("photo", "data_gallery:data_title", "id"),
        ("ld1.jpg", "s6"): ("photo", "json_ld:json_caption", "id"),
        ("m1.jpg", "s7"): ("photo", "manifest:json_caption", "id"),
        ("poster.jpg", "s10"): ("video", "video:title", "id"),
        ("abc123", "s2"): ("video", "embed:title", "id"),
        ("naomi-davies.jpg", "s5"): ("photo", "alt", "id"),
        ("news.pdf", "s9"): ("name", "pdf_page_2", "id"),
        # Hot-linked from a host the profile does not allow: not fetched, but the page shows it with its alt.
        ("diego-alvarez.jpg", "s4"): ("photo", "alt", "id"),
    }
    # The other direction: an article's picture in JSON-LD gets the story's headline as weak evidence only
    # (needs review), and the photos, videos and rules that name nobody name nobody.
    assert got[("bee.jpg", "s8")] == ("photo", "json_ld:json_context", "review")
    for nobody in ("field.jpg", "big2.jpg", "ld2.jpg", "team.jpg", "concert.mp4", "42"):
        assert not [k for k in identified if k[0] == nobody], nobody
    assert not [k for k in got if k[0] == "unused.jpg"]  # a stylesheet rule no element of the page uses
    poster = next(ev for ev in build_evidence(result, 40_000_000) if ev.image_url.endswith("poster.jpg"))
    assert poster.texts["captions"] == "Please welcome our presenter."  # the captions track was read
    fetched = {u.removeprefix(www.base_url) for u, f in result.images.items() if f.body}
    assert "/school/images/team.jpg" in fetched and "/school/media/poster.jpg" in fetched
    assert www.hits(path_prefix="/school/media/talk.mp4") == 0  # a video file is never downloaded
    assert www.hits(path_prefix="/school/news.pdf") == 1
    assert "/school/club.html" in {u.removeprefix(www.base_url) for u in result.pages}  # only in the manifest
    assert cdn.hits(path_prefix="/hosted/naomi-davies.jpg") == 1
    assert cdn.hits(path_prefix="/robots.txt") == 1  # the asset host's own robots.txt is asked
    report = coverage(result)
    assert report["videos"] == 4 and report["pdfs_found"] == 1 and report["pdfs_read"] == 1
    assert report["refused_off_site"] >= 1 and report["images_fetched"] < report["images_found"]


def test_without_asset_hosts_a_hot_linked_photo_is_refused_as_off_site(sites) -> None:  # type: ignore[no-untyped-def]
    www, cdn = sites
    result = crawl(www)
    assert cdn.hits() == 0
    hosted = next(u for u in result.refused if u.endswith("naomi-davies.jpg"))
    assert result.refused[hosted] == "image outside the site not fetched"


def test_asset_host_robots_txt_is_obeyed(tmp_path: Path) -> None:
    assets = tmp_path / "assets"
    (assets / "private").mkdir(parents=True)
    (assets / "private" / "p.jpg").write_bytes(jpeg("red"))
    (assets / "robots.txt").write_text("User-agent: *\nDisallow: /private/\n")
    with SampleWebsites(assets, host="127.0.0.2") as cdn:
        (tmp_path / "www" / "school").mkdir(parents=True)
        (tmp_path / "www" / "school" / "index.html").write_text(page(f'<img src="{cdn.base_url}/private/p.jpg">'))
        with SampleWebsites(tmp_path / "www") as www:
            result = crawl(www, asset_hosts=("127.0.0.2",))
    assert cdn.hits(path_prefix="/private/") == 0
    assert coverage(result)["refused_robots"] == 1


def test_asset_hosts_are_host_names() -> None:
    base = {"id": "a", "name": "A", "org_unit": "/A", "site_admin": "a@x.org", "web_contact": "b@x.org"}
    assert Site(**base, asset_hosts=["CDN.Example.org"]).asset_hosts == ["cdn.example.org"]
    with pytest.raises(ValueError, match="host names"):
        Site(**base, asset_hosts=["https://cdn.example.org/path"])


def test_pdf_names_are_name_findings_with_the_page_and_broken_pdfs_are_errors() -> None:
    text = "\f".join(["Welcome", "Honor roll: Mia Chen and Ben Okafor"])
    sources = page_text_sources("https://x.org/a/news.pdf", text)
    assert sources == {"pdf_page_1": "Welcome", "pdf_page_2": "Honor roll: Mia Chen and Ben Okafor"}
    matched, _ = match_appearances([("a", "https://x.org/a/news.pdf", PAGE_TEXT_URL, sources)], INDEX)
    assert {(m.student_id, m.source, kind) for *_, ms, kind in matched for m in ms} == {
        ("s9", "pdf_page_2", "name"),
        ("s2", "pdf_page_2", "name"),
    }
    assert page_text_sources("https://x.org/a/page.html", "Mia Chen") == {"page_text": "Mia Chen"}


def test_channel_parsing_directions() -> None:
    html = page(
        '<div class="card"><div style="background-image:url(a.jpg)"></div><p>Ana Ruiz</p></div>'
        '<div class="card"><div style="background-image:url(b.jpg)"></div><p>Ben Okafor</p></div>'
        '<ul><li data-src="c.jpg" data-caption="Chloe Tran"></li><li data-src="d.jpg"><img src="d-thumb.jpg"></li></ul>'
        '<iframe src="https://example.org/map" title="Map to Diego Alvarez field"></iframe>'
        '<script type="application/json">'
        '{"items": [{"url": "e.jpg", "alt": "Naomi Davies"}, {"url": "f.html"}]}</script>'
    )
    parsed = parse_page(html, "https://s.org/x/p.html")
    by_file = {r.image_url.rsplit("/", 1)[-1]: r.texts for r in parsed.images}
    # Sibling cards: each background gets its own card's name, not the neighbour's.
    assert by_file["a.jpg"]["card"] == "Ana Ruiz" and "Ben" not in by_file["a.jpg"].get("card", "")
    assert by_file["b.jpg"]["card"] == "Ben Okafor"
    assert by_file["c.jpg"]["data_caption"] == "Chloe Tran"
    assert "d.jpg" not in by_file  # the thumbnail <img> shows that photo already
    assert "map" not in by_file  # an iframe that is not a video player is no video
    assert by_file["e.jpg"]["json_alt"] == "Naomi Davies" and by_file["e.jpg"]["_channel"] == "json"
    assert "https://s.org/x/f.html" in parsed.links


def test_pages_listed_only_in_a_manifest_a_site_script_loads_are_read_for_names(tmp_path: Path) -> None:
    """A story index built by the site's own script from its JSON (file names with spaces, as static sites
    publish them): the stories are crawled and their text-only mentions are name findings. The other
    direction: prose in the JSON is no link, a CDN's script is never fetched, and a story naming nobody
    gives no finding."""
    site = tmp_path / "www" / "school"
    (site / "stories").mkdir(parents=True)
    files = {
        "index.html": page(
            '<div id="stories"></div><script src="js/stories.js"></script>'
            '<script src="https://cdn.example.com/lib.js"></script>'
        ),
        "js/stories.js": "fetch('data/stories.json').then(r => r.json()).then(list => list.forEach(show));",
        "data/stories.json": json.dumps(
            [
                {"name": "Spring Concert", "link": "./stories/Spring Concert!.html",
                 "note": "see the gallery at photos.html for more"},
                {"name": "Club fair", "link": "./stories/club-fair.html"},
            ]
        ),
        "stories/Spring Concert!.html": page("<p>Mia Chen played the cello solo on Friday.</p>"),
        "stories/club-fair.html": page("<p>Twenty clubs set up tables in the quad.</p>"),
    }
    for name, text in files.items():
        (site / name).parent.mkdir(parents=True, exist_ok=True)
        (site / name).write_text(text, encoding="utf-8")
    with SampleWebsites(tmp_path / "www") as www:
        result = crawl(www)
        assert www.hits(path_prefix="/school/js/stories.js") == 1
        assert www.hits(path_prefix="/school/data/stories.json") == 1
        assert www.hits(path_prefix="/school/photos.html") == 0  # a sentence in the JSON is not a link
    pages = {u.removeprefix(www.base_url) for u in result.pages}
    assert pages == {"/school/", "/school/stories/Spring%20Concert!.html", "/school/stories/club-fair.html"}, pages
    got = findings(result)
    assert {k for k, v in got.items() if v[0] == "name"} == {("Spring%20Concert!.html", "s9")}, got
    assert not any("cdn.example.com" in u for u in result.pages)


def test_a_folder_the_server_lists_publishes_the_pages_in_it(tmp_path: Path) -> None:
    """A story linked from nowhere (the script that drew the story list is gone) sits in a folder the web
    server lists (python's http.server, as the real sites are served): it is crawled and its mention is a
    name finding. The other direction: the listing's file names are no evidence, a folder robots.txt
    disallows is never asked for (nor its pages), and a page titled "Index of ..." stays a page."""
    import http.server
    import threading
    from functools import partial

    root = tmp_path / "www"
    files = {
        "robots.txt": "User-agent: *\nDisallow: /school/stories/drafts/\n",
        "school/index.html": page('<a href="stories/club-fair.html">Club fair</a><script src="js/gone.js"></script>'),
        "school/stories/club-fair.html": page("<p>Twenty clubs set up tables in the quad.</p>"),
        "school/stories/Spring Concert!.html": page("<p>Mia Chen played the cello solo on Friday.</p>"),
        "school/stories/omar-haddad-spelling-bee.html": page("<p>The spelling bee went to the sixth grade.</p>"),
        "school/stories/2025/ana-ruiz.html": page("<p>Ana Ruiz ran the book drive.</p>"),
        "school/stories/drafts/lena.html": page("<p>Lena Fischer, draft.</p>"),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_request(self, code: object = "-", size: object = "-") -> None:
            asked.append(self.path)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        result = asyncio.run(crawl_site("a", [f"{base}/school/"], Crawl(allow_loopback=True)))
    finally:
        server.shutdown()
        server.server_close()
    pages = {u.removeprefix(base) for u in result.pages}
    assert pages == {
        "/school/", "/school/stories/club-fair.html", "/school/stories/Spring%20Concert%21.html",
        "/school/stories/omar-haddad-spelling-bee.html", "/school/stories/2025/ana-ruiz.html",
    }, pages
    got = findings(result)
    names = {k for k, v in got.items() if v[0] == "name"}
    assert names == {("Spring%20Concert%21.html", "s9"), ("ana-ruiz.html", "s1")}, got
    assert not any(k[1] == "s8" for k in got)  # a file name in the listing is no evidence
    assert not any(p.startswith("/school/stories/drafts/") for p in asked), asked
    assert asked.count("/school/stories/") == 1  # each folder asked for once
    assert not [e for e in result.stats.errors if e.url.removeprefix(base) == "/school/stories/"]


def test_folder_listing_is_only_a_listing_of_the_folder_asked_for() -> None:
    from compliance.photos.evidence import folder_listing

    listing = (
        "<html><head><title>Directory listing for /school/news/</title></head><body><ul>"
        '<li><a href="a.html">a.html</a></li><li><a href="2025/">2025/</a></li>'
        '<li><a href="../index.html">up</a></li><li><a href="?C=N;O=D">Name</a></li></ul></body></html>'
    )
    url = "http://h.example/school/news/"
    assert folder_listing(listing, url) == ["http://h.example/school/news/a.html", "http://h.example/school/news/2025/"]
    apache = "<title>Index of /school/news</title><a href='b.html'>b.html</a>"
    assert folder_listing(apache, url) == ["http://h.example/school/news/b.html"]
    assert folder_listing(listing, "http://h.example/school/") is None  # the listing of another folder
    assert folder_listing("<title>Index of clubs</title><a href='a.html'>a</a>", url) is None
    assert folder_listing("<title>News</title><a href='a.html'>a</a>", url) is None
