"""Drive v3: files with revisions, Google Doc conversion and export, permissions with share notifications."""

from __future__ import annotations

import hashlib
import html
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from emulator.auth import AccessToken
from emulator.clock import rfc3339
from emulator.core import Call, Context, Result, decode_token, encode_token
from emulator.errors import ApiError, bad_request, insufficient_scopes

GOOGLE_DOC = "application/vnd.google-apps.document"
GOOGLE_SHEET = "application/vnd.google-apps.spreadsheet"
GOOGLE_FOLDER = "application/vnd.google-apps.folder"
GOOGLE_FORM = "application/vnd.google-apps.form"
_CONVERTIBLE_TO_DOC = {"text/html", "text/plain", "application/rtf"}
_DEFAULT_FILE_FIELDS = ("kind", "id", "name", "mimeType")
_DEFAULT_PERMISSION_FIELDS = (
    "kind", "id", "type", "role", "emailAddress", "domain", "allowFileDiscovery", "view"
)
_ROLES = {"owner", "organizer", "fileOrganizer", "writer", "commenter", "reader"}
_RANK = {"reader": 1, "commenter": 2, "writer": 3, "fileOrganizer": 3, "organizer": 4, "owner": 5}
_AUTH = "https://www.googleapis.com/auth/"
# Scopes that reach every file the subject can reach. ``drive.file`` alone reaches only files the app created or
# that were opened with / shared to the app (Google: "Choose Google Drive API scopes": drive.file is per-file access
# to files the app created or the user opened with it). Each API's own broad scopes count for that API's files.
DRIVE_WIDE = frozenset({_AUTH + "drive", _AUTH + "drive.readonly", _AUTH + "drive.metadata.readonly"})
# Scopes that may download a file's content (drive.metadata.readonly may not).
CONTENT_SCOPES = frozenset({_AUTH + "drive", _AUTH + "drive.readonly", _AUTH + "drive.file", _AUTH + "drive.appdata"})
SHEETS_WIDE = DRIVE_WIDE | {_AUTH + "spreadsheets", _AUTH + "spreadsheets.readonly"}
FORMS_WIDE = DRIVE_WIDE | {_AUTH + "forms.body", _AUTH + "forms.body.readonly", _AUTH + "forms.responses.readonly"}
# Addresses Google knows as Google accounts without a Directory entry (consumer accounts).
CONSUMER_DOMAINS = frozenset({"gmail.com", "googlemail.com"})


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        if tag in ("p", "div", "br", "li", "h1", "h2", "h3", "h4", "tr") and self.parts:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _Text()
    parser.feed(markup)
    lines = [re.sub(r"[ \t]+", " ", line).strip() for line in "".join(parser.parts).splitlines()]
    return "\r\n".join(line for line in lines if line) + "\r\n"


def text_pdf(text: str) -> bytes:
    """A small valid PDF (one Helvetica page per 60 lines) of ``text``: what Docs' PDF export stands in for."""
    lines = [line for line in text.splitlines()] or [""]
    pages = [lines[i : i + 60] for i in range(0, len(lines), 60)]

    def esc(line: str) -> str:
        raw = line.encode("latin-1", "replace").decode("latin-1")
        return raw.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    kids = []
    for page in pages:
        stream = "BT /F1 10 Tf 50 800 Td 12 TL " + " ".join(f"({esc(line)}) '" for line in page) + " ET"
        content_no = len(objects) + 2
        kids.append(len(objects) + 1)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {content_no} 0 R "
            f"/Resources << /Font << /F1 {len(pages) * 2 + 3} 0 R >> >> >>".encode()
        )
        data = stream.encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@dataclass
class Revision:
    id: str
    mime_type: str
    modified: datetime
    content: bytes
    size: int
    keep_forever: bool = False


