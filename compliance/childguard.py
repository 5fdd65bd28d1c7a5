"""Run a Python module as a child server that stops when the process that started it dies.

``python -m compliance.childguard PARENT_PID MODULE [ARGS...]`` starts a watchdog thread, then runs ``MODULE``
as ``__main__`` (like ``python -m MODULE ARGS``). The watchdog polls the parent pid; when the parent is gone
(killed with -9, so it could not stop its children) the child sends itself SIGTERM, which servers such as
uvicorn handle as a graceful shutdown, and SIGKILL if that has not ended it within a grace period.

Polling the pid rather than Linux's PR_SET_PDEATHSIG: the death signal follows the *thread* that forked the
child, and the Prefect ephemeral server is started from a worker thread that may end long before the process.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

POLL_SECONDS = 0.5
GRACE_SECONDS = 10.0


def parent_alive(pid: int) -> bool:
    """Whether ``pid`` is still this process's parent (a reparented orphan has another parent, often 1)."""
    return os.getppid() == pid


def watch_parent(pid: int, poll: float = POLL_SECONDS, grace: float = GRACE_SECONDS) -> threading.Thread:
    """Start the daemon thread that ends this process once ``pid`` is no longer its parent."""

    def watch() -> None:
        while parent_alive(pid):
            time.sleep(poll)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(grace)
        os.kill(os.getpid(), signal.SIGKILL)

    thread = threading.Thread(target=watch, name="parent-watchdog", daemon=True)
    thread.start()
    return thread


def main(argv: list[str]) -> None:
    if len(argv) < 2 or not argv[0].isdigit():
        raise SystemExit("usage: python -m compliance.childguard PARENT_PID MODULE [ARGS...]")
    parent = int(argv[0])
    if not parent_alive(parent):
        raise SystemExit(f"parent {parent} is already gone")
    watch_parent(parent)
    sys.argv = [argv[1], *argv[2:]]
    runpy.run_module(argv[1], run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv[1:])
