"""Gmail: send (JSON raw and media upload), list/get, sending limits, and bounces into the sender's mailbox."""

from __future__ import annotations

import base64
import binascii
import email
import email.policy
import hashlib
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, getaddresses, make_msgid, parsedate_to_datetime
from typing import Any

from emulator.clock import rfc3339
from emulator.core import Call, Context, decode_token, encode_token
from emulator.errors import ApiError, bad_request, forbidden
from emulator.quotas import Window


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    owner: str  # mailbox holding it
    raw: bytes
    labels: list[str]
    internal_date: datetime
    parsed: EmailMessage = field(repr=False)
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    # Search reads these for every message on every query: parsed once, not per query (a mailbox of 3,000
    # messages searched 50 times a batch would otherwise spend minutes in the email parser).
    _text: str | None = field(default=None, repr=False)
    _message_id: str | None = field(default=None, repr=False)

    def search_text(self) -> str:
        if self._text is None:
            body = self.parsed.get_body(("plain", "html"))
            text = body.get_content() if body is not None else ""
            self._text = f"{self.parsed.get('Subject', '')} {self.parsed.get('From', '')} {text}".lower()
        return self._text

    def message_id(self) -> str:
        if self._message_id is None:
            self._message_id = str(self.parsed.get("Message-ID", "")).strip().strip("<>").lower()
        return self._message_id


def _leaf_bytes(part: Any) -> bytes:
    """A leaf part's content; message/delivery-status keeps its header blocks as a list, serialize them."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return b"\n".join(block.as_bytes() for block in payload)
    return part.get_payload(decode=True) or b""


def _drop_header(raw: bytes, name: str) -> bytes:
    """``raw`` without header ``name`` (and its folded continuation lines)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        head, sep, body = raw.partition(b"\n\n")
    kept: list[bytes] = []
    skipping = False
    for line in head.splitlines(keepends=True):
        if line[:1] in (b" ", b"\t") and skipping:
            continue
        skipping = line.lower().startswith(name.lower().encode() + b":")
        if not skipping:
            kept.append(line)
    return b"".join(kept) + sep + body


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _addresses(msg: EmailMessage, *names: str) -> list[str]:
    values = [str(v) for n in names for v in (msg.get_all(n) or [])]
    return [addr.lower() for _, addr in getaddresses(values) if addr]


