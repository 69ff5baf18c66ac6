"""Every page loads its scripts, styles and fonts from this server: the vendored files are
what VENDORED.json says, and no page or stylesheet names a URL outside the server."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest

import taskgate.doors.web.assets as assets
from tests.conftest import ServerProcess, StartServer
from tests.web.pagecheck import css_urls, leaves_server, page_urls

VENDOR = assets.STATIC_DIR / "vendor"
OPEN_PAGES = ["/docs", "/redoc", "/", "/ui/login"]


def test_vendored_files_match_their_manifest() -> None:
    manifest = json.loads((VENDOR / "VENDORED.json").read_text())
    assert {r["package"] for r in manifest["files"]} >= {
        "htmx.org",
        "htmx-ext-sse",
        "uplot",
        "swagger-ui-dist",
        "redoc",
    }
    for record in manifest["files"]:
        data = (VENDOR / record["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == record["sha256"], record["file"]
        assert record["version"] and record["licence"], record


def test_the_checker_sees_outside_urls() -> None:
    html = '<script src="https://cdn.example/x.js"></script><link href="//fonts.example/a">'
    assert [u for u in page_urls(html) if leaves_server(u)] == [
        "https://cdn.example/x.js",
        "//fonts.example/a",
    ]
    assert not leaves_server("/ui/static/a.js") and not leaves_server("data:image/png;base64,")
    assert css_urls("a{background:url('https://x.example/i.png')}") == ["https://x.example/i.png"]


def outside_references(http: httpx.Client, path: str) -> list[str]:
    """The URLs page `path` and its stylesheets name outside the server; each script and
    stylesheet it names must also load from here."""
    response = http.get(path)
    assert response.status_code == 200, (path, response.text[:300])
    assert response.headers["content-type"].startswith("text/html")
    outside = []
    for url in page_urls(response.text):
        if leaves_server(url):
            outside.append(f"{path}: {url}")
        elif url.startswith("/ui/static/"):
            asset = http.get(url)
            assert asset.status_code == 200, url
            if url.endswith(".css"):
                outside += [f"{url}: {u}" for u in css_urls(asset.text) if leaves_server(u)]
    return outside


@pytest.fixture
def docs_server(start_server: StartServer) -> ServerProcess:
    return start_server()


def test_docs_and_redoc_load_nothing_from_outside(docs_server: ServerProcess) -> None:
    with docs_server.client() as http:
        for path in OPEN_PAGES:
            assert outside_references(http, path) == []
            csp = http.get(path).headers["content-security-policy"]
            assert "script-src 'self';" in csp and "unsafe-inline" not in csp.split("style")[0]
            assert "<script>" not in http.get(path).text  # no inline scripts
