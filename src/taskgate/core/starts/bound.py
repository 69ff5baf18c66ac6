"""Backpressure: the bound on executions waiting to run, checked in the start's transaction.

This is the one place the bound is judged. A start from outside (a door, the scheduler) that
would take the executions waiting to run past `executor.max_queued`, or its task's past
`concurrency.max_queued`, is refused whole with `QueueFull` (each door answers it as its
clients expect: 429/503 with Retry-After, MQTT holds the PUBACK). Starts made for work already
accepted - a workflow's members, a sequence's task steps (`parent_id`), a chain rule's starts -
are never refused: the bound keeps new work out, it does not break work in progress; they are
counted like any other waiting execution.

The count is read under the start's write lock (SQLite's BEGIN IMMEDIATE; on PostgreSQL a
transaction-scoped advisory lock taken only when a bound applies), once per transaction, and
kept up to date with what the transaction adds: concurrent starts cannot overshoot. With
`executor.max_queued` set the lock is taken before the start writes anything; with only
per-task bounds it is taken once a bounded task is found, after the request's key-value items
are written, so two PostgreSQL transactions writing the same key-value item could deadlock:
PostgreSQL then aborts one, and the start service commits that batch's starts one by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from sqlalchemy import Connection

from taskgate.core.starts.request import StartRequest
from taskgate.domain.errors import QueueFull
from taskgate.domain.tasks import Task
from taskgate.store import slots

GLOBAL_BOUND = "executor.max_queued"
TASK_BOUND = "concurrency.max_queued"


class QueueBound:
    """The configured bound, and how many starts it refused (by bound and origin)."""

    def __init__(self, max_queued: int | None = None, retry_after: int = 1) -> None:
        self.max_queued = max_queued
        self.retry_after = retry_after
        self.refused: Counter[tuple[str, str]] = Counter()

    def room(self) -> QueueRoom:
        return QueueRoom(self)


UNBOUNDED = QueueBound()


def exempt(request: StartRequest) -> bool:
    """A start made for work already accepted (a member, a step, a chained start)."""
    return request.parent_id is not None or request.chain is not None


class QueueRoom:
    """The bound as one start transaction sees it: each count is read once, then kept up to
    date with what the transaction adds."""

    def __init__(self, bound: QueueBound) -> None:
        self.bound = bound
        self._locked = False
        self._all: int | None = None
        self._of_task: dict[str, int] = {}

    @property
    def locked(self) -> bool:
        return self._locked

    def rolled_back(self, was_locked: bool) -> None:
        """A savepoint was rolled back: a lock taken inside it is gone (PostgreSQL releases
        it), and counts read under it may go stale."""
        if not was_locked and self._locked:
            self._locked = False
            self._all = None
            self._of_task.clear()

    def prepare(self, conn: Connection, request: StartRequest) -> None:
        """Take the lock before the request writes anything (its key-value items), so that a
        transaction never waits for it while holding rows another one holding it wants."""
        if self.bound.max_queued is not None and not exempt(request):
            self._lock(conn)

    def admit(self, conn: Connection, request: StartRequest, adding: Iterable[Task]) -> None:
        """Count in one waiting execution per item of `adding`, or raise QueueFull and count
        in nothing."""
        tasks = list(adding)
        if not tasks:
            return
        per_task: Counter[str] = Counter(t.key for t in tasks)
        if not exempt(request):
            self._check(conn, request, tasks, per_task)
        if self._all is not None:
            self._all += len(tasks)
        for key, count in per_task.items():
            if key in self._of_task:
                self._of_task[key] += count

    def _check(
        self, conn: Connection, request: StartRequest, tasks: list[Task], per_task: Counter[str]
    ) -> None:
        limit = self.bound.max_queued
        if limit is not None:
            if self._all is None:
                self._lock(conn)
                self._all = slots.count_waiting(conn, limit)
            if self._all + len(tasks) > limit:
                raise self._refuse(
                    request,
                    GLOBAL_BOUND,
                    limit,
                    None,
                    f"start refused: {limit} executions are already waiting to run "
                    f"({GLOBAL_BOUND}: {limit})",
                )
        for task in {t.key: t for t in tasks}.values():
            task_limit = task.concurrency.max_queued
            if task_limit is None:
                continue
            if task.key not in self._of_task:
                self._lock(conn)
                self._of_task[task.key] = slots.count_waiting(conn, task_limit, task.key)
            if self._of_task[task.key] + per_task[task.key] > task_limit:
                raise self._refuse(
                    request,
                    TASK_BOUND,
                    task_limit,
                    task.key,
                    f"start refused: task {task.name!r} already has {task_limit} executions "
                    f"waiting to run (its {TASK_BOUND}: {task_limit})",
                )

    def _refuse(
        self, request: StartRequest, bound: str, limit: int, task_id: str | None, message: str
    ) -> QueueFull:
        self.bound.refused[(bound, request.origin)] += 1
        seconds = self.bound.retry_after
        return QueueFull(
            f"{message}; retry after {seconds} s",
            retry_after=seconds,
            bound=bound,
            max_queued=limit,
            task_id=task_id,
        )

    def _lock(self, conn: Connection) -> None:
        if not self._locked:
            slots.lock_queue(conn)
            self._locked = True
