"""Runs must not outlive their server. Each command starts in a session of its own, so a
`kill -9` of the server would leave it running, and a takeover that retries it would run its
body twice. A small watchdog process, started with the first run, is told the pid of every
run as it starts and ends; when the server dies, however it dies, the watchdog reads the end
of its pipe and kills what is still registered, with every descendant.

The watchdog is plain Python with no imports beyond the standard library's `os` and
`signal` (about 3 MiB of its own memory), started only when something runs.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys

from taskgate.engine.hostos import new_session

log = logging.getLogger(__name__)

# Both watchdogs read pids from stdin: "+pid" registers, "-pid" forgets, until the end of input
# (the server is gone); then they stop every tree still registered.
_READ_RUNS = r"""
runs = set()
buffer = b''
while True:
    chunk = os.read(0, 4096)
    if not chunk:
        break
    buffer += chunk
    *lines, buffer = buffer.split(b'\n')
    for line in lines:
        if line[:1] == b'+':
            runs.add(int(line[1:]))
        elif line[:1] == b'-':
            runs.discard(int(line[1:]))
"""

# POSIX: stop each tree (with SIGSTOP first, so nothing forks while it is collected), and kill
# it, its process group included.
WATCHDOG_CODE = (
    r"""
import os, signal

def children():
    found = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/' + name + '/stat') as f:
                stat = f.read()
        except OSError:
            continue
        parent = int(stat.rsplit(')', 1)[1].split()[1])
        found.setdefault(parent, []).append(int(name))
    return found

def tree(roots):
    kids = children()
    seen, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen:
            continue
        seen.add(pid)
        todo.extend(kids.get(pid, ()))
    return seen

def signal_all(pids, sig):
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass

signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
"""
    + _READ_RUNS
    + r"""
if runs:
    for pid in runs:
        try:
            os.killpg(pid, signal.SIGSTOP)
        except OSError:
            pass
    doomed = tree(runs)
    signal_all(doomed, signal.SIGSTOP)
    doomed |= tree(doomed)
    for pid in runs:
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
    signal_all(doomed, signal.SIGKILL)
"""
)

# Windows: no /proc, groups or SIGSTOP; taskkill ends each registered run with its whole tree.
WATCHDOG_CODE_WINDOWS = (
    r"""
import os, signal, subprocess

signal.signal(signal.SIGINT, signal.SIG_IGN)
"""
    + _READ_RUNS
    + r"""
for pid in runs:
    subprocess.call(['taskkill', '/F', '/T', '/PID', str(pid)],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
"""
)


class Watchdog:
    """The server's side: starts the watchdog process and tells it about each run's pid."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._pids: set[int] = set()

    def track(self, pid: int) -> None:
        self._pids.add(pid)
        self._send(f"+{pid}\n")

    def untrack(self, pid: int) -> None:
        self._pids.discard(pid)
        self._send(f"-{pid}\n")

    def close(self) -> None:
        """Let the watchdog go: it stops whatever is still registered, then exits."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        with contextlib.suppress(OSError):
            proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def _send(self, line: str) -> None:
        for _ in range(2):
            proc = self._proc if self._proc is not None and self._proc.poll() is None else None
            if proc is None:
                proc = self._start()
            assert proc.stdin is not None
            try:
                proc.stdin.write(line.encode())
                proc.stdin.flush()
                return
            except OSError:
                log.warning("the run watchdog went away; starting it again")
                self._proc = None

    def _start(self) -> subprocess.Popen[bytes]:
        code = WATCHDOG_CODE_WINDOWS if sys.platform == "win32" else WATCHDOG_CODE
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", code],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            close_fds=True,
            # Its own session: a signal to the server's process group does not reach it, so it
            # outlives the server long enough to stop the runs.
            **new_session(),
        )
        self._proc = proc
        assert proc.stdin is not None
        # A new watchdog knows the runs an earlier one was told about.
        for pid in self._pids:
            proc.stdin.write(f"+{pid}\n".encode())
        proc.stdin.flush()
        return proc
