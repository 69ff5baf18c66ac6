"""Execution, attempt and log rows. What a process writes while it holds a run (claim, lease,
end) is in store/holding.py."""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.chains import ChainLink
from taskgate.domain.errors import InvalidInput
from taskgate.domain.executions import Attempt, Execution
from taskgate.domain.status import ACTIVE, PENDING, EndReason, Status, default_reason
from taskgate.store.prepared import Prepared, PreparedQuery, Record
from taskgate.store.tables import attempts, execution_logs, executions

# Hot statements are built once: SQLAlchemy then skips rebuilding them and their cache key.
# An execution by its id: read by every wait, and by the end hooks (store/prepared.py).
_BY_ID = PreparedQuery(sa.select(executions).where(executions.c.id == sa.bindparam("eid")))
_BY_ID_LOCKED = PreparedQuery(_BY_ID.statement.with_for_update())
_STATUS_OF = sa.select(executions.c.status).where(executions.c.id == sa.bindparam("eid"))
_TOKEN_SCOPE = sa.select(executions.c.status, executions.c.kv_namespaces).where(
    executions.c.id == sa.bindparam("eid")
)
_ATTEMPTS_OF = PreparedQuery(
    sa.select(attempts)
    .where(attempts.c.execution_id == sa.bindparam("eid"))
    .order_by(attempts.c.number)
)
# The writes every run makes, run straight on the driver's cursor (store/prepared.py).
_UPDATE = Prepared(executions.update().where(executions.c.id == sa.bindparam("eid")))
_UPDATE_ATTEMPT = Prepared(
    attempts.update().where(
        attempts.c.execution_id == sa.bindparam("eid"), attempts.c.number == sa.bindparam("num")
    )
)
_INSERT = Prepared(executions.insert())
_INSERT_ATTEMPTS = Prepared(attempts.insert())
_INSERT_LOGS = Prepared(execution_logs.insert())


def to_execution(row: Record, attempt_rows: Iterable[Record] | None = None) -> Execution:
    duration = None
    if row.started_at and row.finished_at:
        duration = int((row.finished_at - row.started_at).total_seconds() * 1000)
    return Execution(
        id=row.id,
        task_id=row.task_id,
        task_name=row.task_name,
        status=Status(row.status),
        origin=row.origin,
        caller=row.caller,
        params=row.params,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        duration_ms=duration,
        attempt_count=row.attempt_count,
        exit_code=row.exit_code,
        node=row.node,
        result=row.result,
        message=row.message,
        end_reason=_end_reason(row),
        aborted_by=row.aborted_by,
        log_size=row.log_size,
        log_dropped=row.log_dropped,
        warnings=row.warnings or [],
        chain_id=row.chain_id,
        triggered_by=row.triggered_by,
        parent_id=row.parent_id,
        phase=row.phase,
        member=row.member,
        attempts=None
        if attempt_rows is None
        else [Attempt.model_validate(a, from_attributes=True) for a in attempt_rows],
    )


def _end_reason(row: Record) -> str | None:
    status = Status(row.status)
    if row.end_reason is not None or not status.is_terminal:
        return row.end_reason  # type: ignore[no-any-return]
    reason = default_reason(status)  # ended before reasons were stored
    return None if reason is None else reason.value


def chain_link(row: Record) -> ChainLink | None:
    """What a chained execution's row says of its chain rule; None for any other."""
    if row.chain_id is None:
        return None
    return ChainLink(row.chain_id, tuple(row.triggered_by or ()), row.chain_depth or 0)


