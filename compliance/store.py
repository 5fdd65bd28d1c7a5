"""The one store module: engine, sessions and schema migrations for SQLite (default) or PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and foreign keys so it behaves like the PostgreSQL path.

    ``hide_parameters``: a failed statement's exception text (which reaches logs, Prefect state messages and
    stderr) never carries the bound values, which are names, emails and phones.
    """
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def missing_database(url: str) -> str | None:
    """Why ``url`` is not an existing compliance database (None when it is); creates and changes nothing.

    For read-only commands (``verify-ledger``): opening a SQLite path that does not exist would create an
    empty database, and migrating one would make "nothing there" look like "an intact, empty ledger".
    """
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - any unparsable URL gets the same answer
        return "not a database URL"
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if not path or path == ":memory:":
            return f"{shown}: not a database file"
        if not Path(path).is_file():
            return f"database not found: {path}"
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("acknowledgements"):
                return f"{shown}: not a compliance database (no acknowledgements table)"
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None) or exc
        return f"{shown}: cannot open the database ({type(orig).__name__})"
    finally:
        engine.dispose()
    return None


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    return make_engine(url)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema to ``revision``; safe to call on every start."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


class StoreError(Exception):
    """A store statement failed. The message says which statement, table and constraint - never a value.

    The driver's own text is not passed on: PostgreSQL's DETAIL repeats the offending key ("Key
    (email)=(...) already exists") and some messages quote the value, and either would carry a name, email or
    phone into Prefect's state message, the logs and stderr. ``sqlstate`` keeps the error class for callers.
    """

    def __init__(self, message: str, sqlstate: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


# PostgreSQL messages (first line) that name only objects and types, never a value.
_SAFE_SQLSTATE_CLASSES = ("23", "40", "53", "57")
_SAFE_SQLSTATES = ("22001", "22003", "22021")


def describe_db_error(exc: DBAPIError) -> StoreError:
    """A :class:`StoreError` for a driver error, keeping what tells an operator where (ids only)."""
    orig = exc.orig
    statement = " ".join((exc.statement or "").split()[:3])
    parts = [type(orig).__name__ if orig is not None else type(exc).__name__]
    diag = getattr(orig, "diag", None)
    sqlstate = getattr(diag, "sqlstate", None) if diag is not None else None
    if diag is not None:
        primary = (getattr(diag, "message_primary", None) or "").splitlines()[:1]
        if sqlstate and primary and (sqlstate[:2] in _SAFE_SQLSTATE_CLASSES or sqlstate in _SAFE_SQLSTATES):
            parts.append(primary[0])
        for label, name in (("table", "table_name"), ("column", "column_name"), ("constraint", "constraint_name")):
            value = getattr(diag, name, None)
            if value:
                parts.append(f"{label} {value}")
        if sqlstate:
            parts.append(f"SQLSTATE {sqlstate}")
    elif orig is not None:
        # SQLite's messages name constraints and columns ("UNIQUE constraint failed: people.person_key").
        parts.append(str(orig).splitlines()[0][:200] if str(orig) else "")
    if statement:
        parts.append(f"in {statement} ...")
    return StoreError("store write failed: " + "; ".join(p for p in parts if p), sqlstate)


class Store:
    """Sessions on one database, from its URL (``Store(get_settings().database_url)`` for the configured one)."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        if migrate:
            upgrade(url)
        self.engine = engine_for(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits on success, rolls back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except DBAPIError as exc:
                session.rollback()
                raise describe_db_error(exc) from None
            except BaseException:
                session.rollback()
                raise
