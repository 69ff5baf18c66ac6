"""Tasks declared in the config file, with the schedules that start them."""

from __future__ import annotations

from pydantic import Field, field_validator

# A config task's action is checked against the registered kinds: register them first.
import taskgate.engine.actions  # noqa: F401
from taskgate.domain.tasks import TaskSpec
from taskgate.schedules.spec import ScheduleSpec


class ConfigSchedule(ScheduleSpec):
    """A schedule declared inside its task in the config: the task is the one around it."""

    task: str = ""

    @field_validator("task")
    @classmethod
    def _no_task(cls, task: str) -> str:
        if task:
            raise ValueError("a schedule inside a task starts that task: leave out `task`")
        return task


class ConfigTask(TaskSpec):
    """A task in the config file, with the schedules that start it."""

    schedules: list[ConfigSchedule] = Field(default_factory=list)

    def task_spec(self) -> TaskSpec:
        return TaskSpec.model_validate(self.model_dump(exclude={"schedules"}))
