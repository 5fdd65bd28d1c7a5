"""Platform exports read without trusting them: Meta's "Download your information" JSON (Facebook Page or
profile, Instagram) and X's account archive, as a ``.zip`` or an extracted folder.

The communications office downloads an account's archive and drops it in the site's ``social_exports``
folder. Nothing is ever extracted or written: zip entries are read in memory, each at most its limit and
never past what its header declares; folders are walked without following symbolic links and every path is
checked to stay inside the folder. A hostile archive cannot make the audit read outside the export folder,
write anything, or spend unbounded memory or time:

* an entry whose name is absolute, climbs out (``..``), names a drive, holds a NUL or is a symbolic link is
  not read (a problem naming it);
* a JSON file over ``max_json_bytes`` or a media file over ``max_media_bytes`` (its metadata is not read),
  an entry compressed more than ``max_ratio`` to one, or one decompressing past its declared size, is refused;
* an archive with more than ``max_entries`` entries, or a posts file that is not valid JSON or not of the
  layout below, is an :class:`ExportError` naming the file and what was expected: the account is held (its
  stored posts stay as they were, never taken for deleted) rather than read as empty.

Layouts read (the file names these export versions use; a prefix folder such as ``facebook-page-2026-11/`` is
allowed), and the fields read from them:

=============  ===========================================================  ======================================
platform       posts file(s)                                                fields
=============  ===========================================================  ======================================
Facebook       ``your_facebook_activity/posts/your_posts__check_ins__photos  ``timestamp``, ``data[].post``
               _and_videos_N.json`` (2024 layout), ``posts/your_posts_N.json`` (text), ``title``, ``tags[].name``,
               (before 2024), ``posts/profile_posts_N.json`` (Pages)        ``attachments[].data[].media``
                                                                            (``uri``, ``title``,
                                                                            ``description``, ``creation_timestamp``,
                                                                            ``media_metadata``)
Instagram      ``your_instagram_activity/content/posts_N.json`` (2024),     ``creation_timestamp``, ``title``
               ``content/posts_N.json`` (before)                            (caption), ``media[]`` (``uri``,
                                                                            ``title``, ``creation_timestamp``,
                                                                            ``tagged_users[]``)
X              ``data/tweets.js``, ``data/tweets-partN.js``, ``data/tweet.  ``tweet.id_str``, ``full_text``,
               js`` (older): ``window.YTD.<name>.partN = [...]``            ``created_at``,
                                                                            ``entities.user_mentions[].name``,
                                                                            ``extended_entities.media[]``
                                                                            (``media_url_https``, ``type``,
                                                                            ``ext_alt_text``); media files in
                                                                            ``data/tweets_media/<id>-<file>``
=============  ===========================================================  ======================================

Meta writes text as UTF-8 bytes escaped one by one (``"\\u00c3\\u00a9"`` for ``é``); such strings are
repaired. Photos' EXIF/IPTC/XMP captions are read from the media files with the website audit's image reader
(decompression bombs refused from the header).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from compliance.photos.evidence import clean_text, read_image
from compliance.vocabulary import FindingKind, Platform

__all__ = [
    "ExportError",
    "ExportLimits",
    "ExportPost",
    "ExportRead",
    "read_export_folder",
]


@dataclass(frozen=True)
class ExportLimits:
    """How much of an export is ever read (all sizes in bytes)."""

    max_json_bytes: int = 64 * 1024 * 1024
    max_media_bytes: int = 25 * 1024 * 1024
    max_entries: int = 200_000
    max_ratio: float = 200.0
    max_pixels: int = 50_000_000
    max_posts: int = 100_000
    max_text_chars: int = 4_000


class ExportError(Exception):
    """An export that cannot be read as the layout it claims: the message names the file and what was expected."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


@dataclass
class ExportPost:
    """One post as the export holds it: its texts and media (``(path in export, kind, texts)``)."""

    platform: Platform
    item_id: str
    url: str
    version: str
    kind: str
    texts: dict[str, str]
    media: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)


