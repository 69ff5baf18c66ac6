"""The dashboard's pages of runs that belong together, in a real browser: a workflow's graph
of phases and its timeline, following its members live; what triggered a chained run; a
task's chain rules and its learned duration band; runs filtered by who started them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ServerProcess, StartServer
from tests.support import PRELUDE, QUICK_CODE, py_task
from tests.web.browser import log_in
from tests.web.support import KEYS, admin_key, make_key

# Waits for dir/release, then ends.
GATED_CODE = (
    PRELUDE
    + """\
print('gated waiting', flush=True)
while not os.path.exists(os.path.join(D, 'release')):
    time.sleep(0.05)
"""
)
DIR = {"name": "dir", "type": "string", "required": True}
ALLOW = {"max_running": 10, "overlap": "allow"}
TASKS: list[dict[str, Any]] = [
    py_task("First step", QUICK_CODE, label="first", concurrency=ALLOW),
    py_task("Gated step", GATED_CODE, label="gated", params=[DIR], concurrency=ALLOW),
    {
        "name": "Two phase flow",
        "label": "flow",
        "params": [DIR],
        "action": {
            "kind": "workflow",
            "phases": [["first"], {"name": "wait_here", "members": ["gated", "first"]}],
        },
    },
    py_task(
        "Learner",
        QUICK_CODE,
        label="learner",
        concurrency=ALLOW,
        checks={"expected_duration": {"min_runs": 3, "window": 10}},
    ),
    py_task("After first", QUICK_CODE, label="after", concurrency=ALLOW),
    py_task(
        "Too quick",
        QUICK_CODE,
        label="tooquick",
        concurrency=ALLOW,
        checks={"min_duration": 60},
    ),
    py_task(
        "Warned",
        QUICK_CODE,
        label="warned",
        concurrency=ALLOW,
        checks={"min_duration": {"seconds": 60, "on_violation": "warn"}},
    ),
]
CHAINS: list[dict[str, Any]] = [
    {
        "id": "first-then-after",
        "name": "First, then After",
        "when": [{"task": "label:first"}],
        "start": "label:after",
    }
]


@pytest.fixture
def keyed(start_server: StartServer) -> ServerProcess:
    return start_server({**KEYS, "chains": CHAINS}, tasks=TASKS)


def api_start(server: ServerProcess, ref: str, params: dict[str, Any], key: str = "") -> str:
    headers = {"Authorization": f"Bearer {key or admin_key(server)}"}
    with server.client(headers=headers) as api:
        answer = api.post(f"/api/v1/tasks/{ref}/start", json={"params": params})
        assert answer.status_code == 200, answer.text
        execution_id: str = answer.json()["executions"][0]["id"]
        return execution_id


def api_wait(server: ServerProcess, execution_id: str) -> dict[str, Any]:
    with server.client(headers={"Authorization": f"Bearer {admin_key(server)}"}) as api:
        answer = api.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 60})
        done: dict[str, Any] = answer.json()
        assert not done["timed_out"], done
        return done


def test_a_workflows_graph_shows_its_phases_live(
    keyed: ServerProcess, page: Page, tmp_path: Path
) -> None:
    flow = api_start(keyed, "flow", {"dir": str(tmp_path)})
    log_in(page, keyed.url, admin_key(keyed))
    page.goto(f"{keyed.url}/ui/executions/{flow}")
    page.evaluate("window.__notReloaded = true")
    graph = page.locator("#workflow-graph")
    phases = graph.locator("li.phase")
    expect(phases).to_have_count(2)
    expect(phases.nth(0)).to_contain_text("Phase 1")
    expect(phases.nth(1)).to_contain_text("Phase 2: wait_here")
    expect(phases.nth(0)).to_have_attribute("data-status", "finished")
    expect(phases.nth(1)).to_have_attribute("data-status", "running")
    gated = phases.nth(1).locator('[data-member="gated"]')
    expect(gated).to_have_attribute("data-status", "started")
    expect(gated.get_by_role("link", name="Gated step")).to_be_visible()
    gantt = page.locator("#workflow-gantt")
    expect(gantt.locator("rect.bar")).to_have_count(3)
    expect(gantt.locator("rect.bar.running")).to_have_count(1)
    (tmp_path / "release").write_text("go")
    expect(phases.nth(1)).to_have_attribute("data-status", "finished")
    expect(page.locator("#status")).to_have_attribute("data-status", "finished_success")
    expect(gantt.locator("rect.bar.running")).to_have_count(0)
    expect(page.locator("[data-event-log]")).to_contain_text("Gated step: finished success")
    assert page.evaluate("window.__notReloaded === true")
    # A member's page leads back to its workflow.
    gantt.get_by_role("link", name="gated").click()
    back = page.get_by_role("link", name="the workflow run")
    expect(back).to_have_attribute("href", f"/ui/executions/{flow}")
    # Followed by its address: a click can land while the panel is swapped in again (the
    # stream's `connected`), and under load that swallowed it once in CI.
    page.goto(f"{keyed.url}{back.get_attribute('href')}")
    expect(page.locator("#workflow-graph li.phase")).to_have_count(2)


def test_a_chained_run_shows_what_triggered_it(keyed: ServerProcess, page: Page) -> None:
    first = api_start(keyed, "first", {})
    api_wait(keyed, first)
    with keyed.client(headers={"Authorization": f"Bearer {admin_key(keyed)}"}) as api:
        chained = api.get("/api/v1/executions", params={"caller": "chain:first-then-after"}).json()[
            "items"
        ]
    assert len(chained) == 1
    log_in(page, keyed.url, admin_key(keyed))
    page.goto(f"{keyed.url}/ui/executions/{chained[0]['id']}")
    expect(page.locator("#chained-by")).to_contain_text("First, then After")
    page.locator("#triggered-by").get_by_role("link", name="First step").click()
    page.wait_for_url(f"{keyed.url}/ui/executions/{first}")
    # The rule, on the pages of both tasks it names.
    page.goto(f"{keyed.url}/ui/tasks/after")
    rules = page.locator("#chain-rules")
    expect(rules.get_by_role("rowgroup", name="Rules that start this task")).to_contain_text(
        "first-then-after"
    )
    page.goto(f"{keyed.url}/ui/tasks/first")
    fired = page.locator("#chain-rules").get_by_role("rowgroup", name="Rules this task's ends fire")
    expect(fired).to_contain_text("label:after")
    fired.get_by_role("link", name="runs it started").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(page.locator("tbody")).to_contain_text("After first")


def test_a_tasks_page_shows_its_learned_duration_band(keyed: ServerProcess, page: Page) -> None:
    log_in(page, keyed.url, admin_key(keyed))
    page.goto(f"{keyed.url}/ui/tasks/learner")
    expect(page.locator("#learned-band")).to_contain_text("0 of 3 successful runs")
    for _ in range(3):
        api_wait(keyed, api_start(keyed, "learner", {}))
    page.goto(f"{keyed.url}/ui/tasks/learner")
    band = page.locator("#learned-band")
    expect(band).to_contain_text("Learned duration band")
    expect(band).to_contain_text("from the last 3 successful runs")
    # The chart draws the band's two ends beside the durations.
    expect(page.locator(".chart .u-legend")).to_contain_text("band high")


def test_the_executions_list_filters_by_who_started_them(keyed: ServerProcess, page: Page) -> None:
    ops = make_key(keyed, "operator", name="nightly-ops")
    mine = api_start(keyed, "first", {}, key=ops)
    api_start(keyed, "first", {})
    log_in(page, keyed.url, admin_key(keyed))
    page.goto(f"{keyed.url}/ui/executions")
    page.get_by_label("Started by").fill("key:nightly-ops")
    page.get_by_role("button", name="Filter").click()
    rows = page.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.get_by_role("link").first).to_have_attribute("href", f"/ui/executions/{mine}")
    # The By column links to the same filter.
    page.goto(f"{keyed.url}/ui/executions")
    page.get_by_role("link", name="key:admin", exact=True).click()
    expect(rows).to_have_count(1)
    expect(page.get_by_label("Started by")).to_have_value("key:admin")


def test_the_overview_shows_check_violations(keyed: ServerProcess, page: Page) -> None:
    log_in(page, keyed.url, admin_key(keyed))
    expect(page.locator("#violations")).to_contain_text("None.")
    failed = api_wait(keyed, api_start(keyed, "tooquick", {}))
    warned = api_wait(keyed, api_start(keyed, "warned", {}))
    assert failed["status"] == "finished_fail" and warned["status"] == "finished_success"
    # Runs that broke no check (their warnings stored empty) stay out.
    api_wait(keyed, api_start(keyed, "first", {}))
    page.reload()
    rows = page.locator("#violations tbody tr")
    expect(rows).to_have_count(2)
    fail_row = rows.filter(has_text="Too quick")
    expect(fail_row).to_contain_text("check failed: ran")
    expect(fail_row.get_by_role("link")).to_have_attribute("href", f"/ui/executions/{failed['id']}")
    warn_row = rows.filter(has_text="Warned")
    expect(warn_row).to_contain_text("min_duration (warn)")
    expect(warn_row.get_by_role("link")).to_have_attribute("href", f"/ui/executions/{warned['id']}")
