"""Small typed wrappers over the Google calls the pipeline makes; tasks call these, never googleapiclient.

Every call goes through :func:`compliance.google.retry.execute` (or :func:`compliance.google.batch.
execute_batch`) with ``clients.policy``, so retries, sender pauses and typed errors are the same everywhere.
Directory/Drive/Sheets/Forms calls act as ``subject`` (default ``settings.google.admin_subject``); Gmail calls
as the named mailbox.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlencode

from googleapiclient.http import MediaIoBaseUpload

from compliance.google.batch import execute_batch
from compliance.google.clients import GMAIL_READ_UNITS, GMAIL_SEND_UNITS, GoogleClients
from compliance.google.errors import GoogleApiError
from compliance.google.paging import paginate
from compliance.google.retry import execute

# Multipart uploads are meant for small files; larger ones go resumable (Drive's documented 5 MB guidance).
RESUMABLE_THRESHOLD = 5 * 1024 * 1024
GMAIL_MAX_MESSAGE_BYTES = 35 * 1024 * 1024  # messages.send maxSize in the discovery document
FORMS_MAX_PAGE_SIZE = 5000
SHARE_ROLES = frozenset({"reader", "commenter", "writer"})
SHARE_KINDS = frozenset({"user", "group"})
EmailCollection = Literal["DO_NOT_COLLECT", "VERIFIED", "RESPONDER_INPUT"]


class ShareRefused(ValueError):
    """A sharing request this pipeline never makes (public or whole-domain links, owner transfer)."""


# -- Admin Directory -------------------------------------------------------------------------------


def list_users(
    clients: GoogleClients,
    *,
    customer: str | None = None,
    org_unit_path: str | None = None,
    query: str | None = None,
    page_size: int | None = None,
    subject: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield Directory ``User`` resources (projection ``full``, so ``customSchemas`` are included).

    ``customer`` defaults to ``settings.district.customer``; ``org_unit_path`` limits to that org unit and the
    ones under it; ``query`` is Directory search syntax and is ANDed with the org unit; ``page_size`` 1..500
    (default ``settings.quotas.directory_page_size``).
    """
    size = page_size or clients.settings.quotas.directory_page_size
    if not 1 <= size <= 500:
        raise ValueError("page_size must be 1..500 (Directory maxResults)")
    terms = []
    if org_unit_path:
        if "'" in org_unit_path or not org_unit_path.startswith("/"):
            raise ValueError(f"org unit path must start with / and contain no quote: {org_unit_path!r}")
        terms.append(f"orgUnitPath='{org_unit_path}'")
    if query:
        terms.append(query)
    params: dict[str, Any] = {
        "customer": customer or clients.settings.district.customer,
        "maxResults": size,
        "projection": "full",
        "orderBy": "email",
    }
    if terms:
        params["query"] = " ".join(terms)
    service = clients.directory(subject)
    yield from paginate(service.users().list, "users", policy=clients.policy, **params)


def get_user(clients: GoogleClients, user_key: str, *, subject: str | None = None) -> dict[str, Any]:
    """One Directory ``User`` by email, alias or id (projection ``full``); :class:`NotFound` if none."""
    service = clients.directory(subject)
    return execute(service.users().get(userKey=user_key, projection="full"), policy=clients.policy)


def list_orgunits(
    clients: GoogleClients,
    *,
    customer: str | None = None,
    org_unit_path: str | None = None,
    subject: str | None = None,
) -> list[dict[str, Any]]:
    """All Directory ``OrgUnit`` resources (every level), optionally only those under ``org_unit_path``."""
    params: dict[str, Any] = {"customerId": customer or clients.settings.district.customer, "type": "all"}
    if org_unit_path:
        params["orgUnitPath"] = org_unit_path
    service = clients.directory(subject)
    page = execute(service.orgunits().list(**params), policy=clients.policy)
    return list(page.get("organizationUnits") or [])


# -- Gmail -----------------------------------------------------------------------------------------


