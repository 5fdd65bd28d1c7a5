"""Static school websites with photos, and the exact photo truth.

A student counts as identified in a (page, image) appearance when a name form belonging to that student alone
(in the district at standard scale, in the school at large scale) is written in the image's evidence: its alt
text, figcaption, data-caption, the list item or photo block around it, its file name, or its EXIF/IPTC/XMP
metadata. Every text written is checked with a longest-match scan against all students' name forms, so the
distractors (staff names, places, words such as "hope" and "May") provably name nobody.
"""

from __future__ import annotations

import html
import io
import json
import logging
import multiprocessing
import os
import random
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape as xml_escape

from compliance.sample.context import AS_OF, Ctx, SiteInfo, Student
from compliance.sample.names import NICKNAMES, PLACE_SURNAMES, WORD_GIVEN_NAMES, norm, slug, strip_accents

EVENTS = (
    "science-fair",
    "field-day",
    "spelling-bee",
    "art-show",
    "robotics",
    "garden-club",
    "book-fair",
    "music-night",
    "math-olympiad",
    "fall-festival",
    "reading-buddies",
    "student-council",
)
EVENT_TITLES = {e: e.replace("-", " ").title() for e in EVENTS}
PLACES = (
    "Lincoln Park",
    "Washington Park",
    "Roosevelt Field",
    "Sierra Vista Library",
    "Chavez Community Center",
    "Kern River Parkway",
    "the Washington Street gym",
)
GIF = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="


# ---------------------------------------------------------------- name forms and the scan that checks texts


def _tokens(text: str) -> list[str]:
    text = text.replace("\u2019s ", " ").replace("'s ", " ").replace("\u2019s.", ".").replace("'s.", ".")
    if text.endswith("'s") or text.endswith("\u2019s"):
        text = text[:-2]
    return norm(text).split()


def student_forms(st: Student) -> dict[str, str]:
    """Written forms of a student's name: style -> text (only styles that apply)."""
    first_surname = st.legal_last.replace("-", " ").split()[0]
    forms = {"full": f"{st.legal_first} {st.legal_last}", "initial": f"{st.first} {st.legal_last[0]}."}
    if st.preferred_first or st.preferred_last:
        forms["preferred"] = f"{st.first} {st.last}"
    if first_surname != st.legal_last:
        forms["first_surname"] = f"{st.first} {first_surname}"
    if strip_accents(forms["full"]) != forms["full"]:
        forms["no_accents"] = strip_accents(forms["full"])
    if forms["full"].count(" ") >= 2 and " " in st.legal_first:
        forms["first_given"] = f"{st.legal_first.split()[0]} {st.legal_last}"
    return forms


ADULT = "~adult"


@cache
def _nicknames_of(first: str) -> frozenset[str]:
    """Nicknames and canonical names a nickname-aware matcher may try for a (normalised) first name."""
    namer = _namer()
    out = set(namer.nicknames_of(first)) | set(namer.canonicals_of(first))
    for legal, nicks in NICKNAMES.items():
        normalised = {norm(n) for n in nicks}
        if norm(legal) == first:
            out |= normalised
        elif first in normalised:
            out.add(norm(legal))
    return frozenset(out)


@lru_cache(maxsize=1)
def _namer() -> Any:
    from nicknames import NickNamer

    return NickNamer()


def shadow_keys(st: Student) -> set[str]:
    """Keys a careful matcher may also read as this student; they make a written form ambiguous, never used."""
    surnames = norm(st.legal_last).split()
    firsts = {norm(st.legal_first), norm(st.first)}
    firsts |= {f.split()[0] for f in list(firsts)}
    lasts = {" ".join(surnames), *surnames, norm(st.last)}
    keys = {f"{f} {ln}" for f in firsts for ln in lasts}
    keys |= {f"{f} {surnames[0][0]}" for f in firsts}
    for f in list(firsts):
        for nick in _nicknames_of(f):
            keys |= {f"{nick} {ln}" for ln in lasts}
    return keys


