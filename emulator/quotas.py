"""Sliding-window counters on the emulator clock (per user per minute, per sender per day)."""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class Window:
    """Events in the last ``span``, per key; ``count`` forgets expired ones first."""

    def __init__(self, span: timedelta) -> None:
        self.span = span
        self._events: dict[str, deque[tuple[datetime, int]]] = {}

    def _trim(self, key: str, now: datetime) -> deque[tuple[datetime, int]]:
        events = self._events.setdefault(key, deque())
        edge = now - self.span
        while events and events[0][0] <= edge:
            events.popleft()
        return events

    def count(self, key: str, now: datetime) -> int:
        return sum(weight for _, weight in self._trim(key, now))

    def add(self, key: str, now: datetime, weight: int = 1) -> None:
        self._trim(key, now).append((now, weight))

    def retry_at(self, key: str, now: datetime) -> datetime:
        """When the oldest counted event leaves the window (the earliest a retry can pass)."""
        events = self._trim(key, now)
        return (events[0][0] + self.span) if events else now

    def clear(self) -> None:
        self._events.clear()
