"""Evidence around each photo on a school web page: texts that may identify a student, and the photo's hashes.

Two halves:

* :func:`parse_page` reads the HTML (selectolax / Lexbor) and returns the page's links and, per ``<img>``
  (with its ``<picture>`` sources), the image URL chosen from src/srcset/lazy attributes plus the texts a
  reader sees next to it: alt, title, figcaption, gallery caption attributes, the nearest block's text and
  the file name's words.
* :func:`read_image` reads the image bytes: EXIF, IPTC and XMP captions and person names, SHA-256 and a
  perceptual hash, refusing decompression bombs from the header before any pixel is decoded.

:func:`compliance.photos.results.build_evidence` joins both for a crawl. Name matching is not done here:
the matching step searches ``ImageEvidence.texts``.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

# A page author can put a megabyte in an alt attribute; names are found in the first few thousand characters
# and the evidence JSON stays small.
MAX_ATTRIBUTE_CHARS = 2_000
MAX_CONTEXT_CHARS = 2_000
MAX_METADATA_CHARS = 4_000

# Texts that come from the image file rather than the page; an unchanged page with a changed image keeps its
# page texts and takes these from the new bytes.
METADATA_KEYS = frozenset(
    {
        "exif",
        "exif_user_comment",
        "exif_xp_comment",
        "exif_xp_title",
        "exif_xp_subject",
        "exif_xp_keywords",
        "iptc_caption",
        "iptc_headline",
        "iptc_keywords",
        "xmp_description",
        "xmp_title",
        "xmp_subject",
        "xmp_person",
    }
)

_BLOCK_TAGS = frozenset(
    {
        "p", "li", "dd", "dt", "td", "th", "blockquote", "div", "section", "article", "aside", "header",
        "footer", "main", "ul", "ol", "dl", "table", "tr", "tbody", "body",
    }
)  # fmt: skip
_SKIP_LINK_SCHEMES = ("mailto:", "javascript:", "tel:", "data:", "sms:", "ftp:")
_WS = re.compile(r"\s+")
_FILENAME_SPLIT = re.compile(r"[-_.\s+,()\[\]]+")


def clean_text(value: str | None, limit: int = MAX_ATTRIBUTE_CHARS) -> str:
    """Collapse whitespace and cut to ``limit`` characters (at a word boundary when one is near)."""
    if not value:
        return ""
    # Cut before collapsing so a 1 MB attribute never goes through the regex whole.
    value = _WS.sub(" ", value[: limit * 2]).strip()
    if len(value) <= limit:
        return value
    cut = value[:limit]
    space = cut.rfind(" ")
    return cut[:space] if space > limit * 0.8 else cut


@dataclass(frozen=True)
class ImageRef:
    """One image as the page shows it: the URL fetched and the page texts around it."""

    image_url: str
    texts: dict[str, str]


@dataclass(frozen=True)
class ParsedPage:
    links: list[str]
    images: list[ImageRef]


@dataclass
class ImageFacts:
    """What the image bytes say: hashes, size and embedded caption/person texts; ``error`` when refused."""

    sha256: str | None = None
    phash: str | None = None
    width: int | None = None
    height: int | None = None
    texts: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass
class ImageEvidence:
    """Everything known about one image on one page; ``texts`` maps a source name to its text."""

    page_url: str
    image_url: str
    texts: dict[str, str]
    sha256: str | None = None
    phash: str | None = None
    width: int | None = None
    height: int | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies recursively, a measurable cost per evidence row.
        return {
            "page_url": self.page_url,
            "image_url": self.image_url,
            "texts": dict(self.texts),
            "sha256": self.sha256,
            "phash": self.phash,
            "width": self.width,
            "height": self.height,
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ImageEvidence:
        return cls(
            page_url=data["page_url"],
            image_url=data["image_url"],
            texts=dict(data.get("texts") or {}),
            sha256=data.get("sha256"),
            phash=data.get("phash"),
            width=data.get("width"),
            height=data.get("height"),
            error=data.get("error"),
        )


# --- HTML ---------------------------------------------------------------------------------------------------


def _srcset_candidates(srcset: str | None, base: str) -> Iterator[tuple[float, bool, str]]:
    """Yield (size, is_width_descriptor, absolute url) for each srcset candidate."""
    if not srcset:
        return
    for part in srcset[: MAX_ATTRIBUTE_CHARS * 4].split(","):
        bits = part.strip().split()
        if not bits or bits[0].startswith("data:"):
            continue
        size, is_width = 1.0, False
        if len(bits) > 1:
            desc = bits[1].lower()
            try:
                if desc.endswith("w"):
                    size, is_width = float(desc[:-1]), True
                elif desc.endswith("x"):
                    size = float(desc[:-1])
            except ValueError:
                pass
        yield size, is_width, urljoin(base, bits[0])


def _largest(candidates: Iterable[tuple[float, bool, str]]) -> str | None:
    found = list(candidates)
    if not found:
        return None
    # Width descriptors say more than density ones; prefer them when both are present.
    widths = [c for c in found if c[1]]
    return max(widths or found, key=lambda c: c[0])[2]


def _attr(node: LexborNode, name: str) -> str | None:
    value = node.attributes.get(name)
    return value if value else None


def _choose_url(img: LexborNode, base: str) -> str | None:
    """The image a visitor ends up seeing: the largest srcset candidate, lazy attributes over placeholders."""
    sources: list[tuple[float, bool, str]] = []
    parent = img.parent
    if parent is not None and parent.tag == "picture":
        for source in parent.css("source"):
            sources.extend(_srcset_candidates(_attr(source, "data-srcset") or _attr(source, "srcset"), base))
    sources.extend(_srcset_candidates(_attr(img, "data-srcset"), base))
    sources.extend(_srcset_candidates(_attr(img, "srcset"), base))
    chosen = _largest(sources)
    if chosen:
        return chosen
    for name in ("data-src", "data-lazy-src", "data-original", "src"):
        value = _attr(img, name)
        if value and not value.strip().startswith("data:"):
            return urljoin(base, value.strip())
    return None


def _ancestors(node: LexborNode) -> Iterator[LexborNode]:
    current = node.parent
    while current is not None and current.tag not in ("html", "-undef", "#document"):
        yield current
        current = current.parent


def filename_words(url: str) -> str:
    """Words of the image's file name: 'maria-garcia-lopez_2024.jpg' -> 'maria garcia lopez'."""
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if "." in name:
        name = name.rsplit(".", 1)[0]
    words = [w for w in _FILENAME_SPLIT.split(name) if w and not any(ch.isdigit() for ch in w)]
    return clean_text(" ".join(words))


