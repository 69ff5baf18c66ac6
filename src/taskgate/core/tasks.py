"""Managing task definitions, from the API or from the config file."""

from __future__ import annotations

import uuid
from typing import Literal

from sqlalchemy import Connection

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
        task = await self.ctx.db.read(lambda conn: task_rows.get(conn, ref))
        if task is None:
            raise NotFound(f"task {ref!r} not found", field="task")
        return task

    async def listing(
        self, *, tag: str | None, enabled: bool | None, limit: int, offset: int
    ) -> tuple[list[Task], int]:
        return await self.ctx.db.read(
            lambda conn: task_rows.listing(
                conn, tag=tag, enabled=enabled, limit=limit, offset=offset
            )
        )

    async def all(self) -> list[Task]:
        """Every task, by name: for doors whose lists are not paginated (QRS)."""
        return await self.ctx.db.read(task_rows.all_tasks)

    async def create(self, spec: TaskSpec, caller: Caller) -> Task:
        def work(conn: Connection) -> Task:
            if spec.id is not None and task_rows.get(conn, str(spec.id)):
                raise Conflict(f"task {spec.id} already exists", field="id")
            return _save(conn, spec, None, caller, source="api")

        return await self.ctx.db.write(work)

    async def put(self, task_id: uuid.UUID, spec: TaskSpec, caller: Caller) -> tuple[Task, bool]:
        """Replace the task whole, or create it under this id; True when created."""

        def work(conn: Connection) -> tuple[Task, bool]:
            existing = task_rows.get(conn, str(task_id))
            task = _save(conn, spec.model_copy(update={"id": task_id}), existing, caller, "api")
            return task, existing is None

        return await self.ctx.db.write(work)

    async def delete(self, ref: str, caller: Caller) -> None:
        def work(conn: Connection) -> None:
            task = task_rows.get(conn, ref)
            if task is None:
                raise NotFound(f"task {ref!r} not found", field="task")
            task_rows.delete(conn, task.key)
            audit.record(
                conn,
                at=utcnow(),
                actor=caller.name,
                action="task.delete",
                target=task.key,
                details={"name": task.name},
            )

        await self.ctx.db.write(work)

    async def sync_from_config(self, specs: list[TaskSpec], caller: Caller) -> None:
        """Make the database hold the config's tasks; tasks made over the API stay."""

        def work(conn: Connection) -> None:
            for spec in specs:
                existing = task_rows.get(conn, str(spec.id)) if spec.id else None
                if existing is None or not _same(existing, spec):
                    _save(conn, spec, existing, caller, "config")

        await self.ctx.db.write(work)


def _save(
    conn: Connection,
    spec: TaskSpec,
    existing: Task | None,
    caller: Caller,
    source: Literal["api", "config"],
) -> Task:
    task_id = spec.id or uuid.uuid4()
    if spec.label is not None:
        owner = task_rows.label_owner(conn, spec.label)
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
    task_rows.save(conn, task, insert=existing is None)
    audit.record(
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
