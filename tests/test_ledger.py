"""Evidence ledger: hash chain over acknowledgements, idempotent appends, tampering found with direct SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from compliance.ledger import GENESIS, append_acknowledgement, verify_ledger
from compliance.models import Acknowledgement, Person, PolicyVersion
from compliance.store import Store

T0 = datetime(2026, 11, 2, 16, 30, 15, 123456, tzinfo=UTC)


def seed(store: Store, people: int = 5) -> None:
    with store.session() as s:
        s.add(PolicyVersion(id=1, drive_file_id="f", revision_id="r1", sha256="ab" * 32, title="AR 1114",
                            school_year="2026-2027"))
        for i in range(people):
            s.add(Person(id=i + 1, person_key=f"p-{i}", kind="associated", category="volunteer",
                         given_name=f"Given{i}", family_name="Núñez", email=f"p{i}@example.com", source="test"))


def append(store: Store, person_id: int, response_id: str | None = None, method: str = "form"):  # type: ignore[no-untyped-def]
    with store.session() as s:
        return append_acknowledgement(
            s, person=s.get(Person, person_id), policy_version=s.get(PolicyVersion, 1), method=method,
            signed_name=f"Given{person_id - 1} Núñez", submitted_at=T0 + timedelta(minutes=person_id),
            response_id=response_id, token_id="tok12345", verified_email=None,
        )


@pytest.fixture
def chained(db_url: str) -> Store:
    store = Store(db_url)
    seed(store, people=6)
    for pid in range(1, 6):
        append(store, pid, f"resp-{pid}" if pid != 3 else None, "form" if pid != 3 else "paper")
    return store


def problems(store: Store) -> list[tuple[str, int | None]]:
    with store.session() as s:
        return [(p.kind, p.row_id) for p in verify_ledger(s)]


def test_intact_chain_verifies(chained: Store) -> None:
    assert problems(chained) == []
    with chained.session() as s:
        rows = s.scalars(select(Acknowledgement).order_by(Acknowledgement.id)).all()
    assert rows[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.row_hash for a, b in zip(rows, rows[1:], strict=False))
    assert rows[0].submitted_at == T0 + timedelta(minutes=1)


def test_appends_are_idempotent(chained: Store) -> None:
    again = append(chained, 2, "resp-2")
    assert not again.created and again.existing_reason == "same_response"
    second = append(chained, 2, "resp-2-bis")  # a second response from the same person for the same version
    assert not second.created and second.existing_reason == "already_acknowledged"
    with chained.session() as s:
        assert len(s.scalars(select(Acknowledgement.id)).all()) == 5
    assert problems(chained) == []


def test_edited_row_is_found(chained: Store) -> None:
    with chained.engine.begin() as conn:
        conn.execute(text("update acknowledgements set signed_name = 'Someone Else' where id = 2"))
    assert problems(chained) == [("edited", 2)]


def test_deleted_row_is_found(chained: Store) -> None:
    with chained.engine.begin() as conn:
        conn.execute(text("delete from acknowledgements where id = 3"))
    found = problems(chained)
    assert ("deleted", 4) in found and ("head", None) in found


def test_deleted_newest_row_is_found_by_the_head(chained: Store) -> None:
    with chained.engine.begin() as conn:
        conn.execute(text("delete from acknowledgements where id = 5"))
    assert problems(chained) == [("head", None)]


def test_inserted_row_is_found(chained: Store) -> None:
    with chained.engine.begin() as conn:
        # A forged acknowledgement slipped in by hand, chained onto row 2 with a plausible hash.
        conn.execute(text(
            "insert into acknowledgements (id, person_id, policy_version_id, method, response_id, signed_name,"
            " verified_email, token_id, policy_sha256, submitted_at, recorded_at, prev_hash, row_hash)"
            " select 99, 6, 1, 'paper', NULL, 'Forged Name', NULL, NULL, policy_sha256, submitted_at,"
            " recorded_at, row_hash, :fake from acknowledgements where id = 2"
        ), {"fake": "f" * 64})
    found = problems(chained)
    assert ("inserted", 99) in found and ("edited", 99) in found


def test_row_inserted_between_two_genuine_rows_is_found(db_url: str) -> None:
    store = Store(db_url)
    seed(store)
    append(store, 1, "resp-1")
    append(store, 2, "resp-2")
    with store.engine.begin() as conn:
        # Ids are not evidence: move row 2 up to make room, then slip a forged row in between, chained onto
        # row 1 exactly as the code would have chained it.
        conn.execute(text("update acknowledgements set id = 20 where id = 2"))
        conn.execute(text(
            "insert into acknowledgements (id, person_id, policy_version_id, method, response_id, signed_name,"
            " verified_email, token_id, policy_sha256, submitted_at, recorded_at, prev_hash, row_hash)"
            " select 10, 4, 1, 'paper', NULL, 'Forged', NULL, NULL, policy_sha256, submitted_at,"
            " recorded_at, row_hash, :fake from acknowledgements where id = 1"
        ), {"fake": "e" * 64})
    found = problems(store)
    assert ("inserted", 10) in found
    assert ("inserted", 20) not in found and ("deleted", 20) not in found


def test_cli_exits_1_on_problems_and_0_when_intact(chained: Store) -> None:
    from compliance.shell.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["verify-ledger", "--database-url", chained.url])
    assert ok.exit_code == 0, ok.output
    assert "5 acknowledgements" in ok.output
    with chained.engine.begin() as conn:
        conn.execute(text("update acknowledgements set policy_sha256 = :h where id = 4"), {"h": "cd" * 32})
    bad = runner.invoke(app, ["verify-ledger", "--database-url", chained.url])
    assert bad.exit_code == 1
    assert "edited" in bad.output


def test_concurrent_appends_never_fork_the_chain(db_url: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    store = Store(db_url)
    seed(store, people=24)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda pid: append(store, pid, f"resp-{pid}").created, range(1, 25)))
    assert all(results)
    # The same responses again, concurrently: nothing added, nothing lost.
    with ThreadPoolExecutor(4) as pool:
        again = list(pool.map(lambda pid: append(store, pid, f"resp-{pid}").created, range(1, 25)))
    assert not any(again)
    with store.session() as s:
        assert len(s.scalars(select(Acknowledgement.id)).all()) == 24
    assert problems(store) == []
