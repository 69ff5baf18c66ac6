"""The server's import graph stays lean: this protects its idle memory.

`taskgate serve` runs through the CLI, which imports every command module, and then builds the
app. None of that may import the packages below; each is needed only when its feature is used
(an HTTP call, MQTT, a solar schedule, PostgreSQL) or never by the server (uvicorn's reloader
and WebSockets). Together they cost the idle server about 8 MiB of RSS. The memory itself is
measured by bench/idle_memory.py; this only checks what a fresh interpreter has imported after
building the app with the default settings (uvicorn itself is not started here).
"""

from __future__ import annotations

import json
import subprocess
import sys

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
]

PROBE = """
import json, sys
import taskgate.cli.main, taskgate.app
from taskgate.app import create_app
from taskgate.config import Settings
create_app(Settings.model_validate({"data_dir": sys.argv[1]}))
print(json.dumps(sorted(sys.modules)))
"""


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    data_dir = tmp_path_factory.mktemp("lean")
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


@pytest.mark.parametrize("package", NOT_AT_IDLE)
def test_the_server_does_not_import(loaded: set[str], package: str) -> None:
    assert package not in loaded
    assert not any(name.startswith(f"{package}.") for name in loaded)
