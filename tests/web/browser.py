"""A real browser for the dashboard tests: Debian's chromium driven by Playwright.

Playwright's own browser download cannot be fetched here, so the tests launch the system
binary. Without it they skip with the reason, unless TASKGATE_REQUIRE_SERVICES=1 (CI, where
.ci/run installs it): then a missing browser fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import missing_service

CHROMIUM = Path(os.environ.get("TASKGATE_TEST_CHROMIUM", "/usr/bin/chromium"))
# Generous: a page's scripts (Swagger UI's 1.7 MB) parse slowly on a busy machine. Playwright
# waits only as long as needed.
WAIT_MS = 45_000
expect.set_options(timeout=WAIT_MS)


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and tests of other modules that run on the same worker call asyncio.run().
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        missing_service(
            f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run installs it)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    yield page
    context.close()


def log_in(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/ui/login")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base_url}/")
