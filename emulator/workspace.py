"""The emulator's whole state: services, clock, limits, faults, keys and counters, plus call dispatch."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from emulator.auth import AccessToken, KeyRing, check_scopes
from emulator.blogger import Blogger
from emulator.clock import Clock, rfc3339
from emulator.core import Call, Context, Result
from emulator.directory import Directory
from emulator.discovery import (
    apply_fields,
    body_location,
    coerce_query,
    parse_fields,
    registry,
    validate_body,
)
from emulator.drive import CONSUMER_DOMAINS, GOOGLE_SHEET, Drive
from emulator.errors import ApiError, bad_request, unimplemented
from emulator.faults import Faults
from emulator.forms import Forms
from emulator.gmail import Gmail
from emulator.limits import EmulatorLimits
from emulator.quotas import Window
from emulator.sheets import Sheets
from emulator.youtube import UNIT_COSTS, YouTube, pacific_day

JSON_TYPE = "application/json; charset=UTF-8"
logger = logging.getLogger("emulator")


@dataclass
class Response:
    """What goes back on the wire (also serialized into batch parts)."""

    status: int
    body: bytes
    content_type: str = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


# Per-minute windows, keyed by method id: (limit attribute, how Google answers)
_MINUTE_QUOTAS: dict[str, tuple[str, str, str]] = {}
for _m in ("forms.forms.responses.list",):
    _MINUTE_QUOTAS[_m] = ("forms_expensive_reads_per_minute", "429", "Expensive read requests")
for _m in ("forms.forms.get", "forms.forms.responses.get"):
    _MINUTE_QUOTAS[_m] = ("forms_reads_per_minute", "429", "Read requests")
for _m in ("forms.forms.create", "forms.forms.batchUpdate", "forms.forms.setPublishSettings"):
    _MINUTE_QUOTAS[_m] = ("forms_writes_per_minute", "429", "Write requests")
for _m in (
    "sheets.spreadsheets.get",
    "sheets.spreadsheets.values.get",
    "sheets.spreadsheets.values.batchGet",
):
    _MINUTE_QUOTAS[_m] = ("sheets_reads_per_minute", "429", "Read requests")
for _m in (
    "directory.users.list",
    "directory.users.get",
    "directory.orgunits.list",
    "directory.orgunits.get",
):
    _MINUTE_QUOTAS[_m] = ("directory_queries_per_minute", "403", "Queries")
for _m in (
    "drive.files.create",
    "drive.files.get",
    "drive.files.update",
    "drive.files.list",
    "drive.files.export",
    "drive.revisions.list",
    "drive.revisions.get",
    "drive.permissions.create",
    "drive.permissions.list",
):
    _MINUTE_QUOTAS[_m] = ("drive_queries_per_minute", "403", "Queries")


# Methods Google serves to an API key alone (public data): YouTube's and Blogger's public reads.
API_KEY_METHODS = frozenset(
    {
        "youtube.channels.list",
        "youtube.playlistItems.list",
        "youtube.videos.list",
        "blogger.blogs.get",
        "blogger.blogs.getByUrl",
        "blogger.posts.list",
        "blogger.posts.get",
    }
)
# Daily quotas per project, counted per Pacific day: the EmulatorLimits field of each API (units per call in
# emulator.youtube.UNIT_COSTS, 1 for Blogger).
_DAILY_QUOTAS: dict[str, str] = {"youtube.v3": "youtube_daily_units", "blogger.v3": "blogger_daily_requests"}


def project_of(client_email: str) -> str:
    """The Cloud project a call is charged to: an API key's project, or a service account's
    (``name@<project>.iam.gserviceaccount.com``): a channel read as its owner spends the same project's units."""
    if client_email.startswith("project:"):
        return client_email.removeprefix("project:")
    domain = client_email.rpartition("@")[2]
    if domain.endswith(".iam.gserviceaccount.com"):
        return domain.split(".", 1)[0]
    return client_email


def _json_response(value: Any, status: int = 200) -> Response:
    # no indent: json's C encoder only runs without it (a 500-user page is ~10x faster)
    return Response(status, json.dumps(value, ensure_ascii=False).encode())


