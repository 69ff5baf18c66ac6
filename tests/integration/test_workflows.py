"""Workflows through a real server: the tree in the API, the events of members, bad input,
and a kill -9 in the middle of a phase."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ServerProcess, StartServer
from tests.integration.test_api_events import Stream
from tests.support import (
    DIR_PARAM,
    PRELUDE,
    create_task,
    error_json,
    get_execution,
    ok_json,
    py_task,
    start_one,
    unique,
    wait_execution,
    wait_until,
)

# Notes "<task name> <execution id>" in dir/runs, then ends.
RECORD_CODE = (
    PRELUDE
    + """\
append(os.path.join(D, 'runs'), os.environ['TASKGATE_TASK_NAME'] + ' ' + EID)
result({'rows': 3})
"""
)
# Notes its run as RECORD_CODE does, leaves dir/pid.<execution id>, and waits for dir/release.
HOLD_CODE = (
    PRELUDE
    + """\
append(os.path.join(D, 'runs'), os.environ['TASKGATE_TASK_NAME'] + ' ' + EID)
write(os.path.join(D, 'pid.' + EID), str(os.getpid()))
deadline = time.monotonic() + 120
while not os.path.exists(os.path.join(D, 'release')) and time.monotonic() < deadline:
    time.sleep(0.02)
