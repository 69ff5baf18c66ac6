"""The command run alone: `CommandRunner.run` of `/bin/true`, one at a time, in this process.

No server and no database: a real `ActionContext` (params file, token, environment), the
spawn, the exit through the pidfd, the result file, the files removed. Prints this process's
CPU per run (user and system, from getrusage; the child's own CPU is not counted). Under
callgrind, two counts make the instructions per run, start-up cancelled out:

    .venv/bin/python bench/command_run.py [--count 2000] [--warmup 100]
    valgrind --tool=callgrind --callgrind-out-file=F .venv/bin/python bench/command_run.py \\
        --count N --warmup 30        # N = 100 and 400: (I(400) - I(100)) / 300

(valgrind 3.19 does not know `pidfd_open`: under it the exit is waited for by the thread
fallback, the same in an A/B comparison.) For an A/B, run it with `PYTHONPATH` at each tree's
`src`.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from taskgate.domain import exectoken
from taskgate.domain.tasks import Task
from taskgate.engine.actions.command import CommandAction, CommandRunner
from taskgate.engine.actions.contract import ActionContext, Resources, RunFiles
from taskgate.engine.logcollector import LogCollector

KEY = b"k" * 43


async def _runs(count: int, warmup: int) -> None:
    folder = Path(tempfile.mkdtemp(prefix="taskgate-command-run-"))
    now = datetime.now(UTC)
    task = Task.model_validate(
        {
            "id": str(uuid.uuid4()),
            "name": "bench-true",
            "action": {"kind": "command", "argv": ["/bin/true"]},
            "created_at": now,
            "updated_at": now,
        }
    )
    spec = task.action
    assert isinstance(spec, CommandAction)
    runner = CommandRunner(Resources())

    async def one() -> None:
        execution_id = str(uuid.uuid4())
        files = RunFiles.of(folder, execution_id)
        ctx = ActionContext(
            execution_id=execution_id,
            task=task,
            attempt=1,
            params={"a": 1, "b": "x"},
            log=LogCollector(1 << 20),
            files=files,
            abort=asyncio.Event(),
            timeout=60.0,
            public_url="http://127.0.0.1:8000",
            issue_token=lambda: exectoken.issue(KEY, execution_id, now),
            kill_grace=1.0,
        )
        outcome = await runner.run(spec, ctx)
        files.remove()
        if outcome.exit_code != 0:
            raise SystemExit(f"/bin/true did not succeed: {outcome}")

    for _ in range(warmup):
        await one()
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    for _ in range(count):
        await one()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    user = (after.ru_utime - before.ru_utime) / count * 1e6
    system = (after.ru_stime - before.ru_stime) / count * 1e6
    print(
        f"{count} runs: CPU per run {user + system:.0f} us (user {user:.0f}, system "
        f"{system:.0f}), wall per run {wall / count * 1e6:.0f} us"
    )
    folder.rmdir()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--count", type=int, default=2000, help="Counted runs (2000).")
    p.add_argument("--warmup", type=int, default=100, help="Runs first, not counted (100).")
    args = p.parse_args()
    asyncio.run(_runs(args.count, args.warmup))


if __name__ == "__main__":
    main()