@dataclass
class DriveFile:
    id: str
    name: str
    mime_type: str
    parents: list[str]
    owner: str
    created: datetime
    modified: datetime
    description: str | None = None
    content: bytes | None = None
    content_type: str | None = None  # of the stored bytes (text/html for a converted Doc)
    revisions: list[Revision] = field(default_factory=list)
    permissions: list[dict[str, Any]] = field(default_factory=list)
    trashed: bool = False
    app_properties: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    # OAuth clients (service-account emails) that created this file or had it opened with / shared to them:
    # what ``drive.file`` can reach.
    apps: set[str] = field(default_factory=set)

    def resource(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": "drive#file",
            "id": self.id,
            "name": self.name,
            "mimeType": self.mime_type,
            "parents": self.parents,
            "trashed": self.trashed,
            "createdTime": rfc3339(self.created),
            "modifiedTime": rfc3339(self.modified),
            "owners": [{"kind": "drive#user", "emailAddress": self.owner}],
            "webViewLink": _view_link(self),
            "version": str(len(self.revisions) + len(self.permissions)),
            "headRevisionId": self.revisions[-1].id if self.revisions else None,
            "permissionIds": [p["id"] for p in self.permissions],
            "properties": self.properties,
            "appProperties": self.app_properties,
        }
        if self.description is not None:
            out["description"] = self.description
        if self.content is not None and not self.mime_type.startswith("application/vnd.google-apps."):
            out["size"] = str(len(self.content))
            out["md5Checksum"] = hashlib.md5(self.content).hexdigest()
        return {k: v for k, v in out.items() if v is not None}


def _view_link(f: DriveFile) -> str:
    kind = {GOOGLE_DOC: "document", GOOGLE_SHEET: "spreadsheets", GOOGLE_FORM: "forms"}.get(f.mime_type)
    if kind:
        return f"https://docs.google.com/{kind}/d/{f.id}/edit?usp=drivesdk"
    return f"https://drive.google.com/file/d/{f.id}/view?usp=drivesdk"


def new_id(length: int = 33) -> str:
    return "1" + secrets.token_urlsafe(length)[: length - 1].replace("-", "x").replace("_", "y")


def _fields(call: Call, default: tuple[str, ...]) -> None:
    """Drive v3 returns only a handful of fields unless ``fields`` asks for more; mimic that default."""
    if "fields" not in call.query:
        call.query["fields"] = ",".join(default)


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


