"""Photo consent findings: one per (page, image, student), judged by the consent rule, kept across nights.

A finding is ``new`` the night it is first seen, ``open`` while the image stays online, and ``resolved`` when
the image (or its page) is gone on re-crawl; ``first_seen_at`` and ``resolved_at`` give time-to-takedown.
Images with no identification are counted per site, never guessed at (no face recognition).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from compliance.consent import ConsentLike, consent_status
from compliance.models import Finding, Page, Person, PhotoAppearance, Student
from compliance.photos.evidence import (
    CHANNEL_FLAG,
    DECORATIVE_FLAG,
    KIND_FLAG,
    PAGE_TEXT_URL,
    fold_words,
    hashtag_words,
    page_text_sources,
    source_strength,
    without_credits,
)
from compliance.photos.matching import IDENTIFIED, IndexCache, Match, NameIndex
from compliance.settings import DEFAULT_SCHOOL_YEAR_START
from compliance.vocabulary import FindingKind, FindingState, PageStatus, Platform, Verdict

PURPOSE_WEBSITE = "website"
MAX_EVIDENCE_CHARS = 500
# A student found only in text shared with other images, or in a story around an illustration, is shown to a
# person (needs review) and never reported as identified.
WEAK_CAP = 0.5
# A first name in the image's own text ("Jeremy holding his award") that the story's full name resolves.
CONF_FIRST_RESOLVED = 0.85
SHORT_TEXT_WORDS = 8  # up to this many words a text is a caption of the picture, past it a card with a body


def finding_key(page_url: str, image_url: str, student_id: str) -> str:
    """Stable key of a (page, image, student): URLs are too long for a portable unique index."""
    return hashlib.sha256(f"{page_url}\x1f{image_url}\x1f{student_id}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Judgement:
    """What tonight's evidence says about one student in one image on one page."""

    site_id: str | None
    page_url: str
    image_url: str
    student_id: str
    verdict: Verdict
    reason: str  # ok | no_consent | revoked | opted_out | expired | principal_missing | purpose_not_covered
    # | low_confidence
    confidence: float
    evidence: str
    kind: str = FindingKind.PHOTO  # NAME: a student named in the page's text, no photo of them
    channel: str = ""  # where the evidence was read: alt, figcaption, card, filename, exif..., context, page_text
    basis: str = ""  # the consent rule and the records (file, sheet, row) the reason rests on
    platform: str = Platform.WEBSITE  # where it was published: the website, a YouTube channel, a blog, an export


def judge_matches(
    site_id: str | None,
    page_url: str,
    image_url: str,
    matches: Sequence[Match],
    consents: Mapping[str, Sequence[ConsentLike]],
    on: date,
    *,
    school_year_start: str = DEFAULT_SCHOOL_YEAR_START,
    purpose: str = PURPOSE_WEBSITE,
    kind: str = FindingKind.PHOTO,
    platform: str = Platform.WEBSITE,
) -> list[Judgement]:
    """Apply the consent rule to each student identified in one image (best match per student).

    A confident identification without consent in force is a violation; a low-confidence one is
    needs_review whatever the consent says, so a person looks before anyone is asked to take a photo down.
    """
    best: dict[str, Match] = {}
    for m in matches:
        if m.student_id not in best or m.confidence > best[m.student_id].confidence:
            best[m.student_id] = m
    out = []
    for student_id, m in sorted(best.items()):
        decision = consent_status(consents.get(student_id, ()), purpose, on, school_year_start)
        if not m.identified:
            verdict, reason = Verdict.NEEDS_REVIEW, "low_confidence" if decision.allowed else decision.reason
        elif decision.allowed:
            verdict, reason = Verdict.OK, "ok"
        else:
            verdict, reason = Verdict.VIOLATION, decision.reason
        evidence = f"{m.source}: {m.snippet}"[:MAX_EVIDENCE_CHARS]
        channel = m.source.split("#", 1)[0][:40]
        out.append(
            Judgement(
                site_id, page_url, image_url, student_id, verdict, reason, round(m.confidence, 3), evidence,
                kind, channel, decision.basis, platform,
            )
        )
    return out


