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

import bisect
import hashlib
import json
import re
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from io import BytesIO
from itertools import islice
from typing import Any
from urllib.parse import unquote, urldefrag, urljoin, urlsplit

import tinycss2
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
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")

# Where text sits relative to an image decides what it may prove (see ``source_strength``): the image's own
# texts (alt, title, captions, file name, embedded metadata) and text bound to exactly this image (its card,
# table column, a "pictured" sentence) identify; text shared with other images or a story around an
# illustration only asks for a look.
WEAK_SOURCES = frozenset({"context", "shared_caption", "context_hashtags", "json_context"})
PAGE_TEXT_SOURCE = "page_text"
PDF_PAGE_SOURCE = "pdf_page"  # "pdf_page_3": the text of page 3 of a linked PDF (a name finding, page in the channel)
PDF_PAGE_BREAK = "\f"  # a stored PDF text keeps its pages apart with form feeds
PAGE_TEXT_URL = ""  # a name finding's image URL: the page's text named the student, no image did
KIND_FLAG = "_kind"  # "video" for a video or embed (its poster or player URL stands for it)
DECORATIVE_FLAG = "_decorative"  # why an image cannot show a student (logo, stock, tiny); not text to search
# How the page published the image when it is not an <img>: background, stylesheet, data_gallery, json, json_ld,
# manifest, video, embed. It prefixes the finding's channel ("background:overlay").
CHANNEL_FLAG = "_channel"
NO_FETCH_FLAG = "_nofetch"  # a player page or video file: nothing the crawler can read as an image
CAPTIONS_FLAG = "_captions_url"  # a video's captions track, replaced by its text ("captions") once fetched
MAX_SCRIPT_CHARS = 100_000
MAX_RESOURCES_PER_PAGE = 8  # stylesheets, JSON manifests and caption tracks one page may make the crawler read
MAX_JSON_CHARS = 200_000
MAX_JSON_ITEMS = 2_000
MAX_REFS_PER_RESOURCE = 500
MAX_CARD_CHARS = 600
MAX_PAGE_TEXT_CHARS = 20_000
MIN_PHOTO_PIXELS = 100
# A quoted page path in a script; a file name may hold spaces and punctuation ("pages/Spring Concert!.html"),
# kept only when it is written as a path (see ``_script_link``).
_SCRIPT_URL = re.compile(
    r"""["'`]((?:[\w./~-]|%[0-9A-Fa-f]{2})(?:[\w./~!&()+, -]|%[0-9A-Fa-f]{2})*\.(?:html?|php|aspx?))"""
    r"""(?:[?#][^"'`\s]*)?["'`]"""
)
_HASHTAG = re.compile(r"#([^\W\d_][\w]*[A-Z][\w]*)")
_HEADINGS = frozenset({"h1", "h2", "h3", "h4", "h5", "h6"})
_MEDIA_TAGS = frozenset({"img", "video", "iframe", "picture"})
# Elements that show a photo: counted so that a card holding one background photo is still that photo's card.
_MEDIA_SELECTOR = "img, video, iframe, [style*='url('], [data-bg], [data-background], [data-background-image]"
_IMAGE_PATH = re.compile(r"\.(?:jpe?g|png|gif|webp|avif|heic|tiff?|bmp)$", re.I)
_PAGE_PATH = re.compile(r"\.(?:html?|php|aspx?)$", re.I)
_GALLERY_ATTRS = (
    "data-src", "data-full", "data-large", "data-image", "data-img", "data-original", "data-zoom-image",
    "data-href", "data-bg", "data-background", "data-background-image", "data-photo", "data-thumb",
)  # fmt: skip
_GALLERY_LINK = re.compile(r"lightbox|fancybox|gallery|glightbox|photoswipe|magnific|colorbox", re.I)
_EMBED = re.compile(
    r"^https?://(?:www\.)?(?:youtube(?:-nocookie)?\.com/(?:embed|watch|shorts)|youtu\.be/|player\.vimeo\.com/video/"
    r"|vimeo\.com/\d|drive\.google\.com/(?:file/d/|open)|docs\.google\.com/(?:file|presentation)/d/)",
    re.I,
)
_SCRIPT_JSON = re.compile(r"""["'`]((?:[\w./~-]|%[0-9A-Fa-f]{2})+\.json)(?:\?[^"'`\s]*)?["'`]""")
_VIDEO_TYPES = frozenset({"VideoObject", "Clip", "Movie"})
_IMAGE_TYPES = frozenset({"ImageObject", "Photograph"})
_JSON_URL_KEYS = (
    "contentUrl", "url", "src", "image", "thumbnailUrl", "thumbnail", "full", "large", "file", "href",
    "poster", "embedUrl", "path", "photo", "original",
)  # fmt: skip
_JSON_TEXT_KEYS = (("caption", "json_caption"), ("alt", "json_alt"), ("title", "json_title"),
                   ("name", "json_name"), ("description", "json_description"), ("label", "json_label"))  # fmt: skip
