"""Health, readiness and the OpenAPI description."""

from __future__ import annotations

import re

import httpx

from tests.support import ok_json


def test_healthz(client: httpx.Client) -> None:
    assert ok_json(client.get("/healthz")) == {"status": "ok"}


def test_readyz(client: httpx.Client) -> None:
    assert ok_json(client.get("/readyz")) == {"status": "ready"}


def test_openapi_json_describes_the_native_api(client: httpx.Client) -> None:
    spec = ok_json(client.get("/openapi.json"))
    assert spec["openapi"].startswith("3.")
    # Path parameter names are the server's business: compare shapes only.
    paths = {re.sub(r"\{[^}]*\}", "{}", path) for path in spec["paths"]}
    for path in (
        "/api/v1/tasks",
        "/api/v1/tasks/{}",
        "/api/v1/tasks/{}/start",
        "/api/v1/start",
        "/api/v1/preview",
        "/api/v1/executions",
        "/api/v1/executions/{}",
        "/api/v1/executions/{}/wait",
        "/api/v1/executions/{}/log",
        "/api/v1/executions/{}/abort",
    ):
        assert path in paths, f"{path} not in {sorted(paths)}"


def test_docs_page(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "openapi.json" in response.text
