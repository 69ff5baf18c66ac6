"""The local executor: claims queued executions and runs them in this process with asyncio."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from taskgate.core.background import stop_task
from taskgate.core.checks.judging import Judgement, judge_end
from taskgate.core.checks.news import violation_event
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.endings import AfterCommit, Ended
from taskgate.core.events import EventBus
from taskgate.core.exectoken import ExecutionTokens
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.status import EndReason, Status, default_reason
from taskgate.domain.tasks import Overlap
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.actions.contract import ActionContext, ActionOutcome, RunFiles
from taskgate.engine.claim import claim
from taskgate.engine.hostos import watch_children_with_pidfd
from taskgate.engine.leases import Holder, LeaseKeeper
from taskgate.engine.logcollector import LogCollector
from taskgate.engine.logwriter import LogWriter
from taskgate.engine.outcome import NextStep, after_attempt
from taskgate.engine.recovery import STOPPED, end_all_running, end_held, take_over_expired
from taskgate.engine.runs import Run
from taskgate.engine.watchdog import Watchdog
from taskgate.store import executions as rows
from taskgate.store import holding
from taskgate.store.db import if_rolled_back

log = logging.getLogger(__name__)

# Without a wake-up, look again this often: due retries, executions queued by another node.
IDLE_SECONDS = 1.0


@dataclass(frozen=True)
class ExecutorLimits:
    """How much this node runs at once, and how it treats a run's output and its end."""

    slots: int = 8
    log_max_bytes: int = 1024 * 1024
    kill_grace_seconds: float = 5.0
    # How long a claim holds unless renewed: how soon a dead server's runs are taken over.
    lease_seconds: float = 30.0


