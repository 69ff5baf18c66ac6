"""Managing task definitions, from the API or from the config file."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncConnection

from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.domain.errors import Conflict, NotFound
from taskgate.domain.executions import Caller
from taskgate.domain.tasks import Task, TaskSpec
from taskgate.store import audit
from taskgate.store import tasks as task_rows


class TaskService:
    def __init__(self, ctx: CoreContext) -> None:
        self.ctx = ctx

    async def get(self, ref: str) -> Task:
        async with self.ctx.db.read() as conn:
            task = await task_rows.get(conn, ref)
        if task is None:
            raise NotFound(f"task {ref!r} not found", field="task")
        return task

    async def listing(
        self, *, tag: str | None, enabled: bool | None, limit: int, offset: int
    ) -> tuple[list[Task], int]:
        async with self.ctx.db.read() as conn:
            return await task_rows.listing(
                conn, tag=tag, enabled=enabled, limit=limit, offset=offset
            )

    async def create(self, spec: TaskSpec, caller: Caller) -> Task:
        async with self.ctx.db.write() as conn:
            if spec.id is not None and await task_rows.get(conn, str(spec.id)):
                raise Conflict(f"task {spec.id} already exists", field="id")
            return await self._save(conn, spec, None, caller, source="api")

    async def put(self, task_id: uuid.UUID, spec: TaskSpec, caller: Caller) -> tuple[Task, bool]:
        """Replace the task whole, or create it under this id; True when created."""
        async with self.ctx.db.write() as conn:
            existing = await task_rows.get(conn, str(task_id))
            spec = spec.model_copy(update={"id": task_id})
            task = await self._save(conn, spec, existing, caller, source="api")
            return task, existing is None

    async def delete(self, ref: str, caller: Caller) -> None:
        async with self.ctx.db.write() as conn:
            task = await task_rows.get(conn, ref)
            if task is None:
                raise NotFound(f"task {ref!r} not found", field="task")
            await task_rows.delete(conn, task.key)
            await audit.record(
                conn,
                at=utcnow(),
                actor=caller.name,
                action="task.delete",
                target=task.key,
                details={"name": task.name},
            )

    async def sync_from_config(self, specs: list[TaskSpec], caller: Caller) -> None:
        """Make the database hold the config's tasks; tasks made over the API stay."""
        async with self.ctx.db.write() as conn:
            for spec in specs:
                existing = await task_rows.get(conn, str(spec.id)) if spec.id else None
                if existing is not None and _same(existing, spec):
                    continue
                await self._save(conn, spec, existing, caller, source="config")

    async def _save(
        self,
        conn: AsyncConnection,
        spec: TaskSpec,
        existing: Task | None,
        caller: Caller,
        *,
        source: Literal["api", "config"],
    ) -> Task:
        task_id = spec.id or uuid.uuid4()
        if spec.label is not None:
            owner = await task_rows.label_owner(conn, spec.label)
            if owner is not None and owner != str(task_id):
                raise Conflict(f"label {spec.label!r} is used by task {owner}", field="label")
        now = utcnow()
        task = Task.model_validate(
            {
                **spec.model_dump(exclude={"id"}),
                "id": task_id,
                "source": source,
                "created_at": existing.created_at if existing else now,
                "updated_at": now,
            }
        )
        await task_rows.save(conn, task, insert=existing is None)
        await audit.record(
            conn,
            at=now,
            actor=caller.name,
            action="task.create" if existing is None else "task.update",
            target=task.key,
            details={"name": task.name, "source": source},
        )
        return task


def _same(task: Task, spec: TaskSpec) -> bool:
    stored = task.model_dump(exclude={"id", "source", "created_at", "updated_at"})
    return bool(stored == spec.model_dump(exclude={"id"}))