_STORY_KEYS = frozenset({"headline", "articleBody", "articleSection"})
_CARD_TAGS = frozenset({"figure", "li", "td", "th", "dd"})
_SKIP_TAGS = frozenset(
    {"script", "style", "template", "noscript", "nav", "header", "footer", "blockquote", "q", "button", "form"}
)
# A footer stays in the page text: site credits ("Developer: <student>") publish a student's name on every page.
_PAGE_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "nav", "header", "button"})
_LABEL_TAGS = frozenset({"p", "li", "dd", "dt", "span", "small", "div", "em", "i", "figcaption"})
_CARD_CLASS = re.compile(r"card|profile|member|photo|thumb|caption|gallery|tile|person|portrait|headshot|bio", re.I)
_BYLINE_CLASS = re.compile(r"author|byline|credit|story-info|post-meta|entry-meta|signature|\bquote", re.I)
_BYLINE_LABEL = re.compile(
    r"(?:photos?|pictures?|images?)\s*(?:by|credits?|courtesy)\b|(?:photos?|pictures?)\s*[:/]|"
    r"by\s+[A-Z]|written\s+by|posted\s+by|"
    r"reported\s+by|submitted\s+by|authors?\b|author\(s\)|editors?\b|editor\(s\)|credits?\s*:|photographer",
    re.I,
)
# A photo credit inside an image's own text ("... at the fair. Photo: <name>", "(Photo by <name>)",
# "Photo/<name>", "© <name>"): it names who took the picture, to its clause's end.
_PHOTO_CREDIT = re.compile(
    r"[(\[]?\s*(?:\b(?:photos?|pictures?)\s*(?::|/)|\b(?:photos?|pictures?|images?)\s*(?:by|credits?|courtesy)\b"
    r"(?:\s+of\b)?|\bphotograph(?:er|ed\s+by)\b|\U0001F4F7|\U0001F4F8|\u00a9)\s*[:/-]?[^.()\[\]|;\n]*[)\]]?",
    re.I,
)
_CUE = re.compile(
    r"\b(?:pictured|in the photo|shown (?:here|above|below)|(?:from )?left to right|from left|\(?l\s*-\s*r\)?"
    r"|(?:front|back|top|bottom|middle) row)\b\s*[:,-]?",
    re.I,
)
_DECORATIVE_WORDS = re.compile(
    r"logo|icon|favicon|sprite|badge|banner|emoji|spacer|pixel|button|arrow|avatar-default|watermark|seal", re.I
)
_STOCK = re.compile(
    r"stock|shutterstock|istock|gettyimages|pexels|unsplash|pixabay|freepik|vecteezy|dreamstime|depositphotos|"
    r"free-photo|clipart|clip-art|vector|illustration|/thmb/"
)


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
    text: str = ""  # the page's own text: students named without a photo are name findings
    # Same-page resources that may show photos or list pages: (kind, url), kind stylesheet | manifest | captions.
    resources: list[tuple[str, str]] = field(default_factory=list)
    pdfs: list[str] = field(default_factory=list)  # linked PDF documents (newsletters, flyers)


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


class ParseBudgetExceeded(Exception):
    """Reading one page took longer than its budget (or the page is nested past any real page's depth)."""


# Browsers' HTML parsers stop nesting at a few hundred levels; a page deeper than this is hostile or broken,
# and Lexbor's tree building is quadratic in depth (100,000 levels: two minutes of CPU).
MAX_NESTING = 1_000
MAX_CHAIN = 64  # ancestors of an image looked at for its texts: a caption 64 levels up is not its caption
MAX_CONTEXT_NODES = 500  # nodes the context readings of one image may visit, together
MAX_SIBLINGS = 200  # siblings one image's card / section / table reading may scan
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)[^>]*?(/?)>")
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr", "param"}
)
# Closed implicitly by the next one of their kind (or their parent's end): they never nest in practice.
_SELF_ENDING = frozenset(
    {"p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot", "colgroup",
     "rb", "rt", "rp", "rtc"}
)  # fmt: skip


def nesting_depth(html: str) -> int:
    """Deepest element nesting of ``html`` by a linear scan of its tags (no tree built): what decides whether a
    page may be given to the parser at all."""
    depth = deepest = 0
    for closing, name, self_closing in _TAG.findall(html):
        name = name.lower()
        if name in _VOID or name in _SELF_ENDING or self_closing:
            continue
        if closing:
            depth = max(0, depth - 1)
        else:
            depth += 1
            deepest = max(deepest, depth)
    return deepest


def _shows_media(node: LexborNode) -> bool:
    """An element that shows a photo without an ``<img>`` (what ``_MEDIA_SELECTOR`` matches beyond the tags)."""
    attrs = node.attributes
    if not attrs:
        return False
    return "url(" in (attrs.get("style") or "") or any(
        k in attrs for k in ("data-bg", "data-background", "data-background-image")
    )


