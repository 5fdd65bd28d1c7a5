"""Platform exports (Meta "Download your information", X archive) read without trusting them.

Hostile archives: malformed JSON, a zip bomb, a 2 GB media file (in a zip and in a folder), entries climbing
out of the export, absolute paths and symbolic links. Each gets a clear error naming the file or is skipped
with a reason; nothing outside the export folder is read, nothing anywhere is written.
"""

from __future__ import annotations

import io
import json
import os
import struct
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from compliance.social.exports import ExportLimits, read_export_folder
from compliance.vocabulary import Platform

FB_2024 = "your_facebook_activity/posts/your_posts__check_ins__photos_and_videos_1.json"
SECRET = "Zebulon Quackenbush-Outside"  # written outside every export folder: must never be read


def _jpeg(description: str | None = None) -> bytes:
    import piexif
    from PIL import Image

    buf = io.BytesIO()
    extra = {}
    if description:
        extra = {"exif": piexif.dump({"0th": {piexif.ImageIFD.ImageDescription: description.encode()}})}
    Image.new("RGB", (16, 12), (10, 20, 30)).save(buf, "JPEG", **extra)
    return buf.getvalue()


def _zip(path: Path, files: dict[str, bytes], level: int = zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", level) as zf:
        for name, data in files.items():
            zf.writestr(zipfile.ZipInfo(name, (2026, 11, 18, 9, 0, 0)), data, level)
    return path


def _fb_post(text: str, uri: str | None = None, **extra: object) -> dict:
    post: dict = {"timestamp": 1790000000, "data": [{"post": text.encode().decode("latin-1")}], **extra}
    if uri:
        post["attachments"] = [{"data": [{"media": {"uri": uri, "description": "", "title": ""}}]}]
    return post


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file beside (outside) the export folder, and the folder itself, empty."""
    secret = tmp_path / "outside.json"
    secret.write_text(json.dumps([_fb_post(SECRET)]))
    (tmp_path / "exports").mkdir()
    return tmp_path


def _everything(tmp_path: Path) -> set[Path]:
    return {p for p in tmp_path.rglob("*")}


def _texts(read) -> str:
    return json.dumps([p.texts | {"media": p.media} for posts in read.posts.values() for p in posts])


def test_layouts_and_fields_read(tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    _zip(folder / "facebook-lincoln-2026-11-18.zip", {
        f"facebook-lincoln-2026-11-18/{FB_2024}": json.dumps([
            _fb_post("Congrats to José Núñez!", "your_facebook_activity/posts/media/a.jpg",
                     tags=[{"name": "Ana Pérez".encode().decode("latin-1")}]),
        ]).encode(),
        "facebook-lincoln-2026-11-18/your_facebook_activity/posts/media/a.jpg": _jpeg("Luis Ortega at the fair"),
    })
    (folder / "instagram" / "content").mkdir(parents=True)
    (folder / "instagram" / "content" / "posts_1.json").write_text(json.dumps([
        {"media": [{"uri": "media/posts/1.jpg", "creation_timestamp": 1790000100, "title": "Field day!",
                    "tagged_users": [{"name": "Mia Chen"}]}], "title": "Field day!", "creation_timestamp": 1790000100}
    ]))
    tweets = [{"tweet": {"id_str": "1830000000000000001", "full_text": "Robotics team", "extended_entities": {
        "media": [{"media_url_https": "https://pbs.twimg.com/media/abc.jpg", "type": "photo",
                   "ext_alt_text": "Omar Haddad with the robot"}]}}}]
    _zip(folder / "twitter-2026.zip", {"data/tweets.js": b"window.YTD.tweets.part0 = " + json.dumps(tweets).encode()})
    read = read_export_folder(folder)
    assert set(read.posts) == {Platform.FACEBOOK, Platform.INSTAGRAM, Platform.X} and not read.errors
    fb = read.posts[Platform.FACEBOOK][0]
    assert fb.texts["caption"] == "Congrats to José Núñez!" and fb.texts["tags"] == "Ana Pérez"  # Meta text repaired
    assert fb.media[0][2]["exif"] == "Luis Ortega at the fair"  # EXIF of the media file in the export
    assert read.posts[Platform.INSTAGRAM][0].texts == {"caption": "Field day!", "tags": "Mia Chen"}
    x = read.posts[Platform.X][0]
    assert x.url == "https://x.com/i/web/status/1830000000000000001"
    assert x.media[0][2]["alt"] == "Omar Haddad with the robot"


def test_malformed_json_holds_the_platform_with_the_file_named(outside: Path) -> None:
    folder = outside / "exports"
    _zip(folder / "fb.zip", {FB_2024: b'[{"timestamp": 1790000000, "data": [{"post": "x"}]},\n  {"timestamp": oops}]'})
    read = read_export_folder(folder)
    assert Platform.FACEBOOK not in read.posts
    assert read.errors[Platform.FACEBOOK] == (
        f"fb.zip!{FB_2024}: not valid JSON (line 2, column 17): Expecting value"
    )
    _zip(folder / "fb.zip", {FB_2024: json.dumps({"posts": "not a list"}).encode()})
    expected = f"fb.zip!{FB_2024}: expected a JSON list of post objects"
    assert read_export_folder(folder).errors[Platform.FACEBOOK] == expected


def test_unknown_layout_is_an_error_naming_what_was_expected(outside: Path) -> None:
    folder = outside / "exports"
    _zip(folder / "random.zip", {"notes/readme.txt": b"hello"})
    read = read_export_folder(folder)
    assert not read.posts
    assert read.problems == [("random.zip", read.problems[0][1])]
    assert read.problems[0][1].startswith("not a Facebook, Instagram or X export: expected your_facebook_activity/")
    (folder / "random.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    assert read_export_folder(folder).problems == [("random.zip", "not a readable zip archive (BadZipFile)")]


def test_zip_bomb_entries_are_refused_without_being_inflated(outside: Path) -> None:
    folder = outside / "exports"
    _zip(folder / "fb.zip", {
        FB_2024: json.dumps([_fb_post("Hello", "media/bomb.jpg")]).encode(),
        "media/bomb.jpg": b"\0" * (20 * 1024 * 1024),  # 20 MB of zeros: about 20 KB compressed
    })
    read = read_export_folder(folder)
    assert read.posts[Platform.FACEBOOK][0].texts["caption"] == "Hello"  # the post is still read
    (where, reason), = read.problems
    assert where == "fb.zip!media/bomb.jpg" and "a zip bomb, not read" in reason
    _zip(folder / "fb.zip", {FB_2024: b"[" + b" " * (80 * 1024 * 1024) + b"]"})  # a posts file past the limit
    assert "over the 64.0 MB limit: not read" in read_export_folder(folder).errors[Platform.FACEBOOK]


def _declare_size(path: Path, name: str, size: int) -> None:
    """Make the zip's central directory claim ``size`` bytes for ``name`` (what a 2 GB member looks like)."""
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        name_len = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_len].decode() == name:
            struct.pack_into("<I", data, at + 24, size)
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))


