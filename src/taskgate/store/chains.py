"""Chain rules, their open windows and their firings."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from taskgate.domain.chains import Chain, Window
from taskgate.store.conflicts import conflict_insert
from taskgate.store.definitions import DefinitionRows
from taskgate.store.prepared import PreparedQuery
from taskgate.store.tables import chain_firings, chain_windows, chains

_ENABLED = sa.select(chains).where(chains.c.enabled.is_(True)).order_by(chains.c.id)
# Every run's end asks which rules are enabled, and at which version: two columns (a rule's
# full row is read again only when it changed), on the driver's cursor.
_ENABLED_VERSIONS = PreparedQuery(
    sa.select(chains.c.id, chains.c.updated_at)
    .where(chains.c.enabled.is_(True))
    .order_by(chains.c.id)
)
_ENABLED_OF = _ENABLED.where(chains.c.id.in_(sa.bindparam("ids", expanding=True)))
_LOCK = sa.select(chains.c.id).where(chains.c.id == sa.bindparam("cid")).with_for_update()
_WINDOW = sa.select(chain_windows).where(chain_windows.c.chain_id == sa.bindparam("cid"))

# Counts this process's writes of rules: where this process is the database's only writer
# (SQLite), the end hook that fires the rules reads them again only after one.
_generation = 0


def generation() -> int:
    return _generation


def _changed() -> None:
    global _generation
    _generation += 1


_RULES = DefinitionRows(
    chains,
    Chain,
    ("id", "enabled", "source", "fire_count", "created_at", "updated_at"),
    on_insert={"fire_count": 0},  # counted by add_fire_count
)


def to_chain(row: sa.Row[Any]) -> Chain:
    return _RULES.parse(row)


def get(conn: Connection, chain_id: str) -> Chain | None:
    return _RULES.get(conn, chain_id)


def listing(conn: Connection) -> list[Chain]:
    return _RULES.listing(conn)


def enabled(conn: Connection) -> list[Chain]:
    return [to_chain(r) for r in conn.execute(_ENABLED)]


def enabled_versions(conn: Connection) -> list[tuple[str, datetime]]:
    """(id, updated_at) of each enabled rule, by id: a rule's `updated_at` changes with every
    save, so a rule parsed at that version is still the rule."""
    return [(r.id, r.updated_at) for r in _ENABLED_VERSIONS.rows(conn, {})]


def enabled_rows_of(conn: Connection, ids: Iterable[str]) -> list[sa.Row[Any]]:
    """The rows of those rules that are (still) enabled, by id."""
    return list(conn.execute(_ENABLED_OF, {"ids": list(ids)}))


def save(conn: Connection, chain: Chain, *, insert: bool) -> None:
    _changed()
    _RULES.save(conn, chain, insert=insert)


def delete(conn: Connection, chain_id: str) -> None:
    _changed()
    conn.execute(chain_windows.delete().where(chain_windows.c.chain_id == chain_id))
    conn.execute(chains.delete().where(chains.c.id == chain_id))


def ids_from_source(conn: Connection, source: str) -> list[str]:
    return list(conn.execute(sa.select(chains.c.id).where(chains.c.source == source)).scalars())


def lock(conn: Connection, chain_id: str, *, skip_locked: bool = False) -> bool:
    """Hold the rule's row until the transaction ends (PostgreSQL): its window and firings
    change one writer at a time. False when it is gone (or, with `skip_locked`, held)."""
    query = _LOCK
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    return conn.execute(query, {"cid": chain_id}).first() is not None


# --- windows ------------------------------------------------------------------------------


def window(conn: Connection, chain_id: str) -> Window | None:
    row = conn.execute(_WINDOW, {"cid": chain_id}).first()
    if row is None:
        return None
    return Window.from_row(row.opened_at, row.expires_at, row.met)


def put_window(conn: Connection, chain_id: str, win: Window, *, insert: bool) -> None:
    values = {"opened_at": win.opened_at, "expires_at": win.expires_at, "met": win.met_json()}
    if insert:
        conn.execute(chain_windows.insert().values(chain_id=chain_id, **values))
    else:
        conn.execute(
            chain_windows.update().where(chain_windows.c.chain_id == chain_id).values(**values)
        )


def drop_window(conn: Connection, chain_id: str) -> None:
    conn.execute(chain_windows.delete().where(chain_windows.c.chain_id == chain_id))


def expired_windows(conn: Connection, now: datetime, limit: int = 100) -> list[str]:
    query = (
        sa.select(chain_windows.c.chain_id)
        .where(chain_windows.c.expires_at < now)
        .order_by(chain_windows.c.expires_at)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def next_expiry(conn: Connection) -> datetime | None:
    # Not min(): on SQLite that loses the column's type (and its time zone).
    row = conn.execute(
        sa.select(chain_windows.c.expires_at).order_by(chain_windows.c.expires_at).limit(1)
    ).first()
    return row.expires_at if row else None


def open_windows(conn: Connection) -> dict[str, Window]:
    rows = conn.execute(sa.select(chain_windows))
    return {r.chain_id: Window.from_row(r.opened_at, r.expires_at, r.met) for r in rows}


# --- firings ------------------------------------------------------------------------------


def claim_firing(conn: Connection, chain_id: str, key: str, at: datetime) -> int | None:
    """Take the firing key of these ends for this rule: its row id, or None when these ends
    have fired it before (a replayed end)."""
    statement = (
        conflict_insert(conn, chain_firings)
        .values(
            chain_id=chain_id,
            key=key,
            at=at,
            outcome="pending",
            triggered_by=[],
            execution_ids=[],
            message="",
        )
        .on_conflict_do_nothing(index_elements=["chain_id", "key"])
        .returning(chain_firings.c.id)
    )
    return conn.execute(statement).scalar()


def record_firing(
    conn: Connection,
    firing_id: int,
    *,
    outcome: str,
    triggered_by: list[str],
    execution_ids: list[str],
    message: str,
) -> None:
    conn.execute(
        chain_firings.update()
        .where(chain_firings.c.id == firing_id)
        .values(
            outcome=outcome,
            triggered_by=triggered_by,
            execution_ids=execution_ids,
            message=message,
        )
    )


def add_fire_count(conn: Connection, chain_id: str) -> None:
    conn.execute(
        chains.update().where(chains.c.id == chain_id).values(fire_count=chains.c.fire_count + 1)
    )


def purge_firings_before(conn: Connection, cutoff: datetime) -> int:
    result = conn.execute(chain_firings.delete().where(chain_firings.c.at < cutoff))
    return int(result.rowcount or 0)


def firings(conn: Connection, chain_id: str, limit: int) -> list[dict[str, Any]]:
    query = (
        sa.select(chain_firings)
        .where(chain_firings.c.chain_id == chain_id)
        .order_by(chain_firings.c.id.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in conn.execute(query)]
