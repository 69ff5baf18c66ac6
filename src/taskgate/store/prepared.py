"""The hottest writes and reads, run straight on the driver's cursor.

`Connection.execute` costs tens of microseconds of Python per statement (the compiled-cache
lookup, the parameters, the execution context, the result object), several times what SQLite
itself needs to update a row by its key, and every run makes several such writes. A
`Prepared` statement is compiled by SQLAlchemy once per dialect and set of parameter names,
with the same bind processors `execute` applies (UTC datetimes, JSON) and the same scalar
column defaults, and is then handed to the cursor of the connection's own transaction. What
it cannot do exactly as `execute` would (a statement with RETURNING, a list expanded at run
time, a default computed by a function) it leaves to `execute`.

A `PreparedQuery` is the same for a SELECT: its rows come back as named tuples (by attribute
and by position, as callers read a `Row`), each value through the result processor `execute`
applies to it.

Errors come out as SQLAlchemy's (`IntegrityError` and the rest), as from `execute`.
"""

from __future__ import annotations

import json
import re
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, StatementError


@dataclass(frozen=True)
class _Form:
    """The statement compiled for one dialect and one set of parameter names."""

    sql: str
    # The parameter names in placeholder order (qmark, format); None: by name (pyformat).
    order: tuple[str, ...] | None
    processors: dict[str, Callable[[Any], Any]]
    # Values the caller does not give: scalar column defaults, constants in the statement.
    fixed: dict[str, Any]
    # JSON columns: the one object many rows of a batch share (a task's snapshot) is encoded
    # once for all of them.
    shared: frozenset[str] = frozenset()
    # An INSERT's rows written by one statement (PostgreSQL); None: by executemany.
    many: _Rows | None = None
    # psycopg: a JSON value goes to the driver wrapped, and is encoded as it is sent.
    wrapped_json: bool = False

    def values_of(self, rows: Sequence[Mapping[str, Any]]) -> list[Sequence[Any] | dict[str, Any]]:
        if not self.shared or len(rows) < 2:
            return [self.values(row) for row in rows]
        # Keyed by identity for this call only: the rows hold their values, so no id is reused.
        processors = {
            name: _once_per_object(process, self.wrapped_json) if name in self.shared else process
            for name, process in self.processors.items()
        }
        form = replace(self, processors=processors)
        return [form.values(row) for row in rows]

    def values(self, params: Mapping[str, Any]) -> Sequence[Any] | dict[str, Any]:
        processors = self.processors
        if self.fixed:
            params = {**self.fixed, **params}
        if self.order is not None:
            return [
                processors[name](params[name]) if name in processors else params[name]
                for name in self.order
            ]
        return {
            name: processors[name](value) if name in processors else value
            for name, value in params.items()
        }


_Statement = sa.Insert | sa.Update | sa.Delete | sa.Select[Any]


class _Forms:
    """A statement's forms, compiled at first use per dialect and set of parameter names."""

    def __init__(self, statement: _Statement) -> None:
        self._statement = statement
        self._forms: dict[tuple[str, frozenset[str]], _Form | None] = {}

    def _form(self, dialect: Dialect, keys: Iterable[str]) -> _Form | None:
        names = frozenset(keys)
        key = (dialect.name, names)
        try:
            return self._forms[key]
        except KeyError:
            form = self._forms[key] = _compile(self._statement, dialect, names)
            return form


