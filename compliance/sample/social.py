"""District-sponsored social media of the sample: per school a YouTube channel, a Blogger class blog and the
Facebook, Instagram and X exports the communications office downloads, with the exact truth.

Every text naming someone is checked with the websites' longest-match scan (``NameIndex.identifies``) against
every student's name forms, staff, associated persons and alumni (former students now adults, in
``sis/alumni.csv``), so a text names exactly the students the truth says, and distractors (staff, alumni,
place names, a first name alone) name nobody. Own random stream per school (``social:<site>``).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import json
import os
import random
import zipfile
from pathlib import Path
from typing import Any

from compliance.sample.context import AS_OF, Ctx, SiteInfo, Student
from compliance.sample.names import strip_accents
from compliance.sample.students import consent_status
from compliance.sample.websites import EVENT_TITLES, EVENTS, PLACES, NameIndex, adults_by_site
from compliance.sample.writers import write_json

PURPOSE = {"youtube": "video", "blogger": "website", "facebook": "social_media", "instagram": "social_media",
           "x": "social_media"}
STYLES = ("full", "full", "preferred", "first_surname", "initial", "no_accents", "first_given")
ZIP_TIME = (2026, 11, 18, 9, 0, 0)
EXPORT_DAY = dt.datetime(2026, 11, 18, 9, 0, tzinfo=dt.UTC)
ALUMNI_PER_SCHOOL = 6


def _id(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class _Writer:
    """One school's texts: names drawn from its students, each text checked before it is used."""

    def __init__(self, ctx: Ctx, site: SiteInfo, students: list[Student], index: NameIndex,
                 staff: list[str], alumni: list[str], rng: random.Random) -> None:
        self.ctx, self.site, self.students, self.index = ctx, site, students, index
        self.staff, self.alumni, self.rng = staff, alumni, rng

    def names(self, k: int, accents: bool = True) -> tuple[list[str], set[str]]:
        names: list[str] = []
        ids: set[str] = set()
        for st in self.rng.sample(self.students, k * 3):
            if len(names) == k:
                break
            for style in self.rng.sample(STYLES, len(STYLES)):
                text = self.index.usable(st.id, style)
                if text and (accents or text == strip_accents(text)):
                    names.append(text)
                    ids.add(st.id)
                    break
        return names, ids

    def checked(self, texts: list[str], ids: set[str]) -> bool:
        return all(self.index.identifies(t) is not None for t in texts) and set().union(
            *(self.index.identifies(t) or set() for t in texts)) == ids

    def event(self) -> str:
        return EVENT_TITLES[self.rng.choice(EVENTS)]

    def texts(self, pattern: str) -> tuple[dict[str, str], set[str]]:
        """Texts for one item of ``pattern`` (by source name) and the students they name; retried until the
        scan agrees (a drawn name form can collide with another written word)."""
        for _ in range(50):
            out, ids = self._draft(pattern)
            if self.checked(list(out.values()), ids):
                return out, ids
        raise RuntimeError(f"could not write a {pattern} text for {self.site.id}")

    def _draft(self, pattern: str) -> tuple[dict[str, str], set[str]]:
        rng, event = self.rng, self.event()
        place = rng.choice(PLACES)
        if pattern == "title":
            names, ids = self.names(rng.choice((1, 2)))
            return {"title": f"{event}: {' and '.join(names)} take first place",
                    "description": f"Highlights from our {event.lower()} at {place}."}, ids
        if pattern == "description":
            names, ids = self.names(rng.choice((1, 2, 3)))
            return {"title": f"{event} highlights",
                    "description": f"Congratulations to {', '.join(names)} for their work this fall. "
                                   f"Filmed by the media club."}, ids
        if pattern == "tags":
            names, ids = self.names(1)
            return {"title": f"{event} performance", "tags": f"{event.lower()}; {names[0]}; {self.site.short}"}, ids
        if pattern == "caption":
            names, ids = self.names(rng.choice((1, 2)))
            return {"caption": rng.choice([f"So proud of {' and '.join(names)} at the {event.lower()}!",
                                           f"{' and '.join(names)} won the {event.lower()} today."])}, ids
        if pattern == "alt":
            names, ids = self.names(1, accents=False)
            return {"caption": f"Our {event.lower()} was a success.",
                    "alt": f"{names[0]} holding a ribbon at the {event.lower()}"}, ids
        if pattern == "tagged":
            names, ids = self.names(1)
            return {"caption": f"Fun at the {event.lower()}", "tags": names[0]}, ids
        if pattern == "staff":
            who = rng.choice(self.staff)
            return {"title": f"A message from {who}",
                    "description": f"{who} welcomes families to the {event.lower()}."}, set()
        if pattern == "alumni":
            who = rng.choice(self.alumni)
            return {"title": f"Alumni night: {who} visits",
                    "description": f"{who}, class of 2019, talked to our students about college."}, set()
        if pattern == "place":
            return {"title": f"Clean-up day at {place}",
                    "description": f"Families and staff at {place} for the {event.lower()}."}, set()
        if pattern == "first_only":
            first = rng.choice(self.students).first
            return {"title": f"Great job, {first}!", "description": f"The {event.lower()} in pictures."}, set()
        return {"title": f"{event} {rng.choice(('recap', 'in pictures', 'slideshow'))}",
                "description": f"Thank you to every family who came to the {event.lower()}."}, set()