def error_response(error: ApiError) -> Response:
    return Response(error.code, error.json_bytes(), JSON_TYPE, dict(error.headers))


@dataclass
class UploadSession:
    method_id: str
    path_params: dict[str, str]
    query: list[tuple[str, str]]
    metadata: Any
    media_type: str | None
    authorization: str | None
    data: bytearray = field(default_factory=bytearray)


class Workspace:
    """State plus the generic call pipeline: route, authenticate, check scopes, validate, fault, quota, handle."""

    def __init__(
        self, limits: EmulatorLimits | None = None, fault_seed: int = 0, *, refuse_unknown_subjects: bool = False
    ) -> None:
        self.registry = registry()
        self.clock = Clock()
        self.keys = KeyRing()
        self.faults = Faults(fault_seed)
        self.lock = threading.RLock()
        self.initial_limits = limits or EmulatorLimits()
        self.ctx = Context(clock=self.clock, limits=self.initial_limits, stats={})
        self.directory = Directory(self.ctx)
        self.gmail = Gmail(self.ctx, lambda e: self.directory.find(e) is not None)
        # Outside addresses seeded as having a Google account (a parent's personal Google account, say).
        self.google_accounts: set[str] = set()
        self.initial_refuse_unknown_subjects = refuse_unknown_subjects
        self.refuse_unknown_subjects = refuse_unknown_subjects
        self.drive = Drive(self.ctx, self.is_google_account)
        self.sheets = Sheets(self.ctx, self.drive)
        self.forms = Forms(self.ctx, self.directory.find, self.drive)
        self.forms.directory_domains = self.directory_domains
        self.youtube = YouTube(self.ctx)
        self.blogger = Blogger(self.ctx)
        # API keys the emulator issued (``GET /_emulator/api_key``): key -> the Cloud project it belongs to.
        self.api_keys: dict[str, str] = {}
        self.daily_units: dict[tuple[str, str, str], int] = {}  # (api, project, Pacific day) -> units used
        self.keys.subject_check = self._subject_refusal
        self.handlers: dict[str, Callable[[Call], Any]] = {}
        for service in (self.directory, self.gmail, self.drive, self.sheets, self.forms, self.youtube, self.blogger):
            self.handlers.update(service.handlers())
        self.minute = Window(timedelta(minutes=1))
        self.uploads: dict[str, UploadSession] = {}
        self.base_url = ""
        # Requests being handled and calls parked by a ``hold`` fault: a drill waits on these instead of on time.
        self.in_flight = 0
        self.held = 0
        self._release: asyncio.Event | None = None
        self._reset_stats()

    @property
    def limits(self) -> EmulatorLimits:
        return self.ctx.limits

    def _reset_stats(self) -> None:
        self.ctx.stats.clear()
        self.ctx.stats.update(
            {"calls": {}, "statuses": {}, "sent_per_user": {}, "batches": 0, "tokens_issued": 0, "quota_units": {}}
        )

    def directory_domains(self) -> set[str]:
        """Domains the seeded Directory holds users of (the emulated organisation's domains)."""
        return {str(u["primaryEmail"]).rpartition("@")[2].lower() for u in self.directory.users.values()}

    def is_google_account(self, address: str) -> bool:
        """Whether Google knows ``address`` as an account: an active Directory user, a consumer (gmail.com)
        address, or one seeded in ``google_accounts``."""
        address = address.lower()
        user = self.directory.find(address)
        if user is not None:
            return not user.get("suspended")
        domain = address.rpartition("@")[2]
        return domain in CONSUMER_DOMAINS or address in self.google_accounts

    def _subject_refusal(self, subject: str) -> str | tuple[str, str] | None:
        # Domain-wide delegation to an address of the organisation that is not an active user fails at the token
        # endpoint with invalid_grant (Google answers "Invalid email or User ID"). Suspended users are always
        # refused; an address missing from the Directory only when ``refuse_unknown_subjects`` (LocalDistrict turns
        # it on; bare fixtures delegate to made-up admins). With it on, a subject of another domain (a personal
        # gmail.com account, another district) is refused as Google does: the domain's delegation does not reach
        # it, unauthorized_client.
        subject = subject.lower()
        domains = self.directory_domains()
        if subject.rpartition("@")[2] not in domains:
            if self.refuse_unknown_subjects and domains:
                return ("unauthorized_client", "Client is unauthorized to retrieve access tokens using this method, "
                        "or client not authorized for any of the scopes requested.")
            return None
        user = self.directory.find(subject)
        if (user is None and self.refuse_unknown_subjects) or (user is not None and user.get("suspended")):
            return "Invalid email or User ID"
        return None

    def reset(self) -> None:
        """Forget all data, counters, faults, clock offset and limit changes; issued keys stay valid."""
        with self.lock:
            self.google_accounts.clear()
            self.keys.delegation = None
            self.refuse_unknown_subjects = self.initial_refuse_unknown_subjects
            self.ctx.limits = self.initial_limits
            for service in (self.directory, self.gmail, self.drive, self.sheets, self.forms, self.youtube,
                            self.blogger):
                service.reset()
            self.daily_units.clear()
            self.minute.clear()
            self.uploads.clear()
            self.faults.clear()
            self.clock.reset()
            self._reset_stats()

    # -- seeding ---------------------------------------------------------------------------------------------

    def seed(self, data: dict[str, Any]) -> dict[str, int]:
        """Add Directory users and org units, spreadsheets, Drive files and outside Google accounts.

        Spreadsheets and Drive files are Drive files with an ``owner`` (default ``admin@emulator.local``, who
        shares them with nobody) and ``permissions`` (Drive Permission bodies: ``{"type": "user", "role":
        "reader", "emailAddress": ...}``); ``apps`` lists service-account emails the file was opened with
        (what ``drive.file`` may reach). Nobody else can read them, as at Google.
        """
        allowed = {"directory", "spreadsheets", "drive_files", "google_accounts", "youtube", "blogger"}
        unknown = set(data) - allowed
        if unknown:
            raise ValueError(f"unknown seed sections {sorted(unknown)}; expected {sorted(allowed)}")
        with self.lock:
            directory = data.get("directory") or {}
            self.directory.seed(directory.get("users") or [], directory.get("orgunits") or [])
            self.google_accounts.update(str(a).lower() for a in data.get("google_accounts") or [])
            self.youtube.seed(list(data.get("youtube") or []))
            self.blogger.seed(list(data.get("blogger") or []))
            now = self.clock.now()
            books = data.get("spreadsheets") or []
            for raw, book in zip(books, self.sheets.seed(books), strict=True):
                self.drive.files.pop(book.id, None)
                f = self.drive.add(
                    str(raw.get("owner") or SEED_OWNER).lower(),
                    {"id": book.id, "name": book.title, "mimeType": GOOGLE_SHEET},
                    None,
                    None,
                    now,
                )
                _seed_access(f, raw)
            for item in data.get("drive_files") or []:
                meta = {
                    k: v
                    for k, v in item.items()
                    if k not in ("content", "content_base64", "owner", "permissions", "apps")
                }
                content = None
                if "content" in item:
                    content = str(item["content"]).encode()
                elif "content_base64" in item:
                    import base64

                    content = base64.b64decode(item["content_base64"])
                f = self.drive.add(
                    str(item.get("owner") or SEED_OWNER).lower(),
                    meta,
                    content,
                    item.get("contentType") or item.get("mimeType"),
                    now,
                )
                _seed_access(f, item)
            held = {
                "users": len(self.directory.users),
                "orgunits": len(self.directory.orgunits),
                "spreadsheets": len(self.sheets.spreadsheets),
                "drive_files": len(self.drive.files),
            }
            if self.youtube.channels or self.blogger.blogs:
                held |= {"youtube_channels": len(self.youtube.channels), "blogs": len(self.blogger.blogs)}
            return held

    def seed_dir(self, path: str | Path) -> dict[str, int]:
        """Seed from the sample layout: directory/users.json, directory/orgunits.json, sheets/*.json,
        youtube/channels.json and blogger/blogs.json."""
        root = Path(path)
        if not root.is_dir():
            raise ValueError(f"seed directory {root} does not exist")
        data: dict[str, Any] = {"directory": {}, "spreadsheets": []}
        users = root / "directory" / "users.json"
        orgunits = root / "directory" / "orgunits.json"
        if users.exists():
            data["directory"]["users"] = json.loads(users.read_text())
        if orgunits.exists():
            data["directory"]["orgunits"] = json.loads(orgunits.read_text())
        for sheet in sorted((root / "sheets").glob("*.json")):
            data["spreadsheets"].append(json.loads(sheet.read_text()))
        for section, name in (("youtube", "youtube/channels.json"), ("blogger", "blogger/blogs.json")):
            if (root / name).exists():
                data[section] = json.loads((root / name).read_text(encoding="utf-8"))
        return self.seed(data)

    def service_account_info(self, client_email: str) -> dict[str, Any]:
        return self.keys.service_account_info(client_email, f"{self.base_url}/token")

    def api_key(self, project: str = "district-project") -> str:
        """An API key of ``project`` (Cloud console > APIs & Services > Credentials), issued once per project."""
        with self.lock:
            for key, owner in self.api_keys.items():
                if owner == project:
                    return key
            key = "AIza" + secrets.token_urlsafe(26)[:35]
            self.api_keys[key] = project
            return key

    def _api_key_token(self, spec: Any, key: str) -> AccessToken:
        project = self.api_keys.get(key)
        if project is None:
            raise ApiError(
                400, "API key not valid. Please pass a valid API key.", "badRequest", status="INVALID_ARGUMENT",
                details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                          "domain": "googleapis.com", "metadata": {"service": spec.service}}],
            )
        if spec.id not in API_KEY_METHODS:
            raise ApiError(
                401, "API keys are not supported by this API. Expected OAuth2 access token or other authentication "
                "credentials that assert a principal.", "required", status="UNAUTHENTICATED",
                details=[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "CREDENTIALS_MISSING",
                          "domain": "googleapis.com", "metadata": {"service": spec.service, "method": spec.id}}],
            )
        return AccessToken(client_email=f"project:{project}", subject=None, api_key=key)

    def _charge_daily(self, spec: Any, token: AccessToken, now: Any) -> None:
        """Charge a YouTube or Blogger call to its project's daily quota (invalid requests cost too, as at
        YouTube: the charge comes before validation); over the limit: 403 quotaExceeded / dailyLimitExceeded."""
        attr = _DAILY_QUOTAS.get(spec.api)
        if attr is None:
            return
        cost = UNIT_COSTS.get(spec.id, 1)
        project = project_of(token.client_email)
        key = (spec.api, project, pacific_day(now))
        with self.lock:
            used = self.daily_units.get(key, 0)
            if used + cost > getattr(self.limits, attr):
                if spec.api == "youtube.v3":
                    raise ApiError(
                        403,
                        'The request cannot be completed because you have exceeded your <a href="/youtube/v3/'
                        'getting-started#quota">quota</a>.',
                        "quotaExceeded",
                        domain="youtube.quota",
                    )
                raise ApiError(403, "Daily Limit Exceeded", "dailyLimitExceeded", domain="usageLimits")
            self.daily_units[key] = used + cost
            per = self.ctx.stats["quota_units"]
            per[spec.api] = per.get(spec.api, 0) + cost

    # -- token endpoint --------------------------------------------------------------------------------------

    def token(self, form: dict[str, str]) -> dict[str, Any]:
        # google-auth always signs for Google's token endpoint, whatever token_uri says
        audiences = {f"{self.base_url}/token", "https://oauth2.googleapis.com/token"}
        granted = self.keys.grant(form, audiences)
        with self.lock:
            self.ctx.stats["tokens_issued"] += 1
        return granted

    # -- the call pipeline -----------------------------------------------------------------------------------

    async def handle(
        self, method: str, raw_path: str, query_string: str, headers: dict[str, str], body: bytes
    ) -> Response:
        """Run one API call (from HTTP or from a batch part) to a wire response, errors in Google's shape."""
        try:
            return await self._handle(method, raw_path, query_string, headers, body)
        except ApiError as error:
            return error_response(error)
        except Exception:  # a bug in the emulator must still answer like a server, and say where
            # the path may hold a user's email: log the method id, not the path
            match = self.registry.match(method, raw_path)
            logger.exception("emulator failed on %s", match.spec.id if match else method)
            return error_response(ApiError(500, "Internal error encountered.", "backendError"))

    async def _handle(
        self, method: str, raw_path: str, query_string: str, headers: dict[str, str], body: bytes
    ) -> Response:
        query_pairs = parse_qsl(query_string, keep_blank_values=True)
        qdict = dict(query_pairs)
        if "upload_id" in qdict:
            return await self._resume_upload(method, qdict, headers, body)
        match = self.registry.match(method, raw_path)
        if match is None:
            raise ApiError(404, "Method not found.", "notFound")
        spec = match.spec
        if not headers.get("authorization") and qdict.get("key"):
            token = self._api_key_token(spec, qdict["key"])
        else:
            token = self.keys.authenticate(headers.get("authorization"))
            check_scopes(token, spec.scopes, spec.service, spec.id)
        self._charge_daily(spec, token, self.clock.now())
        query = coerce_query(spec, query_pairs, self.registry.global_params[spec.api])
        for name, desc in spec.parameters.items():
            if desc.get("location") == "path" and name not in match.path_params:
                raise bad_request(f"Required parameter: {name}", reason="required")
        media: bytes | None = None
        media_type: str | None = None
        payload: Any = None
        content_type = headers.get("content-type", "")
        if match.is_upload:
            upload_type = qdict.get("uploadType", "media" if body else "")
            if upload_type == "resumable":
                return self._start_upload(spec.id, match.path_params, query_pairs, body, headers)
            if upload_type == "multipart":
                payload, media, media_type = _split_related(content_type, body)
            elif upload_type == "media":
                media, media_type = body, content_type or "application/octet-stream"
            else:
                raise bad_request(
                    "Invalid upload request: uploadType must be media, multipart or resumable.",
                    reason="invalid",
                )
        elif body.strip():
            payload = _parse_json(body)
        if payload is not None and spec.request_ref:
            validate_body(spec.api, spec.request_ref, payload, body_location(spec))
        return await self._run(spec.id, match.path_params, query, payload, token, media, media_type, match.is_upload)

    async def _run(
        self,
        method_id: str,
        path: dict[str, str],
        query: dict[str, Any],
        payload: Any,
        token: Any,
        media: bytes | None,
        media_type: str | None,
        is_upload: bool,
    ) -> Response:
        try:
            response = await self._run_inner(method_id, path, query, payload, token, media, media_type, is_upload)
        except ApiError as error:
            self._count_status(method_id, error.code)
            raise
        self._count_status(method_id, response.status)
        return response

    def _count_status(self, method_id: str, status: int) -> None:
        with self.lock:
            per = self.ctx.stats["statuses"].setdefault(method_id, {})
            per[str(status)] = per.get(str(status), 0) + 1

    async def _run_inner(
        self,
        method_id: str,
        path: dict[str, str],
        query: dict[str, Any],
        payload: Any,
        token: Any,
        media: bytes | None,
        media_type: str | None,
        is_upload: bool,
    ) -> Response:
        spec = self.registry.methods[method_id]
        with self.lock:
            calls = self.ctx.stats["calls"]
            calls[method_id] = calls.get(method_id, 0) + 1
            decision = self.faults.decide(method_id)
        if decision.latency_s:
            await asyncio.sleep(decision.latency_s)
        if decision.hold:
            await self._wait_for_release()
        if decision.hang_s:
            await asyncio.sleep(decision.hang_s)
            raise ApiError(504, "The request timed out. Please try again.", "backendError")
        if decision.error is not None:
            raise decision.error
        handler = self.handlers.get(method_id)
        if handler is None:
            raise unimplemented(method_id)
        call = Call(
            spec=spec,
            path=path,
            query=query,
            body=payload,
            token=token,
            now=self.clock.now(),
            media=media,
            media_type=media_type,
            is_upload=is_upload,
        )
        with self.lock:
            self._minute_quota(call)
            result = handler(call)
        if isinstance(result, Result):
            if result.content is not None:
                return Response(result.status, result.content, result.content_type, result.headers)
            value = result.json
        else:
            value = result
        if "fields" in call.query:
            value = apply_fields(value, parse_fields(call.query["fields"]))
        return _json_response(value)

    def _minute_quota(self, call: Call) -> None:
        quota = _MINUTE_QUOTAS.get(call.spec.id)
        if quota is None:
            return
        attr, style, metric = quota
        limit = getattr(self.limits, attr)
        key = f"{attr}:{call.subject}"
        if self.minute.count(key, call.now) >= limit:
            if style == "429":
                raise ApiError(
                    429,
                    f"Quota exceeded for quota metric '{metric}' and limit '{metric} per minute per user' of "
                    f"service '{call.spec.service}' for consumer 'project_number:000000000000'.",
                    "rateLimitExceeded",
                    status="RESOURCE_EXHAUSTED",
                    details=[
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "RATE_LIMIT_EXCEEDED",
                            "domain": "googleapis.com",
                            "metadata": {"service": call.spec.service, "quota_limit_value": str(limit)},
                        }
                    ],
                )
            raise ApiError(403, "User Rate Limit Exceeded", "userRateLimitExceeded", domain="usageLimits")
        self.minute.add(key, call.now)

    # -- resumable uploads -----------------------------------------------------------------------------------

    def _start_upload(
        self,
        method_id: str,
        path: dict[str, str],
        query: list[tuple[str, str]],
        body: bytes,
        headers: dict[str, str],
    ) -> Response:
        metadata = _parse_json(body) if body.strip() else None
        spec = self.registry.methods[method_id]
        if metadata is not None and spec.request_ref:
            validate_body(spec.api, spec.request_ref, metadata, body_location(spec))
        upload_id = secrets.token_urlsafe(24)
        self.uploads[upload_id] = UploadSession(
            method_id,
            path,
            query,
            metadata,
            headers.get("x-upload-content-type"),
            headers.get("authorization"),
        )
        upload_path = spec.upload_paths[0]
        for name, value in path.items():
            upload_path = upload_path.replace("{" + name + "}", value)
        location = f"{self.base_url}/{upload_path}?uploadType=resumable&upload_id={upload_id}"
        return Response(200, b"", "text/plain", {"Location": location, "X-GUploader-UploadID": upload_id})

    async def _resume_upload(
        self, method: str, qdict: dict[str, str], headers: dict[str, str], body: bytes
    ) -> Response:
        session = self.uploads.get(qdict["upload_id"])
        if session is None:
            raise ApiError(404, "Upload session not found or expired.", "notFound")
        token = self.keys.authenticate(headers.get("authorization") or session.authorization)
        spec = self.registry.methods[session.method_id]
        content_range = headers.get("content-range", "")
        session.data.extend(body)
        m = re.match(r"bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)", content_range)
        total = m.group(3) if m else str(len(session.data))
        if total != "*" and len(session.data) < int(total):
            return Response(308, b"", "text/plain", {"Range": f"bytes=0-{len(session.data) - 1}"})
        del self.uploads[qdict["upload_id"]]
        query = coerce_query(
            spec,
            [(k, v) for k, v in session.query if k != "uploadType"],
            self.registry.global_params[spec.api],
        )
        return await self._run(
            spec.id,
            session.path_params,
            query,
            session.metadata,
            token,
            bytes(session.data),
            session.media_type or headers.get("content-type"),
            True,
        )

    async def _wait_for_release(self) -> None:
        if self._release is None:
            self._release = asyncio.Event()
        gate = self._release
        with self.lock:
            self.held += 1
        try:
            await gate.wait()
        finally:
            with self.lock:
                self.held -= 1

    def release_held(self) -> int:
        """Let every parked call go on (they then run as usual); returns how many were parked."""
        with self.lock:
            parked = self.held
        if self._release is not None:
            self._release.set()
            self._release = None
        return parked

    # -- admin views -----------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        with self.lock:
            out = json.loads(json.dumps(self.ctx.stats))
            out["now"] = rfc3339(self.clock.now())
            out["drive_notifications"] = len(self.drive.notifications)
            out["messages_sent"] = len(self.gmail.sent_log)
            out["in_flight"] = self.in_flight
            out["held"] = self.held
            return out


