"""run_command against real subprocesses (no mocks).

Process trees are built by TREE_SCRIPT below: each process writes its pid to a file (written
to a temporary name, then renamed, so a file that exists is complete) and the tests wait for
those files with a deadline before acting.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import psutil
import pytest

from taskgate.engine.actions.command import CommandAction, run_command
from taskgate.engine.logcollector import LogCollector
from taskgate.engine.process import ProcessOutcome, _Protocol

PY = sys.executable

TREE_SCRIPT = """
import os, signal, subprocess, sys, time
from pathlib import Path

folder, role = Path(sys.argv[1]), sys.argv[2]

def write_pid(name):
    tmp = folder / (name + ".tmp")
    tmp.write_text(str(os.getpid()))
    tmp.rename(folder / name)

if role in ("child", "stubborn-child"):
    if role == "stubborn-child":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # one grandchild in our process group, one that left it (setsid); both ignore SIGTERM
    subprocess.Popen([sys.executable, __file__, str(folder), "grandchild"])
    subprocess.Popen([sys.executable, __file__, str(folder), "escaped"], start_new_session=True)
    write_pid("child.pid")
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    write_pid(role + ".pid")
while True:
    time.sleep(60)
"""

TREE_PIDS = ("child.pid", "grandchild.pid", "escaped.pid")


def run(
    action: CommandAction,
    *,
    env: dict[str, str] | None = None,
    timeout: float | None = 10.0,
    cap: int = 1 << 20,
    kill_grace: float = 0.3,
) -> tuple[ProcessOutcome, str]:
    log = LogCollector(cap)

    async def main() -> ProcessOutcome:
        return await run_command(
            action,
            env=env or {},
            timeout=timeout,
            abort=asyncio.Event(),
            log=log,
            kill_grace=kill_grace,
        )

    outcome = asyncio.run(main())
    log.close()
    return outcome, log.take()


def py(code: str, **kwargs: object) -> CommandAction:
    return CommandAction(argv=[PY, "-c", code], **kwargs)


def tree(folder: Path, role: str = "child") -> CommandAction:
    script = folder / "tree.py"
    script.write_text(TREE_SCRIPT)
    return CommandAction(argv=[PY, str(script), str(folder), role])


async def wait_for_files(folder: Path, names: tuple[str, ...], limit: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not all((folder / name).exists() for name in names):
        assert loop.time() < deadline, f"pid files not written: {names}"
        await asyncio.sleep(0.01)


def read_pids(folder: Path, names: tuple[str, ...] = TREE_PIDS) -> list[int]:
    return [int((folder / name).read_text()) for name in names]


def is_alive(pid: int) -> bool:
    """Running, as opposed to gone or a zombie waiting for a parent (pid 1 may never reap)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def kill_leftovers(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


# --- plain runs ---------------------------------------------------------------------------


def test_exit_code_zero() -> None:
    outcome, text = run(py("print('hi')"))
    assert outcome.reason == "exited"
    assert outcome.exit_code == 0
    assert outcome.signal is None
    assert outcome.message == "exited with code 0"
    assert outcome.succeeded
    assert outcome.pid is not None
    assert text == "hi\n"


def test_exit_code_non_zero() -> None:
    outcome, _ = run(py("import sys; sys.exit(3)"))
    assert (outcome.reason, outcome.exit_code, outcome.message) == (
        "exited",
        3,
        "exited with code 3",
    )
    assert not outcome.succeeded


def test_killed_by_a_signal_from_outside() -> None:
    outcome, _ = run(py("import os, signal; os.kill(os.getpid(), signal.SIGKILL)"))
    assert outcome.reason == "exited"
    assert (outcome.exit_code, outcome.signal) == (None, 9)
    assert outcome.message == "killed by signal 9 (SIGKILL)"


def test_stdout_and_stderr_are_both_captured_in_order() -> None:
    code = (
        "import sys\n"
        "for n in range(50):\n"
        "    print(f'out {n}', flush=True)\n"
        "    print(f'err {n}', file=sys.stderr, flush=True)\n"
    )
    _, text = run(py(code))
    # One pipe for both: the log is the order the command wrote in, line for line.
    assert text == "".join(f"out {n}\nerr {n}\n" for n in range(50))


def test_env_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TG_A", "os")
    monkeypatch.setenv("TG_B", "os")
    monkeypatch.setenv("TG_C", "os")
    action = py(
        "import os; print(os.environ['TG_A'], os.environ['TG_B'], os.environ['TG_C'])",
        env={"TG_B": "action", "TG_C": "action"},
    )
    _, text = run(action, env={"TG_C": "extra", "TASKGATE_EXECUTION_ID": "x"})
    assert text == "os action extra\n"


def test_cwd_is_honoured(tmp_path: Path) -> None:
    _, text = run(py("import os; print(os.getcwd())", cwd=str(tmp_path)))
    assert os.path.realpath(text.strip()) == os.path.realpath(tmp_path)


def test_shell_mode_runs_a_script(tmp_path: Path) -> None:
    action = CommandAction(
        shell=True,
        script='echo "hello $WHO" | tr a-z A-Z\nls\nexit 4',
        env={"WHO": "world"},
        cwd=str(tmp_path),
    )
    (tmp_path / "marker.txt").write_text("")
    outcome, text = run(action)
    assert outcome.exit_code == 4
    assert text == "HELLO WORLD\nmarker.txt\n"


def test_arguments_are_not_interpreted_by_a_shell() -> None:
    _, text = run(CommandAction(argv=["echo", "$HOME", "a;b", "`x`"]))
    assert text == "$HOME a;b `x`\n"


def test_on_spawn_gets_the_pid() -> None:
    seen: list[int] = []

    async def on_spawn(pid: int) -> None:
        seen.append(pid)

    async def main() -> ProcessOutcome:
        return await run_command(
            py("pass"),
            env={},
            timeout=10,
            abort=asyncio.Event(),
            log=LogCollector(100),
            kill_grace=1,
            on_spawn=on_spawn,
        )

    outcome = asyncio.run(main())
    assert outcome.pid is not None
    assert seen == [outcome.pid]


# --- spawn failures -----------------------------------------------------------------------


def test_missing_program_is_spawn_failed() -> None:
    outcome, text = run(CommandAction(argv=["nope-taskgate-missing"]))
    assert outcome.reason == "spawn_failed"
    assert (outcome.exit_code, outcome.signal, outcome.pid) == (None, None, None)
    assert outcome.message == (
        "cannot start: [Errno 2] No such file or directory: 'nope-taskgate-missing'"
    )
    assert text == ""


def test_bad_cwd_is_spawn_failed(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    outcome, _ = run(CommandAction(argv=["true"], cwd=str(missing)))
    assert outcome.reason == "spawn_failed"
    assert outcome.message.startswith("cannot start: ")
    assert str(missing) in outcome.message


def test_not_executable_is_spawn_failed(tmp_path: Path) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    script.chmod(0o644)
    outcome, _ = run(CommandAction(argv=[str(script)]))
    assert outcome.reason == "spawn_failed"
    assert "Permission denied" in outcome.message


# --- stopping a process tree --------------------------------------------------------------


def test_timeout_kills_the_whole_tree(tmp_path: Path) -> None:
    started = time.monotonic()
    outcome, _ = run(tree(tmp_path), timeout=2.0, kill_grace=0.3)
    elapsed = time.monotonic() - started
    pids = read_pids(tmp_path)  # all three were running before the timeout
    try:
        assert outcome.reason == "timeout"
        assert outcome.message == "timed out after 2s; process tree killed"
        assert outcome.pid == pids[0]
        assert (outcome.exit_code, outcome.signal) == (None, 15)  # the child obeys SIGTERM
        assert [is_alive(pid) for pid in pids] == [False, False, False]
        assert elapsed < 8
    finally:
        kill_leftovers(pids)


def test_abort_kills_the_whole_tree(tmp_path: Path) -> None:
    async def main() -> ProcessOutcome:
        abort = asyncio.Event()

        async def press_abort() -> None:
            await wait_for_files(tmp_path, TREE_PIDS)
            abort.set()

        presser = asyncio.create_task(press_abort())
        outcome = await run_command(
            tree(tmp_path, "stubborn-child"),
            env={},
            timeout=30,
            abort=abort,
            log=LogCollector(1000),
            kill_grace=0.3,
        )
        await presser
        return outcome

    outcome = asyncio.run(main())
    pids = read_pids(tmp_path)
    try:
        assert outcome.reason == "aborted"
        assert outcome.message == "aborted; process tree killed"
        assert (outcome.exit_code, outcome.signal) == (None, 9)  # ignored SIGTERM: SIGKILL
        assert [is_alive(pid) for pid in pids] == [False, False, False]
    finally:
        kill_leftovers(pids)


def test_shell_grandchildren_with_trap_and_setsid_are_killed(tmp_path: Path) -> None:
    script = (
        'sh -c \'trap "" TERM; echo $$ > gc.tmp; mv gc.tmp gc.pid; '
        "while :; do sleep 1; done' &\n"
        'setsid sh -c \'trap "" TERM; echo $$ > esc.tmp; mv esc.tmp esc.pid; '
        "while :; do sleep 1; done' &\n"
        "echo $$ > child.tmp; mv child.tmp child.pid\n"
        "wait\n"
    )
    names = ("child.pid", "gc.pid", "esc.pid")

    async def main() -> ProcessOutcome:
        abort = asyncio.Event()

        async def press_abort() -> None:
            await wait_for_files(tmp_path, names)
            abort.set()

        presser = asyncio.create_task(press_abort())
        outcome = await run_command(
            CommandAction(shell=True, script=script, cwd=str(tmp_path)),
            env={},
            timeout=30,
            abort=abort,
            log=LogCollector(1000),
            kill_grace=0.3,
        )
        await presser
        return outcome

    outcome = asyncio.run(main())
    pids = read_pids(tmp_path, names)
    try:
        assert outcome.reason == "aborted"
        assert [is_alive(pid) for pid in pids] == [False, False, False]
    finally:
        kill_leftovers(pids)


def test_obedient_process_does_not_wait_for_the_grace_period() -> None:
    async def main() -> ProcessOutcome:
        abort = asyncio.Event()

        async def on_spawn(pid: int) -> None:
            abort.set()

        return await run_command(
            CommandAction(argv=["sleep", "30"]),
            env={},
            timeout=None,
            abort=abort,
            log=LogCollector(100),
            kill_grace=30,
            on_spawn=on_spawn,
        )

    started = time.monotonic()
    outcome = asyncio.run(main())
    assert time.monotonic() - started < 5
    assert (outcome.reason, outcome.signal) == ("aborted", 15)


def test_abort_before_start_does_not_start() -> None:
    async def main() -> ProcessOutcome:
        abort = asyncio.Event()
        abort.set()
        return await run_command(
            py("print(1)"), env={}, timeout=None, abort=abort, log=LogCollector(10), kill_grace=1
        )

    outcome = asyncio.run(main())
    assert (outcome.reason, outcome.pid) == ("aborted", None)


def test_cancellation_kills_the_tree_then_propagates(tmp_path: Path) -> None:
    async def main() -> None:
        task = asyncio.create_task(
            run_command(
                tree(tmp_path, "stubborn-child"),
                env={},
                timeout=30,
                abort=asyncio.Event(),
                log=LogCollector(1000),
                kill_grace=0.3,
            )
        )
        await wait_for_files(tmp_path, TREE_PIDS)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    pids = read_pids(tmp_path)
    try:
        assert [is_alive(pid) for pid in pids] == [False, False, False]
    finally:
        kill_leftovers(pids)


def test_cancellation_during_the_grace_period_kills_what_is_left(tmp_path: Path) -> None:
    async def main() -> None:
        abort = asyncio.Event()
        task = asyncio.create_task(
            run_command(
                tree(tmp_path),  # the child obeys SIGTERM, its children ignore it
                env={},
                timeout=None,
                abort=abort,
                log=LogCollector(1000),
                kill_grace=60,
            )
        )
        await wait_for_files(tmp_path, TREE_PIDS)
        child = read_pids(tmp_path)[0]
        abort.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while is_alive(child):  # SIGTERM took the child; the grace period is running
            assert loop.time() < deadline, "the child ignored SIGTERM"
            await asyncio.sleep(0.01)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    started = time.monotonic()
    asyncio.run(main())
    pids = read_pids(tmp_path)
    try:
        assert time.monotonic() - started < 10  # no second grace period
        assert [is_alive(pid) for pid in pids] == [False, False, False]
    finally:
        kill_leftovers(pids)


def test_failing_on_spawn_kills_the_process_and_propagates() -> None:
    seen: list[int] = []

    async def on_spawn(pid: int) -> None:
        seen.append(pid)
        raise RuntimeError("store is down")

    async def main() -> ProcessOutcome:
        return await run_command(
            CommandAction(argv=["sleep", "30"]),
            env={},
            timeout=None,
            abort=asyncio.Event(),
            log=LogCollector(100),
            kill_grace=1,
            on_spawn=on_spawn,
        )

    with pytest.raises(RuntimeError, match="store is down"):
        asyncio.run(main())
    assert not is_alive(seen[0])


# --- output handling ----------------------------------------------------------------------


def test_output_beyond_the_cap_is_dropped_and_the_child_is_not_blocked() -> None:
    code = (
        "import sys\n"
        "for _ in range(40):\n"
        "    sys.stdout.write('x' * 50_000)\n"
        "    sys.stderr.write('y' * 50_000)\n"
        "print('end')\n"
    )
    outcome, text = run(py(code), cap=100_000, timeout=20)
    assert outcome.reason == "exited"
    assert outcome.exit_code == 0
    total = 40 * 100_000 + len("end\n")
    kept, note = text[:100_000], text[100_000:]
    assert set(kept) <= {"x", "y"}
    assert (
        note == f"\n[taskgate] log truncated: kept 100000 bytes, dropped {total - 100_000} bytes\n"
    )


def test_multibyte_characters_split_across_reads_survive() -> None:
    code = (
        "import os, time\n"
        "for chunk in ['é'.encode()[:1], 'é'.encode()[1:] + '😀'.encode()[:3],"
        " '😀'.encode()[3:] + b'\\n']:\n"
        "    os.write(1, chunk)\n"
        "    time.sleep(0.05)\n"  # separate reads are likely, not required for correctness
        "os.write(2, b'bad \\xff byte\\n')\n"
    )
    _, text = run(py(code))
    assert text == "é😀\nbad \ufffd byte\n"


def test_decoder_keeps_partial_characters_per_stream() -> None:
    async def main() -> str:
        log = LogCollector(100)
        protocol = _Protocol(log, asyncio.get_running_loop())
        euro = "€".encode()
        protocol.pipe_data_received(1, euro[:1])
        protocol.pipe_data_received(2, euro[:2])
        protocol.pipe_data_received(1, euro[1:])
        protocol.pipe_data_received(2, euro[2:])
        protocol.pipe_data_received(1, euro[:1])  # cut short by the end of the stream
        protocol.pipe_connection_lost(1, None)
        protocol.pipe_connection_lost(2, None)
        assert protocol.drained.done()
        protocol.pipe_data_received(1, b"late")  # ignored after the pipe closed
        return log.take()

    assert asyncio.run(main()) == "€€\ufffd"


def test_background_grandchild_holding_stdout_does_not_hang(tmp_path: Path) -> None:
    script = "sleep 30 &\necho $! > bg.pid\necho done\n"
    started = time.monotonic()
    outcome, text = run(CommandAction(shell=True, script=script, cwd=str(tmp_path)))
    elapsed = time.monotonic() - started
    background = read_pids(tmp_path, ("bg.pid",))
    try:
        assert outcome.exit_code == 0
        assert text == "done\n"
        assert elapsed < 4
        assert is_alive(background[0])  # left alone
    finally:
        kill_leftovers(background)