def test_a_2gb_media_file_is_skipped_with_a_reason(outside: Path) -> None:
    folder = outside / "exports"
    zipped = _zip(folder / "fb.zip", {FB_2024: json.dumps([_fb_post("Game night", "media/big.jpg")]).encode(),
                                      "media/big.jpg": _jpeg()}, level=zipfile.ZIP_STORED)
    _declare_size(zipped, "media/big.jpg", 2 * 1024**3 - 1)
    read = read_export_folder(folder)
    assert read.posts[Platform.FACEBOOK][0].texts["caption"] == "Game night"
    assert read.problems == [("fb.zip!media/big.jpg",
                              "2.0 GB media file, over the 25.0 MB limit: its metadata was not read")]
    zipped.unlink()
    extracted = folder / "facebook-2026-11-18"
    (extracted / "your_facebook_activity" / "posts").mkdir(parents=True)
    (extracted / FB_2024).write_text(json.dumps([_fb_post("Game night", "media/big.jpg")]))
    (extracted / "media").mkdir()
    with (extracted / "media" / "big.jpg").open("wb") as fh:
        fh.truncate(2 * 1024**3)  # a sparse 2 GB file: no disk, but 2 GB to anyone who reads it
    read = read_export_folder(folder)
    assert read.posts[Platform.FACEBOOK][0].texts["caption"] == "Game night"
    assert read.problems == [("facebook-2026-11-18/media/big.jpg",
                              "2.0 GB media file, over the 25.0 MB limit: its metadata was not read")]


