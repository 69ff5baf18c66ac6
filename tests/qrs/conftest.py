"""A server with the QRS door on, and a client that speaks to it as QRS clients do."""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerFactory, ServerProcess
from tests.support import STANDARD_TASKS, py_task
from tests.tls_support import make_pki

ALPHABET = string.ascii_letters + string.digits
RETRY_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a0e01"
TIMEOUT_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a0e02"
SLOW_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a0e03"
FLAKY_NAME = "Always failing, retried"


def xrfkey() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(16))


class QrsClient:
    """Adds a fresh Xrfkey (query and header) and an X-Qlik-User to every request, as qsAPI
    and qrs-api-client do."""

    def __init__(self, http: httpx.Client, user: str | None = None) -> None:
        self.http = http
        self.user = user if user is not None else "UserDirectory=INTERNAL; UserId=sa_api"

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        key = xrfkey()
        params = dict(kwargs.pop("params", None) or {})
        params["Xrfkey"] = key
        headers = {"X-Qlik-Xrfkey": key, **(kwargs.pop("headers", None) or {})}
        if self.user:
            headers["X-Qlik-User"] = self.user
        return self.http.request(method, f"/qrs{path}", params=params, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def json(self, path: str, **params: Any) -> Any:
        response = self.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


EXTRA_TASKS = [
    py_task(
        FLAKY_NAME,
        "import sys; print('failing', flush=True); sys.exit(2)",
        id=RETRY_ID,
        retries={"count": 2, "delay": 0.05, "backoff": 1},
        tags=["qrs-retry"],
    ),
    py_task(
        "Too slow",
        "import time; print('starting', flush=True); time.sleep(600)",
        id=TIMEOUT_ID,
        timeout=1,
    ),
    py_task(
        "Waits to be stopped",
        "import time; print('running', flush=True); time.sleep(600)",
        id=SLOW_ID,
        concurrency={"max_running": 5, "overlap": "allow"},
    ),
]


@pytest.fixture(scope="module")
def qrs_server(_module_servers: ServerFactory) -> ServerProcess:
    return _module_servers({"qrs": {"enabled": True}}, tasks=STANDARD_TASKS + EXTRA_TASKS)


@pytest.fixture
def qrs(qrs_server: ServerProcess) -> Iterator[QrsClient]:
    with httpx.Client(base_url=qrs_server.url, timeout=30) as http:
        yield QrsClient(http)


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    """A CA with server and client certificates, and a client certificate of another CA."""
    made = make_pki(tmp_path / "pki", "qlik-client")
    stranger = make_pki(tmp_path / "stranger", "qlik-client")
    return {
        "ca": made.ca,
        "server": made.server_cert,
        "server_key": made.server_key,
        "client": made.client_cert,
        "client_key": made.client_key,
        "stranger": stranger.client_cert,
        "stranger_key": stranger.client_key,
    }


def tls_listen(pki: dict[str, Path], port: int) -> dict[str, Any]:
    """The `qrs.listen` section for the door's HTTPS port with these certificates."""
    return {
        "host": "127.0.0.1",
        "port": port,
        "cert": str(pki["server"]),
        "key": str(pki["server_key"]),
        "client_ca": str(pki["ca"]),
    }
