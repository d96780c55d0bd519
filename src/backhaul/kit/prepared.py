"""Core statements that run on the database driver's cursor: the step path's reads and writes.

A step reads its unit and the unit's history, writes four rows and reads its audit chain's
head (docs/performance.md). Through `Connection.execute` each statement pays for SQLAlchemy's
execution machinery (an execution context, the compiled-cache lookup, parameter processing, a
result object): ~20 µs alone, more inside a step, against ~8 µs for the same statement on the
driver. `Prepared` keeps everything else SQLAlchemy's:

- the SQL is the Core statement compiled by SQLAlchemy for the connection's dialect (once per
  dialect and set of parameter names), never written by hand;
- values go in through the column types' own bind processors and come back through their
  result processors (UTC timestamps, dates, decimals, enums, JSON), as `Connection.execute`
  converts them;
- a driver error is raised as SQLAlchemy's own exception (`IntegrityError` and the rest), so
  the error handlers see what they always saw;
- the statement runs on the connection of the session's transaction (which `session.connection()`
  begins), so it commits or rolls back with everything else.

What it does not do: fire SQLAlchemy's execution events (Backhaul listens to none), apply
Python-side column defaults (every parameter must be given: a missing one is refused when the
statement is first compiled), or invalidate the pool's connection on a disconnect (the
transaction's next statement through SQLAlchemy does). So it is kept to the few statements on
the step path; tests/kit/test_prepared.py and the step path's own tests compare what it reads
and writes with SQLAlchemy's execution, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.selectable import Select

Processor = Callable[[Any], Any] | None


class _Compiled:
    """One statement compiled for one dialect and one set of parameter names."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, names: frozenset[str]) -> None:
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=sorted(names)))
        self.statement = statement
        self.dialect = dialect
        self.sql = compiled.string
        self.positional = compiled.positional
        order = compiled.positiontup if compiled.positional else list(compiled.binds)
        assert order is not None
        self.binds: list[tuple[str, Processor]] = []
        self.fixed: dict[str, Any] = {}  # values written into the statement (e.g. LIMIT 1)
        self._row_processors: list[Processor] | None = None
        for name in order:
            bind = compiled.binds[name]
            if name not in names:
                if bind.effective_value is None:
                    raise ValueError(f"parameter '{name}' is not given for: {self.sql}")
                self.fixed[name] = bind.effective_value
            self.binds.append((name, bind.type.dialect_impl(dialect).bind_processor(dialect)))

    def row_processors(self, cursor: Any) -> list[Processor]:
        """A SELECT's column types' result processors, for the driver's types of the columns
        (PostgreSQL numbers are told apart by them): learnt from the first result."""
        if self._row_processors is None:
            columns = cast(Select[Any], self.statement).selected_columns
            self._row_processors = [
                column.type.dialect_impl(self.dialect).result_processor(self.dialect, described[1])
                for column, described in zip(columns, cursor.description, strict=True)
            ]
        return self._row_processors

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
        """Run the statement with these parameters; the driver's cursor, to fetch raw values
        (ids, counts, strings) from or to read `rowcount` of."""
        return self._execute(session, params)[1]

    def rows(self, session: Session, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Run a SELECT; its rows with each value as SQLAlchemy gives it back (UTC timestamps,
        dates, decimals, enums, JSON)."""
        compiled, cursor = self._execute(session, params)
        fetched = cursor.fetchall()
        processors = compiled.row_processors(cursor)
        if not any(processors):
            return [tuple(row) for row in fetched]
        return [
            tuple(
                value if process is None or value is None else process(value)
                for process, value in zip(processors, row, strict=True)
            )
            for row in fetched
        ]

    def _execute(self, session: Session, params: dict[str, Any]) -> tuple[_Compiled, Any]:
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
        return compiled, cursor
