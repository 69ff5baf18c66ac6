"""Concurrency policies: one more run of a busy task is queued, skipped or allowed.

The task program (GATE_CODE) leaves evidence in a scratch directory: a line per run in
`runs`, a marker while it runs and a note in `overlap` when it saw another run's marker.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from tests.support import (
    DIR_PARAM,
    GATE_CODE,
    abort,
    create_task,
    get_execution,
    list_executions,
    py_task,
    start,
    unique,
    wait_execution,
    wait_status,
    wait_until,
)

GATE_PARAMS = [DIR_PARAM, {"name": "barrier", "type": "int", "default": 0}]


def gate_task(client: httpx.Client, max_running: int, overlap: str) -> str:
    label = unique("gate")
    create_task(
        client,
        py_task(
            f"Gate {label}",
            GATE_CODE,
            label=label,
            concurrency={"max_running": max_running, "overlap": overlap},
            params=GATE_PARAMS,
        ),
    )
    return label


def start_gate(client: httpx.Client, label: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = start(client, [f"label:{label}"], params)
    assert len(answer["executions"]) == 1, answer
    execution: dict[str, Any] = answer["executions"][0]
    return execution


def runs(directory: Path) -> list[str]:
    path = directory / "runs"
    return path.read_text().split() if path.exists() else []


def test_queue_runs_one_after_the_other(client: httpx.Client, tmp_path: Path) -> None:
    label = gate_task(client, 1, "queue")
    params = {"dir": str(tmp_path)}
    first = start_gate(client, label, params)
    second: dict[str, Any] | None = None
    try:
        wait_status(client, first["id"], "started")
        wait_until(lambda: runs(tmp_path) == [first["id"]], what="first run recorded")
        second = start_gate(client, label, params)
        assert second["status"] == "queued", second
        # The first holds the only slot until released: the second stays queued.
        assert get_execution(client, second["id"])["status"] == "queued"
        assert get_execution(client, first["id"])["status"] == "started"
        (tmp_path / "release").touch()
        done_first = wait_execution(client, first["id"])
        done_second = wait_execution(client, second["id"])
    finally:
        (tmp_path / "release").touch()
    assert done_first["status"] == "finished_success", done_first
    assert done_second["status"] == "finished_success", done_second
    assert runs(tmp_path) == [first["id"], second["id"]]
    assert not (tmp_path / "overlap").exists(), "the two runs overlapped"
    assert ts(done_second["started_at"]) >= ts(done_first["finished_at"])


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_skip_records_a_skipped_execution(client: httpx.Client, tmp_path: Path) -> None:
    label = gate_task(client, 1, "skip")
    params = {"dir": str(tmp_path)}
    first = start_gate(client, label, params)
    try:
        wait_status(client, first["id"], "started")
        second = start_gate(client, label, params)
        assert second["status"] == "skipped", second
        skipped = wait_execution(client, second["id"])
        assert skipped["status"] == "skipped"
        assert skipped["started_at"] is None
        assert skipped["attempt_count"] == 0
        assert skipped["attempts"] == []
    finally:
        (tmp_path / "release").touch()
    assert wait_execution(client, first["id"])["status"] == "finished_success"
    assert runs(tmp_path) == [first["id"]]
    assert len(list_executions(client, task=label)) == 2

    # Once the task is idle again, a start runs.
    third = start_gate(client, label, params)
    assert wait_execution(client, third["id"])["status"] == "finished_success"


def test_allow_runs_both_at_once(client: httpx.Client, tmp_path: Path) -> None:
    label = gate_task(client, 1, "allow")
    # Each run waits until it sees two markers at once: both can only succeed together.
    params = {"dir": str(tmp_path), "barrier": 2}
    first = start_gate(client, label, params)
    second = start_gate(client, label, params)
    try:
        done = [wait_execution(client, e["id"]) for e in (first, second)]
    finally:
        for execution in (first, second):
            abort(client, execution["id"])
    assert [d["status"] for d in done] == ["finished_success", "finished_success"], done
    assert sorted(runs(tmp_path)) == sorted([first["id"], second["id"]])


def test_max_running_two_queues_the_third(client: httpx.Client, tmp_path: Path) -> None:
    label = gate_task(client, 2, "queue")
    params = {"dir": str(tmp_path)}
    first = start_gate(client, label, params)
    second = start_gate(client, label, params)
    third: dict[str, Any] | None = None
    try:
        wait_status(client, first["id"], "started")
        wait_status(client, second["id"], "started")
        third = start_gate(client, label, params)
        assert third["status"] == "queued"
        assert get_execution(client, third["id"])["status"] == "queued"
        (tmp_path / "release").touch()
        done = [wait_execution(client, e["id"]) for e in (first, second, third)]
    finally:
        (tmp_path / "release").touch()
    assert all(d["status"] == "finished_success" for d in done), done
    assert len(runs(tmp_path)) == 3