def _consent(ctx: Ctx, ids: set[str], purpose: str) -> list[dict[str, str]]:
    out = []
    for sid in sorted(ids):
        allowed, reason = consent_status(ctx.consent_histories.get(sid, []), AS_OF, purpose)
        if not allowed:
            out.append({"student_id": sid, "reason": reason})
    return out


def _item(ctx: Ctx, site: SiteInfo, platform: str, key: str, ids: set[str], public: bool = True) -> dict[str, Any]:
    return {"platform": platform, "site_id": site.id, "key": key, "student_ids": sorted(ids), "public": public,
            "purpose": PURPOSE[platform], "violations": _consent(ctx, ids, PURPOSE[platform]) if public else []}


def _youtube(ctx: Ctx, w: _Writer, truth: list[dict[str, Any]]) -> dict[str, Any]:
    rng, site = w.rng, w.site
    channel = "UC" + _id(rng, _B64, 22)
    patterns = ["title", "title", "description", "description", "description", "tags", "tags", "staff", "alumni",
                "place", "first_only", "none", "none", "title"]
    videos = []
    start = dt.datetime(2026, 8, 20, 16, 0, tzinfo=dt.UTC)
    for i, pattern in enumerate(patterns + ["private"]):
        texts, ids = w.texts("title" if pattern == "private" else pattern)
        vid = _id(rng, _B64, 11)
        video = {"id": vid, "title": texts.get("title", ""), "description": texts.get("description", ""),
                 "publishedAt": (start + dt.timedelta(days=6 * i)).isoformat().replace("+00:00", "Z")}
        if "tags" in texts:
            video["tags"] = [t.strip() for t in texts["tags"].split(";")]
        if pattern == "private":
            video["privacyStatus"] = "private"
        videos.append(video)
        truth.append(_item(ctx, site, "youtube", vid, ids, public=pattern != "private"))
    return {"id": channel, "title": site.name, "handle": f"@{site.id}", "description": f"{site.name} videos",
            "videos": videos}


def _post_html(texts: dict[str, str], rng: random.Random) -> str:
    img = f"https://blogger.googleusercontent.com/img/b/R29vZ2xl/{_id(rng, 'abcdef0123456789', 16)}/s640/img.jpg"
    body = f"<p>{html.escape(texts.get('description') or texts.get('caption') or '')}</p>"
    alt = html.escape(texts.get("alt", "Students at school"), quote=True)
    caption = f"<figcaption>{html.escape(texts['tags'])}</figcaption>" if "tags" in texts else ""
    return f"{body}\n<figure><img src=\"{img}\" alt=\"{alt}\" width=\"640\" height=\"480\">{caption}</figure>\n"


def _blogger(ctx: Ctx, w: _Writer, truth: list[dict[str, Any]]) -> dict[str, Any]:
    rng, site = w.rng, w.site
    blog_id = str(rng.randrange(10**17, 10**18))
    patterns = ["title", "description", "description", "alt", "alt", "tagged", "staff", "alumni", "place", "none",
                "first_only"]
    posts = []
    start = dt.datetime(2026, 8, 25, 15, 0, tzinfo=dt.UTC)
    for i, pattern in enumerate(patterns + ["draft"]):
        texts, ids = w.texts("description" if pattern == "draft" else pattern)
        title = texts.get("title") or f"{w.event()} news"
        pid = str(rng.randrange(10**18, 10**19))
        when = (start + dt.timedelta(days=7 * i)).isoformat().replace("+00:00", "Z")
        post = {"id": pid, "title": title, "content": _post_html(texts, rng), "published": when, "updated": when,
                "author": "Room teacher", "labels": [site.short]}
        if pattern == "draft":
            post["status"] = "DRAFT"
        posts.append(post)
        truth.append(_item(ctx, site, "blogger", pid, ids, public=pattern != "draft"))
    return {"id": blog_id, "name": f"{site.short} classroom news", "url": f"https://{site.id}-classroom.blogspot.com/",
            "description": f"News from {site.name} classrooms", "posts": posts}


def _meta(text: str) -> str:
    """Text as Meta's exports write it: each UTF-8 byte as its own escaped code point."""
    return text.encode("utf-8").decode("latin-1")


