"""The one registry of action kinds: each kind's module registers its spec and its runner.

Task validation asks for the specs (through `taskgate.domain.actions`), the dispatcher and the
task service ask an `ActionCatalog` (the runners built for this server) to check and run a
spec; nothing else knows which kinds exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic

from taskgate.domain.actions import ActionSpec, register_spec
from taskgate.domain.errors import InvalidInput
from taskgate.engine.actions.contract import (
    ActionContext,
    ActionOutcome,
    ActionRunner,
    Resources,
    SpecT,
)


@dataclass(frozen=True)
class ActionKind(Generic[SpecT]):
    name: str
    spec: type[SpecT]
    runner: Callable[[Resources], ActionRunner[SpecT]]


_KINDS: dict[str, ActionKind[Any]] = {}


def register(
    name: str, spec: type[SpecT], runner: Callable[[Resources], ActionRunner[SpecT]]
) -> None:
    """Make `name` an action kind: tasks may use `spec` under `action`, run by `runner`."""
    register_spec(name, spec)
    _KINDS[name] = ActionKind(name, spec, runner)


def kinds() -> Iterator[ActionKind[Any]]:
    return iter(_KINDS.values())


class ActionCatalog:
    """Every registered kind with its runner, built once for this server's resources."""

    def __init__(self, resources: Resources | None = None) -> None:
        available = resources or Resources()
        self._runners: dict[str, ActionRunner[Any]] = {
            kind.name: kind.runner(available) for kind in _KINDS.values()
        }

    def runner(self, spec: ActionSpec) -> ActionRunner[Any]:
        runner = self._runners.get(spec.kind)
        if runner is None:
            raise InvalidInput(f"unknown action kind {spec.kind!r}", field="action.kind")
        return runner

    def check(self, spec: ActionSpec) -> None:
        """Raise InvalidInput (its field under `action.`) if `spec` cannot run here."""
        self.runner(spec).check(spec)

    async def run(self, spec: ActionSpec, ctx: ActionContext) -> ActionOutcome:
        return await self.runner(spec).run(spec, ctx)

    async def aclose(self) -> None:
        for runner in self._runners.values():
            await runner.aclose()