@dataclass
class ExportRead:
    """What one folder held, per platform: posts of the newest export, and problems as ``(file, reason)``."""

    posts: dict[Platform, list[ExportPost]] = field(default_factory=dict)
    errors: dict[Platform, str] = field(default_factory=dict)  # platform -> why its newest export is not read
    sources: dict[Platform, str] = field(default_factory=dict)  # platform -> the export read
    problems: list[tuple[str, str]] = field(default_factory=list)


# --- reading files without trusting them --------------------------------------------------------------------


def _unsafe_name(name: str) -> str | None:
    """Why an archive member name is not read, or None when it is a plain relative path."""
    if "\x00" in name:
        return "name holds a NUL character"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    parts = re.split(r"[\\/]+", name)
    if any(p == ".." for p in parts):
        return "path climbs out of the export (..)"
    return None


def _mb(size: int) -> str:
    return f"{size / 1024**3:.1f} GB" if size >= 1024**3 else f"{size / 1024**2:.1f} MB"


class _Source:
    """Files of one export by their path inside it (posix, relative)."""

    label: str
    names: dict[str, Any]

    def size(self, name: str) -> int:
        raise NotImplementedError

    def read(self, name: str, limit: int) -> bytes:
        raise NotImplementedError


class _ZipSource(_Source):
    def __init__(self, path: Path, label: str, limits: ExportLimits, problems: list[tuple[str, str]]) -> None:
        self.label = label
        self.limits = limits
        try:
            self.zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, ValueError) as exc:
            raise ExportError(label, f"not a readable zip archive ({type(exc).__name__})") from None
        infos = self.zf.infolist()
        if len(infos) > limits.max_entries:
            raise ExportError(label, f"{len(infos)} entries, more than the {limits.max_entries} an export may hold")
        self.names = {}
        for info in infos:
            if info.is_dir():
                continue
            why = _unsafe_name(info.filename)
            mode = info.external_attr >> 16
            if why is None and stat.S_ISLNK(mode):
                why = "symbolic link"
            if why is not None:
                problems.append((f"{label}!{info.filename[:200]}", f"not read: {why}"))
                continue
            self.names.setdefault(info.filename.replace("\\", "/"), info)

    def size(self, name: str) -> int:
        return int(self.names[name].file_size)

    def read(self, name: str, limit: int) -> bytes:
        info: zipfile.ZipInfo = self.names[name]
        where = f"{self.label}!{name}"
        if info.file_size > limit:
            raise ExportError(where, f"{_mb(info.file_size)} uncompressed, over the {_mb(limit)} limit: not read")
        if info.compress_size and info.file_size / info.compress_size > self.limits.max_ratio:
            raise ExportError(
                where,
                f"compressed {info.file_size / info.compress_size:.0f} to 1 (more than {self.limits.max_ratio:.0f}): "
                "a zip bomb, not read",
            )
        try:
            with self.zf.open(info) as fh:
                data = fh.read(min(limit, info.file_size) + 1)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
            raise ExportError(where, f"entry not readable ({type(exc).__name__})") from None
        if len(data) > info.file_size:
            raise ExportError(where, "decompresses past the size its header declares: not read")
        return data

    def close(self) -> None:
        self.zf.close()


