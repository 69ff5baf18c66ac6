"""The dashboard for every viewer, in a real browser: the landing page and the login from the
keyboard alone, pages that fit a phone, the dark theme from the system setting, times in the
viewer's zone with UTC on hover (the executions filter reads them in that zone too), and a
schedule's fires in its own zone and the viewer's, with the preview of N fires."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.conftest import ServerFactory, ServerProcess
from tests.support import ALLOW, QUICK_CODE, STANDARD_TASKS, ok_json, py_task
from tests.web.browser import WAIT_MS, log_in
from tests.web.support import KEYS, admin_key

TASKS: list[dict[str, Any]] = [
    *STANDARD_TASKS,
    py_task("Zoned", QUICK_CODE, label="zoned", concurrency=ALLOW),
]
UTC_TITLE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")


@pytest.fixture(scope="module")
def site(_module_servers: ServerFactory) -> ServerProcess:
    return _module_servers(KEYS, tasks=TASKS)


@pytest.fixture(scope="module")
def made(site: ServerProcess) -> dict[str, Any]:
    """A finished run of Zoned and a schedule in Tokyo, six in the morning."""
    with site.client(headers={"Authorization": f"Bearer {admin_key(site)}"}) as api:
        started = ok_json(api.post("/api/v1/tasks/zoned/start", json={"wait": 30}))
        run = ok_json(api.get(f"/api/v1/executions/{started['executions'][0]['id']}"))
        schedule = ok_json(
            api.post(
                "/api/v1/schedules",
                json={
                    "task": "quick",
                    "name": "tokyo-morning",
                    "cron": "0 6 * * *",
                    "timezone": "Asia/Tokyo",
                },
            ),
            201,
        )
    return {"run": run, "schedule": schedule}


def context_page(browser: Browser, **options: Any) -> Iterator[Page]:
    context: BrowserContext = browser.new_context(
        **{"viewport": {"width": 1280, "height": 900}, **options}
    )
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


@pytest.fixture
def new_york(browser: Browser) -> Iterator[Page]:
    yield from context_page(browser, timezone_id="America/New_York", locale="en-GB")


def focused(page: Page) -> str:
    return str(
        page.evaluate("document.activeElement.id || document.activeElement.textContent.trim()")
    )


def test_the_landing_page_and_the_login_work_from_the_keyboard(
    site: ServerProcess, page: Page
) -> None:
    page.goto(f"{site.url}/")
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    page.keyboard.press("Tab")
    assert focused(page) == "Skip to content"
    # The focus is always visible.
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("", "none")
    for _ in range(10):
        if focused(page) == "Log in":
            break
        page.keyboard.press("Tab")
    assert focused(page) == "Log in"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/ui/login*")
    assert focused(page) == "key"  # the key field has the focus at once
    page.keyboard.type(admin_key(site))
    page.keyboard.press("Enter")
    page.wait_for_url(f"{site.url}/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    page.keyboard.press("Tab")
    assert focused(page) == "Skip to content"
    page.keyboard.press("Enter")
    assert focused(page) == "main"


PHONE_PAGES = [
    "/",
    "/ui/tasks",
    "/ui/tasks/quick",
    "/ui/executions",
    "/ui/executions/{run}",
    "/ui/schedules",
    "/ui/schedules/{schedule}",
    "/ui/kv",
    "/ui/keys",
    "/ui/audit",
    "/ui/webhooks",
]


def test_every_page_fits_a_phone(
    site: ServerProcess, made: dict[str, Any], browser: Browser
) -> None:
    for page in context_page(browser, viewport={"width": 360, "height": 740}, is_mobile=True):
        log_in(page, site.url, admin_key(site))
        for path in PHONE_PAGES:
            page.goto(
                site.url + path.format(run=made["run"]["id"], schedule=made["schedule"]["id"])
            )
            expect(page.locator("h1")).to_be_visible()
            wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert wide <= 0, f"{path} is {wide}px wider than the phone"


def test_the_dark_theme_follows_the_system(site: ServerProcess, browser: Browser) -> None:
    backgrounds = {}
    for scheme in ("light", "dark"):
        for page in context_page(browser, color_scheme=scheme):
            page.goto(f"{site.url}/")
            backgrounds[scheme] = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert backgrounds == {"light": "rgb(247, 248, 250)", "dark": "rgb(15, 20, 26)"}


def test_times_show_in_the_viewers_zone_with_utc_on_hover(
    site: ServerProcess, made: dict[str, Any], browser: Browser
) -> None:
    for page in context_page(browser, timezone_id="Asia/Tokyo", locale="en-GB"):
        log_in(page, site.url, admin_key(site))
        run = made["run"]
        page.goto(f"{site.url}/ui/executions/{run['id']}")
        created = page.locator("#facts time").first
        expect(created).to_have_attribute("data-local", "1")
        expect(created).to_have_attribute("title", UTC_TITLE)
        at = datetime.fromisoformat(run["created_at"]).astimezone(ZoneInfo("Asia/Tokyo"))
        expect(created).to_have_text(f"{at:%d/%m/%Y, %H:%M:%S}")


def test_the_executions_filter_reads_times_in_the_viewers_zone(
    site: ServerProcess, made: dict[str, Any], new_york: Page
) -> None:
    page = new_york
    log_in(page, site.url, admin_key(site))
    page.goto(f"{site.url}/ui/executions?task=zoned")
    expect(page.get_by_label("Until (America/New_York)")).to_be_visible()
    created = datetime.fromisoformat(made["run"]["created_at"]).astimezone(
        ZoneInfo("America/New_York")
    )
    rows = page.locator("tbody tr")
    for minutes, shown in ((2, 1), (-2, 0)):
        moment = (created + timedelta(minutes=minutes)).replace(second=0, microsecond=0)
        page.get_by_label("Until (America/New_York)").fill(f"{moment:%Y-%m-%dT%H:%M}")
        page.get_by_role("button", name="Filter").click()
        page.wait_for_url(re.compile(r".*until=.*"))
        if shown:
            expect(rows.get_by_role("link", name="Zoned")).to_have_count(1)
        else:
            expect(rows).to_contain_text("No executions match")
    assert "zone=America%2FNew_York" in page.url


def test_a_schedules_fires_show_in_its_zone_and_the_viewers(
    site: ServerProcess, made: dict[str, Any], new_york: Page
) -> None:
    page = new_york
    log_in(page, site.url, admin_key(site))
    page.goto(f"{site.url}/ui/schedules/{made['schedule']['id']}")
    fires = page.locator('section[aria-labelledby="next-h"] tbody tr')
    expect(fires).to_have_count(10)
    first = fires.first.locator("td")
    expect(first.nth(0)).to_contain_text("T06:00:00+09:00")
    # 06:00 in Tokyo is 16:00 the day before in New York (EST, December) or 17:00 (EDT).
    expect(first.nth(1)).to_have_text(re.compile(r", 1[67]:00:00$"))
    expect(page.get_by_role("columnheader", name="In yours (America/New_York)")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text("06:00:00 Asia/Tokyo")
    # The schedules list shows the next fire in both zones too.
    page.goto(f"{site.url}/ui/schedules")
    expect(page.locator("tbody")).to_contain_text("06:00:00 Asia/Tokyo")
    # The preview of the next N fires of a spec typed into the form.
    page.get_by_label("Cron (cron)").fill("*/5 * * * *")
    page.get_by_label("Fires").fill("3")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#spec-fires tbody tr")).to_have_count(3)
    # The browser keeps the count in 1-100; the server says so to anyone who does not.
    csrf = page.locator('input[name="csrf_token"]').first.get_attribute("value") or ""
    refused = page.request.post(
        f"{site.url}/ui/schedules/preview",
        form={"kind": "cron", "cron": "* * * * *", "count": "0", "csrf_token": csrf},
    )
    assert refused.ok and "count: 1 to 100" in refused.text()


def test_a_key_value_entry_shows_its_time_left_and_is_edited_in_place(
    site: ServerProcess, page: Page
) -> None:
    with site.client(headers={"Authorization": f"Bearer {admin_key(site)}"}) as api:
        api.put("/api/v1/kv/edit-ns/greeting", json={"value": "hello", "ttl_ms": 3_600_000})
    log_in(page, site.url, admin_key(site))
    page.goto(f"{site.url}/ui/kv/edit-ns")
    row = page.locator("tbody tr").filter(has_text="greeting")
    expect(row).to_contain_text(re.compile(r"in 5\d min \d+ s"))
    row.get_by_role("link", name="Edit greeting").click()
    expect(page.get_by_label("Key", exact=True)).to_have_value("greeting")
    expect(page.get_by_label("Value", exact=True)).to_have_value("hello")
    ttl = int(page.get_by_label("Time to live, seconds (blank: forever)").input_value())
    assert 3500 < ttl <= 3600
    page.get_by_label("Value", exact=True).fill("hello again")
    page.get_by_role("button", name="Save").click()
    expect(row).to_contain_text("hello again")
    # The entry keeps (about) the time it had left.
    expect(row).to_contain_text(re.compile(r"in 5\d min \d+ s"))
