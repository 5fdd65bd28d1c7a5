"""Email rendering and RFC 2822 message building for campaigns, digests and reports (no Google calls here).

Templates live in ``templates/email/``: ``<name>.<lang>.txt`` holds the ``subject`` block and the plain-text
body, ``<name>.<lang>.html`` the HTML body; both extend a shared layout (``_layout.txt`` / ``_layout.html``)
so signature and footer exist once, and every greeting is ``greet()`` (:mod:`compliance.greetings`). HTML is
autoescaped, every variable must exist (``StrictUndefined``), and templates are compiled once per process.

HTML emails carry their styles inline: Gmail, Outlook and many webmail clients drop a ``<style>`` block or the
classes it names, so a button styled by a class arrives as a plain link. Templates are written as plain HTML
(``<p>``, ``<td>``, ``<a>``...) and :class:`InlineStyles` writes the district's style onto each bare tag when
the template is compiled (never per message); a tag that has its own ``style`` keeps it. The layout is a
centred table at most 640 px wide with the viewport meta, so a phone lays it out at its own width (390 px)
instead of 980 px, and the one action of a message is a table button (``_macros.html``), which every client
draws.

Messages are bytes ready for ``gmail.users.messages.send``. The stdlib ``EmailMessage`` with policy SMTP builds
about 300 messages a second, far too slow for 175,000 announcements, so :func:`build_message` assembles the
MIME structure itself and leaves every encoding decision to the stdlib (``email.header``, ``email.utils``,
``email.charset``); tests parse the result back with the stdlib parser to prove it is well formed.

Context each template needs (all: ``recipient_name``, ``district_name``, optional ``recipient_title`` the
greeting falls back on; dates aware or ``date``, shown in America/Los_Angeles in the message's language):

- announcement: category, site_name, policy_title, policy_url, form_url, deadline; optional personal_link
  (False: the staff form, the same link for everyone, signed in with the district account) and past_deadline
- reminder: as announcement, plus reminder_number and reminder_stage (first, later, final, overdue)
- site_admin_digest: site_name, policy_title, deadline, people [{name, category, days_outstanding}]
- superintendent_escalation: policy_title, total_outstanding, threshold_days,
  sites [{site_name, outstanding, oldest_days}], people [{name, site_name, category, days_outstanding}]
- takedown_digest: site_name, respond_by, findings [{page_url, image_url, student_id, reason}] (ids, no names),
  listed and counted by photo (``takedown_items``: one photo naming two students is one photo to take down)
- takedown_reminder: as takedown_digest, plus first_notified_at
- compliance_report: generated_at, acknowledged, required, outstanding, percent_acknowledged,
  open_violations, resolved_violations, report_url (None when only attached)
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.header import Header
from email.utils import encode_rfc2231, format_datetime, formataddr
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template, pass_context, select_autoescape
from jinja2.ext import Extension

from compliance.greetings import greeting
from compliance.vocabulary import category_label

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates" / "email"
LANGUAGES: tuple[str, ...] = ("en", "es")
DISPLAY_ZONE = ZoneInfo("America/Los_Angeles")

# C0 controls, DEL, C1 controls and the Unicode line/paragraph separators: any of them in a header can end the
# header early (CR/LF) or be read as one by some client, which is how recipients or headers get injected.
_UNSAFE_HEADER = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# An address goes into a header as-is; these characters would let a value add recipients or comments.
_UNSAFE_ADDRESS = re.compile(r"[\s<>,;:\"()\[\]\\]")

# What a takedown finding is (compliance.vocabulary.FindingKind): a photo, a video, or a name in the page's text.
KIND_LABELS: dict[str, dict[str, str]] = {
    "en": {"photo": "photo", "video": "video", "name": "name in the text", "post": "post"},
    "es": {"photo": "foto", "video": "video", "name": "nombre en el texto", "post": "publicación"},
}
REASON_LABELS: dict[str, dict[str, str]] = {
    "en": {
        "no_consent": "no parent consent on file",
        "revoked": "consent revoked",
        "expired": "consent expired (earlier school year)",
        "principal_missing": "principal approval missing",
        "purpose_not_covered": "consent does not cover this use (website, video or social media)",
    },
    "es": {
        "no_consent": "no hay consentimiento de los padres",
        "revoked": "consentimiento revocado",
        "expired": "consentimiento vencido (año escolar anterior)",
        "principal_missing": "falta la aprobación del director/a",
        "purpose_not_covered": "el consentimiento no cubre este uso (sitio web, video o redes sociales)",
    },
}
_MONTHS_ES = ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
              "octubre", "noviembre", "diciembre")
_DAYS_ES = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")


class HeaderInjection(ValueError):
    """A header value holds CR, LF or another control character; the person's record must be quarantined."""

    def __init__(self, field: str, value: str) -> None:
        bad = sorted({f"U+{ord(c):04X}" for c in _UNSAFE_HEADER.findall(value)})
        detail = f"control characters {', '.join(bad)}" if bad else "characters not allowed in an address"
        super().__init__(f"header {field!r} refused: {detail}")
        self.field = field


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    subject: str
    text: str
    html: str


