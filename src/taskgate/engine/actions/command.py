"""The `command` action: run a program (an argv, or a shell script when asked) as a child
process with the run's parameters in its environment and a file, and read its result file."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from taskgate.domain.actions import ActionSpec
from taskgate.domain.errors import InvalidInput
from taskgate.domain.status import EndReason, Status
from taskgate.engine.actions.contract import (
    ActionContext,
    ActionOutcome,
    ActionRunner,
    Resources,
    RunFiles,
)
from taskgate.engine.actions.registry import register
from taskgate.engine.hostos import open_no_follow
from taskgate.engine.logcollector import LogCollector
from taskgate.engine.process import ProcessOutcome, run_process
from taskgate.engine.runas import Account, account, private_folder

RESULT_MAX_BYTES = 1024 * 1024


class CommandAction(ActionSpec):
    kind: Literal["command"] = "command"
    argv: list[str] | None = Field(None, min_length=1, description="Program and arguments.")
    shell: bool = Field(False, description="Run `script` through /bin/sh instead of an argv.")
    script: str | None = Field(None, min_length=1, description="Shell text, only with shell: true.")
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    run_as: str | None = Field(
        None,
        min_length=1,
        description="Run as this user (the server must run as root); default: the server's.",
    )

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
    user: Account | None = None,
) -> ProcessOutcome:
    """Run the command to its end: os.environ, overlaid by the action's `env`, overlaid by
    `env`, is its environment (see `run_process`); as `user` when one is given."""
    base = {**os.environ, **(user.environment() if user else {})}
    return await run_process(
        action.program(),
        cwd=action.cwd,
        env={**base, **action.env, **env},
        timeout=timeout,
        abort=abort,
        log=log,
        kill_grace=kill_grace,
        on_spawn=on_spawn,
        spawn_options=user.popen_options() if user else None,
    )


def write_private(path: Path, text: str) -> None:
    """A file for the server's user alone (parameters may be secrets). Written through the
    descriptor: a file object's buffer and text layer cost more than the write, once per run."""
    data = text.encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class CommandRunner(ActionRunner[CommandAction]):
    def __init__(self, _: Resources) -> None:
        pass

    def check(self, spec: CommandAction) -> None:
        if spec.run_as is not None:
            account(spec.run_as)

    async def run(self, spec: CommandAction, ctx: ActionContext) -> ActionOutcome:
        params = json.dumps(ctx.params)
        if spec.run_as is None:
            write_private(ctx.files.params, params)
            return await self._run(spec, ctx, None)
        try:
            user = account(spec.run_as)
        except InvalidInput as exc:  # the user went away, or the server is not root any more
            return ActionOutcome(Status.ERROR, None, f"cannot start: {exc.message}")
        with private_folder(user, ctx.files.params.name, params) as folder:
            files = RunFiles.of(folder, ctx.execution_id)
            return await self._run(spec, replace(ctx, files=files), user)

    async def _run(
        self, spec: CommandAction, ctx: ActionContext, user: Account | None
    ) -> ActionOutcome:
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
                user=user,
            )
        finally:
            for pid in spawned:
                ctx.processes.untrack(pid)
        result, note = read_result(ctx.files.result, owner=user.uid if user else None)
        message = ended.message + (f"; {note}" if note else "")
        match ended.reason:
            case "exited":
                ok = ended.exit_code == 0
                status = Status.FINISHED_SUCCESS if ok else Status.FINISHED_FAIL
            case "aborted":
                status = Status.ABORTED
            case _:
                status = Status.ERROR
        reason = EndReason.TIMEOUT if ended.reason == "timeout" else None
        return ActionOutcome(status, ended.exit_code, message, result, pid=ended.pid, reason=reason)


def read_result(path: Path, owner: int | None = None) -> tuple[Any, str]:
    """The JSON a run left in TASKGATE_RESULT_FILE, and a note when it was unusable. With
    `owner`, only a regular file that user owns is read (not a link to one of ours)."""
    try:
        fd = open_no_follow(path)
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"result file ignored: {exc.strerror}"
    with os.fdopen(fd, "rb") as file:
        found = os.fstat(file.fileno())
        if not stat.S_ISREG(found.st_mode) or (owner is not None and found.st_uid != owner):
            return None, "result file ignored: not a regular file of the run's user"
        if found.st_size > RESULT_MAX_BYTES:
            return None, f"result file ignored: larger than {RESULT_MAX_BYTES} bytes"
        data = file.read(RESULT_MAX_BYTES + 1)
    try:
        return json.loads(data), ""
    except ValueError as exc:
        return None, f"result file ignored: not JSON ({exc})"


register("command", CommandAction, CommandRunner)
