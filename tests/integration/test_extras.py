"""PostgreSQL and MQTT are extras: a config that needs one that is not installed stops the
start with exit code 2 and names the extra to install."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.conftest import StartServer

# A module that is "not installed": importing it fails as a missing package does.
MISSING = "raise ModuleNotFoundError(f'No module named {__name__!r}', name=__name__)\n"


def without(tmp_path: Path, *packages: str) -> dict[str, str]:
    """An environment in which `packages` cannot be imported."""
    shadow = tmp_path / "not-installed"
    for package in packages:
        (shadow / package).mkdir(parents=True)
        (shadow / package / "__init__.py").write_text(MISSING)
    path = [str(shadow), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(path)}


@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_postgresql_without_the_postgres_extra(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(env=without(tmp_path, "psycopg"), start=False)
    assert server.start_or_exit() == 2
    assert "database_url: PostgreSQL needs the 'postgres' extra" in server.log_text()
    assert "pip install 'taskgate[postgres]'" in server.log_text()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_mqtt_without_the_mqtt_extra(start_server: StartServer, tmp_path: Path) -> None:
    config = {"mqtt": {"enabled": True, "host": "127.0.0.1", "port": 1}}
    server = start_server(config, env=without(tmp_path, "paho"), start=False)
    assert server.start_or_exit() == 2
    assert "mqtt.enabled: the MQTT door needs the 'mqtt' extra" in server.log_text()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_embedded_default_needs_no_extra(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server(env=without(tmp_path, "psycopg", "paho"))
    with server.client() as http:
        assert http.get("/readyz").status_code == 200
