"""Shared fixtures. Prefect runs against one test harness per session; databases are real (SQLite file, PostgreSQL)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

from compliance.runtime import configure_prefect_env

configure_prefect_env()
# The suite runs with the public demo token secret; production settings refuse it (tests of that set it back).
os.environ.setdefault("DC_ENVIRONMENT", "test")

import pytest  # noqa: E402
from emulator_fixtures import emulator, workspace_emulator  # noqa: E402,F401
from sample_fixtures import sample, sample_dir  # noqa: E402,F401
from sqlalchemy import create_engine, text  # noqa: E402

PG_ADMIN_URL = os.environ.get("DC_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _postgres_reason() -> str | None:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means: skip, and say why
        return f"PostgreSQL not reachable at {PG_ADMIN_URL}: {type(exc).__name__}: {str(exc).splitlines()[0]}"


_PG_REASON = _postgres_reason()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test server per session; only tests that run flows ask for it."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


def _pg_schema_url() -> Iterator[str]:
    # Each run gets its own schema so parallel sessions on the shared `test` database never collide.
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    try:
        yield f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database on each backend the store supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    if _PG_REASON:
        pytest.skip(_PG_REASON)
    yield from _pg_schema_url()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture
def store(sqlite_url: str):  # type: ignore[no-untyped-def]
    from compliance.store import Store

    return Store(sqlite_url)