def _jpeg(description: str | None) -> bytes:
    import piexif
    from PIL import Image

    buf = io.BytesIO()
    kwargs: dict[str, Any] = {"quality": 70}
    if description:
        kwargs["exif"] = piexif.dump({"0th": {piexif.ImageIFD.ImageDescription: description.encode("ascii")}})
    Image.new("RGB", (32, 24), (120, 160, 200)).save(buf, "JPEG", **kwargs)
    return buf.getvalue()


def _zip(path: Path, files: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(name, ZIP_TIME), data, zipfile.ZIP_DEFLATED)


def _exports(ctx: Ctx, w: _Writer, idx: int, truth: list[dict[str, Any]]) -> None:
    rng, site = w.rng, w.site
    folder = ctx.out / "social" / site.id
    stamp0 = int(dt.datetime(2026, 9, 2, 17, 0, tzinfo=dt.UTC).timestamp())
    # Facebook Page (2024 layout on even schools, the older posts/your_posts_1.json on odd), zipped.
    prefix = f"facebook-{site.id}-2026-11-18/"
    posts_path = ("your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json" if idx % 2 == 0
                  else "posts/your_posts_1.json")
    files: dict[str, bytes] = {}
    fb = []
    for i, pattern in enumerate(["caption", "caption", "tagged", "alt", "exif", "staff", "alumni", "place", "none"]):
        texts, ids = w.texts("alt" if pattern == "exif" else pattern)
        ts = stamp0 + 86400 * 5 * i
        post: dict[str, Any] = {"timestamp": ts, "data": [{"post": _meta(texts.get("caption") or
                                                                         texts.get("description", ""))}],
                                "title": _meta(f"{site.name} posted a photo.")}
        uri = f"your_facebook_activity/posts/media/{site.id}_{i:02d}.jpg"
        media = {"uri": uri, "creation_timestamp": ts, "title": "", "description": ""}
        if pattern == "alt":
            media["description"] = _meta(texts["alt"])
        files[prefix + uri] = _jpeg(texts["alt"] if pattern == "exif" else None)
        post["attachments"] = [{"data": [{"media": media}]}]
        if "tags" in texts:
            post["tags"] = [{"name": _meta(texts["tags"])}]
        fb.append(post)
        truth.append(_item(ctx, site, "facebook", str(ts), ids))
    files[prefix + posts_path] = json.dumps(fb, indent=2).encode()
    _zip(folder / f"facebook-{site.id}-2026-11-18.zip", files)
    # An older download of the same Page: a post since deleted is in it, and it must not be read.
    texts, _ = w.texts("caption")
    old = [{"timestamp": stamp0 - 86400, "data": [{"post": _meta(texts["caption"])}]}]
    _zip(folder / f"facebook-{site.id}-2026-09-01.zip", {f"facebook-{site.id}-2026-09-01/{posts_path}":
                                                         json.dumps(old).encode()})
    os.utime(folder / f"facebook-{site.id}-2026-09-01.zip", (1788000000, 1788000000))
    os.utime(folder / f"facebook-{site.id}-2026-11-18.zip", (1795000000, 1795000000))
    # Instagram: an extracted folder (2024 layout) on odd schools, a zip of the older layout on even ones.
    ig = []
    for i, pattern in enumerate(["caption", "tagged", "caption", "staff", "first_only", "none"]):
        texts, ids = w.texts(pattern)
        ts = stamp0 + 3600 + 86400 * 7 * i
        media = {"uri": f"media/posts/202609/{site.id}_{i:02d}.jpg", "creation_timestamp": ts,
                 "title": _meta(texts.get("caption") or texts.get("description", ""))}
        if "tags" in texts:
            media["tagged_users"] = [{"name": _meta(texts["tags"])}]
        ig.append({"media": [media], "title": media["title"], "creation_timestamp": ts})
        truth.append(_item(ctx, site, "instagram", str(ts), ids))
    ig_path = "your_instagram_activity/content/posts_1.json" if idx % 2 else "content/posts_1.json"
    if idx % 2:
        target = folder / f"instagram-{site.id}-2026-11-18" / ig_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(ig, indent=2), encoding="utf-8")
        os.utime(folder / f"instagram-{site.id}-2026-11-18", (1795000000, 1795000000))
    else:
        _zip(folder / f"instagram-{site.id}-2026-11-18.zip", {ig_path: json.dumps(ig).encode()})
        os.utime(folder / f"instagram-{site.id}-2026-11-18.zip", (1795000000, 1795000000))
    # X account archive: data/tweets.js with alt text on photos.
    tweets = []
    xfiles: dict[str, bytes] = {}
    for pattern in ["caption", "caption", "alt", "staff", "alumni", "none"]:
        texts, ids = w.texts(pattern)
        tid = str(1830000000000000000 + rng.randrange(10**15))
        tweet: dict[str, Any] = {"id_str": tid, "full_text": texts.get("caption") or texts.get("description", ""),
                                 "created_at": "Wed Sep 10 16:00:00 +0000 2026", "entities": {"user_mentions": []}}
        if pattern == "alt":
            tweet["extended_entities"] = {"media": [{"media_url_https": f"https://pbs.twimg.com/media/{tid[-8:]}.jpg",
                                                     "type": "photo", "ext_alt_text": texts["alt"]}]}
            xfiles[f"data/tweets_media/{tid}-{tid[-8:]}.jpg"] = _jpeg(None)
        tweets.append({"tweet": tweet})
        truth.append(_item(ctx, site, "x", tid, ids))
    xfiles["data/tweets.js"] = ("window.YTD.tweets.part0 = " + json.dumps(tweets, indent=2)).encode()
    xfiles["data/manifest.js"] = b'window.__THAR_CONFIG = {"userInfo": {"userName": "school"}}'
    _zip(folder / f"twitter-2026-11-18-{hashlib.sha1(site.id.encode()).hexdigest()[:12]}.zip", xfiles)
    os.utime(folder / f"twitter-2026-11-18-{hashlib.sha1(site.id.encode()).hexdigest()[:12]}.zip",
             (1795000000, 1795000000))