SEED_OWNER = "admin@emulator.local"


def _seed_access(f: Any, item: dict[str, Any]) -> None:
    """Permissions and app grants a seeded file comes with (validated like a permissions.create body)."""
    from emulator.drive import _ROLES, _perm_id

    for perm in item.get("permissions") or []:
        kind, role = perm.get("type"), perm.get("role")
        if kind not in ("user", "group", "domain", "anyone") or role not in _ROLES:
            raise ValueError(f"seeded file {f.id}: bad permission {perm!r}")
        entry: dict[str, Any] = {"kind": "drive#permission", "type": kind, "role": role}
        if kind in ("user", "group"):
            entry["emailAddress"] = str(perm["emailAddress"]).lower()
            entry["id"] = _perm_id(entry["emailAddress"])
        elif kind == "domain":
            entry["domain"] = str(perm["domain"]).lower()
            entry["id"] = _perm_id(entry["domain"]) + "k"
        else:
            entry["id"] = "anyoneWithLink"
        if perm.get("view"):
            entry["view"] = perm["view"]
            entry["id"] += "p"
        f.permissions = [p for p in f.permissions if p["id"] != entry["id"]] + [entry]
    f.apps.update(str(a) for a in item.get("apps") or [])


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("Invalid JSON payload received. Unexpected token.", reason="parseError") from None


