"""The dashboard in a real browser (chromium): log in, start with parameters and watch the
status change without reloading, follow a log live, abort, the viewer's view, CSRF, and
/docs rendering its operations offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, Request, expect

from tests.conftest import ServerProcess, StartServer
from tests.support import PRELUDE, STANDARD_TASKS, py_task
from tests.web.browser import log_in
from tests.web.support import KEYS, admin_key, make_key

# Prints a line, waits for dir/release, prints another.
TWO_PART_CODE = (
    PRELUDE
    + """\
print('first part', flush=True)
while not os.path.exists(os.path.join(D, 'release')):
    time.sleep(0.05)
print('second part', flush=True)
"""
)
TASKS: list[dict[str, Any]] = [
    *STANDARD_TASKS,
    py_task(
        "Two parts",
        TWO_PART_CODE,
        label="twoparts",
        params=[{"name": "dir", "type": "string", "required": True}],
    ),
]


@pytest.fixture
def keyed(start_server: StartServer) -> ServerProcess:
    return start_server(KEYS, tasks=TASKS)


def start_with_api(server: ServerProcess, ref: str, params: dict[str, Any]) -> str:
    headers = {"Authorization": f"Bearer {admin_key(server)}"}
    with server.client(headers=headers) as api:
        answer = api.post(f"/api/v1/tasks/{ref}/start", json={"params": params})
        assert answer.status_code == 200, answer.text
        execution_id: str = answer.json()["executions"][0]["id"]
        return execution_id


def stays_on_page(page: Page) -> None:
    """Marks the page: if it were reloaded, the mark would be gone."""
    page.evaluate("window.__notReloaded = true")


def was_not_reloaded(page: Page) -> bool:
    return bool(page.evaluate("window.__notReloaded === true"))


def test_log_in_start_with_parameters_and_see_it_finish(keyed: ServerProcess, page: Page) -> None:
    log_in(page, keyed.url, admin_key(keyed))
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.goto(f"{keyed.url}/ui/tasks/typed")
    page.get_by_label("count").fill("7")
    page.get_by_label("title").fill("from the browser")
    expect(page.locator("#start-preview")).to_contain_text('"count": 7')
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{keyed.url}/ui/executions/*")
    stays_on_page(page)
    expect(page.locator("#status")).to_have_attribute("data-status", "finished_success")
    expect(page.locator("#result")).to_contain_text('"title": "from the browser"')
    expect(page.locator("#log")).to_contain_text("quick done")
    assert was_not_reloaded(page)


def test_follow_a_running_command_log_live(
    keyed: ServerProcess, page: Page, tmp_path: Path
) -> None:
    execution_id = start_with_api(keyed, "twoparts", {"dir": str(tmp_path)})
    log_in(page, keyed.url, admin_key(keyed))
    page.goto(f"{keyed.url}/ui/executions/{execution_id}")
    stays_on_page(page)
    expect(page.locator("#log")).to_contain_text("first part")
    expect(page.locator("#status")).to_have_attribute("data-status", "started")
    (tmp_path / "release").write_text("go")
    expect(page.locator("#log")).to_contain_text("second part")
    expect(page.locator("#status")).to_have_attribute("data-status", "finished_success")
    expect(page.locator("[data-event-log]")).to_contain_text("finished success")
    assert was_not_reloaded(page)


def test_abort_a_long_run(keyed: ServerProcess, page: Page) -> None:
    execution_id = start_with_api(keyed, "slow", {})
    log_in(page, keyed.url, admin_key(keyed))
    page.goto(f"{keyed.url}/ui/executions/{execution_id}")
    expect(page.locator("#log")).to_contain_text("slow started")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Abort").click()
    expect(page.locator("#status")).to_have_attribute("data-status", "aborted")
    expect(page.get_by_role("button", name="Abort")).to_have_count(0)


def test_a_viewer_sees_no_buttons_and_a_forged_post_is_refused(
    keyed: ServerProcess, page: Page
) -> None:
    execution_id = start_with_api(keyed, "slow", {})
    try:
        log_in(page, keyed.url, make_key(keyed, "viewer"))
        page.goto(f"{keyed.url}/ui/executions/{execution_id}")
        expect(page.locator("#status")).to_have_attribute("data-status", "started")
        expect(page.get_by_role("button", name="Abort")).to_have_count(0)
        expect(page.get_by_role("button", name="Run again")).to_have_count(0)
        page.goto(f"{keyed.url}/ui/tasks/quick")
        expect(page.get_by_role("button", name="Start")).to_have_count(0)
        csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value")
        forged = page.request.post(
            f"{keyed.url}/ui/executions/{execution_id}/abort", form={"csrf_token": csrf or ""}
        )
        assert forged.status == 403 and "needs operator" in forged.text()
    finally:
        with keyed.client(headers={"Authorization": f"Bearer {admin_key(keyed)}"}) as api:
            api.post(f"/api/v1/executions/{execution_id}/abort")


def test_a_post_without_the_csrf_token_is_refused(keyed: ServerProcess, page: Page) -> None:
    log_in(page, keyed.url, admin_key(keyed))
    refused = page.request.post(f"{keyed.url}/ui/tasks/quick/start", form={"param.region": "x"})
    assert refused.status == 403 and "CSRF" in refused.text()


@pytest.mark.timeout(300)
def test_docs_render_the_operations_offline(keyed: ServerProcess, page: Page) -> None:
    outside: list[str] = []

    def record(request: Request) -> None:
        if not request.url.startswith((keyed.url, "data:", "blob:")):
            outside.append(request.url)

    page.on("request", record)
    # Anything not served by taskgate fails at once: the machine may well be offline.
    page.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(keyed.url) else route.abort()
        ),
    )
    page.goto(f"{keyed.url}/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    expect(page.get_by_text("/api/v1/tasks/{ref}/start").first).to_be_visible()
    page.goto(f"{keyed.url}/redoc")
    expect(page.get_by_text("/api/v1/executions/{execution_id}/abort").first).to_be_attached()
    assert outside == []


def test_the_overview_shows_a_run_start_and_end_without_reloading(
    keyed: ServerProcess, page: Page
) -> None:
    log_in(page, keyed.url, admin_key(keyed))
    stays_on_page(page)
    running = page.locator("#live")
    expect(running).to_contain_text("Nothing runs.")
    execution_id = start_with_api(keyed, "slow", {})
    expect(running.get_by_role("link", name="Slow task")).to_be_visible()
    with keyed.client(headers={"Authorization": f"Bearer {admin_key(keyed)}"}) as api:
        api.post(f"/api/v1/executions/{execution_id}/abort")
    expect(running).to_contain_text("Nothing runs.")
    assert was_not_reloaded(page)