def _alumni(ctx: Ctx, site: SiteInfo, index: NameIndex, rng: random.Random) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    while len(out) < ALUMNI_PER_SCHOOL:
        given, family = ctx.pools.person(rng)
        if index.identifies(f"{given} {family}") == set() and index.identifies(given.split()[0] + " " +
                                                                               family.split()[0]) == set():
            out.append((given, family))
    return out


def build_social(ctx: Ctx) -> dict[str, dict[str, Any]]:
    """Write every school's channel, blog and exports, the alumni export and the emulator's seeds; returns the
    profile entries per site (``youtube_channels``, ``blogs``, ``social_exports``)."""
    by_site: dict[str, list[Student]] = {}
    for st in ctx.students:
        by_site.setdefault(st.site_id, []).append(st)
    adults = adults_by_site(ctx)
    schools = [s for s in ctx.sites if s.is_school and s.has_website and by_site.get(s.id)]
    alumni: dict[str, list[tuple[str, str]]] = {}
    every_adult = [a for v in adults.values() for a in v]
    base = NameIndex(ctx.students, every_adult) if ctx.scale.name == "standard" else None
    for site in schools:
        index = base or NameIndex(by_site[site.id], adults.get(site.id, []))
        alumni[site.id] = _alumni(ctx, site, index, ctx.rng(f"alumni:{site.id}"))
    every_alumnus = [a for v in alumni.values() for a in v]
    district = NameIndex(ctx.students, every_adult + every_alumnus) if ctx.scale.name == "standard" else None
    truth: list[dict[str, Any]] = []
    channels, blogs, entries = [], [], {}
    for idx, site in enumerate(schools):
        index = district or NameIndex(by_site[site.id], adults.get(site.id, []) + alumni[site.id])
        staff = [f"{g} {f}" for g, f in ctx.staff_names.get(site.id, [])[:20]]
        staff = [s for s in staff if index.identifies(s) == set()][:8]
        w = _Writer(ctx, site, by_site[site.id], index, staff, [f"{g} {f}" for g, f in alumni[site.id]],
                    ctx.rng(f"social:{site.id}"))
        channel = _youtube(ctx, w, truth)
        blog = _blogger(ctx, w, truth)
        _exports(ctx, w, idx, truth)
        channels.append(channel)
        blogs.append(blog)
        entries[site.id] = {"youtube_channels": [channel["id"]], "blogs": [blog["url"]],
                            "social_exports": [f"social/{site.id}"]}
    write_json(ctx.out / "youtube" / "channels.json", channels)
    write_json(ctx.out / "blogger" / "blogs.json", blogs)
    with (ctx.out / "sis" / "alumni.csv").open("w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["student_id", "legal_first", "legal_last", "preferred_first", "preferred_last", "grade",
                      "site_id", "graduated", "adult"])
        for site in schools:
            for n, (given, family) in enumerate(alumni[site.id]):
                out.writerow([f"A{site.id[:3].upper()}{n:04d}", given, family, "", "", "12", site.id, "2019", "Y"])
    write_json(ctx.out / "truth" / "social.json", {"as_of": AS_OF.isoformat(), "items": truth})
    ctx.summary["social_items"] = sum(1 for t in truth if t["public"])
    ctx.summary["social_items_naming_students"] = sum(1 for t in truth if t["public"] and t["student_ids"])
    ctx.summary["social_violations"] = sum(len(t["violations"]) for t in truth)
    return entries
