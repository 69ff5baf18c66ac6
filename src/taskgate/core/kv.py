"""The key-value store: how callers hand parameters to runs (Butler's model), persisted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.domain.errors import InvalidInput, NotFound
from taskgate.domain.executions import Caller
from taskgate.domain.kv import (
    KvEntry,
    KvLimits,
    KvWrite,
    check_key,
    check_namespace,
    check_scope,
    check_write,
)
from taskgate.store import kv as rows


def write_items(
    conn: Connection, items: Sequence[KvWrite], limits: KvLimits, now: datetime
) -> list[KvEntry]:
    """Store values inside the caller's transaction (a start writes them with its executions)."""
    written: list[KvEntry] = []
    for item in items:
        check_write(item, limits)
        ns_id = rows.namespace_id(conn, item.namespace)
        if ns_id is None:
            if rows.namespace_count(conn) >= limits.max_namespaces:
                raise InvalidInput(
                    f"the store already holds {limits.max_namespaces} namespaces (the limit)",
                    field="namespace",
                )
            ns_id = rows.ensure_namespace(conn, item.namespace, now)
        replacing = rows.get(conn, ns_id, item.namespace, item.key, now) is not None
        if not replacing and rows.count_live(conn, ns_id, now) >= limits.max_keys_per_namespace:
            raise InvalidInput(
                f"namespace {item.namespace!r} already holds {limits.max_keys_per_namespace} "
                "keys (the limit)",
                field="key",
            )
        expires_at = item.expires_at(now)
        rows.upsert(conn, ns_id, item.key, item.value, expires_at, now, item.secret)
        written.append(KvEntry(item.namespace, item.key, item.value, expires_at, now, item.secret))
    return written


def _namespace(conn: Connection, namespace: str) -> int:
    check_namespace(namespace)
    ns_id = rows.namespace_id(conn, namespace)
    if ns_id is None:
        raise NotFound.named("namespace", namespace)
    return ns_id


def _scope(caller: Caller | None) -> frozenset[str] | None:
    return caller.kv_namespaces if caller is not None else None


class KvService:
    """The store. A `caller` narrowed to some namespaces (an execution's token) may use only
    those; without one (a door that checked its callers itself) every namespace is open."""

    def __init__(self, ctx: CoreContext, limits: KvLimits) -> None:
        self.ctx = ctx
        self.limits = limits

    async def put(self, item: KvWrite, caller: Caller | None = None) -> KvEntry:
        check_scope(_scope(caller), item.namespace)

        def work(conn: Connection) -> KvEntry:
            return write_items(conn, [item], self.limits, utcnow())[0]

        return (await self.ctx.db.write(work)).shown()

    async def ensure_namespace(self, namespace: str) -> None:
        """Create an empty namespace (Butler creates one even when a POST stores nothing)."""
        check_namespace(namespace)

        def work(conn: Connection) -> None:
            if rows.namespace_id(conn, namespace) is None:
                if rows.namespace_count(conn) >= self.limits.max_namespaces:
                    raise InvalidInput(
                        f"the store already holds {self.limits.max_namespaces} namespaces",
                        field="namespace",
                    )
                rows.ensure_namespace(conn, namespace, utcnow())

        await self.ctx.db.write(work)

    async def get(self, namespace: str, key: str, caller: Caller | None = None) -> KvEntry:
        entry = await self.find(namespace, key, caller)
        if entry is None:
            raise NotFound(f"key {key!r} not found in namespace {namespace!r}", field="key")
        return entry

    async def find(self, namespace: str, key: str, caller: Caller | None = None) -> KvEntry | None:
        """The live entry, or None; a namespace that does not exist is an error."""
        check_scope(_scope(caller), namespace)
        check_key(key)

        def work(conn: Connection) -> KvEntry | None:
            return rows.get(conn, _namespace(conn, namespace), namespace, key, utcnow())

        entry = await self.ctx.db.read(work)
        return entry.shown() if entry is not None else None

    async def entries(self, namespace: str, caller: Caller | None = None) -> list[KvEntry]:
        check_scope(_scope(caller), namespace)

        def work(conn: Connection) -> list[KvEntry]:
            return rows.entries(conn, _namespace(conn, namespace), namespace, utcnow())

        return [entry.shown() for entry in await self.ctx.db.read(work)]

    async def namespaces(self) -> list[str]:
        return await self.ctx.db.read(rows.namespaces)

    async def namespace_sizes(self, caller: Caller | None = None) -> list[tuple[str, int]]:
        """(namespace, live keys) for every namespace the caller may use, in creation order."""
        scope = _scope(caller)
        sizes = await self.ctx.db.read(lambda conn: rows.namespace_sizes(conn, utcnow()))
        return [(ns, n) for ns, n in sizes if scope is None or ns in scope]

    async def delete(self, namespace: str, key: str, caller: Caller | None = None) -> None:
        check_scope(_scope(caller), namespace)
        check_key(key)

        def work(conn: Connection) -> None:
            if not rows.delete(conn, _namespace(conn, namespace), key, utcnow()):
                raise NotFound(f"key {key!r} not found in namespace {namespace!r}", field="key")

        await self.ctx.db.write(work)

    async def delete_namespace(self, namespace: str, caller: Caller | None = None) -> None:
        check_scope(_scope(caller), namespace)

        def work(conn: Connection) -> None:
            rows.drop_namespace(conn, _namespace(conn, namespace))

        await self.ctx.db.write(work)

    async def sweep(self) -> int:
        """Delete expired entries, so they do not pile up; reads ignore them anyway."""
        return await self.ctx.db.write(lambda conn: rows.purge_expired(conn, utcnow()))
