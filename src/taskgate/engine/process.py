"""Run a program as a child process: collect its output, time it out, kill its tree.

The child starts in a session (and process group) of its own. When it has to be stopped
(timeout, abort, cancellation), the whole tree goes: every descendant found with psutil,
including grandchildren that left the group with `setsid`, gets SIGTERM together with the
group; whatever is still there after the grace period is frozen with SIGSTOP (so it cannot fork
while we look), its descendants are collected, and everything gets SIGKILL.

Output is read by the event loop from one pipe that is both the child's stdout and its stderr
(`_Child`) into a subprocess protocol, so the two are kept in the order the child wrote them and
never left in a full pipe: a child keeps running at full speed after the log cap is reached (the
collector just counts what it drops). The child's exit comes from its pidfd. On Windows
(engine/hostos.py; not run there) asyncio's subprocess transport does both (`_TransportChild`,
two pipes), and the tree is stopped through psutil alone.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import signal as signals
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from taskgate.engine.hostos import new_session, signal_group, signal_process
from taskgate.engine.logcollector import LogCollector

if TYPE_CHECKING:
    # Imported where a tree is killed (an abort, a timeout): a run that ends by itself needs
    # none of it, and an idle server is 0.9 MiB lighter without it.
    import psutil

DRAIN_AFTER_EXIT = 1.0
"""Seconds to keep reading after the main process ended, for pipes a grandchild still holds."""

KILL_WAIT = 5.0
"""Seconds to wait for SIGKILLed processes to disappear before giving up on them."""

Reason = Literal["exited", "timeout", "aborted", "spawn_failed"]


@dataclass(frozen=True)
class ProcessOutcome:
    """How a process ended."""

    exit_code: int | None
    """The exit status; None when it never started or ended by a signal (then `signal` is set)."""
    signal: int | None
    reason: Reason
    message: str
    """Human text: "exited with code 3", "timed out after 2s; process tree killed", ..."""
    pid: int | None

    @property
    def succeeded(self) -> bool:
        return self.reason == "exited" and self.exit_code == 0


async def run_process(
    argv: list[str],
    *,
    cwd: str | None,
    env: dict[str, str],
    timeout: float | None,
    abort: asyncio.Event,
    log: LogCollector,
    kill_grace: float,
    on_spawn: Callable[[int], Awaitable[None]] | None = None,
    spawn_options: dict[str, Any] | None = None,
) -> ProcessOutcome:
    """Run `argv` to its end and say how it ended; never raises for a failing program.

    `env` is the whole environment of the process. stdout and
    stderr both go to `log` (decoded as UTF-8, bad bytes replaced); `log.close()` is left to the
    caller. `timeout` counts from the start of the process. Setting `abort` stops it. Either way
    the process tree gets SIGTERM, then SIGKILL after `kill_grace` seconds. Cancelling the call
    kills the tree the same way before the cancellation propagates. `spawn_options` go to
    subprocess as they are (user, group, extra_groups).
    """
    if abort.is_set():
        return ProcessOutcome(None, None, "aborted", "aborted before start", None)
    loop = asyncio.get_running_loop()
    try:
        child: _Child | _TransportChild
        if sys.platform == "win32":
            protocol = _Protocol(log, loop)
            child = await _TransportChild.spawn(argv, cwd, env, protocol, loop)
        else:
            protocol = _Protocol(log, loop, pipes=(_Child.OUTPUT,))
            child = _Child.spawn(argv, cwd, env, spawn_options, protocol, loop)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        return ProcessOutcome(None, None, "spawn_failed", f"cannot start: {exc}", None)

    pid = child.pid
    deadline = None if timeout is None else loop.time() + timeout
    tree = _ProcessTree(pid, protocol.exited)
    try:
        if on_spawn is not None:
            await on_spawn(pid)
        reason = await _wait_for_end(protocol.exited, abort, deadline)
        if reason != "exited":
            await tree.terminate(kill_grace)
        # A grandchild may still hold the pipes: read what comes for a short while, then stop.
        if not protocol.drained.done():
            await asyncio.wait({protocol.drained}, timeout=DRAIN_AFTER_EXIT)
    except BaseException:  # cancelled, or on_spawn failed: the processes must not outlive us
        await tree.terminate_after_error(kill_grace)
        raise
    finally:
        protocol.finish()
        child.close()
    return _outcome(reason, child.returncode, timeout, pid)


# The child's stdin: /dev/null, opened once (not inherited: the child gets a copy as fd 0).
_devnull: int | None = None


def _dev_null() -> int:
    global _devnull
    if _devnull is None:
        _devnull = os.open(os.devnull, os.O_RDONLY)
    return _devnull


class _Child:
    """A child process and its output pipe (stdout and stderr both), watched by the event loop
    directly: the pipe's reader hands what it reads to the protocol, and the process's pidfd
    says when it exited (then it is reaped). Leaner than asyncio's subprocess transport (its
    pipe transports, the task that connects them and the child watcher's callbacks), which
    cost more than the rest of a trivial run's spawn; one pipe instead of two saves a pipe, a
    reader and its wake-up per run, and keeps the two streams in the order they were written."""

    READ_MAX = 256 * 1024
    OUTPUT = 1
    """The protocol's number for the one pipe (it numbers pipes as the child's fds)."""

    def __init__(
        self, proc: subprocess.Popen[bytes], protocol: _Protocol, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.protocol = protocol
        self.loop = loop
        self.returncode: int | None = None
        self._pipes: dict[int, int] = {}  # read end -> the protocol's pipe number
        self._pidfd: int | None = None

    @classmethod
    def spawn(
        cls,
        argv: list[str],
        cwd: str | None,
        env: dict[str, str],
        spawn_options: dict[str, Any] | None,
        protocol: _Protocol,
        loop: asyncio.AbstractEventLoop,
    ) -> _Child:
        if sys.platform == "win32":
            raise NotImplementedError("Windows runs children through _TransportChild")
        out_r, out_w = os.pipe()
        try:
            proc = subprocess.Popen(
                argv,
                stdin=_dev_null(),
                stdout=out_w,
                stderr=out_w,
                cwd=cwd,
                env=env,
                # user, group, extra_groups: another user's process (a task's run_as).
                **{**new_session(), **(spawn_options or {})},
            )
        except BaseException:
            os.close(out_r)
            raise
        finally:
            os.close(out_w)
        child = cls(proc, protocol, loop)
        os.set_blocking(out_r, False)
        child._pipes[out_r] = cls.OUTPUT
        loop.add_reader(out_r, child._read, out_r)
        child._watch_exit()
        return child

    def _read(self, fd: int) -> None:
        try:
            data = os.read(fd, self.READ_MAX)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._lost(fd, exc)
            return
        if data:
            self.protocol.pipe_data_received(self._pipes[fd], data)
        else:
            self._lost(fd, None)

    def _lost(self, fd: int, exc: Exception | None) -> None:
        which = self._pipes.pop(fd, None)
        if which is None:
            return
        self.loop.remove_reader(fd)
        os.close(fd)
        self.protocol.pipe_connection_lost(which, exc)

    def _watch_exit(self) -> None:
        if sys.platform == "win32":
            raise NotImplementedError("Windows runs children through _TransportChild")
        try:
            pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # no pidfd (not Linux 5.3+): a thread waits
            waiting = self.loop.run_in_executor(None, self.proc.wait)
            waiting.add_done_callback(lambda _: self._exited())
            return
        self._pidfd = pidfd
        self.loop.add_reader(pidfd, self._reap)

    def _reap(self) -> None:
        if self.proc.poll() is None:
            return  # not yet (the pidfd said so early): asked again when it is readable
        self._close_pidfd()
        self._exited()

    def _exited(self) -> None:
        self.returncode = self.proc.returncode
        self.protocol.process_exited()

    def _close_pidfd(self) -> None:
        if self._pidfd is not None:
            self.loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    def close(self) -> None:
        """Stop reading; a main process still running (an error stopped the wait) is killed,
        and reaped by its pidfd watch when it has gone."""
        for fd in list(self._pipes):
            self.loop.remove_reader(fd)
            os.close(fd)
        self._pipes.clear()
        if self.returncode is None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.kill()
        elif self.returncode is None:
            self._close_pidfd()
            self.returncode = self.proc.returncode


class _TransportChild:
    """Windows: its proactor loop cannot watch pipes with add_reader, so there asyncio's
    subprocess transport reads them (not run: docs/windows.md)."""

    def __init__(self, transport: asyncio.SubprocessTransport) -> None:
        self.transport = transport
        self.pid = transport.get_pid()

    @classmethod
    async def spawn(
        cls,
        argv: list[str],
        cwd: str | None,
        env: dict[str, str],
        protocol: _Protocol,
        loop: asyncio.AbstractEventLoop,
    ) -> _TransportChild:
        transport, _ = await loop.subprocess_exec(
            lambda: protocol,
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            **new_session(),
        )
        return cls(transport)

    @property
    def returncode(self) -> int | None:
        return self.transport.get_returncode()

    def close(self) -> None:
        self.transport.close()


def _outcome(
    reason: Reason, returncode: int | None, timeout: float | None, pid: int
) -> ProcessOutcome:
    exit_code = returncode if returncode is not None and returncode >= 0 else None
    sig = -returncode if returncode is not None and returncode < 0 else None
    if reason == "timeout":
        message = f"timed out after {timeout:g}s; process tree killed"
    elif reason == "aborted":
        message = "aborted; process tree killed"
    elif sig is not None:
        message = f"killed by signal {sig} ({_signal_name(sig)})"
    else:
        message = f"exited with code {exit_code}"
    return ProcessOutcome(exit_code, sig, reason, message, pid)


def _signal_name(sig: int) -> str:
    try:
        return signals.Signals(sig).name
    except ValueError:
        return "unknown"


class _Protocol(asyncio.SubprocessProtocol):
    """Decodes the output pipes (`pipes`, numbered as the child's fds) incrementally into the
    collector; tells when the process exited and when every pipe was closed."""

    def __init__(
        self,
        log: LogCollector,
        loop: asyncio.AbstractEventLoop,
        pipes: tuple[int, ...] = (1, 2),
    ) -> None:
        self._log = log
        factory = codecs.getincrementaldecoder("utf-8")
        self._decoders: dict[int, codecs.IncrementalDecoder] = {
            fd: factory(errors="replace") for fd in pipes
        }
        self.exited: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        decoder = self._decoders.get(fd)
        if decoder is None:  # pipe already flushed, or finish() was called
            return
        text = decoder.decode(data) if isinstance(data, bytes) else data
        if text:
            self._log.write(text)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._flush(fd)
        if not self._decoders and not self.drained.done():
            self.drained.set_result(None)

    def process_exited(self) -> None:
        if not self.exited.done():
            self.exited.set_result(None)

    def finish(self) -> None:
        """Write out what the decoders hold and ignore anything arriving later."""
        for fd in list(self._decoders):
            self._flush(fd)

    def _flush(self, fd: int) -> None:
        decoder = self._decoders.pop(fd, None)
        if decoder is not None:
            text = decoder.decode(b"", final=True)
            if text:
                self._log.write(text)


async def _wait_for_end(
    exited: asyncio.Future[None], abort: asyncio.Event, deadline: float | None
) -> Reason:
    if not exited.done() and not abort.is_set():
        abort_wait = asyncio.ensure_future(abort.wait())
        waiters: set[asyncio.Future[Any]] = {exited, abort_wait}
        remaining = None
        if deadline is not None:
            remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            await asyncio.wait(waiters, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        finally:
            abort_wait.cancel()
    if exited.done():
        return "exited"
    if abort.is_set():
        return "aborted"
    return "timeout"


# --- killing a process tree -------------------------------------------------------------


class _ProcessTree:
    """The main process and the descendants seen so far, for killing them all."""

    def __init__(self, pid: int, exited: asyncio.Future[None]) -> None:
        self.pid = pid  # also the process group id on POSIX (hostos.new_session)
        self.exited = exited
        self.tracked: dict[int, psutil.Process] = {}
        self.signalled = False

    async def terminate(self, grace: float) -> None:
        """SIGTERM the group and every descendant; SIGKILL what is left after `grace` seconds."""
        if not self.exited.done():
            self.tracked.update(_descendants([self.pid]))
        self.signalled = True
        signal_group(self.pid, "terminate")
        for proc in self.tracked.values():
            signal_process(proc, "terminate")
        if await self.wait_gone(grace):
            # Members of the group forked after the snapshot may linger; the group id cannot
            # have been reused while any of them exists.
            signal_group(self.pid, "kill")
            return
        self.kill_now()
        await self.wait_gone(KILL_WAIT)

    async def terminate_after_error(self, grace: float) -> None:
        """Kill the tree while an exception propagates; a second cancellation skips the grace.

        A main process that exited by itself is left alone, like its leftovers on a normal
        end; a tree already being terminated gets SIGKILL without a second grace period.
        """
        if not self.signalled and self.exited.done():
            return
        task: asyncio.Future[object]
        if self.signalled:
            self.kill_now()
            task = asyncio.ensure_future(self.wait_gone(KILL_WAIT))
        else:
            task = asyncio.ensure_future(self.terminate(grace))
        try:
            await asyncio.shield(task)
        except BaseException:
            task.cancel()
            self.kill_now()

    def kill_now(self) -> None:
        """Freeze everything left, collect what was forked meanwhile, and SIGKILL all of it."""
        import psutil

        frontier = [proc for proc in self.tracked.values() if not _gone(proc)]
        if not self.exited.done():
            with contextlib.suppress(psutil.Error):
                frontier.append(psutil.Process(self.pid))
        signal_group(self.pid, "freeze")
        for _ in range(10):  # one generation per round; stopped processes cannot fork
            for proc in frontier:
                signal_process(proc, "freeze")
            found = _descendants(proc.pid for proc in frontier)
            frontier = [proc for pid, proc in found.items() if pid not in self.tracked]
            self.tracked.update((proc.pid, proc) for proc in frontier)
            if not frontier:
                break
        signal_group(self.pid, "kill")
        for proc in self.tracked.values():
            signal_process(proc, "kill")

    async def wait_gone(self, limit: float) -> bool:
        """Wait up to `limit` seconds for the main process to exit and the tracked ones to go."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        pause = 0.005
        waiting = list(self.tracked.values())
        while True:
            waiting = [proc for proc in waiting if not _gone(proc)]
            if self.exited.done() and not waiting:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            if self.exited.done():
                await asyncio.sleep(min(pause, remaining))
            else:
                await asyncio.wait({self.exited}, timeout=min(pause, remaining))
            pause = min(pause * 2, 0.05)


def _descendants(pids: Iterable[int]) -> dict[int, psutil.Process]:
    import psutil

    found: dict[int, psutil.Process] = {}
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            found.update((child.pid, child) for child in psutil.Process(pid).children(True))
    return found


def _gone(proc: psutil.Process) -> bool:
    import psutil

    try:
        return not proc.is_running() or proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False
