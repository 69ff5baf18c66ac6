"""What a task's action is, as data: a `kind` and the fields that kind declares.

The kinds themselves live in `taskgate.engine.actions`, one module each; registering a kind
adds its spec model here, so a task's `action` is validated against the models of the kinds
this process knows, as one tagged union on `kind` (the same errors, field paths and JSON
schema a hand-written union would give). Task models build their schema on first use, so
every kind must be registered before the first task is validated; registering one later is
refused, since the union is fixed by then.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

from taskgate.domain.model import Strict


class ActionSpec(Strict):
    """Base of every kind's spec."""

    kind: str

    def check_task(self, task: Any) -> None:
        """Checks that need the whole task (a sequence that would start itself): raise
        ValueError naming the field under `action`. `task` is the TaskSpec being saved."""

    def contains(self) -> list[tuple[str, str]]:
        """The tasks this action runs as parts of itself (a workflow's members), as
        (field under the task, selector): each must name a task when the task is saved, and
        none may contain the task again."""
        return []

    def starts(self) -> list[tuple[str, str]]:
        """The tasks this action may start and wait for while it runs (a sequence's TASK
        steps), as (field under the task, selector): none may lead back to the task. Unlike
        `contains`, they need not exist when the task is saved (the step fails at run time)."""
        return []


class _Kinds:
    def __init__(self) -> None:
        self.specs: dict[str, type[ActionSpec]] = {}
        self.in_use = False

    def add(self, name: str, spec: type[ActionSpec]) -> None:
        known = self.specs.get(name)
        if known is spec:
            return
        if known is not None:
            raise ValueError(f"action kind {name!r} is registered twice")
        if self.in_use:
            raise RuntimeError(
                f"action kind {name!r} registered after tasks were validated: "
                "register every kind before the first task is read"
            )
        self.specs[name] = spec


_KINDS = _Kinds()


def register_spec(name: str, spec: type[ActionSpec]) -> None:
    """Make `spec` the model of actions of kind `name` (called by the engine's registry)."""
    _KINDS.add(name, spec)


def kind_names() -> list[str]:
    return list(_KINDS.specs)


class _AnyKind:
    """Schema of a task's `action`: a tagged union of the registered kinds' specs."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        if not _KINDS.specs:
            raise RuntimeError(
                "no action kinds are registered: import taskgate.engine.actions "
                "before validating tasks"
            )
        _KINDS.in_use = True
        choices: dict[Any, CoreSchema] = {
            name: handler.generate_schema(spec) for name, spec in _KINDS.specs.items()
        }
        return core_schema.tagged_union_schema(choices, discriminator="kind")


AnyAction = Annotated[ActionSpec, _AnyKind]
