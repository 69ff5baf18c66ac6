"""The local executor: claims queued executions and runs them in this process with asyncio."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from taskgate.config import ExecutorSettings
from taskgate.core.background import stop_task
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.exectoken import ExecutionTokens
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.params import env_name, env_value
from taskgate.domain.status import ACTIVE, Status
from taskgate.domain.tasks import CommandAction, HttpAction, Overlap, QlikAction, Task
from taskgate.engine.command import run_command
from taskgate.engine.http import run_http
from taskgate.engine.logcollector import LogCollector
from taskgate.engine.logwriter import LogWriter
from taskgate.engine.outcome import after_attempt
from taskgate.qlik.action import run_qlik
from taskgate.qlik.client import QlikSites
from taskgate.store import executions as rows

log = logging.getLogger(__name__)

# Without a wake-up, look again this often: due retries, aborts asked for on another node.
IDLE_SECONDS = 1.0
RESULT_MAX_BYTES = 1024 * 1024


@dataclass
class _Run:
    execution_id: str
    task: Task
    number: int
    params: dict[str, Any]
    base_offset: int
    started_at: datetime
    origin: str
    created_at: datetime
    abort: asyncio.Event = field(default_factory=asyncio.Event)
    pid: int | None = None
    worker: asyncio.Task[None] | None = None

    def event(
        self, status: Status, at: datetime, *, message: str = "", exit_code: int | None = None
    ) -> ExecutionEvent:
        return ExecutionEvent.of(
            self.task,
            self.execution_id,
            status,
            at,
            attempt=self.number,
            message=message,
            origin=self.origin,
            exit_code=exit_code,
            started_at=self.started_at,
            created_at=self.created_at,
        )


class _RunFiles:
    """The parameters file a command reads and the result file it may write."""

    def __init__(self, folder: Path, execution_id: str) -> None:
        self.params = folder / f"{execution_id}.params.json"
        self.result = folder / f"{execution_id}.result.json"

    def remove(self) -> None:
        self.params.unlink(missing_ok=True)
        self.result.unlink(missing_ok=True)


@dataclass(frozen=True)
class _AttemptEnd:
    status: Status
    exit_code: int | None
    message: str
    result: Any = None


class LocalExecutor:
    def __init__(
        self,
        ctx: CoreContext,
        settings: ExecutorSettings,
        data_dir: Path,
        public_url: str,
        tokens: ExecutionTokens,
        qlik_sites: QlikSites | None = None,
    ) -> None:
        self.ctx = ctx
        self.qlik_sites = qlik_sites
        self.settings = settings
        self.runs_dir = data_dir / "runs"
        self.public_url = public_url
        self.tokens = tokens
        self.logs = LogWriter(ctx.db)
        # Set when there may be work; `_wake` is what the idle dispatcher awaits.
        self._woken = False
        self._wake: asyncio.Future[None] | None = None
        self._running: dict[str, _Run] = {}
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = False  # between start() and stop(): starts may claim directly

    # -- the Executor contract -------------------------------------------------------------
    def notify(self) -> None:
        self._woken = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def claim_in(self, conn: Connection) -> list[_Run] | None:
        """Claim due executions inside the caller's start transaction. SQLite only: its work
        runs on the loop, so nothing interleaves before `launch`; on PostgreSQL (None) the
        dispatcher claims. Saves the dispatcher's transaction and its wake-up between a
        start and the process running. With every slot busy nothing is claimed: the end of a
        run wakes the dispatcher."""
        if not self._accepting:
            return None
        free = self.settings.slots - len(self._running)
        return _claim(conn, free, self.ctx.node) if free > 0 else []

    def launch(self, claimed: Sequence[object]) -> None:
        """Run what `claim_in` claimed, once its transaction has committed."""
        runs = [run for run in claimed if isinstance(run, _Run)]
        for run in runs:
            self.ctx.bus.publish(run.event(Status.STARTED, run.started_at))
        self._launch(runs)

    def abort_local(self, execution_id: str) -> bool:
        run = self._running.get(execution_id)
        if run is None:
            return False
        if not run.abort.is_set():
            run.abort.set()
            self._background(self._mark_aborting(run))
        return True

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        _watch_children_with_pidfd()
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        await recover(self.ctx, "server process died while running")
        self.logs.start()
        self._loop_task = asyncio.create_task(self._loop(), name="taskgate-dispatcher")
        self._accepting = self.ctx.db.is_sqlite

    async def stop(self) -> None:
        self._accepting = False
        await stop_task(self._loop_task)
        workers = [r.worker for r in self._running.values() if r.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await self.logs.stop()
        await recover(self.ctx, "server stopped while it was running")

    @property
    def running(self) -> int:
        return len(self._running)

    # -- dispatching -----------------------------------------------------------------------
    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        checked_aborts = loop.time()
        while True:
            self._woken = False
            try:
                await self._dispatch()
                # Aborts asked on another node reach us through the database only.
                if loop.time() - checked_aborts >= IDLE_SECONDS:
                    checked_aborts = loop.time()
                    await self._pick_up_remote_aborts()
            except Exception:
                log.exception("dispatcher error; trying again")
            if not self._woken:
                await self._sleep(loop)

    async def _sleep(self, loop: asyncio.AbstractEventLoop) -> None:
        """Until `notify` or IDLE_SECONDS. A bare future and a timer wake the dispatcher in one
        step of the loop; `wait_for` on an Event takes three, and the trigger latency shows it."""
        self._wake = loop.create_future()
        timer = loop.call_later(IDLE_SECONDS, _resolve, self._wake)
        try:
            await self._wake
        finally:
            timer.cancel()
            self._wake = None

    async def _dispatch(self) -> None:
        while (free := self.settings.slots - len(self._running)) > 0:
            claimed = await self._claim(free)
            if not claimed:
                return
            self._launch(claimed)

    def _launch(self, claimed: list[_Run]) -> None:
        for run in claimed:
            self._running[run.execution_id] = run
            run.worker = asyncio.create_task(self._run(run), name=f"run-{run.execution_id}")

    async def _claim(self, free: int) -> list[_Run]:
        claimed = await self.ctx.db.write(lambda conn: _claim(conn, free, self.ctx.node))
        for run in claimed:
            self.ctx.bus.publish(run.event(Status.STARTED, run.started_at))
        return claimed

    async def _pick_up_remote_aborts(self) -> None:
        if not self._running:
            return
        wanted = await self.ctx.db.read(
            lambda conn: rows.in_statuses(conn, [Status.ABORT_INITIATED], node=self.ctx.node)
        )
        for row in wanted:
            self.abort_local(row.id)

    # -- running one attempt ---------------------------------------------------------------
    async def _run(self, run: _Run) -> None:
        collector = LogCollector(self.settings.log_max_bytes)
        self.logs.open(run.execution_id, collector, run.base_offset)
        if run.number > 1:
            collector.write(f"[taskgate] attempt {run.number} on {self.ctx.node}\n")
        files = _RunFiles(self.runs_dir, run.execution_id)
        try:
            end = await self._attempt(run, collector, files)
        except asyncio.CancelledError:
            self.logs.close_later(run.execution_id)
            self._running.pop(run.execution_id, None)
            raise
        except Exception as exc:
            log.exception("execution %s failed inside taskgate", run.execution_id)
            end = _AttemptEnd(Status.ERROR, None, f"internal error: {exc}")
        finally:
            files.remove()
        try:
            await self._finish(run, end, collector)
        finally:
            self._running.pop(run.execution_id, None)
            self.notify()

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _mark_aborting(self, run: _Run) -> None:
        moved = await self.ctx.db.write(
            lambda conn: rows.update_if(
                conn,
                run.execution_id,
                [Status.STARTED, Status.ABORT_INITIATED],
                status=Status.ABORTING.value,
            )
        )
        if moved:
            self.ctx.bus.publish(run.event(Status.ABORTING, utcnow()))

    def _environment(self, run: _Run, files: _RunFiles) -> dict[str, str]:
        env = {env_name(k): env_value(v) for k, v in run.params.items()}
        env.update(
            {
                "TASKGATE_EXECUTION_ID": run.execution_id,
                "TASKGATE_TASK_ID": run.task.key,
                "TASKGATE_TASK_NAME": run.task.name,
                "TASKGATE_ATTEMPT": str(run.number),
                "TASKGATE_URL": self.public_url,
                # Good for the key-value store only, until the attempt's timeout is past.
                "TASKGATE_TOKEN": self.tokens.issue(
                    run.execution_id, run.started_at, run.task.timeout
                ),
                "TASKGATE_PARAMS_FILE": str(files.params),
                "TASKGATE_RESULT_FILE": str(files.result),
            }
        )
        return env

    async def _attempt(self, run: _Run, collector: LogCollector, files: _RunFiles) -> _AttemptEnd:
        action = run.task.action
        if isinstance(action, HttpAction):
            outcome = await run_http(
                action,
                headers={"X-Taskgate-Execution-Id": run.execution_id},
                default_body={
                    "execution_id": run.execution_id,
                    "task_id": run.task.key,
                    "params": run.params,
                },
                timeout=run.task.timeout,
                abort=run.abort,
                log=collector,
            )
            status = {
                "completed": Status.FINISHED_SUCCESS if outcome.ok else Status.FINISHED_FAIL,
                "timeout": Status.ERROR,
                "aborted": Status.ABORTED,
                "failed": Status.ERROR,
            }[outcome.reason]
            return _AttemptEnd(status, outcome.status_code, outcome.message, outcome.result)
        if isinstance(action, QlikAction):
            remote = await run_qlik(
                action, self.qlik_sites, timeout=run.task.timeout, abort=run.abort, log=collector
            )
            return _AttemptEnd(remote.status, None, remote.message, remote.result)
        assert isinstance(action, CommandAction)
        files.params.write_text(json.dumps(run.params))
        outcome_ = await run_command(
            action,
            env=self._environment(run, files),
            timeout=run.task.timeout,
            abort=run.abort,
            log=collector,
            kill_grace=self.settings.kill_grace_seconds,
        )
        run.pid = outcome_.pid
        result, note = _read_result(files.result)
        message = outcome_.message + (f"; {note}" if note else "")
        match outcome_.reason:
            case "exited":
                ok = outcome_.exit_code == 0
                status = Status.FINISHED_SUCCESS if ok else Status.FINISHED_FAIL
            case "aborted":
                status = Status.ABORTED
            case _:
                status = Status.ERROR
        return _AttemptEnd(status, outcome_.exit_code, message, result)

    async def _finish(self, run: _Run, end: _AttemptEnd, collector: LogCollector) -> None:
        now = utcnow()
        chunks, log_size = self.logs.close(run.execution_id)
        step = after_attempt(run.task.retries, run.number, end.status, end.message, now)

        def work(conn: Connection) -> None:
            rows.append_logs(conn, chunks)
            rows.finish_attempt(
                conn,
                run.execution_id,
                run.number,
                status=end.status.value,
                finished_at=now,
                exit_code=end.exit_code,
                message=end.message,
                pid=run.pid,
            )
            rows.update(
                conn,
                run.execution_id,
                status=step.status.value,
                **{
                    "finished_at": None if step.status is Status.RETRY else now,
                    "not_before": step.not_before,
                    "exit_code": end.exit_code,
                    "result": end.result,
                    "message": step.message,
                    "log_size": log_size,
                    "log_dropped": collector.dropped,
                },
            )

        await self.ctx.db.write(work)
        self.ctx.bus.publish(
            run.event(step.status, now, message=step.message, exit_code=end.exit_code)
        )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _watch_children_with_pidfd() -> None:
    """Python 3.11 waits for each subprocess in a thread of its own; a pidfd is cheaper.

    3.12 and later pick pidfd by themselves (and deprecate choosing a watcher).
    """
    if sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return  # kernel without pidfd: keep the default watcher
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)


def _attempt_row(run: _Run, node: str) -> dict[str, Any]:
    return {
        "execution_id": run.execution_id,
        "number": run.number,
        "status": Status.STARTED.value,
        "node": node,
        "started_at": run.started_at,
        "message": "",
    }


def _claim(conn: Connection, free: int, node: str) -> list[_Run]:
    """Move up to `free` due executions to `started`, within each task's concurrency limit."""
    now = utcnow()  # inside the transaction: never before the start that created the row
    claimed: list[_Run] = []
    active: dict[str, int] = {}
    full: set[str] = set()  # tasks at their max_running: their queue waits
    while len(claimed) < free:
        wanted = free * 2 + 8
        candidates = rows.claimable(conn, now, wanted, skip_tasks=full)
        if not candidates:
            break
        tasks = {c.id: Task.model_validate(c.task_spec) for c in candidates}
        # Only tasks with a limit need to know how many of theirs hold a slot.
        limited = {
            c.task_id
            for c in candidates
            if tasks[c.id].concurrency.overlap is not Overlap.ALLOW and c.task_id not in active
        }
        if limited:
            active.update(dict.fromkeys(limited, 0) | rows.count_active(conn, limited))
        for row in candidates:
            if len(claimed) >= free:
                break
            if row.task_id in full:
                continue
            task = tasks[row.id]
            policy = task.concurrency
            if policy.overlap is not Overlap.ALLOW:
                if active[row.task_id] >= policy.max_running:
                    full.add(row.task_id)
                    continue
                active[row.task_id] += 1
            number = row.attempt_count + 1
            rows.update(
                conn,
                row.id,
                status=Status.STARTED.value,
                node=node,
                started_at=row.started_at or now,
                attempt_count=number,
                not_before=None,
            )
            claimed.append(
                _Run(
                    row.id, task, number, row.params, row.log_size, now, row.origin, row.created_at
                )
            )
        if len(candidates) < wanted:
            break  # every due execution has been looked at
    rows.insert_attempts(conn, [_attempt_row(run, node) for run in claimed])
    return claimed


