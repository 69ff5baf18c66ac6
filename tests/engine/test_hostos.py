"""The host-OS seam of the engine: the Windows watchdog's protocol, and what POSIX gets."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from taskgate.engine.hostos import new_session, open_no_follow, signal_process
from taskgate.engine.watchdog import WATCHDOG_CODE_WINDOWS


def test_the_windows_watchdog_taskkills_each_run_still_registered_when_its_input_ends(
    tmp_path: Path,
) -> None:
    # No Windows here: a `taskkill` on PATH records what the watchdog asks of it.
    record = tmp_path / "taskkill.log"
    taskkill = tmp_path / "taskkill"
    taskkill.write_text(f'#!/bin/sh\necho "$@" >> {record}\n')
    taskkill.chmod(taskkill.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    watchdog = subprocess.run(
        [sys.executable, "-I", "-S", "-c", WATCHDOG_CODE_WINDOWS],
        input=b"+101\n+202\n-101\n+30",  # a last line cut short registers nothing
        env=env,
        timeout=30,
        check=True,
    )
    assert watchdog.returncode == 0
    assert record.read_text().splitlines() == ["/F /T /PID 202"]


def test_a_run_starts_in_a_session_of_its_own_on_posix() -> None:
    assert new_session() == {"start_new_session": True}
    child = subprocess.Popen(["sleep", "30"], **new_session())
    try:
        assert os.getsid(child.pid) == child.pid != os.getsid(0)
        signal_process(psutil.Process(child.pid), "kill")
        assert child.wait(timeout=10) == -9
    finally:
        child.kill()
        child.wait()


def test_result_files_are_read_without_following_a_link(tmp_path: Path) -> None:
    target = tmp_path / "secret"
    target.write_text("{}")
    (tmp_path / "link").symlink_to(target)
    with pytest.raises(OSError):
        open_no_follow(tmp_path / "link")
    os.close(open_no_follow(target))
