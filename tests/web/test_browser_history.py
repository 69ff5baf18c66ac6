"""In a real browser: an execution's page shows its whole history (a run that failed, was
retried and succeeded) and adds the events that follow live; the webhook deliveries page
redelivers a failed delivery, which a viewer or an operator cannot do."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.conftest import ServerProcess, StartServer
from tests.integration.test_webhooks import Receiver
from tests.support import PRELUDE, QUICK_CODE, ok_json, py_task, wait_until
from tests.web.browser import log_in
from tests.web.support import KEYS, admin_key, login, make_key

# Its first run fails; its second waits for dir/release, then succeeds.
FAIL_THEN_GATED_CODE = (
    PRELUDE
    + """\
path = os.path.join(D, 'count')
n = int(open(path).read()) + 1 if os.path.exists(path) else 1
write(path, str(n))
print(f'run {n}', flush=True)
if n == 1:
    sys.exit(1)
while not os.path.exists(os.path.join(D, 'release')):
    time.sleep(0.05)
"""
)
UTC_TITLE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
TASKS: list[dict[str, Any]] = [
    py_task(
        "Second time lucky",
        FAIL_THEN_GATED_CODE,
        label="lucky",
        params=[{"name": "dir", "type": "string", "required": True}],
        retries={"count": 1, "delay": 0},
    ),
    py_task("Hooked", QUICK_CODE, label="hooked"),
]


@pytest.fixture
def keyed(start_server: StartServer) -> ServerProcess:
    # One attempt per delivery: a receiver's error fails it at once, for the redeliver button.
    return start_server({**KEYS, "webhook_delivery": {"max_attempts": 1}}, tasks=TASKS)


def admin_api(server: ServerProcess) -> httpx.Client:
    return server.client(headers={"Authorization": f"Bearer {admin_key(server)}"})


def history_items(page: Page) -> list[tuple[str, str, str]]:
    items = page.locator("#events li")
    return [
        (
            items.nth(i).get_attribute("data-kind") or "",
            items.nth(i).get_attribute("data-status") or "",
            items.nth(i).get_attribute("data-attempt") or "",
        )
        for i in range(items.count())
    ]


def test_a_retried_run_shows_its_whole_history_live_and_after_a_reload(
    keyed: ServerProcess, page: Page, tmp_path: Path
) -> None:
    with admin_api(keyed) as api:
        answer = ok_json(
            api.post("/api/v1/tasks/lucky/start", json={"params": {"dir": str(tmp_path)}})
        )
        execution_id = answer["executions"][0]["id"]
        wait_until(
            lambda: ok_json(api.get(f"/api/v1/executions/{execution_id}"))["attempt_count"] == 2,
            what="the second attempt",
        )
    log_in(page, keyed.url, admin_key(keyed))
    page.goto(f"{keyed.url}/ui/executions/{execution_id}")
    page.evaluate("window.__notReloaded = true")
    events = page.locator("#events")
    expect(events.locator("li")).to_have_count(4)
    assert history_items(page) == [
        ("status", "queued", "0"),
        ("status", "started", "1"),
        ("status", "retry", "1"),
        ("status", "started", "2"),
    ]
    expect(events.locator('li[data-status="retry"]')).to_contain_text("exit code 1")
    expect(events.locator('li[data-status="retry"]')).to_contain_text("retry 1 of 1")
    expect(events.locator("li").first).to_contain_text("by key:admin via api")
    # The end arrives over the stream, without a reload.
    (tmp_path / "release").write_text("go")
    expect(events.locator('li[data-status="finished_success"]')).to_have_count(1)
    assert page.evaluate("window.__notReloaded === true")
    live = history_items(page)
    page.reload()
    expect(events.locator('li[data-status="finished_success"]')).to_have_count(1)
    assert (
        history_items(page)
        == live
        == [
            ("status", "queued", "0"),
            ("status", "started", "1"),
            ("status", "retry", "1"),
            ("status", "started", "2"),
            ("status", "finished_success", "2"),
        ]
    )
    # Times in the viewer's zone, UTC on hover.
    first_time = events.locator("time").first
    expect(first_time).to_have_attribute("title", UTC_TITLE)
    expect(first_time).to_have_attribute("data-local", "1")


def _delivery(api: httpx.Client, webhook_id: str) -> dict[str, Any] | None:
    """The webhook's one delivery; None while there is none yet."""
    items = ok_json(api.get(f"/api/v1/webhooks/{webhook_id}/deliveries"))["items"]
    assert len(items) <= 1, items
    return items[0] if items else None


