"""Statements run on the driver (`kit.prepared`) write what SQLAlchemy would have written, fail
the way SQLAlchemy fails, and refuse a parameter left out. On SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

import pytest
from sqlalchemy import Table, bindparam, func, insert, select
from sqlalchemy.exc import IntegrityError

from backhaul.db import session_scope
from backhaul.kit.outbox import OutboxEvent
from backhaul.kit.prepared import Prepared

pytestmark = pytest.mark.usefixtures("database")
OUTBOX = cast(Table, OutboxEvent.__table__)
INSERT = insert(OUTBOX).returning(OUTBOX.c.id)
# JSON with what a step's evidence holds; a timestamp given in another zone than UTC.
PAYLOAD: dict[str, Any] = {
    "serial": "SPK0000001",
    "measurements": {"spl_db": 92.5, "thd": 0.01, "ok": True},
    "fault_codes": [],
    "notes": "écran rayé, 日本",
    "nothing": None,
}
AT = datetime(2026, 12, 5, 1, 2, 3, 456789, tzinfo=timezone(timedelta(hours=-6)))


def _event(event_id: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "type": "unit.step_recorded",
        "subject": "unit:SPK0000001",
        "payload": PAYLOAD,
        "request_id": None,
        "created_at": AT,
        "attempts": 0,
    }


def _read(event_id: str) -> dict[str, Any]:
    with session_scope(write=False) as session:
        row = session.execute(select(OUTBOX).where(OUTBOX.c.event_id == event_id)).one()
    return dict(row._mapping) | {"id": None, "event_id": None}


def test_a_row_written_on_the_driver_reads_back_like_one_written_through_sqlalchemy() -> None:
    prepared = Prepared(INSERT)
    with session_scope() as session:
        (driver_id,) = prepared.run(session, _event("driver")).fetchone()
        (core_id,) = session.connection().execute(INSERT, _event("core")).one()
    assert driver_id != core_id
    assert _read("driver") == _read("core")
    written = _read("driver")
    assert written["payload"] == PAYLOAD
    assert written["created_at"] == AT and written["created_at"].tzinfo == UTC


def _count() -> int:
    with session_scope(write=False) as session:
        return session.scalar(select(func.count()).select_from(OUTBOX)) or 0


def _write_twice(event_id: str) -> None:
    prepared = Prepared(INSERT)
    with session_scope() as session:
        prepared.run(session, _event(event_id))
        prepared.run(session, _event(event_id))  # event_id is unique


def test_a_refusal_by_the_database_is_sqlalchemys_own_error_and_leaves_nothing() -> None:
    before = _count()
    with pytest.raises(IntegrityError, match=r"(?i)unique|duplicate"):
        _write_twice("twice")
    assert _count() == before


def test_a_parameter_left_out_is_refused_naming_it() -> None:
    by_subject = Prepared(select(OUTBOX.c.id).where(OUTBOX.c.subject == bindparam("subject")))
    with session_scope(write=False) as session:
        with pytest.raises(ValueError, match="parameter 'subject' is not given"):
            by_subject.run(session, {})
        assert by_subject.run(session, {"subject": "unit:none"}).fetchall() == []


def test_values_written_into_the_statement_are_bound_too() -> None:
    newest = Prepared(
        select(OUTBOX.c.event_id, OUTBOX.c.attempts)
        .where(OUTBOX.c.subject == bindparam("subject"))
        .order_by(OUTBOX.c.id.desc())
        .limit(1)
    )
    with session_scope() as session:
        for event_id in ("first", "second"):
            Prepared(INSERT).run(session, _event(event_id))
        assert newest.run(session, {"subject": "unit:SPK0000001"}).fetchall() == [("second", 0)]
