"""One site's district-sponsored social media, audited: read what changed, then judge every live item.

:func:`read_site` reads each YouTube channel, blog and export folder of the site's profile entry (only new or
changed items are read in full, see ``youtube`` and ``blogger``) and stores them; :func:`reconcile_site`
judges the site's live items with the website audit's name matching and consent rules, against each
channel's purpose (``video`` for YouTube unless the profile says otherwise, ``website`` for blogs,
``social_media`` for Facebook, Instagram and X), and keeps the findings per platform beside the website's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.consent import load_consents, read_students
from compliance.google.channels import CallCounter
from compliance.google.clients import GoogleClients
from compliance.models import SocialAccount
from compliance.photos.findings import Judgement, apply_judgements, identify, judge_matches, match_appearances
from compliance.photos.matching import NameIndex
from compliance.settings import DRIVE_PREFIX, Settings, Site
from compliance.social import blogger, drive_exports, exports, youtube
from compliance.social.items import AccountRead, ItemRead
from compliance.social.store import account_row, apply_read, known_versions, live_items
from compliance.tabular import Source
from compliance.vocabulary import SOCIAL_PLATFORMS, FindingKind, Platform, hidden_video_evidence

EXPORT_PLATFORMS = (Platform.FACEBOOK, Platform.INSTAGRAM, Platform.X)
# The account row of a Drive export folder itself: keeps the listing's version, never items or a held reason.
EXPORT_FOLDER = "export"
logger = logging.getLogger(__name__)


def purpose_of(site: Site, platform: str) -> str:
    """The consent purpose a platform's items are judged against (per the site's profile entry)."""
    if platform == Platform.YOUTUBE:
        return site.youtube_purpose
    if platform == Platform.BLOGGER:
        return site.blog_purpose
    return site.social_export_purpose


def _export_read(posts: Sequence[exports.ExportPost]) -> AccountRead:
    read = AccountRead()
    for post in posts:
        read.changed.append(
            ItemRead(post.item_id, post.url, post.version, exports.post_kind(post), exports.post_appearances(post))
        )
    read.live = {p.item_id for p in posts}
    read.counts = {"posts in export": len(posts)}
    return read


def _store_export(
    session: Session, site_id: str, folder: str, found: exports.ExportRead, now: datetime,
    extra_problems: Sequence[tuple[str, str]] = (),
) -> dict[str, int]:
    """Store what an export folder held, per platform (a platform whose newest export is broken is held)."""
    problems = list(extra_problems) + list(found.problems)
    totals = {"export problems": len(problems)}
    for platform in EXPORT_PLATFORMS:
        if platform not in found.posts and platform not in found.errors:
            continue
        account = account_row(session, site_id, platform, folder)
        if platform in found.errors:
            read = AccountRead(complete=False, held_reason=found.errors[platform])
        else:
            read = _export_read(found.posts[platform])
            read.title = found.sources[platform]
        read.problems = problems
        for k, v in apply_read(session, account, read, now).items():
            totals[f"{platform} posts {k}"] = totals.get(f"{platform} posts {k}", 0) + v
        totals["accounts held"] = totals.get("accounts held", 0) + int(read.held_reason is not None)
    return totals


def _folder_accounts(session: Session, site_id: str, folder: str) -> list[SocialAccount]:
    return list(session.scalars(select(SocialAccount).where(
        SocialAccount.site_id == site_id, SocialAccount.account == folder,
        SocialAccount.platform.in_([str(p) for p in EXPORT_PLATFORMS]))))


def _drive_folder(
    session: Session, clients: GoogleClients, site_id: str, folder: str, now: datetime
) -> dict[str, int]:
    """A ``drive:<folder id>`` entry: downloaded and read only when its listing changed (``drive_exports``).

    The listing's version is kept on the folder's own account row (platform ``export``, never holding items);
    a folder not shared with the admin subject, or not listable tonight, holds the folder's platform accounts
    with the reason (their posts stay as last read) and is logged with the fix.
    """
    state = account_row(session, site_id, EXPORT_FOLDER, folder)
    folder_id = folder.removeprefix(DRIVE_PREFIX).strip()
    try:
        result = drive_exports.read_drive_folder(clients, folder_id, last_version=state.resolved_id)
    except drive_exports.FolderNotShared as exc:
        result = drive_exports.DriveFolderRead(held_reason=str(exc))
    state.audited_at = now
    if result.held_reason is not None:
        logger.warning("site %s: %s", site_id, result.held_reason)
        for account in _folder_accounts(session, site_id, folder):
            account.held_reason, account.audited_at = result.held_reason, now
        return {"export folders held": 1, **result.counts}
    state.title = result.title[:500]
    state.counts = {**result.counts, "problems": len(result.problems)}
    if result.unchanged or result.read is None:
        for account in _folder_accounts(session, site_id, folder):
            account.audited_at = now
            if (account.held_reason or "").startswith(drive_exports.HELD_PREFIX):
                account.held_reason = None  # held for the folder (not shared, not listable), which is read again
        session.flush()
        return {"export folders unchanged": 1, **result.counts}
    totals = _store_export(session, site_id, folder, result.read, now, result.problems)
    state.resolved_id = result.version
    session.flush()
    return {**totals, **result.counts}


def read_site(
    session: Session, settings: Settings, clients: GoogleClients | None, site_id: str, now: datetime
) -> dict[str, int]:
    """Read every account of the site and store what changed; counts by what happened (no names).

    ``clients`` may be None when the site has no YouTube channel, blog or Drive export folder (local export
    folders need no Google call).
    Accounts that could not be read tonight keep their items and say why in ``SocialAccount.held_reason``.
    """
    site = settings.site(site_id)
    counter = CallCounter()
    totals: dict[str, int] = {}

    def add(counts: dict[str, int]) -> None:
        for k, v in counts.items():
            totals[k] = totals.get(k, 0) + int(v)

    for channel_id in site.youtube_channels:
        assert clients is not None
        account = account_row(session, site_id, Platform.YOUTUBE, channel_id)
        read = youtube.read_channel(clients, channel_id, known_versions(session, account), counter,
                                    full_read_at=account.full_read_at, now=now, owner=site.youtube_owner(channel_id),
                                    domain=settings.district.domain)
        add({"youtube videos " + k: v for k, v in apply_read(session, account, read, now,
                                                               full=bool(read.counts.get("full read"))).items()})
        add({"accounts held": int(read.held_reason is not None), **{f"youtube {k}": v for k, v in read.counts.items()}})
    for address in site.blogs:
        assert clients is not None
        account = account_row(session, site_id, Platform.BLOGGER, address)
        read = blogger.read_blog(clients, address, known_versions(session, account), counter)
        add({"blog posts " + k: v for k, v in apply_read(session, account, read, now).items()})
        add({"accounts held": int(read.held_reason is not None), "problems": len(read.problems),
             **{f"blog {k}": v for k, v in read.counts.items()}})
    for folder in site.social_exports:
        if folder.startswith(DRIVE_PREFIX):
            assert clients is not None
            add(_drive_folder(session, clients, site_id, folder, now))
            continue
        add(_store_export(session, site_id, folder, exports.read_export_folder(settings.input_path(folder)), now))
    add({f"calls {k}": v for k, v in counter.calls.items()})
    add({"youtube units": counter.youtube_units})
    return totals


def judge_site(
    session: Session, settings: Settings, site_id: str, index: NameIndex, on: date, platform: str
) -> list[Judgement]:
    """Tonight's judgements of the site's live items on ``platform``.

    YouTube videos and exported posts are one appearance each (title, description and tags; caption, tags,
    alt text and media metadata, all the item's own texts). A blog post is read like a web page: photos with
    their captions, and names in the post's text where no photo identifies the student.
    """
    site = settings.site(site_id)
    purpose = purpose_of(site, platform)
    items = live_items(session, site_id, platform)
    matched: list[tuple[str, str, list, str]] = []  # (url, image_url, matches, kind)
    hidden: dict[str, str] = {}  # url -> privacyStatus of a video only its owner (or its link) shows
    for item in items:
        privacy = (item.evidence or {}).get("privacy")
        if privacy and privacy != "public":
            hidden[item.url] = str(privacy)
        appearances = [(a["image_url"], dict(a["texts"])) for a in (item.evidence or {}).get("appearances", [])]
        if platform == Platform.BLOGGER:
            found, _ = match_appearances([(site_id, item.url, img, texts) for img, texts in appearances], index)
            matched += [(url, img, ms, FindingKind.POST) for _, url, img, ms, _ in found]
        else:
            for img, texts in appearances:
                ms = identify(index, texts, site_id)
                if ms:
                    matched.append((item.url, img, ms, item.kind))
    consents = load_consents(session, {m.student_id for _, _, ms, _ in matched for m in ms})
    out: list[Judgement] = []
    for url, img, ms, kind in matched:
        judged = judge_matches(site_id, url, img, ms, consents, on,
                               school_year_start=settings.district.school_year_start, purpose=purpose, kind=kind,
                               platform=platform)
        if url in hidden:
            # Judged as any video (a link shared with a class is a publication), and said to be unlisted or private
            # so whoever takes it down knows where to look in YouTube Studio.
            judged = [replace(j, evidence=hidden_video_evidence(hidden[url], j.evidence))
                      for j in judged]
        out += judged
    return out


def reconcile_site(
    session: Session, settings: Settings, site_id: str, index: NameIndex, now: datetime
) -> dict[str, int]:
    """Judge the site's live social items and keep their findings per platform (counts only)."""
    on = now.astimezone(settings.tz).date()
    totals: dict[str, int] = {}
    for platform in SOCIAL_PLATFORMS:
        judgements = judge_site(session, settings, site_id, index, on, platform)
        counts = apply_judgements(session, site_id, judgements, now, platform=platform)
        for k, v in counts.as_dict().items():
            if k in ("violations", "ok", "needs review", "new findings", "resolved findings"):
                totals[k] = totals.get(k, 0) + v
    return totals


def alumni_names(source: Source, label: str) -> list[str]:
    """Names of former students now adults (the SIS alumni export): distractors, never students."""
    result = read_students(source, label=label)
    names = []
    for st in result.students:
        names.append(f"{st.legal_first} {st.legal_last}")
        if st.preferred_first or st.preferred_last:
            names.append(f"{st.preferred_first or st.legal_first} {st.preferred_last or st.legal_last}")
    return names


__all__ = ["EXPORT_PLATFORMS", "alumni_names", "judge_site", "purpose_of", "read_site", "reconcile_site"]
