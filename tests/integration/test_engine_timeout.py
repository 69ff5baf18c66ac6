"""Timeouts: an attempt that runs too long is ended, with every process it started."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import psutil

from tests.support import (
    DIR_PARAM,
    STUBBORN_CODE,
    create_task,
    py_task,
    start_one,
    unique,
    wait_execution,
    wait_until,
)


def gone(pid: int) -> bool:
    """The process no longer runs (a zombie nobody reaped yet counts as gone)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_timeout_kills_the_process_tree(client: httpx.Client, tmp_path: Path) -> None:
    label = unique("stubborn")
    create_task(
        client,
        py_task(f"Stubborn {label}", STUBBORN_CODE, label=label, timeout=1, params=[DIR_PARAM]),
    )
    execution_id = start_one(client, f"label:{label}", {"dir": str(tmp_path)})
    pids_file = tmp_path / "pids"
    try:
        execution = wait_execution(client, execution_id)
        assert execution["status"] == "error", execution
        assert "timed out" in execution["message"], execution
        assert execution["attempt_count"] == 1
        assert execution["attempts"][0]["status"] == "error"
        assert "timed out" in execution["attempts"][0]["message"]
        assert pids_file.exists(), "the task did not get to write its pids"
        pids = [int(p) for p in pids_file.read_text().split()]
        assert len(pids) == 2
        # The kill is part of ending the attempt; give the kernel a moment to reap.
        wait_until(lambda: all(gone(pid) for pid in pids), timeout=10, what="pids gone")
    finally:
        if pids_file.exists():
            for pid in (int(p) for p in pids_file.read_text().split()):
                with contextlib.suppress(psutil.Error):
                    psutil.Process(pid).kill()