class Drive:
    """Files with owners, permissions and the apps that may reach them; every call is checked as Google does.

    ``is_google_account`` tells whether an address has a Google account (Directory users, consumer domains and
    addresses seeded as ``google_accounts``): Drive refuses to share silently with anyone else.
    """

    def __init__(self, ctx: Context, is_google_account: Callable[[str], bool] | None = None) -> None:
        self.ctx = ctx
        self.is_google_account = is_google_account or (lambda address: _domain(address) in CONSUMER_DOMAINS)
        self.reset()

    def reset(self) -> None:
        self.files: dict[str, DriveFile] = {}
        self.notifications: list[dict[str, Any]] = []
        # Admin console > Apps > Google Workspace > Drive and Docs > Sharing settings: "Sharing outside of
        # <domain>" off refuses anyone-with-link and outside-user shares of the domain's files.
        self.external_sharing = True

    def handlers(self) -> dict[str, Callable[[Call], Any]]:
        return {
            "drive.files.create": self.create,
            "drive.files.get": self.get,
            "drive.files.update": self.update,
            "drive.files.list": self.list,
            "drive.files.export": self.export,
            "drive.files.delete": self.delete,
            "drive.revisions.list": self.revisions_list,
            "drive.revisions.get": self.revisions_get,
            "drive.permissions.create": self.permissions_create,
            "drive.permissions.list": self.permissions_list,
        }

    # -- storage ---------------------------------------------------------------------------------------------

    @staticmethod
    def _not_found(file_id: str, location: str = "fileId") -> ApiError:
        return ApiError(
            404,
            f"File not found: {file_id}.",
            "notFound",
            detail_message=f"File not found: {file_id}.",
            extra={"locationType": "parameter", "location": location},
        )

    def _parent_folders(self, f: DriveFile) -> list[DriveFile]:
        return [p for p in (self.files.get(pid) for pid in f.parents) if p is not None and p.mime_type == GOOGLE_FOLDER]

    def role(self, f: DriveFile, subject: str, *, published: bool = False, _depth: int = 0) -> str | None:
        """The best role ``subject`` holds on ``f`` (owner, direct, domain or anyone-with-link), or None.

        Permissions in the ``published`` view (form responders) grant no Drive access; with ``published=True``
        only those count (who may respond to a form). A folder's permissions are inherited by what it holds, as
        in Drive (a file dropped in a folder shared with someone is theirs to read); the folder's owner holds
        the files others put in it as a writer, never as their owner.
        """
        subject = subject.lower()
        best: str | None = None
        if not published and _depth < 20:
            for folder in self._parent_folders(f):
                inherited = self.role(folder, subject, _depth=_depth + 1)
                if inherited == "owner":
                    inherited = "writer"
                if inherited and (best is None or _RANK[inherited] > _RANK[best]):
                    best = inherited
        for perm in f.permissions:
            if (perm.get("view") == "published") != published:
                continue
            kind = perm.get("type")
            if kind in ("user", "group"):
                hit = perm.get("emailAddress", "").lower() == subject
            elif kind == "domain":
                hit = _domain(subject) == str(perm.get("domain", "")).lower()
            else:
                hit = kind == "anyone"
            if hit and (best is None or _RANK[perm["role"]] > _RANK[best]):
                best = perm["role"]
        return best

    def _given(self, f: DriveFile, subject: str, _depth: int = 0) -> bool:
        """Owned by or shared with ``subject`` (or its domain), directly or through a folder holding it."""
        if f.owner == subject or any(_grants(p, subject) for p in f.permissions):
            return True
        return _depth < 20 and any(self._given(p, subject, _depth + 1) for p in self._parent_folders(f))

    def reaches(self, f: DriveFile, token: AccessToken, wide: frozenset[str]) -> bool:
        """True when the token's scopes reach ``f``: a wide scope, or ``drive.file`` and the app has the file."""
        return bool(token.scopes & wide) or token.client_email in f.apps

    def access(
        self, file_id: str, token: AccessToken, subject: str, *, wide: frozenset[str] = DRIVE_WIDE, write: bool = False
    ) -> DriveFile:
        """The file if ``subject`` (through ``token``) may read it (or write, with ``write``), else Google's error.

        A file the subject cannot see, or the app cannot reach under ``drive.file``, answers 404 like a missing
        one (Drive does not confirm that a file exists); a reader asking to write answers 403.
        """
        f = self.files.get(file_id)
        if f is None or not self.reaches(f, token, wide):
            raise self._not_found(file_id)
        role = self.role(f, subject)
        if role is None:
            raise self._not_found(file_id)
        if write and _RANK[role] < _RANK["writer"]:
            raise ApiError(
                403,
                f"The user does not have sufficient permissions for file {file_id}.",
                "insufficientFilePermissions",
            )
        return f

    def _file(self, call: Call, *, write: bool = False) -> DriveFile:
        return self.access(call.path["fileId"], call.token, call.subject, write=write)

    def _set_content(self, f: DriveFile, content: bytes, media_type: str | None, now: datetime) -> None:
        media_type = (media_type or "application/octet-stream").split(";")[0].strip()
        if f.mime_type == GOOGLE_DOC:
            if media_type not in _CONVERTIBLE_TO_DOC:
                raise bad_request(f"Conversion from {media_type} to a Google Doc is not supported by the emulator.")
            text = content.decode("utf-8", errors="replace")
            if media_type != "text/html":
                text = (
                    "<html><body>"
                    + "".join(f"<p>{html.escape(line)}</p>" for line in text.splitlines())
                    + "</body></html>"
                )
            content, media_type = text.encode(), "text/html"
        f.content, f.content_type, f.modified = content, media_type, now
        f.revisions.append(
            Revision(
                new_id(20),
                f.mime_type if f.mime_type.startswith("application/vnd.google-apps") else media_type,
                now,
                content,
                len(content),
            )
        )

    def add(
        self,
        owner: str,
        meta: dict[str, Any],
        content: bytes | None,
        media_type: str | None,
        now: datetime,
        *,
        app: str | None = None,
    ) -> DriveFile:
        mime = meta.get("mimeType") or (media_type or "application/octet-stream").split(";")[0]
        f = DriveFile(
            id=meta.get("id") or new_id(),
            name=meta.get("name") or "Untitled",
            mime_type=mime,
            parents=list(meta.get("parents") or ["root"]),
            owner=owner,
            created=now,
            modified=now,
            description=meta.get("description"),
            app_properties=dict(meta.get("appProperties") or {}),
            properties=dict(meta.get("properties") or {}),
        )
        if len(f.parents) > 1:
            raise ApiError(403, "Increasing the number of parents is not allowed.", "cannotAddParent")
        f.permissions.append(
            {
                "kind": "drive#permission",
                "id": _perm_id(owner),
                "type": "user",
                "role": "owner",
                "emailAddress": owner,
            }
        )
        if app:
            f.apps.add(app)
        if content is not None:
            self._set_content(f, content, media_type, now)
        self.files[f.id] = f
        return f

    @staticmethod
    def _outside_refused() -> ApiError:
        return ApiError(
            403,
            "The sharing settings of this domain do not allow sharing outside of it.",
            "publishOutNotPermitted",
        )

    def _check_parents(self, call: Call, parents: list[str]) -> None:
        # Drive refuses a parent that does not exist, that the subject cannot add to, or (drive.file) that the app
        # cannot reach: 404 "File not found: <parent>" in each case.
        for parent in parents:
            if parent == "root":
                continue
            folder = self.files.get(parent)
            role = self.role(folder, call.subject) if folder is not None else None
            if folder is None or not self.reaches(folder, call.token, DRIVE_WIDE) or role is None:
                raise self._not_found(parent, location="parents")
            if folder.mime_type != GOOGLE_FOLDER:
                raise bad_request(f"The specified parent {parent} is not a folder.", reason="invalidParent")
            if _RANK[role] < _RANK["writer"]:
                raise ApiError(
                    403,
                    f"The user does not have sufficient permissions for file {parent}.",
                    "insufficientFilePermissions",
                )

    # -- files -----------------------------------------------------------------------------------------------

    def create(self, call: Call) -> dict[str, Any]:
        meta = call.body if isinstance(call.body, dict) else {}
        if call.is_upload and call.media is None:
            raise bad_request("Media upload without content.")
        if meta.get("id") and meta["id"] in self.files:
            raise ApiError(409, "A file already exists with the provided ID.", "fileIdInUse")
        self._check_parents(call, list(meta.get("parents") or []))
        f = self.add(
            call.subject,
            meta,
            call.media if call.is_upload else None,
            call.media_type,
            call.now,
            app=call.token.client_email,
        )
        self._keep(call, f)
        _fields(call, _DEFAULT_FILE_FIELDS)
        return f.resource()

    def update(self, call: Call) -> dict[str, Any]:
        f = self._file(call, write=True)
        meta = call.body if isinstance(call.body, dict) else {}
        for key in ("name", "description"):
            if key in meta:
                setattr(f, key, meta[key])
        if "mimeType" in meta and meta["mimeType"] != f.mime_type:
            raise ApiError(403, "The MIME type of this file cannot be changed.", "fieldNotWritable")
        if meta.get("trashed") is not None:
            f.trashed = bool(meta["trashed"])
        f.app_properties.update(meta.get("appProperties") or {})
        f.properties.update(meta.get("properties") or {})
        added = [p for p in (call.query.get("addParents") or "").split(",") if p]
        self._check_parents(call, added)
        for parent in added:
            if parent not in f.parents:
                f.parents.append(parent)
        for parent in (call.query.get("removeParents") or "").split(","):
            if parent in f.parents:
                f.parents.remove(parent)
        if call.is_upload:
            self._set_content(f, call.media or b"", call.media_type, call.now)
            self._keep(call, f)
        else:
            f.modified = call.now
        _fields(call, _DEFAULT_FILE_FIELDS)
        return f.resource()

    @staticmethod
    def _keep(call: Call, f: DriveFile) -> None:
        """``keepRevisionForever`` marks the head revision of a binary file kept (Docs Editors files ignore it)."""
        if call.query.get("keepRevisionForever") and f.revisions and not f.mime_type.startswith(
            "application/vnd.google-apps."
        ):
            f.revisions[-1].keep_forever = True

    def get(self, call: Call) -> Any:
        f = self._file(call)
        if call.query.get("alt") == "media":
            if not call.token.scopes & CONTENT_SCOPES:
                # metadata scopes list and describe files but never download them (Drive API scopes table)
                raise insufficient_scopes("drive.googleapis.com", call.spec.id)
            if f.mime_type.startswith("application/vnd.google-apps."):
                raise ApiError(
                    403,
                    "Only files with binary content can be downloaded. Use Export with Docs Editors files.",
                    "fileNotDownloadable",
                    extra={"locationType": "parameter", "location": "alt"},
                )
            return Result(content=f.content or b"", content_type=f.content_type or "application/octet-stream")
        _fields(call, _DEFAULT_FILE_FIELDS)
        return f.resource()

    def delete(self, call: Call) -> Result:
        f = self._file(call)
        if self.role(f, call.subject) != "owner":
            raise ApiError(
                403, f"The user does not have sufficient permissions for file {f.id}.", "insufficientFilePermissions"
            )
        del self.files[f.id]
        return Result(status=204, content=b"", content_type="text/plain")

    def public_content(self, file_id: str, wanted: str | None) -> Result | None:
        """What an anonymous browser gets from a file's public link (Docs export or Drive download), or None
        when the file is not open to anyone with the link (Google then sends the sign-in page)."""
        f = self.files.get(file_id)
        if f is None or f.trashed or not any(
            p.get("type") == "anyone" and p.get("view") != "published" for p in f.permissions
        ):
            return None
        if f.mime_type == GOOGLE_DOC:
            markup = (f.content or b"<html><body></body></html>").decode()
            if wanted == "pdf":
                return Result(content=text_pdf(html_to_text(markup)), content_type="application/pdf")
            if wanted == "html":
                return Result(content=markup.encode(), content_type="text/html; charset=utf-8")
            return Result(content=html_to_text(markup).encode(), content_type="text/plain; charset=utf-8")
        if f.mime_type.startswith("application/vnd.google-apps."):
            return None
        return Result(content=f.content or b"", content_type=f.content_type or "application/octet-stream")

    def export(self, call: Call) -> Result:
        f = self._file(call)
        wanted = call.query.get("mimeType", "")
        if f.mime_type != GOOGLE_DOC:
            raise ApiError(403, "Export only supports Docs Editors files.", "fileNotExportable")
        markup = (f.content or b"<html><body></body></html>").decode()
        if wanted == "text/html":
            return Result(content=markup.encode(), content_type="text/html")
        if wanted == "text/plain":
            return Result(content=("\ufeff" + html_to_text(markup)).encode(), content_type="text/plain")
        if wanted == "application/pdf":
            return Result(content=text_pdf(html_to_text(markup)), content_type="application/pdf")
        raise bad_request("The requested conversion is not supported.", reason="badRequest") from None

    def list(self, call: Call) -> dict[str, Any]:
        preds = _parse_drive_query(call.query.get("q", ""))
        # Only what the subject has been given (not files merely open to anyone with the link) and, under
        # drive.file, only what the app can reach.
        files = [
            f
            for f in self.files.values()
            if self.reaches(f, call.token, DRIVE_WIDE)
            and self.role(f, call.subject) is not None
            and self._given(f, call.subject)
            and all(p(f) for p in preds)
        ]
        if "trashed" not in call.query.get("q", ""):
            files = [f for f in files if not f.trashed]
        order = call.query.get("orderBy", "")
        files.sort(key=(lambda f: f.name.lower()) if order.startswith("name") else (lambda f: (f.created, f.id)))
        if "desc" in order:
            files.reverse()
        size = min(call.query.get("pageSize", 100), 1000)
        start = int(decode_token(call.query["pageToken"]).get("o", 0)) if call.query.get("pageToken") else 0
        page = files[start : start + size]
        out: dict[str, Any] = {
            "kind": "drive#fileList",
            "incompleteSearch": False,
            "files": [f.resource() for f in page],
        }
        if start + size < len(files):
            out["nextPageToken"] = encode_token({"o": start + size})
        if "fields" not in call.query:
            call.query["fields"] = "kind,nextPageToken,incompleteSearch,files(kind,id,name,mimeType)"
        return out

    # -- revisions and permissions ---------------------------------------------------------------------------

    def revisions_list(self, call: Call) -> dict[str, Any]:
        f = self._file(call, write=True)  # revisions are for writers (Drive roles table)
        revs = [
            {
                "kind": "drive#revision",
                "id": r.id,
                "mimeType": r.mime_type,
                "modifiedTime": rfc3339(r.modified),
                "size": str(r.size),
                "keepForever": r.keep_forever,
                "published": False,
                "lastModifyingUser": {"kind": "drive#user", "emailAddress": f.owner},
            }
            for r in f.revisions
        ]
        if "fields" not in call.query:
            call.query["fields"] = "kind,nextPageToken,revisions(kind,id,mimeType,modifiedTime)"
        return {"kind": "drive#revisionList", "revisions": revs}

    def revisions_get(self, call: Call) -> Any:
        f = self._file(call, write=True)  # revisions are for writers
        for r in f.revisions:
            if r.id == call.path["revisionId"]:
                break
        else:
            raise ApiError(404, f"Revision not found: {call.path['revisionId']}.", "notFound",
                           extra={"locationType": "parameter", "location": "revisionId"})
        if call.query.get("alt") == "media":
            if f.mime_type.startswith("application/vnd.google-apps."):
                raise ApiError(403, "Only revisions of files with binary content can be downloaded.",
                               "fileNotDownloadable", extra={"locationType": "parameter", "location": "alt"})
            return Result(content=r.content, content_type=r.mime_type)
        if "fields" not in call.query:
            call.query["fields"] = "kind,id,mimeType,modifiedTime"
        return {"kind": "drive#revision", "id": r.id, "mimeType": r.mime_type, "modifiedTime": rfc3339(r.modified),
                "size": str(r.size), "keepForever": r.keep_forever, "published": False}

    def permissions_create(self, call: Call) -> dict[str, Any]:
        f = self._file(call, write=True)
        body = call.body or {}
        kind, role = body.get("type"), body.get("role")
        if not kind:
            raise bad_request("The permission type field is required.", reason="required")
        if not role:
            raise bad_request("The permission role field is required.", reason="required")
        if role not in _ROLES:
            raise bad_request(f"The provided role is invalid: {role}", reason="invalid")
        perm: dict[str, Any] = {"kind": "drive#permission", "type": kind, "role": role}
        view = body.get("view")
        if view is not None:
            # Drive's only creatable view is "published": form responders (Forms "Publish and manage responders"),
            # role reader, on a form.
            if view != "published" or role != "reader" or f.mime_type != GOOGLE_FORM:
                raise bad_request(
                    "The published view is only supported with role reader on a published form.",
                    reason="invalidSharingRequest",
                )
            perm["view"] = "published"
        suffix = "p" if view else ""
        owner_domain = _domain(f.owner)
        if kind in ("user", "group"):
            address = (body.get("emailAddress") or "").lower()
            if not address:
                raise bad_request("The permission emailAddress field is required.", reason="required")
            perm["emailAddress"] = address
            perm["id"] = _perm_id(address) + suffix
            if _domain(address) != owner_domain and not self.external_sharing:
                raise self._outside_refused()
        elif kind == "domain":
            if not body.get("domain"):
                raise bad_request("The permission domain field is required.", reason="required")
            perm["domain"] = body["domain"]
            perm["allowFileDiscovery"] = bool(body.get("allowFileDiscovery", False))
            perm["id"] = _perm_id(body["domain"]) + "k" + suffix
            if str(body["domain"]).lower() != owner_domain and not self.external_sharing:
                raise self._outside_refused()
        elif kind == "anyone":
            perm["allowFileDiscovery"] = bool(body.get("allowFileDiscovery", False))
            perm["id"] = "anyoneWithLink" + suffix
            if not self.external_sharing:
                raise self._outside_refused()
        else:
            raise bad_request(f"The provided permission type is invalid: {kind}", reason="invalid")
        notify = call.query.get("sendNotificationEmail")
        if kind in ("user", "group"):
            notify = True if notify is None else notify
            if not notify and not self.is_google_account(perm["emailAddress"]):
                # Drive's answer when sharing silently with an address that has no Google account: only an
                # invitation email lets such a person in (permissions.create reference, sendNotificationEmail).
                raise bad_request(
                    "Bad Request. User message: \"You are trying to invite "
                    f"{perm['emailAddress']}. Since there is no Google account associated with this email "
                    "address, you must check the 'Notify people' box to invite this recipient.\"",
                    reason="invalidSharingRequest",
                )
            if notify:
                self.notifications.append(
                    {
                        "file_id": f.id,
                        "to": perm["emailAddress"],
                        "from": call.subject,
                        "role": role,
                        "message": call.query.get("emailMessage"),
                        "sent_at": rfc3339(call.now),
                    }
                )
        elif notify:
            raise bad_request(
                "Notification emails can only be sent to users or groups.", reason="invalidSharingRequest"
            )
        f.permissions = [p for p in f.permissions if p["id"] != perm["id"]] + [perm]
        _fields(call, _DEFAULT_PERMISSION_FIELDS)
        return perm

    def permissions_list(self, call: Call) -> dict[str, Any]:
        f = self._file(call)
        if "fields" not in call.query:
            call.query["fields"] = "kind,nextPageToken,permissions(" + ",".join(_DEFAULT_PERMISSION_FIELDS) + ")"
        return {"kind": "drive#permissionList", "permissions": f.permissions}