class NameIndex:
    """Normalised name form -> student ids; ``usable`` forms belong to exactly one student.

    Adults (staff, associated persons) are indexed too, under one shared owner: a form that is also an adult's
    name is ambiguous, and an adult's name alone names no student.
    """

    def __init__(self, students: Iterable[Student], adults: Iterable[tuple[str, str]] = ()) -> None:
        self.owners: dict[str, set[str]] = {}
        self.forms: dict[str, dict[str, str]] = {}
        for st in students:
            forms = student_forms(st)
            self.forms[st.id] = forms
            for k in {norm(t) for t in forms.values()} | shadow_keys(st):
                self.owners.setdefault(k, set()).add(st.id)
        for given, family in adults:
            g, surnames = norm(given), norm(family).split()
            if not g or not surnames:
                continue
            for k in (f"{g} {' '.join(surnames)}", f"{g.split()[0]} {surnames[0]}"):
                self.owners.setdefault(k, set()).add(ADULT)
        self.maxn = max((k.count(" ") + 1 for k in self.owners), default=2)

    def usable(self, sid: str, style: str) -> str | None:
        """The student's name written in ``style``, when that form names this student and nobody else."""
        text = self.forms[sid].get(style)
        if text is None or self.owners.get(norm(text)) != {sid}:
            return None
        return text

    def scan(self, text: str) -> list[set[str]]:
        """Longest-match scan: owner sets of every name form written in ``text``."""
        toks = _tokens(text)
        found: list[set[str]] = []
        i = 0
        while i < len(toks):
            for n in range(min(self.maxn, len(toks) - i), 1, -1):
                owners = self.owners.get(" ".join(toks[i : i + n]))
                if owners:
                    found.append(owners)
                    i += n
                    break
            else:
                i += 1
        return found

    def identifies(self, text: str) -> set[str] | None:
        """Ids named in ``text``, or None when the text names someone ambiguously (never written then)."""
        ids: set[str] = set()
        for owners in self.scan(text):
            if owners == {ADULT}:
                continue  # a staff member or a volunteer: names no student
            if len(owners) != 1:
                return None
            ids |= owners
        return ids


# ---------------------------------------------------------------- texts