def _in_state(api: httpx.Client, webhook_id: str, state: str) -> dict[str, Any] | None:
    delivery = _delivery(api, webhook_id)
    return delivery if delivery is not None and delivery["state"] == state else None


def failed_delivery(keyed: ServerProcess, receiver: Receiver) -> tuple[str, dict[str, Any]]:
    """A webhook on Hooked's end, and its one delivery, failed (the receiver said 500)."""
    with admin_api(keyed) as api:
        hook = ok_json(
            api.post(
                "/api/v1/webhooks",
                json={
                    "url": receiver.url,
                    "secret": "a-secret-of-some-length",
                    "tasks": ["hooked"],
                    "statuses": ["finished_success"],
                },
            ),
            201,
        )
        ok_json(api.post("/api/v1/tasks/hooked/start", json={}))
        failed = wait_until(
            lambda: _in_state(api, hook["id"], "failed"), what="the delivery given up"
        )
    return hook["id"], failed


def test_redeliver_sends_a_failed_delivery_again(keyed: ServerProcess, page: Page) -> None:
    receiver = Receiver(codes=(500,))
    try:
        webhook_id, failed = failed_delivery(keyed, receiver)
        assert failed["last_status_code"] == 500
        log_in(page, keyed.url, admin_key(keyed))
        page.goto(f"{keyed.url}/ui/webhooks?webhook={webhook_id}")
        row = page.locator("tbody tr").filter(has=page.get_by_role("button", name="Redeliver"))
        expect(row).to_have_count(1)
        expect(row).to_contain_text("failed")
        expect(row).to_contain_text("500")
        page.get_by_role("button", name=f"Redeliver {failed['id']}").click()
        page.wait_for_url(f"{keyed.url}/ui/webhooks?webhook={webhook_id}")
        with admin_api(keyed) as api:
            wait_until(
                lambda: _in_state(api, webhook_id, "delivered"), what="the redelivery delivered"
            )
        page.reload()
        expect(row).to_contain_text("delivered")
        expect(row).to_contain_text("200")
        # The receiver saw the first attempt and the redelivery, both of the same delivery.
        first, again = receiver.next(), receiver.next()
        assert (
            first[0]["x-taskgate-delivery"] == again[0]["x-taskgate-delivery"] == str(failed["id"])
        )
        # The run's history shows its delivery as delivered too.
        page.get_by_role("link", name="run", exact=True).click()
        expect(page.locator('#events li[data-kind="webhook"]')).to_contain_text("delivered")
    finally:
        receiver.close()


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_an_admin_may_redeliver(keyed: ServerProcess, role: str) -> None:
    receiver = Receiver(codes=(500,))
    try:
        webhook_id, failed = failed_delivery(keyed, receiver)
        with keyed.client() as http:
            csrf = login(http, make_key(keyed, role))
            page = http.get(f"/ui/webhooks?webhook={webhook_id}")
            assert page.status_code == 403 and "needs admin" in page.text
            forged = http.post(
                f"/ui/webhooks/{webhook_id}/deliveries/{failed['id']}/redeliver",
                data={"csrf_token": csrf},
            )
            assert forged.status_code == 403 and "needs admin" in forged.text
        with admin_api(keyed) as api:
            assert _delivery(api, webhook_id) == failed  # untouched: still failed, 1 attempt
    finally:
        receiver.close()
