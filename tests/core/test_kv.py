"""The key-value store in the core, on both engines: limits, expiry and the sweep."""

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from taskgate.core.context import CoreContext
from taskgate.core.events import EventBus
from taskgate.core.kv import KvService
from taskgate.domain.errors import InvalidInput, NotFound
from taskgate.domain.kv import KvLimits, KvWrite
from taskgate.store.db import Database
from tests.conftest import Backend

Check = Callable[[KvService], Awaitable[None]]


def run_with_store(backend: Backend, tmp_path: Path, limits: KvLimits, check: Check) -> None:
    db = Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")

    async def main() -> None:
        await db.migrate()
        try:
            await check(KvService(CoreContext(db=db, bus=EventBus(), node="n"), limits))
        finally:
            await db.close()

    asyncio.run(main())


def test_the_sweep_deletes_only_expired_entries(backend: Backend, tmp_path: Path) -> None:
    async def check(kv: KvService) -> None:
        await kv.put(KvWrite("ns", "gone", "a", ttl_ms=1))
        await kv.put(KvWrite("ns", "kept", "b", ttl_ms=3_600_000))
        await kv.put(KvWrite("ns", "forever", "c"))
        await asyncio.sleep(0.01)  # the 1 ms time to live must run out in real time
        assert await kv.find("ns", "gone") is None
        assert await kv.sweep() == 1
        assert [e.key for e in await kv.entries("ns")] == ["forever", "kept"]
        assert await kv.sweep() == 0

    run_with_store(backend, tmp_path, KvLimits(), check)


def test_limits(backend: Backend, tmp_path: Path) -> None:
    async def check(kv: KvService) -> None:
        with pytest.raises(InvalidInput) as too_big:
            await kv.put(KvWrite("ns", "k", "é" * 6))  # 12 bytes in UTF-8
        assert too_big.value.field == "value"
        await kv.put(KvWrite("ns", "a", "1"))
        await kv.put(KvWrite("ns", "b", "2"))
        with pytest.raises(InvalidInput) as too_many:
            await kv.put(KvWrite("ns", "c", "3"))
        assert too_many.value.field == "key"
        with pytest.raises(InvalidInput) as namespaces:
            await kv.put(KvWrite("other", "a", "1"))
        assert namespaces.value.field == "namespace"
        with pytest.raises(InvalidInput):
            await kv.put(KvWrite("ns", "", "1"))

    limits = KvLimits(max_value_bytes=10, max_keys_per_namespace=2, max_namespaces=1)
    run_with_store(backend, tmp_path, limits, check)


def test_missing_namespace_and_key_are_told_apart(backend: Backend, tmp_path: Path) -> None:
    async def check(kv: KvService) -> None:
        with pytest.raises(NotFound) as no_namespace:
            await kv.get("ns", "k")
        assert no_namespace.value.field == "namespace"
        await kv.put(KvWrite("ns", "other", "v"))
        with pytest.raises(NotFound) as no_key:
            await kv.get("ns", "k")
        assert no_key.value.field == "key"

    run_with_store(backend, tmp_path, KvLimits(), check)