class _DirSource(_Source):
    def __init__(self, root: Path, label: str, limits: ExportLimits, problems: list[tuple[str, str]]) -> None:
        self.label = label
        self.root = root.resolve()
        self.names = {}
        count = 0
        for folder, dirs, files in os.walk(self.root, followlinks=False):
            here = Path(folder)
            for d in list(dirs):
                if (here / d).is_symlink():
                    problems.append((f"{label}/{(here / d).relative_to(self.root).as_posix()}",
                                     "not read: symbolic link"))
                    dirs.remove(d)
            for f in files:
                count += 1
                if count > limits.max_entries:
                    raise ExportError(label, f"more than the {limits.max_entries} files an export may hold")
                path = here / f
                rel = path.relative_to(self.root).as_posix()
                info = os.lstat(path)
                if stat.S_ISLNK(info.st_mode):
                    problems.append((f"{label}/{rel}", "not read: symbolic link"))
                    continue
                if not stat.S_ISREG(info.st_mode):
                    problems.append((f"{label}/{rel}", "not read: not a regular file"))
                    continue
                self.names[rel] = info.st_size

    def size(self, name: str) -> int:
        return int(self.names[name])

    def read(self, name: str, limit: int) -> bytes:
        where = f"{self.label}/{name}"
        path = (self.root / name).resolve()
        if not path.is_relative_to(self.root):
            raise ExportError(where, "resolves outside the export folder: not read")
        size = self.names[name]
        if size > limit:
            raise ExportError(where, f"{_mb(size)}, over the {_mb(limit)} limit: not read")
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        try:
            fd = os.open(path, flags)
        except OSError as exc:
            raise ExportError(where, f"not readable ({exc.strerror})") from None
        with os.fdopen(fd, "rb") as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise ExportError(where, f"grew past the {_mb(limit)} limit while read: not read")
        return data

    def close(self) -> None:
        pass


# --- layouts ------------------------------------------------------------------------------------------------

_LAYOUTS: dict[Platform, re.Pattern[str]] = {
    Platform.FACEBOOK: re.compile(
        r"^(?P<prefix>(?:[^/]+/)*?)(?:your_facebook_activity/)?posts/"
        r"(?:your_posts__check_ins__photos_and_videos|your_posts|profile_posts)_\d+\.json$"
    ),
    Platform.INSTAGRAM: re.compile(r"^(?P<prefix>(?:[^/]+/)*?)(?:your_instagram_activity/)?content/posts_\d+\.json$"),
    Platform.X: re.compile(r"^(?P<prefix>(?:[^/]+/)*?)data/(?:tweets(?:-part\d+)?|tweet)\.js$"),
}
EXPECTED = (
    "your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json or posts/your_posts_1.json "
    "(Facebook), your_instagram_activity/content/posts_1.json or content/posts_1.json (Instagram), "
    "data/tweets.js (X)"
)
_YTD = re.compile(r"^\s*window\.YTD\.[A-Za-z0-9_]+\.part\d+\s*=\s*")
_VIDEO_EXT = re.compile(r"\.(?:mp4|mov|m4v|webm|avi|3gp)$", re.I)
_IMAGE_EXT = re.compile(r"\.(?:jpe?g|png|gif|webp|heic|tiff?)$", re.I)


def _repair(text: str) -> str:
    """Meta's exports escape UTF-8 bytes as code points 0-255; put them back together when they are that."""
    if text and all(ord(ch) < 256 for ch in text) and any(ord(ch) >= 0x80 for ch in text):
        try:
            return text.encode("latin-1").decode("utf-8")
        except UnicodeDecodeError:
            return text
    return text


def _text(value: Any, limits: ExportLimits) -> str:
    return clean_text(_repair(value), limits.max_text_chars) if isinstance(value, str) else ""


def _load_json(source: _Source, name: str, limits: ExportLimits) -> Any:
    raw = source.read(name, limits.max_json_bytes)
    where = f"{source.label}{'!' if isinstance(source, _ZipSource) else '/'}{name}"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ExportError(where, "not UTF-8 text, expected the platform's JSON") from None
    if name.endswith(".js"):
        head = _YTD.match(text)
        if head is None:
            raise ExportError(where, "expected an X archive file starting 'window.YTD.<name>.part0 = ['")
        text = text[head.end() :]
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ExportError(where, f"not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}") from None
    except RecursionError:
        raise ExportError(where, "JSON nested too deeply") from None


