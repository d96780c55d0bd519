"""The one transaction boundary: a write that fails leaves nothing behind and holds nobody up,
and writers in many threads lose nothing (on SQLite they take turns on one shared connection)."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from backhaul.db import _sqlite_write_lock, session_scope
from backhaul.kit import audit
from backhaul.kit.audit import AuditRecord
from backhaul.kit.auth import cli_actor

ACTOR = cli_actor("pytest")
_COLUMNS = [c.key for c in AuditRecord.__table__.columns if c.key != "id"]


def _records(stream: str) -> list[int]:
    with session_scope(write=False) as session:
        return list(
            session.scalars(
                select(AuditRecord.seq)
                .where(AuditRecord.stream == stream)
                .order_by(AuditRecord.seq)
            )
        )


def _write_then_fail() -> None:
    with session_scope() as session:
        audit.write(session, ACTOR, "thing.changed", "thing", "A")
        raise RuntimeError("the caller failed after writing")


def _write_then_duplicate(record_id: int) -> None:
    with session_scope() as session:
        audit.write(session, ACTOR, "thing.changed", "thing", "C")
        record = session.get_one(AuditRecord, record_id)
        session.add(AuditRecord(**{c: getattr(record, c) for c in _COLUMNS}))  # (stream, seq) taken
        session.flush()


def test_a_write_that_raises_leaves_nothing_and_the_next_write_goes_through(database: str) -> None:
    with pytest.raises(RuntimeError):
        _write_then_fail()
    assert _records("thing:A") == []
    assert not _sqlite_write_lock.locked()
    with session_scope() as session:
        audit.write(session, ACTOR, "thing.changed", "thing", "B")
    assert _records("thing:B") == [1]


def test_a_write_the_database_refuses_leaves_nothing_and_the_next_write_goes_through(
    database: str,
) -> None:
    with session_scope() as session:
        first = audit.write(session, ACTOR, "thing.changed", "thing", "A")
    with pytest.raises(IntegrityError):
        _write_then_duplicate(first.id)
    assert _records("thing:C") == []
    assert not _sqlite_write_lock.locked()
    with session_scope() as session:
        audit.write(session, ACTOR, "thing.changed", "thing", "A")
    assert _records("thing:A") == [1, 2]


def test_writers_in_many_threads_lose_nothing(database: str) -> None:
    threads, writes = 8, 25
    failures: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for _ in range(writes):
                with session_scope() as session:
                    audit.write(session, ACTOR, "thing.changed", "thing", f"T{n}")
        except BaseException as error:  # reported below: a thread's exception is otherwise lost
            failures.append(error)

    workers = [threading.Thread(target=writer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert failures == []
    for n in range(threads):
        assert _records(f"thing:T{n}") == list(range(1, writes + 1))
    with session_scope(write=False) as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditRecord)
                .where(AuditRecord.object_type == "thing")
            )
            == threads * writes
        )
        assert audit.verify(session).intact
