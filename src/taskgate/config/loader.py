"""Reading the config file: YAML in, checked `Settings` out, paths relative to the file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from taskgate.config.settings import Settings
from taskgate.config.tasks import ConfigTask
from taskgate.domain.errors import ConfigError, TaskgateError
from taskgate.domain.params import validate_params
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.actions.command import CommandAction
from taskgate.engine.actions.contract import Resources
from taskgate.qlik.settings import QlikSettings
from taskgate.schedules import triggers


def load_settings(path: Path | None) -> Settings:
    """Read the config file (relative paths are relative to it), under the environment's
    overrides; a ConfigError names the first field that is wrong."""
    raw: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read config {path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"config {path}: the top level must be a mapping")
        base = path.resolve().parent
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"config {path}: {where}: {first['msg']}", field=where) from exc
    if not settings.data_dir.is_absolute():
        settings.data_dir = base / settings.data_dir
    if settings.server.tls is not None:
        settings.server.tls = settings.server.tls.resolved(base)
    if settings.qrs.listen is not None:
        settings.qrs.listen = settings.qrs.listen.resolved(base)
    _resolve_site_files(settings.qlik, base)
    if path is not None:
        settings.tasks = [_run_in(task, base) for task in settings.tasks]
    _check_task_actions(settings)
    _check_task_schedules(settings)
    return settings


def _run_in(task: ConfigTask, base: Path) -> ConfigTask:
    """A config task's command runs in the config file's folder, or in its `cwd` taken
    relative to that folder: the config's relative paths mean the same whichever folder the
    server was started from."""
    action = task.action
    if not isinstance(action, CommandAction):
        return task
    cwd = base if action.cwd is None else base / action.cwd
    return task.model_copy(update={"action": action.model_copy(update={"cwd": str(cwd)})})


def _check_task_schedules(settings: Settings) -> None:
    """Each schedule inside a config task must make a trigger and fit the task's params: the
    checks saving it would make, said at load, naming the task and the schedule at fault."""
    for index, task in enumerate(settings.tasks):
        for number, schedule in enumerate(task.schedules):
            try:
                triggers.build(schedule, now())
                validate_params(task.params, schedule.params)
            except TaskgateError as exc:
                where = f"tasks.{index}.schedules.{number}.{exc.field or 'schedule'}"
                named = f"schedule {schedule.name or number + 1!s} of task {task.name!r}"
                raise ConfigError(f"config: {where}: {named}: {exc.message}", field=where) from exc


def _resolve_site_files(qlik: QlikSettings, base: Path) -> None:
    """Certificate paths are relative to the config file, and must name readable files."""
    for index, site in enumerate(qlik.sites):
        for name in ("client_cert", "client_key", "ca"):
            path: Path | None = getattr(site, name)
            if path is None:
                continue
            if not path.is_absolute():
                path = base / path
                setattr(site, name, path)
            if not path.is_file():
                where = f"qlik.sites.{index}.{name}"
                raise ConfigError(f"config: {where}: no such file: {path}", field=where)


def _check_task_actions(settings: Settings) -> None:
    """Each config task's action must be one this server can run (a `qlik` task must name a
    configured site, say): the same check the API makes."""
    actions = ActionCatalog(Resources(settings.qlik))
    for index, task in enumerate(settings.tasks):
        try:
            actions.check(task.action)
        except TaskgateError as exc:
            where = f"tasks.{index}.{exc.field or 'action'}"
            raise ConfigError(f"config: {where}: {exc.message}", field=where) from exc


def now() -> datetime:
    return datetime.now(UTC)
