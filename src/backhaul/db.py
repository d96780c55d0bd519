"""Database plumbing: the engine, the declarative base, and the one transaction boundary."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, SessionTransaction, sessionmaker
from sqlalchemy.types import TypeDecorator

from backhaul.settings import get_settings

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Base class of every table; constraint names are stable so migrations can refer to them."""

    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware in UTC, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """The current time in UTC, to the microsecond."""
    return datetime.now(UTC)


# SQLite allows one writer; serialising writers in-process beats its sleeping busy handler.
# A write session's transaction takes the lock when it begins (its first statement) unless the
# session already holds it (`take_write_lock`: requests take it up front, see kit/http.py), and
# releases it when the transaction ends.
_sqlite_write_lock = threading.Lock()


def _configure_sqlite(engine: Engine, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # On the driver's connection: through `exec_driver_sql` this cost a whole SQLAlchemy
        # execution (~25 µs) on every transaction.
        connection.connection.driver_connection.execute(begin)


def make_engine(url: str, write: bool = True) -> Engine:
    """An engine for the URL: SQLite in WAL mode with foreign keys, or PostgreSQL via psycopg 3.

    On SQLite, a write engine opens transactions with BEGIN IMMEDIATE (take the write lock up
    front instead of failing to upgrade a read lock later); a read engine with plain BEGIN.
    """
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False}, pool_size=16)
        _configure_sqlite(engine, "BEGIN IMMEDIATE" if write else "BEGIN")
    else:
        engine = create_engine(url, pool_size=16, max_overflow=8, pool_pre_ping=True)
    return engine


_engines: dict[tuple[str, bool], Engine] = {}
_factories: dict[Engine, sessionmaker[Session]] = {}
_engines_lock = threading.Lock()


def get_engine(url: str | None = None, write: bool = True) -> Engine:
    """The process-wide engine for the configured database (PostgreSQL shares one for both)."""
    url = url or get_settings().database_url
    key = (url, write or not url.startswith("sqlite"))
    with _engines_lock:
        if key not in _engines:
            _engines[key] = make_engine(*key)
        return _engines[key]


def dispose_engines() -> None:
    """Close every pooled connection and forget the engines (tests and forks call this)."""
    with _engines_lock:
        for factory in _factories.values():
            bind = factory.kw["bind"]
            if isinstance(bind, Connection):
                bind.close()
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _factories.clear()


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run the callback once the session's transaction has committed (never if it rolls back)."""
    session.info.setdefault("after_commit", []).append(callback)


def _lock_writes(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and not session.info.get("locked"):
        _sqlite_write_lock.acquire()
        session.info["locked"] = True


def needs_write_lock(session: Session) -> bool:
    """Whether the session's transactions take the process's SQLite write lock."""
    return bool(session.info.get("write")) and session.get_bind().dialect.name == "sqlite"


def take_write_lock(session: Session, blocking: bool = True) -> bool:
    """Take the write lock for the session's next transaction now (False: it is busy and
    `blocking` was False). A request takes it before any thread runs its work: a thread that
    waited for it mid-request would hold a pool slot that the request holding it may need."""
    if not _sqlite_write_lock.acquire(blocking):
        return False
    session.info["locked"] = True
    return True


def _unlock_writes(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None and session.info.pop("locked", False):
        _sqlite_write_lock.release()


def _factory(engine: Engine, write: bool) -> sessionmaker[Session]:
    factory = _factories.get(engine)  # every session asks: no lock once it exists
    if factory is not None:
        return factory
    with _engines_lock:
        factory = _factories.get(engine)
        if factory is None:
            if write and engine.dialect.name == "sqlite":
                # Writers take turns under the write lock, so they share one connection that
                # stays open: checking one out of the pool for every transaction cost more
                # than the step's own statements.
                factory = sessionmaker(bind=engine.connect(), expire_on_commit=False)
                event.listen(factory, "after_transaction_create", _lock_writes)
                event.listen(factory, "after_transaction_end", _unlock_writes)
            else:
                factory = sessionmaker(bind=engine, expire_on_commit=False)
            _factories[engine] = factory
        return factory


def open_session(write: bool = True, url: str | None = None) -> Session:
    """A new session for one transaction; nothing touches the database until it is used.
    Finish it with `finish`; `session_scope` does both."""
    session = _factory(get_engine(url, write), write)()
    session.info["write"] = write
    return session


def commit(session: Session) -> None:
    """Commit the session's transaction now, then run its `after_commit` callbacks. A request
    may commit in the thread that did its work, so the write lock is not held while the
    response is handed back; the boundary's own commit then has nothing left to do."""
    session.commit()
    for callback in session.info.pop("after_commit", []):
        callback()


def finish(session: Session, ok: bool) -> None:
    """End the session: commit (ok) or roll back, close it, and never leave the write lock held."""
    try:
        if ok:
            commit(session)
        else:
            session.rollback()
    finally:
        try:
            session.close()
        finally:
            if session.info.pop("locked", False):  # a transaction left open by an error
                _sqlite_write_lock.release()


@contextmanager
def session_scope(write: bool = True, url: str | None = None) -> Iterator[Session]:
    """One transaction: commit when the block succeeds, roll back when it raises.

    Every request, job and CLI command runs inside exactly one of these; services only flush.
    On SQLite a write session holds the process's write lock from its first statement to its
    end (see `_lock_writes`).
    """
    session = open_session(write, url)
    try:
        yield session
    except BaseException:
        finish(session, ok=False)
        raise
    finish(session, ok=True)
