"""The dashboard tests' fixtures: the browser (tests/web/browser.py)."""

from tests.web.browser import browser, page

__all__ = ["browser", "page"]
