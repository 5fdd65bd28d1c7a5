"""Evidence extraction: page texts around images, and metadata/hashes from image bytes built here."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import piexif
import pytest
from PIL import Image, ImageDraw

from compliance.photos.evidence import ImageEvidence, clean_text, filename_words, parse_page, read_image

PAGE = "https://www.example.org/lincoln-es/news/fair.html"

HTML = """<!doctype html><html><head><title>Science fair</title></head><body>
<article class="post">
  <h1>Science fair winners</h1>
  <figure class="hero">
    <img src="../images/placeholder.gif"
         srcset="../images/fair-640.jpg 640w, ../images/fair-1600.jpg 1600w, ../images/fair-320.jpg 320w"
         alt="Students at the fair">
    <figcaption>Ana Ruiz shows her volcano</figcaption>
  </figure>
  <p>Left to right: Ben Okafor, Chloe Tran and Diego Alvarez.
     <img src="../images/winners.jpg" title="Winners photo"></p>
</article>
<ul class="gallery">
  <li><a href="../images/big/maria-garcia-lopez-science-fair.jpg" data-caption="Maria Garcia-Lopez, grade 3"
         title="Open Maria's photo">
      <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="
           data-src="../images/maria-garcia-lopez_2024-science-fair.jpg" alt=""></a></li>
  <li class="card"><img data-srcset="../images/relay-1x.jpg 1x, ../images/relay-2x.jpg 2x"
       src="../images/relay-1x.jpg" aria-label="Relay team">
      <span>Sam K. and Priya N. win the relay</span></li>
</ul>
<picture>
  <source srcset="../images/choir-small.webp 480w, ../images/choir-large.webp 1200w" type="image/webp">
  <img src="../images/choir.jpg" alt="Choir">
</picture>
<a href="/lincoln-es/news/other.html#top">other</a> <a href="mailto:x@example.org">mail</a>
<a href="https://www.facebook.com/lincoln">facebook</a>
</body></html>"""


def by_url(refs):  # type: ignore[no-untyped-def]
    return {r.image_url.rsplit("/", 1)[-1]: r for r in refs}


def test_page_texts_around_images() -> None:
    parsed = parse_page(HTML, PAGE)
    refs = by_url(parsed.images)
    assert set(refs) == {
        "fair-1600.jpg",
        "winners.jpg",
        "maria-garcia-lopez_2024-science-fair.jpg",
        "relay-2x.jpg",
        "choir-large.webp",
    }
    fair = refs["fair-1600.jpg"]
    assert fair.image_url == "https://www.example.org/lincoln-es/images/fair-1600.jpg"
    assert fair.texts["figcaption"] == "Ana Ruiz shows her volcano"
    assert fair.texts["alt"] == "Students at the fair"
    assert fair.texts["filename"] == "fair"
    winners = refs["winners.jpg"]
    assert "Left to right: Ben Okafor, Chloe Tran and Diego Alvarez." in winners.texts["context"]
    assert winners.texts["title"] == "Winners photo"
    assert "figcaption" not in winners.texts
    maria = refs["maria-garcia-lopez_2024-science-fair.jpg"]
    assert maria.texts["data_caption"] == "Maria Garcia-Lopez, grade 3"
    assert maria.texts["link_title"] == "Open Maria's photo"
    assert maria.texts["filename"] == "maria garcia lopez science fair"
    assert "alt" not in maria.texts  # empty alt is no evidence
    relay = refs["relay-2x.jpg"]
    assert relay.texts["context"] == "Sam K. and Priya N. win the relay"
    assert relay.texts["aria_label"] == "Relay team"
    assert refs["choir-large.webp"].texts["alt"] == "Choir"
    assert parsed.links == [
        "https://www.example.org/lincoln-es/images/big/maria-garcia-lopez-science-fair.jpg",
        "https://www.example.org/lincoln-es/news/other.html",
        "https://www.facebook.com/lincoln",
    ]


def test_filename_words() -> None:
    assert filename_words("https://x/a/IMG_2034.JPG") == "IMG"
    assert filename_words("https://x/a/jos%C3%A9-p%C3%A9rez.final.v2.png") == "josé pérez final"
    assert filename_words("https://x/a/") == ""


def test_megabyte_attribute_is_truncated() -> None:
    huge = "Ana " * 262_144  # 1 MiB
    html = f'<p><img src="a.jpg" alt="{huge}" data-caption="{huge}"></p>'
    (ref,) = parse_page(html, PAGE).images
    assert ref.texts["alt"].startswith("Ana Ana")
    assert len(ref.texts["alt"]) <= 2_000
    assert len(ref.texts["data_caption"]) <= 2_000
    assert clean_text("x" * 5_000, 100) == "x" * 100


def _jpeg(color: str = "red", size: tuple[int, int] = (64, 48), **save: object) -> bytes:
    image = Image.new("RGB", size, color)
    ImageDraw.Draw(image).rectangle((4, 4, size[0] // 2, size[1] // 2), fill="blue")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **save)
    return out.getvalue()


XMP = """<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"
      xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">
   <dc:description><rdf:Alt><rdf:li xml:lang="x-default">Diego Alvarez at the robotics meet</rdf:li></rdf:Alt>
   </dc:description>
   <Iptc4xmpExt:PersonInImage><rdf:Bag>
     <rdf:li>Diego Alvarez</rdf:li><rdf:li>Emma Stone-Ward</rdf:li></rdf:Bag>
   </Iptc4xmpExt:PersonInImage>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def _metadata_jpeg(tmp_path: Path) -> bytes:
    from iptcinfo3 import IPTCInfo

    exif = piexif.dump(
        {
            "0th": {
                piexif.ImageIFD.ImageDescription: b"Ana Ruiz, science fair",
                piexif.ImageIFD.XPComment: "Ben Okafor's volcano".encode("utf-16-le"),
            },
            "Exif": {piexif.ExifIFD.UserComment: b"ASCII\x00\x00\x00Chloe Tran"},
        }
    )
    path = tmp_path / "meta.jpg"
    path.write_bytes(_jpeg(exif=exif, xmp=XMP.encode()))
    info = IPTCInfo(str(path), force=True)
    info["caption/abstract"] = "Robotics team: Diego Alvarez"
    info["keywords"] = ["robotics", "Priya Natarajan"]
    info.save_as(str(tmp_path / "meta-iptc.jpg"))
    return (tmp_path / "meta-iptc.jpg").read_bytes()