def _split_related(content_type: str, body: bytes) -> tuple[Any, bytes, str]:
    """A multipart/related upload: part one JSON metadata, part two the media (bytes kept exact)."""
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if not content_type.startswith("multipart/related") or m is None:
        raise bad_request("Invalid multipart request: Content-Type must be multipart/related with a boundary.")
    parts = _multipart(body, m.group(1).encode())
    if len(parts) != 2:
        raise bad_request(f"Invalid multipart request with {len(parts)} mime parts.")
    (h1, b1), (h2, b2) = parts
    metadata = _parse_json(b1) if b1.strip() else None
    media_type = h2.get("content-type", "application/octet-stream")
    if h2.get("content-transfer-encoding", "").lower() == "base64":
        import base64

        b2 = base64.b64decode(b2)
    return metadata, b2, media_type


def _multipart(body: bytes, boundary: bytes) -> list[tuple[dict[str, str], bytes]]:
    delimiter = b"--" + boundary
    chunks = body.split(delimiter)
    parts = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        elif chunk.startswith(b"\n"):
            chunk = chunk[1:]
        if chunk.endswith(b"\r\n"):
            chunk = chunk[:-2]
        elif chunk.endswith(b"\n"):
            chunk = chunk[:-1]
        parts.append(_split_headers(chunk))
    return parts


def _split_headers(chunk: bytes) -> tuple[dict[str, str], bytes]:
    m = re.search(rb"\r?\n\r?\n", chunk)
    if chunk.startswith(b"\r\n") or chunk.startswith(b"\n"):
        return {}, chunk.lstrip(b"\r\n")
    if m is None:
        head, rest = chunk, b""
    else:
        head, rest = chunk[: m.start()], chunk[m.end() :]
    headers: dict[str, str] = {}
    for line in re.split(rb"\r?\n", head):
        if b":" in line:
            k, v = line.split(b":", 1)
            headers[k.decode("latin-1").strip().lower()] = v.decode("latin-1").strip()
    return headers, rest


def split_multipart(content_type: str, body: bytes) -> list[tuple[dict[str, str], bytes]]:
    m = re.search(r'boundary="?([^";]+)"?', content_type)
    if m is None:
        raise bad_request("Invalid multipart request: no boundary.")
    return _multipart(body, m.group(1).encode())


def split_headers(chunk: bytes) -> tuple[dict[str, str], bytes]:
    return _split_headers(chunk)
