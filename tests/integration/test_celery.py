"""The Celery executor end to end: API servers and `taskgate worker` processes on a shared
PostgreSQL, through Redis (the shared one, or a private redis-server that a test restarts) and
RabbitMQ."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.celery_support import (
    PrivateRedis,
    Workers,
    attempts_per_execution,
    celery_config,
    pg_rows,
    rabbitmq_url,
    redis_url,
    statuses,
    wait_until,
)
from tests.conftest import (
    DEFAULT_PG_URL,
    Backend,
    StartServer,
    _pg_unreachable,
    services_required,
)

ECHO = {
    "name": "echo",
    "label": "echo",
    "concurrency": {"overlap": "allow", "max_running": 1000},
    "action": {
        "kind": "command",
        "argv": [
            "sh",
            "-c",
            'echo "hello from $TASKGATE_ATTEMPT"; echo \'{"n": 7}\' > "$TASKGATE_RESULT_FILE"',
        ],
    },
}
TRUE = {
    "name": "true",
    "label": "true",
    "concurrency": {"overlap": "allow", "max_running": 1000},
    "action": {"kind": "command", "argv": ["/bin/true"]},
}
# Long on its first attempt, quick on the next: a run taken over by lease ends on its retry.
LONG_ONCE = {
    "name": "long-once",
    "label": "long-once",
    "concurrency": {"overlap": "allow", "max_running": 100},
    "retries": {"count": 1, "delay": 0},
    "action": {
        "kind": "command",
        "argv": ["sh", "-c", 'test "$TASKGATE_ATTEMPT" -gt 1 || sleep 120'],
    },
}
ROUTED = {
    "name": "routed",
    "label": "routed",
    "route": "lonely",
    "concurrency": {"overlap": "allow", "max_running": 10},
    "action": {"kind": "command", "argv": ["/bin/true"]},
}
ENDED = {"finished_success", "finished_fail", "error", "aborted", "skipped"}


@pytest.fixture(scope="module")
def backend(_backends: dict[str, Backend]) -> Backend:
    """PostgreSQL only: the Celery executor refuses SQLite."""
    url = os.environ.get("TASKGATE_TEST_PG_URL", DEFAULT_PG_URL)
    problem = _pg_unreachable(url)
    if problem is not None:
        message = f"PostgreSQL unreachable at {url}: {problem}"
        if services_required():
            pytest.fail(message)
        pytest.skip(message)
    return _backends.setdefault("postgres", Backend("postgres", url))


@pytest.fixture
def workers() -> Iterator[Workers]:
    made = Workers()
    yield made
    made.close()


@pytest.fixture(params=["redis", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> str:
    return redis_url() if request.param == "redis" else rabbitmq_url()


def new_database(backend: Backend, tmp_path: Path) -> str:
    url = backend.new_database(tmp_path)
    assert url is not None
    return url


def start(client: httpx.Client, label: str, **body: Any) -> str:
    answer = client.post(f"/api/v1/tasks/{label}/start", json=body)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["executions"][0]["id"])


def all_ended(database_url: str, count: int) -> Callable[[], bool]:
    def check() -> bool:
        now = statuses(database_url)
        return sum(n for s, n in now.items() if s in ENDED) >= count

    return check


def test_a_start_runs_once_on_a_worker_with_its_log_and_result(
    start_server: StartServer, workers: Workers, broker: str, tmp_path: Path
) -> None:
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    server = start_server(celery_config(broker, database), tasks=[ECHO])
    workers(server, "w1")
    with server.client(timeout=60) as client:
        ids = [start(client, "echo") for _ in range(5)]
        for execution_id in ids:
            done = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30})
            assert done.status_code == 200, done.text
            execution = client.get(f"/api/v1/executions/{execution_id}").json()
            assert execution["status"] == "finished_success", execution
            assert execution["node"] == "w1"
            assert execution["result"] == {"n": 7}
            assert len(execution["attempts"]) == 1
            log = client.get(f"/api/v1/executions/{execution_id}/log").json()
            assert log["data"] == "hello from 1\n"
    assert set(attempts_per_execution(database).values()) == {1}


def test_500_starts_over_two_nodes_and_two_workers_each_run_once(
    start_server: StartServer, workers: Workers, broker: str, tmp_path: Path
) -> None:
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    config = celery_config(broker, database)
    nodes = [start_server(config, tasks=[TRUE]) for _ in range(2)]
    workers(nodes[0], "w1", concurrency=8)
    workers(nodes[1], "w2", concurrency=8)
    clients = [node.client(timeout=30) for node in nodes]

    def start_50(index: int) -> list[str]:
        client = clients[index % 2]
        return [start(client, "true") for _ in range(50)]

    with ThreadPoolExecutor(4) as pool:
        ids = [eid for batch in pool.map(start_50, range(10)) for eid in batch]
    assert len(set(ids)) == 500
    wait_until("500 executions ended", all_ended(database, 500), timeout=120)
    assert statuses(database) == {"finished_success": 500}
    attempts = attempts_per_execution(database)
    assert len(attempts) == 500 and set(attempts.values()) == {1}
    nodes_used = dict(pg_rows(database, "SELECT node, count(*) FROM attempts GROUP BY 1"))
    assert set(nodes_used) <= {"w1", "w2"}


def test_a_killed_worker_has_its_runs_retried_once_by_lease(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    server = start_server(celery_config(redis_url(), database), tasks=[LONG_ONCE])
    doomed = workers(server, "doomed", concurrency=4)
    with server.client(timeout=30) as client:
        ids = [start(client, "long-once") for _ in range(3)]
        wait_until("3 runs started", lambda: statuses(database).get("started") == 3)
        workers(server, "survivor", concurrency=4)
        doomed.kill()
        wait_until("3 executions ended", all_ended(database, 3), timeout=60)
        for execution_id in ids:
            execution = client.get(f"/api/v1/executions/{execution_id}").json()
            assert execution["status"] == "finished_success", execution
            first, second = execution["attempts"]
            assert first["node"] == "doomed" and first["status"] == "error"
            assert "stopped renewing its lease" in first["message"]
            assert second["node"] == "survivor" and second["status"] == "finished_success"
    assert statuses(database) == {"finished_success": 3}


def test_a_redis_restart_during_starts_loses_none_and_runs_none_twice(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    """RabbitMQ is not restarted here: with a private node (PrivateRabbitMQ) the worker took
    one prefetch window after the restart and then nothing more (its acknowledgements after
    the reconnection never reached the broker); see docs/deploy.md."""
    broker = PrivateRedis(tmp_path)
    broker.start()
    try:
        database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
        server = start_server(
            celery_config(broker.url, database, unclaimed_seconds=2), tasks=[TRUE]
        )
        workers(server, "w1", concurrency=8)
        ids: list[str] = []
        with server.client(timeout=30) as client:
            for round_ in range(4):
                ids += [start(client, "true") for _ in range(50)]
                if round_ == 1:
                    broker.kill()  # Redis keeps nothing: what it held is gone
                    ids += [start(client, "true") for _ in range(50)]  # accepted all the same
                    broker.start()
        assert len(set(ids)) == 250
        wait_until("250 executions ended", all_ended(database, 250), timeout=120)
        assert statuses(database) == {"finished_success": 250}
        assert set(attempts_per_execution(database).values()) == {1}
    finally:
        broker.kill()


def test_a_route_without_a_worker_stays_queued_and_says_so(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    server = start_server(celery_config(redis_url(), database), tasks=[ROUTED, TRUE])
    workers(server, "general")  # listens on the default route only
    with server.client(timeout=30) as client:
        routed = start(client, "routed")
        other = start(client, "true")
        waited = client.get(f"/api/v1/executions/{other}/wait", params={"timeout": 30})
        assert waited.json()["status"] == "finished_success"
        assert client.get(f"/api/v1/executions/{routed}").json()["status"] == "queued"
        view = client.get("/api/v1/queues").json()
        assert view["executor"] == "celery"
        prefix = server.config["executor"]["celery"]["queue_prefix"]
        queues = {q["queue"]: q for q in view["queues"]}
        lonely = queues[f"{prefix}lonely"]
        assert lonely["route"] == "lonely" and lonely["waiting"] == 1
        assert lonely["workers"] == [] and "no worker" in lonely["note"]
        assert lonely["messages"] == 1  # its message waits in the broker
        listened = queues[f"{prefix}default"]["workers"]
        assert any(name.startswith("general@") for name in listened)
        cli = subprocess.run(
            [sys.executable, "-m", "taskgate", "queues", "--url", server.url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "COLUMNS": "250"},
        ).stdout
        assert f"{prefix}lonely" in cli and "no worker" in cli

        workers(server, "lonely-host", queues="lonely")
        waited = client.get(f"/api/v1/executions/{routed}/wait", params={"timeout": 30})
        assert waited.json()["status"] == "finished_success"
        assert client.get(f"/api/v1/executions/{routed}").json()["node"] == "lonely-host"


def test_drain_finishes_what_runs_and_exits(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    slow = {
        **TRUE,
        "name": "slow",
        "label": "slow",
        "action": {"kind": "command", "argv": ["sleep", "2"]},
    }
    server = start_server(celery_config(redis_url(), database), tasks=[slow])
    worker = workers(server, "w1")
    with server.client(timeout=30) as client:
        execution_id = start(client, "slow")
        wait_until("the run started", lambda: statuses(database).get("started") == 1)
        said = server.cli("worker", "--drain", "--hostname", worker.hostname)
        assert "draining" in said
        assert worker.proc is not None
        assert worker.proc.wait(30) == 0
        assert client.get(f"/api/v1/executions/{execution_id}").json()["status"] == (
            "finished_success"
        )


def test_an_abort_on_the_api_stops_the_run_on_its_worker(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    long = {
        **TRUE,
        "name": "long",
        "label": "long",
        "action": {"kind": "command", "argv": ["sleep", "120"]},
    }
    server = start_server(celery_config(redis_url(), database), tasks=[long])
    workers(server, "w1")
    with server.client(timeout=30) as client:
        execution_id = start(client, "long")
        wait_until("the run started", lambda: statuses(database).get("started") == 1)
        asked = client.post(f"/api/v1/executions/{execution_id}/abort")
        assert asked.status_code == 200, asked.text
        done = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30})
        assert done.json()["status"] == "aborted", done.text
        attempt = client.get(f"/api/v1/executions/{execution_id}").json()["attempts"][0]
        assert attempt["node"] == "w1" and attempt["status"] == "aborted"


def test_a_workflow_moves_on_as_its_members_end_on_workers(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    members = [{**ECHO, "name": f"m{i}", "label": f"m{i}"} for i in range(3)]
    flow = {
        "name": "flow",
        "label": "flow",
        "action": {"kind": "workflow", "phases": [["m0"], ["m1", "m2"]]},
    }
    server = start_server(celery_config(redis_url(), database), tasks=[*members, flow])
    workers(server, "w1")
    with server.client(timeout=60) as client:
        execution_id = start(client, "flow")
        done = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 45})
        assert done.json()["status"] == "finished_success", done.text
        children = client.get(f"/api/v1/executions/{execution_id}").json()["children"]
        assert len(children) == 3
        for child in children:
            member = client.get(f"/api/v1/executions/{child['id']}").json()
            assert member["status"] == "finished_success" and member["node"] == "w1"
    assert set(attempts_per_execution(database).values()) == {1}


def test_a_task_limit_holds_across_workers_and_its_queue_moves_on(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    """max_running 1 with two workers: the runs never overlap, and each end hands the next
    waiting run a message (the sweep, 10 minutes away here, is not what moves the queue)."""
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    one = {
        "name": "one",
        "label": "one",
        "concurrency": {"overlap": "queue", "max_running": 1},
        "action": {"kind": "command", "argv": ["sleep", "0.3"]},
    }
    server = start_server(celery_config(redis_url(), database, unclaimed_seconds=600), tasks=[one])
    workers(server, "w1")
    workers(server, "w2")
    with server.client(timeout=60) as client:
        ids = [start(client, "one") for _ in range(4)]
        for execution_id in ids:
            done = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 60})
            assert done.json()["status"] == "finished_success", done.text
    spans = sorted(
        pg_rows(database, "SELECT started_at, finished_at FROM attempts ORDER BY started_at")
    )
    assert len(spans) == 4
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert end <= begin