def check_header_value(field: str, value: str) -> str:
    """Return ``value`` unchanged, or raise :class:`HeaderInjection` when it holds a control character."""
    if _UNSAFE_HEADER.search(value):
        raise HeaderInjection(field, value)
    return value


def check_address(field: str, address: str) -> str:
    """Refuse an address that could smuggle a second recipient or header (syntax is checked at ingest)."""
    check_header_value(field, address)
    if _UNSAFE_ADDRESS.search(address) or address.count("@") != 1:
        raise HeaderInjection(field, address)
    return address


def message_id_for(idempotency_key: str, domain: str) -> str:
    """Deterministic Message-ID: a resent delivery carries the same id, and bounces (which quote it) match it."""
    check_address("Message-ID", f"x@{domain}")
    return f"<{idempotency_key}.ar1114@{domain}>"


def delivery_reference(idempotency_key: str) -> str:
    """A reference printed in every message, unique per delivery, that Gmail search can find in the Sent folder.

    Gmail is reported to replace a client's Message-ID on API sends; crash recovery then cannot rely on
    ``rfc822msgid:`` alone. One alphanumeric word survives Gmail's tokenizer whole.
    """
    return "DC" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:18].upper()


# Where the layout's footer wants the delivery reference (inside the message's card, under the footer text).
REFERENCE_MARK = "<!--reference-->"


def _with_reference(text: str, html: str, reference: str) -> tuple[str, str]:
    note = f"Ref. {reference}"
    text = text.rstrip("\n") + f"\n\n{note}\n"
    tag = f'<p style="margin:8px 0 0;color:#6b6b6b;font-size:12px">{note}</p>'
    at = html.rfind(REFERENCE_MARK)
    if at >= 0:
        return text, html[:at] + tag + html[at + len(REFERENCE_MARK):]
    at = html.rfind("</body>")
    html = html[:at] + tag + "\n" + html[at:] if at >= 0 else html + tag
    return text, html


# -- inline styles ----------------------------------------------------------------------------------------

