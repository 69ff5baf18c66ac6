"""Two server processes on one PostgreSQL database behave as one service: a start on one is
waited on, followed, seen and aborted on the other, through the events every server relays to
the others (LISTEN/NOTIFY, core/cluster.py).

The waits here are shorter than `cluster.recheck_seconds` (set to 60 s here), the interval at
which waiters and the executor would find the other server's changes in the database without
the relay: an answer within them came through the relay.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg
import pytest

from tests.conftest import ServerFactory, ServerProcess, StartServer
from tests.integration.test_api_events import Stream
from tests.integration.test_mqtt import mqtt_config
from tests.mqtt_support import MqttProbe, prefix, require_broker
from tests.qrs.conftest import QrsClient
from tests.qrs.test_tasks import run_to_end
from tests.support import (
    ALLOW,
    DIR_PARAM,
    GATE_CODE,
    SLOW_CODE,
    get_execution,
    list_executions,
    ok_json,
    py_task,
    start_one,
    wait_execution,
    wait_status,
    wait_until,
)

pytestmark = pytest.mark.parametrize("backend", ["postgres"], indirect=True)

LOOPBACK = ["127.0.0.0/8", "::1/128"]
# Well under cluster.recheck_seconds: what arrives within it came through the relay.
PROMPT = 15.0

GATE_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1ac001"
SLOW_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1ac002"
APPEND_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1ac003"
TASKS = [
    py_task("Gate", GATE_CODE, id=GATE_ID, params=[DIR_PARAM], concurrency=ALLOW),
    py_task("Slow", SLOW_CODE, id=SLOW_ID, params=[DIR_PARAM], concurrency=ALLOW),
    {
        "name": "Append",
        "id": APPEND_ID,
        "params": [DIR_PARAM],
        "concurrency": {"max_running": 1000, "overlap": "allow"},
        # One short line per run, appended (atomic under O_APPEND): how many times each ran.
        "action": {
            "kind": "command",
            "argv": ["/bin/sh", "-c", 'echo "$TASKGATE_EXECUTION_ID" >>"$TASKGATE_PARAM_DIR/runs"'],
        },
    },
]
DOORS = {
    "qrs": {"enabled": True, "open_to": LOOPBACK},
    "butler": {"enabled": True, "allow_from": LOOPBACK, "open_to": LOOPBACK},
    "cluster": {"recheck_seconds": 60},
}


@pytest.fixture(scope="module")
def pair(_module_servers: ServerFactory) -> tuple[ServerProcess, ServerProcess]:
    one = _module_servers({**DOORS, "node_name": "node-1"}, tasks=TASKS)
    shared = {**DOORS, "node_name": "node-2", "database_url": one.config["database_url"]}
    two = _module_servers(shared, tasks=TASKS)
    for node in (one, two):
        # Relayed, or these tests would prove nothing: waiters and the executor then read
        # the database only every cluster.recheck_seconds.
        metrics = httpx.get(f"{node.url}/metrics").text
        assert 'taskgate_connection_up{name="cluster_events"} 1.0' in metrics, metrics
    return one, two


@pytest.fixture
def clients(pair: tuple[ServerProcess, ServerProcess]) -> Iterator[tuple[httpx.Client, ...]]:
    one, two = pair
    with (
        httpx.Client(base_url=one.url, timeout=60) as a,
        httpx.Client(base_url=two.url, timeout=60) as b,
    ):
        yield a, b


def waited(client: httpx.Client, execution_id: str, timeout: float) -> dict[str, Any]:
    answer: dict[str, Any] = ok_json(
        client.get(
            f"/api/v1/executions/{execution_id}/wait",
            params={"timeout": timeout},
            timeout=timeout + 30,
        )
    )
    return answer


class Waiter:
    """`/wait` on a server, in a thread; `answer()` once it has returned."""

    def __init__(self, client: httpx.Client, execution_id: str, timeout: float) -> None:
        self._answer: dict[str, Any] = {}
        self._thread = threading.Thread(
            target=lambda: self._answer.update(waited(client, execution_id, timeout)),
            daemon=True,
        )
        self._thread.start()

    def answer(self, timeout: float = 60) -> dict[str, Any]:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the waiter never returned"
        return self._answer


def release(work: Path) -> None:
    (work / "release").write_text("go")


def node_of(client: httpx.Client, execution_id: str) -> str:
    node: str = get_execution(client, execution_id)["attempts"][-1]["node"]
    return node


def test_a_start_on_one_node_is_waited_on_the_other(
    clients: tuple[httpx.Client, httpx.Client], tmp_path: Path
) -> None:
    a, b = clients
    execution_id = start_one(a, GATE_ID, {"dir": str(tmp_path)})
    wait_status(a, execution_id, "started")
    waiter = Waiter(b, execution_id, PROMPT)
    release(tmp_path)
    answer = waiter.answer()
    assert answer["timed_out"] is False, answer
    assert answer["status"] == "finished_success", answer


def test_a_start_on_one_node_is_followed_over_sse_on_the_other(
    pair: tuple[ServerProcess, ServerProcess],
    clients: tuple[httpx.Client, httpx.Client],
    tmp_path: Path,
) -> None:
    _, two = pair
    a, _ = clients
    stream = Stream(two, task=[GATE_ID])
    try:
        execution_id = start_one(a, GATE_ID, {"dir": str(tmp_path)})
        release(tmp_path)
        seen: list[str] = []
        while not seen or seen[-1] != "finished_success":
            event = stream.next(timeout=PROMPT)
            assert event.data["execution_id"] == execution_id
            seen.append(event.data["status"])
        assert seen == ["queued", "started", "finished_success"]
    finally:
        stream.close()


def test_a_run_on_one_node_is_aborted_from_the_other_at_once(
    clients: tuple[httpx.Client, httpx.Client], tmp_path: Path
) -> None:
    a, b = clients
    execution_id = start_one(a, SLOW_ID, {"dir": str(tmp_path)})
    pid_file = tmp_path / f"slow.{execution_id}.pid"
    wait_until(pid_file.exists, what="the run's pid file")
    pid = int(pid_file.read_text())
    runs_on = node_of(a, execution_id)
    # Asked on the node that does not run it: the holder hears of it and stops its process.
    elsewhere = b if runs_on == "node-1" else a
    asked = time.monotonic()
    ok_json(elsewhere.post(f"/api/v1/executions/{execution_id}/abort"))
    wait_until(lambda: not alive(pid), timeout=PROMPT, what="the run's process to be gone")
    stopped_after = time.monotonic() - asked
    ended = wait_execution(elsewhere, execution_id, timeout=PROMPT)
    assert ended["status"] == "aborted", ended
    print(f"aborted on the other node; process gone after {stopped_after:.3f} s")


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_butler_and_qrs_doors_on_either_node(
    pair: tuple[ServerProcess, ServerProcess],
    clients: tuple[httpx.Client, httpx.Client],
    tmp_path: Path,
) -> None:
    one, two = pair
    a, b = clients
    # QRS on node 2 follows a session started on node 1, from running to its results.
    execution_id = start_one(a, GATE_ID, {"dir": str(tmp_path)})
    qrs = QrsClient(b)
    wait_until(
        lambda: qrs.json(f"/executionsession/{execution_id}")["executionResult"]["status"] == 2,
        what="node 2's QRS to show the session running",
    )
    release(tmp_path)
    (result,) = run_to_end(qrs, execution_id)
    assert result["status"] == 7, result  # FinishedSuccess
    # Butler on node 2 starts what node 1 waits for; a key set through node 1 is read on 2.
    ok_json(httpx.post(f"{one.url}/v4/keyvalues/cluster", json={"key": "k", "value": "v1"}), 201)
    got = ok_json(httpx.get(f"{two.url}/v4/keyvalues/cluster", params={"key": "k"}))
    assert got["value"] == "v1"
    answer = ok_json(httpx.put(f"{two.url}/v4/reloadtask/{APPEND_ID}/start"))
    assert [t["taskId"] for t in answer["tasksId"]["started"]] == [APPEND_ID]
    (butler_run,) = [e for e in list_executions(a, task=APPEND_ID, origin="butler") if e["status"]]
    assert waited(a, butler_run["id"], PROMPT)["timed_out"] is False


def listener_pids(database_url: str, node: str) -> list[int]:
    url = database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:
        # Of this database: other tests' servers may run at the same time, with the same names.
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity"
            " WHERE application_name LIKE %s AND datname = current_database()",
            (f"taskgate-listen/{node}/%",),
        ).fetchall()
    return [row[0] for row in rows]


def terminate(database_url: str, pid: int) -> None:
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_a_dropped_listener_reconnects_and_its_waiter_gets_the_answer(
    pair: tuple[ServerProcess, ServerProcess],
    clients: tuple[httpx.Client, httpx.Client],
    tmp_path: Path,
) -> None:
    one, two = pair
    a, b = clients
    database_url = one.config["database_url"]
    (listener,) = listener_pids(database_url, "node-2")
    first = tmp_path / "first"
    first.mkdir()
    execution_id = start_one(a, GATE_ID, {"dir": str(first)})
    wait_status(a, execution_id, "started")
    waiter = Waiter(b, execution_id, 60)
    stream = Stream(two, task=[GATE_ID])
    try:
        # Node 2 loses its listening connection while its waiter waits; the run ends meanwhile.
        terminate(database_url, listener)
        release(first)
        answer = waiter.answer()
        assert answer["timed_out"] is False and answer["status"] == "finished_success", answer
        wait_until(
            lambda: "catching up from the store" in two.log_text(),
            timeout=PROMPT,
            what="node 2 to listen again",
        )
        assert listener not in listener_pids(database_url, "node-2")
        # Listening again: a later run's end reaches node 2's waiter through the relay, and
        # node 2's stream said that it may have missed events before that run's.
        second = tmp_path / "second"
        second.mkdir()
        later = start_one(a, GATE_ID, {"dir": str(second)})
        wait_status(a, later, "started")
        waiter = Waiter(b, later, PROMPT)
        release(second)
        answer = waiter.answer()
        assert answer["timed_out"] is False and answer["status"] == "finished_success", answer
        seen: list[str] = []
        while "finished_success" not in seen:
            event = stream.next(timeout=PROMPT)
            if event.type == "gap":
                seen.append("gap")
            elif event.data["execution_id"] == later:
                seen.append(event.data["status"])
        assert seen[0] == "gap" and seen[1:] == ["queued", "started", "finished_success"], seen
    finally:
        stream.close()
    metrics = b.get("/metrics").text
    assert 'taskgate_connection_up{name="cluster_events"} 1.0' in metrics, metrics
    assert 'taskgate_connection_reconnects{name="cluster_events"} 1.0' in metrics, metrics


STARTS = 500


def test_starts_spread_over_both_nodes_run_once_and_are_seen_on_both(
    pair: tuple[ServerProcess, ServerProcess],
    clients: tuple[httpx.Client, httpx.Client],
    tmp_path: Path,
) -> None:
    """500 starts, half on each node: each runs once, and each one's queued, started and
    finished events are seen on both nodes' streams."""
    one, two = pair
    a, b = clients
    streams = [Stream(one, task=[APPEND_ID]), Stream(two, task=[APPEND_ID])]
    try:
        work = tmp_path / "work"
        work.mkdir()

        def start_on(client: httpx.Client) -> str:
            return start_one(client, APPEND_ID, {"dir": str(work)})

        began = time.monotonic()
        with ThreadPoolExecutor(8) as pool:
            ids = list(pool.map(start_on, [a, b] * (STARTS // 2)))
        assert len(set(ids)) == STARTS
        seen: list[dict[str, set[str]]] = []
        for stream in streams:
            statuses: dict[str, set[str]] = defaultdict(set)
            ended = 0
            while ended < STARTS:
                event = stream.next(timeout=60).data
                statuses[event["execution_id"]].add(event["status"])
                if event["status"] == "finished_success":
                    ended += 1
            seen.append(statuses)
        elapsed = time.monotonic() - began
        for statuses in seen:
            assert set(statuses) == set(ids)
            every = {"queued", "started", "finished_success"}
            missing = {i: s for i, s in statuses.items() if s != every}
            assert not missing, list(missing.items())[:5]
        runs = (work / "runs").read_text().split()
        assert sorted(runs) == sorted(ids)
        print(f"{STARTS} starts over two nodes, all seen on both in {elapsed:.1f} s")
    finally:
        for stream in streams:
            stream.close()


def test_mqtt_shared_subscription_gives_each_start_to_one_node_and_skips_one_away(
    start_server: StartServer, tmp_path: Path
) -> None:
    """Both nodes share the start topic ($share/<group>/...): each message starts its task
    once (no idempotency key here: plain subscriptions would start it on both), and while one
    node is stopped every message goes to the other at once."""
    host, port = require_broker()
    topics = prefix()
    shared = {"shared_group": f"g-{uuid.uuid4().hex[:8]}", "final_reply": False}
    one = start_server(
        {**mqtt_config(host, port, topics, **shared), **DOORS, "node_name": "node-1"},
        tasks=TASKS,
    )
    two_config = {
        **mqtt_config(host, port, topics, **shared),
        **DOORS,
        "node_name": "node-2",
        "database_url": one.config["database_url"],
    }
    two = start_server(two_config, tasks=TASKS)
    work = tmp_path / "work"
    work.mkdir()
    reply = f"{topics}/reply"
    probe = MqttProbe(host, port)
    try:
        probe.subscribe(reply)
        body = json.dumps({"tasks": [APPEND_ID], "params": {"dir": str(work)}})

        def publish(count: int, answered: int) -> None:
            for _ in range(count):
                probe.publish(f"{topics}/start", body, response_topic=reply)
            probe.wait_on(reply, answered, timeout=PROMPT)

        def all_ended(client: httpx.Client) -> list[str]:
            started = [m.json()["executions"][0]["id"] for m in probe.on(reply)]
            for execution_id in started:
                assert wait_execution(client, execution_id, PROMPT)["status"] == "finished_success"
            return started

        with httpx.Client(base_url=one.url, timeout=60) as a:
            publish(20, 20)
            all_ended(a)  # none is cut short by node 2's stop
            two.stop()
            publish(10, 30)
            two.start()  # ready (/readyz) once its MQTT connection is up again
            publish(10, 40)
            started = all_ended(a)
            executions = list_executions(a, task=APPEND_ID, origin="mqtt")
        assert len(started) == len(set(started)) == 40
        assert sorted(e["id"] for e in executions) == sorted(started)
        assert sorted((work / "runs").read_text().split()) == sorted(started)
    finally:
        probe.close()
