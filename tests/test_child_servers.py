"""Drill (issue 19, item 9): a server started by a process stops when that process is killed with -9.

Prefect's ephemeral servers started by flow processes killed with -9 were still running 40 minutes later.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

PARENT = textwrap.dedent(
    """
    import subprocess, sys, time
    child = subprocess.Popen([sys.executable, "-m", "compliance.childguard", str(__import__("os").getpid()),
                              "http.server", "0", "--bind", "127.0.0.1"], stdout=subprocess.DEVNULL)
    print(child.pid, flush=True)
    time.sleep(600)
    """
)

PREFECT_PARENT = textwrap.dedent(
    """
    import os, sys
    os.environ["PREFECT_HOME"] = sys.argv[1]
    from compliance.runtime import configure_prefect_env
    configure_prefect_env()
    from prefect.server.api.server import SubprocessASGIServer
    server = SubprocessASGIServer()
    server.start(timeout=300)
    print(server.server_process.pid, flush=True)
    import time
    time.sleep(600)
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by init) counts as gone.
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def _kill_parent_and_wait_for_child(script: str, *args: str) -> None:
    parent = subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE, text=True)
    try:
        line = parent.stdout.readline() if parent.stdout else ""
        assert line.strip().isdigit(), "parent did not start its child"
        child = int(line)
        assert _alive(child)
        with open(f"/proc/{child}/cmdline", "rb") as fh:
            assert b"compliance.childguard" in fh.read()  # the server runs under the guard
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 30  # the watchdog polls every 0.5 s; the bound only guards a hang
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = _alive(child)
        if alive:
            os.kill(child, signal.SIGKILL)
        assert not alive, "child outlived its parent"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_guarded_child_stops_when_parent_is_killed() -> None:
    _kill_parent_and_wait_for_child(PARENT)


@pytest.mark.slow
def test_prefect_ephemeral_server_stops_when_its_flow_process_is_killed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _kill_parent_and_wait_for_child(PREFECT_PARENT, str(tmp_path / "prefect"))