def _join(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def caption_text(
    rng: random.Random, names: list[str], event: str, place: str, staff: str, first_only: str | None = None
) -> str:
    """A caption naming exactly ``names``; without names, a generic one (a first name alone names nobody)."""
    title = EVENT_TITLES[event].lower()
    if not names and first_only and rng.random() < 0.2:
        return rng.choice([f"{first_only}'s {title} project", f"Great job, {first_only}!"])
    if not names:
        return rng.choice(
            [
                f"Students at the {title}",
                f"Our {title} at {place}",
                f"Families enjoying the {title}",
                f"We hope to see you at the next {title}!",
                f"Coach {staff} with the team",
                f"{title.capitalize()} in May",
                f"Photo: {staff}",
                "Students will share their work",
            ]
        )
    who = _join(names)
    if len(names) == 1:
        return rng.choice(
            [
                f"{who} shows off a project at the {title}",
                f"{who}'s winning entry at the {title}",
                f"Congratulations to {who}!",
                f"{who} at the {title} ({place})",
                f"{who} with {staff}",
            ]
        )
    return rng.choice(
        [
            f"Left to right: {who}.",
            f"{who} at the {title}",
            f"Congratulations to {who}!",
            f"Winners: {who}",
            f"{who} with {staff} at {place}",
        ]
    )


@dataclass
class Img:
    file: str
    site_id: str
    ids: set[str] = field(default_factory=set)
    kind: str = "photo"  # photo | video (a video's poster file, or an embed)
    url: str | None = None  # an embed's player URL (not a file of the site; never fetched)
    exif: str | None = None
    iptc_caption: str | None = None
    iptc_keywords: list[str] = field(default_factory=list)
    xmp_desc: str | None = None
    xmp_people: list[str] = field(default_factory=list)
    texts: list[tuple[str, set[str]]] = field(default_factory=list)


@dataclass
class Placement:
    img: Img
    ids: set[str]
    texts: list[tuple[str, set[str]]]
    html: str


@dataclass
class Page:
    path: str  # relative to the site folder, e.g. news/fair.html
    title: str
    blocks: list[str] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    crawlable: bool = True
    mentions: set[str] = field(default_factory=set)  # students named in the text with no photo of them
    head: str = ""  # extra <head> markup (JSON-LD)
    pdf: tuple[str, list[list[str]]] | None = None  # (file under docs/, lines per page): a linked newsletter


class SiteBuilder:
    """Builds one school's website; every written text is checked against the name index."""

    def __init__(self, ctx: Ctx, site: SiteInfo, students: list[Student], index: NameIndex) -> None:
        self.ctx, self.site, self.index = ctx, site, index
        self.rng = ctx.rng(f"site:{site.id}")
        self.students = students
        self.images: dict[str, Img] = {}
        self.pages: list[Page] = []
        self.staff = self._safe_staff()
        self.captions: list[tuple[str, set[str]]] = []
        # Students whose names are also words or places ("Hope", "May", "Park"): a few of them really appear.
        special = [st for st in students if st.legal_first in WORD_GIVEN_NAMES or st.legal_last in PLACE_SURNAMES]
        self.priority = self.rng.sample(special, min(4, len(special)))

    def _safe_staff(self) -> list[str]:
        out = []
        for given, family in self.ctx.staff_names.get(self.site.id, []):
            for text in (f"{given} {family}", f"Ms. {family}", f"Mr. {family}"):
                if self.index.identifies(text) != set():
                    break
            else:
                out.append(f"{given} {family}")
        return out

    def checked(self, text: str, ids: set[str]) -> bool:
        """True when ``text`` names exactly ``ids`` (and nobody ambiguously)."""
        return self.index.identifies(text) == ids

    def pick_names(self, k: int) -> tuple[list[str], list[str]] | None:
        """k students with a written form that names only them; a mix of consent outcomes."""
        for _ in range(30):
            chosen = self.rng.sample(self.students, k)
            if self.priority:
                chosen[0] = self.priority.pop()
            names, ids = [], []
            for st in chosen:
                styles = [
                    "full",
                    "full",
                    "preferred",
                    "first_surname",
                    "initial",
                    "no_accents",
                    "first_given",
                ]
                self.rng.shuffle(styles)
                for style in styles:
                    text = self.index.usable(st.id, style)
                    if text:
                        names.append(text)
                        ids.append(st.id)
                        break
            if len(ids) == k and len(set(ids)) == k:
                return names, ids
        return None

    def text_block(self, names: list[str], ids: list[str], event: str) -> str | None:
        """A checked caption naming exactly ``ids``; None when no template works for these names."""
        staff = self.rng.choice(self.staff) if self.staff else "the PTA"
        for _ in range(20):
            first_only = self.rng.choice(self.students).first if self.students else None
            text = caption_text(self.rng, names, event, self.rng.choice(PLACES), staff, first_only)
            if self.checked(text, set(ids)):
                return text
            staff = "the PTA"
        return None

    def new_image(self, event: str, ids: list[str], names: list[str]) -> Img:
        """Create an image record; metadata and file name may carry names."""
        rng = self.rng
        meta = rng.choices(["none", "exif", "iptc", "xmp", "all", "filename"], [40, 14, 14, 14, 10, 8])[0]
        if not ids:
            meta = rng.choice(["none", "none", "exif_generic", "xmp_generic"])
        n = len(self.images) + 1
        if meta == "filename" and len(ids) == 1:
            base = f"{slug(names[0])}-{event}"
        else:
            base = rng.choice([f"{event}-{n:03d}", f"IMG_{4000 + n * 7}", f"DSC0{1200 + n * 3}", f"photo{n}"])
        file = f"{base}.jpg"
        if file in self.images:  # the same student at the same event twice: two photos, two files
            file = f"{base}-{n}.jpg"
        img = Img(file=file, site_id=self.site.id)
        if meta == "filename" and len(ids) == 1:
            img.ids |= set(ids)
            img.texts.append((file, set(ids)))
        desc = f"{_join(names)} - {EVENT_TITLES[event]}" if ids else f"{EVENT_TITLES[event]} 2026"
        if meta in ("exif", "all"):
            img.exif = strip_accents(desc)
        if meta in ("iptc", "all"):
            img.iptc_caption = desc
            img.iptc_keywords = [EVENT_TITLES[event], self.site.short, *names]
        if meta in ("xmp", "all"):
            img.xmp_desc = desc
            img.xmp_people = list(names)
        if meta == "exif_generic":
            img.exif = f"{EVENT_TITLES[event]} - {self.site.short}"
        if meta == "xmp_generic":
            img.xmp_desc = f"{EVENT_TITLES[event]} at {self.site.short}"
        if meta in ("exif", "iptc", "xmp", "all"):
            img.ids |= set(ids)
            for t in filter(None, (img.exif, img.iptc_caption, img.xmp_desc)):
                img.texts.append((t, set(ids)))
        for t in (img.exif, img.xmp_desc, *img.iptc_keywords, *img.xmp_people):
            if t and self.index.identifies(t) is None:
                raise RuntimeError("ambiguous name in image metadata")
        self.images[file] = img
        return img

    def src(self, page: Page, img: Img) -> str:
        """Image URL as web editors write it: root-relative or relative to the page."""
        depth = page.path.count("/")
        if self.rng.random() < 0.5:
            return f"/{self.site.id}/images/{img.file}"
        return ("../" * depth) + f"images/{img.file}"

    def place(self, page: Page, img: Img, names: list[str], ids: list[str], event: str, style: str) -> None:
        """Put an image on a page with its local evidence (names or a generic caption)."""
        text = self.text_block(names, ids, event)
        generic = self.text_block([], [], event) or "Students"
        if text is None:
            text, ids = generic, []
        alt = generic if (ids and self.rng.random() < 0.6) else text
        esc = html.escape
        src = self.src(page, img)
        texts = [(text, set(ids)), (alt, set(ids) if alt == text else set())]
        if style == "figure":
            block = (
                f'<figure><img src="{esc(src)}" alt="{esc(alt)}" width="160" height="120">'
                f"<figcaption>{esc(text)}</figcaption></figure>"
            )
        elif style == "para":
            block = f'<div class="photo"><img src="{esc(src)}" alt="{esc(alt)}" loading="lazy"><p>{esc(text)}</p></div>'
        elif style == "gallery":
            alt = ""
            texts = [(text, set(ids))]
            block = (
                f'<a class="thumb" href="{esc(src)}" data-caption="{esc(text)}">'
                f'<img src="{GIF}" data-src="{esc(src)}" alt=""></a>'
            )
        else:  # list item, srcset
            block = (
                f'<li><img src="{esc(src)}" srcset="{esc(src)} 1x, {esc(src)} 2x" alt="{esc(alt)}"> {esc(text)}</li>'
            )
        page.placements.append(Placement(img, set(ids), texts, block))
        page.blocks.append(block)
        self.captions.extend(t for t in texts if t[0])

    # ------------------------------------------------------------ pages

    def build(self) -> None:
        """Lay out the site: news, galleries and clubs with photos, photo reuse, a private page, home, staff."""
        rng = self.rng
        site = self.site
        (news_count, galleries), clubs = self.ctx.scale.photo_pages, 3
        photo_pages: list[Page] = []
        for i in range(news_count):
            event = EVENTS[(i * 5 + len(site.id)) % len(EVENTS)]
            photo_pages.append(Page(f"news/{event}.html", f"{EVENT_TITLES[event]} recap"))
        for i in range(galleries):
            photo_pages.append(Page(f"gallery/album-{i + 1}.html", f"Photo gallery {i + 1}"))
        for event in ("robotics", "garden-club", "student-council")[:clubs]:
            photo_pages.append(Page(f"clubs/{event}.html", f"{EVENT_TITLES[event]}"))
        private = Page("private/drafts.html", "Drafts - not for publication", crawlable=False)
        for page in photo_pages:
            style = (
                "gallery"
                if page.path.startswith("gallery")
                else ("li" if page.path.startswith("clubs") else rng.choice(["figure", "para"]))
            )
            event = page.path.split("/")[1].removesuffix(".html")
            event = event if event in EVENT_TITLES else rng.choice(EVENTS)
            for _ in range(rng.randint(3, 6) if style != "gallery" else rng.randint(7, 10)):
                self._photo(page, event, style)
        # The same photos on more than one page: reused in galleries and on the front page.
        reusable = list(self.images.values())
        for page in photo_pages[news_count : news_count + galleries]:
            for img in rng.sample(reusable, min(3, len(reusable))):
                self.place(page, img, [], [], "fall-festival", "gallery")
        self._photo(private, "student-council", "figure", force_named=True)
        index = Page("index.html", site.name)
        hero = self.new_image("fall-festival", [], [])
        self.place(index, hero, [], [], "fall-festival", "figure")
        again = rng.choice([p.img for p in photo_pages[0].placements])
        self.place(index, again, [], [], "fall-festival", "figure")
        staff_page = self._staff_page()
        # Built last from its own random stream: the pages above stay as they were before it existed.
        spotlight = self._spotlight_page()
        self.pages = [index, staff_page, *photo_pages, spotlight, private]

    def _photo(self, page: Page, event: str, style: str, force_named: bool = False) -> None:
        """One new photo on ``page``: a group shot (no names) or 1-3 named students."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.25 and not force_named:
            names, ids = [], []
        else:
            k = rng.choice([1, 1, 1, 2, 2, 3])
            picked = self.pick_names(k)
            names, ids = picked if picked else ([], [])
        img = self.new_image(event, ids, names)
        # Sometimes the page says nothing and only the metadata / file name names the students.
        if ids and img.ids and rng.random() < 0.3:
            self.place(page, img, [], [], event, style)
        else:
            self.place(page, img, names, ids, event, style)

    def _named(self, rng: random.Random, k: int) -> tuple[list[str], list[str]]:
        """k students and a form naming each alone, from ``rng`` (the spotlight's own stream)."""
        saved, self.rng, priority, self.priority = self.rng, rng, self.priority, []
        try:
            picked = self.pick_names(k)
        finally:
            self.rng, self.priority = saved, priority
        return picked if picked else ([], [])

    def _plain_image(self, file: str) -> Img:
        img = Img(file=file, site_id=self.site.id)
        self.images[file] = img
        return img

    def _spotlight_page(self) -> Page:
        """The patterns real school pages publish students through (issue 10), each in its own headed section:
        a story with a stock illustration, its text naming a student and a student byline (name findings); a
        roster table (portraits above, names below); one placeholder silhouette for several students; photos
        as CSS backgrounds in sibling cards; a JSON-LD gallery; a video with a poster and title; a video embed;
        a linked PDF newsletter naming a student; and a group photo among sibling photos that names nobody."""
        rng = self.ctx.rng(f"spotlight:{self.site.id}")
        site = self.site.id
        page = Page("news/spotlight.html", "Student spotlight")
        esc = html.escape
        sections: list[str] = []

        def checked(text: str, ids: list[str], fallback: str) -> tuple[str, list[str]]:
            return (text, ids) if ids and self.checked(text, set(ids)) else (fallback, [])

        def put(img: Img, ids: list[str], texts: list[tuple[str, set[str]]], block: str) -> None:
            page.placements.append(Placement(img, set(ids), texts, block))
            self.captions.extend(t for t in texts if t[0] and t[1])

        # A story: stock illustration, text naming a student, a student byline. Nobody is in the picture.
        names, ids = self._named(rng, 2)
        story, story_ids = checked(
            f"This fall {names[0]} led the reading buddies program at our school, pairing older readers with "
            "younger ones every Tuesday afternoon in the library." if names else "",
            ids[:1],
            "This fall the reading buddies program paired older readers with younger ones every Tuesday.",
        )
        byline, byline_ids = checked(f"Author(s): {names[1]}" if len(names) > 1 else "", ids[1:2], "Author(s): Staff")
        stock = self._plain_image(f"stock-illustration-books-{site}.jpg")
        put(stock, [], [], "")
        page.mentions |= set(story_ids) | set(byline_ids)
        sections.append(
            f'<article><h2>Reading buddies</h2><div class="byline"><p>{esc(byline)}</p></div>'
            f'<img src="../images/{stock.file}" alt="Books on a shelf" width="600" height="400">'
            f"<p>{esc(story)}</p></article>"
        )
        # A roster table: portraits in one row, the names in the row below, column by column.
        names, ids = self._named(rng, 3)
        cells, labels = [], []
        for i, (name, sid) in enumerate(zip(names, ids, strict=True)):
            img = self._plain_image(f"roster-{site}-{i + 1}.jpg")
            cells.append(f'<td><img src="../images/{img.file}" alt="" width="150" height="200"></td>')
            labels.append(f"<td>{esc(name)}</td>")
            put(img, [sid], [(name, {sid})], "")
        sections.append(
            "<section><h2>Student council</h2><table class=\"roster\"><tr>" + "".join(cells) + "</tr><tr>"
            + "".join(labels) + "</tr></table></section>"
        )
        # One placeholder silhouette for several students: each use keeps its own alt text.
        names, ids = self._named(rng, 3)
        silhouette = self._plain_image(f"silhouette-{site}.jpg")
        items = "".join(
            f'<li class="member"><img src="../images/{silhouette.file}" alt="{esc(n)}" width="120" height="120">'
            f"<p>{esc(n)}</p></li>"
            for n in names
        )
        put(silhouette, ids, [(n, {i}) for n, i in zip(names, ids, strict=True)], "")
        sections.append(f"<section><h2>Chess club</h2><ul>{items}</ul></section>")
        # Photos as CSS backgrounds in sibling cards, each card naming its own student (and one naming nobody).
        names, ids = self._named(rng, 2)
        tiles = []
        for i, (name, sid) in enumerate([*zip(names, ids, strict=True), ("Field day relay", "")]):
            img = self._plain_image(f"tile-{site}-{i + 1}.jpg")
            tiles.append(
                f'<div class="tile" style="background-image: url(\'/{site}/images/{img.file}\')">'
                f"<p>{esc(name)}</p></div>"
            )
            put(img, [sid] if sid else [], [(name, {sid} if sid else set())], "")
        sections.append(f'<section><h2>Field day</h2><div class="tiles">{"".join(tiles)}</div></section>')
        # A gallery listed in JSON-LD only (a script draws it): ImageObjects with captions.
        names, ids = self._named(rng, 2)
        media = []
        for i, (name, sid) in enumerate([*zip(names, ids, strict=True), ("", "")]):
            img = self._plain_image(f"ld-{site}-{i + 1}.jpg")
            caption = f"{name} at the art show" if name else "Art show tables"
            media.append({"@type": "ImageObject", "contentUrl": f"/{site}/images/{img.file}", "caption": caption})
            put(img, [sid] if sid else [], [(caption, {sid} if sid else set())], "")
        gallery = {"@context": "https://schema.org", "@type": "ImageGallery", "associatedMedia": media}
        page.head = f'<script type="application/ld+json">{json.dumps(gallery)}</script>'
        sections.append('<section><h2>Art show</h2><div id="art-gallery" data-gallery="ld"></div></section>')
        # A video (poster and title) and an embed whose title names a student.
        names, ids = self._named(rng, 2)
        poster = self._plain_image(f"poster-{site}.jpg")
        poster.kind = "video"
        shown = f"{names[0]} presents the science project" if names else ""
        title, title_ids = checked(shown, ids[:1], "Science night")
        put(poster, title_ids, [(title, set(title_ids))], "")
        player = f"https://www.youtube-nocookie.com/embed/{site}-talk"
        embed = Img(file=f"embed/{site}-talk", site_id=site, kind="video", url=player)
        said, said_ids = checked(f"Robotics demo by {names[1]}" if len(names) > 1 else "", ids[1:2], "Robotics demo")
        put(embed, said_ids, [(said, set(said_ids))], "")
        sections.append(
            f'<section><h2>Videos</h2><figure><video controls poster="../images/{poster.file}" title="{esc(title)}">'
            f'<source src="../media/science-{site}.mp4" type="video/mp4"></video><figcaption>Science night</figcaption>'
            f'</figure><iframe src="{embed.url}" title="{esc(said)}" width="560" height="315"></iframe></section>'
        )
        # A linked PDF newsletter: its second page names a student (a name finding of the PDF).
        names, ids = self._named(rng, 1)
        honor, honor_ids = checked(f"Honor roll: {names[0]}" if names else "", ids, "Honor roll: see the office")
        page.pdf = (f"newsletter-{site}.pdf", [[f"{self.site.name} newsletter", "Welcome back, families."], [honor]])
        self.captions.extend([(honor, set(honor_ids))] if honor_ids else [])
        sections.append(f'<section><h2>Newsletter</h2><p>Read the <a href="../docs/{page.pdf[0]}">newsletter</a>.</p>'
                        "</section>")  # fmt: skip
        # Sibling photos in one container: a group shot names nobody, its neighbour names one student.
        names, ids = self._named(rng, 1)
        group = self._plain_image(f"group-{site}.jpg")
        solo = self._plain_image(f"solo-{site}.jpg")
        caption, solo_ids = checked(f"{names[0]} wins the spelling bee" if names else "", ids, "Spelling bee")
        put(group, [], [("Spelling bee contestants", set())], "")
        put(solo, solo_ids, [(caption, set(solo_ids))], "")
        sections.append(
            '<section><h2>Spelling bee</h2><div class="row">'
            f'<figure><img src="../images/{group.file}" alt="Spelling bee contestants"></figure>'
            f'<figure><img src="../images/{solo.file}" alt=""><figcaption>{esc(caption)}</figcaption></figure>'
            "</div></section>"
        )
        page.mentions -= {sid for pl in page.placements for sid in pl.ids}
        for pl in page.placements:
            for text, named in pl.texts:
                if self.index.identifies(text) != named:
                    raise RuntimeError(f"{site}/{page.path}: {pl.img.file} text does not name exactly its students")
        page.blocks = sections
        return page

    def _staff_page(self) -> Page:
        page = Page("staff.html", "Our staff")
        for name in self.staff[:8]:
            img = Img(file=f"staff-{slug(name)}.jpg", site_id=self.site.id, exif="Staff portrait")
            self.images[img.file] = img
            family = name.split(" ", 1)[1]
            alt = f"Portrait of {self.rng.choice(['Ms.', 'Mr.', 'Mx.'])} {family}"
            src = self.src(page, img)
            block = f'<li><img src="{html.escape(src)}" alt="{html.escape(alt)}"> {html.escape(name)}</li>'
            page.placements.append(Placement(img, set(), [(alt, set()), (name, set())], block))
            page.blocks.append(block)
        return page

    # ------------------------------------------------------------ writing

    def write(self, root: Path) -> list[dict[str, Any]]:
        """Write pages, robots.txt, sitemap.xml and JPEGs under ``root/<site_id>``; return the appearances."""
        site = self.site
        base = root / site.id
        for sub in ("news", "gallery", "clubs", "private", "images", "docs"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        links = [p for p in self.pages if p.path != "index.html"]
        for page in self.pages:
            self._write_page(base, page, links)
        (base / "robots.txt").write_text(f"User-agent: *\nDisallow: /{site.id}/private/\n", encoding="utf-8")
        urls = "".join(f"  <url><loc>/{site.id}/{p.path}</loc></url>\n" for p in self.pages if p.crawlable)
        (base / "sitemap.xml").write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n' + urls + "</urlset>\n",
            encoding="utf-8",
        )
        for img in self.images.values():
            write_jpeg(
                base / "images" / img.file,
                img,
                random.Random(f"{self.ctx.seed}:{site.id}:{img.file}"),
                fast=self.ctx.scale.fast_photos,
            )
        appearances = []

        def appearance(page_path: str, image: str, ids: set[str], kind: str, crawlable: bool) -> dict[str, Any]:
            sids = sorted(ids)
            return {
                "page": f"{site.id}/{page_path}",
                "image": image,
                "site_id": site.id,
                "student_ids": sids,
                "identified": bool(sids),
                "crawlable": crawlable,
                "violations": [
                    {"student_id": s, "reason": self.ctx.consent_truth[s]["reason"]}
                    for s in sids
                    if not self.ctx.consent_truth[s]["allowed"]
                ],
                "kind": kind,
            }

        for page in self.pages:
            merged: dict[str, set[str]] = {}
            imgs: dict[str, Img] = {}
            for pl in page.placements:
                merged.setdefault(pl.img.file, set()).update(pl.ids | pl.img.ids)
                imgs[pl.img.file] = pl.img
            for file, ids in merged.items():
                img = imgs[file]
                # An embed is its player URL (the truth keeps its path, as for the site's own files).
                image = file if img.url else f"{site.id}/images/{file}"
                appearances.append(appearance(page.path, image, ids, img.kind, page.crawlable))
            if page.mentions:
                appearances.append(appearance(page.path, "", page.mentions, "name", page.crawlable))
            if page.pdf is not None:
                from compliance.sample.pdfs import text_pdf

                name, lines = page.pdf
                (base / "docs" / name).write_bytes(text_pdf(lines, f"{self.site.name} newsletter"))
                named: set[str] = set()
                for line in (x for p in lines for x in p):
                    found = self.index.identifies(line)
                    if found is None:
                        raise RuntimeError(f"{site.id}/docs/{name}: ambiguous name in the newsletter")
                    named |= found
                appearances.append(appearance(f"docs/{name}", "", named, "name", page.crawlable))
        return appearances

    def _write_page(self, base: Path, page: Page, links: list[Page]) -> None:
        rng = random.Random(f"{self.ctx.seed}:{self.site.id}:{page.path}")
        depth = page.path.count("/")
        up = "../" * depth
        esc = html.escape
        staff = rng.choice(self.staff) if self.staff else "the office"
        place = rng.choice(PLACES)
        intro = rng.choice(
            [
                f"We hope every family can join us at {place} in May.",
                f"Thank you to {staff} and our PTA volunteers for organizing this event.",
                "Students will share their work with families next week.",
                f"Grace period for the {self.site.short} book fair ends Friday.",
            ]
        )
        if self.index.identifies(intro) != set():
            intro = "Thank you to our families and volunteers."
        nav = "".join(f'<li><a href="{up}{p.path}">{esc(p.title)}</a></li>' for p in links)
        chrome = " | ".join([page.title, self.site.name, intro, staff, *(p.title for p in links)])
        if self.index.identifies(chrome) != set():
            raise RuntimeError(f"{self.site.id}/{page.path}: page chrome names a student")
        body = "\n".join(page.blocks)
        wrapper = "ul" if page.path.startswith(("clubs", "staff")) else "div"
        extra = ""
        if page.path == "index.html":
            extra = (
                '<p>Follow us: <a href="https://www.facebook.com/example-school-pta">PTA on Facebook</a> · '
                '<a href="https://district.example.net/calendar">District calendar</a></p>'
            )
        doc = (
            f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{esc(page.title)} - '
            f"{esc(self.site.name)}</title>{page.head}</head>\n<body><header><h1>{esc(page.title)}</h1>"
            f'<nav><ul><li><a href="{up}index.html">Home</a></li>{nav}</ul></nav></header>\n'
            f'<main><p class="intro">{esc(intro)}</p>\n<{wrapper} '
            f'class="photos">\n{body}\n</{wrapper}>\n{extra}'
            f"</main>\n<footer><p>{esc(self.site.name)} · Posted by {esc(staff)}</p></footer></body></html>\n"
        )
        (base / page.path).write_text(doc, encoding="utf-8")


def _xmp(img: Img) -> bytes:
    people = "".join(f"<rdf:li>{xml_escape(p)}</rdf:li>" for p in img.xmp_people)
    person_xml = (
        f"<Iptc4xmpExt:PersonInImage><rdf:Bag>{people}</rdf:Bag></Iptc4xmpExt:PersonInImage>" if img.xmp_people else ""
    )
    desc = (
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{xml_escape(img.xmp_desc or "")}</rdf:li>'
        f"</rdf:Alt></dc:description>"
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
        f"{desc}{person_xml}</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    ).encode()


def write_jpeg(path: Path, img: Img, rng: random.Random, *, fast: bool = False) -> None:
    """A 640x480 picture with the image's metadata: shapes (so perceptual hashes differ) under seeded grain.

    School websites publish photos of tens to hundreds of kilobytes; the grain gives these a photo's size so
    crawls and re-crawls of the sample cost what they would on a real site. ``fast`` draws the shapes at full
    size over one of a few shared grains instead of scaling both up (the LAUSD sample's 100,000 photos).
    """
    import piexif
    from PIL import Image, ImageDraw

    size = (640, 480)
    # The shapes on a canvas of ``canvas``, at 4x in fast mode: the same draws from ``rng`` either way.
    scale, canvas = (4, size) if fast else (1, (160, 120))
    im = Image.new("RGB", canvas, tuple(rng.randrange(60, 230) for _ in range(3)))
    draw = ImageDraw.Draw(im)
    for _ in range(rng.randint(3, 7)):
        x, y = rng.randrange(140 * scale), rng.randrange(100 * scale)
        box = (x, y, x + rng.randint(10 * scale, 60 * scale), y + rng.randint(10 * scale, 50 * scale))
        color = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=color)
    if fast:
        im = Image.blend(im, _shared_grain(rng.randrange(len(_GRAIN_SEEDS))), 0.18)
    else:
        grain = Image.frombytes("RGB", (320, 240), rng.randbytes(320 * 240 * 3))
        im = Image.blend(im.resize(size, Image.Resampling.BICUBIC), grain.resize(size, Image.Resampling.BILINEAR), 0.18)
    kwargs: dict[str, Any] = {"quality": 80}
    if img.exif:
        kwargs["exif"] = piexif.dump(
            {
                "0th": {
                    piexif.ImageIFD.ImageDescription: img.exif.encode("ascii", "replace"),
                    piexif.ImageIFD.Make: b"Canon",
                    piexif.ImageIFD.Model: b"PowerShot SX740",
                }
            }
        )
    if img.xmp_desc or img.xmp_people:
        kwargs["xmp"] = _xmp(img)
    buf = io.BytesIO()
    im.save(buf, "JPEG", **kwargs)
    path.write_bytes(buf.getvalue())
    if img.iptc_caption or img.iptc_keywords:
        from iptcinfo3 import IPTCInfo

        logging.getLogger("iptcinfo").setLevel(logging.ERROR)
        _quiet_iptcinfo()
        info = IPTCInfo(str(path), force=True, inp_charset="utf_8", out_charset="utf_8")
        info["caption/abstract"] = img.iptc_caption or ""
        info["keywords"] = img.iptc_keywords
        tmp = path.with_suffix(".iptc.tmp")
        info.save_as(str(tmp))
        os.replace(tmp, path)


_GRAIN_SEEDS = tuple(range(16))


@cache
def _shared_grain(n: int) -> Any:
    from PIL import Image

    noise = random.Random(f"grain:{_GRAIN_SEEDS[n]}").randbytes(320 * 240 * 3)
    return Image.frombytes("RGB", (320, 240), noise).resize((640, 480), Image.Resampling.BILINEAR)


@cache
def _quiet_iptcinfo() -> None:
    import iptcinfo3

    # iptcinfo3 formats a hex dump of every segment for its debug log even when that log is off: ~7 ms a photo.
    # Only its log text changes; the bytes it writes are the same.
    iptcinfo3.hex_dump = lambda dump: ""


def adults_by_site(ctx: Ctx) -> dict[str, list[tuple[str, str]]]:
    """Names of staff and associated persons per site: distractors that must never count as students."""
    out: dict[str, list[tuple[str, str]]] = {}
    for p in ctx.people:
        for site_id in p.site_ids or [p.site_id]:
            out.setdefault(site_id, []).append((p.given, p.family))
    return out


SiteOutput = tuple[list[dict[str, Any]], list[tuple[str, str, set[str]]]]
_FORKED: dict[str, Any] = {}  # what a forked writer process reads: the run's context and name indexes


def _site_output(ctx: Ctx, site: SiteInfo, by_site: dict[str, list[Student]], adults: dict[str, list[tuple[str, str]]],
                 district_index: NameIndex | None) -> SiteOutput:
    index = district_index or NameIndex(by_site.get(site.id, []), adults.get(site.id, []))
    builder = SiteBuilder(ctx, site, by_site.get(site.id, []), index)
    builder.build()
    appearances = builder.write(ctx.out / "sites")
    captions = [(site.id, t, ids) for t, ids in builder.captions]
    for img in builder.images.values():
        captions.extend((site.id, t, ids) for t, ids in img.texts)
    return appearances, captions


def _forked_sites(site_ids: list[str]) -> list[SiteOutput]:
    ctx = _FORKED["ctx"]
    return [
        _site_output(ctx, ctx.site(site_id), _FORKED["by_site"], _FORKED["adults"], _FORKED["district"])
        for site_id in site_ids
    ]


def build_websites(ctx: Ctx) -> tuple[list[dict[str, Any]], list[tuple[str, str, set[str]]]]:
    """Write every site with a website; returns (appearances, evidence captions as (site, text, ids)).

    Many sites (the LAUSD sample's 999) are written by forked processes, one share of the sites each; every
    site draws from its own random streams, so the output is the same however the sites are shared out.
    """
    root = ctx.out / "sites"
    root.mkdir(exist_ok=True)
    by_site: dict[str, list[Student]] = {}
    for st in ctx.students:
        by_site.setdefault(st.site_id, []).append(st)
    adults = adults_by_site(ctx)
    district_index = (
        NameIndex(ctx.students, [a for v in adults.values() for a in v]) if ctx.scale.name == "standard" else None
    )
    sites = [site for site in ctx.sites if site.has_website]
    processes = min(os.cpu_count() or 1, 8)
    if len(sites) < 20 or processes < 2 or "fork" not in multiprocessing.get_all_start_methods():
        outputs = [_site_output(ctx, site, by_site, adults, district_index) for site in sites]
    else:
        _FORKED.update(ctx=ctx, by_site=by_site, adults=adults, district=district_index)
        try:
            shares = [[site.id for site in sites[i : i + 10]] for i in range(0, len(sites), 10)]
            with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
                outputs = [out for share in pool.map(_forked_sites, shares) for out in share]
        finally:
            _FORKED.clear()
    appearances: list[dict[str, Any]] = []
    captions: list[tuple[str, str, set[str]]] = []
    for site_appearances, site_captions in outputs:
        appearances.extend(site_appearances)
        captions.extend(site_captions)
    # Served from sites/ as document root, the host-level robots.txt carries every school's rule.
    disallow = "".join(f"Disallow: /{site.id}/private/\n" for site in sites)
    (root / "robots.txt").write_text("User-agent: *\n" + disallow, encoding="utf-8")
    return appearances, captions


def photos_truth(appearances: list[dict[str, Any]], scope: str) -> dict[str, Any]:
    return {"as_of": AS_OF.isoformat(), "name_scope": scope, "appearances": appearances}


def dumps_line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False) + "\n"
