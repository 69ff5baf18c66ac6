"""What a process writes while it holds an execution (the claim's move to a new attempt, the
lease it renews, the end it writes only while it still holds the run), and the look for runs
whose holder is gone.

A holder is a server or worker process (`instance`); the pair (instance, attempt) fences every
write after the claim, so a run another process took over by lease is never written twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.status import ACTIVE
from taskgate.store.executions import finish_attempt, insert_attempts, update_each
from taskgate.store.prepared import Prepared
from taskgate.store.tables import attempts, executions

_ACTIVE_VALUES = [s.value for s in ACTIVE]

# A statement per pair of column sets (execution's, attempt's) for the writes that move an
# execution and its attempt in one statement on PostgreSQL: a claim gives one pair, an end two
# (with or without warnings).
_Pair = tuple[frozenset[str], frozenset[str]]
_CLAIM_ONE: dict[_Pair, Prepared] = {}
_END_HELD: dict[_Pair, Prepared] = {}


def _pair_params(
    base: dict[str, Any], execution: Mapping[str, Any], attempt: Mapping[str, Any]
) -> dict[str, Any]:
    """`base` with the execution's and the attempt's values, told apart by a prefix (the two
    tables share column names)."""
    params = dict(base)
    params.update({f"e_{name}": value for name, value in execution.items()})
    params.update({f"a_{name}": value for name, value in attempt.items()})
    return params


def claim_one(conn: Connection, change: dict[str, Any], attempt: dict[str, Any]) -> None:
    """`update_each([change])` and `insert_attempts([attempt])`: an execution moved to its new
    attempt. On PostgreSQL one statement, a round trip less between a claim and its run (the
    claim locked the row: the update finds it)."""
    if conn.dialect.name != "postgresql":  # SQLite: an UPDATE cannot sit in a WITH
        update_each(conn, [change])
        insert_attempts(conn, [attempt])
        return
    values = {name: value for name, value in change.items() if name != "eid"}
    params = _pair_params({"eid": change["eid"]}, values, attempt)
    _claim_one(frozenset(values), frozenset(attempt)).execute(conn, params)


def _claim_one(execution: frozenset[str], attempt: frozenset[str]) -> Prepared:
    """`WITH claimed AS (UPDATE executions ...) INSERT INTO attempts ...`: PostgreSQL runs a
    data-modifying WITH whether or not the rest reads it."""
    key = (execution, attempt)
    found = _CLAIM_ONE.get(key)
    if found is None:
        claimed = (
            executions.update()
            .where(executions.c.id == sa.bindparam("eid"))
            .values({name: sa.bindparam(f"e_{name}") for name in sorted(execution)})
            .returning(executions.c.id)
            .cte("claimed")
        )
        found = _CLAIM_ONE[key] = Prepared(
            attempts.insert()
            .values({name: sa.bindparam(f"a_{name}") for name in sorted(attempt)})
            .add_cte(claimed)
        )
    return found


_RENEW = (
    executions.update()
    .where(
        executions.c.instance == sa.bindparam("me"),
        executions.c.status.in_(_ACTIVE_VALUES),
    )
    .values(lease_until=sa.bindparam("until"), seen_at=sa.bindparam("seen"))
    .returning(executions.c.id)
)


def renew_leases(conn: Connection, instance: str, now: datetime, until: datetime) -> set[str]:
    """Extend every lease `instance` holds to `until`, in one statement, noting that its
    process was seen alive `now`; the ids it holds."""
    return set(conn.execute(_RENEW, {"me": instance, "until": until, "seen": now}).scalars())


def running_in_a_process(conn: Connection) -> list[sa.Row[Any]]:
    """Executions running (or being aborted) in some server process, i.e. not parked."""
    query = sa.select(executions).where(
        executions.c.status.in_(_ACTIVE_VALUES), executions.c.parked.is_(False)
    )
    return list(conn.execute(query))


def expired_leases(conn: Connection, now: datetime) -> list[sa.Row[Any]]:
    """Executions running (or being aborted) whose lease has ended: their process is gone.
    On PostgreSQL each is locked, and one a concurrent sweep holds is left to it."""
    query = sa.select(executions).where(
        executions.c.status.in_(_ACTIVE_VALUES),
        # A parked execution waits without a process: it has no lease to lose.
        executions.c.parked.is_(False),
        # No lease at all: claimed by a version of taskgate from before leases.
        sa.or_(executions.c.lease_until.is_(None), executions.c.lease_until < now),
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(conn.execute(query))


# The SET clause comes from the keys of the values given (compiled once per set of keys).
_UPDATE_HELD = Prepared(
    executions.update().where(
        executions.c.id == sa.bindparam("eid"),
        executions.c.instance == sa.bindparam("held_by"),
        executions.c.attempt_count == sa.bindparam("attempt"),
    )
)


def update_held(
    conn: Connection, execution_id: str, held_by: str, attempt: int, **values: Any
) -> bool:
    """Update an execution only while the instance `held_by` holds it for this `attempt`; False
    when it was taken over (its lease ended and another process ended or retried it)."""
    changed = _UPDATE_HELD.execute(
        conn, {"eid": execution_id, "held_by": held_by, "attempt": attempt, **values}
    )
    return bool(changed)


def end_held(
    conn: Connection,
    execution_id: str,
    held_by: str,
    attempt: int,
    execution: dict[str, Any],
    attempt_values: dict[str, Any],
) -> bool:
    """`update_held` with `execution`, then (if held) `finish_attempt` of that attempt with
    `attempt_values`; False, and nothing written, when it was taken over. On PostgreSQL one
    statement: a run's end waits for one answer, not two (bench/README.md, branch pipe19)."""
    if conn.dialect.name != "postgresql":  # SQLite: an UPDATE cannot sit in a WITH
        if not update_held(conn, execution_id, held_by, attempt, **execution):
            return False
        finish_attempt(conn, execution_id, attempt, **attempt_values)
        return True
    statement = _end_held(frozenset(execution), frozenset(attempt_values))
    base = {"eid": execution_id, "held_by": held_by, "attempt": attempt}
    # The attempt's row is updated only through the execution's row that RETURNING gave, and
    # it exists while the run is held (the claim writes both): its count says "held".
    return bool(statement.execute(conn, _pair_params(base, execution, attempt_values)))


def _end_held(execution: frozenset[str], attempt: frozenset[str]) -> Prepared:
    """`WITH held AS (UPDATE executions ... RETURNING id) UPDATE attempts ...`, for one set of
    columns of each."""
    key = (execution, attempt)
    found = _END_HELD.get(key)
    if found is None:
        held = (
            executions.update()
            .where(
                executions.c.id == sa.bindparam("eid"),
                executions.c.instance == sa.bindparam("held_by"),
                executions.c.attempt_count == sa.bindparam("attempt"),
            )
            .values({name: sa.bindparam(f"e_{name}") for name in sorted(execution)})
            .returning(executions.c.id)
            .cte("held")
        )
        found = _END_HELD[key] = Prepared(
            attempts.update()
            .where(
                attempts.c.execution_id.in_(sa.select(held.c.id)),
                attempts.c.number == sa.bindparam("attempt"),
            )
            .values({name: sa.bindparam(f"a_{name}") for name in sorted(attempt)})
        )
    return found
