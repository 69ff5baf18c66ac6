"""Managing task definitions, from the API or from the config file."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import Connection

from taskgate.core.checks import deadlines
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.domain.actions import ActionSpec
from taskgate.domain.errors import ConfigError, Conflict, InvalidInput, NotFound
from taskgate.domain.executions import Caller
from taskgate.domain.selectors import Selector, parse_selector
from taskgate.domain.tasks import Task, TaskSource, TaskSpec
from taskgate.domain.workflows import find_cycle
from taskgate.store import audit
from taskgate.store import tasks as task_rows


@dataclass
class SyncReport:
    """What one sync changed; `skipped` are ids held by tasks of another source."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: list[str] = field(default_factory=list)


# Says why a stored task may not be changed here (it belongs to an outside system that syncs
# it), or None.
EditLock = Callable[[Task], str | None]


class TaskService:
    def __init__(
        self, ctx: CoreContext, check_action: Callable[[ActionSpec], None] | None = None
    ) -> None:
        self.ctx = ctx
        # Refuses (InvalidInput) an action this server cannot run, such as an unknown site.
        self.check_action = check_action or _any_action
        self.edit_locks: list[EditLock] = []

    def _refuse_locked(self, task: Task | None) -> None:
        """A synced task is changed where it comes from: the next sync would undo an edit."""
        if task is None:
            return
        for lock in self.edit_locks:
            reason = lock(task)
            if reason is not None:
                raise Conflict(reason, field="id")

    async def get(self, ref: str) -> Task:
        task = await self.ctx.db.read(lambda conn: task_rows.get(conn, ref))
        if task is None:
            raise NotFound.named("task", ref)
        return task

    async def listing(
        self, *, tag: str | None, enabled: bool | None, limit: int, offset: int
    ) -> tuple[list[Task], int]:
        return await self.ctx.db.read(
            lambda conn: task_rows.listing(
                conn, tag=tag, enabled=enabled, limit=limit, offset=offset
            )
        )

    async def find(self, selector: Selector) -> list[Task]:
        """The tasks one selector names, in a stable order, with no caller's allow-list applied
        (a door that must name one task before it starts it, e.g. QRS by name)."""
        return await self.ctx.db.read(lambda conn: task_rows.find(conn, selector))

    async def all(self) -> list[Task]:
        """Every task, by name: for doors whose lists are not paginated (QRS)."""
        return await self.ctx.db.read(task_rows.all_tasks)

    async def create(self, spec: TaskSpec, caller: Caller) -> Task:
        self.check_action(spec.action)

        def work(conn: Connection) -> Task:
            if spec.id is not None and task_rows.get(conn, str(spec.id)):
                raise Conflict(f"task {spec.id} already exists", field="id")
            task = _save(conn, spec, None, caller, source="api")
            check_contained(conn, [task])
            return task

        return await self.ctx.db.write(work)

    async def put(self, task_id: uuid.UUID, spec: TaskSpec, caller: Caller) -> tuple[Task, bool]:
        """Replace the task whole, or create it under this id; True when created."""
        self.check_action(spec.action)

        def work(conn: Connection) -> tuple[Task, bool]:
            existing = task_rows.get(conn, str(task_id))
            self._refuse_locked(existing)
            task = _save(conn, spec.model_copy(update={"id": task_id}), existing, caller, "api")
            check_contained(conn, [task])
            return task, existing is None

        return await self.ctx.db.write(work)

    async def delete(self, ref: str, caller: Caller) -> None:
        def work(conn: Connection) -> None:
            task = task_rows.get(conn, ref)
            if task is None:
                raise NotFound.named("task", ref)
            self._refuse_locked(task)
            _delete(conn, task, caller)

        await self.ctx.db.write(work)

    async def sync_from_config(self, specs: list[TaskSpec], caller: Caller) -> None:
        """Make the database hold the config's tasks; tasks made over the API stay."""
        try:
            await self._sync(specs, caller, "config", owns=lambda task: True, prune=None)
        except InvalidInput as exc:
            # A workflow naming a task that is not there, or one that contains itself.
            names = {str(s.id): s.label or s.name for s in specs}
            task = f"tasks.{names.get(exc.details.get('task', ''), '?')}"
            # The message starts with the field it names, under the task.
            raise ConfigError(f"{task}.{exc.message}", field=f"{task}.{exc.field}") from None

    async def sync_from_outside(
        self,
        source: TaskSource,
        specs: list[TaskSpec],
        caller: Caller,
        owns: Callable[[Task], bool],
    ) -> SyncReport:
        """Make the database hold the tasks an outside system (a Qlik Sense site) has, under
        their ids, as tasks of `source`; `owns` says which stored tasks came from it.

        Tasks it owns that are not in `specs` are deleted. Other tasks are never touched: an
        outside task whose id one of them holds is skipped (and reported).
        """
        return await self._sync(specs, caller, source, owns=owns, prune=owns)

    async def _sync(
        self,
        specs: list[TaskSpec],
        caller: Caller,
        source: TaskSource,
        *,
        owns: Callable[[Task], bool],
        prune: Callable[[Task], bool] | None,
    ) -> SyncReport:
        """The one sync rule: write each spec whose task is new or changed, if the stored task
        is one this sync `owns`; then delete the `prune`d tasks of `source` not in `specs`."""

        def work(conn: Connection) -> SyncReport:
            report = SyncReport()
            saved: list[Task] = []
            for spec in specs:
                existing = task_rows.get(conn, str(spec.id)) if spec.id else None
                if existing is not None and not owns(existing):
                    report.skipped.append(str(spec.id))
                elif existing is None or not _same(existing, spec):
                    saved.append(_save(conn, spec, existing, caller, source))
                    if existing is None:
                        report.created += 1
                    else:
                        report.updated += 1
                else:
                    report.unchanged += 1
            if prune is not None:
                wanted = {str(spec.id) for spec in specs}
                for task in task_rows.of_source(conn, source):
                    if prune(task) and task.key not in wanted:
                        _delete(conn, task, caller)
                        report.deleted += 1
            # Once all are written: a workflow may name a task written after it.
            check_contained(conn, saved)
            return report

        return await self.ctx.db.write(work)


