"""Name pools and the spelling variations real district lists contain.

Pools are drawn once from a seeded Faker (en_US and es_MX) so generation is fast at large scale: after the
pools exist every choice is a ``random.Random`` call. Drawing with repetition keeps Faker's frequency weights.
"""

from __future__ import annotations

import random
import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache

from faker import Faker

# Legal first name -> nicknames a family or a coach actually writes.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "Robert": ("Bobby", "Rob", "Bob"),
    "William": ("Will", "Billy", "Liam"),
    "Elizabeth": ("Liz", "Beth", "Libby"),
    "Katherine": ("Katie", "Kate"),
    "Michael": ("Mike", "Mikey"),
    "Christopher": ("Chris",),
    "Jennifer": ("Jen", "Jenny"),
    "Daniel": ("Danny", "Dan"),
    "Margaret": ("Maggie", "Peggy"),
    "Alexander": ("Alex", "Xander"),
    "Benjamin": ("Ben",),
    "Samantha": ("Sam",),
    "Nicholas": ("Nick",),
    "Jonathan": ("Jon",),
    "Anthony": ("Tony",),
    "Joseph": ("Joe", "Joey"),
    "Thomas": ("Tom", "Tommy"),
    "Patricia": ("Patty", "Trish"),
    "José": ("Pepe",),
    "Francisco": ("Paco", "Pancho"),
    "Guadalupe": ("Lupe",),
    "Jesús": ("Chuy",),
    "Alejandro": ("Alex",),
    "Ignacio": ("Nacho",),
    "Eduardo": ("Lalo",),
    "Enrique": ("Quique",),
    "Dolores": ("Lola",),
    "Rosario": ("Chayo",),
}

EN_NICKNAMEABLE = tuple(list(NICKNAMES)[:18])
APOSTROPHE_SURNAMES = ("O'Brien", "D'Angelo", "O'Connor", "O'Neil", "D'Souza", "N'Diaye", "O'Malley")
# Given names that are also ordinary words: pages use the words in sentences, which must not count as names.
WORD_GIVEN_NAMES = ("Hope", "May", "Grace", "Summer", "Faith", "Joy", "Sierra")
# Family names that are also places on the pages (Lincoln Park, Washington Middle School).
PLACE_SURNAMES = ("Lincoln", "Washington", "Park", "Roosevelt", "Vista")


@lru_cache(maxsize=500_000)
def strip_accents(text: str) -> str:
    """``"José Núñez"`` -> ``"Jose Nunez"`` (what an ASCII-only form or a tired typist produces)."""
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


# Names repeat a lot (pools of a few thousand), so the cache makes large-scale indexing cheap.
@lru_cache(maxsize=500_000)
def norm(text: str) -> str:
    """Matching key used to check that a name form is unambiguous: no accents, no punctuation, lower case."""
    text = strip_accents(text).casefold().replace("'", "").replace("\u2019", "")
    return " ".join(re.findall(r"[a-z0-9]+", text))


def slug(text: str) -> str:
    return norm(text).replace(" ", "-")


@dataclass
class NamePools:
    """Weighted pools; the lists repeat common names as often as Faker draws them."""

    en_first: list[str]
    es_first: list[str]
    en_last: list[str]
    es_last: list[str]
    companies: list[str]
    streets: list[str]
    extra: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def build(cls, fake: Faker, size: int = 2500) -> NamePools:
        en, es = fake["en_US"], fake["es_MX"]
        # es_MX includes compound given names ("Luis Miguel"), which SIS exports keep as one legal first name.
        return cls(
            en_first=[en.first_name() for _ in range(size)],
            es_first=[es.first_name() for _ in range(size)],
            en_last=[en.last_name() for _ in range(size)],
            es_last=[es.last_name() for _ in range(size)],
            companies=[en.company() for _ in range(200)] + [es.company() for _ in range(100)],
            streets=[en.street_name() for _ in range(200)],
        )

    def person(self, rng: random.Random, hispanic_share: float = 0.5) -> tuple[str, str]:
        """(given, family) with the district's real variety: two surnames, hyphens, apostrophes, nicknames."""
        roll = rng.random()
        if roll < hispanic_share:
            given = rng.choice(self.es_first)
            first = rng.choice(self.es_last)
            r = rng.random()
            if r < 0.45:
                family = f"{first} {rng.choice(self.es_last)}"
            elif r < 0.55:
                family = f"{first}-{rng.choice(self.es_last)}"
            else:
                family = first
        else:
            given = rng.choice(EN_NICKNAMEABLE) if rng.random() < 0.12 else rng.choice(self.en_first)
            r = rng.random()
            if r < 0.03:
                family = rng.choice(APOSTROPHE_SURNAMES)
            elif r < 0.08:
                family = f"{rng.choice(self.en_last)}-{rng.choice(self.en_last)}"
            else:
                family = rng.choice(self.en_last)
        if family.split()[0] == given or family == given:
            family = rng.choice(self.en_last)
        return given, family


def phone(rng: random.Random, style: int | None = None) -> str:
    """A 661 (Kern County) number in one of the ways people write phone numbers."""
    number = (rng.randint(200, 989), rng.randint(100, 999), rng.randint(0, 9999))
    style = rng.randrange(4) if style is None else style
    a, b, c = number
    return [f"({a}) {b}-{c:04d}", f"{a}-{b}-{c:04d}", f"{a}.{b}.{c:04d}", f"+1 {a} {b} {c:04d}"][style]


def reformat_phone(value: str, rng: random.Random) -> str:
    digits = re.sub(r"\D", "", value)[-10:]
    a, b, c = digits[:3], digits[3:6], digits[6:]
    return rng.choice([f"({a}) {b}-{c}", f"{a}-{b}-{c}", f"{a}.{b}.{c}", f"{a}{b}{c}"])


def email_for(given: str, family: str, rng: random.Random, domain: str | None = None) -> str:
    """A personal address the way parents and vendors have them (ASCII local part)."""
    g, f = slug(given).replace("-", ""), slug(family).split("-")[0]
    domain = domain or rng.choice(["gmail.com", "yahoo.com", "outlook.com", "icloud.com", "att.net", "hotmail.com"])
    style = rng.randrange(4)
    local = [f"{g}.{f}", f"{g[0]}{f}", f"{g}{f}{rng.randint(1, 99)}", f"{f}.{g}"][style]
    return f"{local}@{domain}"


def spelling_variant(given: str, family: str, rng: random.Random, kind: str) -> tuple[str, str]:
    """The same person as another list writes them: accents dropped, nickname, hyphen vs space, initial."""
    if kind == "accents":
        return strip_accents(given), strip_accents(family)
    if kind == "nickname" and given in NICKNAMES:
        return rng.choice(NICKNAMES[given]), family
    if kind == "hyphen":
        if "-" in family:
            return given, family.replace("-", " ")
        if " " in family:
            return given, family.replace(" ", "-")
    if kind == "initial":
        return f"{given} {rng.choice('ABCDEFGJLMRST')}.", family
    if kind == "case":
        return given.upper(), family.upper()
    # Fallback that always differs: first surname only, or accents dropped.
    if " " in family:
        return given, family.split()[0]
    return strip_accents(given) if strip_accents(given) != given else given.lower(), family
