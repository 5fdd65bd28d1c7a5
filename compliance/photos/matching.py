"""Find students named in the texts around a photo (captions, alt text, file names, EXIF/IPTC/XMP).

Plain typed functions, no Prefect. :func:`build_index` turns a roster into a :class:`NameIndex` once;
:meth:`NameIndex.find` searches the texts of one image (``{source: text}``) and :meth:`NameIndex.find_many` a
batch of captions. Each identified student comes back as a :class:`Match` with a confidence and an evidence
snippet. The snippet quotes the page: it is data for the findings table, never something to log.

How it stays fast
-----------------
Texts are folded (accents, case, punctuation) with length-preserving operations so offsets in the folded
text are offsets in the original. One Aho-Corasick automaton (pyahocorasick) holds every normalised
first-name, nickname and surname token of the roster plus the distractor phrases; a text with no hit costs one
C-level scan. Only texts with hits are split into words, and candidates come from dictionaries keyed by
``(first token, surname token)`` and ``(first token, surname initial)``, so the cost grows with the text,
not with roster x text. Students are stored grouped by site, so restricting a posting list to the page's site
is two bisections. Fuzziness (one typo) is tried only for the word next to an exact first-name or surname
hit, through a deletion-neighbourhood index and verified with rapidfuzz's OSA distance.

Confidence scale (documented; the reconciliation step turns it into verdicts)
-----------------------------------------------------------------------------
=====  =====================================================================================
0.96   full name: first (legal or preferred) + the whole surname, exact up to case/accents/hyphens;
       a middle name or middle initial in between is allowed ("Maria J. Garcia Lopez").
0.93   first + the first of several surnames ("Maria Garcia" for Maria Jose Garcia Lopez).
0.90   "Last, First" with the whole surname (0.87 with part of it).
0.88   first + a later surname only ("Maria Lopez"); nickname + whole surname ("Bobby Smith").
0.80   "First L." (or "Luis Miguel L.") when exactly one student in scope has that first name and surname
       initial; a nickname costs 0.08 and a first name that is also a word ("Hope L.") 0.1.
0.70   one typo in a first name or surname of at least 6 letters, the other half exact.
0.50   cap when several students (at most ``MAX_AMBIGUOUS``; more say nothing) share the matched name, or
       the name is also a distractor (a staff member with the same name): the photo needs a human look.
       Among namesakes, the one whose preferred (everyday) first name is the written one keeps the full
       confidence, since schools write the name a student goes by.
0.40   a first name alone: only with the site known, the name unique at that site, not an ordinary word
       (May, Hope, Will, Grace...), capitalised and in a name-like context (possessive, a list of names,
       "Congratulations to ..."). Always below ``IDENTIFIED``.
=====  =====================================================================================

A lower-case name in a text that otherwise uses capitals loses 0.3, and is dropped when its first word is an
ordinary word ("we hope grace park is open"). A match directly after an honorific ("Ms.", "Coach") or
directly before a place word ("Elementary", "Park") is dropped, as is a match lying inside a longer distractor
phrase ("Cesar Chavez Elementary"). Overlapping readings: the stronger wins, a longer one getting 0.04 per
extra word. ``IDENTIFIED`` (0.7) and above counts as the student being identified; between ``REVIEW`` (0.3)
and ``IDENTIFIED`` the finding needs review; below ``REVIEW`` nothing is returned.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tomllib
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import ahocorasick
from rapidfuzz.distance import OSA

from compliance.vocabulary import PersonKind

__all__ = [
    "IDENTIFIED",
    "MAX_AMBIGUOUS",
    "REVIEW",
    "Match",
    "NameIndex",
    "StudentName",
    "build_index",
    "fold",
    "load_evaluation_set",
    "nickname_map",
    "precision_recall",
]

IDENTIFIED = 0.7
REVIEW = 0.3
# More students than this sharing one written name says nothing about who is in the photo.
MAX_AMBIGUOUS = 5
SPAN_BONUS = 0.04
NAMESAKE_MARGIN = 0.05
# A caption or paragraph longer than this is cut: names that identify a photo sit near it.
MAX_TEXT_CHARS = 20_000
SNIPPET_RADIUS = 40
FUZZY_MIN_LEN = 6

CONF_FULL = 0.96
CONF_FIRST_SURNAME = 0.93
CONF_LATER_SURNAME = 0.88
CONF_LAST_FIRST = 0.90
CONF_LAST_FIRST_PARTIAL = 0.87
NICKNAME_PENALTY = 0.08
CONF_INITIAL = 0.80
CONF_FUZZY = 0.70
CONF_AMBIGUOUS_CAP = 0.50
CONF_FIRST_ONLY = 0.40
LOWERCASE_PENALTY = 0.30
WORD_NAME_PENALTY = 0.10


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Hypocorisms the `nicknames` dataset lacks: Spanish ones families write on every list, and a few English gaps.
EXTRA_NICKNAMES: dict[str, tuple[str, ...]] = {
    "pepe": ("jose",), "paco": ("francisco",), "pancho": ("francisco",), "lupe": ("guadalupe",),
    "chuy": ("jesus",), "nacho": ("ignacio",), "lalo": ("eduardo",), "quique": ("enrique",),
    "lola": ("dolores",), "chayo": ("rosario",), "memo": ("guillermo",), "beto": ("alberto", "roberto"),
    "chelo": ("consuelo",), "concha": ("concepcion",), "tono": ("antonio",), "liam": ("william",),
    "xander": ("alexander",), "chema": ("jose",), "lucha": ("luz",), "nando": ("fernando",),
    "katie": ("katherine", "kathryn", "catherine"), "maddie": ("madison", "madeline"),
}  # fmt: skip

# Lower-case surname particles: "de la Rosa" is also written "R." and sorted under R.
SURNAME_PARTICLES = frozenset(
    {"de", "del", "la", "las", "los", "da", "das", "do", "dos", "di", "du", "van", "von", "le", "y"}
)

# First names that are also ordinary English words: alone they are never a name.
WORD_NAMES = _words(
    """
    may june april august hope grace faith joy will bill bob mark jack pat sue rose lily ivy iris daisy
    summer autumn winter dawn eve sky skye river ocean rain storm star sunny honey holly olive hazel ruby
    pearl amber crystal sierra savannah brook brooke chase hunter guy rich gene frank earl art ray rod
    drew grant miles major king prince princess angel destiny harmony melody serenity heaven
    trinity genesis justice liberty charity patience prudence mercy constance precious unique royal
    sage jade jasmine rocky dusty rusty buddy penny sandy misty lane dale glen wade cliff
    """
)

HONORIFICS = _words(
    """
    mr mrs ms miss mx dr doctor coach principal teacher superintendent prof professor sr sra srta
    senor senora senorita maestro maestra sir madam officer deputy sheriff pastor father rev
    """
)

PLACE_WORDS = _words(
    """
    elementary middle high school schools academy college university campus park street st avenue ave
    boulevard blvd road rd drive way lane ln library center centre stadium field gym gymnasium hall
    auditorium es ms hs charter magnet county city lake beach hospital memorial foundation day award
    bridge freeway highway plaza square building
    """
)

# Words before a lone first name that make it read as a person ("Congratulations to Ana").
NAME_CUES = _words(
    """
    student students pictured congratulations congrats winner winners meet welcome by with and featuring
    featured thanks thank kudos shoutout honoree honorees awardee grader graders kindergartner
    """
)

_APOSTROPHES = "'\u2019\u02bc`\u00b4"
_POSSESSIVE = re.compile(rf"(?<=[^\W\d_])[{_APOSTROPHES}][sS]\b")
# "O'Brien" -> "OBrien " keeps the length (the letters move left, a space fills the end) so offsets survive.
_INNER_APOSTROPHE = re.compile(rf"([^\W\d_])[{_APOSTROPHES}]([^\W\d_]+)")
_HAS_APOSTROPHE = re.compile(f"[{_APOSTROPHES}]").search
_NON_WORD = re.compile(r"[\W_]")
_WORD = re.compile(r"\S+")
_WS = re.compile(r"\s+")


def _shift_left(m: re.Match[str]) -> str:
    return f"{m[1]}{m[2]} "


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in range(0x3000):
        ch = chr(cp)
        if ch.isalnum():
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)).lower()
            if len(base) == 1 and base.isalnum():
                table[cp] = base
            else:
                lower = ch.lower()
                table[cp] = lower if len(lower) == 1 else ch
        elif not unicodedata.combining(ch):
            table[cp] = " "
    return table


_FOLD = _fold_table()


def _nfc(text: str) -> str:
    return text if unicodedata.is_normalized("NFC", text) else unicodedata.normalize("NFC", text)


def _fold_same_length(text: str) -> tuple[str, bool]:
    """``text`` folded to the same length: accents dropped, lower case, punctuation -> space.

    "Ana's" -> "ana s" (the possessive stays a separate word) and "O'Brien" -> "obrien " (letters move one
    place left). Returns the folded text and whether letters moved (word ends then differ from the original).
    """
    moved = False
    if _HAS_APOSTROPHE(text):
        text = _POSSESSIVE.sub(" s", text)
        shifted = _INNER_APOSTROPHE.sub(_shift_left, text)
        moved = shifted != text
        text = shifted
    folded = text.translate(_FOLD)
    if not folded.isascii():
        folded = _NON_WORD.sub(" ", folded)
    return folded, moved


@lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """Matching key of a name or phrase: ``"María José García-López"`` -> ``"maria jose garcia lopez"``."""
    return " ".join(_fold_same_length(_nfc(text))[0].split())


@dataclass(frozen=True, slots=True)
class StudentName:
    """The names the SIS holds for one student (preferred names may be nicknames or chosen names)."""

    student_id: str
    legal_first: str
    legal_last: str
    preferred_first: str | None = None
    preferred_last: str | None = None
    site_id: str | None = None


@dataclass(frozen=True, slots=True)
class Match:
    """One student identified in one text.

    ``matched_text`` and ``snippet`` quote the source: data for the findings table, never for logs.
    """

    student_id: str
    confidence: float
    matched_text: str
    source: str
    snippet: str
    form: str = "full"  # full | nickname | last_first | initial | fuzzy | first_only

    @property
    def identified(self) -> bool:
        return self.confidence >= IDENTIFIED


def _text_or_none(value: Any) -> str | None:
    # Spreadsheet readers give NaN or numbers for empty cells; only real text is a name.
    return value.strip() or None if isinstance(value, str) else None


def _coerce(student: Any) -> StudentName:
    if isinstance(student, StudentName):
        return student
    get = student.get if isinstance(student, Mapping) else lambda k, d=None: getattr(student, k, d)
    sid = get("student_id") or get("id")
    if sid is None or not str(sid).strip():
        raise ValueError("student without student_id")
    return StudentName(
        student_id=str(sid).strip(),
        legal_first=_text_or_none(get("legal_first")) or "",
        legal_last=_text_or_none(get("legal_last")) or "",
        preferred_first=_text_or_none(get("preferred_first")),
        preferred_last=_text_or_none(get("preferred_last")),
        site_id=_text_or_none(get("site_id")),
    )


# Name parts are tuples of strings (not sets): the garbage collector stops tracking such tuples, and the
# membership tests run on one to four items.
_Words = tuple[str, ...]
_Given = tuple[tuple[_Words, ...], _Words, _Words, _Words]
_Family = tuple[tuple[_Words, ...], _Words, _Words, _Words]


class _Student:
    """View of one indexed student, made on demand; the name parts are shared between namesakes."""

    __slots__ = ("family", "given", "student_id")

    def __init__(self, student_id: str, given: _Given, family: _Family) -> None:
        self.student_id = student_id
        self.given = given
        self.family = family

    @property
    def firsts(self) -> tuple[tuple[str, ...], ...]:
        """Folded first-name forms (legal, preferred), split in words."""
        return self.given[0]

    @property
    def display_first(self) -> tuple[str, ...]:
        """The first name the school uses: the preferred one when the SIS has it."""
        return self.given[3]

    @property
    def lasts(self) -> tuple[tuple[str, ...], ...]:
        """Folded surname forms, split in components."""
        return self.family[0]

    @property
    def lc_initials(self) -> _Words:
        """Surname initials written in lower case ("d." for "de la Rosa")."""
        return self.family[3]

    @property
    def tokens(self) -> _Words:
        return self.given[1] + self.given[2] + self.family[1]


@dataclass(slots=True)
class _Cand:
    students: list[int]
    start: int  # token index range [start, end]
    end: int
    conf: float
    form: str
    first_at: int  # index of the first-name word (for the preferred-name tie-break)


_KIND_FIRST = 1
_KIND_LAST = 2
_KIND_NICK = 4
_KIND_DISTRACTOR = 8
_KIND_PART = 16  # a later word of a compound first name ("Miguel" in "Luis Miguel")


def _given_parts(legal: str, preferred: str) -> _Given | None:
    """(first-name forms, their first words, their later words, the form the student goes by)."""
    folded = tuple(dict.fromkeys(f for f in (fold(legal), fold(preferred)) if f))
    if not folded:
        return None
    forms = tuple(tuple(f.split()) for f in folded)
    display = forms[-1] if fold(preferred) else forms[0]
    heads = tuple(dict.fromkeys(form[0] for form in forms))
    parts = tuple(dict.fromkeys(t for form in forms for t in form[1:]))
    return forms, heads, parts, display


def _family_parts(legal: str, preferred: str) -> _Family | None:
    """(surname forms, their words, the initials "First L." may use, initials written in lower case)."""
    folded = tuple(dict.fromkeys(x for x in (fold(legal), fold(preferred)) if x))
    if not folded:
        return None
    forms = tuple(tuple(x.split()) for x in folded)
    components = tuple(dict.fromkeys(c for form in forms for c in form))
    initials = [form[0][0] for form in forms]
    for form in forms:
        # "Yeni R." for "de la Rosa": the main surname's initial is written as often as the particle's.
        for c in form:
            if c not in SURNAME_PARTICLES:
                initials.append(c[0])
                break
    lower = tuple(dict.fromkeys(fold(x)[:1] for x in (legal, preferred) if x[:1].islower()))
    return forms, components, tuple(dict.fromkeys(initials)), lower


def _deletions(word: str) -> Iterator[str]:
    for i in range(len(word)):
        yield word[:i] + word[i + 1 :]


class NameIndex:
    """Roster index built once by :func:`build_index`.

    Safe to share between threads: searching only reads, and the per-site caches it fills lazily are
    idempotent.
    """

    def __init__(
        self, students: Sequence[StudentName], distractors: Iterable[str | tuple[str, str | None]] = ()
    ) -> None:
        # Parallel lists rather than an object per student: 420,000 small objects make every garbage
        # collection of the process walk them, which doubled the matching time.
        self._ids: list[str] = []
        self._given_of: list[_Given] = []
        self._family_of: list[_Family] = []
        pairs: dict[str, list[int]] = defaultdict(list)
        initials_index: dict[str, list[int]] = defaultdict(list)
        initial_first: dict[str, list[int]] = defaultdict(list)
        # Students are stored grouped by site, so a site is an index range and every posting list (ascending)
        # is cut to a site with two bisections instead of a scan.
        self._site_range: dict[str, tuple[int, int]] = {}
        self._site_firsts: dict[str, dict[str, list[int]]] = {}
        givens: dict[tuple[str, str], _Given | None] = {}
        families: dict[tuple[str, str], _Family | None] = {}
        ids, given_of, family_of = self._ids, self._given_of, self._family_of
        site_range = self._site_range
        current_site: str | None = None
        for s in sorted(students, key=lambda st: st.site_id or ""):
            # A district has far fewer distinct names than students: parts are built once per name.
            gkey = (s.legal_first or "", s.preferred_first or "")
            if gkey not in givens:
                givens[gkey] = _given_parts(*gkey)
            given = givens[gkey]
            fkey = (s.legal_last or "", s.preferred_last or "")
            if fkey not in families:
                families[fkey] = _family_parts(*fkey)
            family = families[fkey]
            if given is None or family is None:
                continue  # a student without both names cannot be recognised by name
            idx = len(ids)
            ids.append(s.student_id)
            given_of.append(given)
            family_of.append(family)
            if s.site_id != current_site:
                if current_site:
                    site_range[current_site] = (site_range[current_site][0], idx)
                current_site = s.site_id
                if current_site:
                    site_range[current_site] = (idx, idx)
            components, initials = family[1], family[2]
            for c in components:
                for letter in {f[0] for f in given[1] if f}:
                    initial_first[f"{letter} {c}"].append(idx)
            for f in given[1]:
                for c in components:
                    pairs[f"{f} {c}"].append(idx)
                for i in initials:
                    initials_index[f"{f} {i}"].append(idx)
        if current_site:
            site_range[current_site] = (site_range[current_site][0], len(ids))
        first_tokens = {t for g in givens.values() if g for t in g[1]}
        part_tokens = {t for g in givens.values() if g for t in g[2]}
        last_tokens = {t for f in families.values() if f for t in f[1]}
        # Tuples of ints: the collector stops tracking them, unlike a million lists.
        self._pairs: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in pairs.items()}
        self._initials: dict[str, tuple[int, ...]] = {k: tuple(v) for k, v in initials_index.items()}
        self._initial_first: dict[str, tuple[int, ...]] = {k: tuple(sorted(v)) for k, v in initial_first.items()}
        self._first_tokens = frozenset(first_tokens)
        self._part_tokens = frozenset(part_tokens)
        self._last_tokens = frozenset(last_tokens)
        self._nicknames = _nickname_map(self._first_tokens)
        self._first_deletes = _deletion_index(self._first_tokens)
        self._last_deletes = _deletion_index(self._last_tokens)
        sites: dict[str, set[str | None]] = defaultdict(set)
        for item in distractors:
            text, site = (item, None) if isinstance(item, str) else item
            if key := fold(text):
                sites[key].add(site)
        self._distractors = {k: frozenset(v) for k, v in sites.items()}
        self._automaton = self._build_automaton()
        self._positions: dict[str, int] | None = None

    def _build_automaton(self) -> ahocorasick.Automaton:
        kinds: dict[str, int] = defaultdict(int)
        for t in self._first_tokens:
            kinds[t] |= _KIND_FIRST
        for t in self._part_tokens:
            kinds[t] |= _KIND_PART
        for t in self._last_tokens:
            kinds[t] |= _KIND_LAST
        for t in self._nicknames:
            kinds[t] |= _KIND_NICK
        for d in self._distractors:
            kinds[d] |= _KIND_DISTRACTOR
        automaton = ahocorasick.Automaton()
        for key, kind in kinds.items():
            # Spaces around each key make every hit a whole word (the text is padded the same way).
            automaton.add_word(f" {key} ", (len(key) + 2, kind, key))
        if not kinds:
            automaton.add_word(" \x00 ", (3, 0, ""))  # an empty automaton cannot be finalised
        automaton.make_automaton()
        return automaton

    def __len__(self) -> int:
        return len(self._ids)

    def _student(self, idx: int) -> _Student:
        return _Student(self._ids[idx], self._given_of[idx], self._family_of[idx])

    @property
    def sites(self) -> frozenset[str]:
        return frozenset(self._site_range)

    def first_names(self, student_id: str) -> frozenset[str]:
        """Folded first-name forms of a student (legal, preferred, their nicknames' heads): what a caption
        says when it names the student by first name only."""
        if self._positions is None:
            self._positions = {sid: idx for idx, sid in enumerate(self._ids)}
        idx = self._positions.get(student_id)
        if idx is None:
            return frozenset()
        return frozenset(" ".join(words) for words in self._given_of[idx][0]) | frozenset(self._given_of[idx][1])

    # -- public API --------------------------------------------------------------------------------------

    def find(self, texts: Mapping[str, str] | Sequence[str], site_id: str | None = None) -> list[Match]:
        """Students identified in the texts of one image, best match per student, highest confidence first.

        ``texts`` maps a source name (alt, figcaption, filename, exif...) to its text; a plain list is named
        ``text0``, ``text1``... When ``site_id`` is a site with students in the roster, only its students are
        candidates; a page of a site without students (the district office) or of unknown site searches the
        whole roster, where a lone first name never counts. Matches below ``REVIEW`` are not returned.
        """
        items = texts.items() if isinstance(texts, Mapping) else ((f"text{i}", t) for i, t in enumerate(texts))
        members = self._scope(site_id)
        best: dict[str, Match] = {}
        for source, text in items:
            if not text:
                continue
            for match in self._scan(str(text), source, members, site_id if members is not None else None):
                known = best.get(match.student_id)
                if known is None or match.confidence > known.confidence:
                    best[match.student_id] = match
        return sorted(best.values(), key=lambda m: (-m.confidence, m.student_id))

    def find_many(
        self, captions: Iterable[str], site_ids: Iterable[str | None] | None = None, source: str = "caption"
    ) -> list[list[Match]]:
        """:meth:`find` for a batch of single texts (one list of matches per caption, same order)."""
        out: list[list[Match]] = []
        sites: Iterator[str | None] = iter(site_ids) if site_ids is not None else iter(lambda: None, 0)
        for caption in captions:
            out.append(self.find({source: caption}, next(sites)))
        return out

    # -- internals ---------------------------------------------------------------------------------------

    def _scope(self, site_id: str | None) -> tuple[int, int] | None:
        return None if site_id is None else self._site_range.get(site_id)

    def _site_first_index(self, site_id: str) -> dict[str, list[int]]:
        """First-name token -> students of the site having it (built on first use of the site)."""
        index = self._site_firsts.get(site_id)
        if index is None:
            built: dict[str, list[int]] = defaultdict(list)
            for idx in range(*self._site_range.get(site_id, (0, 0))):
                for head in self._given_of[idx][1]:
                    built[head].append(idx)
            self._site_firsts[site_id] = index = dict(built)
        return index

    @staticmethod
    def _lookup(table: Mapping[str, tuple[int, ...]], key: str, members: tuple[int, int] | None) -> Sequence[int]:
        found = table.get(key)
        if not found:
            return []
        if members is None:
            return found
        lo, hi = members
        return found[bisect_left(found, lo) : bisect_left(found, hi)]

    def _scan(self, raw: str, source: str, members: tuple[int, int] | None, site_id: str | None) -> list[Match]:
        text = _nfc(raw[:MAX_TEXT_CHARS])
        folded, moved = _fold_same_length(text)
        hits = list(self._automaton.iter(f" {folded} "))
        if not hits:
            return []
        words: list[str] = []
        starts: list[int] = []
        ends: list[int] = []
        for m in _WORD.finditer(folded):
            words.append(m.group())
            starts.append(m.start())
            ends.append(m.end())
        at_start = {s: i for i, s in enumerate(starts)}
        kinds = [0] * len(words)
        distractor_spans: list[tuple[int, int]] = []
        for end, (length, kind, key) in hits:
            begin = end - length + 1  # padded offset of the leading space == folded offset of the word
            if kind & _KIND_DISTRACTOR:
                where = self._distractors[key]
                if site_id is None or None in where or site_id in where:
                    distractor_spans.append((begin, end - 1))
                else:
                    kind &= ~_KIND_DISTRACTOR  # a staff member of another school
            i = at_start.get(begin)
            if i is not None and ends[i] == end - 1:
                kinds[i] |= kind
        # Word ends in the original: "O'Brien" is one letter longer than its folded "obrien".
        oends = [_word_end(text, e) for e in ends] if moved else ends
        mixed_case = text != text.lower()
        scan = _TextScan(self, text, words, starts, oends, kinds, members, mixed_case)
        accepted = _resolve(scan.candidates())
        if site_id is not None:
            accepted += scan.lone_first_names(accepted, self._site_first_index(site_id))
        out: list[Match] = []
        for cand in accepted:
            conf = cand.conf
            others: list[int] = []
            if len(cand.students) > 1:
                cand.students, others = self._prefer_display_name(cand, words)
            span = (starts[cand.start], ends[cand.end])
            if any(a <= span[0] and span[1] <= b and (a, b) != span for a, b in distractor_spans):
                continue  # "Cesar Chavez" inside "Cesar Chavez Elementary"
            if span in distractor_spans:
                conf = min(conf, CONF_AMBIGUOUS_CAP)  # a staff member or a place with exactly this name
            if scan.staff_or_place(cand):
                continue
            # The first name's capital decides ("del Rio, Ana" starts with a lower-case particle).
            if mixed_case and not text[starts[cand.first_at]].isupper():
                if words[cand.first_at] in WORD_NAMES:
                    continue  # "we hope grace park is open": words, not a name
                conf -= LOWERCASE_PENALTY
            if len(cand.students) > 1:
                conf = min(conf, CONF_AMBIGUOUS_CAP)
            if conf < REVIEW:
                continue
            o_start, o_end = starts[cand.start], oends[cand.end]
            if cand.form == "initial" and text[o_end : o_end + 1] == ".":
                o_end += 1
            matched = text[o_start:o_end]
            snippet = _snippet(text, o_start, o_end)
            for idx in cand.students:
                out.append(Match(self._ids[idx], round(conf, 3), matched, source, snippet, cand.form))
            review = round(min(conf, CONF_AMBIGUOUS_CAP), 3)
            for idx in others:
                out.append(Match(self._ids[idx], review, matched, source, snippet, cand.form))
        return out

    def _prefer_display_name(self, cand: _Cand, words: list[str]) -> tuple[list[int], list[int]]:
        """Namesakes: the one whose everyday (preferred) first name is the written one, if only one.

        Schools write the name a student goes by, so "Thomas O." is the Thomas O'Connor who has no preferred
        name rather than the one who goes by "Tom"; the other stays a candidate for review.
        """
        written = words[cand.first_at]
        preferred = [i for i in cand.students if self._given_of[i][3][0] == written]
        if len(preferred) == 1:
            return preferred, [i for i in cand.students if i not in preferred]
        return cand.students, []


class _TextScan:
    """Candidate generation over one tokenised text (a helper object so the rules read one by one)."""

    def __init__(
        self,
        index: NameIndex,
        text: str,
        words: list[str],
        starts: list[int],
        ends: list[int],
        kinds: list[int],
        members: tuple[int, int] | None,
        mixed_case: bool,
    ) -> None:
        self.ix = index
        self.text = text  # the original (NFC) text: separators, capitals and quotes come from it
        self.words = words  # folded words
        self.starts = starts
        self.ends = ends  # word ends in the original text
        self.kinds = kinds
        self.members = members
        self.mixed_case = mixed_case

    def sep(self, i: int) -> str:
        """Original characters between word ``i`` and word ``i + 1``, stripped."""
        return self.text[self.ends[i] : self.starts[i + 1]].strip()

    def joined(self, i: int) -> bool:
        """Words ``i`` and ``i + 1`` belong to one name: only spaces, a hyphen, or the dot of an initial."""
        s = self.sep(i)
        return s in ("", "-") or (s == "." and len(self.words[i]) == 1)

    def capitalised(self, i: int) -> bool:
        return not self.mixed_case or self.text[self.starts[i]].isupper()

    def first_variants(self, i: int) -> list[tuple[str, bool]]:
        """(first token, via nickname) pairs the word at ``i`` can stand for."""
        word, kind = self.words[i], self.kinds[i]
        out: list[tuple[str, bool]] = []
        if kind & _KIND_FIRST:
            out.append((word, False))
        if kind & _KIND_NICK:
            out.extend((c, True) for c in self.ix._nicknames[word] if c != word)
        return out

    def candidates(self) -> list[_Cand]:
        cands: list[_Cand] = []
        n = len(self.words)
        for i in range(n):
            kind = self.kinds[i]
            if kind & (_KIND_FIRST | _KIND_NICK):
                found = self._first_last(i, cands)
                if i + 1 < n:
                    # Also when a full reading exists: "María del Carmen B." must compete with "María del".
                    self._initial(i, cands)
                    if not found:
                        self._fuzzy_surname(i, cands)
            if kind & _KIND_LAST and i > 0 and len(self.words[i - 1]) == 1:
                self._initial_surname(i - 1, cands)
            if kind & _KIND_LAST and i + 1 < n and self.sep(i) == ",":
                self._last_comma_first(i, cands)
            if kind & _KIND_LAST and i > 0:
                self._fuzzy_first(i, cands)
        return cands

    def _first_last(self, i: int, cands: list[_Cand]) -> bool:
        """Reading order, "First [middle/initial] Last", with the first name (or a nickname) at ``i``."""
        found = False
        n = len(self.words)
        variants = self.first_variants(i)
        j = i
        while j + 1 < n and j - i < 3 and self.joined(j):
            j += 1
            if not self.kinds[j] and len(self.words[j]) > 1:
                break  # not a name word and not an initial: the name ended
            exact = False
            for first, via_nick in variants:
                if via_nick and exact:
                    break  # "Elizabeth Cobb" read as written; not also as a nickname of someone else
                ids = self.ix._lookup(self.ix._pairs, f"{first} {self.words[j]}", self.members)
                by_span: dict[tuple[int, str], list[int]] = defaultdict(list)
                for idx in ids:
                    st = self.ix._student(idx)
                    if any(len(self.words[g]) > 1 and self.words[g] not in st.tokens for g in range(i + 1, j)):
                        continue  # an unknown word in the middle: not this student's name
                    end, conf = self._surname_extent(st, j)
                    if not conf:
                        continue
                    if via_nick:
                        conf -= NICKNAME_PENALTY
                    by_span[(end, f"{conf:.3f}")].append(idx)
                for (end, conf_s), group in by_span.items():
                    cands.append(_Cand(group, i, end, float(conf_s), "nickname" if via_nick else "full", i))
                    found = True
                    exact = exact or not via_nick
        return found

    def _surname_extent(self, st: _Student, j: int) -> tuple[int, float]:
        """Extend from the surname word at ``j`` over the student's further surname words; grade the cover.

        Confidence 0.0 when no surname form of the student reads there.
        """
        best_end, best_conf = j, 0.0
        for form in st.lasts:
            if self.words[j] not in form:
                continue
            k = form.index(self.words[j])
            end = j
            while (
                k + (end - j) + 1 < len(form)
                and end + 1 < len(self.words)
                and self.joined(end)
                and self.words[end + 1] == form[k + (end - j) + 1]
            ):
                end += 1
            covered = end - j + 1
            if k > 0 and all(w in SURNAME_PARTICLES for w in form[k : k + covered]):
                continue  # "del" of "Quiñónez del Valle" alone is no surname ("María del Carmen ...")
            if k == 0 and covered == len(form):
                conf = CONF_FULL
            elif k == 0:
                conf = CONF_FIRST_SURNAME
            else:
                conf = CONF_LATER_SURNAME
            if conf > best_conf or (conf == best_conf and end > best_end):
                best_end, best_conf = end, conf
        return best_end, best_conf

    def _last_comma_first(self, i: int, cands: list[_Cand]) -> None:
        """Name in roster order, "Garcia Lopez, Maria", with the surname word at ``i``."""
        f = i + 1
        # "Ana Ruiz, Ben Cho": "Ben" starts another full name, so "Ruiz, Ben" is not a roster-order name.
        next_is_word = (
            f + 1 < len(self.words) and self.sep(f) == "" and self.capitalised(f + 1) and self.words[f + 1].isalpha()
        )
        for first, via_nick in self.first_variants(f):
            for idx in self.ix._lookup(self.ix._pairs, f"{first} {self.words[i]}", self.members):
                st = self.ix._student(idx)
                if next_is_word and self.words[f + 1] not in st.tokens:
                    continue
                start, whole = i, False
                for form in st.lasts:
                    if self.words[i] == form[-1]:
                        k = len(form) - 1
                        s = i
                        while k > 0 and s > 0 and self.joined(s - 1) and self.words[s - 1] == form[k - 1]:
                            s, k = s - 1, k - 1
                        if k == 0:
                            start, whole = s, True
                            break
                end = f
                while end + 1 < len(self.words) and self.joined(end) and self.words[end + 1] in st.tokens:
                    end += 1
                conf = CONF_LAST_FIRST if whole else CONF_LAST_FIRST_PARTIAL
                if via_nick:
                    conf -= NICKNAME_PENALTY
                cands.append(_Cand([idx], start, end, conf, "last_first", f))

    def _initial(self, i: int, cands: list[_Cand]) -> None:
        """First name and surname initial, "Ana R." or "Luis Miguel T." (the dot is optional)."""
        n = len(self.words)
        j = i + 1
        while j < n and self.kinds[j] & _KIND_PART and self.sep(j - 1) == "":
            j += 1  # the rest of a compound first name
        if j >= n or not self.capitalised(i) or self.sep(j - 1) not in ("", "-"):
            return
        letter = self.words[j]
        if len(letter) != 1 or not letter.isalpha():
            return
        dotted = self.text[self.ends[j] : self.ends[j] + 1] == "."
        lower = self.mixed_case and not self.text[self.starts[j]].isupper()
        if lower and not dotted:
            return  # "Ana a ..." is a word, "Yeni d." an initial
        nxt = j + 1
        if (
            nxt < n
            and self.joined(j)
            and (self.kinds[nxt] & _KIND_LAST or (self.mixed_case and self.capitalised(nxt) and self.sep(j) == ""))
        ):
            # "Ana R. Smith", "Ana R Smith": a middle initial of someone not on the roster. In a lower-case
            # file name ("agustin z student council") only a surname after the letter says so.
            return
        written = tuple(self.words[i:j])
        for first, via_nick in self.first_variants(i):
            ids = self.ix._lookup(self.ix._initials, f"{first} {letter}", self.members)
            if len(written) > 1:
                ids = [x for x in ids if any(f[: len(written)] == written for f in self.ix._given_of[x][0])]
            if lower:
                ids = [x for x in ids if letter in self.ix._family_of[x][3]]
            if not ids:
                continue
            conf = CONF_INITIAL - (NICKNAME_PENALTY if via_nick else 0.0)
            if self.words[i] in WORD_NAMES:
                conf -= WORD_NAME_PENALTY
            # Unique in scope or it is not an identification: "Maria G." fits every Maria Garcia.
            cands.append(_Cand(list(ids), i, j, conf, "nickname" if via_nick else "initial", i))
            if not via_nick:
                return  # a roster first name read as written: no nickname reading on top

    def _initial_surname(self, i: int, cands: list[_Cand]) -> None:
        """First initial and surname, "N. Davies" or a portrait file "NDavies.jpg" (split to "N Davies")."""
        letter, j = self.words[i], i + 1
        if not letter.isalpha() or not self.joined(i) or not (self.capitalised(i) and self.capitalised(j)):
            return
        if i > 0 and self.joined(i - 1) and self.kinds[i - 1] & (_KIND_FIRST | _KIND_NICK | _KIND_PART):
            return  # "Maria J. Garcia": a middle initial, read by the full-name reading
        ids = self.ix._lookup(self.ix._initial_first, f"{letter} {self.words[j]}", self.members)
        if ids:
            cands.append(_Cand(list(ids), i, j, CONF_INITIAL, "initial_first", i))

    def _fuzzy_surname(self, i: int, cands: list[_Cand]) -> None:
        j = i + 1
        word = self.words[j]
        if len(word) < FUZZY_MIN_LEN or not self.joined(i) or not self.capitalised(j) or not word.isalpha():
            return
        # An exact roster surname of someone else does not block the reading: this is only tried when no
        # student in scope has the exact name, and the candidates compete on the evidence like any other.
        for cand_last in _near(word, self.ix._last_deletes):
            for first, via_nick in self.first_variants(i):
                ids = self.ix._lookup(self.ix._pairs, f"{first} {cand_last}", self.members)
                if ids:
                    # A nickname and a typo together ("Alex Rodriguez" for Alexander Rodrigues) is a reading
                    # worth a look, never an identification on its own.
                    conf = CONF_FUZZY - (NICKNAME_PENALTY if via_nick else 0.0)
                    cands.append(_Cand(list(ids), i, j, conf, "fuzzy", i))

    def _fuzzy_first(self, j: int, cands: list[_Cand]) -> None:
        i = j - 1
        word = self.words[i]
        if self.kinds[i] & (_KIND_FIRST | _KIND_NICK):
            return  # an exact roster first name: handled (or rejected) by the exact rules
        if len(word) < FUZZY_MIN_LEN or not self.joined(i) or not self.capitalised(i) or not word.isalpha():
            return
        for cand_first in _near(word, self.ix._first_deletes):
            ids = self.ix._lookup(self.ix._pairs, f"{cand_first} {self.words[j]}", self.members)
            if ids:
                cands.append(_Cand(list(ids), i, j, CONF_FUZZY, "fuzzy", i))

    def lone_first_names(self, accepted: list[_Cand], site_firsts: Mapping[str, list[int]]) -> list[_Cand]:
        """A first name alone, unique at the site, in a name-like context: low confidence (needs review)."""
        used = {t for c in accepted for t in range(c.start, c.end + 1)}
        out: list[_Cand] = []
        for i, word in enumerate(self.words):
            if i in used or not self.kinds[i] & _KIND_FIRST or self.kinds[i] & _KIND_DISTRACTOR:
                continue
            if word in WORD_NAMES or len(site_firsts.get(word, ())) != 1:
                continue
            if not self.mixed_case or not self.text[self.starts[i]].isupper():
                continue  # a file name's lone word or a lower-case word is not enough
            nxt = i + 1
            if nxt < len(self.words) and self.sep(i) == "" and self.capitalised(nxt) and self.words[nxt].isalpha():
                continue  # "Carla Diaz" at a school without a Carla Diaz: someone else's full name
            if self._name_context(i, used):
                out.append(_Cand(list(site_firsts[word]), i, i, CONF_FIRST_ONLY, "first_only", i))
        return out

    def _name_context(self, i: int, used: set[int]) -> bool:
        n = len(self.words)
        if i + 1 < n and self.words[i + 1] == "s" and self.text[self.ends[i] : self.ends[i] + 1] in _APOSTROPHES:
            return True  # possessive: "Ana's project"
        if n <= 2:
            return True  # the whole alt text is the name
        before = self.words[i - 1] if i > 0 else ""
        if before in NAME_CUES or (before in ("to", "of", "for") and i > 1 and self.words[i - 2] in NAME_CUES):
            return True  # "pictured: Ana", "Congratulations to Ana"
        # In a list next to an identified name: "Ana, Ben Cho and Carla Diaz".
        return (i - 1 in used or (i >= 2 and i - 2 in used and before in ("and", "y"))) or (
            i + 1 < n and (i + 1 in used or (i + 2 < n and i + 2 in used and self.words[i + 1] in ("and", "y")))
        )

    def staff_or_place(self, cand: _Cand) -> bool:
        """Right after an honorific ("Coach Ben Cho") or before a capitalised place word ("Grace Park Elementary")."""
        s, e = cand.start, cand.end
        if s > 0 and self.words[s - 1] in HONORIFICS and self.sep(s - 1) in ("", "."):
            return True
        # Only a capitalised place word makes a place name ("Grace Park Elementary"); a full name followed by an
        # ordinary word is still a name ("Mia Chen field trip photos", "Mia Chen lane 4").
        return (
            e + 1 < len(self.words)
            and self.words[e + 1] in PLACE_WORDS
            and self.sep(e) == ""
            and self.capitalised(e + 1)
        )


def _resolve(cands: list[_Cand]) -> list[_Cand]:
    """Keep the strongest reading of each stretch of words; weaker overlapping readings are dropped.

    A longer reading gets ``SPAN_BONUS`` per extra word, so "María José Casas" (one student, first surname
    only) is not cut into "José Casas" (another student, whole name). Readings of the same words within
    ``NAMESAKE_MARGIN`` of each other are one ambiguous group.
    """
    cands.sort(key=lambda c: (-(c.conf + SPAN_BONUS * (c.end - c.start)), c.start))
    used: set[int] = set()
    accepted: list[_Cand] = []
    by_span: dict[tuple[int, int], _Cand] = {}
    for c in cands:
        group = by_span.get((c.start, c.end))
        if group is not None:
            if group.conf - c.conf <= NAMESAKE_MARGIN:
                group.students.extend(i for i in c.students if i not in group.students)
            continue
        if any(t in used for t in range(c.start, c.end + 1)):
            continue
        group = _Cand(list(dict.fromkeys(c.students)), c.start, c.end, c.conf, c.form, c.first_at)
        by_span[(c.start, c.end)] = group
        accepted.append(group)
        used.update(range(c.start, c.end + 1))
    return [c for c in accepted if len(c.students) <= MAX_AMBIGUOUS]


def _near(word: str, deletes: Mapping[str, tuple[str, ...]]) -> set[str]:
    """Roster tokens within one edit (OSA: substitution, insertion, deletion, swap) of ``word``."""
    found: set[str] = set()
    for key in (word, *_deletions(word)):
        for token in deletes.get(key, ()):
            if token != word and OSA.distance(word, token, score_cutoff=1) <= 1:
                found.add(token)
    return found


def _deletion_index(tokens: Iterable[str]) -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = defaultdict(list)
    for t in tokens:
        if len(t) < FUZZY_MIN_LEN - 1:
            continue
        index[t].append(t)
        for d in set(_deletions(t)):
            index[d].append(t)
    return {k: tuple(v) for k, v in index.items()}


def _nickname_map(first_tokens: frozenset[str]) -> dict[str, frozenset[str]]:
    """Nickname -> roster first names it can stand for (the nicknames dataset plus ``EXTRA_NICKNAMES``)."""
    from nicknames import NickNamer

    namer = NickNamer()
    out: dict[str, set[str]] = defaultdict(set)
    for first in first_tokens:
        for nick in namer.nicknames_of(first):
            nick = fold(nick)
            if nick and " " not in nick and nick != first:
                out[nick].add(first)
    for nick, firsts in EXTRA_NICKNAMES.items():
        out[nick].update(f for f in firsts if f in first_tokens)
    return {k: frozenset(v) for k, v in out.items() if v}


def nickname_map(first_names: Iterable[str]) -> dict[str, frozenset[str]]:
    """Folded nickname -> the folded first names (of ``first_names``) it can stand for; the same table the
    index uses, for callers that compare one written name with one roster entry (consent rows)."""
    return _nickname_map(frozenset(t for name in first_names for t in fold(name).split()))


def _word_end(text: str, end: int) -> int:
    # Inner apostrophes moved letters one place left in the folded text; take the rest of the word.
    while end < len(text) and text[end].isalpha():
        end += 1
    return end


def _snippet(text: str, start: int, end: int) -> str:
    left = max(0, start - SNIPPET_RADIUS)
    right = min(len(text), end + SNIPPET_RADIUS)
    body = _WS.sub(" ", text[left:right]).strip()
    return f"{'…' if left else ''}{body}{'…' if right < len(text) else ''}"


def build_index(
    students: Iterable[StudentName | Mapping[str, Any] | Any],
    *,
    distractors: Iterable[str | tuple[str, str | None]] = (),
) -> NameIndex:
    """Index a roster once: ``StudentName``, SIS rows (mappings) or ``models.Student`` rows.

    ``distractors`` are names and phrases that are not students: staff names, school and place names
    ("Lincoln", "Washington Middle School", "Cesar Chavez"), either a plain string (everywhere) or a
    ``(text, site_id)`` pair (only on that site's pages and on pages of unknown site). A match inside a longer
    distractor is dropped; a match equal to one is capped at needs-review.
    """
    return NameIndex([_coerce(s) for s in students], distractors)


def roster_digest(students: Iterable[StudentName], distractors: Iterable[str | tuple[str, str | None]] = ()) -> str:
    """A hash of everything an index is built from (every student's names and site, every distractor).

    Two rosters of the same size differ here as soon as one name, site or student differs, so an index cached
    under this key is never reused for a changed roster.
    """
    digest = hashlib.sha256()
    for s in sorted(students, key=lambda st: st.student_id):
        fields = (s.student_id, s.legal_first, s.legal_last, s.preferred_first, s.preferred_last, s.site_id)
        digest.update("\x1f".join(f or "" for f in fields).encode() + b"\x1e")
    digest.update(b"\x1d")
    for d in sorted(str(item) for item in distractors):
        digest.update(d.encode() + b"\x1e")
    return digest.hexdigest()


class IndexCache:
    """The last few indexes built, keyed by :func:`roster_digest`: building is the expensive part, matching
    and hashing the roster are cheap, so a worker process builds once per roster content."""

    def __init__(self, size: int = 2) -> None:
        self.size = size
        self._indexes: dict[str, NameIndex] = {}

    def get(
        self,
        students: Iterable[StudentName | Mapping[str, Any] | Any],
        distractors: Sequence[str | tuple[str, str | None]] = (),
    ) -> NameIndex:
        """The index of this roster (anything :func:`build_index` takes), built now only if its content is new."""
        names = [_coerce(s) for s in students]
        key = roster_digest(names, distractors)
        index = self._indexes.pop(key, None)
        if index is None:
            index = NameIndex(names, distractors)
        self._indexes[key] = index  # most recent last
        while len(self._indexes) > self.size:
            self._indexes.pop(next(iter(self._indexes)))
        return index


# -- evaluation helpers (tests and benchmarks) ----------------------------------------------------------


def load_evaluation_set(
    path: Path,
) -> tuple[list[StudentName], list[str | tuple[str, str | None]], list[dict[str, Any]]]:
    """Roster, distractors and truth captions of a sample district (``compliance.sample`` layout).

    Returns (students from sis/students.csv, distractors = staff and associated persons' names and the site
    names, the records of truth/captions.jsonl). For evaluation and benchmarks; ingest has its own readers.
    """
    roster: list[StudentName] = []
    with (path / "sis" / "students.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            roster.append(
                StudentName(
                    student_id=row["student_id"],
                    legal_first=row["legal_first"],
                    legal_last=row["legal_last"],
                    preferred_first=row.get("preferred_first") or None,
                    preferred_last=row.get("preferred_last") or None,
                    site_id=row.get("site_id") or None,
                )
            )
    # Staff and associated persons count as distractors at their own site only.
    distractors: list[str | tuple[str, str | None]] = []
    users = path / "directory" / "users.json"
    if users.is_file():
        for user in json.loads(users.read_text(encoding="utf-8")):
            name = user.get("name") or {}
            full = name.get("fullName") or f"{name.get('givenName', '')} {name.get('familyName', '')}"
            site = ((user.get("customSchemas") or {}).get("District") or {}).get("site_id")
            if full.strip():
                distractors.append((full, site))
    people = path / "truth" / "people.json"
    if people.is_file():
        for person in json.loads(people.read_text(encoding="utf-8")):
            if person.get("kind") == PersonKind.ASSOCIATED:
                full = f"{person.get('given_name', '')} {person.get('family_name', '')}"
                distractors.append((full, person.get("site_id")))
    profile = path / "profile.toml"
    if profile.is_file():
        data = tomllib.loads(profile.read_text(encoding="utf-8"))
        distractors += [s["name"] for s in data.get("sites", []) if s.get("name")]
    captions: list[dict[str, Any]] = []
    with (path / "truth" / "captions.jsonl").open(encoding="utf-8") as fh:
        captions = [json.loads(line) for line in fh if line.strip()]
    return roster, distractors, captions


def precision_recall(
    truths: Sequence[Iterable[str]], predictions: Sequence[Iterable[Match] | set[str]]
) -> tuple[float, float, float]:
    """(precision, recall, F1) of identified students: ``truths[k]`` holds the ids text ``k`` identifies.

    A prediction is a list of matches (those at ``IDENTIFIED`` or more count) or a set of student ids.
    """
    tp = fp = fn = 0
    for ids, pred in zip(truths, predictions, strict=True):
        got = {p if isinstance(p, str) else p.student_id for p in pred if isinstance(p, str) or p.identified}
        truth = set(ids)
        tp += len(got & truth)
        fp += len(got - truth)
        fn += len(truth - got)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1
