"""Core statements that run on the database driver's cursor: the step path's writes.

A step writes four rows and reads its audit chain's head (docs/performance.md). Through
`Connection.execute` each statement pays for SQLAlchemy's execution machinery (an execution
context, the compiled-cache lookup, parameter processing, a result object): ~20 µs alone, more
inside a step, against ~8 µs for the same statement on the driver. `Prepared` keeps everything
else SQLAlchemy's:

- the SQL is the Core statement compiled by SQLAlchemy for the connection's dialect (once per
  dialect and set of parameter names), never written by hand;
- values are converted by the column types' own bind processors (the UTC timestamps, JSON,
  enums), exactly as `Connection.execute` converts them;
- a driver error is raised as SQLAlchemy's own exception (`IntegrityError` and the rest), so
  the error handlers see what they always saw;
- the statement runs on the connection of the session's transaction (which `session.connection()`
  begins), so it commits or rolls back with everything else.

What it does not do: fire SQLAlchemy's execution events (Backhaul listens to none), apply
Python-side column defaults (every parameter must be given: a missing one is refused when the
statement is first compiled), or invalidate the pool's connection on a disconnect (the
transaction's next statement through SQLAlchemy does). So it is kept to the few statements on
the step path, each tested through the whole suite on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

Processor = Callable[[Any], Any] | None


class _Compiled:
    """One statement compiled for one dialect and one set of parameter names."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, names: frozenset[str]) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=sorted(names)))
        self.sql = compiled.string
        self.positional = compiled.positional
        order = compiled.positiontup if compiled.positional else list(compiled.binds)
        assert order is not None
        self.binds: list[tuple[str, Processor]] = []
        self.fixed: dict[str, Any] = {}  # values written into the statement (e.g. LIMIT 1)
        for name in order:
            bind = compiled.binds[name]
            if name not in names:
                if bind.effective_value is None:
                    raise ValueError(f"parameter '{name}' is not given for: {self.sql}")
                self.fixed[name] = bind.effective_value
            self.binds.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect)))

    def values(self, params: dict[str, Any]) -> tuple[Any, ...] | dict[str, Any]:
        if self.fixed:
            params = params | self.fixed
        converted = [
            (name, params[name] if process is None else process(params[name]))
            for name, process in self.binds
        ]
        if self.positional:
            return tuple(value for _, value in converted)
        return dict(converted)


class Prepared:
    """A Core statement to run on the driver's cursor inside the session's transaction."""

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}

    def _for(self, dialect: Dialect, names: frozenset[str]) -> _Compiled:
        key = (dialect.name, names)
        compiled = self._compiled.get(key)
        if compiled is None:  # two threads may both compile it once: the same result
            compiled = self._compiled[key] = _Compiled(self.statement, dialect, names)
        return compiled

    def run(self, session: Session, params: dict[str, Any]) -> Any:
        """Run the statement with these parameters; the driver's cursor, to fetch from or to
        read `rowcount` of."""
        connection = session.connection()
        dialect = connection.dialect
        compiled = self._for(dialect, frozenset(params))
        values = compiled.values(params)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(compiled.sql, values)
        except dialect.loaded_dbapi.Error as error:
            raise DBAPIError.instance(
                compiled.sql, values, error, dialect.loaded_dbapi.Error, dialect=dialect
            ) from error
        return cursor
