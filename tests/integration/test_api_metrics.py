"""/metrics in Prometheus's text format, after real runs."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import StartServer
from tests.support import STANDARD_TASKS, start_one, wait_execution


def samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain")
    found: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_after_a_few_runs(start_server: StartServer) -> None:
    server = start_server(tasks=STANDARD_TASKS)
    client = server.client()
    for label in ("quick", "quick", "fail"):
        wait_execution(client, start_one(client, f"label:{label}"))
    found = samples(client)
    assert (
        found[
            (
                "taskgate_execution_status_changes_total",
                (("origin", "api"), ("status", "finished_success")),
            )
        ]
        == 2
    )
    assert (
        found[
            (
                "taskgate_execution_status_changes_total",
                (("origin", "api"), ("status", "finished_fail")),
            )
        ]
        == 1
    )
    assert (
        found[
            ("taskgate_execution_status_changes_total", (("origin", "api"), ("status", "queued")))
        ]
        == 3
    )
    # One process: the cluster's counts are its own.
    cluster = "taskgate_cluster_execution_status_changes_total"
    assert found[(cluster, (("status", "finished_success"),))] == 2
    assert found[(cluster, (("status", "queued"),))] == 3
    assert found[("taskgate_start_latency_seconds_count", ())] == 3
    assert found[("taskgate_run_duration_seconds_count", (("status", "finished_success"),))] == 2
    assert found[("taskgate_cluster_start_latency_seconds_count", ())] == 3
    ran = ("taskgate_cluster_run_duration_seconds_count", (("status", "finished_fail"),))
    assert found[ran] == 1
    assert found[("taskgate_executions_waiting", ())] == 0
    assert found[("taskgate_executions_running", ())] == 0


def test_metrics_need_a_viewer_key_once_keys_exist(start_server: StartServer) -> None:
    server = start_server({"auth": "keys"})
    server.cli("keys", "create", "--name", "admin", "--role", "admin")
    assert httpx.get(f"{server.url}/metrics").status_code == 401