def _records(data: Any, where: str, key: str | None = None) -> list[dict[str, Any]]:
    """The list of post objects a posts file holds (a list, or an object whose one list is it)."""
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if key and isinstance(data.get(key), list):
            data = data[key]
        elif len(lists) == 1:
            data = lists[0]
    if not isinstance(data, list) or not all(isinstance(x, dict) for x in data):
        raise ExportError(where, "expected a JSON list of post objects")
    return data


def _version(record: Any) -> str:
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:40]


def _exif_texts(meta: Any, limits: ExportLimits) -> dict[str, str]:
    """Texts in Meta's ``media_metadata`` (``photo_metadata.exif_data[]``): a description, a title."""
    out: dict[str, str] = {}
    if not isinstance(meta, dict):
        return out
    for kind in ("photo_metadata", "video_metadata"):
        for entry in (meta.get(kind) or {}).get("exif_data") or []:
            if isinstance(entry, dict):
                for k in ("description", "title", "caption"):
                    if entry.get(k):
                        out[f"media_metadata_{k}"] = _text(entry[k], limits)
    return out


def _facebook(records: list[dict[str, Any]], limits: ExportLimits, folder: str) -> list[ExportPost]:
    posts = []
    for rec in records[: limits.max_posts]:
        stamp = rec.get("timestamp")
        body = " ".join(_text(d.get("post"), limits) for d in rec.get("data") or [] if isinstance(d, dict))
        texts = {"caption": body, "title": _text(rec.get("title"), limits)}
        tags = [_text(t.get("name"), limits) for t in rec.get("tags") or [] if isinstance(t, dict)]
        if tags:
            texts["tags"] = "; ".join(t for t in tags if t)
        media = []
        for att in rec.get("attachments") or []:
            for d in (att.get("data") or []) if isinstance(att, dict) else []:
                m = d.get("media") if isinstance(d, dict) else None
                if isinstance(m, dict) and isinstance(m.get("uri"), str):
                    mt = {"media_title": _text(m.get("title"), limits),
                          "media_description": _text(m.get("description"), limits)} | _exif_texts(
                        m.get("media_metadata"), limits)
                    media.append((m["uri"], "video" if _VIDEO_EXT.search(m["uri"]) else "photo", mt))
        key = f"{stamp}-{hashlib.sha1(body.encode()).hexdigest()[:10]}"
        posts.append(ExportPost(Platform.FACEBOOK, key, f"facebook-export:{folder}#post-{key}", _version(rec),
                                FindingKind.POST, texts, media))
    return posts


def _instagram(records: list[dict[str, Any]], limits: ExportLimits, folder: str) -> list[ExportPost]:
    posts = []
    for rec in records[: limits.max_posts]:
        items = [m for m in rec.get("media") or [] if isinstance(m, dict)]
        caption = _text(rec.get("title"), limits) or (_text(items[0].get("title"), limits) if items else "")
        stamp = rec.get("creation_timestamp") or (items[0].get("creation_timestamp") if items else "")
        texts = {"caption": caption}
        media = []
        tags: list[str] = []
        for m in items:
            for t in m.get("tagged_users") or m.get("usertags") or []:
                if isinstance(t, dict):
                    tags.append(_text(t.get("name") or t.get("username") or t.get("value"), limits))
            uri = m.get("uri")
            if isinstance(uri, str):
                mt = {"media_title": _text(m.get("title"), limits) if m.get("title") != rec.get("title") else ""}
                mt |= _exif_texts(m.get("media_metadata"), limits)
                media.append((uri, "video" if _VIDEO_EXT.search(uri) else "photo", mt))
        if tags:
            texts["tags"] = "; ".join(t for t in tags if t)
        key = f"{stamp}-{hashlib.sha1(caption.encode()).hexdigest()[:10]}"
        posts.append(ExportPost(Platform.INSTAGRAM, key, f"instagram-export:{folder}#post-{key}", _version(rec),
                                FindingKind.POST, texts, media))
    return posts