def send_messages(
    clients: GoogleClients, sender: str, messages: Sequence[tuple[Hashable, bytes]], *, paced: bool = True
) -> dict[Hashable, str | Exception]:
    """Send RFC 2822 messages from mailbox ``sender``; return ``{key: gmail message id | error}``.

    Messages go out in batches of ``clients.batch_size`` (``settings.quotas.gmail_batch_size``, at most 100).
    Per-message errors are values, not raised: :class:`DailyLimitExceeded` means pause ``sender`` (messages
    with ``attempted=False`` were never sent), :class:`OutcomeUnknown` means the connection failed mid-batch
    (check the Sent folder before resending), anything else is a typed :class:`GoogleApiError`. Keys must be
    unique. Sends are paced to ``settings.quotas.gmail_sends_per_minute`` per sender (sleeping through
    ``clients.policy.sleep``); per-minute refusals that still happen are retried. ``paced=False``: the caller
    already holds ``clients.send_pacer`` for these messages (the outbox waits before it claims rows); their
    retries still go through it.
    """
    service = clients.gmail(sender)
    requests = []
    for key, raw in messages:
        if not isinstance(raw, bytes):
            raise TypeError(f"message {key!r}: raw RFC 2822 bytes expected")
        if len(raw) > GMAIL_MAX_MESSAGE_BYTES:
            raise ValueError(f"message {key!r}: {len(raw)} bytes is over Gmail's 35 MB limit")
        body = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
        requests.append((key, service.users().messages().send(userId="me", body=body)))
    if not requests:
        return {}
    results = execute_batch(
        service,
        requests,
        batch_uri=clients.batch_uri("gmail"),
        max_per_batch=clients.send_batch_size,
        policy=clients.policy,
        sender=sender,
        idempotent=False,
        around_chunk=lambda n: clients.send_pacer.reserve(sender, n, GMAIL_SEND_UNITS),
        paced_from_round=1 if paced else 2,
    )
    return {key: value["id"] if isinstance(value, dict) else value for key, value in results.items()}


def get_mailbox_profile(clients: GoogleClients, mailbox: str) -> dict[str, Any]:
    """Gmail ``Profile`` of a delegated mailbox (emailAddress, messagesTotal): proves the mailbox is usable."""
    service = clients.gmail(mailbox)
    return execute(service.users().getProfile(userId="me"), policy=clients.policy)


def send_message(clients: GoogleClients, sender: str, raw: bytes) -> str:
    """Send one message outside a batch (raises instead of returning errors); return its Gmail id."""
    service = clients.gmail(sender)
    body = {"raw": base64.urlsafe_b64encode(raw).decode("ascii")}
    result = execute(
        service.users().messages().send(userId="me", body=body), policy=clients.policy, sender=sender
    )
    return str(result["id"])


def list_message_ids(
    clients: GoogleClients, mailbox: str, query: str, *, page_size: int = 500
) -> Iterator[str]:
    """Yield ids of messages in ``mailbox`` matching Gmail search ``query`` (e.g. bounces after a date)."""
    service = clients.gmail(mailbox)
    for item in paginate(
        service.users().messages().list,
        "messages",
        policy=clients.policy,
        userId="me",
        q=query,
        maxResults=page_size,
    ):
        yield str(item["id"])


def get_message(
    clients: GoogleClients,
    mailbox: str,
    message_id: str,
    format: Literal["full", "metadata", "minimal", "raw"] = "full",
) -> dict[str, Any]:
    """One Gmail ``Message`` from ``mailbox`` (``format="raw"``: base64url RFC 2822 in ``raw``)."""
    service = clients.gmail(mailbox)
    return execute(
        service.users().messages().get(userId="me", id=message_id, format=format), policy=clients.policy
    )