def _grants(perm: dict[str, Any], subject: str) -> bool:
    """A permission naming the subject or its domain (what puts a file in the subject's "Shared with me")."""
    if perm.get("view") == "published":
        return False
    if perm.get("type") in ("user", "group"):
        return perm.get("emailAddress", "").lower() == subject
    return perm.get("type") == "domain" and _domain(subject) == str(perm.get("domain", "")).lower()


def _perm_id(value: str) -> str:
    return str(int(hashlib.sha1(value.lower().encode()).hexdigest()[:16], 16))


# String literals in single or double quotes: Drive's search reference documents single quotes, and Drive
# accepts double quotes too (gspread sends ``mimeType="…"``).
_STR = r"'(?:[^'\\]|\\.)*'" + "|" + r'"(?:[^"\\]|\\.)*"'
_TERM = re.compile(
    rf"\s*(?:(?P<lit>{_STR})\s+in\s+(?P<coll>parents|owners|writers|readers)"
    rf"|(?P<field>name|mimeType|trashed|fullText|starred)\s*(?P<op>=|!=|contains)\s*(?P<val>{_STR}|true|false))"
    r"\s*",
    re.I,
)


def _unquote(literal: str) -> str:
    return re.sub(r"\\(.)", r"\1", literal[1:-1])