def test_nothing_outside_the_export_folder_is_read_or_written(outside: Path) -> None:
    folder = outside / "exports"
    before = _everything(outside)
    _zip(folder / "fb.zip", {
        FB_2024: json.dumps([_fb_post("Hello", "../../outside.json"), _fb_post("Again", "/etc/passwd")]).encode(),
        f"../../{FB_2024}": json.dumps([_fb_post(SECRET)]).encode(),  # a traversal entry with the posts file's name
        "/etc/cron.d/evil": b"* * * * * root true",
        "C:/Windows/evil.json": b"[]",
    })
    extracted = folder / "instagram-export"
    (extracted / "content").mkdir(parents=True)
    (extracted / "content" / "posts_1.json").write_text(json.dumps([
        {"media": [{"uri": "../../outside.json", "title": "Hi", "creation_timestamp": 1}], "title": "Hi",
         "creation_timestamp": 1},
        {"media": [{"uri": "media/link.jpg", "title": "Yo", "creation_timestamp": 2}], "title": "Yo",
         "creation_timestamp": 2},
    ]))
    (extracted / "media").mkdir()
    os.symlink(outside / "outside.json", extracted / "media" / "link.jpg")
    os.symlink(outside, extracted / "escape")
    made = _everything(outside) - before
    read = read_export_folder(folder)
    assert _everything(outside) - before == made  # reading wrote nothing, anywhere
    assert SECRET not in _texts(read)
    assert [p.texts["caption"] for p in read.posts[Platform.FACEBOOK]] == ["Hello", "Again"]
    assert [p.texts["caption"] for p in read.posts[Platform.INSTAGRAM]] == ["Hi", "Yo"]
    reasons = dict(read.problems)
    assert reasons[f"fb.zip!../../{FB_2024}"] == "not read: path climbs out of the export (..)"
    assert reasons["fb.zip!/etc/cron.d/evil"] == "not read: absolute path"
    assert reasons["fb.zip!C:/Windows/evil.json"] == "not read: absolute path"
    assert reasons["fb.zip!../../outside.json"] == "media path not followed: path climbs out of the export (..)"
    assert reasons["fb.zip!/etc/passwd"] == "media path not followed: absolute path"
    assert reasons["instagram-export/media/link.jpg"] == "not read: symbolic link"
    assert reasons["instagram-export/escape"] == "not read: symbolic link"


def test_symlinked_export_and_zip_member_links_are_not_followed(outside: Path) -> None:
    folder = outside / "exports"
    elsewhere = outside / "elsewhere"
    (elsewhere / "content").mkdir(parents=True)
    (elsewhere / "content" / "posts_1.json").write_text(json.dumps([{"title": SECRET, "media": []}]))
    os.symlink(elsewhere, folder / "instagram-link")  # the export folder itself is a link out
    info = zipfile.ZipInfo("content/media/x.jpg", (2026, 1, 1, 0, 0, 0))
    info.external_attr = (0o120777 << 16)  # a symbolic link stored in the zip
    with zipfile.ZipFile(folder / "ig.zip", "w") as zf:
        zf.writestr("content/posts_1.json", json.dumps([{"title": "Hi", "media": [{"uri": "content/media/x.jpg"}]}]))
        zf.writestr(info, str(outside / "outside.json"))
    read = read_export_folder(folder)
    assert SECRET not in _texts(read)
    assert read.posts[Platform.INSTAGRAM][0].texts == {"caption": "Hi"}
    assert ("ig.zip!content/media/x.jpg", "not read: symbolic link") in read.problems
    assert ("instagram-link", "not read: symbolic link (an export is a zip file or a folder inside the export "
                              "folder)") in read.problems


