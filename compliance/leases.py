"""Run leases: proof that the process which claimed a delivery is still alive.

A row in ``sending`` may belong to a sender that is working on it right now or to one that was killed. Time
alone cannot tell them apart: on a loaded machine a live sender's batch can take longer than any grace
period, and requeueing its rows would send them twice. So every sending process holds a lease that the
operating system or the database releases the moment the process dies, and claims carry the lease's token:

- PostgreSQL: a session-level advisory lock on a dedicated connection (released when the connection drops,
  which a killed process's connection does at once);
- SQLite file: an exclusive ``flock`` on a file beside the database (released by the kernel when the process
  exits, however it exits). SQLite is one machine's database, so a lock on that machine is enough.

``lease_alive(token)`` answers True (the holder is running), False (it is gone) or None (cannot tell: an
in-memory database, or a token written before leases existed); callers fall back to their grace period then.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from pathlib import Path
from types import TracebackType

from sqlalchemy import Connection, Engine, text

# Advisory lock keys share one 64-bit space with anything else on the server: a fixed namespace in the high
# bits keeps ours apart from other applications' keys.
_NAMESPACE = 0x414B31  # "AK1"


def _advisory_key(token: str) -> int:
    low = int.from_bytes(hashlib.sha256(token.encode()).digest()[:5], "big")
    return (_NAMESPACE << 40 | low) - (1 << 63)  # signed bigint


def _sqlite_path(engine: Engine) -> Path | None:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return Path(database)


def _lease_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".leases")


class RunLease:
    """A lease held by this process while it sends; use as a context manager around the sending."""

    def __init__(self, engine: Engine, token: str | None = None) -> None:
        self.engine = engine
        self.token = token or uuid.uuid4().hex
        self._conn: Connection | None = None
        self._fd: int | None = None
        self._path: Path | None = None

    def __enter__(self) -> RunLease:
        if self.engine.dialect.name == "postgresql":
            self._conn = self.engine.connect()
            self._conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _advisory_key(self.token)})
            self._conn.commit()  # session-level lock: it outlives the transaction, ends with the connection
            return self
        db_path = _sqlite_path(self.engine)
        if db_path is not None:
            folder = _lease_dir(db_path)
            folder.mkdir(parents=True, exist_ok=True)
            self._path = folder / self.token
            self._fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _advisory_key(self.token)})
                self._conn.commit()
            self._conn.close()
            self._conn = None
        if self._fd is not None:
            if self._path is not None:
                with contextlib.suppress(OSError):
                    self._path.unlink()
            os.close(self._fd)
            self._fd = None


def lease_alive(engine: Engine, token: str | None) -> bool | None:
    """Whether the process holding lease ``token`` is still running (None: this store cannot tell)."""
    if not token:
        return None
    if engine.dialect.name == "postgresql":
        key = _advisory_key(token)
        with engine.connect() as conn:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
            conn.commit()
        return not got
    db_path = _sqlite_path(engine)
    if db_path is None:
        return None
    path = _lease_dir(db_path) / token
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False  # a holder creates its file before it claims anything and removes it when done
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        path.unlink()  # a dead holder's file: tidy up
    return False
