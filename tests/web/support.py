"""Helpers of the dashboard tests: a server with keys, logging in over plain HTTP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ServerProcess, StartServer

KEYS: dict[str, Any] = {"auth": "keys"}


def admin_key(server: ServerProcess) -> str:
    return (Path(server.config["data_dir"]) / "admin.key").read_text().strip()


def make_key(server: ServerProcess, role: str, name: str | None = None) -> str:
    with server.client(headers={"Authorization": f"Bearer {admin_key(server)}"}) as api:
        answer = api.post("/api/v1/keys", json={"name": name or role, "role": role})
        assert answer.status_code == 201, answer.text
        secret: str = answer.json()["secret"]
        return secret


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def login(http: httpx.Client, key: str) -> str:
    """Logs `http` in with `key`; the session's CSRF token."""
    form = http.get("/ui/login")
    assert form.status_code == 200, form.text
    answer = http.post(
        "/ui/login",
        data={"key": key, "login_token": hidden(form.text, "login_token"), "next": "/"},
    )
    assert answer.status_code == 303, answer.text
    page = http.get("/")
    assert page.status_code == 200
    return hidden(page.text, "csrf_token")


def keyed_server(start_server: StartServer, **kwargs: Any) -> ServerProcess:
    return start_server(KEYS, **kwargs)