FONT = "Arial, Helvetica, sans-serif"
LINK_COLOR = "#1a5fb4"
# The style each bare tag of an HTML template gets. Body text is 16 px (the container's), tables 14 px: both
# readable on a phone without zooming. Addresses wrap instead of widening the message.
INLINE_STYLES: dict[str, str] = {
    "p": "margin:0 0 16px",
    "ol": "margin:0 0 16px;padding:0 0 0 24px",
    "ul": "margin:0 0 16px;padding:0 0 0 24px",
    "li": "margin:0 0 8px",
    "a": f"color:{LINK_COLOR};text-decoration:underline;overflow-wrap:anywhere;word-break:break-word",
    "table": f"width:100%;border-collapse:collapse;margin:0 0 16px;font-family:{FONT};font-size:14px;"
             "line-height:1.4;color:#1f1f1f",
    "th": "text-align:left;vertical-align:bottom;padding:6px 8px;border-bottom:1px solid #999999;font-size:14px;"
          "font-weight:bold",
    # A cell wraps between words (a name is never cut while the table has room); links break anywhere.
    "td": "text-align:left;vertical-align:top;padding:6px 8px;border-bottom:1px solid #e5e5e5;font-size:14px;"
          "overflow-wrap:break-word",
    "code": "font-family:Consolas, Menlo, monospace;font-size:14px;background:#f2f2f2;padding:1px 4px;"
            "overflow-wrap:anywhere;word-break:break-all",
}
_BARE_TAG = re.compile(r"<(" + "|".join(INLINE_STYLES) + r")((?:\s[^<>]*)?)>")
_HTML_COMMENT = re.compile(r"(<!--.*?-->)", re.DOTALL)


def inline_styles(source: str) -> str:
    """Write :data:`INLINE_STYLES` onto every bare tag of an HTML template's source (a tag with its own
    ``style`` keeps it; HTML comments, such as Outlook's conditional tables, are left as written). Applied to
    the template text, so Jinja compiles the styled markup once."""

    def styled(match: re.Match[str]) -> str:
        tag, attrs = match.group(1), match.group(2) or ""
        if "style=" in attrs:
            return match.group(0)
        return f'<{tag}{attrs} style="{INLINE_STYLES[tag]}">'

    parts = _HTML_COMMENT.split(source)  # odd indexes are the comments
    return "".join(p if i % 2 else _BARE_TAG.sub(styled, p) for i, p in enumerate(parts))


