"""The contract between the dispatcher and an action kind.

A kind is a spec model (what a task writes under `action`) and a runner that takes a spec and
an `ActionContext` (one attempt's parameters, log, files, cancellation and token) and returns
an `ActionOutcome`. A runner never raises for a run that merely failed; an exception means
taskgate itself failed, and the dispatcher records it as an error of the attempt.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from taskgate.domain.actions import ActionSpec
from taskgate.domain.endings import AfterCommit
from taskgate.domain.params import env_name, env_value
from taskgate.domain.status import EndReason, Status
from taskgate.domain.tasks import Task
from taskgate.engine.logcollector import LogCollector

if TYPE_CHECKING:  # the config imports the action kinds; the CLI need not load SQLAlchemy
    from sqlalchemy import Connection

SpecT = TypeVar("SpecT", bound=ActionSpec)
T = TypeVar("T")


@dataclass(frozen=True)
class RunFiles:
    """The parameters file a run may read and the result file it may write (JSON)."""

    params: Path
    result: Path

    @classmethod
    def of(cls, folder: Path, execution_id: str) -> RunFiles:
        return cls(folder / f"{execution_id}.params.json", folder / f"{execution_id}.result.json")

    def remove(self) -> None:
        self.params.unlink(missing_ok=True)
        self.result.unlink(missing_ok=True)


class ProcessWatch(Protocol):
    """Keeps the processes a run starts from outliving the server (engine/watchdog.py)."""

    def track(self, pid: int) -> None: ...

    def untrack(self, pid: int) -> None: ...


class _Unwatched:
    def track(self, pid: int) -> None:
        pass

    def untrack(self, pid: int) -> None:
        pass


@dataclass
class ActionContext:
    """One attempt of one execution, as its action sees it."""

    execution_id: str
    task: Task
    attempt: int
    params: dict[str, Any]
    log: LogCollector
    files: RunFiles
    # Set when the run must stop (an abort); the runner ends soon after, as `aborted`.
    abort: asyncio.Event
    # Seconds the attempt may take (the task's timeout); None: no limit.
    timeout: float | None
    # Where the run reaches this server (TASKGATE_URL).
    public_url: str
    # The execution token: good for the key-value API until the attempt's timeout is past.
    issue_token: Callable[[], str]
    # Seconds between SIGTERM and SIGKILL when a process tree must go.
    kill_grace: float
    # Every process a run starts is registered here while it runs.
    processes: ProcessWatch = field(default_factory=_Unwatched)

    def variables(self) -> dict[str, str]:
        """The environment a run gets: its parameters and the TASKGATE_* variables."""
        env = {env_name(k): env_value(v) for k, v in self.params.items()}
        env.update(
            {
                "TASKGATE_EXECUTION_ID": self.execution_id,
                "TASKGATE_TASK_ID": self.task.key,
                "TASKGATE_TASK_NAME": self.task.name,
                "TASKGATE_ATTEMPT": str(self.attempt),
                "TASKGATE_URL": self.public_url,
                "TASKGATE_TOKEN": self.issue_token(),
                "TASKGATE_PARAMS_FILE": str(self.files.params),
                "TASKGATE_RESULT_FILE": str(self.files.result),
            }
        )
        return env


@dataclass(frozen=True)
class Park:
    """The run goes on without a process: the execution stays `started` but holds no slot
    and no lease (a workflow waiting on its members). `then` runs in the transaction that
    parks it (start the members there, so none can end before the parent waits for it); an
    end hook ends the execution later (`store.executions.end_parked`)."""

    state: Any = None
    then: Callable[[Connection, AfterCommit], None] | None = None


@dataclass(frozen=True)
class ActionOutcome:
    """How one attempt ended (or, with `park`, that it waits without a process)."""

    status: Status
    exit_code: int | None = None
    message: str = ""
    result: Any = None
    # The process that ran, for kinds that run one (kept on the attempt).
    pid: int | None = None
    park: Park | None = None
    # Why it ended, when its status does not say it all (a timeout ends as `error`); None:
    # the status's default reason (domain/status.py).
    reason: EndReason | None = None


class Resources:
    """What the server hands the action kinds when it builds them, looked up by type (the
    Qlik Sense sites, say), so the contract does not name every kind's needs."""

    def __init__(self, *provided: object) -> None:
        self._by_type: dict[type, object] = {}
        for item in provided:
            self.provide(item)

    def provide(self, item: object) -> None:
        self._by_type[type(item)] = item

    def get(self, kind: type[T]) -> T | None:
        """The item of this type, or of a subclass of it (a service the core provides
        under an interface the domain names)."""
        item = self._by_type.get(kind)
        if item is None:
            item = next((i for i in self._by_type.values() if isinstance(i, kind)), None)
        return item if isinstance(item, kind) else None


class ActionRunner(Generic[SpecT]):
    """One kind's behaviour in this process; built once per server from its `Resources`."""

    def check(self, spec: SpecT) -> None:
        """Refuse (InvalidInput naming the field under `action`) a spec that is well formed
        but cannot run here, such as one naming a site this server does not know."""

    async def run(self, spec: SpecT, ctx: ActionContext) -> ActionOutcome:
        raise NotImplementedError

    async def aclose(self) -> None:
        """Let go of what the runner holds (connection pools) when the server stops."""
