"""Platform exports dropped in a Drive folder: listed, downloaded to a temporary folder only when they changed,
and read by the same untrusting reader as a local export folder (:func:`compliance.social.exports.read_export_folder`).

The profile names the folder as ``social_exports = ["drive:<folder id>"]`` (the id from the folder's address,
``drive.google.com/drive/folders/<id>``). The communications office uploads each account's archive (a zip, or the
extracted folder) into it and shares the folder with the admin subject as Viewer; files put in the folder inherit
that sharing, as in Drive.

Why ``drive.readonly`` and not the pipeline's ``drive.file``: drive.file reaches only files this app created or
opened, and an export is uploaded by a person, so it is invisible under drive.file. The read-only scope is used by
this module alone (``GoogleClients.drive_exports``), as the admin subject.

Each night:

1. ``files.get`` of the folder (a folder not shared with the admin subject answers 404: :class:`FolderNotShared`
   names the folder and the fix), then ``files.list`` with ``q = "'<id>' in parents and trashed = false"``, page by
   page, subfolders to ``MAX_DEPTH``;
2. the listing's version is every file's id, path, ``md5Checksum`` (``modifiedTime`` for a file without one) and
   size. When it is the version last read, nothing is downloaded: the posts stored from it stand;
3. otherwise every file is downloaded (``files.get`` ``alt=media`` in chunks, at most ``max_file_bytes`` each and
   ``max_total_bytes`` in all, its ``md5Checksum`` checked) into a fresh temporary folder with Drive's
   ``modifiedTime`` as its time (the reader reads the newest export of each platform), read, and the temporary
   folder deleted. An export added or replaced therefore downloads the folder's current files again: a handful a
   term, against reading nothing on every other night.

Names come from Drive and are not trusted: a name that is empty, ``.`` or ``..``, holds a slash, a backslash or a
NUL, or repeats another in the same folder is not downloaded (a problem naming it; of repeated names the newest is
kept). Google Docs editors files have no bytes to download and are skipped. Nothing is written outside the
temporary folder; the zip and size checks of the reader apply unchanged.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from google.auth.exceptions import RefreshError
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaIoBaseDownload

from compliance.errors import ConfigurationError
from compliance.google.clients import GoogleClients
from compliance.google.credentials import DRIVE_EXPORT_SCOPES
from compliance.google.errors import GoogleApiError, InsufficientScope, NotFound, PermissionDenied, classify_http_error
from compliance.google.paging import paginate
from compliance.google.retry import execute
from compliance.social.exports import ExportLimits, ExportRead, read_export_folder

FOLDER_MIME = "application/vnd.google-apps.folder"
NATIVE_PREFIX = "application/vnd.google-apps."
DELEGATION_PATH = "Admin console > Security > Access and data control > API controls > Manage Domain Wide Delegation"
HELD_PREFIX = "Drive folder "  # how every reason this module holds a folder for begins
_FILE_FIELDS = "id,name,mimeType,md5Checksum,modifiedTime,size,trashed"


@dataclass(frozen=True)
class DriveExportLimits:
    """How much of a Drive export folder is ever listed or downloaded (sizes in bytes)."""

    max_depth: int = 6
    max_files: int = 2_000
    max_file_bytes: int = 4 * 1024**3
    max_total_bytes: int = 16 * 1024**3
    chunk_bytes: int = 16 * 1024**2


@dataclass(frozen=True)
class DriveEntry:
    """A file of the folder: its id, where it goes under the temporary folder, and what tells a changed one."""

    file_id: str
    path: str  # relative, "/"-separated, every part checked
    md5: str | None
    modified: str
    size: int | None


@dataclass
class DriveFolderRead:
    """Tonight's read of a Drive export folder.

    ``unchanged``: the listing is the one last read and nothing was downloaded (``read`` is None).
    ``problems``: files of the folder not downloaded, and why (the reader's own are in ``read.problems``).
    ``held_reason``: the folder could not be listed or downloaded tonight; stored posts stay as they were.
    """

    title: str = ""
    version: str = ""
    unchanged: bool = False
    read: ExportRead | None = None
    held_reason: str | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


class FolderNotShared(ConfigurationError):
    """The folder does not exist for the admin subject: not shared with it, or a wrong id."""

    def __init__(self, folder_id: str, subject: str | None) -> None:
        self.folder_id = folder_id
        who = subject or "the admin subject"
        super().__init__(
            f"Drive folder {folder_id} (social_exports drive:{folder_id}) is not shared with {who}: share it with "
            f"{who} as Viewer (open the folder > Share > add {who} > Viewer), or check the folder id in the profile"
        )


def _unsafe(name: str) -> str | None:
    if name in ("", ".", ".."):
        return "not a file name"
    if any(c in name for c in "/\\\x00"):
        return "a slash, backslash or NUL in its name"
    return None


def _execute(clients: GoogleClients, request: Any) -> Any:
    return execute(request, policy=clients.policy)


def folder_title(clients: GoogleClients, folder_id: str, subject: str | None = None) -> str:
    """The folder's name, proving the admin subject can open it with drive.readonly.

    Raises :class:`FolderNotShared` (404: Drive does not tell a folder one cannot see from a missing one) and
    :class:`~compliance.errors.ConfigurationError` when the id is not a folder, the token lacks drive.readonly
    or the client ID is not allowed it.
    """
    subject = subject or clients.default_subject()
    try:
        meta = _execute(clients, clients.drive_exports(subject).files().get(
            fileId=folder_id, fields="id,name,mimeType,trashed", supportsAllDrives=True))
    except NotFound:
        raise FolderNotShared(folder_id, subject) from None
    except InsufficientScope as exc:
        raise _scope_error(subject) from exc
    except RefreshError as exc:
        if "unauthorized_client" in str(exc):
            raise _scope_error(subject) from exc
        raise ConfigurationError(f"Drive export folder {folder_id}: no token for {subject} ({str(exc)[:160]})") from exc
    if meta.get("mimeType") != FOLDER_MIME or meta.get("trashed"):
        raise ConfigurationError(f"social_exports drive:{folder_id} is not a Drive folder (a {meta.get('mimeType')}"
                                 f"{', in the trash' if meta.get('trashed') else ''}): name the folder's id")
    return str(meta.get("name") or folder_id)


def _scope_error(subject: str | None) -> ConfigurationError:
    return ConfigurationError(
        f"Drive export folders are read as {subject} with {', '.join(DRIVE_EXPORT_SCOPES)}, which the pipeline's "
        f"client ID is not allowed: {DELEGATION_PATH}, add that scope to the client ID"
    )


def list_entries(
    clients: GoogleClients, folder_id: str, subject: str | None, limits: DriveExportLimits,
    problems: list[tuple[str, str]],
) -> list[DriveEntry]:
    """Every downloadable file under the folder (subfolders to ``max_depth``), names checked, newest first."""
    service = clients.drive_exports(subject or clients.default_subject())
    out: list[DriveEntry] = []
    pending: list[tuple[str, str, int]] = [(folder_id, "", 0)]
    while pending:
        parent, prefix, depth = pending.pop(0)
        children = list(paginate(
            service.files().list, "files", policy=clients.policy, q=f"'{parent}' in parents and trashed = false",
            fields=f"nextPageToken,files({_FILE_FIELDS})", pageSize=1000, supportsAllDrives=True,
            includeItemsFromAllDrives=True,
        ))
        children.sort(key=lambda f: (str(f.get("modifiedTime") or ""), str(f.get("id"))), reverse=True)
        seen: set[str] = set()
        for child in children:
            name = str(child.get("name") or "")
            shown = f"{prefix}{name}"[:200]
            why = _unsafe(name)
            if why is None and name.lower() in seen:
                why = "another file of the same name in the same folder is newer"
            if why:
                problems.append((shown, f"not downloaded: {why}"))
                continue
            seen.add(name.lower())
            mime = str(child.get("mimeType") or "")
            if mime == FOLDER_MIME:
                if depth + 1 >= limits.max_depth:
                    problems.append((shown, f"not downloaded: folders nest deeper than {limits.max_depth}"))
                else:
                    pending.append((str(child["id"]), f"{prefix}{name}/", depth + 1))
                continue
            if mime.startswith(NATIVE_PREFIX):
                problems.append((shown, "not downloaded: a Google Docs editors file is not part of an export"))
                continue
            if len(out) >= limits.max_files:
                problems.append((shown, f"not downloaded: the folder holds more than {limits.max_files} files"))
                continue
            size = child.get("size")
            out.append(DriveEntry(str(child["id"]), f"{prefix}{name}", child.get("md5Checksum") or None,
                                  str(child.get("modifiedTime") or ""), int(size) if size is not None else None))
    return out


def listing_version(entries: list[DriveEntry]) -> str:
    """What tells a changed folder: every file's id, path, md5Checksum (else modifiedTime) and size."""
    rows = sorted((e.file_id, e.path, e.md5 or e.modified, e.size) for e in entries)
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()


class _Sink(io.RawIOBase):
    """Where a download is written: counts and hashes the bytes, refuses past ``limit``."""

    def __init__(self, fh: Any, limit: int, name: str) -> None:
        self.fh, self.limit, self.name = fh, limit, name
        self.written = 0
        self.md5 = hashlib.md5(usedforsecurity=False)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.written += len(data)
        if self.written > self.limit:
            raise _TooBig(self.name, self.limit)
        self.md5.update(data)
        self.fh.write(data)
        return len(data)


class _TooBig(Exception):
    def __init__(self, name: str, limit: int) -> None:
        super().__init__(f"{name}: over {limit // 1024**2} MB")


def _epoch(rfc3339: str) -> float | None:
    try:
        return datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def download(
    clients: GoogleClients, entries: list[DriveEntry], dest: Path, subject: str | None, limits: DriveExportLimits,
    problems: list[tuple[str, str]],
) -> int:
    """Download ``entries`` under ``dest`` (each with its Drive modifiedTime); files downloaded.

    A file over the limits or whose bytes do not match its md5Checksum is removed and named in ``problems``.
    """
    service = clients.drive_exports(subject or clients.default_subject())
    root = dest.resolve()
    total = done = 0
    dirs: dict[Path, float] = {}
    for entry in entries:
        target = (root / entry.path).resolve()
        if root not in target.parents:  # names were checked; this only guards the guard
            problems.append((entry.path, "not downloaded: outside the temporary folder"))
            continue
        if entry.size is not None and entry.size > limits.max_file_bytes:
            problems.append((entry.path, f"not downloaded: {entry.size // 1024**2} MB, over "
                                         f"{limits.max_file_bytes // 1024**2} MB"))
            continue
        room = min(limits.max_file_bytes, limits.max_total_bytes - total)
        if room <= 0 or (entry.size is not None and entry.size > room):
            problems.append((entry.path, f"not downloaded: the folder's files pass "
                                         f"{limits.max_total_bytes // 1024**2} MB in all"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        request = service.files().get_media(fileId=entry.file_id, supportsAllDrives=True)
        try:
            with target.open("wb") as fh:
                sink = _Sink(fh, room, entry.path)
                loader = MediaIoBaseDownload(sink, request, chunksize=limits.chunk_bytes)
                finished = False
                while not finished:
                    _, finished = loader.next_chunk(num_retries=clients.settings.google.num_retries)
        except _TooBig as exc:
            target.unlink(missing_ok=True)
            problems.append((entry.path, f"not downloaded: {exc}"))
            continue
        except HttpError as exc:
            target.unlink(missing_ok=True)
            raise classify_http_error(exc) from None
        total += sink.written
        if entry.md5 and sink.md5.hexdigest() != entry.md5:
            target.unlink(missing_ok=True)
            problems.append((entry.path, "not read: its bytes do not match Drive's md5Checksum"))
            continue
        done += 1
        moment = _epoch(entry.modified)
        if moment is not None:
            os.utime(target, (moment, moment))
            for parent in target.parents:
                if parent == root:
                    break
                dirs[parent] = max(dirs.get(parent, 0.0), moment)
    for path, moment in sorted(dirs.items(), key=lambda kv: len(kv[0].parts), reverse=True):
        os.utime(path, (moment, moment))  # an uploaded export folder is as new as its newest file
    return done


def read_drive_folder(
    clients: GoogleClients,
    folder_id: str,
    *,
    last_version: str | None,
    subject: str | None = None,
    limits: DriveExportLimits | None = None,
    export_limits: ExportLimits | None = None,
    reader: Callable[[Path, ExportLimits | None], ExportRead] = read_export_folder,
) -> DriveFolderRead:
    """List the folder; when it changed since ``last_version``, download it to a temporary folder and read it.

    Raises :class:`FolderNotShared` and :class:`~compliance.errors.ConfigurationError` (see :func:`folder_title`);
    an API error or quota while listing or downloading comes back as ``held_reason``.
    """
    limits = limits or DriveExportLimits()
    subject = subject or clients.default_subject()
    out = DriveFolderRead()
    try:
        out.title = folder_title(clients, folder_id, subject)
        entries = list_entries(clients, folder_id, subject, limits, out.problems)
        out.version = listing_version(entries)
        out.counts = {"drive files listed": len(entries), "drive files downloaded": 0}
        if last_version is not None and out.version == last_version:
            out.unchanged = True
            return out
        work = Path(tempfile.mkdtemp(prefix="dc-social-export-"))
        try:
            out.counts["drive files downloaded"] = download(clients, entries, work, subject, limits, out.problems)
            out.read = reader(work, export_limits)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    except (PermissionDenied, ConfigurationError):
        raise
    except GoogleApiError as exc:
        out.held_reason = (f"{HELD_PREFIX}{folder_id} (social_exports): Drive answered {exc.status} {exc.reason}; "
                           "tried again tomorrow")
    return out


__all__ = [
    "DriveEntry",
    "DriveExportLimits",
    "DriveFolderRead",
    "HELD_PREFIX",
    "FolderNotShared",
    "download",
    "folder_title",
    "list_entries",
    "listing_version",
    "read_drive_folder",
]
