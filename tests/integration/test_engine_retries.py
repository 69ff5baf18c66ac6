"""Retries: a failing attempt is tried again, as often as the task's policy says."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support import (
    DIR_PARAM,
    FLAKY_CODE,
    create_task,
    list_executions,
    py_task,
    start_one,
    unique,
    wait_execution,
)

FLAKY_PARAMS = [DIR_PARAM, {"name": "fail_times", "type": "int", "default": 0}]


def flaky_task(client: httpx.Client, retries: int) -> str:
    label = unique("flaky")
    create_task(
        client,
        py_task(
            f"Flaky {label}",
            FLAKY_CODE,
            label=label,
            retries={"count": retries, "delay": 0.05, "backoff": 1},
            params=FLAKY_PARAMS,
        ),
    )
    return label


@pytest.mark.parametrize("fail_times", [1, 2])
def test_fails_then_succeeds(client: httpx.Client, tmp_path: Path, fail_times: int) -> None:
    label = flaky_task(client, retries=3)
    execution_id = start_one(
        client, f"label:{label}", {"dir": str(tmp_path), "fail_times": fail_times}
    )
    execution = wait_execution(client, execution_id)
    assert execution["status"] == "finished_success", execution
    assert execution["attempt_count"] == fail_times + 1
    attempts = execution["attempts"]
    assert [a["number"] for a in attempts] == list(range(1, fail_times + 2))
    assert [a["status"] for a in attempts] == ["finished_fail"] * fail_times + ["finished_success"]
    assert [a["exit_code"] for a in attempts] == [1] * fail_times + [0]
    assert execution["exit_code"] == 0
    assert (tmp_path / "count").read_text() == str(fail_times + 1)
    # Retries are attempts of one execution, not new executions.
    assert len(list_executions(client, task=label)) == 1


def test_always_failing_uses_up_its_retries(client: httpx.Client, tmp_path: Path) -> None:
    label = flaky_task(client, retries=2)
    execution_id = start_one(client, f"label:{label}", {"dir": str(tmp_path), "fail_times": 99})
    execution = wait_execution(client, execution_id)
    assert execution["status"] == "finished_fail", execution
    assert execution["attempt_count"] == 3
    assert [a["status"] for a in execution["attempts"]] == ["finished_fail"] * 3
    assert execution["exit_code"] == 1
    assert (tmp_path / "count").read_text() == "3"
    assert len(list_executions(client, task=label)) == 1


def test_no_retries_by_default(client: httpx.Client, tmp_path: Path) -> None:
    label = flaky_task(client, retries=0)
    execution_id = start_one(client, f"label:{label}", {"dir": str(tmp_path), "fail_times": 1})
    execution = wait_execution(client, execution_id)
    assert execution["status"] == "finished_fail"
    assert execution["attempt_count"] == 1
    assert (tmp_path / "count").read_text() == "1"