class InlineStyles(Extension):
    """Jinja extension: :func:`inline_styles` on every ``.html`` template as it is loaded."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return inline_styles(source) if name and name.endswith(".html") else source


# -- rendering --------------------------------------------------------------------------------------------


def _as_local(value: datetime | date) -> datetime | date:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("aware datetime required in email context (stored in UTC)")
        return value.astimezone(DISPLAY_ZONE)
    return value


@lru_cache(maxsize=1024)
def format_long_date(value: datetime | date, language: str) -> str:
    """Date in the district's zone, in ``language``: 'Tuesday, December 1, 2026' / 'martes, 1 de diciembre de 2026'.

    Cached because a campaign shows the same deadline in every one of its messages.
    """
    local = _as_local(value)
    if language == "es":
        return f"{_DAYS_ES[local.weekday()]}, {local.day} de {_MONTHS_ES[local.month - 1]} de {local.year}"
    return f"{local:%A, %B} {local.day}, {local.year}"


@pass_context
def _long_date(ctx: Any, value: datetime | date) -> str:
    return format_long_date(value, ctx.get("language", "en"))


@pass_context
def _category(ctx: Any, value: str) -> str:
    return category_label(value, ctx.get("language", "en"))


@pass_context
def _reason(ctx: Any, value: str) -> str:
    return REASON_LABELS[ctx.get("language", "en")].get(value, value)


# Where on the page a finding was read (compliance.photos.evidence's channels), as a web coordinator says it.
CHANNEL_LABELS: dict[str, dict[str, str]] = {
    "en": {"alt": "alt text", "figcaption": "caption", "shared_caption": "caption shared by several photos",
           "caption": "caption", "title": "title", "description": "description", "tags": "tags",
           "filename": "file name", "page_text": "the page's text", "text": "text", "aria_label": "screen-reader label",
           "data_title": "gallery title", "data_caption": "gallery caption", "link_title": "link title",
           "table_cell": "table", "card": "card text", "context": "text next to it", "cue": "subtitles",
           "metadata": "the photo's embedded details (EXIF/IPTC)", "pdf_page": "PDF page"},
    "es": {"alt": "texto alternativo", "figcaption": "pie de foto", "shared_caption": "pie compartido por varias fotos",
           "caption": "pie de foto", "title": "título", "description": "descripción", "tags": "etiquetas",
           "filename": "nombre del archivo", "page_text": "el texto de la página", "text": "texto",
           "aria_label": "etiqueta para lectores de pantalla", "data_title": "título de la galería",
           "data_caption": "pie de la galería", "link_title": "título del enlace", "table_cell": "tabla",
           "card": "texto de la tarjeta", "context": "texto junto a la foto", "cue": "subtítulos",
           "metadata": "los datos incrustados de la foto (EXIF/IPTC)", "pdf_page": "página del PDF"},
}


def channel_label(code: str, language: str = "en") -> str:
    """'alt' -> 'alt text', 'pdf_page_3' -> 'PDF page 3', 'exif_user_comment' -> the photo's embedded details;
    an unknown code is shown with spaces (never dropped)."""
    words = CHANNEL_LABELS.get(language, CHANNEL_LABELS["en"])
    if code in words:
        return words[code]
    if code.startswith("pdf_page_"):
        return f"{words['pdf_page']} {code.removeprefix('pdf_page_')}"
    if code.startswith(("exif", "iptc", "xmp")):
        return words["metadata"]
    return code.replace("_", " ")


@pass_context
def _channels(ctx: Any, codes: Sequence[str]) -> str:
    labels: list[str] = []
    for code in codes:
        label = channel_label(str(code), ctx.get("language", "en"))
        if label not in labels:  # several metadata fields read as one "embedded details"
            labels.append(label)
    return ", ".join(labels)


@pass_context
def _finding_kind(ctx: Any, value: str) -> str:
    return KIND_LABELS[ctx.get("language", "en")].get(value, value)


@pass_context
def _greet(ctx: Any) -> str:
    # The reader's name, else the title of their role, else no name (compliance.greetings).
    return greeting(ctx.get("recipient_name"), ctx.get("recipient_title"), ctx.get("language", "en"))


def takedown_items(findings: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Findings grouped by what is to be taken down: one photo (or video, post, page text) per item, with the
    students it identifies. Findings are stored one per student and image, so a group photo of three students
    without consent is three findings and one photo to take down; counting findings overstated the work."""
    items: dict[tuple[str, str, str, str], dict[str, Any]] = {}
    for f in findings:
        kind = str(f.get("kind") or "photo")
        key = (str(f.get("platform") or "website"), str(f.get("page_url") or ""), str(f.get("image_url") or ""), kind)
        item = items.get(key)
        if item is None:
            item = items[key] = {**f, "kind": kind, "students": [], "channels": []}
        item["students"].append({"student_id": f.get("student_id"), "reason": f.get("reason")})
        channel = f.get("channel") or ""
        if channel and channel not in item["channels"]:
            item["channels"].append(channel)
    return list(items.values())


