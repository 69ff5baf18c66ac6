"""The `command` action: run a program (an argv, or a shell script when asked) as a child
process with the run's parameters in its environment and a file, and read its result file."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from taskgate.domain.actions import ActionSpec
from taskgate.domain.status import Status
from taskgate.engine.actions.contract import ActionContext, ActionOutcome, ActionRunner, Resources
from taskgate.engine.actions.registry import register
from taskgate.engine.logcollector import LogCollector
from taskgate.engine.process import ProcessOutcome, run_process

RESULT_MAX_BYTES = 1024 * 1024


class CommandAction(ActionSpec):
    kind: Literal["command"] = "command"
    argv: list[str] | None = Field(None, min_length=1, description="Program and arguments.")
    shell: bool = Field(False, description="Run `script` through /bin/sh instead of an argv.")
    script: str | None = Field(None, min_length=1, description="Shell text, only with shell: true.")
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None

    @model_validator(mode="after")
    def _argv_or_script(self) -> CommandAction:
        if self.shell and not self.script:
            raise ValueError("shell: true needs `script`")
        if not self.shell and not self.argv:
            raise ValueError("a command needs `argv` (or `shell: true` with `script`)")
        if self.shell and self.argv:
            raise ValueError("give either `argv` or `shell: true` with `script`, not both")
        return self

    def program(self) -> list[str]:
        return ["/bin/sh", "-c", self.script or ""] if self.shell else list(self.argv or [])


async def run_command(
    action: CommandAction,
    *,
    env: dict[str, str],
    timeout: float | None,
    abort: asyncio.Event,
    log: LogCollector,
    kill_grace: float,
    on_spawn: Callable[[int], Awaitable[None]] | None = None,
) -> ProcessOutcome:
    """Run the command to its end: os.environ, overlaid by the action's `env`, overlaid by
    `env`, is its environment (see `run_process`)."""
    return await run_process(
        action.program(),
        cwd=action.cwd,
        env={**os.environ, **action.env, **env},
        timeout=timeout,
        abort=abort,
        log=log,
        kill_grace=kill_grace,
        on_spawn=on_spawn,
    )


class CommandRunner(ActionRunner[CommandAction]):
    def __init__(self, _: Resources) -> None:
        pass

    async def run(self, spec: CommandAction, ctx: ActionContext) -> ActionOutcome:
        ctx.files.params.write_text(json.dumps(ctx.params))
        spawned: list[int] = []

        async def watch(pid: int) -> None:
            spawned.append(pid)
            ctx.processes.track(pid)

        try:
            ended = await run_command(
                spec,
                env=ctx.variables(),
                timeout=ctx.timeout,
                abort=ctx.abort,
                log=ctx.log,
                kill_grace=ctx.kill_grace,
                on_spawn=watch,
            )
        finally:
            for pid in spawned:
                ctx.processes.untrack(pid)
        result, note = read_result(ctx.files.result)
        message = ended.message + (f"; {note}" if note else "")
        match ended.reason:
            case "exited":
                ok = ended.exit_code == 0
                status = Status.FINISHED_SUCCESS if ok else Status.FINISHED_FAIL
            case "aborted":
                status = Status.ABORTED
            case _:
                status = Status.ERROR
        return ActionOutcome(status, ended.exit_code, message, result, pid=ended.pid)


def read_result(path: Path) -> tuple[Any, str]:
    """The JSON a run left in TASKGATE_RESULT_FILE, and a note when it was unusable."""
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


register("command", CommandAction, CommandRunner)
