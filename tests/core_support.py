"""The core in the test's own process, on a new database of the test's backend: its services
alone (no executor, so every accepted start stays queued), or with a local executor wired as
app/assembly.py wires it, so that what starts runs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from taskgate.core.context import CoreContext
from taskgate.core.events import EventBus
from taskgate.core.services import Services
from taskgate.core.starts.request import StartRequest
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import parse_selector
from taskgate.domain.tasks import TaskSpec
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.actions.contract import Resources
from taskgate.engine.local import ExecutorLimits, LocalExecutor
from taskgate.store.db import Database
from tests.conftest import Backend

CALLER = Caller("t", scope="t")
Check = Callable[[Services], Awaitable[None]]


def new_database(backend: Backend, tmp_path: Path) -> Database:
    """A database of its own on the backend (on SQLite, a file in tmp_path); not migrated."""
    return Database(backend.new_database(tmp_path) or f"sqlite:///{tmp_path / 'db.sqlite'}")


def services_on(db: Database, **options: Any) -> Services:
    """The core's services on `db`, with authentication off and no executor."""
    return Services.build(CoreContext(db=db, bus=EventBus(), node="n"), auth_none=True, **options)


@asynccontextmanager
async def core(backend: Backend, tmp_path: Path, **options: Any) -> AsyncIterator[Services]:
    """`services_on` a new migrated database, closed on the way out."""
    db = new_database(backend, tmp_path)
    try:
        await db.migrate()
        yield services_on(db, **options)
    finally:
        await db.close()


def run_with_services(backend: Backend, tmp_path: Path, check: Check, **options: Any) -> None:
    """Runs `check` on the `core`'s services (`options` as Services.build takes them)."""

    async def main() -> None:
        async with core(backend, tmp_path, **options) as services:
            await check(services)

    asyncio.run(main())


@asynccontextmanager
async def running_core(
    backend: Backend, tmp_path: Path, limits: ExecutorLimits | None = None
) -> AsyncIterator[Services]:
    """The core's services with a local executor (its data in tmp_path; leases of 5 s unless
    `limits` say otherwise): the action catalog checks the specs saved and runs workflows."""
    db = new_database(backend, tmp_path)
    try:
        await db.migrate()
        ctx = CoreContext(db=db, bus=EventBus(), node="n")
        resources = Resources()
        actions = ActionCatalog(resources)
        services = Services.build(ctx, auth_none=True, check_action=actions.check)
        resources.provide(services.workflows)
        await services.tokens.load()
        executor = LocalExecutor(
            ctx,
            limits or ExecutorLimits(lease_seconds=5),
            tmp_path,
            "http://127.0.0.1:1",
            services.tokens,
            actions,
        )
        ctx.executor = executor
        await executor.start()
        try:
            yield services
        finally:
            await executor.stop()
    finally:
        await db.close()


async def make_task(
    services: Services, label: str, argv: Sequence[str] = ("true",), **fields: object
) -> str:
    """A command task named and labelled `label`; its id."""
    action = {"kind": "command", "argv": list(argv)}
    spec = TaskSpec.model_validate({"name": label, "label": label, "action": action, **fields})
    return (await services.tasks.create(spec, CALLER)).key


def request(selector: str, key: str | None = None, **fields: object) -> StartRequest:
    """A start of what `selector` names, by CALLER."""
    return StartRequest(
        selectors=[parse_selector(selector)],
        origin="test",
        caller=CALLER,
        idempotency_key=key,
        **fields,  # type: ignore[arg-type]
    )