def search_messages(clients: GoogleClients, mailbox: str, queries: Sequence[str]) -> list[str | None | Exception]:
    """For each Gmail search query, the id of the first message in ``mailbox`` it finds (None: nothing).

    Queries go 50 to an HTTP batch (after a crash a whole claim may need looking up). A search that failed
    is returned as its error, so the caller can leave that row alone rather than guess.
    """
    service = clients.gmail(mailbox)
    requests = [(i, service.users().messages().list(userId="me", q=q, maxResults=1)) for i, q in enumerate(queries)]
    if not requests:
        return []
    results = execute_batch(
        service, requests, batch_uri=clients.batch_uri("gmail"), max_per_batch=50, policy=clients.policy,
        idempotent=True, around_chunk=lambda n: clients.send_pacer.reserve(mailbox, n, GMAIL_READ_UNITS),
    )
    out: list[str | None | Exception] = []
    for i in range(len(queries)):
        value = results[i]
        if isinstance(value, Exception):
            out.append(value)
        else:
            found = value.get("messages") or []
            out.append(str(found[0]["id"]) if found else None)
    return out


def stored_message_ids(clients: GoogleClients, mailbox: str, gmail_ids: Sequence[str]) -> dict[str, str | None]:
    """The Message-ID header Gmail stored for each sent message (None when it could not be read)."""
    service = clients.gmail(mailbox)
    requests = [
        (gid, service.users().messages().get(userId="me", id=gid, format="metadata", metadataHeaders=["Message-ID"]))
        for gid in dict.fromkeys(gmail_ids)
    ]
    if not requests:
        return {}
    results = execute_batch(
        service, requests, batch_uri=clients.batch_uri("gmail"), max_per_batch=50, policy=clients.policy,
        idempotent=True, around_chunk=lambda n: clients.send_pacer.reserve(mailbox, n, GMAIL_READ_UNITS),
    )
    out: dict[str, str | None] = {}
    for gid, value in results.items():
        headers = [] if isinstance(value, Exception) else (value.get("payload") or {}).get("headers") or []
        out[str(gid)] = next((str(h["value"]).strip() for h in headers if h.get("name", "").lower() == "message-id"),
                             None)
    return out


# -- Drive -----------------------------------------------------------------------------------------

_FILE_FIELDS = "id,name,mimeType,parents,webViewLink,modifiedTime,size,version"


def _media(content: bytes, mime_type: str) -> MediaIoBaseUpload:
    return MediaIoBaseUpload(
        io.BytesIO(content), mimetype=mime_type, resumable=len(content) > RESUMABLE_THRESHOLD
    )


