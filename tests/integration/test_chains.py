"""Chain rules over the API and the config file, with real processes: a rule fires in the
transaction of the end that triggers it, `all` waits for every condition within its window,
an expiring window fires (or not) as the rule says, cycles are refused, and a crash right
after the triggering end loses nothing and starts nothing twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Backend, ServerProcess, StartServer
from tests.integration.test_cli import expect, loads, run_cli
from tests.support import (
    DIR_PARAM,
    GATE_CODE,
    QUICK_CODE,
    create_task,
    error_json,
    list_executions,
    ok_json,
    py_task,
    start_one,
    unique,
    wait_execution,
    wait_status,
    wait_until,
)

ALLOW = {"max_running": 100, "overlap": "allow"}


def make_task(client: httpx.Client, *, fail: bool = False, **fields: Any) -> str:
    """A task of our own (chains are global: other tests' tasks must not fire them)."""
    label = unique("ch")
    code = QUICK_CODE + ("\nsys.exit(2)\n" if fail else "")
    task = py_task(label, code, label=label, concurrency=ALLOW, **fields)
    create_task(client, task)
    return label


def create_chain(client: httpx.Client, rule: dict[str, Any]) -> dict[str, Any]:
    chain: dict[str, Any] = ok_json(client.post("/api/v1/chains", json=rule), 201)
    return chain


def executions_of(client: httpx.Client, label: str) -> list[dict[str, Any]]:
    return list_executions(client, task=label)


def chained_run(client: httpx.Client, label: str, count: int = 1) -> list[dict[str, Any]]:
    """Waits until `label` has `count` executions, then until they have ended."""
    found = wait_until(
        lambda: runs if len(runs := executions_of(client, label)) >= count else None,
        what=f"{count} execution(s) of {label}",
    )
    return [wait_execution(client, run["id"]) for run in found]


def streamed_events(client: httpx.Client, label: str, until: str) -> list[dict[str, Any]]:
    """The event stream's events of `label`'s executions, from the start of what the server
    kept, up to the first with status `until`."""
    seen: list[dict[str, Any]] = []
    with client.stream("GET", "/api/v1/events", params={"task": label, "since": "x-0"}) as lines:
        kind = ""
        for line in lines.iter_lines():
            if line.startswith("event:"):
                kind = line.partition(":")[2].strip()
            elif line.startswith("data:") and kind == "execution":
                seen.append(json.loads(line.partition(":")[2]))
                if seen[-1]["status"] == until:
                    return seen
    raise AssertionError(f"stream ended before {until}: {seen}")


def test_a_success_starts_the_next_task_with_values_of_the_first(
    client: httpx.Client,
) -> None:
    first = make_task(client, params=[{"name": "region", "type": "string", "default": "EU"}])
    second = make_task(
        client,
        params=[
            {"name": "region", "type": "string"},
            {"name": "came_from", "type": "string"},
            {"name": "echo", "type": "json"},
        ],
    )
    chain = create_chain(
        client,
        {
            "name": "first then second",
            "when": [{"task": f"label:{first}"}],
            "start": f"label:{second}",
            "params": {
                "region": "{{ trigger.params.region }}",
                "came_from": "{{ trigger.execution_id }}",
                "echo": "{{ trigger.result.params }}",
            },
        },
    )
    assert chain["match"] == "any" and chain["source"] == "api"
    trigger = start_one(client, f"label:{first}", {"region": "US"})
    assert wait_execution(client, trigger)["status"] == "finished_success"
    [run] = chained_run(client, second)
    assert run["status"] == "finished_success", run
    assert run["origin"] == "chain"
    assert run["chain_id"] == chain["id"]
    assert run["triggered_by"] == [trigger]
    assert run["params"]["region"] == "US"
    assert run["params"]["came_from"] == trigger
    assert run["params"]["echo"] == {"region": "US"}
    firings = ok_json(client.get(f"/api/v1/chains/{chain['id']}/firings"))["items"]
    assert [(f["outcome"], f["triggered_by"], f["execution_ids"]) for f in firings] == [
        ("started", [trigger], [run["id"]])
    ]
    assert ok_json(client.get(f"/api/v1/chains/{chain['id']}"))["fire_count"] == 1
    # Its events (the stream, MQTT and webhooks send the same payload) name rule and trigger.
    events = streamed_events(client, second, "finished_success")
    assert {e["status"] for e in events} >= {"queued", "started", "finished_success"}
    for event in events:
        assert event["chain_id"] == chain["id"] and event["triggered_by"] == [trigger], event


def test_a_failure_rule_fires_on_failure_only(client: httpx.Client) -> None:
    flaky = make_task(client, fail=True)
    steady = make_task(client)
    on_failure = make_task(client)
    create_chain(
        client,
        {
            "when": [
                {"task": f"label:{flaky}", "statuses": ["finished_fail"]},
                {"task": f"label:{steady}", "statuses": ["finished_fail"]},
            ],
            "start": [f"label:{on_failure}"],
        },
    )
    # The steady task succeeds: nothing follows. Started first, so its end (which fires
    # nothing) is written before the failing one's.
    assert wait_execution(client, start_one(client, f"label:{steady}"))["status"] == (
        "finished_success"
    )
    failed = start_one(client, f"label:{flaky}")
    assert wait_execution(client, failed)["status"] == "finished_fail"
    [run] = chained_run(client, on_failure)
    assert run["triggered_by"] == [failed]


def test_all_within_the_window_starts_once_with_both(client: httpx.Client) -> None:
    a, b, c = make_task(client), make_task(client), make_task(client)
    chain = create_chain(
        client,
        {
            "name": "when A and B have both succeeded within 6 hours, start C",
            "when": [{"task": f"label:{a}"}, {"task": f"label:{b}"}],
            "match": "all",
            "window": "6h",
            "start": f"label:{c}",
            "params": {},
        },
    )
    assert chain["window"] == 6 * 3600
    first = start_one(client, f"label:{a}")
    wait_execution(client, first)
    # Half met: the window is open, nothing started.
    opened = ok_json(client.get(f"/api/v1/chains/{chain['id']}"))["open_window"]
    assert opened is not None and list(opened["met"]) == ["0"], opened
    assert executions_of(client, c) == []
    # A again: still one window, A's newest end noted.
    again = start_one(client, f"label:{a}")
    wait_execution(client, again)
    second = start_one(client, f"label:{b}")
    wait_execution(client, second)
    [run] = chained_run(client, c)
    assert run["origin"] == "chain"
    assert run["triggered_by"] == [again, second]
    assert ok_json(client.get(f"/api/v1/chains/{chain['id']}"))["open_window"] is None


def test_an_expired_window_fires_with_what_happened(client: httpx.Client) -> None:
    a, b, c = make_task(client), make_task(client), make_task(client)
    never = make_task(client)
    firing = create_chain(
        client,
        {
            "when": [{"task": f"label:{a}"}, {"task": f"label:{b}"}],
            "match": "all",
            "window": 1,
            "on_expiry": "fire",
            "start": f"label:{c}",
            "params": {},
        },
    )
    dropping = create_chain(
        client,
        {
            "when": [{"task": f"label:{a}"}, {"task": f"label:{never}"}],
            "match": "all",
            "window": "1s",
            "start": f"label:{c}",
        },
    )
    first = start_one(client, f"label:{a}")
    wait_execution(client, first)
    # Only A happened; when the window expires the first rule fires with A alone.
    [run] = chained_run(client, c)
    assert run["chain_id"] == firing["id"]
    assert run["triggered_by"] == [first]
    # The other rule forgets its window, and says so in its firings.
    firings = wait_until(
        lambda: ok_json(client.get(f"/api/v1/chains/{dropping['id']}/firings"))["items"],
        what="the expired window recorded",
    )
    assert [(f["outcome"], f["triggered_by"]) for f in firings] == [("expired", [first])]
    assert "still missing" in firings[0]["message"]
    assert len(executions_of(client, c)) == 1


def test_a_cycle_is_refused_unless_a_rule_sets_max_depth(client: httpx.Client) -> None:
    a, b = make_task(client), make_task(client)
    create_chain(client, {"when": [{"task": f"label:{a}"}], "start": f"label:{b}"})
    body = error_json(
        client.post("/api/v1/chains", json={"when": [{"task": f"label:{b}"}], "start": a}),
        422,
        "invalid",
    )
    assert body["field"] == "start"
    assert f"{a} → {b} → {a}" in body["message"] or f"{b} → {a} → {b}" in body["message"]
    # With max_depth the cycle is allowed, and stops at run time.
    back = create_chain(client, {"when": [{"task": f"label:{b}"}], "start": a, "max_depth": 3})
    origin = start_one(client, f"label:{a}")
    runs_of_b = chained_run(client, b, 2)
    wait_until(
        lambda: len(ok_json(client.get(f"/api/v1/chains/{back['id']}/firings"))["items"]) >= 2,
        what="the back rule's firings",
    )
    firings = ok_json(client.get(f"/api/v1/chains/{back['id']}/firings"))["items"]
    # a(0) → b(1) → a(2) → b(3) → a would be depth 4: refused by max_depth 3.
    assert [f["outcome"] for f in reversed(firings)] == ["started", "depth_limit"]
    runs_of_a = chained_run(client, a, 2)
    assert len(runs_of_a) == 2 and len(runs_of_b) == 2
    assert origin in {r["id"] for r in runs_of_a}


def test_bad_rules_answer_422_naming_the_field(client: httpx.Client) -> None:
    a = make_task(client)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"when": [{"task": "label:no-such-task"}], "start": a}, "when.0.task"),
        ({"when": [{"task": a}], "start": ["label:no-such-task"]}, "start.0"),
        ({"when": [{"task": a}], "start": a, "match": "all", "window": 0}, "window"),
        ({"when": [{"task": a}], "start": a, "match": "all", "window": "-5m"}, "window"),
        ({"when": [{"task": a, "statuses": ["started"]}], "start": a}, "when.0.statuses"),
        ({"when": [{"task": a, "statuses": ["bogus"]}], "start": a}, "when.0.statuses.0"),
        ({"when": [], "start": a}, "when"),
        ({"when": [{"task": a}], "start": a, "params": {"x": "{{ a..b }}"}}, "params"),
    ]
    for rule, field in cases:
        body = error_json(client.post("/api/v1/chains", json=rule), 422, "invalid")
        assert body["field"].removeprefix("body.") == field, (rule, body)
    # A self-cycle is a cycle too.
    body = error_json(
        client.post("/api/v1/chains", json={"when": [{"task": a}], "start": a}), 422, "invalid"
    )
    assert body["field"] == "start" and "cycle" in body["message"]