class _TreeIndex:
    """One pass over the parsed tree, so every per-image question is answered without walking the tree again:
    pre-order position and subtree end of each node, positions of media and of text, site-chrome membership.

    Without it, counting the images under each ancestor of each image was quadratic (an 11 KB page of nested
    blocks took 85 s)."""

    def __init__(self, root: LexborNode, deadline: float | None) -> None:
        self.deadline = deadline
        self.pos: dict[int, int] = {}
        self.end: list[int] = []
        self.nodes: list[LexborNode] = []
        self.media: list[int] = []
        self.texts: list[int] = []
        self.chrome: set[int] = set()
        self.chrome_of: dict[int, bool] = {}  # _is_chrome of a node: the same for every image
        self.visits_left = MAX_CONTEXT_NODES  # per image, reset by begin_image
        chrome_open: list[int] = []
        node: LexborNode | None = root
        root_id = root.mem_id
        while node is not None:
            i = len(self.nodes)
            if i % 4096 == 0:
                self.check()
            self.pos[node.mem_id] = i
            self.nodes.append(node)
            self.end.append(i)
            tag = node.tag
            if tag == "-text":
                if (node.text_content or "").strip():
                    self.texts.append(i)
            elif tag in ("img", "video", "iframe") or _shows_media(node):
                self.media.append(i)
            if tag in ("nav", "header", "footer"):
                chrome_open.append(i)
            if chrome_open:
                self.chrome.add(node.mem_id)
            child = node.child
            if child is not None:
                node = child
                continue
            while node is not None:  # close the node and every ancestor whose last child it was
                i = self.pos[node.mem_id]
                self.end[i] = len(self.nodes) - 1
                if chrome_open and chrome_open[-1] == i:
                    chrome_open.pop()
                if node.mem_id == root_id:
                    node = None
                    break
                following = node.next
                if following is not None:
                    node = following
                    break
                node = node.parent

    def begin_image(self) -> None:
        self.visits_left = MAX_CONTEXT_NODES
        self.check()

    def check(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise ParseBudgetExceeded("page took longer than its reading budget")

    def media_count(self, node: LexborNode) -> int:
        i = self.pos.get(node.mem_id)
        if i is None:
            return len(node.css("img, video, iframe"))
        return bisect.bisect_right(self.media, self.end[i]) - bisect.bisect_left(self.media, i)

    def text(self, node: LexborNode, limit: int) -> str:
        """The first ``limit`` characters of the node's text (stripped pieces joined by spaces)."""
        i = self.pos.get(node.mem_id)
        if i is None:
            return (node.text(deep=True, separator=" ", strip=True) or "")[:limit]
        parts: list[str] = []
        size = 0
        at = bisect.bisect_left(self.texts, i)
        while at < len(self.texts) and self.texts[at] <= self.end[i] and size < limit:
            piece = (self.nodes[self.texts[at]].text_content or "").strip()
            parts.append(piece)
            size += len(piece) + 1
            at += 1
        return " ".join(parts)[:limit]


_INDEX: ContextVar[_TreeIndex | None] = ContextVar("evidence_tree_index", default=None)


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
    """Words of the image's file name: 'maria-garcia-lopez_2024.jpg' -> 'maria garcia lopez'.

    CamelCase runs are split too ('MariaLopez.jpg' -> 'Maria Lopez', 'NDavies.JPG' -> 'N Davies'): portrait
    files are often named that way.
    """
    name = unquote(urlsplit(url).path.rsplit("/", 1)[-1])
    if "." in name:
        name = name.rsplit(".", 1)[0]
    words = [w for w in _FILENAME_SPLIT.split(name) if w and not any(ch.isdigit() for ch in w)]
    return clean_text(" ".join(split_camel(w) for w in words))


def split_camel(word: str) -> str:
    """'MariaLopez' -> 'Maria Lopez', 'NDavies' -> 'N Davies', '#MiaChen' -> 'Mia Chen'; other words unchanged.

    Only mixed-case words are split (an all-capitals or all-lower word has no boundaries to read).
    """
    word = word.lstrip("#")
    if word.isupper() or word.islower() or not any(ch.isupper() for ch in word[1:]):
        return word
    return _CAMEL.sub(" ", word)


def fold_words(text: str) -> frozenset[str]:
    """Lower-case, accent-free words of a text (what a first name is compared with)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return frozenset(re.findall(r"[^\W\d_]+", plain))


def hashtag_words(text: str) -> str:
    """The words of a text's CamelCase hashtags: '#MiaChen #Go' -> 'Mia Chen Go' (names written as tags)."""
    return " ".join(split_camel(tag) for tag in _HASHTAG.findall(text))


def without_credits(text: str) -> str:
    """``text`` without its photo credits: the photographer a caption credits is not in the picture."""
    return _PHOTO_CREDIT.sub(" ", text).strip() if text else text


def source_strength(source: str) -> str:
    """How far a text source may go: ``strong`` identifies, ``weak`` at most needs review, ``page`` is a
    mention in the page's text (a name finding), ``flag`` is not text to search."""
    base = source.split("#", 1)[0]
    if base.startswith("_"):
        return "flag"
    if base == PAGE_TEXT_SOURCE or base.startswith(PDF_PAGE_SOURCE):
        return "page"
    return "weak" if base in WEAK_SOURCES else "strong"


def _classes(node: LexborNode) -> str:
    return f"{node.attributes.get('class') or ''} {node.attributes.get('id') or ''}"


def _is_chrome(node: LexborNode) -> bool:
    """Site chrome (navigation, header, footer) and text that names people who are not a photo's subject:
    bylines, author boxes, credits, quotations."""
    index = _INDEX.get()
    if index is None:
        return _is_chrome_uncached(node)
    known = index.chrome_of.get(node.mem_id)
    if known is None:
        known = index.chrome_of[node.mem_id] = _is_chrome_uncached(node)
    return known


def _is_chrome_uncached(node: LexborNode) -> bool:
    if node.tag in _SKIP_TAGS:
        return True
    classes = _classes(node)
    if classes.strip() and _BYLINE_CLASS.search(classes):
        return True
    if node.tag in _LABEL_TAGS:
        start = _deep_text(node, 40)
        if _BYLINE_LABEL.match(start):
            return True
    return False


def _visible_text(node: LexborNode, skip: Callable[[LexborNode], bool], limit: int) -> str:
    """Text of ``node`` in document order, leaving out the subtrees ``skip`` says no to."""
    index = _INDEX.get()
    i = index.pos.get(node.mem_id) if index is not None else None
    if index is None or i is None:
        return _visible_text_walk(node, skip, limit)
    parts: list[str] = []
    size = 0
    end = index.end[i]
    at = i + 1
    visits = 0
    # All context readings of one image share a bounded number of node visits; the page's own text (read
    # once) may visit the whole tree.
    per_image = limit <= MAX_CONTEXT_CHARS
    while at <= end and size <= limit and (not per_image or index.visits_left > 0):
        visits += 1
        if per_image:
            index.visits_left -= 1
        if visits % 512 == 0:
            index.check()
        current = index.nodes[at]
        if current.tag == "-text":
            text = current.text_content or ""
            if text.strip():
                parts.append(text)
                size += len(text)
            at += 1
            continue
        at = index.end[at] + 1 if skip(current) else at + 1
    return clean_text(" ".join(parts), limit)


def _visible_text_walk(node: LexborNode, skip: Callable[[LexborNode], bool], limit: int) -> str:
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
        if skip(current):
            continue
        stack.extend(reversed(list(current.iter(include_text=True))))
    return clean_text(" ".join(parts), limit)


def _media_count(node: LexborNode) -> int:
    index = _INDEX.get()
    return index.media_count(node) if index is not None else len(node.css(_MEDIA_SELECTOR))


def _deep_text(node: LexborNode, limit: int) -> str:
    index = _INDEX.get()
    if index is not None:
        return index.text(node, limit)
    return (node.text(deep=True, separator=" ", strip=True) or "")[:limit]


def _context_text(node: LexborNode, own: set[int], limit: int) -> str:
    """Text of ``node`` without the parts that belong to other images (their figure, list item or card) and
    without chrome and bylines.

    A gallery grid's text is every photo's caption; attaching all of it to each photo would tie every
    named student to every photo, so any subtree holding another image but not this one is left out.
    """

    def skip(current: LexborNode) -> bool:
        if _is_chrome(current):
            return True
        return current.mem_id not in own and (current.tag in _MEDIA_TAGS or _media_count(current) > 0)

    return _visible_text(node, skip, limit)


def _section_text(block: LexborNode, own: set[int], limit: int) -> str:
    """Text of the heading section of ``block`` that holds the image: a page of award photos under year
    headings gives each photo its own year's text, not every year's."""
    children = [c for c in islice(block.iter(), MAX_SIBLINGS) if c.tag != "-text" or (c.text_content or "").strip()]
    at = next((i for i, c in enumerate(children) if c.mem_id in own), None)
    if at is None:
        return ""
    level = lambda c: int(c.tag[1]) if c.tag in _HEADINGS else 0  # noqa: E731
    start = next((i for i in range(at, -1, -1) if level(children[i])), None)
    if start is None:
        return ""
    end = next((i for i in range(at + 1, len(children)) if 0 < level(children[i]) <= level(children[start])), None)
    parts: list[str] = []
    for child in children[start:end]:
        if child.tag == "-text":
            parts.append(child.text_content or "")
        elif child.mem_id in own:
            parts.append(_context_text(child, own, limit))
        elif not (_is_chrome(child) or child.tag in _MEDIA_TAGS or _media_count(child)):
            parts.append(_deep_text(child, limit))
    return clean_text(" ".join(parts), limit)


def _repeated(node: LexborNode) -> bool:
    """Whether ``node`` is one of several like siblings (same tag and class) that each hold an image: a card
    in a grid of cards."""
    parent = node.parent
    if parent is None:
        return False
    cls = node.attributes.get("class")
    likes = 0
    for sibling in islice(parent.iter(), MAX_SIBLINGS):
        if sibling.mem_id == node.mem_id or sibling.tag != node.tag or sibling.attributes.get("class") != cls:
            continue
        if _media_count(sibling) > 0:
            likes += 1
            if likes >= 1:
                return True
    return False


def _card(img: LexborNode, chain: list[LexborNode]) -> LexborNode | None:
    """The element that holds this image and its own text only: a figure, list item, table cell, or a card
    among like cards; None when the image stands in a story or a shared block."""
    single: list[LexborNode] = []
    for anc in chain[:6]:
        if anc.tag in ("body", "main") or _media_count(anc) != 1:
            break
        single.append(anc)
    card: LexborNode | None = None
    for anc in single:
        classes = _classes(anc)
        if anc.tag in _CARD_TAGS or _repeated(anc) or (classes.strip() and _CARD_CLASS.search(classes)):
            card = anc  # the widest such element still holding only this image
    return card


def _table_pairing(img: LexborNode, chain: list[LexborNode]) -> str:
    """A roster table: portraits in one row, names in the same column of the rows below (until the next row
    of portraits). The text of that column is bound to the portrait."""
    cell = next((a for a in chain[:4] if a.tag in ("td", "th")), None)
    if cell is None or _media_count(cell) != 1 or _deep_text(cell, 1):
        return ""
    row = cell.parent
    if row is None or row.tag != "tr":
        return ""
    cells = [c for c in islice(row.iter(), MAX_SIBLINGS) if c.tag in ("td", "th")]
    column = next((i for i, c in enumerate(cells) if c.mem_id == cell.mem_id), None)
    if column is None:
        return ""
    texts: list[str] = []
    sibling = row.next
    rows = 0
    while sibling is not None and rows < 4:
        if sibling.tag == "tr":
            if _media_count(sibling) > 0:
                break
            below = [c for c in islice(sibling.iter(), MAX_SIBLINGS) if c.tag in ("td", "th")]
            if len(below) == len(cells):
                texts.append(_deep_text(below[column], MAX_CARD_CHARS))
            rows += 1
        sibling = sibling.next
    return clean_text(" ".join(texts), MAX_CARD_CHARS)


def _cue_text(context: str) -> str:
    """The sentence of a caption-like cue ("Pictured: ...", "left to right", "from left") and what follows
    it, up to the end of the sentence."""
    found = _CUE.search(context)
    if not found:
        return ""
    tail = context[found.start() : found.start() + MAX_CARD_CHARS]
    end = re.search(r"[.!?](?:\s+[A-Z]|\s*$)", tail[len(found.group(0)) :])
    return tail[: len(found.group(0)) + end.start() + 1] if end else tail


def _decorative(img: LexborNode, chain: list[LexborNode], url: str) -> str:
    """Why an image cannot be a photo of a student (logo, icon, stock, tiny, site chrome), or ''."""
    index = _INDEX.get()
    if index is not None and img.mem_id in index.chrome:
        return "site chrome"
    for anc in chain:
        if anc.tag in ("nav", "header", "footer"):
            return "site chrome"
    words = " ".join(
        [urlsplit(url).path.lower(), (_attr(img, "alt") or "").lower(), _classes(img).lower()]
    )
    if _DECORATIVE_WORDS.search(words):
        return "logo or icon"
    if _STOCK.search(url.lower()):
        return "stock image"
    for name in ("width", "height"):
        value = (_attr(img, name) or "").strip().removesuffix("px")
        if value.isdigit() and int(value) < MIN_PHOTO_PIXELS:
            return "under 100 px"
    return ""


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
    chain = list(islice(_ancestors(img), MAX_CHAIN))
    own = {img.mem_id, *(a.mem_id for a in chain)}
    figure: LexborNode | None = None
    for depth, anc in enumerate(chain):
        if anc.tag == "a":
            put("link_title", _attr(anc, "title"))
            put("aria_label", _attr(anc, "aria-label"))
        if depth < 4:
            # Gallery scripts keep the caption on the link, the list item or the card around the thumbnail.
            put("data_caption", _attr(anc, "data-caption") or _attr(anc, "data-sub-html"))
            put("data_title", _attr(anc, "data-title"))
        if anc.tag == "figure" and figure is None:
            figure = anc
    if figure is not None:
        caption = figure.css_first("figcaption")
        if caption is not None:
            text = _deep_text(caption, MAX_ATTRIBUTE_CHARS * 2)
            # One caption under several images says who is in the set, not in which photo.
            put("figcaption" if _media_count(figure) == 1 else "shared_caption", text)
    card = _card(img, chain)
    if card is not None:
        card_text = _context_text(card, own, MAX_CARD_CHARS + 1)
        if len(card_text) <= MAX_CARD_CHARS:
            put("card", card_text)
        else:
            card = None  # a long text around one image is a story, not a caption
    put("table_cell", _table_pairing(img, chain), MAX_CARD_CHARS)
    start = chain.index(card) + 1 if card is not None else 0
    for anc in chain[start:]:
        if anc.tag in _BLOCK_TAGS:
            context = _section_text(anc, own, MAX_CONTEXT_CHARS) or _context_text(anc, own, MAX_CONTEXT_CHARS)
            if context:
                if _media_count(anc) == 1:
                    put("cue", _cue_text(context), MAX_CARD_CHARS)
                put("context", context, MAX_CONTEXT_CHARS)
                break
    put("filename", filename_words(image_url))
    put(DECORATIVE_FLAG, _decorative(img, chain, image_url))
    return texts


def _page_text(tree: LexborHTMLParser) -> str:
    """The page's own text (no navigation, header or scripts), bylines and footer credits included: a student
    named anywhere on a page is identifying information, photo or not. The title and the description the page
    gives search engines and link previews come first: they publish a name the body may not repeat."""
    head = [clean_text(n.text() or "", MAX_ATTRIBUTE_CHARS) for n in tree.css("head > title")[:1]]
    for selector in ('meta[name="description"]', 'meta[property="og:title"]', 'meta[property="og:description"]'):
        node = tree.css_first(selector)
        if node is not None:
            head.append(clean_text(node.attributes.get("content"), MAX_ATTRIBUTE_CHARS))
    head = [t for t in dict.fromkeys(head) if t]
    body = tree.body
    text = _visible_text(body, _page_chrome, MAX_PAGE_TEXT_CHARS) if body is not None else ""
    # A full stop between them: a title's last word and the body's first are not one name.
    return clean_text(". ".join([*head, text]) if head else text, MAX_PAGE_TEXT_CHARS)


def _page_chrome(node: LexborNode) -> bool:
    """Left out of the page's text: scripts, navigation, and the site's header, but not a story's own header
    (``<article><header><h1>`` holds a post's title, which may name its student)."""
    if node.tag not in _PAGE_SKIP_TAGS:
        return False
    if node.tag != "header":
        return True
    parent = node.parent
    while parent is not None:
        if parent.tag in ("article", "main"):
            return False
        parent = parent.parent
    return True


def _link_urls(tree: LexborHTMLParser, base: str) -> tuple[list[str], list[str]]:
    """Links of a page (anchors, areas, page URLs quoted in inline scripts) and the JSON files its scripts
    or data attributes name (manifests a script would load: read without running it)."""
    links: list[str] = []
    manifests: list[str] = []
    seen: set[str] = set()

    def add(into: list[str], url: str) -> None:
        absolute = urldefrag(urljoin(base, url[:8_000]))[0]
        if absolute not in seen:
            seen.add(absolute)
            into.append(absolute)

    for anchor in tree.css("a[href], area[href]"):
        href = (anchor.attributes.get("href") or "").strip()
        if not href or href.startswith("#") or href.lower().startswith(_SKIP_LINK_SCHEMES):
            continue
        add(links, href)
    # Navigation a script inserts (fetch('header.html'), a menu array) is reachable without running it: page
    # URLs quoted in inline scripts are links too, and JSON files they name are manifests to read.
    for script in tree.css("script"):
        if script.attributes.get("src") or (script.attributes.get("type") or "").endswith("json"):
            continue
        pages, jsons = script_urls(script.text() or "")
        for quoted in pages:
            add(links, quoted)
        for quoted in jsons:
            add(manifests, quoted)
    for node in tree.css("[data-src], [data-url], [data-json], [data-manifest], [data-gallery]"):
        for name in ("data-src", "data-url", "data-json", "data-manifest", "data-gallery"):
            value = (node.attributes.get(name) or "").strip()
            if value.lower().split("?", 1)[0].endswith(".json"):
                add(manifests, value)
    return links, manifests


# Titles of the folder listings web servers generate: python's http.server, Apache and nginx autoindex.
_LISTING_TITLE = re.compile(r"<title>\s*(?:directory listing for|index of)\s+(/[^<]*?)\s*</title>", re.I)


def folder_listing(html: str, url: str) -> list[str] | None:
    """The entries (absolute URLs inside the folder) of a listing the web server generated for the folder
    ``url``, or None when the page is not such a listing.

    Why: pages a script lists (a JSON manifest read by a script the site no longer serves) may be linked from
    nowhere else, and the folder they sit in, listed by the server, is then the index that publishes them. A
    listing is no page anybody wrote: its file names are not evidence, only its entries are followed. Only a
    listing titled with the very folder asked for counts, so a page called "Index of clubs" stays a page.
    """
    found = _LISTING_TITLE.search(html[:4096])
    path = urlsplit(url).path
    if found is None or unquote(found.group(1)).rstrip("/") != unquote(path).rstrip("/"):
        return None
    folder = urlsplit(url)._replace(path=path if path.endswith("/") else path + "/", query="", fragment="")
    prefix = folder.geturl()
    entries: list[str] = []
    for node in LexborHTMLParser(html).css("a[href]"):
        href = (node.attributes.get("href") or "").strip()
        if not href or href.startswith(("?", "#")):
            continue  # Apache's sort links
        target = urldefrag(urljoin(prefix, href))[0]
        if target.startswith(prefix) and target != prefix and "?" not in target and target not in entries:
            entries.append(target)
    return entries


def script_urls(code: str) -> tuple[list[str], list[str]]:
    """(page paths, JSON files) quoted in a script, as written (the caller resolves them against the page
    the script runs in). A quoted path with spaces counts only when written as a path, never a sentence."""
    code = code[:MAX_SCRIPT_CHARS]
    pages = [q for q in _SCRIPT_URL.findall(code) if _json_link(q) or ("/" in q and "\n" not in q)]
    return pages, _SCRIPT_JSON.findall(code)


def css_urls(declarations: str) -> list[str]:
    """Image URLs of the background declarations in a CSS declaration list (an inline ``style``)."""
    found: list[str] = []
    for decl in tinycss2.parse_declaration_list(declarations[:MAX_ATTRIBUTE_CHARS * 4], skip_comments=True,
                                                skip_whitespace=True):  # fmt: skip
        if getattr(decl, "type", "") != "declaration" or decl.lower_name not in ("background", "background-image"):
            continue
        for token in decl.value:
            if token.type == "url":
                found.append(token.value)
            elif token.type == "function" and token.lower_name == "url":
                found += [arg.value for arg in token.arguments if arg.type == "string"]
    return [u.strip() for u in found if u.strip() and not u.strip().startswith("data:")]


def stylesheet_rules(css: str) -> list[tuple[str, str]]:
    """(selector, image URL) of every rule of a stylesheet with a background image, inside @media too."""
    rules: list[tuple[str, str]] = []

    def walk(items: list[Any]) -> None:
        for rule in items:
            if rule.type == "qualified-rule":
                selector = tinycss2.serialize(rule.prelude).strip()
                for url in css_urls(tinycss2.serialize(rule.content)):
                    rules.append((selector, url))
            elif rule.type == "at-rule" and rule.lower_at_keyword in ("media", "supports") and rule.content:
                walk(tinycss2.parse_blocks_contents(rule.content, skip_comments=True, skip_whitespace=True))

    walk(tinycss2.parse_stylesheet(css[: MAX_JSON_CHARS * 5], skip_comments=True, skip_whitespace=True))
    return rules[:MAX_REFS_PER_RESOURCE]


def _element_ref(node: LexborNode, url: str, channel: str) -> ImageRef:
    """An image shown by an element that is not an ``<img>`` (background, gallery link, video, embed): the
    texts an ``<img>`` there would get, plus the element's own short text (a caption laid over the photo)."""
    texts = _image_texts(node, url)
    if node.tag not in ("video", "iframe"):
        overlay = _context_text(node, {node.mem_id}, MAX_CARD_CHARS + 1)
        if overlay and len(overlay) <= MAX_CARD_CHARS:
            texts.setdefault("overlay", overlay)
    texts[CHANNEL_FLAG] = channel
    return ImageRef(image_url=urldefrag(url)[0], texts=texts)


def _looks_like_image(value: str) -> bool:
    return bool(_IMAGE_PATH.search(urlsplit(value.strip()).path)) and not value.strip().startswith("data:")


def _element_images(tree: LexborHTMLParser, base: str) -> list[ImageRef]:
    """Photos a page shows without an ``<img>``: CSS backgrounds in ``style``, gallery items whose photo is
    in a data attribute or a lightbox link (and no thumbnail ``<img>`` already shows it)."""
    refs: list[ImageRef] = []
    body = tree.body
    if body is None:
        return refs
    for node in body.css("[style*='url(']"):
        if node.tag == "img":
            continue
        for url in css_urls(node.attributes.get("style") or "")[:1]:
            refs.append(_element_ref(node, urljoin(base, url), "background"))
    selector = ", ".join(f"[{name}]" for name in _GALLERY_ATTRS) + ", a[href]"
    for node in body.css(selector):
        if node.tag in ("img", "source", "video", "iframe", "script") or node.css_first("img") is not None:
            continue
        value = next((v for name in _GALLERY_ATTRS if (v := _attr(node, name)) and _looks_like_image(v)), None)
        if value is None and node.tag == "a":
            href = _attr(node, "href") or ""
            marks = " ".join([_classes(node), *(k for k in node.attributes if k.startswith("data-")),
                              _attr(node, "rel") or ""])  # fmt: skip
            if _looks_like_image(href) and _GALLERY_LINK.search(marks):
                value = href
        if value is not None and not (node.attributes.get("style") and css_urls(node.attributes["style"] or "")):
            refs.append(_element_ref(node, urljoin(base, value.strip()), "data_gallery"))
    return refs


def _video_refs(tree: LexborHTMLParser, base: str) -> tuple[list[ImageRef], list[str]]:
    """``<video>`` (poster, title, captions track) and YouTube/Vimeo/Drive embeds: findings of kind video.

    A video stands for itself by its poster (fetched like a photo: its metadata is read) or, without one, its
    file or player URL, which is never fetched. Returns the refs and the captions tracks to read.
    """
    refs: list[ImageRef] = []
    tracks: list[str] = []
    for video in tree.css("video"):
        poster = _attr(video, "poster")
        source = _attr(video, "src") or next(
            (s for n in video.css("source") if (s := _attr(n, "src"))), None
        )
        if not poster and not source:
            continue
        ref = _element_ref(video, urljoin(base, (poster or source or "").strip()), "video")
        ref.texts[KIND_FLAG] = "video"
        if source:
            words = filename_words(urljoin(base, source))
            if words:
                ref.texts.setdefault("video_file", words)
        if not poster:
            ref.texts[NO_FETCH_FLAG] = "video file"
        for track in video.css("track"):
            label = clean_text(_attr(track, "label"))
            if label and label.casefold() not in ("english", "captions", "subtitles", "en"):
                ref.texts.setdefault("track_label", label)
            src = _attr(track, "src")
            if src and (_attr(track, "kind") or "subtitles") in ("captions", "subtitles"):
                url = urldefrag(urljoin(base, src.strip()))[0]
                ref.texts.setdefault(CAPTIONS_FLAG, url)
                tracks.append(url)
        refs.append(ref)
    for frame in tree.css("iframe[src], iframe[data-src]"):
        src = urljoin(base, (_attr(frame, "src") or _attr(frame, "data-src") or "").strip())
        if not _EMBED.match(src):
            continue
        ref = _element_ref(frame, src, "embed")
        ref.texts.pop("filename", None)  # a player id, not words
        ref.texts[KIND_FLAG] = "video"
        ref.texts[NO_FETCH_FLAG] = "video player"
        refs.append(ref)
    return refs, tracks


def _json_texts(item: dict[str, Any], story: bool) -> dict[str, str]:
    texts: dict[str, str] = {}
    for key, source in _JSON_TEXT_KEYS:
        value = item.get(key)
        if isinstance(value, str) and (text := clean_text(value)):
            texts[source] = text
    if story:
        # An article's picture: its headline and description are the story's, not a caption of the photo.
        joined = " ".join([*texts.values(), *(clean_text(str(item.get(k) or "")) for k in ("headline",))])
        return {"json_context": clean_text(joined, MAX_CONTEXT_CHARS)} if joined.strip() else {}
    return texts


def _json_link(value: str) -> bool:
    """Whether a JSON string ending in a page extension is a link, not a sentence: a file name with spaces
    ("./pages/Spring Concert!.html", as static-site generators publish them) counts when it is written as a
    path (relative, rooted or absolute), never prose that happens to end in ".html"."""
    if " " not in value:
        return True
    return "\n" not in value and len(value) <= 500 and value.startswith(("./", "../", "/", "http://", "https://"))


def json_refs(data: Any, base: str, channel: str) -> tuple[list[ImageRef], list[str]]:
    """Images (with the texts of their own JSON object) and page URLs in a JSON document: an inline gallery,
    JSON-LD (ImageObject, VideoObject, an article's image) or a manifest the site serves. Bounded by
    ``MAX_JSON_ITEMS`` nodes and ``MAX_REFS_PER_RESOURCE`` images."""
    refs: list[ImageRef] = []
    links: list[str] = []
    budget = [MAX_JSON_ITEMS]

    def walk(node: Any, depth: int) -> None:
        budget[0] -= 1
        if budget[0] < 0 or depth > 12 or len(refs) >= MAX_REFS_PER_RESOURCE:
            return
        if isinstance(node, list):
            for item in node:
                walk(item, depth + 1)
            return
        if isinstance(node, str):
            value = node.strip()
            if _PAGE_PATH.search(urlsplit(value).path) and _json_link(value):
                links.append(urldefrag(urljoin(base, value))[0])
            return
        if not isinstance(node, dict):
            return
        kinds = node.get("@type")
        kinds = set(kinds) if isinstance(kinds, list) else {kinds}
        video = bool(kinds & _VIDEO_TYPES)
        story = bool(_STORY_KEYS & node.keys()) and not kinds & (_IMAGE_TYPES | _VIDEO_TYPES)
        for key in _JSON_URL_KEYS:
            value = node.get(key)
            if isinstance(value, list) and value and isinstance(value[0], str):
                value = value[0]
            if not isinstance(value, str):
                continue
            absolute = urldefrag(urljoin(base, value.strip()))[0]
            if _looks_like_image(value) or (video and key in ("contentUrl", "embedUrl") and not refs_for(absolute)):
                texts = _json_texts(node, story)
                texts["filename"] = filename_words(absolute)
                texts[CHANNEL_FLAG] = channel
                if video:
                    texts[KIND_FLAG] = "video"
                    if not _looks_like_image(value):
                        texts[NO_FETCH_FLAG] = "video file"
                refs.append(ImageRef(image_url=absolute, texts={k: v for k, v in texts.items() if v}))
                if video or key in ("contentUrl", "url", "src", "full", "large", "original"):
                    break  # one photo per object: its thumbnail is the same photo
        for value in node.values():
            if isinstance(value, dict | list | str):
                walk(value, depth + 1)

    def refs_for(url: str) -> bool:
        return any(r.image_url == url for r in refs)

    walk(data, 0)
    return refs, list(dict.fromkeys(links))


def _inline_json(tree: LexborHTMLParser, base: str) -> tuple[list[ImageRef], list[str]]:
    refs: list[ImageRef] = []
    links: list[str] = []
    for script in tree.css('script[type="application/ld+json"], script[type="application/json"]'):
        try:
            data = json.loads((script.text() or "")[:MAX_JSON_CHARS])
        except ValueError:
            continue
        kind = "json_ld" if "ld+json" in (script.attributes.get("type") or "") else "json"
        found, more = json_refs(data, base, kind)
        refs += found
        links += more
    return refs, links


def parse_page(html: str, page_url: str, *, max_seconds: float | None = None) -> ParsedPage:
    """Links (absolute, without fragment), images (with their page texts) and the page text of one page.

    Images are every channel a page publishes a photo through: ``<img>``/``<picture>``, CSS backgrounds,
    data-attribute and JSON galleries, JSON-LD, videos and embeds. Resources (same-page stylesheets, JSON
    manifests, caption tracks) and linked PDFs are listed for the crawler to read.

    Linear in the page's size; ``max_seconds`` is a hard budget checked as it goes (and a page nested deeper
    than ``MAX_NESTING`` is refused before parsing): :class:`ParseBudgetExceeded` when either is passed.
    Thread-safe, so the crawler runs it off its event loop.
    """
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    depth = nesting_depth(html)
    if depth > MAX_NESTING:
        raise ParseBudgetExceeded(f"page nested {depth} levels deep (more than {MAX_NESTING})")
    tree = LexborHTMLParser(html)
    index = _TreeIndex(tree.root, deadline) if tree.root is not None else None
    token = _INDEX.set(index)
    try:
        return _parse_tree(tree, page_url, index)
    finally:
        _INDEX.reset(token)


def _parse_tree(tree: LexborHTMLParser, page_url: str, index: _TreeIndex | None) -> ParsedPage:
    base = page_url
    base_node = tree.css_first("base[href]")
    if base_node is not None and base_node.attributes.get("href"):
        base = urljoin(page_url, base_node.attributes["href"] or "")
    links, manifests = _link_urls(tree, base)
    images: list[ImageRef] = []
    for img in tree.css("img"):
        if index is not None:
            index.begin_image()
        url = _choose_url(img, base)
        if url is None:
            continue
        images.append(ImageRef(image_url=urldefrag(url)[0], texts=_image_texts(img, url)))
    images += _element_images(tree, base)
    videos, tracks = _video_refs(tree, base)
    images += videos
    found, json_links = _inline_json(tree, base)
    images += found
    links += [u for u in json_links if u not in links]
    sheets = [
        urldefrag(urljoin(base, (n.attributes.get("href") or "").strip()))[0]
        for n in tree.css("link[rel~=stylesheet][href]")
    ]
    resources = [("stylesheet", u) for u in sheets] + [("manifest", u) for u in manifests]
    resources += [("captions", u) for u in tracks]
    # The page's own scripts (not a CDN's library): the pages and manifests they load are read from their text.
    host = urlsplit(page_url).netloc
    resources += [
        ("script", u)
        for n in tree.css("script[src]")
        if urlsplit(u := urldefrag(urljoin(base, (n.attributes.get("src") or "").strip()))[0]).netloc == host
    ]
    pdfs = [u for u in links if urlsplit(u).path.lower().endswith(".pdf")]
    return ParsedPage(
        links=links,
        images=images,
        text=_page_text(tree),
        resources=list(dict.fromkeys(resources))[:MAX_RESOURCES_PER_PAGE],
        pdfs=pdfs,
    )


def resource_images(
    html: str, page_url: str, images: list[ImageRef], fetched: dict[tuple[str, str], bytes | None]
) -> tuple[list[ImageRef], list[str], list[tuple[str, str]]]:
    """A page's images and extra links once its resources are read: stylesheet backgrounds of the page's
    elements (selectors matched against this page), images and pages a JSON manifest lists, and caption
    tracks' text on their videos. ``fetched`` maps (kind, url) to the body, None when not read. Also the
    manifests the page's scripts load (still to read: the third value)."""
    out = list(images)
    links: list[str] = []
    to_read: list[tuple[str, str]] = []
    tree: LexborHTMLParser | None = None
    for (kind, url), body in fetched.items():
        if body is None:
            continue
        text = body.decode("utf-8", errors="replace")
        if kind == "stylesheet":
            rules = stylesheet_rules(text)
            if rules and tree is None:
                tree = LexborHTMLParser(html)
            for selector, image in rules:
                try:
                    nodes = tree.css(_plain_selector(selector)) if tree is not None else []
                except Exception:  # noqa: BLE001 - a selector Lexbor cannot read shows nothing we can place
                    continue
                for node in nodes[:50]:
                    if node.tag not in ("html", "body"):
                        out.append(_element_ref(node, urljoin(url, image), "stylesheet"))
        elif kind == "manifest":
            try:
                data = json.loads(text[: MAX_JSON_CHARS * 5])
            except ValueError:
                continue
            # A script puts the manifest's URLs into this page: they resolve against the page, not the file.
            found, more = json_refs(data, page_url, "manifest")
            out += found
            links += more
        elif kind == "script":
            # A script's fetch('menu.html') and fetch('info.json') resolve against the page it runs in.
            pages, jsons = script_urls(text)
            links += [urldefrag(urljoin(page_url, q))[0] for q in pages]
            to_read += [("manifest", urldefrag(urljoin(page_url, q))[0]) for q in jsons]
        elif kind == "captions":
            words = captions_text(text)
            for ref in out:
                if ref.texts.get(CAPTIONS_FLAG) == url and words:
                    ref.texts["captions"] = words
    for ref in out:
        ref.texts.pop(CAPTIONS_FLAG, None)
    return out, links, [r for r in dict.fromkeys(to_read) if r not in fetched]


def _plain_selector(selector: str) -> str:
    """A selector without pseudo-classes and pseudo-elements (``.hero:hover``, ``.card::before`` style the
    element itself)."""
    return re.sub(r"::?[\w-]+(?:\([^)]*\))?", "", selector).strip() or "*:not(*)"


def captions_text(vtt: str) -> str:
    """The spoken text of a WebVTT/SRT captions file: cue settings, timings and tags left out."""
    lines: list[str] = []
    for line in vtt[: MAX_CONTEXT_CHARS * 10].splitlines():
        line = line.strip()
        if not line or "-->" in line or line.isdigit() or line.startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            continue
        lines.append(re.sub(r"<[^>]*>", "", line))
    return clean_text(" ".join(lines), MAX_CONTEXT_CHARS)


def pdf_text(data: bytes, max_pages: int = 50) -> tuple[str, str | None]:
    """The text of a PDF, pages kept apart by ``PDF_PAGE_BREAK``, read with pypdf; (text, error)."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-but-readable files warn on every page
    try:
        reader = PdfReader(BytesIO(data))
        if reader.is_encrypted:
            return "", "PDF is encrypted"
        pages: list[str] = []
        size = 0
        for page in reader.pages[:max_pages]:
            text = clean_text(page.extract_text() or "", MAX_PAGE_TEXT_CHARS)
            pages.append(text)
            size += len(text)
            if size > MAX_PAGE_TEXT_CHARS * 2:
                break
        return PDF_PAGE_BREAK.join(pages), None
    except (PyPdfError, ValueError, KeyError, TypeError, OSError, RecursionError) as exc:
        return "", f"PDF not readable: {type(exc).__name__}"


def page_text_sources(url: str, text: str) -> dict[str, str]:
    """The texts a page's own text is searched under: ``page_text`` for a web page, ``pdf_page_N`` per page
    of a PDF (the finding's channel then says which page named the student)."""
    if PDF_PAGE_BREAK in text or urlsplit(url).path.lower().endswith(".pdf"):
        return {f"{PDF_PAGE_SOURCE}_{i}": t for i, t in enumerate(text.split(PDF_PAGE_BREAK), 1) if t.strip()}
    return {PAGE_TEXT_SOURCE: text}


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