def insert(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    _INSERT.execute_many(conn, rows)


def get_row(conn: Connection, execution_id: str, *, lock: bool = False) -> Record | None:
    """With `lock` (PostgreSQL), the row stays locked until the transaction ends, and a claim
    in flight is waited for: the caller decides on the status it will then see."""
    found = (_BY_ID_LOCKED if lock else _BY_ID).rows(conn, {"eid": execution_id})
    return found[0] if found else None


def status_of(conn: Connection, execution_id: str) -> Status | None:
    status = conn.execute(_STATUS_OF, {"eid": execution_id}).scalar()
    return None if status is None else Status(status)


def token_scope(conn: Connection, execution_id: str) -> tuple[Status, list[str]] | None:
    """An execution's status and the namespaces its token may use; None when there is none."""
    row = conn.execute(_TOKEN_SCOPE, {"eid": execution_id}).first()
    if row is None:
        return None
    return Status(row.status), list(row.kv_namespaces or [])


def get(conn: Connection, execution_id: str, *, with_attempts: bool) -> Execution | None:
    row = get_row(conn, execution_id)
    if row is None:
        return None
    attempt_rows = None
    if with_attempts:
        attempt_rows = _ATTEMPTS_OF.rows(conn, {"eid": execution_id})
    return to_execution(row, attempt_rows)


@dataclass(frozen=True)
class ExecutionFilter:
    task_id: str | None = None
    statuses: tuple[Status, ...] = ()
    origin: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # Who started it: the name a key, a user or a trigger is recorded under (`caller`).
    caller: str | None = None


def _encode_cursor(created_at: datetime, execution_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{execution_id}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        stamp, execution_id = text.split("|", 1)
        return datetime.fromisoformat(stamp), execution_id
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("cursor: not a cursor this server gave out", field="cursor") from None


_NEWEST_FIRST = (executions.c.created_at.desc(), executions.c.id.desc())


def listing(
    conn: Connection, flt: ExecutionFilter, *, limit: int, cursor: str | None
) -> tuple[list[Execution], str | None]:
    """Newest first, keyset-paginated so inserts during paging neither skip nor repeat rows.

    Each filter has an index that ends in (created_at, id), so a page reads about `limit`
    rows of one index range, whatever the table holds. Several statuses are one such range
    each, merged (an IN list would make the databases either sort every match or walk the
    whole table for rare statuses)."""
    query = sa.select(executions)
    if flt.task_id:
        query = query.where(executions.c.task_id == flt.task_id)
    if flt.origin:
        query = query.where(executions.c.origin == flt.origin)
    if flt.caller:
        query = query.where(executions.c.caller == flt.caller)
    if flt.since:
        query = query.where(executions.c.created_at >= flt.since)
    if flt.until:
        query = query.where(executions.c.created_at < flt.until)
    if cursor:
        created_at, execution_id = _decode_cursor(cursor)
        # A row value, not `created_at < ? OR (created_at = ? AND id < ?)`: both databases
        # serve it as one range of a (..., created_at, id) index, where the OR made SQLite
        # sort every older row.
        query = query.where(
            sa.tuple_(executions.c.created_at, executions.c.id)
            < sa.tuple_(
                sa.literal(created_at, executions.c.created_at.type),
                sa.literal(execution_id, executions.c.id.type),
            )
        )
    statuses = sorted({s.value for s in flt.statuses})
    if len(statuses) == 1:
        query = query.where(executions.c.status == statuses[0])
    if len(statuses) > 1:
        parts = [
            sa.select(part)
            for part in (
                query.where(executions.c.status == status)
                .order_by(*_NEWEST_FIRST)
                .limit(limit + 1)
                .subquery()
                for status in statuses
            )
        ]
        merged = sa.union_all(*parts).subquery()
        found = sa.select(merged).order_by(merged.c.created_at.desc(), merged.c.id.desc())
    else:
        found = query.order_by(*_NEWEST_FIRST)
    rows = list(conn.execute(found.limit(limit + 1)))
    items = [to_execution(r) for r in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = _encode_cursor(last.created_at, last.id)
    return items, next_cursor


def update(conn: Connection, execution_id: str, **values: Any) -> None:
    _UPDATE.execute(conn, {"eid": execution_id, **values})


def update_each(conn: Connection, changes: Sequence[dict[str, Any]]) -> None:
    """`update` for several executions (`eid` and the same columns in each): sent together,
    which on PostgreSQL is one round trip rather than one per row."""
    _UPDATE.execute_many(conn, changes)


def update_if(
    conn: Connection, execution_id: str, allowed: Iterable[Status], **values: Any
) -> bool:
    """Move an execution only from one of the `allowed` statuses; False when it was elsewhere."""
    result = conn.execute(
        executions.update()
        .where(
            executions.c.id == execution_id,
            executions.c.status.in_([s.value for s in allowed]),
        )
        .values(**values)
    )
    return bool(result.rowcount)


def insert_attempts(conn: Connection, rows: Sequence[dict[str, Any]]) -> None:
    _INSERT_ATTEMPTS.execute_many(conn, rows)


def finish_attempt(conn: Connection, execution_id: str, number: int, **values: Any) -> None:
    _UPDATE_ATTEMPT.execute(conn, {"eid": execution_id, "num": number, **values})


def append_logs(conn: Connection, chunks: Sequence[dict[str, Any]]) -> None:
    """Chunks of {execution_id, offset, data}; offsets count characters."""
    _INSERT_LOGS.execute_many(conn, chunks)


def read_log(conn: Connection, execution_id: str, offset: int, limit: int) -> tuple[str, int]:
    """Up to `limit` characters from `offset`; returns (text, next offset)."""
    rows = conn.execute(
        sa.select(execution_logs.c.offset, execution_logs.c.data)
        .where(
            execution_logs.c.execution_id == execution_id,
            execution_logs.c.offset + sa.func.length(execution_logs.c.data) > offset,
        )
        .order_by(execution_logs.c.offset)
        .limit(1000)
    )
    parts: list[str] = []
    taken = 0
    for chunk_offset, data in rows:
        start = max(offset - chunk_offset, 0)
        piece = data[start : start + (limit - taken)]
        if not piece:
            continue
        parts.append(piece)
        taken += len(piece)
        if taken >= limit:
            break
    return "".join(parts), offset + taken


def log_end(conn: Connection, execution_id: str) -> int:
    """Characters of log stored for an execution."""
    query = sa.select(
        sa.func.coalesce(
            sa.func.max(execution_logs.c.offset + sa.func.length(execution_logs.c.data)), 0
        )
    ).where(execution_logs.c.execution_id == execution_id)
    return int((conn.execute(query)).scalar_one())


def in_statuses(
    conn: Connection, wanted: Iterable[Status], instance: str | None = None
) -> list[sa.Row[Any]]:
    """Executions in these statuses (of the server process `instance`, if given)."""
    query = sa.select(executions).where(executions.c.status.in_([s.value for s in wanted]))
    if instance is not None:
        query = query.where(executions.c.instance == instance)
    return list(conn.execute(query))


def end_parked(
    conn: Connection,
    execution_id: str,
    *,
    status: Status,
    at: datetime,
    message: str,
    result: Any = None,
    reason: EndReason | None = None,
) -> bool:
    """End a parked execution and its open attempt; False when it was not parked (ended
    already, or never parked). `reason`: why, when its status does not say it."""
    why = reason or default_reason(status)
    end_reason = None if why is None else why.value
    done = conn.execute(
        executions.update()
        .where(executions.c.id == execution_id, executions.c.parked.is_(True))
        .values(
            status=status.value,
            finished_at=at,
            message=message,
            result=result,
            parked=False,
            end_reason=end_reason,
        )
    )
    if not done.rowcount:
        return False
    for attempt in open_attempts(conn, execution_id):
        finish_attempt(
            conn,
            execution_id,
            attempt.number,
            status=status.value,
            finished_at=at,
            message=message,
            end_reason=end_reason,
        )
    return True


def open_attempts(conn: Connection, execution_id: str) -> list[sa.Row[Any]]:
    return list(
        conn.execute(
            sa.select(attempts).where(
                attempts.c.execution_id == execution_id, attempts.c.finished_at.is_(None)
            )
        )
    )


_BY_STATUS = (
    sa.select(executions.c.status, sa.func.count())
    .where(executions.c.status.in_(sa.bindparam("statuses", expanding=True)))
    .group_by(executions.c.status)
)


def count_by_status(conn: Connection, statuses: Iterable[Status]) -> dict[str, int]:
    """How many executions are in each of these statuses now."""
    rows = conn.execute(_BY_STATUS, {"statuses": [s.value for s in statuses]})
    return {r[0]: r[1] for r in rows}


_ATTEMPTS_OF_MANY = (
    sa.select(attempts)
    .where(attempts.c.execution_id.in_(sa.bindparam("eids", expanding=True)))
    .order_by(attempts.c.execution_id, attempts.c.number)
)


def _with_attempts(conn: Connection, rows: Sequence[sa.Row[Any]]) -> list[Execution]:
    by_execution: dict[str, list[sa.Row[Any]]] = {r.id: [] for r in rows}
    for chunk in _chunks(list(by_execution), 500):
        for attempt in conn.execute(_ATTEMPTS_OF_MANY, {"eids": chunk}):
            by_execution[attempt.execution_id].append(attempt)
    return [to_execution(r, by_execution[r.id]) for r in rows]


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    # SQLite allows a bounded number of parameters per statement.
    for start in range(0, len(items), size):
        yield items[start : start + size]


def get_many(conn: Connection, execution_ids: Iterable[str]) -> list[Execution]:
    """These executions, with their attempts, newest first; unknown ids are left out."""
    rows: list[sa.Row[Any]] = []
    for chunk in _chunks(list(dict.fromkeys(execution_ids)), 500):
        rows += conn.execute(sa.select(executions).where(executions.c.id.in_(chunk)))
    rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
    return _with_attempts(conn, rows)


def recent(conn: Connection, *, task_id: str | None, limit: int) -> list[Execution]:
    """The newest executions (of one task, or of all), with their attempts."""
    query = sa.select(executions)
    if task_id is not None:
        query = query.where(executions.c.task_id == task_id)
    query = query.order_by(executions.c.created_at.desc(), executions.c.id.desc()).limit(limit)
    return _with_attempts(conn, list(conn.execute(query)))


def unfinished(conn: Connection) -> list[Execution]:
    """Executions not yet ended (waiting, running or being aborted), with their attempts."""
    query = (
        sa.select(executions)
        .where(executions.c.status.in_([s.value for s in PENDING | ACTIVE]))
        .order_by(executions.c.created_at, executions.c.id)
    )
    return _with_attempts(conn, list(conn.execute(query)))


def unfinished_ids(conn: Connection, task_ids: Iterable[str]) -> list[str]:
    """The ids of these tasks' executions not yet ended, oldest first."""
    query = (
        sa.select(executions.c.id)
        .where(
            executions.c.task_id.in_(list(task_ids)),
            executions.c.status.in_([s.value for s in PENDING | ACTIVE]),
        )
        .order_by(executions.c.created_at, executions.c.id)
    )
    return list(conn.execute(query).scalars())


def latest_for_tasks(conn: Connection, task_ids: Iterable[str]) -> dict[str, Execution]:
    """Each task's newest execution, with its attempts; tasks never run are left out."""
    wanted = list(task_ids)
    newest = (
        sa.select(executions.c.task_id, sa.func.max(executions.c.created_at).label("at"))
        .where(executions.c.task_id.in_(sa.bindparam("tids", expanding=True)))
        .group_by(executions.c.task_id)
        .subquery()
    )
    query = sa.select(executions).join(
        newest,
        sa.and_(executions.c.task_id == newest.c.task_id, executions.c.created_at == newest.c.at),
    )
    rows: list[sa.Row[Any]] = []
    for chunk in _chunks(wanted, 500):
        rows += conn.execute(query, {"tids": chunk})
    latest: dict[str, Execution] = {}
    for execution in _with_attempts(conn, rows):
        known = latest.get(execution.task_id)
        if known is None or execution.id > known.id:  # same instant: one answer, always
            latest[execution.task_id] = execution
    return latest


def children_of(conn: Connection, parent_ids: Iterable[str]) -> list[Execution]:
    """The executions run for these (a workflow's members), by phase and age, with attempts."""
    rows: list[sa.Row[Any]] = []
    for chunk in _chunks(list(parent_ids), 500):
        rows += conn.execute(sa.select(executions).where(executions.c.parent_id.in_(chunk)))
    rows.sort(key=lambda r: (r.phase or 0, r.created_at, r.id))
    return _with_attempts(conn, rows)


def unfinished_children(
    conn: Connection, parent_id: str, *, lock: bool = True
) -> list[sa.Row[Any]]:
    """The executions run for `parent_id` that have not ended. With `lock`, on PostgreSQL,
    each is locked; one another transaction holds (ending it, claiming it, or a claim that
    only looked at it) is left out rather than waited for: a parent is always locked before
    its children here, and after them where a child's end is written, so waiting could
    deadlock. Without `lock`: all of them, as last committed."""
    query = (
        sa.select(executions)
        .where(
            executions.c.parent_id == parent_id,
            executions.c.status.in_([s.value for s in PENDING | ACTIVE]),
        )
        .order_by(executions.c.created_at, executions.c.id)
    )
    if lock and conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


def member_records(conn: Connection, parent_id: str) -> list[dict[str, Any]]:
    """What `from` paths read of the executions run for `parent_id`: each one's phase,
    member, result, status, params, exit code and message, oldest first."""
    columns = (
        executions.c.id,
        executions.c.task_id,
        executions.c.phase,
        executions.c.member,
        executions.c.status,
        executions.c.params,
        executions.c.result,
        executions.c.exit_code,
        executions.c.message,
    )
    query = (
        sa.select(*columns)
        .where(executions.c.parent_id == parent_id)
        .order_by(executions.c.created_at, executions.c.id)
    )
    return [
        {
            "execution_id": row.id,
            "task_id": row.task_id,
            "phase": row.phase,
            "member": row.member,
            "status": row.status,
            "params": row.params,
            "result": row.result,
            "exit_code": row.exit_code,
            "message": row.message,
        }
        for row in conn.execute(query)
    ]


def states_of(conn: Connection, execution_ids: Iterable[str]) -> dict[str, tuple[Any, Any]]:
    """The `state` each of these executions keeps (a workflow's progress), with its task's
    definition, where it has one."""
    found: dict[str, tuple[Any, Any]] = {}
    for chunk in _chunks(list(execution_ids), 500):
        query = sa.select(executions.c.id, executions.c.state, executions.c.task_spec).where(
            executions.c.id.in_(chunk)
        )
        found.update({r.id: (r.state, r.task_spec) for r in conn.execute(query) if r.state})
    return found


# A parked execution without its task's definition (a big workflow's is large): what moving
# it on reads at each of its members' ends.
_LEAN = sa.select(*(c for c in executions.c if c.name != "task_spec")).where(
    executions.c.id == sa.bindparam("eid")
)
_LEAN_LOCKED = _LEAN.with_for_update()
_SPEC_OF = sa.select(executions.c.task_spec).where(executions.c.id == sa.bindparam("eid"))


def lean_row(conn: Connection, execution_id: str, *, lock: bool = False) -> sa.Row[Any] | None:
    """The execution's row without `task_spec` (locked with `lock`, as `get_row`)."""
    return conn.execute(_LEAN_LOCKED if lock else _LEAN, {"eid": execution_id}).first()


def task_spec_of(conn: Connection, execution_id: str) -> Any:
    return conn.execute(_SPEC_OF, {"eid": execution_id}).scalar()


def broke_checks(
    conn: Connection, since: datetime, failed_prefix: str, limit: int
) -> list[Execution]:
    """Runs that ended since `since` and broke a check: with warnings, or failed by a check
    (their message starts with `failed_prefix`); the latest ends first."""
    # Warnings of a run that broke none are stored as NULL, JSON null or [] (older rows).
    warned = sa.and_(
        executions.c.warnings.is_not(None),
        sa.cast(executions.c.warnings, sa.Text).not_in(["null", "[]"]),
    )
    failed = sa.and_(
        executions.c.status == Status.FINISHED_FAIL.value,
        executions.c.message.startswith(failed_prefix, autoescape=True),
    )
    query = (
        sa.select(executions)
        .where(executions.c.finished_at >= since, sa.or_(warned, failed))
        .order_by(executions.c.finished_at.desc())
        .limit(limit)
    )
    return [to_execution(r) for r in conn.execute(query)]