@dataclass(slots=True)
class ReconcileCounts:
    appearances: int = 0
    unidentified_images: int = 0
    violations: int = 0
    ok: int = 0
    needs_review: int = 0
    new: int = 0
    resolved: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "photo appearances": self.appearances,
            "images with no identification": self.unidentified_images,
            "violations": self.violations,
            "ok": self.ok,
            "needs review": self.needs_review,
            "new findings": self.new,
            "resolved findings": self.resolved,
        }


Appearance = tuple[str | None, str, str, Mapping[str, str]]  # (site_id, page_url, image_url, texts)
Matched = tuple[str | None, str, str, list[Match], str]  # (site_id, page_url, image_url, matches, kind)


def identify(
    index: NameIndex, texts: Mapping[str, str], site_id: str | None, page_named: Sequence[Match] = ()
) -> list[Match]:
    """Students in one image, each channel given only the weight it can carry.

    The image's own texts and the texts bound to it alone (``source_strength`` strong) identify. A first name
    there is resolved by a full name in the text around the image (a story's "Jeremy" is its "Jeremy Ortiz")
    when exactly one such student fits. Failing that, a card or alt headed by a first name is resolved by the
    full names the same page publishes elsewhere (``page_named``: a site credit, a roster line) when exactly
    one of them carries that first name. Otherwise the surrounding text speaks only for an image nobody is
    identified in, capped below identification, and not at all for logos, icons, stock or tiny images.
    """
    strong = {k: without_credits(v) for k, v in texts.items() if source_strength(k) == "strong"}
    weak = {k: without_credits(v) for k, v in texts.items() if source_strength(k) == "weak"}
    for group in (strong, weak):
        tags = hashtag_words(" ".join(group.values()))
        if tags:
            group["hashtags" if group is strong else "context_hashtags"] = tags
    found = index.find(strong, site_id) if strong else []
    around = index.find(weak, site_id) if weak else []
    if around:
        own_words = _subject_words(strong)
        named = {m.student_id for m in found if m.identified}
        resolved = [
            m
            for m in around
            if m.identified and m.student_id not in named and own_words & index.first_names(m.student_id)
        ]
        if len(resolved) == 1:
            found = _resolve_first(found, resolved[0])
    if page_named and not any(m.identified for m in found) and not texts.get(DECORATIVE_FLAG):
        heads = _subject_words(strong)
        candidates = {m.student_id: m for m in page_named if m.identified and heads & index.first_names(m.student_id)}
        if len(candidates) == 1:
            found = _resolve_first(found, next(iter(candidates.values())))
    if any(m.identified for m in found) or texts.get(DECORATIVE_FLAG):
        return sorted(found, key=lambda m: (-m.confidence, m.student_id))
    known = {m.student_id for m in found}
    for m in around:
        if m.student_id not in known:
            found.append(
                Match(m.student_id, min(m.confidence, WEAK_CAP), m.matched_text, m.source, m.snippet, m.form)
            )
    return sorted(found, key=lambda m: (-m.confidence, m.student_id))


def _subject_words(strong: Mapping[str, str]) -> frozenset[str]:
    """The words of an image's own texts that can name its subject by a first name.

    Only capitalised words ("amazing grace" in an alt does not name Grace). A short text (an alt, a caption)
    is about the picture, all of it; a long one (a card with a bio) only by the word it starts with, since a
    first name inside a bio ("I build the code with Ben") is somebody else.
    """
    words: list[str] = []
    for value in strong.values():
        tokens = value.split()
        if len(tokens) > SHORT_TEXT_WORDS:
            tokens = tokens[:1]
        words += [w for w in tokens if w[:1].isupper()]
    return fold_words(" ".join(words))


def _resolve_first(found: list[Match], m: Match) -> list[Match]:
    """``found`` with student ``m`` identified through a first name that a full name elsewhere resolves."""
    return [x for x in found if x.student_id != m.student_id] + [
        Match(m.student_id, min(m.confidence, CONF_FIRST_RESOLVED), m.matched_text, m.source, m.snippet,
              "first_resolved")
    ]


