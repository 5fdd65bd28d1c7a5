"""What every task needs, built once per worker process: settings, the store, the Google clients, inputs.

Tasks take ids and small values as parameters and reach these here, so Prefect never hashes a session, a
client or a DataFrame into a cache key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import lru_cache

from compliance.google.clients import GoogleClients
from compliance.google.errors import NotFound, PermissionDenied
from compliance.google.workspace import get_sheet_values
from compliance.outbox import Outbox
from compliance.settings import Settings, get_settings, on_settings_reset, reset_settings
from compliance.store import Store
from compliance.tabular import SHEETS_PREFIX, SheetRefused, Source, sheet_refused_reason


def settings() -> Settings:
    return get_settings()


def checked_settings() -> Settings:
    """Settings a flow may run with: every flow calls this first, so none runs in production with the public
    demo token secret (:meth:`compliance.settings.Settings.require_safe_secrets`)."""
    current = get_settings()
    current.require_safe_secrets()
    return current


@lru_cache(maxsize=4)
def _store(url: str) -> Store:
    return Store(url)


def store() -> Store:
    """The configured store, migrated to the latest schema on first use."""
    return _store(get_settings().database_url)


@lru_cache(maxsize=4)
def _google(settings_id: int) -> GoogleClients:
    return GoogleClients(get_settings())


def google() -> GoogleClients:
    """Google clients for the current settings (the emulator when ``google.emulator_url`` is set)."""
    return _google(id(get_settings()))


def clock_from(start: datetime) -> Callable[[], datetime]:
    """A clock that reads ``start`` now and runs on at the real pace: a run given its ``now`` (tests, replays)
    keeps every time it stamps on that calendar while pacing and waits still take real seconds."""
    origin = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - origin)


def outbox(clock: Callable[[], datetime] | None = None) -> Outbox:
    """The outbox on these resources. An injected ``clock`` also drives fresh Google clients (retry times,
    pacing), so a sender paused on a daily limit is paused on the same clock the outbox reads."""
    if clock is None:
        return Outbox(store(), google(), settings())
    return Outbox(store(), GoogleClients(settings(), clock=clock), settings(), clock=clock)


def load_source(source: str) -> Source:
    """A profile input: a file path relative to the profile folder, or a Google Sheet fetched now."""
    if source.startswith(SHEETS_PREFIX):
        spreadsheet_id = source.removeprefix(SHEETS_PREFIX)
        try:
            return (source, dict(get_sheet_values(google(), spreadsheet_id)))
        except (PermissionDenied, NotFound) as exc:
            return (source, SheetRefused(sheet_refused_reason(settings().google.admin_subject, exc.status)))
    return settings().input_path(source)


@on_settings_reset
def _forget_built() -> None:
    _store.cache_clear()
    _google.cache_clear()


def reset() -> None:
    """Forget cached settings, store and clients (tests and the demo change the environment between runs)."""
    reset_settings()
