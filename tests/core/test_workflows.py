"""Workflows in one process, on both databases: phases in order, members in parallel within
max_parallel, parameters passed down and fed from earlier results, failures that stop or
continue, and the checks made when a workflow is saved."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
import sqlalchemy as sa

from taskgate.core.services import Services
from taskgate.core.starts.request import StartRequest
from taskgate.domain.errors import InvalidInput
from taskgate.domain.events import ExecutionEvent
from taskgate.domain.executions import Caller, Execution
from taskgate.domain.selectors import parse_selector
from taskgate.domain.status import Status
from taskgate.domain.tasks import Task, TaskSpec
from taskgate.engine.local import ExecutorLimits
from taskgate.store.tables import executions
from tests.conftest import Backend
from tests.core_support import running_core

CALLER = Caller("tester", scope="t")
# Prints its parameter x, waits `pause` seconds, and leaves {"rows": <rows or 5>} as its result.
MEMBER = (
    'echo "x=$TASKGATE_PARAM_X"; sleep "${TASKGATE_PARAM_PAUSE:-0}"; '
    'echo "{\\"rows\\": ${TASKGATE_PARAM_ROWS:-5}}" > "$TASKGATE_RESULT_FILE"'
)


class Harness:
    def __init__(self, services: Services) -> None:
        self.services = services
        self.events: list[ExecutionEvent] = []
        services.ctx.bus.listen(self.events.append)

    async def task(self, label: str, action: dict[str, Any], **fields: Any) -> Task:
        spec = TaskSpec.model_validate({"name": label, "label": label, "action": action, **fields})
        return await self.services.tasks.create(spec, CALLER)

    async def member(self, label: str, *, fails: bool = False, **fields: Any) -> Task:
        script = "echo failing; exit 3" if fails else MEMBER
        fields.setdefault(
            "params", [{"name": "x"}, {"name": "pause", "type": "float"}, {"name": "rows"}]
        )
        fields.setdefault("concurrency", {"max_running": 100, "overlap": "allow"})
        return await self.task(
            label, {"kind": "command", "shell": True, "script": script}, **fields
        )

    async def workflow(
        self, label: str, phases: Any, tags: list[str] | None = None, **options: Any
    ) -> Task:
        action = {"kind": "workflow", "phases": phases, **options}
        return await self.task(label, action, tags=tags or [])

    async def run(self, label: str, params: dict[str, Any] | None = None) -> Execution:
        request = StartRequest(
            selectors=[parse_selector(label)], origin="test", caller=CALLER, params=params or {}
        )
        started = await self.services.starts.start(request)
        execution_id = started.executions[0].id
        await self.services.executions.wait(execution_id, 60)
        return await self.services.workflows.tree(execution_id)


Scenario = Callable[[Harness], Awaitable[None]]


def run(backend: Backend, tmp_path: Path, scenario: Scenario, *, slots: int = 8) -> None:
    limits = ExecutorLimits(slots=slots, lease_seconds=5, kill_grace_seconds=1)

    async def main() -> None:
        async with running_core(backend, tmp_path, limits) as services:
            await scenario(Harness(services))

    asyncio.run(main())


def statuses(tree: Execution) -> list[tuple[int | None, str, str]]:
    return [(c.phase, c.task_name, c.status.value) for c in tree.children or []]


def test_phases_run_in_order_and_feed_each_other(backend: Backend, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.member("load", params=[{"name": "x"}, {"name": "rows"}])
        await h.member("plain", params=[])  # declares no parameter: gets none
        await h.member("report")
        await h.workflow(
            "nightly",
            [
                ["load"],
                [
                    "plain",
                    {"task": "report", "params": {"rows": {"from": "phase1.load.result.rows"}}},
                ],
            ],
        )
        tree = await h.run("nightly", {"x": "hello", "rows": "7"})
        assert tree.status is Status.FINISHED_SUCCESS, tree.message
        assert sorted(statuses(tree)) == [
            (1, "load", "finished_success"),
            (2, "plain", "finished_success"),
            (2, "report", "finished_success"),
        ]
        by_name = {c.task_name: c for c in tree.children or []}
        assert by_name["load"].params == {"x": "hello", "rows": "7"}
        assert by_name["plain"].params == {}
        # Fed from load's result (7 rows), the workflow's x passed down as declared.
        assert by_name["report"].params["rows"] == "7"
        assert by_name["report"].params["x"] == "hello"
        for child in tree.children or []:
            assert (child.parent_id, child.origin) == (tree.id, "workflow")
        load_ended = by_name["load"].finished_at
        assert load_ended is not None
        assert all((by_name[n].started_at or load_ended) >= load_ended for n in ("plain", "report"))
        assert tree.result == {
            "phase1": {"load": {"rows": 7}},
            "phase2": {"plain": {"rows": 5}, "report": {"rows": 7}},
        }
        assert [p.status for p in tree.phases or []] == ["finished", "finished"]
        # Every member event names its workflow and phase.
        member_events = [e for e in h.events if e.execution_id in by_name["report"].id]
        assert {(e.parent_id, e.phase) for e in member_events} == {(tree.id, 2)}
        assert {e.status for e in member_events} >= {Status.QUEUED, Status.FINISHED_SUCCESS}
        log = await h.services.executions.read_log(tree.id, 0, 100000)
        assert "phase 2 begins: plain, report" in log.data
        assert "ended finished_success" in log.data

    run(backend, tmp_path, scenario)


def test_a_failure_stops_later_phases(backend: Backend, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.member("ok")
        await h.member("slow")
        await h.member("broken", fails=True)
        await h.workflow("stops", [["slow", "broken"], ["ok"], ["ok"]])
        tree = await h.run("stops", {"pause": 1})
        assert tree.status is Status.FINISHED_FAIL
        assert tree.message.startswith("phase 1 member broken: finished_fail"), tree.message
        assert "phase 2-3 skipped" in tree.message
        # The sibling that was running finished; nothing of the later phases ran.
        assert sorted(statuses(tree)) == [
            (1, "broken", "finished_fail"),
            (1, "slow", "finished_success"),
        ]
        phases = tree.phases or []
        assert [p.status for p in phases] == ["failed", "skipped", "skipped"]
        assert phases[1].reason == "broken failed in phase 1"

    run(backend, tmp_path, scenario)


def test_abort_siblings_stops_the_phase_at_once(backend: Backend, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.member("sleeper")
        await h.member("queued", concurrency={"max_running": 1, "overlap": "queue"})
        await h.member("broken", fails=True)
        await h.workflow(
            "abrupt", [["sleeper", "queued", "broken"], ["sleeper"]], abort_siblings=True
        )
        async with _holding_its_one_slot(h, "queued"):
            tree = await h.run("abrupt", {"pause": 30})
        assert tree.status is Status.FINISHED_FAIL
        assert sorted(statuses(tree)) == [
            (1, "broken", "finished_fail"),
            (1, "queued", "aborted"),
            (1, "sleeper", "aborted"),
        ]
        assert tree.duration_ms is not None and tree.duration_ms < 20000

    run(backend, tmp_path, scenario)


def test_abort_siblings_reaches_a_member_another_transaction_holds(
    backend: Backend, tmp_path: Path
) -> None:
    # A dispatcher's claim locks the queued rows it looks at, even one it turns away because
    # its task is full; the abort passes such a row by (SKIP LOCKED) and must come back to it.
    if backend.pg_url is None:
        pytest.skip("SQLite runs one write transaction at a time: no member is held")
    gate = tmp_path / "fail-now"

    async def scenario(h: Harness) -> None:
        await h.member("queued", concurrency={"max_running": 1, "overlap": "queue"})
        script = f'while [ ! -e "{gate}" ]; do sleep 0.02; done; exit 3'
        await h.task("broken", {"kind": "command", "shell": True, "script": script})
        await h.workflow("held", [["queued", "broken"]], abort_siblings=True)
        async with _holding_its_one_slot(h, "queued"):
            started = await h.services.starts.start(
                StartRequest(selectors=[parse_selector("held")], origin="test", caller=CALLER)
            )
            workflow_id = started.executions[0].id
            members = await _members_when(
                h, workflow_id, {"queued": Status.QUEUED, "broken": Status.STARTED}
            )
            holder = h.services.ctx.db.engine.connect()
            try:
                await asyncio.to_thread(_lock_row, holder, members["queued"])
                gate.touch()
                await h.services.executions.wait(members["broken"], 30)
                await asyncio.to_thread(holder.commit)
            finally:
                holder.close()
            await h.services.executions.wait(workflow_id, 20)
        tree = await h.services.workflows.tree(workflow_id)
        assert tree.status is Status.FINISHED_FAIL
        assert sorted(statuses(tree)) == [(1, "broken", "finished_fail"), (1, "queued", "aborted")]

    run(backend, tmp_path, scenario)


@contextlib.asynccontextmanager
async def _holding_its_one_slot(h: Harness, task: str) -> AsyncIterator[None]:
    """A run of `task` (a member with one slot) that holds its slot until the block ends, so
    the workflow's run of it waits queued."""
    blocker = await h.services.starts.start(
        StartRequest(
            selectors=[parse_selector(task)], origin="test", caller=CALLER, params={"pause": 30}
        )
    )
    try:
        yield
    finally:
        await h.services.executions.abort(blocker.executions[0].id, CALLER)
        await h.services.executions.wait(blocker.executions[0].id, 30)