def kind_of(image_url: str, texts: Mapping[str, str]) -> FindingKind:
    if image_url == PAGE_TEXT_URL:
        return FindingKind.NAME
    return FindingKind.VIDEO if texts.get(KIND_FLAG) == FindingKind.VIDEO else FindingKind.PHOTO


def match_appearances(appearances: Iterable[Appearance], index: NameIndex) -> tuple[list[Matched], int]:
    """Find students in each appearance's texts; also return how many images had no identification at all.

    A page's own text (the appearance without an image) gives name findings: the students it names who are
    not identified in a photo or video of the same page.
    """
    matched: list[Matched] = []
    unidentified = 0
    appearances = list(appearances)
    # The full names each page's own text publishes: they resolve a first-name card on the same page.
    page_named: dict[str, list[Match]] = {}
    for site_id, page_url, image_url, texts in appearances:
        if image_url == PAGE_TEXT_URL:
            page_named.setdefault(page_url, []).extend(
                m
                for m in index.find({k: v for k, v in texts.items() if source_strength(k) == "page"}, site_id)
                if m.confidence >= IDENTIFIED
            )
    pictured: dict[str, set[str]] = {}
    for site_id, page_url, image_url, texts in appearances:
        if image_url == PAGE_TEXT_URL:
            continue
        matches = identify(index, texts, site_id, page_named.get(page_url, ()))
        media = texts.get(CHANNEL_FLAG)
        if media:
            # The channel says how the page published it too: "background:overlay", "embed:title".
            matches = [replace(m, source=f"{media}:{m.source}") for m in matches]
        if matches:
            matched.append((site_id, page_url, image_url, matches, kind_of(image_url, texts)))
            # Only an identification that is itself reported stands in for the name; a needs-review match
            # (shared text, a first name) would otherwise hide a student the page's text names outright.
            pictured.setdefault(page_url, set()).update(m.student_id for m in matches if m.identified)
        else:
            unidentified += 1
    for site_id, page_url, image_url, _texts in appearances:
        if image_url != PAGE_TEXT_URL:
            continue
        named = [m for m in page_named.pop(page_url, ()) if m.student_id not in pictured.get(page_url, set())]
        if named:
            matched.append((site_id, page_url, PAGE_TEXT_URL, named, FindingKind.NAME))
    return matched, unidentified


def matched_students(matched: Iterable[Matched]) -> set[str]:
    """Student ids named anywhere in ``matched``: the only consents worth loading."""
    return {m.student_id for _, _, _, matches, _ in matched for m in matches}


def judge_all(
    matched: Iterable[Matched],
    consents: Mapping[str, Sequence[ConsentLike]],
    on: date,
    *,
    school_year_start: str = DEFAULT_SCHOOL_YEAR_START,
) -> list[Judgement]:
    """:func:`judge_matches` over every matched appearance."""
    out: list[Judgement] = []
    for site_id, page_url, image_url, matches, kind in matched:
        out += judge_matches(
            site_id, page_url, image_url, matches, consents, on, school_year_start=school_year_start, kind=kind
        )
    return out


def roster_index(
    session: Session, places: Sequence[str], cache: IndexCache, extra_distractors: Sequence[str] = ()
) -> NameIndex:
    """The name index of the active roster, staff and ``places`` as distractors (plus ``extra_distractors``:
    adults who are not students, such as alumni over 18), rebuilt only when its content changes."""
    rows = session.execute(
        select(
            Student.id,
            Student.legal_first,
            Student.legal_last,
            Student.preferred_first,
            Student.preferred_last,
            Student.site_id,
        ).where(Student.active.is_(True))
    )
    students = [dict(row._mapping) for row in rows]
    staff = [
        f"{g} {f}"
        for g, f in session.execute(select(Person.given_name, Person.family_name).where(Person.kind == "employee"))
    ]
    return cache.get(students, staff + list(places) + list(extra_distractors))


