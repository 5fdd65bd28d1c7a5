"""Client-side pacing of Gmail sends per sending mailbox (Google allows about 60 sends a minute per user).

Going over the per-minute quota is not fatal (Google answers 403 userRateLimitExceeded and the batch layer
retries), but every refused call still costs quota and time; pacing first keeps the retries for real surprises
(another process sending as the same mailbox, quota errors arriving late).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Protocol


class Pacer(Protocol):
    """What the Gmail wrappers pace with: this module's in-process window, or one every process shares
    (compliance.mailbox_quota.MailboxQuota, which the outbox installs on its clients)."""

    def reserve(self, key: str, n: int, weight: int = 1) -> AbstractContextManager[float]: ...


class SendPacer:
    """A sliding-window limiter: at most ``per_window`` sends per key in any ``window_seconds``.

    Sends are stamped when their batch has finished (:meth:`reserve` is a context manager), because Google
    counts them when it receives them, which is after we decided to send. ``clock`` and ``sleep`` come from
    the retry policy so tests drive time (and the emulator's clock) together. ``per_window <= 0`` disables
    pacing.
    """

    def __init__(
        self,
        per_window: int,
        *,
        window_seconds: float = 60.0,
        clock: Callable[[], datetime],
        sleep: Callable[[float], None],
    ) -> None:
        self.per_window = per_window
        self.window = window_seconds
        self.clock = clock
        self.sleep = sleep
        self._sent: dict[str, list[list[float]]] = {}  # per key: [timestamp] cells, stamped in place
        self._lock = threading.Lock()

    def _try_take(self, key: str, n: int, weight: int, now: float) -> tuple[float, list[list[float]]]:
        sent = [cell for cell in self._sent.get(key, []) if cell[0] > now - self.window]
        self._sent[key] = sent
        over = sum(cell[1] for cell in sent) + n * weight - self.per_window
        if over <= 0:
            cells = [[now, weight] for _ in range(n)]
            sent.extend(cells)
            return 0.0, cells
        # Wait until enough of the oldest calls leave the window to make room.
        freed = 0.0
        for stamp, units in sorted(sent):
            freed += units
            if freed >= over:
                return max(stamp + self.window - now, 0.001), []
        return self.window, []

    @contextmanager
    def reserve(self, key: str, n: int, weight: int = 1) -> Iterator[float]:
        """Wait (through ``sleep``) until ``n`` calls of ``weight`` units for ``key`` fit the window, then hold them.

        Gmail's per-user quota is in units (a send costs 100, a list or get 5), so searches after a crash
        and reads after a send are paced on the same budget as the sends. Yields the seconds waited; on exit
        the calls are stamped with the finishing time.
        """
        if self.per_window <= 0 or n <= 0:
            yield 0.0
            return
        if n * weight > self.per_window:
            raise ValueError(f"{n} calls of {weight} units at once can never fit {self.per_window} per window")
        key = key.lower()
        waited = 0.0
        while True:
            with self._lock:
                wait, cells = self._try_take(key, n, weight, self.clock().timestamp())
            if not cells:
                self.sleep(wait)
                waited += wait
                continue
            try:
                yield waited
            finally:
                done = self.clock().timestamp()
                with self._lock:
                    for cell in cells:
                        cell[0] = done
            return


__all__ = ["Pacer", "SendPacer"]
