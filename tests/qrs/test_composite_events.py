"""QRS composite events (task chaining) on the door: created, listed, filtered, updated and
deleted as QRS clients do it (qsAPI's transport, qrs-api-client's models for the bodies), and
really chaining tasks."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
import qsAPI
from qrs_api_client import models

from tests.conftest import ServerProcess, StartServer
from tests.qrs.conftest import QrsClient
from tests.support import (
    QUICK_CODE,
    SEL_A_ID,
    SEL_B_ID,
    SEL_C_ID,
    STANDARD_TASKS,
    create_task,
    list_executions,
    ok_json,
    parse_secret,
    py_task,
    start_one,
    unique,
    wait_execution,
    wait_until,
)

ALLOW = {"max_running": 100, "overlap": "allow"}


def make_task(http: httpx.Client, *, fail: bool = False) -> str:
    """A task of our own (a chain rule is global): its id."""
    label = unique("qce")
    code = QUICK_CODE + ("\nsys.exit(2)\n" if fail else "")
    task = create_task(http, py_task(label, code, label=label, concurrency=ALLOW))
    task_id: str = task["id"]
    return task_id


def ref(task_id: str) -> dict[str, Any]:
    return models.reload_task_condensed(_id=task_id)  # type: ignore[no-any-return]


def event(target: str, rules: list[tuple[str, int]], name: str = "", **time: int) -> Any:
    return models.composite_event(
        name=name,
        enabled=True,
        event_type=1,
        _reload_task=ref(target),
        time_constraint=models.composite_event_time_constraint(**time) if time else None,
        composite_rules=[
            models.composite_event_rule(rule_state=state, _reload_task=ref(task))
            for task, state in rules
        ],
    )


@pytest.fixture
def qsapi(qrs_server: ServerProcess) -> Any:
    return qsAPI.QRS(schema="http", proxy=f"127.0.0.1:{qrs_server.port}")


@pytest.fixture
def http(qrs_server: ServerProcess) -> Any:
    with httpx.Client(base_url=qrs_server.url, timeout=30) as client:
        yield client


def runs_of(http: httpx.Client, task_id: str) -> list[dict[str, Any]]:
    return list_executions(http, task=task_id)


def test_on_success_and_on_failure_triggers(qsapi: Any, http: httpx.Client) -> None:
    a, on_ok, b, on_fail = (
        make_task(http),
        make_task(http),
        make_task(http, fail=True),
        make_task(http),
    )
    created = qsapi.driver.post(
        "/qrs/compositeevent", data=event(on_ok, [(a, 1)], name="after A", minutes=360)
    )
    assert created.status_code == 201
    body = created.json()
    assert body["schemaPath"] == "CompositeEvent" and body["eventType"] == 1
    assert body["reloadTask"]["id"] == on_ok
    assert body["timeConstraint"]["minutes"] == 360
    [rule] = body["compositeRules"]
    assert (rule["ruleState"], rule["reloadTask"]["id"]) == (1, a)
    assert body["operational"]["timesTriggered"] == 0
    failing = qsapi.driver.post("/qrs/compositeevent", data=event(on_fail, [(b, 2)]))
    assert failing.status_code == 201
    # QRS's default window when the event has no time constraint: 360 minutes.
    assert failing.json()["timeConstraint"]["minutes"] == 360

    wait_execution(http, start_one(http, f"id:{a}"))
    wait_execution(http, start_one(http, f"id:{b}"))
    for task_id in (on_ok, on_fail):

        def chained(task_id: str = task_id) -> list[dict[str, Any]]:
            return runs_of(http, task_id)

        [run] = wait_until(chained, what="chained run")
        assert run["origin"] == "chain"
    triggered = qsapi.driver.get(f"/qrs/compositeevent/{body['id']}").json()
    assert triggered["operational"]["timesTriggered"] == 1
    # The native API sees the same rule.
    rule_out = ok_json(http.get(f"/api/v1/chains/{body['id']}"))
    assert rule_out["source"] == "qrs" and rule_out["match"] == "all"


def test_filters_find_the_chains_of_a_task(qsapi: Any, http: httpx.Client) -> None:
    a, b, c = make_task(http), make_task(http), make_task(http)
    both = qsapi.driver.post("/qrs/compositeevent", data=event(c, [(a, 1), (b, 1)])).json()
    after_c = qsapi.driver.post("/qrs/compositeevent", data=event(a, [(b, 2)])).json()
    downstream = qsapi.driver.get(
        "/qrs/compositeevent/full", param={"filter": f"compositeRules.reloadTask.id eq {a}"}
    ).json()
    assert [e["id"] for e in downstream] == [both["id"]]
    upstream = qsapi.driver.get(
        "/qrs/compositeevent/full", param={"filter": f"reloadTask.id eq {a}"}
    ).json()
    assert [e["id"] for e in upstream] == [after_c["id"]]
    condensed = qsapi.driver.get(
        "/qrs/compositeevent", param={"filter": f"reloadTask.id eq {c}"}
    ).json()
    assert condensed == [
        {
            "id": both["id"],
            "privileges": None,
            "name": "",
            "enabled": True,
            "eventType": 1,
        }
    ]
    count = qsapi.driver.get(
        "/qrs/compositeevent/count", param={"filter": f"reloadTask.id eq {c}"}
    ).json()
    assert count == {"value": 1}
    assert qsapi.driver.delete(f"/qrs/compositeevent/{both['id']}").status_code == 204
    gone = qsapi.driver.get(
        "/qrs/compositeevent/full", param={"filter": f"compositeRules.reloadTask.id eq {a}"}
    ).json()
    assert gone == []


def test_put_checks_modified_date(qrs: QrsClient, http: httpx.Client) -> None:
    a, b = make_task(http), make_task(http)
    created = qrs.post("/compositeevent", json=event(b, [(a, 1)], name="one"))
    body = created.json()
    body["name"] = "two"
    body["timeConstraint"] = {"days": 0, "hours": 1, "minutes": 0, "seconds": 0}
    changed = qrs.request("PUT", f"/compositeevent/{body['id']}", json=body)
    assert changed.status_code == 200, changed.text
    assert changed.json()["name"] == "two"
    assert changed.json()["timeConstraint"]["minutes"] == 60
    stale = qrs.request("PUT", f"/compositeevent/{body['id']}", json=body)
    assert stale.status_code == 409
    assert stale.json()["field"] == "modifiedDate"


def test_reloadtask_bundles(qrs: QrsClient, http: httpx.Client) -> None:
    a, b, c = make_task(http), make_task(http), make_task(http)
    bundle = models.reload_task_bundle(
        task={"id": c, "name": "C"},
        composite_events=[
            models.composite_event(
                name="A and B",
                enabled=True,
                event_type=1,
                time_constraint=models.composite_event_time_constraint(minutes=360),
                composite_rules=[
                    models.composite_event_rule(rule_state=1, _reload_task=ref(a)),
                    models.composite_event_rule(rule_state=1, _reload_task=ref(b)),
                ],
            )
        ],
        schema_events=[],
    )
    created = qrs.post("/reloadtask/create", json=bundle)
    assert created.status_code == 201, created.text
    assert created.json()["id"] == c
    [made] = qrs.json("/compositeevent/full", filter=f"reloadTask.id eq {c}")
    assert made["name"] == "A and B"
    assert {r["reloadTask"]["id"] for r in made["compositeRules"]} == {a, b}
    # Both must succeed (within 6 hours) before C starts.
    wait_execution(http, start_one(http, f"id:{a}"))
    assert runs_of(http, c) == []
    wait_execution(http, start_one(http, f"id:{b}"))
    [run] = wait_until(lambda: runs_of(http, c), what="C chained")
    assert run["origin"] == "chain" and len(run["triggered_by"]) == 2
    # update: delete that event, add an "on failure of A" one.
    update = {
        "task": {"id": c},
        "compositeEventsToDelete": [{"id": made["id"]}],
        "compositeEvents": [
            models.composite_event(
                event_type=1,
                composite_rules=[models.composite_event_rule(rule_state=2, _reload_task=ref(a))],
            )
        ],
        "schemaEventsToDelete": [],
        "schemaEvents": [],
    }
    updated = qrs.post("/reloadtask/update", json=update)
    assert updated.status_code == 200, updated.text
    [now] = qrs.json("/compositeevent/full", filter=f"reloadTask.id eq {c}")
    assert now["id"] != made["id"]
    assert [(r["ruleState"], r["reloadTask"]["id"]) for r in now["compositeRules"]] == [(2, a)]


def test_bad_composite_events_are_400_naming_the_field(qrs: QrsClient, http: httpx.Client) -> None:
    a, b = make_task(http), make_task(http)
    unknown = str(uuid.uuid4())
    cases: list[tuple[Any, str]] = [
        (event(b, [(unknown, 1)]), "compositeRules[0].reloadTask.id"),
        (event(unknown, [(a, 1)]), "reloadTask.id"),
        (event(b, [(a, 3)]), "compositeRules[0].ruleState"),
        (event(b, []), "compositeRules"),
        (event(b, [(a, 1)], minutes=0), "timeConstraint"),
        (event(b, [(a, 1)], minutes=-5), "timeConstraint"),
    ]
    for body, field in cases:
        answer = qrs.post("/compositeevent", json=body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["field"] == field, (body, answer.json())
    # A cycle of triggers: refused, naming it.
    assert qrs.post("/compositeevent", json=event(b, [(a, 1)])).status_code == 201
    cycle = qrs.post("/compositeevent", json=event(a, [(b, 1)]))
    assert cycle.status_code == 400 and "cycle" in cycle.json()["message"], cycle.text
    # A reload task taskgate does not know cannot be created over QRS.
    nothing = qrs.post("/reloadtask/create", json={"task": {"name": "x", "app": {"id": a}}})
    assert nothing.status_code == 400 and nothing.json()["field"] == "task.id"
    timed = qrs.post(
        "/reloadtask/update", json={"task": {"id": a}, "schemaEvents": [{"eventType": 0}]}
    )
    assert timed.status_code == 400 and timed.json()["field"] == "schemaEvents"


def test_changing_chain_rules_takes_an_admin_key(start_server: StartServer) -> None:
    """On the native API and on the QRS door alike: a viewer reads, an operator (who may
    start tasks) may not change chain rules, an admin may."""
    server = start_server({"auth": "keys", "qrs": {"enabled": True}}, tasks=STANDARD_TASKS)
    admin = (Path(server.config["data_dir"]) / "admin.key").read_text().strip()
    keys = {
        role: parse_secret(server.cli("keys", "create", "--name", unique(role), "--role", role))
        for role in ("viewer", "operator")
    }
    keys["admin"] = admin
    body = event(SEL_B_ID, [(SEL_A_ID, 1)])
    rule = {"when": [{"task": SEL_A_ID}], "start": SEL_C_ID}
    with httpx.Client(base_url=server.url, timeout=30) as http:
        qrs = QrsClient(http)

        def as_(role: str) -> dict[str, str]:
            return {"X-API-Key": keys[role]}

        for role in ("viewer", "operator"):
            assert qrs.post("/compositeevent", json=body, headers=as_(role)).status_code == 403
            refused = http.post("/api/v1/chains", json=rule, headers=bearer(keys[role]))
            assert refused.status_code == 403, refused.text
        made = qrs.post("/compositeevent", json=body, headers=as_("admin"))
        assert made.status_code == 201, made.text
        path = f"/compositeevent/{made.json()['id']}"
        assert qrs.get(path, headers=as_("viewer")).status_code == 200
        assert qrs.request("DELETE", path, headers=as_("operator")).status_code == 403
        created = http.post("/api/v1/chains", json=rule, headers=bearer(admin))
        assert created.status_code == 201, created.text
        listed = http.get("/api/v1/chains", headers=bearer(keys["viewer"]))
        assert len(listed.json()["items"]) == 2


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
