"""The config file as a newcomer meets it: relative task paths mean the config's folder, and a
wrong schedule stops the server with one short line naming it (exit 2)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from taskgate.config import load_settings
from taskgate.domain.errors import ConfigError
from taskgate.engine.actions.command import CommandAction


def write_config(folder: Path, tasks: list[dict[str, object]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "taskgate.yaml"
    path.write_text(yaml.safe_dump({"data_dir": "data", "tasks": tasks}))
    return path


def task(**fields: object) -> dict[str, object]:
    return {"name": "T", "label": "t", "action": {"kind": "command", "argv": ["true"]}, **fields}


def test_a_command_runs_in_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "conf"
    path = write_config(
        folder,
        [
            task(),
            task(
                name="U",
                label="u",
                action={"kind": "command", "argv": ["true"], "cwd": "jobs"},
            ),
            task(name="V", label="v", action={"kind": "command", "argv": ["true"], "cwd": "/"}),
        ],
    )
    monkeypatch.chdir(tmp_path)  # started from elsewhere
    actions = [t.action for t in load_settings(Path("conf/taskgate.yaml")).tasks]
    assert all(isinstance(a, CommandAction) for a in actions)
    assert [a.cwd for a in actions if isinstance(a, CommandAction)] == [
        str(path.parent.resolve()),
        str(path.parent.resolve() / "jobs"),
        "/",
    ]


@pytest.mark.parametrize(
    ("schedule", "field", "words"),
    [
        ({"name": "nightly", "cron": "61 * * * *"}, "cron", "bad minute field"),
        ({"name": "eu", "cron": "0 3 * * *", "params": {"count": "many"}}, "params.count", "many"),
        ({"name": "tz", "cron": "0 3 * * *", "timezone": "Mars/Olympus"}, "timezone", "Mars"),
    ],
)
def test_a_wrong_config_schedule_names_task_and_schedule(
    tmp_path: Path, schedule: dict[str, object], field: str, words: str
) -> None:
    count = {"name": "count", "type": "int", "default": 1}
    path = write_config(tmp_path, [task(name="Nightly load", params=[count], schedules=[schedule])])
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = caught.value.message
    assert f"schedule {schedule['name']} of task 'Nightly load'" in message, message
    assert words in message and f"tasks.0.schedules.0.{field}" in message, message


def test_serve_says_it_in_one_line_and_exits_2(tmp_path: Path) -> None:
    path = write_config(tmp_path, [task(schedules=[{"name": "bad", "cron": "61 * * * *"}])])
    done = subprocess.run(
        [sys.executable, "-m", "taskgate", "serve", "--config", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "Traceback" not in done.stderr and "schedule bad of task 'T'" in done.stderr
    assert not (tmp_path / "data").exists()  # stopped before anything was made


def test_an_error_found_while_starting_is_one_line_and_exit_2_too(tmp_path: Path) -> None:
    # Found only once the database is open: a chain rule whose trigger names no task.
    path = tmp_path / "taskgate.yaml"
    config = {
        "data_dir": "data",
        "server": {"port": 0},
        "tasks": [task()],
        "chains": [{"name": "dangling", "when": [{"task": "label:nope"}], "start": "label:t"}],
    }
    path.write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "taskgate", "serve", "--config", str(path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "startup failed" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and "label:nope" in last, done.stderr