sys.exit(0 if os.path.exists(os.path.join(D, 'release')) else 9)
"""
)
ALLOW = {"max_running": 100, "overlap": "allow"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def runs(folder: Path) -> list[tuple[str, str]]:
    path = folder / "runs"
    if not path.exists():
        return []
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()]  # type: ignore[misc]


def workflow(label: str, phases: Any, **options: Any) -> dict[str, Any]:
    return {
        "name": label,
        "label": label,
        "action": {"kind": "workflow", "phases": phases, **options},
    }


def test_kill_9_in_phase_2_then_restart(start_server: StartServer, tmp_path: Path) -> None:
    """Members that ended do not run again, queued ones run, the running one follows the
    dead-run policy (here: one retry), and the workflow goes on to its end."""
    work = tmp_path / "work"
    work.mkdir()
    tasks = [
        py_task("first", RECORD_CODE, label="first", params=[DIR_PARAM], concurrency=ALLOW),
        py_task(
            "gate",
            HOLD_CODE,
            label="gate",
            params=[DIR_PARAM],
            retries={"count": 1, "delay": 0},
            concurrency=ALLOW,
        ),
        # One at a time: the workflow's run of it waits behind one started before.
        py_task("held", HOLD_CODE, label="held", params=[DIR_PARAM]),
        py_task("final", RECORD_CODE, label="final", params=[DIR_PARAM], concurrency=ALLOW),
        workflow("durable", [["first"], ["gate", "held"], ["final"]]),
    ]
    server = start_server(tasks=tasks)
    params = {"dir": str(work)}
    with server.client() as client:
        blocker = start_one(client, "label:held", params)
        wait_until(lambda: (work / f"pid.{blocker}").exists(), what="the blocker running")
        flow_id = start_one(client, "label:durable", params)

        def in_phase_2() -> dict[str, Any] | None:
            tree = get_execution(client, flow_id)
            members = {c["task_name"]: c for c in tree.get("children") or []}
            gate = members.get("gate")
            if gate and (work / f"pid.{gate['id']}").exists():
                return tree
            return None

        tree = wait_until(in_phase_2, what="the gate member running")
        members = {c["task_name"]: c for c in tree["children"]}
        assert members["first"]["status"] == "finished_success"
        assert members["held"]["status"] == "queued"
        assert [p["status"] for p in tree["phases"]] == ["finished", "running", "pending"]

    server.kill()  # the server, its process group and every process it started
    (work / "release").touch()
    server.restart()

    with server.client() as client:
        done = wait_execution(client, flow_id, timeout=90)
        assert done["status"] == "finished_success", done
        tree = get_execution(client, flow_id)
        members = {c["task_name"]: c for c in tree["children"]}
        assert list(members) == ["first", "gate", "held", "final"]
        gate = members["gate"]
        assert gate["status"] == "finished_success"
        assert [a["status"] for a in gate["attempts"]] == ["error", "finished_success"]
        assert "died" in gate["attempts"][0]["message"]
        assert members["held"]["attempt_count"] == 1
        assert wait_execution(client, blocker)["status"] == "error"
        assert all(p["status"] == "finished" for p in tree["phases"])
    # Each member ran once per attempt: first and held (the member) once, gate twice.
    seen = runs(work)
    ids = [eid for _, eid in seen]
    assert ids.count(members["first"]["id"]) == 1
    assert ids.count(gate["id"]) == 2
    assert ids.count(members["held"]["id"]) == 1
    assert ids.count(members["final"]["id"]) == 1
    assert ids.count(blocker) == 1
    assert len(seen) == 6, seen


def test_the_tree_and_the_events_of_members(server: ServerProcess, tmp_path: Path) -> None:
    label = unique("wf")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        create_task(client, workflow(label, [["quick"], ["sel-a", "tag:beta"]]))
        stream = Stream(server, task=["sel-c"])
        try:
            flow_id = start_one(client, f"label:{label}", {"region": "US", "other": 1})
            done = wait_execution(client, flow_id)
            assert done["status"] == "finished_success", done
            events = [stream.next() for _ in range(3)]
        finally:
            stream.close()
        tree = ok_json(client.get(f"/api/v1/executions/{flow_id}"))
        assert [(c["phase"], c["task_name"]) for c in tree["children"]] == [
            (1, "Quick task"),
            (2, "Selector task A"),
            (2, "Selector task C"),
        ]
        assert all(c["parent_id"] == flow_id for c in tree["children"])
        # region is declared by the quick task alone.
        assert tree["children"][0]["params"]["region"] == "US"
        assert "region" not in tree["children"][1]["params"]
        phase2 = tree["phases"][1]
        assert [(m["key"], m["status"]) for m in phase2["members"]] == [
            ("sel-a", "finished_success"),
            ("beta", "finished_success"),
        ]
        assert [e.data["status"] for e in events] == ["queued", "started", "finished_success"]
        assert {(e.data["parent_id"], e.data["phase"]) for e in events} == {(flow_id, 2)}
        # A plain execution has no tree.
        plain = get_execution(client, tree["children"][0]["id"])
        assert plain["children"] is None and plain["phases"] is None
        log = client.get(f"/api/v1/executions/{flow_id}/log").json()["data"]
        assert "phase 2 begins: sel-a (Selector task A), beta (Selector task C)" in log


def test_bad_workflows_are_422_naming_the_field(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        base = unique("bad")

        def refused(phases: Any, **options: Any) -> dict[str, Any]:
            answer = client.post("/api/v1/tasks", json=workflow(unique(base), phases, **options))
            return error_json(answer, 422, "invalid")

        unknown = refused([["quick"], ["quick", "label:nobody-has-this"]])
        assert unknown["field"] == "action.phases.1.members.1.task", unknown
        assert "no task matches 'label:nobody-has-this'" in unknown["message"]
        empty = refused([["quick"], []])
        assert empty["field"] == "body.action.workflow.phases.1.members", empty
        zero = refused([{"members": ["quick"], "max_parallel": 0}])
        assert zero["field"] == "body.action.workflow.phases.0.max_parallel", zero
        later = refused(
            [[{"task": "quick", "params": {"n": {"from": "phase2.fail.result"}}}], ["fail"]]
        )
        assert "phases.0.members.0.params.n.from" in later["message"], later
        assert "has not ended" in later["message"]
        nobody = refused(
            [["quick"], [{"task": "fail", "params": {"n": {"from": "phase1.x.result"}}}]]
        )
        assert "phase 1 has no member 'x'" in nobody["message"], nobody

        outer = create_task(client, workflow(f"{base}-outer", [["quick"]]))
        create_task(client, workflow(f"{base}-inner", [[f"{base}-outer"]]))
        cycle = error_json(
            client.put(
                f"/api/v1/tasks/{outer['id']}",
                json=workflow(f"{base}-outer", [[f"{base}-inner"]]),
            ),
            422,
            "invalid",
        )
        assert cycle["field"] == "action.phases.0.members.0.task", cycle
        assert f"a cycle: {base}-outer → {base}-inner → {base}-outer" in cycle["message"], cycle


def test_run_phases_over_the_api_and_the_client(server: ServerProcess) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        body = {"phases": [["quick"], ["sel-a", "sel-b"]], "params": {"region": "US"}, "wait": 60}
        done = ok_json(client.post("/api/v1/workflows/run", json=body))
        assert (done["status"], done["timed_out"], done["origin"]) == (
            "finished_success",
            False,
            "api",
        )
        assert done["task_name"] == "run-phases: quick | sel-a, sel-b"
        assert [(c["phase"], c["task_name"], c["status"]) for c in done["children"]] == [
            (1, "Quick task", "finished_success"),
            (2, "Selector task A", "finished_success"),
            (2, "Selector task B", "finished_success"),
        ]
        assert done["children"][0]["params"]["region"] == "US"
        # Without wait: answered at once, the workflow goes on.
        started = ok_json(client.post("/api/v1/workflows/run", json={"phases": [["quick"]]}))
        assert started["timed_out"] is False
        assert wait_execution(client, started["id"])["status"] == "finished_success"

        def refused(body: dict[str, Any]) -> str:
            field: str = error_json(
                client.post("/api/v1/workflows/run", json=body), 422, "invalid"
            )["field"]
            return field

        assert refused({"phases": [["quick"], ["nobody-is-called-this"]]}) == "phases.1.members.0"
        assert refused({"phases": [["quick"], []]}) == "body.phases.1.members"
        assert refused({"phases": []}) == "body.phases"
        assert refused({"phases": [{"members": ["quick"], "max_parallel": 0}]}) == (
            "body.phases.0.max_parallel"
        )
        bad_from = {"phases": [[{"task": "quick", "params": {"x": {"from": "phase1.quick"}}}]]}
        assert refused(bad_from) == "body"

    from taskgate.client import TaskgateClient

    with TaskgateClient(server.url) as tg:
        answer = tg.run_phases([["fail", "quick"], ["quick"]], wait=60, on_failure="continue")
        assert answer["status"] == "finished_fail"
        assert [p["status"] for p in answer["phases"]] == ["failed", "finished"]


def run_cli(server: ServerProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    env.update({"TASKGATE_URL": server.url, "COLUMNS": "250", "PYTHONUNBUFFERED": "1"})
    return subprocess.run(
        [sys.executable, "-m", "taskgate", "run-phases", *args],
        cwd=server.workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_phases_on_the_command_line(server: ServerProcess) -> None:
    ok = run_cli(server, "quick", "sel-a,sel-b", "label:sel-c", "--wait", "-p", "region=US")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "finished_success - all phases ended" in ok.stdout
    for name in ("Quick task", "Selector task A", "Selector task B", "Selector task C"):
        assert name in ok.stdout
    assert "phase 2 sel-b finished_success" in ok.stderr  # not a terminal: one line a change

    failed = run_cli(server, "quick", "fail,sel-a", "sel-c", "--wait", "--json")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    answer = json.loads(failed.stdout)
    assert answer["status"] == "finished_fail" and answer["timed_out"] is False
    assert answer["message"].startswith("phase 2 member fail (Failing task): finished_fail")
    assert [p["status"] for p in answer["phases"]] == ["finished", "failed", "skipped"]


def test_run_phases_exit_codes(server: ServerProcess) -> None:
    slow = run_cli(server, "quick", "slow", "--timeout", "1")
    assert slow.returncode == 3, slow.stdout + slow.stderr
    assert "timed out" in slow.stderr
    with httpx.Client(base_url=server.url, timeout=30) as client:
        running = [e for e in list_running(client) if e["task_name"] == "run-phases: quick | slow"]
        for execution in running:
            ok_json(client.post(f"/api/v1/executions/{execution['id']}/abort"))
            assert wait_execution(client, execution["id"])["status"] == "aborted"

    started = run_cli(server, "quick")
    assert started.returncode == 0 and UUID.fullmatch(started.stdout.strip()), started.stdout

    for bad in (["quick", "nobody-is-called-this"], ["quick", "a,,b"]):
        usage = run_cli(server, *bad, "--wait")
        assert usage.returncode == 2, (bad, usage.stdout + usage.stderr)


def list_running(client: httpx.Client) -> list[dict[str, Any]]:
    page = ok_json(client.get("/api/v1/executions", params={"status": ["started"]}))
    items: list[dict[str, Any]] = page["items"]
    return items