def test_crud_and_audit(client: httpx.Client) -> None:
    a, b = make_task(client), make_task(client)
    chain_id = unique("rule")
    put = client.put(
        f"/api/v1/chains/{chain_id}", json={"when": [{"task": a}], "start": b, "name": "one"}
    )
    assert ok_json(put, 201)["id"] == chain_id
    replaced = ok_json(
        client.put(
            f"/api/v1/chains/{chain_id}",
            json={"when": [{"task": a}], "start": b, "name": "two", "enabled": False},
        )
    )
    assert replaced["name"] == "two" and replaced["enabled"] is False
    assert chain_id in [c["id"] for c in ok_json(client.get("/api/v1/chains"))["items"]]
    assert client.delete(f"/api/v1/chains/{chain_id}").status_code == 204
    error_json(client.get(f"/api/v1/chains/{chain_id}"), 404, "not_found")
    audit = ok_json(client.get("/api/v1/audit", params={"limit": 1000}))["items"]
    actions = [e["action"] for e in audit if e["target"] == chain_id]
    assert sorted(actions) == ["chain.create", "chain.delete", "chain.update"]
    # A disabled rule fires nothing.
    create_chain(client, {"when": [{"task": a}], "start": b, "enabled": False})
    wait_execution(client, start_one(client, f"label:{a}"))
    assert executions_of(client, b) == []


