"""What a person without a Google account gets from a file's public link (no token, no cookies).

Not an API call: the same anonymous HTTP GET a browser makes. Docs serve ``/document/d/<id>/export?format=``
and Drive ``/uc?export=download&id=`` for files open to anyone with the link, and redirect to the sign-in page
otherwise. Used to prove that the policy really opens for an outside recipient.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Literal

import httpx

from compliance.settings import Settings

DOCS_HOST = "https://docs.google.com"
DRIVE_HOST = "https://drive.google.com"


@dataclass(frozen=True)
class PublicFetch:
    """An anonymous fetch: ``readable`` when the content itself came back (not a sign-in redirect or page)."""

    url: str
    status: int
    content_type: str
    body: bytes

    @property
    def readable(self) -> bool:
        return self.status == 200 and not self.content_type.startswith("text/html")


def public_url(settings: Settings, file_id: str, kind: Literal["doc_text", "doc_pdf", "file"]) -> str:
    """The anonymous link for a Doc's text or PDF, or a stored file's bytes (on the emulator when configured)."""
    base = (settings.google.emulator_url or "").rstrip("/")
    if kind == "file":
        return f"{base or DRIVE_HOST}/uc?export=download&id={file_id}"
    fmt = "pdf" if kind == "doc_pdf" else "txt"
    return f"{base or DOCS_HOST}/document/d/{file_id}/export?format={fmt}"


def fetch_anonymously(settings: Settings, url: str) -> PublicFetch:
    """GET ``url`` as nobody: no credentials, redirects not followed (a redirect is the sign-in page)."""
    # An SSLContext, not a path: httpx deprecates verify=<str>.
    ca = settings.google.ca_bundle
    verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(ca)) if ca else True
    with httpx.Client(verify=verify, timeout=settings.google.timeout_seconds, follow_redirects=False) as client:
        response = client.get(url)
    return PublicFetch(url, response.status_code, response.headers.get("content-type", ""), response.content)


__all__ = ["PublicFetch", "fetch_anonymously", "public_url"]