def _x(records: list[dict[str, Any]], limits: ExportLimits, prefix: str, names: dict[str, Any]) -> list[ExportPost]:
    posts = []
    for rec in records[: limits.max_posts]:
        tweet = rec.get("tweet") if isinstance(rec.get("tweet"), dict) else rec
        tid = str(tweet.get("id_str") or tweet.get("id") or "")
        if not tid.isdigit():
            continue
        texts = {"caption": _text(tweet.get("full_text") or tweet.get("text"), limits)}
        mentions = [_text(m.get("name"), limits) for m in (tweet.get("entities") or {}).get("user_mentions") or []
                    if isinstance(m, dict)]
        if mentions:
            texts["tags"] = "; ".join(m for m in mentions if m)
        media = []
        for m in (tweet.get("extended_entities") or {}).get("media") or []:
            if not isinstance(m, dict):
                continue
            url = str(m.get("media_url_https") or m.get("media_url") or "")
            base = url.rsplit("/", 1)[-1]
            local = f"{prefix}data/tweets_media/{tid}-{base}"
            mt = {"alt": _text(m.get("ext_alt_text"), limits)}
            kind = "video" if m.get("type") in ("video", "animated_gif") else "photo"
            media.append((local if local in names else url, kind, mt))
        posts.append(ExportPost(Platform.X, tid, f"https://x.com/i/web/status/{tid}", _version(tweet),
                                FindingKind.POST, texts, media))
    return posts


# --- one export, one folder -----------------------------------------------------------------------------------


