"""Schedules in the YAML config: parsed inside their task, with stable ids."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from taskgate.app.configspecs import config_schedule_specs, config_task_specs
from taskgate.config import load_settings
from taskgate.domain.errors import ConfigError

TASK: dict[str, object] = {
    "name": "Report",
    "label": "report",
    "action": {"kind": "command", "argv": ["true"]},
}


def write(tmp_path: Path, tasks: list[dict[str, object]], **extra: object) -> Path:
    path = tmp_path / "taskgate.yaml"
    path.write_text(yaml.safe_dump({"tasks": tasks, **extra}))
    return path


def test_schedules_inside_a_task(tmp_path: Path) -> None:
    schedules = [{"name": "nightly", "cron": "0 3 * * *"}, {"kind": "interval", "every": 5}]
    settings = load_settings(
        write(tmp_path, [{**TASK, "schedules": schedules}], scheduler={"recheck_seconds": 2})
    )
    assert settings.scheduler.recheck_seconds == 2
    [task] = config_task_specs(settings)
    assert "schedules" not in task.model_dump()
    declared = config_schedule_specs(settings)
    assert [(task_id, s.task, s.name) for task_id, s in declared] == [
        (str(task.id), str(task.id), "nightly"),
        (str(task.id), str(task.id), ""),
    ]
    # the same config gives the same ids; the id follows the name, else the position
    assert [s.id for _, s in declared] == [s.id for _, s in config_schedule_specs(settings)]
    assert len({s.id for _, s in declared}) == 2


def test_a_schedule_inside_a_task_names_no_task(tmp_path: Path) -> None:
    schedules = [{"cron": "0 3 * * *", "task": "other"}]
    with pytest.raises(ConfigError, match="leave out `task`") as caught:
        load_settings(write(tmp_path, [{**TASK, "schedules": schedules}]))
    assert caught.value.field == "tasks.0.schedules.0.task"


def test_unknown_scheduler_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, [TASK], scheduler={"poll": 1}))
    assert caught.value.field == "scheduler.poll"