def test_config_rules_and_kill_9_right_after_the_end(
    start_server: StartServer, tmp_path: Path
) -> None:
    """A's end and B's start are one commit: killed right after it, B runs once after the
    restart. (B's task runs one at a time and a first B holds it, so the chained B is still
    queued when the server dies.)"""
    work = tmp_path / "work"
    work.mkdir()
    tasks = [
        py_task("A", QUICK_CODE, label="a", params=[DIR_PARAM]),
        py_task(
            "B",
            GATE_CODE,
            label="b",
            concurrency={"max_running": 1, "overlap": "queue"},
            params=[DIR_PARAM],
        ),
    ]
    chains = [
        {
            "name": "a then b",
            "when": [{"task": "label:a"}],
            "start": "label:b",
            "params": {"dir": "{{ trigger.params.dir }}"},
        }
    ]
    server: ServerProcess = start_server({"chains": chains}, tasks=tasks)
    params = {"dir": str(work)}
    with server.client() as client:
        [rule] = ok_json(client.get("/api/v1/chains"))["items"]
        assert rule["source"] == "config" and rule["name"] == "a then b"
        blocker = start_one(client, "label:b", params)
        wait_status(client, blocker, "started")
        trigger = start_one(client, "label:a", params)
        assert wait_execution(client, trigger)["status"] == "finished_success"
        chained = wait_until(
            lambda: [e for e in executions_of(client, "b") if e["origin"] == "chain"],
            what="the chained B",
        )
        assert [e["status"] for e in chained] == ["queued"]

    server.kill()
    (work / "release").touch()
    server.restart()

    with server.client() as client:
        [rule] = ok_json(client.get("/api/v1/chains"))["items"]  # the restart kept it
        done = wait_execution(client, chained[0]["id"])
        assert done["status"] == "finished_success", done
        assert done["triggered_by"] == [trigger]
        runs = [e for e in executions_of(client, "b") if e["origin"] == "chain"]
        assert len(runs) == 1
    # The chained B's program ran exactly once (the blocker ran once, before the crash).
    assert (work / "runs").read_text().split() == [blocker, chained[0]["id"]]


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_two_servers_close_each_window_once(
    start_server: StartServer, backend: Backend, tmp_path: Path
) -> None:
    """Two servers on one database: every window is closed (and fires) exactly once, and
    `all` rules completed by ends on either server fire once each."""
    url = backend.new_database(tmp_path)
    assert url is not None
    tasks = [
        py_task(name, QUICK_CODE, label=name, concurrency=ALLOW) for name in ("a", "b", "c", "z")
    ]
    expiring = [
        {
            "name": f"expiring {i}",
            "when": [{"task": "a"}, {"task": "z"}],
            "match": "all",
            "window": "1s",
            "on_expiry": "fire",
            "start": "c",
        }
        for i in range(5)
    ]
    completing = [
        {"name": f"both {i}", "when": [{"task": "a"}, {"task": "b"}], "match": "all", "start": "c"}
        for i in range(5)
    ]
    config = {"database_url": url, "chains": expiring + completing}
    servers = [start_server(config, tasks=tasks) for _ in range(2)]
    with servers[0].client() as first, servers[1].client() as second:
        a = start_one(first, "label:a")
        b = start_one(second, "label:b")
        wait_execution(first, a)
        wait_execution(second, b)
        runs = chained_run(first, "c", 10)
        rules = {r["name"]: r["id"] for r in ok_json(first.get("/api/v1/chains"))["items"]}
        by_rule = sorted((r["chain_id"], tuple(r["triggered_by"])) for r in runs)
        wanted = sorted(
            [(rules[f"expiring {i}"], (a,)) for i in range(5)]
            + [(rules[f"both {i}"], (a, b)) for i in range(5)]
        )
        assert by_rule == wanted
        # Nothing more comes: every window is closed.
        for rule_id in rules.values():
            assert ok_json(second.get(f"/api/v1/chains/{rule_id}"))["open_window"] is None
        assert len(executions_of(second, "c")) == 10