class LocalExecutor:
    def __init__(
        self,
        ctx: CoreContext,
        limits: ExecutorLimits,
        data_dir: Path,
        public_url: str,
        tokens: ExecutionTokens,
        actions: ActionCatalog,
    ) -> None:
        self.ctx = ctx
        self.actions = actions
        self.limits = limits
        self.runs_dir = data_dir / "runs"
        self.public_url = public_url
        self.tokens = tokens
        self.logs = LogWriter(ctx.db)
        # Set when there may be work; `_wake` is what the idle dispatcher awaits.
        self._woken = False
        self._wake: asyncio.Future[None] | None = None
        self._running: dict[str, Run] = {}
        # Slots taken by claims not launched yet: a claim in flight, or committed and on its
        # way to `launch`. On PostgreSQL a start's transaction claims on a database thread
        # while the dispatcher may claim on another, so the count is kept under a lock.
        self._reserved = 0
        self._slots_lock = threading.Lock()
        self._loop_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._accepting = False  # between start() and stop(): starts may claim directly
        # Whether queued executions may be waiting for a slot: a run's end then wakes the
        # dispatcher. Set by `notify` and by a claim that used every free slot; a claim
        # that left slots free took all there was (but what a task's own limit held back:
        # the end of that task's run wakes the dispatcher for it).
        self._backlog = True
        self.holder = Holder(ctx.node, ctx.instance, limits.lease_seconds)
        self.leases = LeaseKeeper(ctx, self.holder, self._running.keys, self._lose)
        self.watchdog = Watchdog()
        self._restore_watcher: Callable[[], None] | None = None

    # -- the Executor contract -------------------------------------------------------------
    def notify(self) -> None:
        self._backlog = True
        self._woken = True
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def claim_in(self, conn: Connection) -> list[Run] | None:
        """Claim due executions inside the caller's start transaction (on PostgreSQL on a
        database thread): saves the dispatcher's transaction, its commit and its wake-up
        between a start and the process running. The slots it takes stay taken until
        `launch`, or are given back if the transaction does not commit. With every slot busy
        nothing is claimed (None): the dispatcher is woken, and the end of a run looks again."""
        if not self._accepting:
            return None
        return self._claim_here(conn)

    def _claim_here(self, conn: Connection, own: int = 0) -> list[Run] | None:
        """Claim in the caller's transaction for the free slots and the `own` slots the caller
        lets go of in it (a run's end: its own). None when no slot was free: the caller
        wakes the dispatcher, whose claim in flight (on PostgreSQL, on another thread) may
        have held the slots and looked before this transaction's executions were there."""
        free = self._take_slots(own)
        if free <= 0:
            self._backlog = True
            return None
        try:
            claimed = claim(conn, free, self.holder)
        except BaseException:
            self._give_back(free)
            raise
        self._give_back(free - len(claimed))
        if claimed:
            if_rolled_back(lambda: self._give_back(len(claimed)))
        self._backlog = len(claimed) >= free
        return claimed

    def launch(self, claimed: Sequence[object], news: Sequence[ExecutionEvent] = ()) -> None:
        """Run what `claim_in` claimed, once its transaction has committed. The runs' news
        (their STARTED events, and theirs of `news`) is published after the runs' first
        steps (their processes spawned), or before a run's next event if it gets that far
        first; the rest of `news` at once (the dispatcher may claim those executions)."""
        runs = [run for run in claimed if isinstance(run, Run)]
        if not self._accepting:
            # Stopping: the runs stay leased to this instance until `stop` ends them, or
            # until their lease runs out and a sweep takes them over.
            self._give_back(len(runs))
            _publish(self.ctx.bus, news)
            return
        ids = {run.execution_id for run in runs}
        _publish(self.ctx.bus, [e for e in news if e.execution_id not in ids])
        announce = _Announcement(self.ctx.bus, [e for e in news if e.execution_id in ids], runs)
        for run in runs:
            run.announce = announce
        self._launch(runs)
        self._give_back(len(runs))
        # After the tasks' first steps: the loop runs ready callbacks in the order they came.
        asyncio.get_running_loop().call_soon(announce)

    def _take_slots(self, own: int = 0) -> int:
        """Take every free slot for a claim; what it does not use goes back at once. `own`:
        slots of runs that are ending, still counted as running until they are let go."""
        with self._slots_lock:
            free = self.limits.slots - len(self._running) - self._reserved + own
            if free > 0:
                self._reserved += free
            return free

    def _give_back(self, count: int) -> None:
        with self._slots_lock:
            self._reserved -= count

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
        self._restore_watcher = watch_children_with_pidfd()
        self.runs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.ctx.db.is_sqlite:
            # One server owns an SQLite file: what it finds running ran in a process now gone.
            await end_all_running(self.ctx)
        else:
            await take_over_expired(self.ctx)
        self.logs.start()
        self.leases.start()
        self._loop_task = asyncio.create_task(self._loop(), name="taskgate-dispatcher")
        self._accepting = True

    async def stop(self) -> None:
        self._accepting = False
        await stop_task(self._loop_task)
        workers = [r.worker for r in self._running.values() if r.worker is not None]
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        await self.leases.stop()
        await self.logs.stop()
        self.watchdog.close()
        await end_held(self.ctx, STOPPED)
        if self._restore_watcher is not None:
            # The pidfd watcher is tied to this loop: give later loops of the same process
            # (an embedding program, a test run) the watcher they had.
            self._restore_watcher()
            self._restore_watcher = None

    def _lose(self, execution_id: str, why: str) -> None:
        """Stop a run this process no longer holds (or can no longer prove it holds)."""
        run = self._running.get(execution_id)
        if run is None or run.lost:
            return
        log.warning("execution %s stopped here: %s", execution_id, why)
        run.lost = why
        run.abort.set()

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
                # Aborts asked on another node: relayed as events when the bus has a relay
                # (core/cluster.py), and looked for in the database as a safety net.
                if loop.time() - checked_aborts >= self.ctx.bus.store_recheck_seconds:
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
        while (free := self._take_slots()) > 0:
            try:
                claimed = await self._claim(free)
            except BaseException:
                self._give_back(free)
                raise
            self._launch(claimed)
            self._give_back(free)
            if len(claimed) < free:
                # The claim looked at every due execution: another look would find none (a
                # start committed meanwhile calls `notify`, and the loop comes round again).
                return

    def _launch(self, claimed: list[Run]) -> None:
        for run in claimed:
            self._running[run.execution_id] = run
            run.worker = asyncio.create_task(self._run(run), name=f"run-{run.execution_id}")

    async def _claim(self, free: int) -> list[Run]:
        claimed = await self.ctx.db.write(lambda conn: claim(conn, free, self.holder))
        self._backlog = len(claimed) >= free
        for run in claimed:
            self.ctx.bus.publish(run.event(Status.STARTED, run.started_at))
        return claimed

    async def _pick_up_remote_aborts(self) -> None:
        if not self._running:
            return
        wanted = await self.ctx.db.read(
            lambda conn: rows.in_statuses(
                conn, [Status.ABORT_INITIATED], instance=self.ctx.instance
            )
        )
        for row in wanted:
            self.abort_local(row.id)

    # -- running one attempt ---------------------------------------------------------------
    async def _run(self, run: Run) -> None:
        collector = LogCollector(self.limits.log_max_bytes)
        self.logs.open(run.execution_id, collector, run.base_offset)
        if run.number > 1:
            collector.write(f"[taskgate] attempt {run.number} on {self.ctx.node}\n")
        context = self._context(run, collector)
        try:
            end = await self.actions.run(run.task.action, context)
        except asyncio.CancelledError:
            self.logs.close_later(run.execution_id)
            self._running.pop(run.execution_id, None)
            raise
        except Exception as exc:
            log.exception("execution %s failed inside taskgate", run.execution_id)
            end = ActionOutcome(Status.ERROR, None, f"internal error: {exc}")
        finally:
            context.files.remove()
        if run.lost:
            end = ActionOutcome(
                Status.ERROR,
                end.exit_code,
                f"stopped: {run.lost}",
                pid=end.pid,
                reason=EndReason.NODE_LOST,
            )
        run.pid = end.pid
        refill: list[Run] | None = None
        try:
            refill = await self._finish(run, end, collector)
        finally:
            self._running.pop(run.execution_id, None)
            if refill:
                self.launch(refill)
            elif refill is None and self._slot_wanted(run):
                self.notify()

    def _slot_wanted(self, run: Run) -> bool:
        """Whether the slot (and the task's own limit) this run lets go of may be waited for.
        On PostgreSQL other servers' starts queue without telling this one: always."""
        return (
            self._backlog
            or not self._accepting
            or not self.ctx.db.is_sqlite
            or run.task.concurrency.overlap is not Overlap.ALLOW
        )

    def _context(self, run: Run, collector: LogCollector) -> ActionContext:
        return ActionContext(
            execution_id=run.execution_id,
            task=run.task,
            attempt=run.number,
            params=run.params,
            log=collector,
            files=RunFiles.of(self.runs_dir, run.execution_id),
            abort=run.abort,
            timeout=run.task.timeout,
            public_url=self.public_url,
            issue_token=lambda: self.tokens.issue(
                run.execution_id, run.started_at, run.task.timeout
            ),
            kill_grace=self.limits.kill_grace_seconds,
            processes=self.watchdog,
        )

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._tasks.discard)

    async def _mark_aborting(self, run: Run) -> None:
        moved = await self.ctx.db.write(
            lambda conn: rows.update_if(
                conn,
                run.execution_id,
                [Status.STARTED, Status.ABORT_INITIATED],
                status=Status.ABORTING.value,
            )
        )
        if moved:
            run.announce()
            self.ctx.bus.publish(run.event(Status.ABORTING, utcnow()))

    async def _finish(
        self, run: Run, end: ActionOutcome, collector: LogCollector
    ) -> list[Run] | None:
        """Write the run's end; what its transaction claimed for the slot it lets go of (None:
        it did not look for more work)."""
        run.announce()
        now = utcnow()
        chunks, log_size = self.logs.close(run.execution_id)
        if end.park is not None and not run.lost:
            await self._park(run, end, chunks, log_size, collector.dropped)
            return None
        after = AfterCommit()
        judged: list[Judgement] = []
        refill: list[list[Run] | None] = []

        def work(conn: Connection) -> NextStep | None:
            judgement = judge_end(
                conn,
                run.task.key,
                run.task.checks,
                status=end.status,
                message=end.message,
                seconds=(now - run.started_at).total_seconds(),
                result=end.result,
            )
            judged[:] = [judgement]
            reason = end_reason(end, judgement.status)
            step = after_attempt(
                run.task.retries, run.number, judgement.status, judgement.message, now
            )
            held = holding.end_held(
                conn,
                run.execution_id,
                self.ctx.instance,
                run.number,
                {
                    "status": step.status.value,
                    "finished_at": None if step.status is Status.RETRY else now,
                    "not_before": step.not_before,
                    "end_reason": None if step.status is Status.RETRY else reason,
                    "exit_code": end.exit_code,
                    "result": end.result,
                    "message": step.message,
                    "log_size": log_size,
                    "log_dropped": collector.dropped,
                    "instance": None,
                    "lease_until": None,
                    "overrun_at": None,
                    # Judged: the warnings are the end's (a note made while it ran is
                    # replaced).
                    **({"warnings": judgement.warnings or None} if judgement.judged else {}),
                },
                {
                    "status": judgement.status.value,
                    "finished_at": now,
                    "exit_code": end.exit_code,
                    "message": judgement.message,
                    "pid": run.pid,
                    "end_reason": reason,
                },
            )
            if not held:
                return None  # taken over: its end is written by the server that took it
            rows.append_logs(conn, chunks)
            if step.status is not Status.RETRY:
                ended = Ended(
                    run.execution_id, run.task.key, step.status, now, run.origin, run.parent_id
                )
                self.ctx.endings.fire(conn, [ended], after)
            if self._accepting and not self.ctx.db.is_sqlite:
                # The next run takes this one's slot in the same commit: no transaction of
                # the dispatcher's (a round trip and a flush to disk on PostgreSQL) between
                # one run's end and the next one's start. Not on SQLite: there a transaction
                # costs no round trip, and the dispatcher's one claim for the slots of all the
                # runs that ended together beat a claim per end (CPU per run +20 %).
                refill[:] = [self._claim_here(conn, own=1)]
            return step

        step = await self.ctx.db.write(work)
        if step is None:
            _not_recorded(run, end.message)
            return None
        if step.status is Status.RETRY:
            self._backlog = True  # due now, or at its time (the dispatcher's idle look)
        event = run.event(
            step.status,
            now,
            message=step.message,
            exit_code=end.exit_code,
            end_reason=None if step.status is Status.RETRY else end_reason(end, judged[0].status),
        )
        self.ctx.bus.publish(event)
        for violation in judged[0].violations:
            self.ctx.bus.publish(violation_event(event, violation))
        after.run(self.ctx.bus)
        return refill[0] if refill else None

    async def _park(
        self,
        run: Run,
        end: ActionOutcome,
        chunks: list[dict[str, Any]],
        log_size: int,
        dropped: int,
    ) -> None:
        """The run waits on without a process: let go of its slot and lease in the same
        transaction as whatever it waits for is set going."""
        park = end.park
        assert park is not None
        after = AfterCommit()

        def work(conn: Connection) -> bool:
            held = holding.update_held(
                conn,
                run.execution_id,
                self.ctx.instance,
                run.number,
                parked=True,
                state=park.state,
                message=end.message,
                log_size=log_size,
                log_dropped=dropped,
                instance=None,
                lease_until=None,
            )
            if not held:
                return False
            rows.append_logs(conn, chunks)
            if park.then is not None:
                park.then(conn, after)
            return True

        if not await self.ctx.db.write(work):
            _not_recorded(run, end.message)
            return
        after.run(self.ctx.bus)


def end_reason(end: ActionOutcome, status: Status) -> str | None:
    """Why an attempt that ended as `end` (judged: `status`) ended."""
    if status is not end.status and status.is_failure:
        return EndReason.CHECK_FAILED.value
    reason = end.reason or default_reason(status)
    return None if reason is None else reason.value


def _not_recorded(run: Run, message: str) -> None:
    log.warning(
        "execution %s ended here after another server took it over; its end here (%s) is "
        "not recorded",
        run.execution_id,
        message,
    )


class _Announcement:
    """The events of runs just launched, published once: `news` (their start's), then each
    run's STARTED. Deferred so that nothing but the runs' own first steps stands between a
    start's commit and its process."""

    def __init__(self, bus: EventBus, news: Sequence[ExecutionEvent], runs: list[Run]) -> None:
        self._bus: EventBus | None = bus
        self._news = news
        self._runs = runs

    def __call__(self) -> None:
        bus, self._bus = self._bus, None
        if bus is None:
            return
        _publish(bus, self._news)
        for run in self._runs:
            bus.publish(run.event(Status.STARTED, run.started_at))


def _publish(bus: EventBus, events: Iterable[ExecutionEvent]) -> None:
    for event in events:
        bus.publish(event)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