def check_contained(conn: Connection, saved: list[Task]) -> None:
    """The tasks each saved task runs inside itself (a workflow's members) exist, and none
    of those or of the tasks it starts (a sequence's TASK steps) leads back to the saved task
    (A runs B runs A); InvalidInput naming the field, or the cycle. Runs in the saving
    transaction, after the write, so it sees the task as saved."""
    by_id: dict[str, Task | None] = {}

    def task_of(task_id: str) -> Task | None:
        if task_id not in by_id:
            by_id[task_id] = task_rows.get(conn, task_id)
        return by_id[task_id]

    def inside(task_id: str) -> list[str]:
        task = task_of(task_id)
        if task is None:
            return []
        found: list[str] = []
        for _, text in task.action.contains() + task.action.starts():
            found += [t.key for t in task_rows.find(conn, parse_selector(text))]
        return found

    for task in saved:
        by_id[task.key] = task
        contained = task.action.contains()
        for where, text in contained:
            if not task_rows.find(conn, parse_selector(text)):
                raise InvalidInput(f"{where}: no task matches {text!r}", field=where, task=task.key)
        links = contained + task.action.starts()
        if not links:
            continue
        cycle = find_cycle(task.key, inside)
        if cycle is not None:
            names = " → ".join(_called(task_of(i), i) for i in cycle)
            # The member through which the cycle leaves this task.
            where = next(
                w
                for w, text in links
                if cycle[1] in {t.key for t in task_rows.find(conn, parse_selector(text))}
            )
            raise InvalidInput(
                f"{where}: a cycle: {names} ({_called(task, task.key)} would run inside itself)",
                field=where,
                task=task.key,
                cycle=cycle,
            )


def _called(task: Task | None, task_id: str) -> str:
    if task is None:
        return task_id
    return task.label or task.name


def _delete(conn: Connection, task: Task, caller: Caller) -> None:
    task_rows.delete(conn, task.key)
    audit.record(
        conn,
        at=utcnow(),
        actor=caller.name,
        action="task.delete",
        target=task.key,
        details={"name": task.name, "source": task.source},
    )


def _save(
    conn: Connection,
    spec: TaskSpec,
    existing: Task | None,
    caller: Caller,
    source: TaskSource,
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
    deadlines.sync(conn, task, now)
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


def _any_action(_: ActionSpec) -> None:
    """Without a catalog (tests of the core alone), every well-formed action is accepted."""