class Prepared(_Forms):
    """An INSERT, UPDATE or DELETE that is run with plain values, often."""

    def __init__(self, statement: sa.Insert | sa.Update | sa.Delete) -> None:
        super().__init__(statement)
        self.statement = statement

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> int:
        """Run it with `params`; the number of rows it changed."""
        form = self._form(conn.dialect, params.keys())
        if form is None:
            return int(conn.execute(self.statement, dict(params)).rowcount)
        values = form.values(params)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(form.sql, values)
            return int(cursor.rowcount)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(form.sql, values, exc, conn.dialect) from exc
        finally:
            cursor.close()

    def execute_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run it once per row; every row has the same keys."""
        if not rows:
            return
        form = self._form(conn.dialect, rows[0].keys())
        if form is None or len(rows) == 1:
            if form is None:
                conn.execute(self.statement, [dict(row) for row in rows])
            else:
                self.execute(conn, rows[0])
            return
        if form.many is not None:
            self._insert_rows(conn, form.many, rows)
            return
        values = form.values_of(rows)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(form.sql, values)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(form.sql, values, exc, conn.dialect) from exc
        finally:
            cursor.close()

    @staticmethod
    def _insert_rows(conn: Connection, many: _Rows, rows: Sequence[Mapping[str, Any]]) -> None:
        """One statement for every row: one round trip and one statement for the server to
        run, where executemany sends a statement per row. On psycopg's raw cursor, which
        takes PostgreSQL's own `$n` placeholders: its `%s` form parses a statement this long
        anew at each call."""
        from psycopg import RawCursor

        values = many.form.values_of(rows)
        size = max(1, _MAX_PARAMETERS // len(many.names))
        cursor = RawCursor(conn.connection.driver_connection)  # type: ignore[arg-type]
        try:
            for start in range(0, len(values), size):
                chunk = values[start : start + size]
                sql = many.sql(len(chunk))
                flat = [value for row in chunk for value in row]
                try:
                    # A long batch's text is neither kept here nor prepared by psycopg (which
                    # keeps each prepared statement's text): memory stays bounded.
                    cursor.execute(sql, flat, prepare=None if len(chunk) <= _KEPT_ROWS else False)
                except conn.dialect.loaded_dbapi.Error as exc:
                    raise _wrapped(sql, flat, exc, conn.dialect) from exc
        finally:
            cursor.close()


class Record(Protocol):
    """A row as callers read it: by column name, or by position."""

    def __getattr__(self, name: str) -> Any: ...

    def __getitem__(self, index: int) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...


class PreparedQuery(_Forms):
    """A SELECT that is run with plain values, often (on every claim, every run's end)."""

    def __init__(self, statement: sa.Select[Any]) -> None:
        super().__init__(statement)
        self.statement = statement
        # One reader per dialect: the row type and each column's result processor.
        self._readers: dict[str, _Reader] = {}

    def rows(self, conn: Connection, params: Mapping[str, Any]) -> list[Record]:
        form = self._form(conn.dialect, params.keys())
        if form is None:
            return list(conn.execute(self.statement, dict(params)))
        values = form.values(params)
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(form.sql, values)
            found = cursor.fetchall()
            reader = self._readers.get(conn.dialect.name)
            if reader is None:
                reader = self._readers[conn.dialect.name] = _Reader.of(
                    self.statement, conn.dialect, cursor.description
                )
            return reader.read(found)
        except conn.dialect.loaded_dbapi.Error as exc:
            raise _wrapped(form.sql, values, exc, conn.dialect) from exc
        finally:
            cursor.close()


@dataclass(frozen=True)
class _Reader:
    make: Callable[[Iterable[Any]], Any]
    # (position, processor) of the columns whose values `execute` would convert.
    processors: tuple[tuple[int, Callable[[Any], Any]], ...]

    @staticmethod
    def of(statement: sa.Select[Any], dialect: Dialect, description: Sequence[Any]) -> _Reader:
        columns = list(statement.selected_columns)
        # The names `Row` gives them (a label, or the column's key); one a named tuple cannot
        # take (a keyword, a leading underscore) is named by its position, `_3`.
        record = namedtuple("Row", [c.key or "" for c in columns], rename=True)  # type: ignore[misc]
        processors = []
        for position, (column, described) in enumerate(zip(columns, description, strict=True)):
            process = column.type.dialect_impl(dialect).result_processor(dialect, described[1])
            if process is not None:
                processors.append((position, process))
        return _Reader(record._make, tuple(processors))

    def read(self, found: Sequence[Sequence[Any]]) -> list[Record]:
        make = self.make
        if not self.processors:
            return [make(row) for row in found]
        records = []
        for row in found:
            values = list(row)
            for position, process in self.processors:
                values[position] = process(values[position])
            records.append(make(values))
        return records


def _compile(statement: _Statement, dialect: Dialect, names: frozenset[str]) -> _Form | None:
    # For many rows at once: no RETURNING of the new keys (PostgreSQL's implicit one), which
    # nothing here reads.
    compiled = statement.compile(dialect=dialect, column_keys=sorted(names), for_executemany=True)
    if (
        compiled.returning
        or compiled.escaped_bind_names
        or compiled.literal_execute_params
        or compiled.post_compile_params
    ):
        return None
    fixed: dict[str, Any] = {}
    for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
        default = column.default
        if not getattr(default, "is_scalar", False) or column.key in names:
            return None  # computed at run time: only `execute` knows how
        fixed[column.key] = default.arg  # type: ignore[union-attr]
    processors: dict[str, Callable[[Any], Any]] = {}
    shared: set[str] = set()
    for name, bind in compiled.binds.items():
        if name not in names and name not in fixed:
            if bind.callable is not None or bind.expanding:
                return None
            fixed[name] = bind.value
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
            if isinstance(bind.type, sa.JSON) and name in names:
                shared.add(name)
    order = tuple(compiled.positiontup) if compiled.positiontup is not None else None
    if order is None and dialect.paramstyle not in ("pyformat", "named"):
        return None
    form = _Form(compiled.string, order, processors, fixed, frozenset(shared))
    if dialect.driver != "psycopg":
        # SQLite's executemany steps one prepared statement in C: faster there than one
        # statement as long as the batch (bench/README.md, branch pg19a).
        return form
    form = replace(form, wrapped_json=True)
    return replace(form, many=_Rows.of(form)) if isinstance(statement, sa.Insert) else form


# A statement's bound values at most: PostgreSQL's protocol counts them in 16 bits.
_MAX_PARAMETERS = 32767
# Statements of up to this many rows are kept (here, and prepared by psycopg once used often).
_KEPT_ROWS = 16
_NAMED = re.compile(r"%\((\w+)\)s")


@dataclass(frozen=True)
class _Rows:
    """`INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4), ...` for any number of rows."""

    head: str
    # One row's text around its placeholders, and the names they stand for, in order.
    pieces: tuple[str, ...]
    names: tuple[str, ...]
    # The statement's form giving each row's values in that order.
    form: _Form
    texts: dict[int, str]

    @staticmethod
    def of(form: _Form) -> _Rows | None:
        head, found, one = form.sql.partition(" VALUES ")
        if not found or not one.startswith("(") or not one.endswith(")") or "%%" in one:
            return None
        names = tuple(_NAMED.findall(one))
        if not names or form.order is not None:
            return None
        pieces = tuple(_NAMED.split(one)[::2])
        return _Rows(head + found, pieces, names, replace(form, order=names), {})

    def sql(self, count: int) -> str:
        text = self.texts.get(count)
        if text is None:
            width = len(self.names)
            rows = (
                "".join(
                    piece + (f"${r * width + i + 1}" if i < width else "")
                    for i, piece in enumerate(self.pieces)
                )
                for r in range(count)
            )
            text = self.head + ", ".join(rows)
            if count <= _KEPT_ROWS:
                self.texts[count] = text
        return text


def _once_per_object(process: Callable[[Any], Any], wrapped_json: bool) -> Callable[[Any], Any]:
    done: dict[int, Any] = {}

    def reuse(value: Any) -> Any:
        key = id(value)
        try:
            return done[key]
        except KeyError:
            processed = process(value)
            if wrapped_json and processed is not None:
                processed = _encoded_once(processed)
            done[key] = processed
            return processed

    return reuse


def _encoded_once(wrapper: Any) -> Any:
    """psycopg's `Json` (what SQLAlchemy hands it for a JSON column) encoded now, once, for
    every row that carries it: psycopg would encode it again for each. With the `dumps`
    psycopg would use (the engine sets no serializer of its own)."""
    text = (wrapper.dumps or json.dumps)(wrapper.obj)
    data = text.encode() if isinstance(text, str) else text
    return type(wrapper)(wrapper.obj, dumps=lambda _obj: data)


def _wrapped(sql: str, values: Any, exc: Exception, dialect: Dialect) -> StatementError:
    return DBAPIError.instance(  # IntegrityError, OperationalError, ... as `execute` raises
        sql,
        values,
        exc,
        dialect.loaded_dbapi.Error,
        dialect=dialect,
        ismulti=isinstance(values, list) and bool(values) and isinstance(values[0], list | dict),
    )