def test_the_newest_export_of_an_account_is_read_and_older_ones_are_not(outside: Path) -> None:
    folder = outside / "exports"
    old = _zip(folder / "facebook-2026-09-01.zip", {FB_2024: json.dumps([_fb_post("Deleted since")]).encode()})
    new = _zip(folder / "facebook-2026-11-18.zip", {FB_2024: json.dumps([_fb_post("Still up")]).encode()})
    os.utime(old, (1788000000, 1788000000))
    os.utime(new, (1795000000, 1795000000))
    read = read_export_folder(folder)
    assert [p.texts["caption"] for p in read.posts[Platform.FACEBOOK]] == ["Still up"]
    assert read.sources[Platform.FACEBOOK] == "facebook-2026-11-18.zip"
    assert ("facebook-2026-09-01.zip", "an older export of an account already read from a newer one: skipped") in (
        read.problems)


def test_limits_are_settings_of_the_reader(outside: Path) -> None:
    folder = outside / "exports"
    _zip(folder / "fb.zip", {FB_2024: json.dumps([_fb_post("Hello")] * 3).encode()})
    refused = read_export_folder(folder, ExportLimits(max_entries=0)).problems[0][1]
    assert "more than the 0 an export may hold" in refused
    assert len(read_export_folder(folder, ExportLimits(max_posts=2)).posts[Platform.FACEBOOK]) == 2


def test_a_held_export_keeps_its_stored_posts(store) -> None:  # type: ignore[no-untyped-def]
    from compliance.models import Site
    from compliance.social.items import AccountRead, ItemRead
    from compliance.social.store import account_row, apply_read, known_versions

    now = datetime(2026, 11, 20, 10, tzinfo=UTC)
    with store.session() as s:
        s.add(Site(id="lincoln-es", name="Lincoln", kind="elementary", org_unit="/L", site_admin_email="a@x.org",
                   web_contact_email="b@x.org"))
        account = account_row(s, "lincoln-es", "facebook", "social/lincoln-es")
        first = AccountRead(changed=[ItemRead("1-a", "u1", "v1"), ItemRead("2-b", "u2", "v1")], live={"1-a", "2-b"})
        assert apply_read(s, account, first, now) == {"new": 2, "changed": 0, "gone": 0}
        held = AccountRead(complete=False, held_reason="fb.zip!posts/your_posts_1.json: not valid JSON")
        assert apply_read(s, account, held, now) == {"new": 0, "changed": 0, "gone": 0}
        assert known_versions(s, account) == {"1-a": "v1", "2-b": "v1"} and account.held_reason.startswith("fb.zip")
        complete = AccountRead(changed=[], live={"1-a"})
        assert apply_read(s, account, complete, now)["gone"] == 1  # only a complete read takes a post for deleted


def test_a_held_export_is_listed_in_the_reports_data_quality(store, sample) -> None:  # type: ignore[no-untyped-def]
    from compliance.models import Site
    from compliance.report.data import collect_report_data
    from compliance.social.items import AccountRead
    from compliance.social.store import account_row, apply_read

    _, settings = sample
    now = datetime(2026, 11, 20, 10, tzinfo=UTC)
    with store.session() as s:
        s.add(Site(id="lincoln-es", name="Lincoln", kind="elementary", org_unit="/L", site_admin_email="a@x.org",
                   web_contact_email="b@x.org"))
        account = account_row(s, "lincoln-es", "facebook", "social/lincoln-es")
        apply_read(s, account, AccountRead(complete=False, held_reason="fb.zip!posts/your_posts_1.json: not valid "
                                           "JSON (line 2, column 17): Expecting value"), now)
        rows = [q for q in collect_report_data(s, now, settings).quarantine if q.job == "social (account held)"]
    assert [r.source_file for r in rows] == [
        "lincoln-es: Facebook social/lincoln-es: fb.zip!posts/your_posts_1.json: not valid JSON (line 2, column 17): "
        "Expecting value; its items keep their last read"
    ]