def upload_file(
    clients: GoogleClients,
    name: str,
    mime_type: str,
    content: bytes,
    *,
    parents: Sequence[str] | None = None,
    convert_to: str | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    """Create a Drive file from ``content``; return its ``File`` (id, name, mimeType, webViewLink, ...).

    ``convert_to`` (e.g. ``application/vnd.google-apps.spreadsheet``) asks Drive to convert on upload.
    Creating is not idempotent: a caller re-running should look the file up (or keep its id) first.
    """
    metadata: dict[str, Any] = {"name": name}
    if convert_to:
        metadata["mimeType"] = convert_to
    if parents:
        metadata["parents"] = list(parents)
    service = clients.drive(subject)
    request = service.files().create(
        body=metadata, media_body=_media(content, mime_type), fields=_FILE_FIELDS, supportsAllDrives=True
    )
    return execute(request, policy=clients.policy)


def update_file_content(
    clients: GoogleClients, file_id: str, mime_type: str, content: bytes, *, subject: str | None = None
) -> dict[str, Any]:
    """Replace a Drive file's content (the previous version stays as a revision); return the ``File``."""
    service = clients.drive(subject)
    request = service.files().update(
        fileId=file_id, media_body=_media(content, mime_type), fields=_FILE_FIELDS, supportsAllDrives=True
    )
    return execute(request, policy=clients.policy, idempotent=True)


def get_file(clients: GoogleClients, file_id: str, *, subject: str | None = None) -> dict[str, Any]:
    """A Drive ``File``'s metadata."""
    service = clients.drive(subject)
    return execute(
        service.files().get(fileId=file_id, fields=_FILE_FIELDS, supportsAllDrives=True),
        policy=clients.policy,
    )


def export_file(clients: GoogleClients, file_id: str, mime_type: str, *, subject: str | None = None) -> bytes:
    """Export a Google-native file (Doc, Sheet) as ``mime_type`` (e.g. ``text/html``, ``application/pdf``)."""
    service = clients.drive(subject)
    return bytes(execute(service.files().export(fileId=file_id, mimeType=mime_type), policy=clients.policy))


def download_file(clients: GoogleClients, file_id: str, *, subject: str | None = None) -> bytes:
    """The stored bytes of a non-native Drive file (an uploaded xlsx, image, ...)."""
    service = clients.drive(subject)
    return bytes(
        execute(service.files().get_media(fileId=file_id, supportsAllDrives=True), policy=clients.policy)
    )


def list_revisions(
    clients: GoogleClients, file_id: str, *, subject: str | None = None
) -> list[dict[str, Any]]:
    """Every ``Revision`` of a Drive file, oldest first (id, modifiedTime, mimeType, size, ...)."""
    service = clients.drive(subject)
    return list(
        paginate(
            service.revisions().list,
            "revisions",
            policy=clients.policy,
            fileId=file_id,
            pageSize=200,
            fields="nextPageToken,revisions(id,modifiedTime,mimeType,size,keepForever)",
        )
    )


def keep_revision(
    clients: GoogleClients,
    name: str,
    mime_type: str,
    content: bytes,
    *,
    file_id: str | None = None,
    parents: Sequence[str] | None = None,
    app_properties: Mapping[str, str] | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    """Create (``file_id`` None) or update a Drive file with ``content`` as a revision kept forever; return the
    ``File`` with its ``headRevisionId``.

    Drive deletes an ordinary revision after 30 days or 100 newer ones; ``keepRevisionForever`` keeps it
    (at most 200 such revisions per file: a caller writing daily rotates files).
    """
    service = clients.drive(subject)
    fields = "id,name,mimeType,parents,headRevisionId,modifiedTime,appProperties"
    if file_id is None:
        metadata: dict[str, Any] = {"name": name}
        if parents:
            metadata["parents"] = list(parents)
        if app_properties:
            metadata["appProperties"] = dict(app_properties)
        request = service.files().create(body=metadata, media_body=_media(content, mime_type), fields=fields,
                                         keepRevisionForever=True, supportsAllDrives=True)
        return execute(request, policy=clients.policy)
    request = service.files().update(fileId=file_id, media_body=_media(content, mime_type), fields=fields,
                                     keepRevisionForever=True, supportsAllDrives=True)
    # Retrying an update whose outcome is unknown at worst keeps the same content twice: harmless.
    return execute(request, policy=clients.policy, idempotent=True)


def find_files(
    clients: GoogleClients, query: str, *, subject: str | None = None
) -> list[dict[str, Any]]:
    """Drive files matching ``query`` (Drive's query language), oldest first: id, name, appProperties."""
    service = clients.drive(subject)
    return list(
        paginate(
            service.files().list,
            "files",
            policy=clients.policy,
            q=query,
            pageSize=100,
            orderBy="createdTime",
            fields="nextPageToken,files(id,name,appProperties,createdTime)",
            supportsAllDrives=True,
            includeItemsFromAllDrives=True,
        )
    )


def download_revision(clients: GoogleClients, file_id: str, revision_id: str, *, subject: str | None = None) -> bytes:
    """The bytes of one revision of a non-native Drive file (what the file held when it was written)."""
    service = clients.drive(subject)
    return bytes(execute(service.revisions().get_media(fileId=file_id, revisionId=revision_id),
                         policy=clients.policy))


def share_file(
    clients: GoogleClients,
    file_id: str,
    email: str,
    role: str = "reader",
    notify: bool = False,
    *,
    kind: str = "user",
    subject: str | None = None,
) -> dict[str, Any]:
    """Give one person (or group) access to a file; return the ``Permission``.

    Refused locally with :class:`ShareRefused`, before any call: ``anyone``/``domain`` links (reports hold
    personal data), roles other than reader/commenter/writer, and addresses that are not one plain address.
    Re-sharing with the same person is safe (Drive keeps one permission). ``notify=False`` needs a Google
    account on the other side (Drive refuses to share silently with others).
    """
    if kind not in SHARE_KINDS:
        raise ShareRefused(
            f"sharing with type {kind!r} is not allowed (only {', '.join(sorted(SHARE_KINDS))})"
        )
    if role not in SHARE_ROLES:
        raise ShareRefused(f"role {role!r} is not allowed (only {', '.join(sorted(SHARE_ROLES))})")
    if "@" not in email or any(c in email for c in " ,;\r\n\t<>"):
        raise ShareRefused("share target must be one plain email address")
    service = clients.drive(subject)
    request = service.permissions().create(
        fileId=file_id,
        body={"type": kind, "role": role, "emailAddress": email},
        sendNotificationEmail=notify,
        fields="id,type,role,emailAddress",
        supportsAllDrives=True,
    )
    return execute(request, policy=clients.policy, idempotent=True)


@dataclass
class ShareOutcome:
    """What :func:`share_file_with_each` did: who has access now, who already had it, who was refused why."""

    shared: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    refused: dict[str, Exception] = field(default_factory=dict)

    @property
    def transient(self) -> bool:
        """True when some refusal may clear on a retry (transport, 429, 5xx), so a retry is worth it."""
        return any(
            isinstance(e, GoogleApiError) and (e.status == 0 or e.status == 429 or e.status >= 500)
            for e in self.refused.values()
        )


def share_file_with_each(
    clients: GoogleClients,
    file_id: str,
    emails: Sequence[str],
    role: str = "reader",
    notify: bool = False,
    *,
    subject: str | None = None,
) -> ShareOutcome:
    """Give each address access to a file, going on past refusals; people who already have it are skipped.

    One refused recipient (no Google account with ``notify=False``, sharing outside the domain turned off, a
    malformed address) must not keep the others from their access, and running it again shares only with
    those still missing, so a retry after a transient failure finishes the job without duplicate invitations.
    """
    outcome = ShareOutcome()
    have = {
        str(p.get("emailAddress", "")).lower()
        for p in list_permissions(clients, file_id, subject=subject)
        if p.get("type") in SHARE_KINDS and p.get("view") != "published"
    }
    for email in emails:
        if email.lower() in have:
            outcome.already.append(email)
            continue
        try:
            share_file(clients, file_id, email, role, notify, subject=subject)
        except (GoogleApiError, ShareRefused) as exc:
            outcome.refused[email] = exc
        else:
            outcome.shared.append(email)
            have.add(email.lower())
    return outcome


def publish_read_only_link(
    clients: GoogleClients, file_id: str, *, subject: str | None = None
) -> dict[str, Any]:
    """Let anyone with the link read (not edit, not find in search) one file; return the ``Permission``.

    The one deliberate exception to :func:`share_file`'s refusal of ``anyone`` links, and only for the policy
    document and the PDF of the revision people acknowledge: AR 1114 is a public board document, and community
    members (no district account) must be able to read exactly what they are asked to acknowledge. Never call it
    for a file that holds personal data (reports, rosters, evidence): those are shared with named people only.
    """
    service = clients.drive(subject)
    request = service.permissions().create(
        fileId=file_id,
        body={"type": "anyone", "role": "reader", "allowFileDiscovery": False},
        fields="id,type,role,allowFileDiscovery",
        supportsAllDrives=True,
    )
    return execute(request, policy=clients.policy, idempotent=True)


ResponderAudience = Literal["domain", "anyone"]


def allow_form_responders(
    clients: GoogleClients,
    form_id: str,
    audience: ResponderAudience,
    *,
    domain: str | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    """Say who may answer a published form; return the ``Permission``.

    Since April 2025 responders are Drive permissions in the ``published`` view, role reader (Forms guide
    "Publish and manage responders"); a published form with none is answerable by its editors only.
    ``domain``: signed-in users of ``domain`` (default ``settings.district.domain``); ``anyone``: anyone with
    the link, with or without a Google account. Responder permissions give no access to the form or its
    responses.
    """
    body: dict[str, Any] = {"type": audience, "role": "reader", "view": "published"}
    if audience == "domain":
        body["domain"] = domain or clients.settings.district.domain
    elif audience != "anyone":
        raise ValueError(f"responder audience must be domain or anyone, not {audience!r}")
    service = clients.drive(subject)
    request = service.permissions().create(
        fileId=form_id, body=body, fields="id,type,role,domain,view", supportsAllDrives=True
    )
    return execute(request, policy=clients.policy, idempotent=True)


def delete_file(clients: GoogleClients, file_id: str, *, subject: str | None = None) -> None:
    """Delete a file the subject owns (skips the trash); used for the preflight's throwaway form."""
    service = clients.drive(subject)
    execute(service.files().delete(fileId=file_id, supportsAllDrives=True), policy=clients.policy, idempotent=True)


def list_permissions(
    clients: GoogleClients, file_id: str, *, subject: str | None = None
) -> list[dict[str, Any]]:
    """Every ``Permission`` on a file (id, type, role, emailAddress, domain)."""
    service = clients.drive(subject)
    return list(
        paginate(
            service.permissions().list,
            "permissions",
            policy=clients.policy,
            fileId=file_id,
            supportsAllDrives=True,
            fields="nextPageToken,permissions(id,type,role,emailAddress,domain,view)",
        )
    )


# -- Sheets ----------------------------------------------------------------------------------------


def _column_letters(index: int) -> str:
    """1 -> A, 26 -> Z, 27 -> AA."""
    letters = ""
    while index > 0:
        index, rem = divmod(index - 1, 26)
        letters = chr(ord("A") + rem) + letters
    return letters


def _a1_whole_sheet(title: str, rows: int, cols: int) -> str:
    # The sheet's whole grid as an explicit A1 range; quotes inside the name are doubled. Explicit bounds
    # (from gridProperties) rather than the bare name, so the range never exceeds the grid and never gets
    # mistaken for a cell reference (a sheet named "A1").
    return "'" + title.replace("'", "''") + f"'!A1:{_column_letters(max(cols, 1))}{max(rows, 1)}"


def get_sheet_values(
    clients: GoogleClients, spreadsheet_id: str, *, subject: str | None = None
) -> list[tuple[str, list[list[str]]]]:
    """Every grid sheet of a spreadsheet as ``(title, rows)``, cells as displayed (FORMATTED_VALUE strings).

    Two reads whatever the number of sheets (spreadsheets.get for titles and sizes, one values.batchGet),
    which matters under the ~60 reads/min/user quota. Chart sheets (no cells) are left out. Trailing empty
    cells and rows are absent, as the API returns them.
    """
    service = clients.sheets(subject)
    meta = execute(
        service.spreadsheets().get(
            spreadsheetId=spreadsheet_id,
            fields="sheets/properties(title,index,sheetType,gridProperties(rowCount,columnCount))",
        ),
        policy=clients.policy,
    )
    grids = [
        s["properties"]
        for s in meta.get("sheets") or []
        if s["properties"].get("sheetType", "GRID") == "GRID"
    ]
    if not grids:
        return []
    ranges = [
        _a1_whole_sheet(
            p["title"],
            p.get("gridProperties", {}).get("rowCount", 1000),
            p.get("gridProperties", {}).get("columnCount", 26),
        )
        for p in grids
    ]
    values = execute(
        service.spreadsheets()
        .values()
        .batchGet(
            spreadsheetId=spreadsheet_id,
            ranges=ranges,
            valueRenderOption="FORMATTED_VALUE",
            majorDimension="ROWS",
        ),
        policy=clients.policy,
    )
    value_ranges = values.get("valueRanges") or []
    if len(value_ranges) != len(grids):
        raise ValueError(
            f"spreadsheet {spreadsheet_id}: asked {len(grids)} sheets, got {len(value_ranges)} ranges"
        )
    return [
        (p["title"], [["" if cell is None else str(cell) for cell in row] for row in vr.get("values") or []])
        for p, vr in zip(grids, value_ranges, strict=True)
    ]


# -- Forms -----------------------------------------------------------------------------------------


def text_question(
    title: str, *, required: bool = True, paragraph: bool = False, description: str = ""
) -> dict:
    """A Forms ``Item`` asking for text (short answer, or paragraph)."""
    item: dict[str, Any] = {
        "title": title,
        "questionItem": {"question": {"required": required, "textQuestion": {"paragraph": paragraph}}},
    }
    if description:
        item["description"] = description
    return item


def choice_question(
    title: str,
    options: Sequence[str],
    *,
    required: bool = True,
    kind: Literal["RADIO", "CHECKBOX", "DROP_DOWN"] = "RADIO",
    description: str = "",
) -> dict:
    """A Forms ``Item`` with fixed choices (radio buttons by default)."""
    if not options:
        raise ValueError(f"question {title!r} needs at least one option")
    item: dict[str, Any] = {
        "title": title,
        "questionItem": {
            "question": {
                "required": required,
                "choiceQuestion": {"type": kind, "options": [{"value": o} for o in options]},
            }
        },
    }
    if description:
        item["description"] = description
    return item


def create_form(
    clients: GoogleClients,
    title: str,
    *,
    document_title: str | None = None,
    description: str | None = None,
    subject: str | None = None,
) -> dict[str, Any]:
    """Create an (unpublished) form; return the ``Form`` (``formId``, ``responderUri``, ...).

    forms.create accepts only the title; a description is set with a second (batchUpdate) call.
    """
    service = clients.forms(subject)
    info = {"title": title, "documentTitle": document_title or title}
    form = execute(service.forms().create(body={"info": info}), policy=clients.policy)
    if description:
        _batch_update(
            clients,
            form["formId"],
            [{"updateFormInfo": {"info": {"description": description}, "updateMask": "description"}}],
            subject=subject,
        )
        form = get_form(clients, form["formId"], subject=subject)
    return form


def _batch_update(
    clients: GoogleClients, form_id: str, requests: list[dict[str, Any]], *, subject: str | None
) -> dict[str, Any]:
    service = clients.forms(subject)
    return execute(
        service.forms().batchUpdate(
            formId=form_id, body={"requests": requests, "includeFormInResponse": False}
        ),
        policy=clients.policy,
    )


def add_form_items(
    clients: GoogleClients,
    form_id: str,
    items: Sequence[dict[str, Any]],
    *,
    start_index: int = 0,
    subject: str | None = None,
) -> list[dict[str, Any]]:
    """Insert ``items`` (see :func:`text_question`, :func:`choice_question`) at ``start_index`` in one call.

    Returns one ``CreateItemResponse`` per item (``itemId``, ``questionId`` list) in order: the question ids
    are what responses' ``answers`` are keyed by.
    """
    requests = [
        {"createItem": {"item": dict(item), "location": {"index": start_index + i}}}
        for i, item in enumerate(items)
    ]
    if not requests:
        return []
    reply = _batch_update(clients, form_id, requests, subject=subject)
    return [r.get("createItem", {}) for r in reply.get("replies") or []]


def set_email_collection(
    clients: GoogleClients, form_id: str, collection: EmailCollection, *, subject: str | None = None
) -> None:
    """Set how the form collects respondents' email.

    VERIFIED: a signed-in district account (people without one cannot answer); RESPONDER_INPUT: typed,
    unverified; DO_NOT_COLLECT.
    """
    _batch_update(
        clients,
        form_id,
        [
            {
                "updateSettings": {
                    "settings": {"emailCollectionType": collection},
                    "updateMask": "emailCollectionType",
                }
            }
        ],
        subject=subject,
    )


def publish_form(
    clients: GoogleClients, form_id: str, *, accepting_responses: bool = True, subject: str | None = None
) -> dict[str, Any]:
    """Publish a form (API-created forms start unpublished); ``accepting_responses=False`` closes it."""
    service = clients.forms(subject)
    body = {
        "publishSettings": {
            "publishState": {"isPublished": True, "isAcceptingResponses": accepting_responses}
        },
        "updateMask": "publishState",
    }
    return execute(service.forms().setPublishSettings(formId=form_id, body=body), policy=clients.policy)


def get_form(clients: GoogleClients, form_id: str, *, subject: str | None = None) -> dict[str, Any]:
    """The ``Form`` with its items, settings and ``responderUri``."""
    service = clients.forms(subject)
    return execute(service.forms().get(formId=form_id), policy=clients.policy)


def prefill_url(responder_uri: str, answers: Mapping[str, str]) -> str:
    """A pre-filled link to a form: ``responderUri?usp=pp_url&entry.<N>=value`` per ``{questionId: value}``.

    N is the question id (hex) read as a decimal number: observed behaviour, not in Google's documentation,
    so check one link by hand after Google changes Forms. Pre-filled answers stay editable by the respondent;
    never rely on them as proof of identity.
    """
    params = [("usp", "pp_url")]
    for question_id, value in answers.items():
        try:
            number = int(question_id, 16)
        except ValueError:
            raise ValueError(f"question id {question_id!r} is not hexadecimal") from None
        params.append((f"entry.{number}", value))
    separator = "&" if "?" in responder_uri else "?"
    return responder_uri + separator + urlencode(params)


def rfc3339(moment: datetime) -> str:
    """UTC "Zulu" RFC 3339 with microseconds, as Forms filters require; naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("aware datetime required (UTC stored everywhere)")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def list_responses(
    clients: GoogleClients,
    form_id: str,
    since: datetime | None = None,
    *,
    page_size: int = FORMS_MAX_PAGE_SIZE,
    subject: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield ``FormResponse`` resources, only those submitted after ``since`` (strictly) when given.

    For incremental sync keep the greatest ``lastSubmittedTime`` seen as the next ``since``. ``page_size`` up
    to 5,000 (each page is one "expensive read" of the ~180/min/user quota).
    """
    if not 1 <= page_size <= FORMS_MAX_PAGE_SIZE:
        raise ValueError(f"page_size must be 1..{FORMS_MAX_PAGE_SIZE}")
    params: dict[str, Any] = {"formId": form_id, "pageSize": page_size}
    if since is not None:
        params["filter"] = f"timestamp > {rfc3339(since)}"
    service = clients.forms(subject)
    yield from paginate(service.forms().responses().list, "responses", policy=clients.policy, **params)


__all__ = [
    "ShareOutcome",
    "ShareRefused",
    "ResponderAudience",
    "add_form_items",
    "allow_form_responders",
    "delete_file",
    "choice_question",
    "create_form",
    "download_file",
    "download_revision",
    "export_file",
    "find_files",
    "get_file",
    "get_form",
    "get_mailbox_profile",
    "get_message",
    "get_sheet_values",
    "get_user",
    "keep_revision",
    "list_message_ids",
    "list_orgunits",
    "list_permissions",
    "list_responses",
    "list_revisions",
    "list_users",
    "prefill_url",
    "publish_form",
    "publish_read_only_link",
    "rfc3339",
    "send_message",
    "send_messages",
    "set_email_collection",
    "share_file",
    "share_file_with_each",
    "text_question",
    "update_file_content",
    "upload_file",
]