def _media_texts(source: _Source, prefix: str, uri: str, limits: ExportLimits,
                 problems: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """The media file's path in the export and the captions its EXIF/IPTC/XMP hold (when it is a photo that
    may be read)."""
    sep = "!" if isinstance(source, _ZipSource) else "/"
    why = _unsafe_name(uri)
    if why is not None:
        problems.append((f"{source.label}{sep}{uri[:200]}", f"media path not followed: {why}"))
        return uri, {}
    name = uri if uri in source.names else f"{prefix}{uri}"
    if name not in source.names:
        return uri, {}  # exports often leave media out, or the uri is a web address: nothing to read
    if not _IMAGE_EXT.search(name):
        return name, {}
    size = source.size(name)
    if size > limits.max_media_bytes:
        problems.append((f"{source.label}{sep}{name}",
                         f"{_mb(size)} media file, over the {_mb(limits.max_media_bytes)} limit: its metadata was "
                         "not read"))
        return name, {}
    try:
        data = source.read(name, limits.max_media_bytes)
    except ExportError as exc:
        problems.append((exc.file, exc.reason))
        return name, {}
    facts = read_image(data, limits.max_pixels)
    if facts.error:
        problems.append((f"{source.label}{sep}{name}", f"image metadata not read: {facts.error}"))
    return name, dict(facts.texts)


def _read_export(
    source: _Source, limits: ExportLimits, problems: list[tuple[str, str]]
) -> dict[Platform, list[ExportPost]]:
    found: dict[Platform, list[tuple[str, str]]] = {}
    for name in source.names:
        for platform, pattern in _LAYOUTS.items():
            m = pattern.match(name)
            if m:
                found.setdefault(platform, []).append((name, m.group("prefix")))
    if not found:
        raise ExportError(source.label, f"not a Facebook, Instagram or X export: expected {EXPECTED}")
    sep = "!" if isinstance(source, _ZipSource) else "/"
    out: dict[Platform, list[ExportPost]] = {}
    for platform, files in found.items():
        posts: list[ExportPost] = []
        for name, prefix in sorted(files):
            where = f"{source.label}{sep}{name}"
            data = _load_json(source, name, limits)
            if platform == Platform.FACEBOOK:
                batch = _facebook(_records(data, where), limits, source.label)
            elif platform == Platform.INSTAGRAM:
                batch = _instagram(_records(data, where, "ig_posts"), limits, source.label)
            else:
                batch = _x(_records(data, where), limits, prefix, source.names)
            posts += batch
            for post in batch:
                post.media = [
                    (path, kind, texts | extra)
                    for uri, kind, texts in post.media
                    for path, extra in [_media_texts(source, prefix, uri, limits, problems)]
                ]
        out[platform] = posts
    return out


def _exports_in(folder: Path, problems: list[tuple[str, str]]) -> Iterator[Path]:
    """Zip files and export folders directly in ``folder``, newest first (modification time, then name)."""
    entries = []
    for entry in folder.iterdir():
        if entry.is_symlink():
            problems.append((entry.name, "not read: symbolic link (an export is a zip file or a folder inside "
                                         "the export folder)"))
            continue
        if entry.is_dir() or (entry.is_file() and entry.suffix.lower() == ".zip"):
            entries.append(entry)
    entries.sort(key=lambda p: (p.lstat().st_mtime, p.name), reverse=True)
    yield from entries


def read_export_folder(folder: Path, limits: ExportLimits | None = None) -> ExportRead:
    """Posts of the newest export of each platform found in ``folder`` (older exports of a platform are the
    same account's earlier downloads and are not read).

    An export that is not of a known layout, or whose posts file is broken, is recorded in ``problems``; when it
    was the newest of a platform it names, that platform lands in ``errors`` and is not read tonight. Nothing
    outside ``folder`` is read; nothing is written.
    """
    limits = limits or ExportLimits()
    read = ExportRead()
    root = folder.resolve()
    if not root.is_dir():
        read.problems.append((str(folder), "export folder does not exist"))
        return read
    for path in _exports_in(root, read.problems):
        label = path.name
        problems: list[tuple[str, str]] = []
        source: _Source | None = None
        try:
            source = (_ZipSource if path.is_file() else _DirSource)(path, label, limits, problems)
            claimed = {p for p, pattern in _LAYOUTS.items() if any(pattern.match(n) for n in source.names)}
            if claimed and claimed <= set(read.sources) | set(read.errors):
                read.problems.append((label, "an older export of an account already read from a newer one: skipped"))
                continue
            try:
                posts = _read_export(source, limits, problems)
            except ExportError as exc:
                for platform in claimed - set(read.sources) - set(read.errors):
                    read.errors[platform] = str(exc)
                problems.append((exc.file, exc.reason))
                continue
            for platform, items in posts.items():
                if platform in read.sources or platform in read.errors:
                    continue
                read.posts[platform] = items
                read.sources[platform] = label
        except ExportError as exc:
            problems.append((exc.file, exc.reason))
        finally:
            if isinstance(source, _ZipSource):
                source.close()
            read.problems += problems
    return read


def post_appearances(post: ExportPost) -> list[tuple[str, dict[str, str]]]:
    """One appearance per post: its own texts (caption, tags) and those of its media, all bound to the post.

    The image column of its findings shows the first media file (or nothing, for a text-only post).
    """
    texts = {k: v for k, v in post.texts.items() if v}
    for i, (_path, _kind, media_texts) in enumerate(post.media):
        for k, v in media_texts.items():
            if v:
                texts[f"{k}#{i}" if i else k] = v
    image = post.media[0][0] if post.media else ""
    return [(image or post.url, texts)]


def post_kind(post: ExportPost) -> str:
    """``video`` when the post's media is a video, else ``post``."""
    return FindingKind.VIDEO if post.media and all(k == "video" for _, k, _ in post.media) else FindingKind.POST


def folder_label(folder: str | os.PathLike[str]) -> str:
    """How an export folder is named in findings and problems: its last path parts, never an absolute path."""
    parts = PurePosixPath(str(folder).replace("\\", "/")).parts
    return "/".join(parts[-2:]) if parts else str(folder)
