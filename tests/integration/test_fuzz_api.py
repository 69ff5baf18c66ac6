"""The native API under Schemathesis, on SQLite and PostgreSQL, with an admin key: no 5xx,
every answer as /openapi.json describes it, no unexpected error in the server log, and the
server still starts a task afterwards (issue 20). Bounded for CI (TASKGATE_FUZZ_EXAMPLES
examples per route, 20 by default, and a time budget); `scripts/fuzz --examples 10000` is the
longer run by hand."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import StartServer
from tests.fuzzing import FUZZ_TASK, log_problems, schemathesis_command, start_problem

EXAMPLES = int(os.environ.get("TASKGATE_FUZZ_EXAMPLES", "20"))
BUDGET_SECONDS = float(os.environ.get("TASKGATE_FUZZ_SECONDS", "120"))


@pytest.mark.timeout(900)
def test_the_api_under_a_fuzzer(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server({"auth": "keys"}, tasks=[FUZZ_TASK])
    key = (Path(server.config["data_dir"]) / "admin.key").read_text().strip()
    command = schemathesis_command(
        server.url,
        key,
        examples=EXAMPLES,
        max_seconds=BUDGET_SECONDS,
        report=tmp_path / "junit.xml",
    )
    done = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=800, check=False
    )
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-2000:]
    assert log_problems(server.log_text()) == []
    assert start_problem(server.url, key) == ""
