"""The rows one step writes, with plain SQL on the driver (the sqlite3 module, or psycopg for
PostgreSQL): the unit's update, its step record, the hash-chained audit record and the outbox
event. The storage-limit loop and the bare FastAPI endpoint (the framework limit) both use
exactly this."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

Connection = sqlite3.Connection | psycopg.Connection[Any]
GENESIS = "0" * 64
# (state before, state after) of the eight processing steps, as the lifecycle table has them.
POSITIONS = {
    "receive": ("in_transit", "received"),
    "inspect": ("received", "inspected"),
    "sanitize": ("inspected", "sanitized"),
    "flash": ("sanitized", "firmware_validated"),
    "test": ("firmware_validated", "tested"),
    "grade": ("tested", "graded"),
    "disposition": ("graded", "dispositioned"),
    "repackage": ("dispositioned", "available"),
}


def connect(url: str) -> Connection:
    """A connection to Backhaul's database (`sqlite:///PATH` or `postgresql+psycopg://...`) in
    autocommit mode, so that `immediate` issues BEGIN itself. SQLite is set up like Backhaul's
    (WAL, synchronous=NORMAL, foreign keys)."""
    if not url.startswith("sqlite"):
        return psycopg.connect(url.replace("+psycopg", "", 1), autocommit=True)
    connection = sqlite3.connect(
        Path(url.removeprefix("sqlite:///")), isolation_level=None, check_same_thread=False
    )
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA foreign_keys=ON")
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.execute("PRAGMA busy_timeout=30000")
    return connection


def _canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _stamp(db: Connection, moment: datetime) -> str | datetime:
    if isinstance(db, sqlite3.Connection):
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")  # SQLAlchemy's SQLite DateTime format
    return moment


def _run(db: Connection, sql: str, params: tuple[Any, ...]) -> Any:
    """Execute with sqlite3's `?` placeholders, written as `%s` for psycopg."""
    if isinstance(db, sqlite3.Connection):
        return db.execute(sql, params)
    return db.execute(sql.replace("?", "%s"), params)  # type: ignore[arg-type]


@contextmanager
def immediate(db: Connection) -> Iterator[None]:
    """One write transaction: BEGIN (IMMEDIATE on SQLite), then COMMIT (ROLLBACK when the block
    raises)."""
    db.execute("BEGIN IMMEDIATE" if isinstance(db, sqlite3.Connection) else "BEGIN")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def write_rows(
    db: Connection,
    unit_serial: str,
    step: str,
    evidence: dict[str, Any],
    actor: str,
    site_id: int | None,
) -> dict[str, Any]:
    """One step's rows, inside the caller's transaction (see `immediate`); the unit as it is
    after them."""
    now = datetime.now(UTC)
    at = _stamp(db, now)
    from_state, to_state = POSITIONS[step]
    request_id = uuid.uuid4().hex
    row = _run(
        db, "SELECT id, state, version, step_count FROM units WHERE serial = ?", (unit_serial,)
    ).fetchone()
    if row is None:
        raise LookupError(unit_serial)
    unit_id, before_state, version, step_count = row
    _run(
        db,
        "UPDATE units SET state = ?, site_id = ?, version = ?, step_count = ?, updated_at = ?"
        " WHERE id = ? AND version = ?",
        (to_state, site_id, version + 1, step_count + 1, at, unit_id, version),
    )
    _run(
        db,
        "INSERT INTO unit_steps (unit_id, seq, step, outcome, from_position, to_position,"
        " actor_id, actor_name, site_id, at, evidence, override_reason, request_id)"
        " VALUES (?, ?, ?, 'pass', ?, ?, NULL, ?, ?, ?, ?, NULL, ?)",
        (
            unit_id,
            step_count + 1,
            step,
            from_state,
            to_state,
            actor,
            site_id,
            at,
            json.dumps(evidence),
            request_id,
        ),
    )
    stream = f"unit:{unit_serial}"
    head = _run(
        db,
        "SELECT seq, hash FROM audit_records WHERE stream = ? ORDER BY seq DESC LIMIT 1",
        (stream,),
    ).fetchone()
    seq, prev_hash = (head[0] + 1, head[1]) if head else (1, GENESIS)
    before = {"state": before_state, "version": version}
    after = {"state": to_state, "version": version + 1, "step": step, "seq": step_count + 1}
    content = {
        "stream": stream,
        "seq": seq,
        "at": now.isoformat(timespec="microseconds"),
        "actor_id": None,
        "actor_name": actor,
        "actor_via": "key",
        "request_id": request_id,
        "action": f"unit.{step}",
        "object_type": "unit",
        "object_id": unit_serial,
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }
    digest = hashlib.sha256(_canonical(content)).hexdigest()
    _run(
        db,
        "INSERT INTO audit_records (stream, seq, at, actor_id, actor_name, actor_via,"
        " request_id, action, object_type, object_id, before, after, prev_hash, hash)"
        " VALUES (?, ?, ?, NULL, ?, 'key', ?, ?, 'unit', ?, ?, ?, ?, ?)",
        (
            stream,
            seq,
            at,
            actor,
            request_id,
            f"unit.{step}",
            unit_serial,
            json.dumps(before),
            json.dumps(after),
            prev_hash,
            digest,
        ),
    )
    _run(
        db,
        "INSERT INTO outbox_events (event_id, type, subject, payload, request_id, created_at,"
        " attempts) VALUES (?, ?, ?, ?, ?, ?, 0)",
        (
            uuid.uuid4().hex,
            f"unit.{step}",
            stream,
            json.dumps({"before": before, "after": after, "actor": actor}),
            request_id,
            at,
        ),
    )
    return {"serial": unit_serial, "state": to_state, "version": version + 1}


def site_id(db: Connection, code: str) -> int:
    row = _run(db, "SELECT id FROM sites WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise LookupError(code)
    return int(row[0])
