"""What one night reads of an account: the items that are new or changed, and the ids still published."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from compliance.errors import ConfigurationError
from compliance.google.errors import GoogleApiError, PermissionDenied
from compliance.vocabulary import FindingKind


@dataclass
class ItemRead:
    """One video, blog post or exported post as read tonight.

    ``appearances`` are ``(image_url, texts)`` pairs in the website audit's form: texts by source name (title,
    description, tags, caption, alt, exif...), ``image_url`` the thumbnail, photo or media file that goes with
    them; ``""`` holds a blog post's own text (a name finding) as on a web page.
    """

    item_id: str
    url: str
    version: str
    kind: str = FindingKind.POST
    appearances: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    # YouTube's privacyStatus of a video read as the channel's owner (public, unlisted, private); None otherwise.
    privacy: str | None = None

    def evidence(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "appearances": [{"image_url": url, "texts": dict(texts)} for url, texts in self.appearances]
        }
        if self.privacy:
            out["privacy"] = self.privacy
        return out


@dataclass
class AccountRead:
    """An account after tonight's read: ``changed`` items to store, ``live`` the ids still published.

    ``complete`` False means the listing stopped early (a quota, an error): items not listed are kept as they
    were, never taken for deleted. ``problems`` are ``(file or item, reason)`` for what was skipped.
    """

    title: str = ""
    resolved_id: str = ""
    changed: list[ItemRead] = field(default_factory=list)
    live: set[str] = field(default_factory=set)
    complete: bool = True
    held_reason: str | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def raise_if_configuration(exc: GoogleApiError, api: str) -> None:
    """Errors no night can mend stop the run with the fix (an API not enabled, a bad or restricted key);
    anything else holds only this account until the next night."""
    if isinstance(exc, PermissionDenied):
        raise exc
    if exc.status == 400 and "api key" in str(exc).lower():
        raise ConfigurationError(
            f"the {api} API refused google.api_key (DC_GOOGLE__API_KEY): create or fix the key under Cloud console "
            f"> APIs & Services > Credentials and allow it the {api} API"
        ) from exc


__all__ = ["AccountRead", "ItemRead", "raise_if_configuration"]
