"""`taskgate keys create --expires-days` is checked by the server's own rule, before anything
is sent, with one message (issue 20)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("days", ["0", "-1", "1e9", "inf"])
def test_expires_days_out_of_range_is_refused_once(days: str) -> None:
    command = ["keys", "create", "--name", "k", "--role", "viewer", "--expires-days", days]
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "taskgate",
            *command,
            "--url",
            "http://127.0.0.1:9",
            "--api-key",
            "x",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert output.count("expires_days") == 1, output
    assert "at most 36500" in output
