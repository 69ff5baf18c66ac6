"""Reads a sequence's key-value values from the store (see engine/actions/sequence_kv.py)."""

from __future__ import annotations

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.domain.kv import ALL_NAMESPACES
from taskgate.engine.actions.sequence_kv import RunValues, RunValuesSource
from taskgate.store import kv as rows
from taskgate.store.db import Database


def run_values_source(db: Database) -> RunValuesSource:
    async def load(namespaces: list[str]) -> RunValues:
        wanted = [ns for ns in namespaces if ns != ALL_NAMESPACES]
        if not wanted:
            return RunValues()

        def work(conn: Connection) -> RunValues:
            found = RunValues()
            now = utcnow()
            for namespace in wanted:
                ns_id = rows.namespace_id(conn, namespace)
                if ns_id is None:
                    continue
                entries = rows.entries(conn, ns_id, namespace, now)
                found.values[namespace] = {entry.key: entry.value for entry in entries}
                found.secrets.extend(e.value for e in entries if e.secret and e.value)
            found.secrets.sort(key=len, reverse=True)
            return found

        return await db.read(work)

    return RunValuesSource(load)
