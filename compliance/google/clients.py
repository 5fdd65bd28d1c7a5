"""The one factory for Google API clients: Gmail, Admin Directory, Drive, Sheets, Forms, YouTube, Blogger.

``settings.google.emulator_url`` set sends every API to the local Workspace emulator (and trusts
``settings.google.ca_bundle``); unset, the discovery documents' Google endpoints are used. Either way the
service-account key's ``token_uri`` decides where tokens come from, so the production path runs unchanged
offline.

Thread safety: ``httplib2.Http`` is not thread-safe and every googleapiclient service owns one. Services are
therefore cached per thread (and per API and subject); credentials, which are safe to share, are cached per
API and subject across threads. Execute a request in the thread that built its service.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from google.oauth2 import service_account
from googleapiclient.discovery import build

from compliance.google import credentials as creds_mod
from compliance.google.pacing import Pacer, SendPacer
from compliance.google.retry import RetryPolicy
from compliance.settings import Settings

# Our API name -> (discovery name, version, Google root URL, batch path on that root). Batch paths are
# Google's documented per-API batch endpoints; googleapiclient builds batch URIs from the discovery rootUrl
# and ignores api_endpoint, so we compute them ourselves.
API_TABLE: dict[str, tuple[str, str, str, str]] = {
    "gmail": ("gmail", "v1", "https://gmail.googleapis.com/", "batch/gmail/v1"),
    "directory": ("admin", "directory_v1", "https://admin.googleapis.com/", "batch/admin/directory_v1"),
    "drive": ("drive", "v3", "https://www.googleapis.com/", "batch/drive/v3"),
    # Drive again, with drive.readonly: only for the export folders the communications office fills by hand.
    "drive_exports": ("drive", "v3", "https://www.googleapis.com/", "batch/drive/v3"),
    "sheets": ("sheets", "v4", "https://sheets.googleapis.com/", "batch"),
    "forms": ("forms", "v1", "https://forms.googleapis.com/", "batch"),
    "youtube": ("youtube", "v3", "https://youtube.googleapis.com/", "batch"),
    "blogger": ("blogger", "v3", "https://blogger.googleapis.com/", "batch"),
}
# Public data read with the project's API key (``settings.google.api_key``), no delegated identity.
PUBLIC_APIS = frozenset({"youtube", "blogger"})
# Drive's discovery document has servicePath "drive/v3/"; api_endpoint replaces rootUrl + servicePath.
_SERVICE_PATH = {"drive": "drive/v3/", "drive_exports": "drive/v3/"}


GMAIL_SEND_UNITS = 100  # quota units of messages.send (Gmail API usage limits)
GMAIL_READ_UNITS = 5  # messages.list and messages.get


class GoogleClients:
    """Builds and caches authorized API clients for one settings object.

    ``scopes`` overrides the least-privilege scopes per API (tests use it to prove a narrow scope is refused).
    ``policy`` (or ``sleep``/``rand``/``clock``) is the retry policy the wrappers in ``workspace`` use; by
    default ``settings.google.num_retries + 1`` attempts.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        rand: Callable[[], float] | None = None,
        clock: Callable[[], datetime] | None = None,
        scopes: dict[str, Sequence[str]] | None = None,
        service_account_info: dict[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        base = policy or RetryPolicy(max_attempts=max(1, settings.google.num_retries + 1))
        overrides: dict[str, Any] = {}
        if sleep is not None:
            overrides["sleep"] = sleep
        if rand is not None:
            overrides["rand"] = rand
        if clock is not None:
            overrides["clock"] = clock
        self.policy = replace(base, **overrides)
        self._scopes = {**creds_mod.SCOPES_BY_API, **{k: tuple(v) for k, v in (scopes or {}).items()}}
        self._info = service_account_info
        self._lock = threading.Lock()
        self._creds: dict[tuple[str, str | None], service_account.Credentials] = {}
        self._local = threading.local()
        # Gmail's per-minute quota is per user in units; ``gmail_sends_per_minute`` names it in sends (100 each).
        # One process's window; the outbox replaces it with the store's, shared by every process sending.
        self.send_pacer: Pacer = SendPacer(
            settings.quotas.gmail_sends_per_minute * GMAIL_SEND_UNITS, clock=self.policy.clock, sleep=self.policy.sleep
        )

    # -- configuration
    # -------------------------------------------------------------------------------------------

    @property
    def emulated(self) -> bool:
        """True when calls go to the local Workspace emulator."""
        return bool(self.settings.google.emulator_url)

    @property
    def batch_size(self) -> int:
        """Calls per batch: ``settings.quotas.gmail_batch_size``, never above Google's hard 100."""
        return max(1, min(self.settings.quotas.gmail_batch_size, 100))

    @property
    def send_batch_size(self) -> int:
        """Sends per batch: ``batch_size``, and never more than one minute's sending quota."""
        per_minute = self.settings.quotas.gmail_sends_per_minute
        return min(self.batch_size, per_minute) if per_minute > 0 else self.batch_size

    def root_url(self, api: str) -> str:
        """The scheme://host/ an API lives on (the emulator's base for every API when emulated)."""
        if self.settings.google.emulator_url:
            return self.settings.google.emulator_url.rstrip("/") + "/"
        return API_TABLE[api][2]

    def endpoint(self, api: str) -> str | None:
        """``client_options.api_endpoint`` for ``api``: None against Google (the discovery default)."""
        if not self.settings.google.emulator_url:
            return None
        return self.root_url(api) + _SERVICE_PATH.get(api, "")

    def batch_uri(self, api: str) -> str:
        """The batch endpoint for ``api`` on the configured host, e.g. ``https://host/batch/gmail/v1``."""
        return self.root_url(api) + API_TABLE[api][3]

    def scopes(self, api: str) -> tuple[str, ...]:
        """Scopes requested for ``api``."""
        return tuple(self._scopes[api])

    def default_subject(self) -> str | None:
        """Who Directory/Drive/Sheets/Forms act as when no subject is given: ``google.admin_subject``."""
        return self.settings.google.admin_subject

    # -- credentials and services
    # --------------------------------------------------------------------------------

    def service_account_info(self) -> dict[str, Any]:
        """The service-account key (loaded once)."""
        with self._lock:
            if self._info is None:
                self._info = creds_mod.load_service_account_info(self.settings)
            return self._info

    def credentials(self, api: str, subject: str | None) -> service_account.Credentials:
        """Shared credentials for (api, subject): least-privilege scopes, delegated to ``subject``."""
        info = self.service_account_info()
        key = (api, subject)
        with self._lock:
            creds = self._creds.get(key)
            if creds is None:
                creds = creds_mod.service_account_credentials(info, self.scopes(api), subject)
                self._creds[key] = creds
            return creds

    def service(self, api: str, subject: str | None) -> Any:
        """The googleapiclient Resource for ``api`` acting as ``subject``, cached for the calling thread."""
        if api not in API_TABLE:
            raise ValueError(f"unknown Google API {api!r}; known: {', '.join(sorted(API_TABLE))}")
        cache: dict[tuple[str, str | None], Any] | None = getattr(self._local, "services", None)
        if cache is None:
            cache = self._local.services = {}
        key = (api, subject)
        if key not in cache:
            name, version, _, _ = API_TABLE[api]
            endpoint = self.endpoint(api)
            http = creds_mod.authorized_http(self.settings, self.credentials(api, subject))
            cache[key] = build(
                name,
                version,
                http=http,  # credentials ride on the AuthorizedHttp (build refuses both at once)
                client_options={"api_endpoint": endpoint} if endpoint else None,
                static_discovery=True,
                cache_discovery=False,
            )
        return cache[key]

    def public(self, api: str) -> Any:
        """``api`` (YouTube or Blogger) with the project's API key: public channels, videos, blogs and posts.

        Why a key and not the service account: YouTube does not accept service accounts for channel data, and
        a public channel or blog needs no identity at all; the key only identifies the project for quota.
        """
        if api not in PUBLIC_APIS:
            raise ValueError(f"{api!r} is not read with an API key; known: {', '.join(sorted(PUBLIC_APIS))}")
        key = self.settings.google.api_key
        if not key:
            from compliance.errors import ConfigurationError

            raise ConfigurationError(
                "no Google API key for YouTube and Blogger: set google.api_key (DC_GOOGLE__API_KEY) to a key "
                "of the Cloud project (APIs & Services > Credentials > Create credentials > API key, restricted "
                "to the YouTube Data API v3 and the Blogger API v3)"
            )
        cache: dict[tuple[str, str | None], Any] | None = getattr(self._local, "services", None)
        if cache is None:
            cache = self._local.services = {}
        ckey = (api, "api-key")
        if ckey not in cache:
            name, version, _, _ = API_TABLE[api]
            endpoint = self.endpoint(api)
            cache[ckey] = build(
                name,
                version,
                http=creds_mod.make_http(self.settings),
                developerKey=key,
                client_options={"api_endpoint": endpoint} if endpoint else None,
                static_discovery=True,
                cache_discovery=False,
            )
        return cache[ckey]

    def youtube_owner(self, owner: str) -> Any:
        """YouTube as the mailbox that owns a school's channel (delegated, youtube.readonly): the channel's
        unlisted and private videos are listed too, which no API key sees."""
        if not owner:
            raise ValueError("youtube_owner() needs the channel owner's mailbox")
        return self.service("youtube", owner)

    def drive_exports(self, subject: str | None = None) -> Any:
        """Drive v3 read-only (drive.readonly), as ``subject`` or ``google.admin_subject``: export folders only.

        Why not ``drive()``: drive.file reaches only files this app created or opened, and exports are uploaded
        by a person, so listing their folder needs read access to what the subject was shared.
        """
        return self.service("drive_exports", subject or self.default_subject())

    def directory(self, subject: str | None = None) -> Any:
        """Admin SDK Directory (read-only users and org units), as ``subject`` or ``google.admin_subject``."""
        return self.service("directory", subject or self.default_subject())

    def gmail(self, sender: str) -> Any:
        """Gmail acting as the delegated mailbox ``sender`` (``userId="me"`` is that mailbox)."""
        if not sender:
            raise ValueError("gmail() needs the sending mailbox")
        return self.service("gmail", sender)

    def drive(self, subject: str | None = None) -> Any:
        """Drive v3 (scope drive.file), as ``subject`` or ``google.admin_subject``."""
        return self.service("drive", subject or self.default_subject())

    def sheets(self, subject: str | None = None) -> Any:
        """Sheets v4 read-only, as ``subject`` or ``google.admin_subject``."""
        return self.service("sheets", subject or self.default_subject())

    def forms(self, subject: str | None = None) -> Any:
        """Forms v1 (edit forms, read responses), as ``subject`` or ``google.admin_subject``."""
        return self.service("forms", subject or self.default_subject())

    def close(self) -> None:
        """Close the calling thread's connections (other threads' close when their threads end)."""
        cache = getattr(self._local, "services", None) or {}
        for service in cache.values():
            service.close()
        self._local.services = {}


__all__ = ["API_TABLE", "PUBLIC_APIS", "GoogleClients"]