def _context_text(node: LexborNode, own: set[int], limit: int) -> str:
    """Text of ``node`` without the parts that belong to other images (their figure, list item or card).

    A gallery grid's text is every photo's caption; attaching all of it to each photo would tie every
    named student to every photo, so any subtree holding another image but not this one is left out.
    """
    parts: list[str] = []
    size = 0
    stack = list(reversed(list(node.iter(include_text=True))))
    while stack and size <= limit:
        current = stack.pop()
        if current.tag == "-text":
            text = current.text_content or ""
            if text.strip():
                parts.append(text)
                size += len(text)
            continue
        if current.tag in ("script", "style", "template", "noscript"):
            continue
        if current.mem_id not in own and (current.tag == "img" or current.css_first("img") is not None):
            continue
        stack.extend(reversed(list(current.iter(include_text=True))))
    return clean_text(" ".join(parts), limit)


def _image_texts(img: LexborNode, image_url: str) -> dict[str, str]:
    texts: dict[str, str] = {}

    def put(key: str, value: str | None, limit: int = MAX_ATTRIBUTE_CHARS) -> None:
        text = clean_text(value, limit)
        if text and key not in texts:
            texts[key] = text

    put("alt", _attr(img, "alt"))
    put("title", _attr(img, "title"))
    put("aria_label", _attr(img, "aria-label"))
    put("data_caption", _attr(img, "data-caption"))
    put("data_title", _attr(img, "data-title"))
    figure: LexborNode | None = None
    context = ""
    own = {img.mem_id, *(a.mem_id for a in _ancestors(img))}
    for depth, anc in enumerate(_ancestors(img)):
        if anc.tag == "a":
            put("link_title", _attr(anc, "title"))
            put("aria_label", _attr(anc, "aria-label"))
        if depth < 4:
            # Gallery scripts keep the caption on the link, the list item or the card around the thumbnail.
            put("data_caption", _attr(anc, "data-caption") or _attr(anc, "data-sub-html"))
            put("data_title", _attr(anc, "data-title"))
        if anc.tag == "figure" and figure is None:
            figure = anc
        if not context and anc.tag in _BLOCK_TAGS:
            context = _context_text(anc, own, MAX_CONTEXT_CHARS)
        if figure is not None and context:
            break
    if figure is not None:
        caption = figure.css_first("figcaption")
        if caption is not None:
            put("figcaption", caption.text(deep=True, separator=" ", strip=True))
    put("context", context, MAX_CONTEXT_CHARS)
    put("filename", filename_words(image_url))
    return texts