def _read_result(path: Path) -> tuple[Any, str]:
    """The JSON a command left in TASKGATE_RESULT_FILE, and a note when it was unusable."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None, ""
    if size > RESULT_MAX_BYTES:
        return None, f"result file ignored: larger than {RESULT_MAX_BYTES} bytes"
    try:
        return json.loads(path.read_text()), ""
    except ValueError as exc:
        return None, f"result file ignored: not JSON ({exc})"


async def recover(ctx: CoreContext, reason: str) -> int:
    """End (or retry) executions this node was running when its process stopped."""
    now = utcnow()
    message = f"{reason} (node {ctx.node})"
    events = await ctx.db.write(lambda conn: _end_orphans(conn, ctx.node, message, now))
    for event in events:
        ctx.bus.publish(event)
    if events:
        log.warning(
            "%d execution(s) were running when the process stopped: %s",
            len(events),
            ", ".join(e.execution_id for e in events),
        )
    return len(events)


def _end_orphans(conn: Connection, node: str, message: str, now: datetime) -> list[ExecutionEvent]:
    events: list[ExecutionEvent] = []
    for row in rows.in_statuses(conn, ACTIVE, node=node):
        task = Task.model_validate(row.task_spec)
        attempt_status = Status.ERROR if row.status == Status.STARTED.value else Status.ABORTED
        note = message if attempt_status is Status.ERROR else f"aborted; {message}"
        step = after_attempt(task.retries, row.attempt_count, attempt_status, note, now)
        for attempt in rows.open_attempts(conn, row.id):
            rows.finish_attempt(
                conn,
                row.id,
                attempt.number,
                status=attempt_status.value,
                finished_at=now,
                message=note,
            )
        rows.update(
            conn,
            row.id,
            status=step.status.value,
            finished_at=None if step.status is Status.RETRY else now,
            not_before=step.not_before,
            message=step.message,
            log_size=rows.log_end(conn, row.id),
        )
        events.append(
            ExecutionEvent.of(
                task,
                row.id,
                step.status,
                now,
                attempt=row.attempt_count,
                message=step.message,
                origin=row.origin,
            )
        )
    return events
