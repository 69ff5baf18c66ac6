"""The server's import graph stays lean: this protects its idle memory.

`taskgate serve` runs through the CLI and then builds the app. None of that may import the
packages below; each is needed only when its feature is used (an HTTP call, MQTT, a solar
schedule, PostgreSQL, a page of the dashboard, a schema migration, another CLI command) or
never by the server (uvicorn's reloader and WebSockets). The memory itself is measured by
bench/idle_memory.py; this checks what a fresh interpreter has imported after going through
the serve command's imports, building the app and running its start-up and shutdown (the
lifespan: migration, config sync, executor, scheduler) twice on one database, as a first start
and a restart do. Uvicorn itself is not started here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

NOT_AT_IDLE = [
    "httpx",  # HTTP actions, webhooks, Qlik calls and the CLI's client: imported on first use
    "websockets",  # no module of ours imports it, and uvicorn runs with ws="none"
    "watchfiles",  # uvicorn's reloader; uvicorn imports it whenever it is installed
    "paho",  # only when MQTT is configured
    "ephem",  # only for solar schedules
    "sqlalchemy.dialects.postgresql",  # only on PostgreSQL
    "celery",  # only with executor.kind: celery
    "kombu",
    "psycopg",  # only on PostgreSQL (the pool's driver, and the cluster's event relay)
    "alembic",  # only when the schema is behind (a new database is created at the head)
    "rich.console",  # the CLI's tables and messages; the serve command prints none
    "jinja2",  # the dashboard's and /docs' templates: built at the first page
    "taskgate.cli.output",
    "taskgate.cli.tasks",  # the other commands: imported when one of them runs
    "taskgate.cli.executions",
    "taskgate.cli.db",
    "taskgate.cli.start",
    "taskgate.doors.butler",  # the compatible doors, off by default
    "taskgate.doors.qrs",
    "taskgate.doors.jaseci",
    "taskgate.doors.mqtt",
    "psutil",  # killing a process tree (an abort, a timeout): imported when one is killed
    "ctypes",  # glibc's malloc_trim, looked up at the first trim after work (core/memory.py)
    "pydantic.v1",  # FastAPI's check for v1 models; kept out by taskgate.app (fastapicompat)
]

# What `python -m taskgate serve` imports before it builds the app, then the app's start-up.
PROBE = """
import asyncio, json, sys
import taskgate.__main__, taskgate.cli.serve
from taskgate.app.assembly import create_app
from taskgate.config import Settings

async def serve_once():
    app = create_app(Settings.model_validate(json.loads(sys.argv[1])))
    async with app.router.lifespan_context(app):
        pass

asyncio.run(serve_once())
asyncio.run(serve_once())
# A None entry is a module kept out of the process (app/fastapicompat.py), not an import.
print(json.dumps(sorted(name for name, module in sys.modules.items() if module is not None)))
"""


def probe(code: str, config: dict[str, Any]) -> Any:
    """What `code`, run in a fresh interpreter with `config`, printed last (JSON)."""
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def imported_by_server(config: dict[str, Any]) -> set[str]:
    return set(probe(PROBE, config))


def loads(modules: set[str], package: str) -> bool:
    return package in modules or any(name.startswith(f"{package}.") for name in modules)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    data_dir: Path = tmp_path_factory.mktemp("lean")
    return imported_by_server({"data_dir": str(data_dir), "auth": "none"})


@pytest.mark.parametrize("package", NOT_AT_IDLE)
def test_the_server_does_not_import(loaded: set[str], package: str) -> None:
    assert not loads(loaded, package)


# Routes whose fields FastAPI builds at their first request: a body model, a query, a response.
REQUESTS_PROBE = """
import json, sys
from starlette.testclient import TestClient
from taskgate.app.assembly import create_app
from taskgate.config import Settings

app = create_app(Settings.model_validate(json.loads(sys.argv[1])))
with TestClient(app, base_url="http://127.0.0.1:8080") as client:
    statuses = [
        client.post("/api/v1/keys", json={"name": "", "role": "nobody"}).status_code,
        client.post("/api/v1/keys", json={"name": "ci", "role": "viewer"}).status_code,
        client.get("/api/v1/executions", params={"limit": "x"}).status_code,
        client.get("/api/v1/executions", params={"limit": 5}).status_code,
    ]
print(json.dumps({"statuses": statuses, "v1": sys.modules.get("pydantic.v1") is not None}))
"""


def test_routes_validate_at_their_first_request_without_pydantic_v1(tmp_path: Path) -> None:
    """FastAPI builds a route's validators at its first request and, without fastapicompat,
    imports pydantic.v1 to look for v1 models there: the requests still validate."""
    answer = probe(REQUESTS_PROBE, {"data_dir": str(tmp_path), "auth": "none"})
    assert answer == {"statuses": [422, 201, 422, 200], "v1": False}


def test_the_probe_sees_what_a_switched_on_door_imports(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The other side of the list above: the same probe with the doors on finds them, so an
    empty list could not pass by accident."""
    data_dir = tmp_path_factory.mktemp("doors-on")
    on = {"enabled": True, "allow_from": ["127.0.0.0/8"]}
    modules = imported_by_server(
        {"data_dir": str(data_dir), "auth": "none", "butler": on, "qrs": on, "jaseci": on}
    )
    for door in ("taskgate.doors.butler", "taskgate.doors.qrs", "taskgate.doors.jaseci"):
        assert loads(modules, door)


# What a CLI command imports: it runs as `taskgate ...` from cron lines and scripts (and many
# times per CI run), so neither `--help` nor a command that only talks to a server may load
# the server's packages. The config is read by a client command only to find this machine's
# admin key (cli/localkey.py), and reading it needs no database layer.
CLI_PROBE = """
import json, sys
from taskgate.cli.main import app
try:
    app(sys.argv[1:], prog_name="taskgate")
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)))
"""

NOT_IN_ANY_COMMAND = ["sqlalchemy", "fastapi", "uvicorn", "alembic", "taskgate.store"]
NOT_IN_HELP = [*NOT_IN_ANY_COMMAND, "taskgate.config", "pydantic_settings", "httpx"]


def imported_by_command(*argv: str, cwd: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", CLI_PROBE, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=cwd,
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_the_help_imports_no_server_part(tmp_path: Path) -> None:
    modules = imported_by_command("--help", cwd=tmp_path)
    assert "taskgate.cli.executions" in modules  # the help lists every command
    assert [package for package in NOT_IN_HELP if loads(modules, package)] == []


def test_a_client_command_imports_no_server_part(tmp_path: Path) -> None:
    # Port 9 (discard) refuses: the command fails after its imports, as one without a server.
    modules = imported_by_command("executions", "list", "--url", "http://127.0.0.1:9", cwd=tmp_path)
    assert loads(modules, "httpx") and loads(modules, "taskgate.config")  # it did run
    assert [package for package in NOT_IN_ANY_COMMAND if loads(modules, package)] == []