def test_exif_iptc_xmp_read_from_jpeg(tmp_path: Path) -> None:
    data = _metadata_jpeg(tmp_path)
    facts = read_image(data, max_pixels=40_000_000)
    assert facts.error is None
    assert (facts.width, facts.height) == (64, 48)
    assert facts.texts["exif"] == "Ana Ruiz, science fair"
    assert facts.texts["exif_xp_comment"] == "Ben Okafor's volcano"
    assert facts.texts["exif_user_comment"] == "Chloe Tran"
    assert facts.texts["iptc_caption"] == "Robotics team: Diego Alvarez"
    assert facts.texts["iptc_keywords"] == "robotics; Priya Natarajan"
    assert facts.texts["xmp_description"] == "Diego Alvarez at the robotics meet"
    assert facts.texts["xmp_person"] == "Diego Alvarez; Emma Stone-Ward"
    assert len(facts.sha256 or "") == 64 and facts.phash


def test_plain_jpeg_has_no_metadata_texts() -> None:
    facts = read_image(_jpeg(), max_pixels=40_000_000)
    assert facts.error is None and facts.texts == {}


def _patch_sof(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the frame header's dimensions: the header lies, the scan data stays tiny."""
    at = data.index(b"\xff\xc0")
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


def test_decompression_bomb_refused_from_header() -> None:
    bomb = _patch_sof(_jpeg(size=(16, 16)), 20_000, 20_000)
    assert len(bomb) < 5_000
    facts = read_image(bomb, max_pixels=40_000_000)
    assert facts.error is not None and "refused" in facts.error
    assert facts.phash is None and facts.texts == {}
    # Just over the limit (under Pillow's default 2x error threshold) is refused as well.
    over = _patch_sof(_jpeg(size=(16, 16)), 7_000, 6_000)
    facts = read_image(over, max_pixels=40_000_000)
    assert facts.error is not None and "refused" in facts.error
    assert read_image(over, max_pixels=50_000_000).error != facts.error


@pytest.mark.parametrize("data", [b"", b"not an image", b"\xff\xd8\xff\xe0garbage"])
def test_unreadable_bytes_recorded(data: bytes) -> None:
    facts = read_image(data, max_pixels=40_000_000)
    assert facts.error is not None and facts.phash is None


def test_same_photo_same_hashes_and_recompressed_close_phash() -> None:
    original = _jpeg("green", (160, 120))
    a, b = read_image(original, 40_000_000), read_image(bytes(original), 40_000_000)
    assert a.sha256 == b.sha256 and a.phash == b.phash
    image = Image.open(io.BytesIO(original))
    out = io.BytesIO()
    image.resize((80, 60)).save(out, "JPEG", quality=60)
    c = read_image(out.getvalue(), 40_000_000)
    import imagehash

    assert c.sha256 != a.sha256
    assert imagehash.hex_to_hash(c.phash) - imagehash.hex_to_hash(a.phash) <= 8


def test_evidence_round_trip() -> None:
    ev = ImageEvidence("p", "i", {"alt": "x"}, "s" * 64, "f" * 16, 1, 2)
    assert ImageEvidence.from_dict(ev.to_dict()) == ev


def test_gallery_grid_context_keeps_each_photo_to_its_own_caption() -> None:
    html = """<main><h2>Field day</h2><div class="grid">
      <figure><img src="a.jpg"><figcaption>Ana Ruiz</figcaption></figure>
      <figure><img src="b.jpg"><figcaption>Ben Okafor</figcaption></figure>
      <div class="card"><img src="c.jpg"><p>Chloe Tran</p></div>
    </div><article><img src="d.jpg"><p>Left to right: Diego Alvarez, Emma Wu</p></article></main>"""
    refs = by_url(parse_page(html, PAGE).images)
    assert refs["a.jpg"].texts["context"] == "Ana Ruiz"
    assert refs["b.jpg"].texts["context"] == "Ben Okafor"
    assert refs["c.jpg"].texts["context"] == "Chloe Tran"
    assert refs["d.jpg"].texts["context"] == "Left to right: Diego Alvarez, Emma Wu"
