"""executor.kind: celery and its settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskgate.config import Settings
from taskgate.domain.errors import ConfigError


def test_local_is_the_default_and_needs_nothing() -> None:
    settings = Settings.model_validate({})
    assert settings.executor.kind == "local"
    settings.check_executor()


def test_celery_refuses_sqlite_naming_the_field() -> None:
    settings = Settings.model_validate({"executor": {"kind": "celery"}})
    with pytest.raises(ConfigError) as caught:
        settings.check_executor()
    assert caught.value.field == "database_url"
    assert "PostgreSQL" in caught.value.message


def test_celery_on_postgresql_is_accepted() -> None:
    settings = Settings.model_validate(
        {"executor": {"kind": "celery"}, "database_url": "postgresql://u@db/taskgate"}
    )
    settings.check_executor()


def test_routes_map_to_prefixed_queues() -> None:
    celery = Settings.model_validate(
        {"executor": {"celery": {"routes": {"sap": "sap-host-1"}, "queue_prefix": "tg."}}}
    ).executor.celery
    assert celery.queue(None) == "tg.default"
    assert celery.queue("sap") == "tg.sap-host-1"
    assert celery.queue("other") == "tg.other"


def test_a_bad_route_name_is_refused() -> None:
    with pytest.raises(ValueError, match="default_route"):
        Settings.model_validate({"executor": {"celery": {"default_route": "no spaces"}}})


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"executor": {"kind": "celery"}}, "database_url"),
        ({"database_url": "postgresql://u@127.0.0.1:1/x"}, "executor.kind: celery"),
    ],
)
def test_the_worker_command_refuses_a_config_it_cannot_serve(
    tmp_path: Path, config: dict[str, Any], named: str
) -> None:
    path = tmp_path / "taskgate.yaml"
    path.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), **config}))
    done = subprocess.run(
        [sys.executable, "-m", "taskgate", "worker", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")},
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert named in done.stdout + done.stderr
