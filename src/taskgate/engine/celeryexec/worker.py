"""The worker's side of the Celery executor: a Celery worker process whose one task claims
the execution its message names and runs it with taskgate's own runners.

One asyncio event loop, in a thread of its own, hosts every run of the process (the action
runners, the log writer, the lease keeper are asyncio code); Celery's `threads` pool gives each
message a thread that claims the run, hands it to that loop and waits for its end. The message is
acknowledged when that thread returns (acks_late): a worker lost mid-run leaves it to the
broker, and the lease sweep of any node ends or retries the run.

Everything a run writes goes through the local executor's own path (claim, attempts, log
chunks, the end with its checks, retries and end hooks, the events on the bus): the worker is
that executor without its dispatcher, fed by messages instead of by its own claims.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from taskgate.core.background import Periodic
from taskgate.core.context import CoreContext
from taskgate.core.exectoken import ExecutionTokens
from taskgate.domain.status import Status
from taskgate.domain.tasks import Overlap
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.claim import claim
from taskgate.engine.hostos import watch_children_with_pidfd
from taskgate.engine.local import ExecutorLimits, LocalExecutor
from taskgate.engine.recovery import take_over_expired
from taskgate.engine.runs import Run
from taskgate.store import publishing

log = logging.getLogger(__name__)

T = TypeVar("T")

# How often the runs held here look for an abort recorded in the store (asked on an API
# node). The cluster's notifications will make it immediate; this is the floor.
ABORT_POLL_SECONDS = 1.0


class WorkerExecutor(LocalExecutor):
    """The local executor's runs and ends, with claims made one message at a time."""

    def __init__(
        self,
        ctx: CoreContext,
        limits: ExecutorLimits,
        data_dir: Path,
        public_url: str,
        tokens: ExecutionTokens,
        actions: ActionCatalog,
    ) -> None:
        super().__init__(ctx, limits, data_dir, public_url, tokens, actions)
        self.aborts = Periodic(
            "aborts", ABORT_POLL_SECONDS, self._pick_up_remote_aborts, at_start=False
        )

    async def start(self) -> None:
        self._restore_watcher = watch_children_with_pidfd()
        self.runs_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        await take_over_expired(self.ctx)
        self.logs.start()
        self.leases.start()
        self.aborts.start()
        # No dispatcher: the broker's messages bring the work.

    async def stop(self) -> None:
        await self.aborts.stop()
        await super().stop()

    def notify(self) -> None:
        """A run's end: the next message brings the next run."""

    def claim_message(self, execution_id: str) -> Run | None:
        """Claim the execution a message names, on the Celery thread that holds the message
        and waits for the run anyway: no hop to the event loop, on to a database thread and
        back before the run can start. None: claimed or ended already, not due, or its task
        is full (the message is dropped)."""
        claimed = self.ctx.db.write_here(
            lambda conn: claim(conn, 1, self.holder, only=execution_id)
        )
        return claimed[0] if claimed else None

    def run_claimed(self, run: Run, done: Future[None]) -> None:
        """On the event loop: run what `claim_message` claimed (committed) to its end, then
        settle `done`, which the Celery thread that holds the message waits for. Callbacks
        rather than a coroutine of its own: no task, shield and future chain per run."""
        self.ctx.bus.publish(run.event(Status.STARTED, run.started_at))
        self._launch([run])
        assert run.worker is not None
        run.worker.add_done_callback(functools.partial(self._ran, run, done))

    def _ran(self, run: Run, done: Future[None], worker: asyncio.Task[None]) -> None:
        if worker.cancelled() or worker.exception() is not None:
            _settle(done, worker)
        elif run.task.concurrency.overlap is Overlap.ALLOW:
            done.set_result(None)
        else:
            released = asyncio.create_task(self._release(run))
            released.add_done_callback(functools.partial(_settle, done))

    async def _release(self, run: Run) -> None:
        task_id = str(run.task.id)
        count = run.task.concurrency.max_running
        released = await self.ctx.db.write(
            lambda conn: publishing.release_waiting(conn, task_id, count)
        )
        if released:
            self.ctx.notify_executor()


def _settle(done: Future[None], task: asyncio.Task[None]) -> None:
    """Give `done` the outcome of `task` (on the loop, once `task` is done)."""
    if task.cancelled():
        done.cancel()
    elif (error := task.exception()) is not None:
        done.set_exception(error)
    else:
        done.set_result(None)


class LoopThread:
    """An asyncio event loop in a thread of its own, for code on other threads to call."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, name="taskgate-loop", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, work: Coroutine[Any, Any, T]) -> T:
        """Run `work` on the loop and wait for its result (from any other thread)."""
        done: Future[T] = asyncio.run_coroutine_threadsafe(work, self.loop)
        return done.result()

    def wait_for(self, begin: Callable[[Future[None]], None]) -> None:
        """Call `begin` on the loop with a future it settles, and wait for that (from any
        other thread)."""
        done: Future[None] = Future()
        self.loop.call_soon_threadsafe(begin, done)
        done.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


# Celery logs two INFO lines per message ("received", "succeeded"). With one message per
# run they repeat what the run's own events say, and formatting them is CPU on every run.
# Failures are still logged: Celery logs them at ERROR.
PER_MESSAGE_LOGGERS = ("celery.worker.strategy", "celery.app.trace")


def register_run_task(app: Any, loop: LoopThread, executor: WorkerExecutor) -> None:
    """The Celery task behind RUN_TASK, on this worker."""
    from taskgate.engine.celeryexec.broker import RUN_TASK

    # Before the worker starts: Celery asks whether INFO is on once, when it builds the
    # task's tracer and the consumer's strategy.
    for name in PER_MESSAGE_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)

    @app.task(name=RUN_TASK, acks_late=True, reject_on_worker_lost=True, ignore_result=True)  # type: ignore[untyped-decorator]
    def run(execution_id: str) -> str:
        run = executor.claim_message(execution_id)
        if run is None:
            return "dropped"
        loop.wait_for(functools.partial(executor.run_claimed, run))
        return "ran"
