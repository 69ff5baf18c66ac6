"""What differs between Linux (and other POSIX systems) and Windows when the engine starts,
stops and outlives a command's processes. The rest of the engine asks here instead of testing
the platform itself, and `mypy --platform win32` (scripts/test) checks the Windows side.

- A run starts in a session and process group of its own on POSIX (a signal to the server's
  group does not reach it, and the group reaches its children); on Windows in a new process
  group, which keeps the console's Ctrl+C away from it.
- Stopping a tree: POSIX signals the group and every descendant psutil finds; Windows has no
  groups, so psutil alone reaches the tree (terminate and kill are TerminateProcess there,
  freeze is NtSuspendProcess).
- Python 3.11 waits for each child in a thread of its own on POSIX; Linux's pidfd is cheaper.
  Windows' proactor loop waits on process handles itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import psutil  # imported where a process is signalled: see engine/process.py

Action = Literal["terminate", "freeze", "kill"]


def new_session() -> dict[str, Any]:
    """subprocess options that start a run apart from the server's session and group."""
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}


def signal_group(pgid: int, action: Action) -> None:
    """Terminate, freeze or kill a run's process group (POSIX; Windows has no groups)."""
    if sys.platform == "win32":
        return
    import signal

    number = {"terminate": signal.SIGTERM, "freeze": signal.SIGSTOP, "kill": signal.SIGKILL}
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, number[action])


def signal_process(proc: psutil.Process, action: Action) -> None:
    """The same for one process. psutil refuses (NoSuchProcess) when the pid now belongs to
    another process, so a reused pid is never hit."""
    import psutil

    act = {"terminate": proc.terminate, "freeze": proc.suspend, "kill": proc.kill}[action]
    with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
        act()


def watch_children_with_pidfd() -> Callable[[], None] | None:
    """Make asyncio wait for children with a pidfd where that helps (Linux, Python 3.11);
    returns what gives later loops of this process the watcher they had, or None when nothing
    was changed. 3.12 and later pick pidfd by themselves (and deprecate choosing a watcher)."""
    if sys.platform == "win32" or sys.version_info >= (3, 12) or not hasattr(os, "pidfd_open"):
        return None
    try:
        os.close(os.pidfd_open(os.getpid()))
    except OSError:
        return None  # kernel without pidfd: keep the default watcher
    before = asyncio.get_child_watcher()
    watcher = asyncio.PidfdChildWatcher()
    watcher.attach_loop(asyncio.get_running_loop())
    asyncio.set_child_watcher(watcher)
    return lambda: asyncio.set_child_watcher(before)


def open_no_follow(path: str | os.PathLike[str]) -> int:
    """Open a file to read without following a link in its last part (POSIX) and without
    blocking on a FIFO someone left in its place. Windows has neither flag: a run there cannot
    change user (`run_as`), so its files are the server's own."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    return os.open(path, flags | getattr(os, "O_BINARY", 0))