def _parse_drive_query(q: str) -> list[Callable[[DriveFile], bool]]:
    """A useful subset of Drive's query language, ANDed: ``'<id>' in parents``, ``name = / contains``,
    ``mimeType = / !=``, ``trashed = true|false``; anything else answers Google's 400."""
    preds: list[Callable[[DriveFile], bool]] = []
    if not q.strip():
        return preds
    for clause in re.split(r"\s+and\s+", q.strip(), flags=re.I):
        m = _TERM.fullmatch(clause)
        if m is None:
            raise ApiError(400, "Invalid Value", "invalid", extra={"locationType": "parameter", "location": "q"})
        if m.group("lit"):
            value = _unquote(m.group("lit"))
            coll = m.group("coll").lower()
            if coll == "parents":
                preds.append(lambda f, v=value: v in f.parents)
            else:
                preds.append(lambda f, v=value.lower(): f.owner == v)
            continue
        fld, op, raw = m.group("field"), m.group("op").lower(), m.group("val")
        val = _unquote(raw) if raw[0] in "'\"" else raw.lower()
        if fld.lower() == "trashed":
            preds.append(lambda f, v=(val == "true"), o=op: (f.trashed == v) if o == "=" else (f.trashed != v))
        elif fld.lower() == "name":
            if op == "contains":
                preds.append(lambda f, v=val.lower(): v in f.name.lower())
            elif op == "=":
                preds.append(lambda f, v=val: f.name == v)
            else:
                preds.append(lambda f, v=val: f.name != v)
        elif fld.lower() == "mimetype":
            preds.append(lambda f, v=val, o=op: (f.mime_type == v) if o == "=" else (f.mime_type != v))
        elif fld.lower() == "fulltext":
            preds.append(lambda f, v=val.lower(): v in f.name.lower() or v.encode() in (f.content or b"").lower())
        else:
            preds.append(lambda f: False)
    return preds
