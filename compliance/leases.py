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

``mailbox_turn(store, mailbox)`` is the other lock here: a transaction in which one process at a time counts a
mailbox's Gmail limits and claims rows against them, so workers on several machines never spend the same room
twice (PostgreSQL: a transaction-level advisory lock; SQLite: a ``flock`` held until the commit).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from compliance.store import Store

# Advisory lock keys share one 64-bit space with anything else on the server: a fixed namespace in the high
# bits keeps ours apart from other applications' keys.
_NAMESPACE = 0x414B31  # "AK1": run leases
_MAILBOX_NAMESPACE = 0x414B32  # "AK2": a mailbox's turn to claim


def _advisory_key(token: str, namespace: int = _NAMESPACE) -> int:
    low = int.from_bytes(hashlib.sha256(token.encode()).digest()[:5], "big")
    return (namespace << 40 | low) - (1 << 63)  # signed bigint


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


@contextlib.contextmanager
def mailbox_turn(store: Store, mailbox: str) -> Iterator[Session]:
    """A session in which this process alone, of all processes on the store, claims work for ``mailbox``.

    Gmail's limits are per mailbox whoever sends as it: a worker that counts the mailbox's last minute and day
    and then claims rows against what is left must not interleave with another worker doing the same, or both
    spend the same room. The turn lasts until the session commits: PostgreSQL, a transaction-level advisory
    lock (released at commit or rollback, and when a killed worker's connection drops); a SQLite file, an
    exclusive ``flock`` on a file beside the database (released by the kernel however the process ends). An
    in-memory SQLite database is one process's: the session alone is the turn.
    """
    key = mailbox.lower()
    if store.engine.dialect.name == "postgresql":
        with store.session() as session:
            session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _advisory_key(key, _MAILBOX_NAMESPACE)})
            yield session
        return
    db_path = _sqlite_path(store.engine)
    if db_path is None:
        with store.session() as session:
            yield session
        return
    folder = _lease_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    # Never removed: a waiter holding the old file open would otherwise lock a name nobody else uses.
    path = folder / f"mailbox-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lock"
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with store.session() as session:
            yield session
    finally:
        os.close(fd)  # closing the descriptor releases the flock
