"""The Celery executor end to end: API servers and `taskgate worker` processes on a shared
PostgreSQL, through Redis (the shared one, or a private redis-server that a test restarts) and
RabbitMQ."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.celery_support import (
    PrivateRabbitMQ,
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
from tests.conftest import Backend, StartServer, postgres_backend
from tests.integration.test_api_events import Stream
from tests.integration.test_mqtt import mqtt_config
from tests.integration.test_webhooks import Receiver
from tests.mqtt_support import MqttProbe, prefix, require_broker
from tests.web.support import hidden


def command_task(name: str, argv: list[str], max_running: int, **more: Any) -> dict[str, Any]:
    """A task whose runs may overlap up to `max_running` and run `argv`."""
    return {
        "name": name,
        "label": name,
        "concurrency": {"overlap": "allow", "max_running": max_running},
        "action": {"kind": "command", "argv": argv},
        **more,
    }


ECHO = command_task(
    "echo",
    [
        "sh",
        "-c",
        'echo "hello from $TASKGATE_ATTEMPT"; echo \'{"n": 7}\' > "$TASKGATE_RESULT_FILE"',
    ],
    1000,
)
TRUE = command_task("true", ["/bin/true"], 1000)
# Long on its first attempt, quick on the next: a run taken over by lease ends on its retry.
LONG_ONCE = command_task(
    "long-once",
    ["sh", "-c", 'test "$TASKGATE_ATTEMPT" -gt 1 || sleep 120'],
    100,
    retries={"count": 1, "delay": 0},
)
ROUTED = command_task("routed", ["/bin/true"], 10, route="lonely")
ENDED = {"finished_success", "finished_fail", "error", "aborted", "skipped"}


@pytest.fixture(scope="module")
def backend(_backends: dict[str, Backend]) -> Backend:
    """PostgreSQL only: the Celery executor refuses SQLite."""
    return postgres_backend(_backends)


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


def wait_ended(database_url: str, count: int, what: str = "", timeout: float = 60.0) -> None:
    """Wait until `count` executions have ended; a timeout says where they all stood."""

    def check() -> bool:
        now = statuses(database_url)
        return sum(n for s, n in now.items() if s in ENDED) >= count

    what = what or f"{count} executions ended"
    wait_until(what, check, timeout, state=lambda: statuses(database_url))


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
        # The worker's events (started, ended) are counted on the API node as its own (queued).
        wanted = [
            f'taskgate_cluster_execution_status_changes_total{{status="{status}"}} 5.0'
            for status in ("queued", "started", "finished_success")
        ]
        # And how long they waited and ran, in the cluster's histograms.
        wanted += [
            "taskgate_cluster_start_latency_seconds_count 5.0",
            'taskgate_cluster_run_duration_seconds_count{status="finished_success"} 5.0',
        ]
        wait_until(
            "the worker's runs counted in /metrics",
            lambda: all(line in client.get("/metrics").text for line in wanted),
            30,
        )
    assert set(attempts_per_execution(database).values()) == {1}


@pytest.mark.timeout(400)  # 500 runs through a broker: minutes on a loaded machine
def test_500_starts_over_two_nodes_and_two_workers_each_run_once(
    start_server: StartServer, workers: Workers, broker: str, tmp_path: Path
) -> None:
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    config = celery_config(broker, database)
    # Not the tests' 2 s: on a loaded machine a lease renewal can come late, and a run taken
    # over would be a second attempt.
    config["executor"] = {**config["executor"], "lease_seconds": 15}
    nodes = [start_server(config, tasks=[TRUE]) for _ in range(2)]
    workers(nodes[0], "w1", concurrency=8)
    workers(nodes[1], "w2", concurrency=8)
    clients = [node.client(timeout=30) for node in nodes]
    streams = [Stream(node, task=["true"]) for node in nodes]

    def start_50(index: int) -> list[str]:
        client = clients[index % 2]
        return [start(client, "true") for _ in range(50)]

    try:
        with ThreadPoolExecutor(4) as pool:
            ids = [eid for batch in pool.map(start_50, range(10)) for eid in batch]
        assert len(set(ids)) == 500
        wait_ended(database, 500, timeout=300)
        # Every run's queued (made by an API node) and end (made by a worker) are seen on both
        # API nodes' live streams. Events of one run made by two processes may arrive on a
        # third in either order (docs/deploy.md): a queued can come after the end, so the
        # stream is read until both are complete, not until the last end.
        wanted = ("queued", "finished_success")
        for node, stream in zip(nodes, streams, strict=True):
            seen = stream.statuses_until(lambda s: all(len(s.get(w, ())) >= 500 for w in wanted))
            for status in wanted:
                missing = set(ids) - seen.get(status, set())
                assert not missing, f"{node.url}: {len(missing)} {status} not seen"
    finally:
        for stream in streams:
            stream.close()
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
        wait_ended(database, 3)
        for execution_id in ids:
            execution = client.get(f"/api/v1/executions/{execution_id}").json()
            assert execution["status"] == "finished_success", execution
            first, second = execution["attempts"]
            assert first["node"] == "doomed" and first["status"] == "error"
            assert "stopped renewing its lease" in first["message"]
            assert second["node"] == "survivor" and second["status"] == "finished_success"
    assert statuses(database) == {"finished_success": 3}


@pytest.mark.timeout(400)
@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_a_broker_restart_during_500_starts_loses_none_and_runs_none_twice(
    start_server: StartServer, workers: Workers, tmp_path: Path, kind: str
) -> None:
    """A private broker (never the shared one) killed and started again while starts come
    in: Redis keeps nothing, so what it held is gone and the sweep publishes it again;
    RabbitMQ keeps its durable queue and gives back what the worker had not acknowledged.
    The worker reconnects and goes on taking messages either way."""
    broker: PrivateRedis | PrivateRabbitMQ = (
        PrivateRedis(tmp_path) if kind == "redis" else PrivateRabbitMQ(tmp_path)
    )
    broker.start()
    try:
        database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
        config = celery_config(broker.url, database, unclaimed_seconds=2)
        config["executor"] = {**config["executor"], "lease_seconds": 15}  # as above
        server = start_server(config, tasks=[TRUE])
        workers(server, "w1", concurrency=8)
        ids: list[str] = []
        with server.client(timeout=30) as client:
            for round_ in range(8):
                ids += [start(client, "true") for _ in range(50)]
                if round_ == 2:
                    wait_until(
                        "runs after the first starts",
                        lambda: bool(attempts_per_execution(database)),
                    )
                    broker.kill()
                    ids += [start(client, "true") for _ in range(50)]  # accepted all the same
                    broker.start()
            # What the worker runs after the restart came through its new connection.
            ids += [start(client, "true") for _ in range(50)]
        assert len(set(ids)) == 500
        wait_ended(database, 500, timeout=180)
        assert statuses(database) == {"finished_success": 500}
        assert set(attempts_per_execution(database).values()) == {1}
    finally:
        broker.kill()


def test_runs_that_end_just_after_a_rabbitmq_restart_leave_the_worker_taking_messages(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    """Runs under way while the broker restarts end on the new connection. Their acks once
    set the prefetch count from the runs' own threads, beside the consumer's own basic.qos
    on the same AMQP connection, and the worker hung for good, taking no message again."""
    broker = PrivateRabbitMQ(tmp_path)
    broker.start()
    try:
        gate = tmp_path / "gate"
        waits = f'while [ ! -e "{gate}" ]; do sleep 0.05; done'
        gated = command_task("gated", ["sh", "-c", waits], 100)
        database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
        server = start_server(celery_config(broker.url, database), tasks=[gated, TRUE])
        worker = workers(server, "w1", concurrency=8)
        with server.client(timeout=30) as client:
            for _ in range(8):
                start(client, "gated")
            wait_until("8 runs started", lambda: statuses(database).get("started") == 8)
            broker.kill()
            broker.start()
            wait_until(
                "the worker connected again",
                lambda: worker.log_text().count("Connected to amqp://") >= 2,
            )
            gate.touch()
            wait_ended(database, 8, "the 8 gated runs ended")
            for _ in range(20):
                start(client, "true")
            wait_ended(database, 28)
        assert statuses(database) == {"finished_success": 28}
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
        shown = client.get(f"/api/v1/executions/{routed}").json()
        assert shown["status"] == "queued"
        prefix = server.config["executor"]["celery"]["queue_prefix"]
        # The execution's own view says why it waits, as the CLI's show does.
        assert shown["queue_note"] == (
            f"no worker listens on its route lonely (queue {prefix}lonely): "
            "it stays queued until one does"
        )
        said = taskgate_cli("executions", "show", routed, "--url", server.url)
        assert "no worker listens on its route lonely" in said
        with server.client() as http:  # the dashboard, logged in (open mode: no key)
            form = http.get("/ui/login")
            http.post("/ui/login", data={"login_token": hidden(form.text, "login_token")})
            page = http.get(f"/ui/executions/{routed}")
        assert page.status_code == 200 and "no worker listens on its route lonely" in page.text
        view = client.get("/api/v1/queues").json()
        assert view["executor"] == "celery"
        queues = {q["queue"]: q for q in view["queues"]}
        lonely = queues[f"{prefix}lonely"]
        assert lonely["route"] == "lonely" and lonely["waiting"] == 1
        assert lonely["workers"] == [] and "no worker" in lonely["note"]
        assert lonely["messages"] == 1  # its message waits in the broker
        listened = queues[f"{prefix}default"]["workers"]
        assert any(name.startswith("general@") for name in listened)
        cli = taskgate_cli("queues", "--url", server.url)
        assert f"{prefix}lonely" in cli and "no worker" in cli

        workers(server, "lonely-host", queues="lonely")
        waited = client.get(f"/api/v1/executions/{routed}/wait", params={"timeout": 30})
        assert waited.json()["status"] == "finished_success"
        ran = client.get(f"/api/v1/executions/{routed}").json()
        assert ran["node"] == "lonely-host" and ran["queue_note"] is None
        other_view = client.get(f"/api/v1/executions/{other}").json()
        assert other_view["queue_note"] is None


def taskgate_cli(*args: str) -> str:
    """What a `taskgate` command prints on a wide terminal."""
    return subprocess.run(
        [sys.executable, "-m", "taskgate", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "250"},
    ).stdout


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


def test_an_abort_on_one_node_stops_a_run_another_node_started_on_a_worker(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    """Started on node B, run by a worker, aborted on node A: the worker stops it (the relay
    brings it the abort; its own look at the store every second is the floor), and node B's
    waiter hears of the end through the relay (recheck_seconds is 60 s here)."""
    database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
    long = {
        **TRUE,
        "name": "long",
        "label": "long",
        "action": {"kind": "command", "argv": ["sleep", "120"]},
    }
    config = {**celery_config(rabbitmq_url(), database), "cluster": {"recheck_seconds": 60}}
    node_a = start_server({**config, "node_name": "api-a"}, tasks=[long])
    node_b = start_server({**config, "node_name": "api-b"}, tasks=[long])
    workers(node_a, "w1")
    with node_a.client(timeout=60) as a, node_b.client(timeout=60) as b:
        execution_id = start(b, "long")
        wait_until("the run started", lambda: statuses(database).get("started") == 1)
        asked = a.post(f"/api/v1/executions/{execution_id}/abort")
        assert asked.status_code == 200, asked.text
        done = b.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30})
        assert done.json()["status"] == "aborted", done.text
        assert done.json()["timed_out"] is False
        attempt = a.get(f"/api/v1/executions/{execution_id}").json()["attempts"][0]
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


def test_a_workers_runs_send_each_webhook_and_mqtt_state_event_once(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    """Two API nodes and one worker: every event of every run, whichever process made it
    (queued: the API node that took the start; started and ended: the worker), is delivered
    once to the webhook receiver and published once as an MQTT state event."""
    host, port = require_broker()
    topics = prefix()
    receiver = Receiver()
    probe = MqttProbe(host, port)
    try:
        probe.subscribe(f"{topics}/ex/#")
        database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
        hooked = {
            "webhooks": [{"name": "all", "url": receiver.url, "secret": "s" * 20}],
            "cluster": {"recheck_seconds": 60},
        }
        celery = celery_config(redis_url(), database)  # one broker and prefix for all
        nodes = [
            start_server(
                {
                    **celery,
                    **mqtt_config(host, port, topics, enabled=False),
                    **hooked,
                    "node_name": f"api{i}",
                },
                tasks=[TRUE],
            )
            for i in (1, 2)
        ]
        workers(nodes[0], "w1")
        clients = [node.client(timeout=30) for node in nodes]

        def run(count: int) -> list[str]:
            ids = [start(clients[i % 2], "true") for i in range(count)]
            for execution_id in ids:
                done = clients[1].get(
                    f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30}
                )
                assert done.json()["status"] == "finished_success", done.text
            return ids

        ids = run(10)
        # One more run after these ended: a second delivery or message of an earlier event
        # (a node that acted on a relayed event) would have come before this run's last one.
        ids += run(1)
        wanted = {(i, s) for i in ids for s in ("queued", "started", "finished_success")}

        def pairs(payloads: list[dict[str, Any]]) -> list[tuple[str, str]]:
            return sorted((p["execution_id"], p["status"]) for p in payloads)

        delivered: list[dict[str, Any]] = []
        while len(delivered) < len(wanted):
            delivered.append(receiver.next(timeout=30)[1])
        assert pairs(delivered) == sorted(wanted)
        messages = probe.wait_for(
            lambda got: got if len(got) >= len(wanted) else None,
            what=f"{len(wanted)} state events",
        )
        assert pairs([m.json() for m in messages]) == sorted(wanted)
        recorded = pg_rows(
            database, "SELECT execution_id, event_status, state FROM webhook_deliveries"
        )
        assert sorted((str(r[0]), str(r[1])) for r in recorded) == sorted(wanted)
        makers = pg_rows(database, "SELECT DISTINCT node FROM attempts")
        assert makers == [("w1",)]
    finally:
        probe.close()
        receiver.close()


def test_a_webhook_made_over_the_api_after_a_worker_started_gets_its_runs_events(
    start_server: StartServer, workers: Workers, tmp_path: Path
) -> None:
    """The worker records the deliveries of the events it makes, against the subscriptions it
    read; it reads them again every few seconds, so a webhook made later on an API node is
    soon matched there too. Runs are started until one of the worker's events is delivered
    (the moment the worker has read it again), then every event of the next run is."""
    receiver = Receiver()
    try:
        database = new_database(start_server.backend, tmp_path)  # type: ignore[attr-defined]
        server = start_server(celery_config(redis_url(), database), tasks=[TRUE])
        workers(server, "w1")
        with server.client(timeout=30) as client:
            made = client.post("/api/v1/webhooks", json={"url": receiver.url, "secret": "s" * 20})
            assert made.status_code == 201, made.text
            delivered: list[tuple[str, str]] = []

            def run_once() -> str:
                execution_id = start(client, "true")
                done = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30})
                assert done.json()["status"] == "finished_success", done.text
                return execution_id

            def a_worker_event_delivered() -> bool:
                run_once()
                while not receiver.received.empty():
                    event = receiver.next()[1]
                    delivered.append((event["execution_id"], event["status"]))
                return any(status != "queued" for _, status in delivered)

            wait_until("a delivery of an event the worker made", a_worker_event_delivered, 60)
            last = run_once()
            wanted = {(last, s) for s in ("queued", "started", "finished_success")}
            while not wanted <= set(delivered):
                event = receiver.next(timeout=30)[1]
                delivered.append((event["execution_id"], event["status"]))
            ran = client.get(f"/api/v1/executions/{last}").json()
            assert ran["node"] == "w1"
    finally:
        receiver.close()