class Gmail:
    """Mailboxes keyed by user email; every sent message is kept for ``GET /_emulator/mail``."""

    def __init__(self, ctx: Context, is_directory_user: Callable[[str], bool]) -> None:
        self.ctx = ctx
        self.is_directory_user = is_directory_user
        self.reset()

    def reset(self) -> None:
        self.messages: dict[str, StoredMessage] = {}
        self.mailboxes: dict[str, list[str]] = {}
        self.sent_log: list[StoredMessage] = []
        self.per_minute = Window(timedelta(minutes=1))
        self.per_day = Window(timedelta(days=1))
        self.recipients_day = Window(timedelta(days=1))
        self.unique_day: dict[str, dict[str, datetime]] = {}
        # Every send that reached the sending limits, and what was refused and why, per sender: the emulator's
        # own count of how hard each mailbox was pushed (``sending_counts``), whoever pushed it.
        self.attempted: dict[str, list[datetime]] = {}
        self.accepted: dict[str, list[datetime]] = {}
        self.refused: dict[str, dict[str, int]] = {}
        self._history = 1000

    def handlers(self) -> dict[str, Callable[[Call], Any]]:
        return {
            "gmail.users.messages.send": self.send,
            "gmail.users.messages.list": self.list,
            "gmail.users.messages.get": self.get,
            "gmail.users.getProfile": self.profile,
        }

    # -- helpers ---------------------------------------------------------------------------------------------

    def _user(self, call: Call) -> str:
        user = call.path["userId"].lower()
        if user == "me":
            return call.subject
        if user != call.subject:
            # domain-wide delegation only acts as the subject; another mailbox is refused like Google does
            raise forbidden(f"Delegation denied for {call.subject}")
        return user

    def _store(
        self, owner: str, raw: bytes, labels: list[str], when: datetime, thread_id: str | None = None
    ) -> StoredMessage:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        mid = secrets.token_hex(8)
        self._history += 1
        stored = StoredMessage(
            id=mid,
            thread_id=thread_id or mid,
            owner=owner,
            raw=raw,
            labels=labels,
            internal_date=when,
            parsed=parsed,
            sender=owner,
            recipients=_addresses(parsed, "To", "Cc", "Bcc"),
        )
        self.messages[mid] = stored
        self.mailboxes.setdefault(owner, []).append(mid)
        return stored

    def _check_limits(self, sender: str, recipients: list[str], now: datetime) -> bool:
        """Raise Google's refusal, or (``lateBounce`` style) return True: accept now, bounce for the limit later.

        Every call counts as an attempt of ``sender``, and a refusal (or a late bounce) is counted under the
        limit it hit, for :meth:`sending_counts`.
        """
        limits = self.ctx.limits
        late = limits.gmail_daily_style == "lateBounce"
        if len(recipients) > limits.gmail_recipients_per_message:
            raise bad_request(
                f"Too many recipients: {len(recipients)} (at most {limits.gmail_recipients_per_message} per message)",
                reason="invalidArgument",
            )
        self.attempted.setdefault(sender, []).append(now)
        if self.per_day.count(sender, now) >= limits.gmail_daily_per_sender:
            self._count_refusal(sender, "messages per day")
            if late:
                return True
            retry = self.per_day.retry_at(sender, now)
            if limits.gmail_daily_style == "dailyLimitExceeded":
                raise ApiError(
                    403,
                    "Daily Limit Exceeded",
                    "dailyLimitExceeded",
                    domain="usageLimits",
                    headers={"Retry-After": str(int((retry - now).total_seconds()) + 1)},
                )
            raise self._sending_limit(retry)
        if self.recipients_day.count(sender, now) + len(recipients) > limits.gmail_daily_recipients_per_sender:
            self._count_refusal(sender, "recipients per day")
            if late:
                return True
            raise self._sending_limit(self.recipients_day.retry_at(sender, now))
        seen = self.unique_day.setdefault(sender, {})
        edge = now - timedelta(days=1)
        for addr in [a for a, t in seen.items() if t <= edge]:
            del seen[addr]
        fresh = {r for r in recipients if r not in seen}
        if len(seen) + len(fresh) > limits.gmail_daily_unique_recipients_per_sender:
            self._count_refusal(sender, "unique recipients per day")
            if late:
                return True
            raise self._sending_limit(min(seen.values()) + timedelta(days=1))
        if self.per_minute.count(sender, now) >= limits.gmail_sends_per_minute:
            self._count_refusal(sender, "sends per minute")
            raise ApiError(
                403,
                "User-rate limit exceeded",
                "userRateLimitExceeded",
                domain="usageLimits",
                detail_message="User Rate Limit Exceeded",
            )
        return False

    def _count_refusal(self, sender: str, limit: str) -> None:
        counts = self.refused.setdefault(sender, {})
        counts[limit] = counts.get(limit, 0) + 1

    @staticmethod
    def _sending_limit(retry: datetime) -> ApiError:
        when = rfc3339(retry)
        return ApiError(
            429,
            f"User-rate limit exceeded.  Retry after {when}",
            "rateLimitExceeded",
            domain="usageLimits",
            status="RESOURCE_EXHAUSTED",
        )

    # -- handlers --------------------------------------------------------------------------------------------

    def send(self, call: Call) -> dict[str, Any]:
        sender = self._user(call)
        thread_id = None
        if call.is_upload:
            raw = call.media or b""
            if isinstance(call.body, dict):
                thread_id = call.body.get("threadId")
        else:
            body = call.body or {}
            encoded = body.get("raw")
            if not encoded:
                raise bad_request("Recipient address required", reason="invalidArgument")
            try:
                raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError):
                raise bad_request("Invalid value for ByteString: " + encoded[:40], reason="invalidArgument") from None
            thread_id = body.get("threadId")
        if len(raw) > self.ctx.limits.gmail_max_message_bytes:
            raise ApiError(413, "Request payload size exceeds the limit", "uploadTooLarge")
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        recipients = _addresses(parsed, "To", "Cc", "Bcc")  # type: ignore[arg-type]
        if not recipients:
            raise bad_request("Recipient address required", reason="invalidArgument")
        for header in ("To", "Cc", "Bcc", "From", "Subject"):
            for value in parsed.get_all(header) or []:
                if "\n" in str(value) or "\r" in str(value):
                    raise bad_request(f"Invalid {header} header", reason="invalidArgument")
        now = call.now
        over_limit = self._check_limits(sender, recipients, now)
        # Gmail stamps what the client left out: Message-ID (bounces refer to it), Date and From (the sender)
        stamped = ""
        if self.ctx.limits.gmail_rewrite_message_id and "Message-ID" in parsed:
            raw = _drop_header(raw, "Message-ID")
            parsed = email.message_from_bytes(raw, policy=email.policy.default)
        if "Message-ID" not in parsed:
            stamped += f"Message-ID: {make_msgid(domain='mail.gmail.com')}\r\n"
        if "Date" not in parsed:
            stamped += f"Date: {format_datetime(now)}\r\n"
        if "From" not in parsed:
            stamped += f"From: {sender}\r\n"
        raw = stamped.encode() + raw
        stored = self._store(sender, raw, ["SENT"], now, thread_id)
        self.sent_log.append(stored)
        if over_limit:  # accepted, never delivered: the refusal arrives as a DSN (Gmail does this too)
            self.bounce(stored.id, now, "550 5.4.5 Daily user sending limit exceeded.", kind="limit")
            return {"id": stored.id, "threadId": stored.thread_id, "labelIds": ["SENT"]}
        self.per_minute.add(sender, now)
        self.accepted.setdefault(sender, []).append(now)
        self.per_day.add(sender, now)
        self.recipients_day.add(sender, now, len(recipients))
        seen = self.unique_day.setdefault(sender, {})
        for r in recipients:
            seen.setdefault(r, now)
        sent = self.ctx.stats.setdefault("sent_per_user", {})
        sent[sender] = sent.get(sender, 0) + 1
        return {"id": stored.id, "threadId": stored.thread_id, "labelIds": ["SENT"]}

    def sending_counts(self) -> dict[str, dict[str, Any]]:
        """Per sender: sends attempted and accepted, their peaks in any minute and any 24 hours (sliding, on the
        emulator clock, as the limits count them), sends per calendar minute, and refusals by Google's reason.

        Attempts include sends refused for a limit: a mailbox pushed past its limit shows it here even though
        the emulator refused the excess, so a test can prove that several processes together stayed within it.
        """
        out: dict[str, dict[str, Any]] = {}
        for sender in sorted(set(self.attempted) | set(self.accepted)):
            attempted = sorted(self.attempted.get(sender, []))
            accepted = sorted(self.accepted.get(sender, []))
            per_minute: dict[str, int] = {}
            for when in accepted:
                minute = when.strftime("%Y-%m-%dT%H:%MZ")
                per_minute[minute] = per_minute.get(minute, 0) + 1
            out[sender] = {
                "attempted": len(attempted),
                "sent": len(accepted),
                "peak_attempted_per_minute": _peak(attempted, self.per_minute.span),
                "peak_sent_per_minute": _peak(accepted, self.per_minute.span),
                "peak_attempted_per_day": _peak(attempted, self.per_day.span),
                "peak_sent_per_day": _peak(accepted, self.per_day.span),
                "sent_per_minute": per_minute,
                "refused": dict(self.refused.get(sender, {})),
            }
        return out

    def profile(self, call: Call) -> dict[str, Any]:
        user = self._user(call)
        box = self.mailboxes.get(user, [])
        return {
            "emailAddress": user,
            "messagesTotal": len(box),
            "threadsTotal": len(box),
            "historyId": str(self._history),
        }

    def _matches(self, msg: StoredMessage, query: str) -> bool:
        for term in re.findall(r'(?:[^\s"]+:"[^"]*"|"[^"]*"|\S+)', query):
            negate = term.startswith("-")
            term = term.lstrip("-")
            key, sep, value = term.partition(":")
            value = value.strip('"').lower()
            if not sep:
                ok = term.strip('"').lower() in self._text(msg)
            elif key == "from":
                ok = any(value in a for a in _addresses(msg.parsed, "From"))
            elif key in ("to", "cc", "bcc"):
                ok = any(value in a for a in _addresses(msg.parsed, key.capitalize()))
            elif key == "subject":
                ok = value in str(msg.parsed.get("Subject", "")).lower()
            elif key in ("in", "label"):
                ok = value.upper() in msg.labels or (value == "anywhere")
            elif key == "rfc822msgid":
                ok = value.strip("<>") == msg.message_id()
            elif key in ("after", "before", "newer_than", "older_than"):
                ok = self._date_term(msg, key, value)
            elif key == "is":
                ok = value.upper() in msg.labels
            else:
                ok = value in self._text(msg)
            if ok == negate:
                return False
        return True

    def _date_term(self, msg: StoredMessage, key: str, value: str) -> bool:
        when = msg.internal_date
        if key in ("newer_than", "older_than"):
            m = re.fullmatch(r"(\d+)([dmy])", value)
            if not m:
                raise bad_request("Invalid query", reason="invalidArgument")
            days = int(m.group(1)) * {"d": 1, "m": 30, "y": 365}[m.group(2)]
            edge = self.ctx.clock.now() - timedelta(days=days)
            return when >= edge if key == "newer_than" else when < edge
        if value.isdigit():
            edge = datetime.fromtimestamp(int(value), tz=when.tzinfo)
        else:
            edge = datetime.strptime(value.replace("-", "/"), "%Y/%m/%d").replace(tzinfo=when.tzinfo)
        return when >= edge if key == "after" else when < edge

    def _text(self, msg: StoredMessage) -> str:
        return msg.search_text()

    def list(self, call: Call) -> dict[str, Any]:
        user = self._user(call)
        q = call.query
        ids = list(reversed(self.mailboxes.get(user, [])))
        labels = q.get("labelIds") or []
        query = q.get("q", "")
        if not q.get("includeSpamTrash"):
            ids = [i for i in ids if not {"SPAM", "TRASH"} & set(self.messages[i].labels)]
        if labels:
            ids = [i for i in ids if set(labels) <= set(self.messages[i].labels)]
        if query:
            ids = [i for i in ids if self._matches(self.messages[i], query)]
        size = q.get("maxResults", 100)
        start = int(decode_token(q["pageToken"]).get("o", 0)) if q.get("pageToken") else 0
        page = ids[start : start + size]
        out: dict[str, Any] = {"resultSizeEstimate": len(page)}
        if page:
            out["messages"] = [{"id": i, "threadId": self.messages[i].thread_id} for i in page]
        if start + size < len(ids):
            out["nextPageToken"] = encode_token({"o": start + size})
        return out

    def get(self, call: Call) -> dict[str, Any]:
        user = self._user(call)
        msg = self.messages.get(call.path["id"])
        if msg is None or msg.owner != user:
            raise ApiError(404, "Requested entity was not found.", "notFound")
        fmt = call.query.get("format", "full")
        out: dict[str, Any] = {
            "id": msg.id,
            "threadId": msg.thread_id,
            "labelIds": msg.labels,
            "snippet": self._text(msg)[:200] if fmt != "minimal" else "",
            "historyId": str(self._history),
            "internalDate": str(int(msg.internal_date.timestamp() * 1000)),
            "sizeEstimate": len(msg.raw),
        }
        if fmt == "minimal":
            del out["snippet"]
            return out
        body = msg.parsed.get_body(("plain", "html"))
        out["snippet"] = (body.get_content() if body is not None else "")[:200].replace("\r", "").replace("\n", " ")
        if fmt == "raw":
            out["raw"] = _b64url(msg.raw)
            return out
        if fmt == "metadata":
            wanted = {h.lower() for h in call.query.get("metadataHeaders") or []}
            headers = [{"name": k, "value": str(v)} for k, v in msg.parsed.items() if not wanted or k.lower() in wanted]
            out["payload"] = {"mimeType": msg.parsed.get_content_type(), "headers": headers}
            return out
        out["payload"] = self._part(msg.parsed, "")
        return out

    def _part(self, part: Any, part_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "partId": part_id,
            "mimeType": part.get_content_type(),
            "filename": part.get_filename() or "",
            "headers": [{"name": k, "value": str(v)} for k, v in part.items()],
        }
        if part.get_content_maintype() == "multipart":
            out["body"] = {"size": 0}
            out["parts"] = [
                self._part(child, f"{part_id}.{i}" if part_id else str(i)) for i, child in enumerate(part.iter_parts())
            ]
        else:
            data = _leaf_bytes(part)
            out["body"] = {"size": len(data), "data": _b64url(data)}
            if out["filename"]:
                out["body"]["attachmentId"] = hashlib.sha1(data).hexdigest()
        return out

    # -- admin -----------------------------------------------------------------------------------------------

    def decoded(self, sender: str | None, since: datetime | None) -> list[dict[str, Any]]:
        """Sent messages decoded for tests and demos (``GET /_emulator/mail``)."""
        out = []
        for msg in self.sent_log:
            if sender and msg.owner != sender.lower():
                continue
            if since and msg.internal_date < since:
                continue
            out.append(decode_message(msg))
        return out

    def bounce(self, message_id: str, now: datetime, reason: str, kind: str = "address") -> dict[str, Any]:
        """Deliver a mailer-daemon DSN for a sent message into its sender's inbox (Gmail id or Message-ID)."""
        target = self.messages.get(message_id)
        if target is None:
            wanted = message_id.strip().strip("<>").lower()
            target = next(
                (m for m in self.sent_log if str(m.parsed.get("Message-ID", "")).strip().strip("<>").lower() == wanted),
                None,
            )
        if target is None or target not in self.sent_log:
            raise KeyError(message_id)
        original_id = str(target.parsed.get("Message-ID", "")).strip()
        failed = ", ".join(target.recipients)
        # RFC 3464 report, as Gmail's mailer-daemon sends it: explanation, machine-readable status, headers
        dsn = MIMEMultipart("report", report_type="delivery-status")
        dsn["From"] = "Mail Delivery Subsystem <mailer-daemon@googlemail.com>"
        dsn["To"] = target.owner
        dsn["Subject"] = "Delivery Status Notification (Failure)"
        dsn["Date"] = format_datetime(now)
        dsn["Message-ID"] = make_msgid(domain="mx.google.com")
        dsn["In-Reply-To"] = original_id
        dsn["References"] = original_id
        dsn["Auto-Submitted"] = "auto-replied"
        dsn["X-Failed-Recipients"] = failed
        if kind == "limit":  # Gmail's notice when it took the message but the sender was over a sending limit
            explanation = (
                "Message not delivered\n\nYou have reached a limit for sending mail. Your message was not sent.\n\n"
                f"The response was:\n{reason}\n"
            )
        else:
            explanation = (
                f"Address not found\n\nYour message wasn't delivered to {failed} because the address couldn't be "
                f"found, or is unable to receive mail.\n\nThe response from the remote server was:\n{reason}\n"
            )
        dsn.attach(MIMEText(explanation))
        blocks = [Message()]
        blocks[0]["Reporting-MTA"] = "dns; googlemail.com"
        for recipient in target.recipients:
            block = Message()
            block["Final-Recipient"] = f"rfc822; {recipient}"
            block["Action"] = "failed"
            block["Status"] = "5.4.5" if kind == "limit" else "5.1.1"
            block["Diagnostic-Code"] = f"smtp; {reason}"
            blocks.append(block)
        status = Message()
        status["Content-Type"] = "message/delivery-status"
        status.set_payload(blocks)
        dsn.attach(status)
        headers = MIMEText("".join(f"{k}: {v}\n" for k, v in target.parsed.items()), "rfc822-headers")
        dsn.attach(headers)
        stored = self._store(target.owner, dsn.as_bytes(), ["INBOX", "UNREAD"], now, target.thread_id)
        return decode_message(stored)