def test_cli(server: ServerProcess, client: httpx.Client, tmp_path: Path) -> None:
    a, b, c = make_task(client), make_task(client), make_task(client)
    rule_id = unique("cli-rule")
    file = tmp_path / "chains.yaml"
    file.write_text(
        f"""\
- id: {rule_id}
  name: when A and B have both succeeded within 6 hours, start C
  when:
    - task: label:{a}
    - task: label:{b}
  match: all
  window: 6h
  start: label:{c}
"""
    )
    made = loads(expect(run_cli(server, "chains", "create", "-f", str(file), "--json"), 0))
    assert [m["id"] for m in made] == [rule_id]
    listed = expect(run_cli(server, "chains", "list"), 0).stdout
    assert rule_id in listed and "within 6h" in listed
    wait_execution(client, start_one(client, f"label:{a}"))
    shown = expect(run_cli(server, "chains", "show", rule_id), 0).stdout
    assert "open window" in shown
    wait_execution(client, start_one(client, f"label:{b}"))
    [run] = chained_run(client, c)
    execution = expect(run_cli(server, "executions", "show", run["id"]), 0).stdout
    assert rule_id in execution and "triggered by" in execution
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"when: [{{task: label:{a}}}]\nstart: label:no-such-task\n")
    refused = expect(run_cli(server, "chains", "create", "-f", str(bad)), 1)
    assert "start.0" in refused.stdout + refused.stderr
    expect(run_cli(server, "chains", "delete", rule_id), 0)
    assert rule_id not in expect(run_cli(server, "chains", "list"), 0).stdout


def test_a_config_rule_naming_no_task_stops_the_start(start_server: StartServer) -> None:
    rule = {"name": "typo", "when": [{"task": "label:no-such-task"}], "start": "label:a"}
    tasks = [py_task("A", QUICK_CODE, label="a")]
    server = start_server({"chains": [rule]}, tasks=tasks, start=False)
    assert server.start_or_exit() is not None
    assert "config chains[0]: when.0.task: 'label:no-such-task'" in server.log_text()