def parse_page(html: str, page_url: str) -> ParsedPage:
    """Links (absolute, without fragment) and images (with their page texts) of one HTML page."""
    tree = LexborHTMLParser(html)
    base = page_url
    base_node = tree.css_first("base[href]")
    if base_node is not None and base_node.attributes.get("href"):
        base = urljoin(page_url, base_node.attributes["href"] or "")
    links: list[str] = []
    seen: set[str] = set()
    for anchor in tree.css("a[href], area[href]"):
        href = (anchor.attributes.get("href") or "").strip()
        if not href or href.startswith("#") or href.lower().startswith(_SKIP_LINK_SCHEMES):
            continue
        absolute = urldefrag(urljoin(base, href[:8_000]))[0]
        if absolute not in seen:
            seen.add(absolute)
            links.append(absolute)
    images: list[ImageRef] = []
    for img in tree.css("img"):
        url = _choose_url(img, base)
        if url is None:
            continue
        images.append(ImageRef(image_url=urldefrag(url)[0], texts=_image_texts(img, url)))
    return ParsedPage(links=links, images=images)


# --- image bytes --------------------------------------------------------------------------------------------


def _decode_bytes(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, tuple | list) and all(isinstance(v, int) for v in value):
        value = bytes(value)
    if isinstance(value, bytes):
        for encoding in ("utf-8", "cp1252"):
            try:
                return value.decode(encoding)
            except UnicodeDecodeError:
                continue
        return value.decode("latin-1")
    return str(value)


def _xp_text(value: Any) -> str:
    """Windows XP* EXIF tags are UTF-16LE byte strings (Pillow gives bytes or a tuple of ints)."""
    if isinstance(value, tuple | list):
        value = bytes(value)
    if isinstance(value, bytes):
        return value.decode("utf-16-le", errors="replace").rstrip("\x00")
    return str(value)


def _user_comment(value: Any) -> str:
    """EXIF UserComment: an 8-byte character-code prefix, then the text."""
    if isinstance(value, str):
        return value
    if not isinstance(value, bytes):
        return ""
    prefix, body = value[:8], value[8:]
    if prefix.startswith(b"UNICODE"):
        # The standard says the byte order follows the file's; little-endian is what writers use in practice.
        text = body.decode("utf-16-le", errors="replace")
        if text and not text.isprintable():
            text = body.decode("utf-16-be", errors="replace")
        return text.rstrip("\x00")
    if prefix.startswith((b"ASCII", b"\x00" * 8, b"JIS")):
        return _decode_bytes(body).rstrip("\x00")
    return _decode_bytes(value).rstrip("\x00")


