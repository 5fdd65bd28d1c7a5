"""The emulator's clock: real time plus a settable offset, so tests move quota windows without sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    """Wall clock shifted by an offset the admin API controls; every quota window reads it."""

    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Current emulated time (aware UTC)."""
        with self._lock:
            return datetime.now(UTC) + self._offset

    def set(self, when: datetime) -> None:
        """Jump to ``when``; later reads advance in real time from there."""
        if when.tzinfo is None:
            raise ValueError("clock time must carry a time zone")
        with self._lock:
            self._offset = when - datetime.now(UTC)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        with self._lock:
            self._offset = timedelta(0)


def rfc3339(when: datetime) -> str:
    """Google's timestamp form: UTC with a Z and microseconds trimmed to what the APIs print."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def parse_rfc3339(text: str) -> datetime:
    """Parse RFC 3339 (``Z`` or offset); naive input is refused."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return value.astimezone(UTC)