def takedown_counts(findings: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """What a takedown notice counts: distinct photos, and the other items (videos, posts, names in text)."""
    items = takedown_items(findings)
    photos = sum(1 for i in items if i["kind"] == "photo")
    return {"photos": photos, "others": len(items) - photos, "items": len(items), "findings": len(findings)}


def make_environment(template_dir: Path = TEMPLATES_DIR) -> Environment:
    """The one Jinja2 environment: autoescape for .html, StrictUndefined, no reload checks in production, inline
    styles written into the HTML templates as they compile."""
    env = Environment(
        loader=FileSystemLoader(str(template_dir)),
        autoescape=select_autoescape(["html"], default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=-1,
        extensions=[InlineStyles],
    )
    env.filters.update(long_date=_long_date, category=_category, reason=_reason, finding_kind=_finding_kind,
                       channels=_channels,
                       takedown_items=takedown_items, takedown_counts=takedown_counts)
    env.globals.update(greet=_greet)
    return env


class EmailRenderer:
    """Renders (subject, text, html) from compiled templates; one instance per process is enough."""

    def __init__(self, template_dir: Path = TEMPLATES_DIR) -> None:
        self.env = make_environment(template_dir)
        self._globals = dict(self.env.globals)
        self._compiled: dict[tuple[str, str], tuple[Template, Template]] = {}

    def templates(self, template: str, language: str) -> tuple[Template, Template]:
        key = (template, language)
        pair = self._compiled.get(key)
        if pair is None:
            if language not in LANGUAGES:
                raise ValueError(f"language {language!r} not supported (use one of {', '.join(LANGUAGES)})")
            pair = (self.env.get_template(f"{template}.{language}.txt"),
                    self.env.get_template(f"{template}.{language}.html"))
            self._compiled[key] = pair
        return pair

    def render(self, template: str, context: Mapping[str, Any], language: str) -> RenderedEmail:
        """Render one email; the subject comes from the text template's ``subject`` block.

        Raises :class:`HeaderInjection` when a context value put a line break into the subject.
        """
        text_t, html_t = self.templates(template, language)
        # One flat dict with the globals merged in, shared by the three renders: Jinja's own render() rebuilds
        # it from a ChainMap for every template, which was a quarter of the time per message.
        ctx = {**self._globals, **context, "language": language}
        subject_parts = text_t.blocks["subject"](text_t.new_context(ctx, shared=True))
        # Subject blocks are written on one line, so any CR/LF left is from the context: refuse it, never fold it.
        subject = check_header_value("Subject", "".join(subject_parts).strip())
        ctx["subject"] = subject
        text = self.env.concat(text_t.root_render_func(text_t.new_context(ctx, shared=True)))  # type: ignore[attr-defined]
        html = self.env.concat(html_t.root_render_func(html_t.new_context(ctx, shared=True)))  # type: ignore[attr-defined]
        return RenderedEmail(subject, text, html)


@lru_cache(maxsize=1)
def default_renderer() -> EmailRenderer:
    return EmailRenderer()


def template_language(template: str, language: str) -> str:
    """``language`` when the template is written in it (both the text and HTML files), else English: a message
    never fails for want of a translation, and callers record the fallback (``language_fallback``)."""
    files = [TEMPLATES_DIR / f"{template}.{language}.{ext}" for ext in ("txt", "html")]
    if language in LANGUAGES and all(f.is_file() for f in files):
        return language
    return "en"


def render_email(template: str, context: Mapping[str, Any], language: str = "en") -> tuple[str, str, str]:
    """Render ``templates/email/<template>.<language>.{txt,html}`` to ``(subject, text, html)``."""
    rendered = default_renderer().render(template, context, language)
    return rendered.subject, rendered.text, rendered.html


# -- MIME building ----------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _encoded_header(value: str) -> str:
    # RFC 2047 only when needed; the same subject for thousands of recipients is encoded once.
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76, header_name="Subject").encode(linesep="\r\n")


@lru_cache(maxsize=4096)
def _mailbox(field: str, name: str, address: str) -> str:
    check_address(field, address)
    if not name:
        return address
    check_header_value(field, name)
    return formataddr((name, address), charset="utf-8")


@lru_cache(maxsize=256)
def _date_header(moment: datetime) -> str:
    # A batch shares one timestamp, so the formatting is done once per batch.
    return format_datetime(moment)


_TEXT_PLAIN = 'text/plain; charset="utf-8"'
_TEXT_HTML = 'text/html; charset="utf-8"'


def _crlf(body: str) -> bytes:
    # MIME text is canonically CRLF; templates are written with plain newlines.
    return body.replace("\r\n", "\n").replace("\n", "\r\n").encode()


def _b64_part(content_type: str, body: bytes, extra: str = "") -> str:
    # base64 lines are at most 76 characters, so no line in the message breaks SMTP's 998 limit, and the
    # "=_" boundary below can never occur inside a base64 body.
    encoded = base64.b64encode(body).decode("ascii")
    payload = "".join([encoded[i : i + 76] + "\r\n" for i in range(0, len(encoded), 76)])
    return f"Content-Type: {content_type}\r\nContent-Transfer-Encoding: base64\r\n{extra}\r\n{payload}"


def build_message(
    *,
    sender: str,
    to: str,
    subject: str,
    text: str,
    html: str,
    message_id: str,
    date: datetime,
    sender_name: str = "",
    to_name: str = "",
    reply_to: str | None = None,
    bcc: Sequence[str] = (),
    attachments: Sequence[Attachment] = (),
) -> bytes:
    """One RFC 2822 message as bytes: multipart/alternative (text + HTML), wrapped in multipart/mixed with
    the attachments when there are any. ``bcc`` carries site-group announcements (Gmail delivers to them and
    strips the header). Raises :class:`HeaderInjection` for an unsafe header value."""
    if date.tzinfo is None:
        raise ValueError("aware datetime required for Date")
    check_header_value("Message-ID", message_id)
    check_header_value("Subject", subject)
    headers = [
        f"From: {_mailbox('From', sender_name, sender)}",
        f"To: {_mailbox('To', to_name, to)}",
        f"Subject: {_encoded_header(subject)}",
        f"Date: {_date_header(date)}",
        f"Message-ID: {message_id}",
    ]
    if reply_to:
        headers.append(f"Reply-To: {_mailbox('Reply-To', '', reply_to)}")
    if bcc:
        headers.append("Bcc: " + ",\r\n ".join(check_address("Bcc", a) for a in bcc))
    headers.append("MIME-Version: 1.0")
    boundary = "=_" + hashlib.sha1(message_id.encode()).hexdigest()[:24]
    alternative = (
        f"--{boundary}a\r\n{_b64_part(_TEXT_PLAIN, _crlf(text))}"
        f"--{boundary}a\r\n{_b64_part(_TEXT_HTML, _crlf(html))}"
        f"--{boundary}a--\r\n"
    )
    alt_header = f'Content-Type: multipart/alternative; boundary="{boundary}a"'
    if not attachments:
        return ("\r\n".join(headers) + f"\r\n{alt_header}\r\n\r\n{alternative}").encode("ascii")
    parts = [f"--{boundary}m\r\n{alt_header}\r\n\r\n{alternative}"]
    for item in attachments:
        check_header_value("attachment filename", item.filename)
        check_header_value("attachment type", item.mime_type)
        if item.filename.isascii() and '"' not in item.filename and "\\" not in item.filename:
            disposition = f'Content-Disposition: attachment; filename="{item.filename}"\r\n'
        else:
            disposition = f"Content-Disposition: attachment; filename*={encode_rfc2231(item.filename, 'utf-8')}\r\n"
        parts.append(f"--{boundary}m\r\n{_b64_part(item.mime_type, item.content, disposition)}")
    parts.append(f"--{boundary}m--\r\n")
    mixed = f'Content-Type: multipart/mixed; boundary="{boundary}m"'
    return ("\r\n".join(headers) + f"\r\n{mixed}\r\n\r\n" + "".join(parts)).encode("ascii")


def compose_email(
    template: str,
    context: Mapping[str, Any],
    language: str,
    *,
    sender: str,
    to: str,
    idempotency_key: str,
    domain: str,
    date: datetime,
    sender_name: str = "",
    to_name: str = "",
    reply_to: str | None = None,
    bcc: Sequence[str] = (),
    attachments: Sequence[Attachment] = (),
    renderer: EmailRenderer | None = None,
) -> bytes:
    """Render ``template`` with ``context`` and build the message: what every outgoing email goes through."""
    rendered = (renderer or default_renderer()).render(template, context, language)
    text, html = _with_reference(rendered.text, rendered.html, delivery_reference(idempotency_key))
    return build_message(
        sender=sender,
        to=to,
        subject=rendered.subject,
        text=text,
        html=html,
        message_id=message_id_for(idempotency_key, domain),
        date=date,
        sender_name=sender_name,
        to_name=to_name,
        reply_to=reply_to,
        bcc=bcc,
        attachments=attachments,
    )
