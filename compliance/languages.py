"""Which language a person is written to, and what is sent when a text does not exist in it.

Where a preference comes from, first found wins (compliance.roster): the Directory custom schema
(``District.preferred_language``, else the user's ``languages`` entry marked ``preferred``), the language column
of a school's Associated Persons list ("Language", "Preferred language", "Idioma", ...), and for parents on
committees the SIS home language of the family whose guardian contact they are. Districts write languages many
ways ("Spanish", "Español", "es-MX", "SP", the CALPADS code "01"): :func:`language_code` reads them all.

A message goes in the person's language when its template exists in that language, else in English; the policy
is linked in the person's language when the profile gives that translation, else in English. Either fallback is
recorded in the delivery's context (``language_fallback``, ``policy_language``), so the ledger says what the
person really received.
"""

from __future__ import annotations

import re
import unicodedata

from compliance.vocabulary import Language

DEFAULT_LANGUAGE: Language = "en"
MESSAGE_LANGUAGES: tuple[Language, ...] = ("en", "es")
# The words people and systems use for a language (folded: lower case, no accents), and CALPADS home-language
# codes (00 English, 01 Spanish) as SIS exports carry them.
_NAMES: dict[str, Language] = {
    "en": "en", "eng": "en", "english": "en", "ingles": "en", "00": "en",
    "es": "es", "spa": "es", "sp": "es", "spanish": "es", "espanol": "es", "castellano": "es", "01": "es",
}  # fmt: skip
LANGUAGE_ANSWERS: dict[Language, str] = {"en": "English", "es": "Español"}


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in text if not unicodedata.combining(ch)).casefold().strip()


def language_code(text: object) -> Language | None:
    """'Spanish', 'Español', 'es-MX', 'SP', '01' -> 'es'; 'English' -> 'en'; anything else (another language, a
    blank, 'N/A') -> None, so the next source or the campaign's language decides rather than a guess."""
    if text is None:
        return None
    folded = _fold(str(text))
    if not folded:
        return None
    if folded in _NAMES:
        return _NAMES[folded]
    head = re.split(r"[-_ /(,;]", folded, maxsplit=1)[0]  # es-MX, "Spanish (Mexico)", "spanish/english"
    return _NAMES.get(head) if head in _NAMES and len(head) > 1 else None


def answer_language(text: str | None) -> Language | None:
    """The form's language answer ("English" / "Español") as a code."""
    return language_code(text)


def message_language(preferred: str | None, default: str | None) -> Language:
    """The language a person's message goes in: their own preference when we can write to them in it, else the
    campaign's (or English)."""
    pref = language_code(preferred)
    if pref in MESSAGE_LANGUAGES:
        return pref  # type: ignore[return-value]
    fallback = language_code(default)
    return fallback if fallback in MESSAGE_LANGUAGES else DEFAULT_LANGUAGE  # type: ignore[return-value]


def policy_language(translations: dict | None, language: str) -> Language:
    """The language of the policy text a message in ``language`` links to: that language when the version has
    it, else English (the fallback the delivery records as ``policy_language``)."""
    if language in MESSAGE_LANGUAGES and (language == DEFAULT_LANGUAGE or language in (translations or {})):
        return language  # type: ignore[return-value]
    return DEFAULT_LANGUAGE



def language_context(language: str, translations: dict | None) -> dict[str, str]:
    """What a personal message's ledger row records of its languages: the message's, and the policy text's when
    that fell back to English (no translation in the profile)."""
    text = policy_language(translations, language)
    return {"language": language, **({"policy_language": text} if text != language else {})}