def live_appearances(session: Session, site_id: str) -> list[Appearance]:
    """The site's photo appearances still online, with the texts their evidence carries, and the live pages'
    own texts (as appearances without an image: where name findings come from)."""
    rows = session.execute(
        select(Page.url, PhotoAppearance.image_url, PhotoAppearance.evidence)
        .join(Page, Page.id == PhotoAppearance.page_id)
        .where(Page.site_id == site_id, Page.status == PageStatus.LIVE, PhotoAppearance.status == PageStatus.LIVE)
        .order_by(Page.url, PhotoAppearance.image_url)
    )
    found: list[Appearance] = [(site_id, url, image, dict((ev or {}).get("texts") or {})) for url, image, ev in rows]
    texts = session.execute(
        select(Page.url, Page.text)
        .where(Page.site_id == site_id, Page.status == "live", Page.text.is_not(None))
        .order_by(Page.url)
    )
    found += [(site_id, url, PAGE_TEXT_URL, page_text_sources(url, text)) for url, text in texts if text]
    return found


def apply_judgements(
    session: Session,
    site_id: str,
    judgements: Sequence[Judgement],
    now: datetime,
    platform: str = Platform.WEBSITE,
) -> ReconcileCounts:
    """Upsert tonight's judgements for one site and platform; that site's findings on that platform not judged
    tonight are resolved (the website's reconciliation never resolves a YouTube finding, nor the reverse).

    Idempotent for the same input: re-running the same night changes nothing but ``last_seen_at``.
    """
    counts = ReconcileCounts()
    existing = {
        f.finding_key: f
        for f in session.scalars(select(Finding).where(Finding.site_id == site_id, Finding.platform == platform))
    }
    seen: set[str] = set()
    for j in judgements:
        key = finding_key(j.page_url, j.image_url, j.student_id)
        if key in seen:
            continue
        seen.add(key)
        if j.verdict == Verdict.VIOLATION:
            counts.violations += 1
        elif j.verdict == Verdict.OK:
            counts.ok += 1
        else:
            counts.needs_review += 1
        row = existing.get(key)
        if row is None:
            session.add(
                Finding(
                    finding_key=key,
                    site_id=j.site_id,
                    page_url=j.page_url,
                    image_url=j.image_url,
                    student_id=j.student_id,
                    verdict=j.verdict,
                    reason=j.reason,
                    confidence=j.confidence,
                    evidence=j.evidence,
                    kind=j.kind,
                    channel=j.channel,
                    basis=j.basis,
                    platform=platform,
                    state=FindingState.NEW,
                    first_seen_at=now,
                    last_seen_at=now,
                )
            )
            counts.new += 1
            continue
        if row.state == FindingState.RESOLVED:
            # Back online after being taken down: a fresh finding as far as takedown time goes.
            row.state, row.resolved_at, row.first_seen_at = FindingState.NEW, None, now
            row.notified_at = row.reminded_at = None
            counts.new += 1
        elif row.state == FindingState.NEW and row.last_seen_at < now:
            row.state = FindingState.OPEN
        row.verdict, row.reason, row.confidence, row.evidence = j.verdict, j.reason, j.confidence, j.evidence
        row.kind, row.channel = j.kind, j.channel
        row.basis = j.basis
        row.last_seen_at = now
    for key, row in existing.items():
        if key not in seen and row.state != FindingState.RESOLVED:
            row.state, row.resolved_at = FindingState.RESOLVED, now
            counts.resolved += 1
    session.flush()
    return counts


def audit_rows(judgements: Iterable[Judgement]) -> list[dict[str, Any]]:
    """Rows of the one-off audit CSV (stable column order; see ``consent audit``)."""
    return [
        {
            "page_url": j.page_url,
            "image_url": j.image_url,
            "student_id": j.student_id,
            "status": j.verdict,
            "reason": j.reason,
            "confidence": f"{j.confidence:.2f}",
            "evidence": j.evidence,
            "kind": j.kind,
            "channel": j.channel,
            "basis": j.basis,
        }
        for j in judgements
    ]