async def _members_when(h: Harness, workflow_id: str, wanted: dict[str, Status]) -> dict[str, str]:
    """The members' ids by task name, once each is in the wanted status (or fail in 30 s)."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        tree = await h.services.workflows.tree(workflow_id)
        now = {c.task_name: c for c in tree.children or []}
        if all(name in now and now[name].status is status for name, status in wanted.items()):
            return {name: now[name].id for name in wanted}
        assert asyncio.get_running_loop().time() < deadline, statuses(tree)
        await asyncio.sleep(0.02)


def _lock_row(conn: sa.Connection, execution_id: str) -> None:
    """What a claim's look does to a queued row: lock it until its transaction ends."""
    conn.begin()
    conn.execute(
        sa.select(executions.c.id).where(executions.c.id == execution_id).with_for_update()
    )


def test_on_failure_continue_runs_every_phase(backend: Backend, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.member("ok")
        await h.member("broken", fails=True)
        await h.member("gone")
        await h.workflow("goes-on", [["broken", "ok"], ["ok"], ["gone"]], on_failure="continue")
        # A member whose task went away after the save is recorded as never started.
        await h.services.tasks.delete("gone", CALLER)
        tree = await h.run("goes-on")
        assert tree.status is Status.FINISHED_FAIL
        assert sorted(statuses(tree)) == [
            (1, "broken", "finished_fail"),
            (1, "ok", "finished_success"),
            (2, "ok", "finished_success"),
        ]
        phases = tree.phases or []
        assert [p.status for p in phases] == ["failed", "finished", "failed"]
        assert phases[2].members[0].status == "never_started"
        assert phases[2].members[0].message == "no task matches"
        assert tree.message.startswith("phase 1 member broken: finished_fail")
        assert "(and 1 more)" in tree.message

    run(backend, tmp_path, scenario)


def test_max_parallel_holds_and_many_members_fit_few_slots(
    backend: Backend, tmp_path: Path
) -> None:
    async def scenario(h: Harness) -> None:
        for i in range(6):
            await h.member(f"m{i}")
        members = [f"m{i}" for i in range(6)]
        await h.workflow("two-by-two", [{"members": members, "max_parallel": 2}])
        # Workflows inside a workflow, twenty members in all, on two slots: parked parents
        # hold none, so nothing waits for a slot a waiting parent holds.
        for n in range(4):
            await h.workflow(f"inner{n}", [members[:3], members[3:5]])
        await h.workflow("outer", [[f"inner{n}" for n in range(4)], ["two-by-two"]])
        tree = await h.run("outer", {"pause": 0.2})
        assert tree.status is Status.FINISHED_SUCCESS, tree.message
        assert len(tree.children or []) == 5
        pair = next(c for c in tree.children or [] if c.task_name == "two-by-two")
        runs = [(c.started_at, c.finished_at) for c in pair.children or []]
        assert len(runs) == 6
        for started, _ in runs:
            at_once = sum(1 for s, f in runs if s and f and started and s <= started < f)
            assert at_once <= 2, runs
        inner = next(c for c in tree.children or [] if c.task_name == "inner0")
        assert [c.task_name for c in inner.children or []] == ["m0", "m1", "m2", "m3", "m4"]
        assert inner.phases is not None and len(inner.phases) == 2

    run(backend, tmp_path, scenario, slots=2)


def test_saving_refuses_unknown_members_and_cycles(backend: Backend, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.member("leaf")
        with pytest.raises(InvalidInput) as unknown:
            await h.workflow("w0", [["leaf"], ["leaf", "label:nobody"]])
        assert unknown.value.field == "action.phases.1.members.1.task"
        assert "no task matches 'label:nobody'" in unknown.value.message
        a = await h.workflow("a", [["leaf"]])
        await h.workflow("b", [["a"]])
        # a now wanting b: a → b → a.
        spec = TaskSpec.model_validate(
            {"name": "a", "label": "a", "action": {"kind": "workflow", "phases": [["b"]]}}
        )
        with pytest.raises(InvalidInput) as cycle:
            await h.services.tasks.put(uuid.UUID(a.key), spec, CALLER)
        assert cycle.value.field == "action.phases.0.members.0.task"
        assert "a cycle: a → b → a" in cycle.value.message
        # Into itself, and through a tag: d (tagged loop) runs c, which runs tag:loop.
        with pytest.raises(InvalidInput) as itself:
            await h.workflow("selfish", [["leaf"], ["tag:me"]], tags=["me"])
        assert "a cycle: selfish → selfish" in itself.value.message
        await h.member("looped", tags=["loop"])
        await h.workflow("c", [["tag:loop"]])
        with pytest.raises(InvalidInput) as through_tag:
            await h.workflow("d", [["c"]], tags=["loop"])
        assert "a cycle: d → c → d" in through_tag.value.message
        assert through_tag.value.details["cycle"][0] == through_tag.value.details["task"]
        # Nothing of the refused saves was kept.
        assert (await h.services.tasks.get("a")).action.contains()[0][1] == "leaf"
        labels = [t.label or "" for t in await h.services.tasks.all()]
        assert sorted(labels) == ["a", "b", "c", "leaf", "looped"]

    run(backend, tmp_path, scenario)


def test_config_sync_lets_workflows_name_later_tasks(backend: Backend, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        specs = [
            TaskSpec.model_validate(
                {
                    "id": str(uuid.uuid4()),
                    "name": "flow",
                    "label": "flow",
                    "action": {"kind": "workflow", "phases": [["later"]]},
                }
            ),
            TaskSpec.model_validate(
                {
                    "id": str(uuid.uuid4()),
                    "name": "later",
                    "label": "later",
                    "action": {"kind": "command", "argv": ["true"]},
                }
            ),
        ]
        await h.services.tasks.sync_from_config(specs, CALLER)
        assert (await h.run("flow")).status is Status.FINISHED_SUCCESS

    run(backend, tmp_path, scenario)


# Starts a child that sleeps, notes "<own pid> <child pid>" in dir/pids.<execution id>, waits.
TREE = (
    'sleep 60 & echo "$$ $!" > "$TASKGATE_PARAM_DIR/pids.$TASKGATE_EXECUTION_ID.tmp"; '
    'mv "$TASKGATE_PARAM_DIR/pids.$TASKGATE_EXECUTION_ID.tmp" '
    '"$TASKGATE_PARAM_DIR/pids.$TASKGATE_EXECUTION_ID"; wait'
)


async def pid_files(folder: Path, count: int) -> list[int]:
    for _ in range(400):
        found = sorted(folder.glob("pids.*[!p]"))
        if len(found) >= count:
            return [int(p) for f in found for p in f.read_text().split()]
        await asyncio.sleep(0.05)
    raise AssertionError(f"fewer than {count} runs started in {folder}")


async def gone(pids: list[int]) -> bool:
    for _ in range(200):
        alive = []
        for pid in pids:
            try:
                alive.append(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
            except psutil.NoSuchProcess:
                alive.append(False)
        if not any(alive):
            return True
        await asyncio.sleep(0.05)
    return False


def test_aborting_a_workflow_stops_its_members(backend: Backend, tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()

    async def scenario(h: Harness) -> None:
        params = [{"name": "dir"}]
        await h.task(
            "tree",
            {"kind": "command", "shell": True, "script": TREE},
            params=params,
            concurrency={"max_running": 10, "overlap": "allow"},
        )
        await h.member("after")
        await h.workflow(
            "big",
            [
                {
                    "members": ["tree", {"task": "tree", "name": "again"}, "after"],
                    "max_parallel": 2,
                },
                ["after"],
            ],
        )
        started = await h.services.starts.start(
            StartRequest(
                selectors=[parse_selector("big")],
                origin="test",
                caller=CALLER,
                params={"dir": str(folder)},
            )
        )
        workflow_id = started.executions[0].id
        pids = await pid_files(folder, 2)
        aborted = await h.services.executions.abort(workflow_id, CALLER)
        assert aborted.status in (Status.ABORT_INITIATED, Status.ABORTED)
        ended, _ = await h.services.executions.wait(workflow_id, 30)
        assert ended.status is Status.ABORTED, ended.message
        tree = await h.services.workflows.tree(workflow_id)
        assert statuses(tree) == [(1, "tree", "aborted"), (1, "tree", "aborted")]
        phases = tree.phases or []
        assert [p.status for p in phases] == ["aborted", "skipped"]
        waiting = phases[0].members[2]
        assert (waiting.key, waiting.status, waiting.execution_id) == ("after", "skipped", None)
        assert phases[1].reason == "the workflow was aborted"
        # Whole process trees: each shell and the sleep it started.
        assert await gone(pids), pids
        # Aborting it again changes nothing.
        again = await h.services.executions.abort(workflow_id, CALLER)
        assert again.status is Status.ABORTED

    run(backend, tmp_path, scenario)


def test_aborting_an_outer_workflow_aborts_the_inner(backend: Backend, tmp_path: Path) -> None:
    folder = tmp_path / "runs"
    folder.mkdir()

    async def scenario(h: Harness) -> None:
        params = [{"name": "dir"}]
        await h.task("tree", {"kind": "command", "shell": True, "script": TREE}, params=params)
        await h.member("queued-behind", concurrency={"max_running": 1, "overlap": "queue"})
        await h.workflow("inner", [["tree", "queued-behind"]])
        await h.workflow("outer", [["inner", "queued-behind"]])
        started = await h.services.starts.start(
            StartRequest(
                selectors=[parse_selector("outer")],
                origin="test",
                caller=CALLER,
                params={"dir": str(folder), "pause": 30},
            )
        )
        outer_id = started.executions[0].id
        pids = await pid_files(folder, 1)
        await h.services.executions.abort(outer_id, CALLER)
        ended, _ = await h.services.executions.wait(outer_id, 30)
        assert ended.status is Status.ABORTED
        tree = await h.services.workflows.tree(outer_id)
        inner = next(c for c in tree.children or [] if c.task_name == "inner")
        assert inner.status is Status.ABORTED
        assert {c.status for c in inner.children or []} == {Status.ABORTED}
        assert {c.status for c in tree.children or []} == {Status.ABORTED}
        assert await gone(pids), pids
        # Nothing of it is left running or queued.
        assert await h.services.executions.unfinished() == []

    run(backend, tmp_path, scenario)


def test_a_member_checks_its_runs_by_its_own_checks(backend: Backend, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.member("quick")
        # The task itself has no checks; as a member it must run at least an hour.
        member = {"task": "quick", "checks": {"min_duration": {"seconds": 3600}}}
        await h.workflow("judged", [[member], ["quick"]])
        tree = await h.run("judged")
        assert tree.status is Status.FINISHED_FAIL
        assert statuses(tree) == [(1, "quick", "finished_fail")]
        [judged] = tree.children or []
        assert "expected at least" in (judged.message or ""), judged.message
        # The same task started on its own is not judged by the member's checks.
        alone = await h.run("quick")
        assert alone.status is Status.FINISHED_SUCCESS

    run(backend, tmp_path, scenario)


def test_a_member_may_not_bring_a_deadline(backend: Backend, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.member("quick")
        deadline = {"cron": "0 7 * * *", "timezone": "UTC"}
        member = {"task": "quick", "checks": {"deadline": deadline}}
        with pytest.raises((InvalidInput, ValueError), match="deadline belongs to a task"):
            await h.workflow("late", [[member]])

    run(backend, tmp_path, scenario)


def test_a_workflow_is_judged_by_its_own_checks(backend: Backend, tmp_path: Path) -> None:
    async def scenario(h: Harness) -> None:
        await h.member("quick")
        checks = {"min_duration": {"seconds": 3600, "on_violation": "warn"}}
        await h.task("warned", {"kind": "workflow", "phases": [["quick"]]}, checks=checks)
        tree = await h.run("warned")
        # Every member succeeded; the workflow as a whole ran far shorter than expected.
        assert tree.status is Status.FINISHED_SUCCESS
        assert [w["check"] for w in tree.warnings] == ["min_duration"], tree.warnings
        kinds = [e.kind for e in h.events if e.execution_id == tree.id]
        assert "check_violated" in kinds

        rows_check = {"result": [{"path": "phase1.quick.rows", "op": ">=", "value": 10}]}
        await h.task("failed", {"kind": "workflow", "phases": [["quick"]]}, checks=rows_check)
        tree = await h.run("failed")
        assert tree.status is Status.FINISHED_FAIL
        assert (tree.message or "").startswith("check failed"), tree.message

    run(backend, tmp_path, scenario)