def _exif_texts(image: Any) -> dict[str, str]:
    texts: dict[str, str] = {}
    exif = image.getexif()
    if not exif:
        return texts
    if 0x010E in exif:
        texts["exif"] = _decode_bytes(exif[0x010E])
    for tag, key in ((0x9C9C, "exif_xp_comment"), (0x9C9B, "exif_xp_title"), (0x9C9F, "exif_xp_subject"),
                     (0x9C9E, "exif_xp_keywords")):  # fmt: skip
        if tag in exif:
            texts[key] = _xp_text(exif[tag])
    sub = exif.get_ifd(0x8769)
    if 0x9286 in sub:
        texts["exif_user_comment"] = _user_comment(sub[0x9286])
    return texts


def _iptc_texts(image: Any) -> dict[str, str]:
    from PIL import IptcImagePlugin

    info = IptcImagePlugin.getiptcinfo(image)
    if not info:
        return {}
    texts: dict[str, str] = {}
    for record, key in (((2, 120), "iptc_caption"), ((2, 105), "iptc_headline"), ((2, 25), "iptc_keywords")):
        value = info.get(record)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        texts[key] = "; ".join(_decode_bytes(v) for v in values)
    return texts


def _find_key(tree: Any, key: str) -> Iterator[Any]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == key:
                yield v
            else:
                yield from _find_key(v, key)
    elif isinstance(tree, list):
        for item in tree:
            yield from _find_key(item, key)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "lang":
                yield from _strings(v)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _xmp_texts(image: Any) -> dict[str, str]:
    xmp = image.getxmp()  # parsed with defusedxml; namespaces dropped, local names kept
    if not xmp:
        return {}
    texts: dict[str, str] = {}
    for name, key in (("description", "xmp_description"), ("title", "xmp_title"), ("subject", "xmp_subject"),
                      ("PersonInImage", "xmp_person")):  # fmt: skip
        found = [s for v in _find_key(xmp, name) for s in _strings(v) if s.strip()]
        if found:
            texts[key] = "; ".join(dict.fromkeys(found))
    return texts


def read_image(data: bytes, max_pixels: int) -> ImageFacts:
    """Hashes, size and embedded texts of one image; never raises for bad input, sets ``error`` instead.

    The pixel count is checked from the header before any decoding, so a 20,000 x 20,000 JPEG costs a few
    bytes of parsing, not 400 million pixels of memory.
    """
    from PIL import Image, UnidentifiedImageError

    facts = ImageFacts(sha256=hashlib.sha256(data).hexdigest())
    # Pillow's own guard too, for formats whose header lies or that decode frames lazily.
    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(BytesIO(data)) as image:
                facts.width, facts.height = image.size
                if image.width * image.height > max_pixels:
                    size = f"{image.width}x{image.height}"
                    facts.error = f"image refused: {size} pixels exceeds the limit of {max_pixels}"
                    return facts
                texts: dict[str, str] = {}
                for reader in (_exif_texts, _iptc_texts, _xmp_texts):
                    try:
                        texts.update(reader(image))
                    except Exception as exc:  # one broken metadata block must not hide the others
                        texts.setdefault("metadata_error", f"{reader.__name__}: {type(exc).__name__}")
                facts.texts = {k: t for k, v in texts.items() if (t := clean_text(v, MAX_METADATA_CHARS))}
                facts.phash = _phash(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        facts.error = f"image refused: {exc}"
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        facts.error = f"image not readable: {type(exc).__name__}: {clean_text(str(exc), 200)}"
    return facts


def _phash(image: Any) -> str:
    import imagehash

    # JPEG draft mode decodes at 1/8 scale: phash only needs 32x32 grey pixels.
    image.draft("L", (128, 128))
    return str(imagehash.phash(image))


def photo_record(evidence: ImageEvidence) -> dict[str, Any]:
    """The per-photo part of an evidence (what a cache keeps for an unchanged image)."""
    return {
        "sha256": evidence.sha256,
        "phash": evidence.phash,
        "width": evidence.width,
        "height": evidence.height,
        "texts": {k: v for k, v in evidence.texts.items() if k in METADATA_KEYS},
        "error": evidence.error,
    }