def _peak(times: list[datetime], span: timedelta) -> int:
    """The most events in any window of ``span`` ending at an event (``times`` sorted), counted as
    :class:`emulator.quotas.Window` counts: an event ``span`` or more before the end has left the window."""
    peak = start = 0
    for end, when in enumerate(times):
        while times[start] <= when - span:
            start += 1
        peak = max(peak, end - start + 1)
    return peak


def decode_message(msg: StoredMessage) -> dict[str, Any]:
    parsed = msg.parsed
    text_part = parsed.get_body(("plain",))
    html_part = parsed.get_body(("html",))
    attachments = []
    for part in parsed.iter_attachments():
        data = _leaf_bytes(part)
        attachments.append(
            {
                "filename": part.get_filename(),
                "mimeType": part.get_content_type(),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    date = parsed.get("Date")
    try:
        header_date = parsedate_to_datetime(str(date)).isoformat() if date else None
    except (TypeError, ValueError):
        header_date = None
    return {
        "id": msg.id,
        "threadId": msg.thread_id,
        "sender": msg.owner,
        "from": str(parsed.get("From", "")),
        "to": _addresses(parsed, "To"),
        "cc": _addresses(parsed, "Cc"),
        "bcc": _addresses(parsed, "Bcc"),
        "subject": str(parsed.get("Subject", "")),
        "message_id": str(parsed.get("Message-ID", "")).strip(),
        "headers": {k: str(v) for k, v in parsed.items()},
        "text": text_part.get_content() if text_part is not None else None,
        "html": html_part.get_content() if html_part is not None else None,
        "attachments": attachments,
        "labels": msg.labels,
        "date_header": header_date,
        "sent_at": rfc3339(msg.internal_date),
    }
