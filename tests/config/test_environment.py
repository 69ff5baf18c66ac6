"""Environment variables over the config file: today's short names and TASKGATE_SECTION__FIELD."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from taskgate.config import load_settings
from taskgate.config.settings import SHORT_NAMES
from taskgate.domain.errors import ConfigError

FILE: dict[str, Any] = {
    "database_url": "sqlite:////from/file.db",
    "data_dir": "from-file",
    "node_name": "file-node",
    "server": {"host": "127.0.0.2", "port": 8001, "max_body_bytes": 4096},
    "mqtt": {"host": "file-broker", "port": 1884, "username": "file-user", "password": "file-pw"},
}

# Each short name, a value for it, and where that value shows in the settings.
CASES = [
    ("TASKGATE_DATABASE_URL", "postgresql://env@127.0.0.1/env", "database_url"),
    ("TASKGATE_HOST", "0.0.0.0", "server.host"),
    ("TASKGATE_PORT", "9090", "server.port"),
    ("TASKGATE_DATA_DIR", "/srv/taskgate", "data_dir"),
    ("TASKGATE_NODE_NAME", "env-node", "node_name"),
    ("TASKGATE_MQTT_HOST", "env-broker", "mqtt.host"),
    ("TASKGATE_MQTT_PORT", "8883", "mqtt.port"),
    ("TASKGATE_MQTT_USERNAME", "env-user", "mqtt.username"),
    ("TASKGATE_MQTT_PASSWORD", "env-pw", "mqtt.password"),
]


def write(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "taskgate.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def value_at(settings: object, where: str) -> str:
    for name in where.split("."):
        settings = getattr(settings, name)
    return str(settings)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in SHORT_NAMES:
        monkeypatch.delenv(variable, raising=False)


def test_every_short_name_is_tested() -> None:
    assert {case[0] for case in CASES} == set(SHORT_NAMES)


@pytest.mark.parametrize(("variable", "value", "where"), CASES, ids=[c[0] for c in CASES])
def test_a_short_name_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, where: str
) -> None:
    path = write(tmp_path, FILE)
    before = load_settings(path)
    assert value_at(before, where) != value
    monkeypatch.setenv(variable, value)
    after = load_settings(path)
    assert value_at(after, where) == value
    # the rest of that section still comes from the file
    assert after.server.max_body_bytes == 4096
    assert after.node_name == ("env-node" if variable == "TASKGATE_NODE_NAME" else "file-node")


def test_a_short_name_applies_without_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKGATE_PORT", "9191")
    assert load_settings(None).server.port == 9191


def test_any_field_by_section_and_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, {**FILE, "executor": {"slots": 3, "kill_grace_seconds": 7}})
    monkeypatch.setenv("TASKGATE_EXECUTOR__SLOTS", "5")
    monkeypatch.setenv("TASKGATE_AUTH", "none")
    settings = load_settings(path)
    assert settings.executor.slots == 5
    assert settings.executor.kill_grace_seconds == 7
    assert settings.auth == "none"


def test_the_short_name_wins_over_the_long_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKGATE_SERVER__PORT", "9001")
    monkeypatch.setenv("TASKGATE_PORT", "9002")
    assert load_settings(write(tmp_path, FILE)).server.port == 9002


def test_a_relative_data_dir_from_the_environment_is_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TASKGATE_DATA_DIR", "state")
    assert load_settings(write(tmp_path, FILE)).data_dir == tmp_path / "state"


def test_a_bad_value_names_its_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKGATE_PORT", "eighty")
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, FILE))
    assert caught.value.field == "server.port"
    assert "server.port" in caught.value.message


def test_variables_of_a_run_are_not_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What taskgate gives every command it runs; a command may itself read a config file.
    for variable in ("TASKGATE_URL", "TASKGATE_TOKEN", "TASKGATE_EXECUTION_ID", "TASKGATE_API_KEY"):
        monkeypatch.setenv(variable, "x")
    assert load_settings(write(tmp_path, FILE)).server.port == 8001
