"""Chain rules: create, replace, delete, list (API, config file, QRS door), with the checks
every way in shares: the tasks the rule names exist, and rules do not form a cycle unless one
of them says how deep it may go."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from taskgate.core.chains.firing import ChainFiring
from taskgate.core.chains.timer import ChainTimer
from taskgate.core.clock import utcnow
from taskgate.core.context import CoreContext
from taskgate.core.starts.resolve import resolve
from taskgate.core.starts.service import StartService
from taskgate.domain.chains import (
    Chain,
    ChainSource,
    ChainSpec,
    Window,
    find_cycle,
    selector_names,
)
from taskgate.domain.errors import ConfigError, Conflict, InvalidInput, NotFound
from taskgate.domain.executions import SYSTEM, Caller
from taskgate.domain.selectors import SelectorOutcome, parse_selector
from taskgate.domain.tasks import Task
from taskgate.store import audit
from taskgate.store import chains as rows
from taskgate.store import tasks as task_rows


@dataclass(frozen=True)
class TaskChains:
    fired_by_it: list[Chain]
    starting_it: list[Chain]


class ChainService:
    def __init__(self, ctx: CoreContext, starts: StartService) -> None:
        self.ctx = ctx
        self.timer = ChainTimer(ctx)
        self.firing = ChainFiring(starts, self.timer.wake)
        self.timer.firing = self.firing
        ctx.endings.add(self.firing.on_end)

    async def listing(self) -> list[Chain]:
        return await self.ctx.db.read(rows.listing)

    async def get(self, chain_id: str) -> Chain:
        found = await self.ctx.db.read(lambda conn: rows.get(conn, chain_id))
        if found is None:
            raise NotFound.named("chain", chain_id)
        return found

    async def of_task(self, task: Task) -> TaskChains:
        """The rules a task takes part in: those its ends may fire (a condition names it) and
        those that start it, named as the rules' selectors name tasks when they fire."""

        def work(conn: Connection) -> TaskChains:
            spec = task.model_dump(mode="json")
            known: dict[str, bool] = {}

            def names_it(text: str) -> bool:
                if text not in known:
                    selector = parse_selector(text)
                    named = selector_names(selector, task.key, spec)
                    if named is None:  # only the resolver knows (a bare name)
                        named = task.key in {t.key for t in task_rows.find(conn, selector)}
                    known[text] = named
                return known[text]

            rules = rows.listing(conn)
            return TaskChains(
                fired_by_it=[r for r in rules if any(names_it(c.task) for c in r.when)],
                starting_it=[r for r in rules if any(names_it(t) for t in r.start)],
            )

        return await self.ctx.db.read(work)

    async def window(self, chain_id: str) -> Window | None:
        return await self.ctx.db.read(lambda conn: rows.window(conn, chain_id))

    async def firings(self, chain_id: str, limit: int) -> list[dict[str, Any]]:
        await self.get(chain_id)
        return await self.ctx.db.read(lambda conn: rows.firings(conn, chain_id, limit))

    async def create(
        self, spec: ChainSpec, caller: Caller, *, source: ChainSource = "api"
    ) -> Chain:
        def work(conn: Connection) -> Chain:
            if spec.id is not None and rows.get(conn, spec.id) is not None:
                raise Conflict(f"chain {spec.id!r} already exists", field="id")
            return _save(conn, spec, None, caller, source)

        return await self.ctx.db.write(work)

    async def put(
        self, chain_id: str, spec: ChainSpec, caller: Caller, *, source: ChainSource = "api"
    ) -> tuple[Chain, bool]:
        """Create or replace; True when it was created."""

        def work(conn: Connection) -> tuple[Chain, bool]:
            existing = rows.get(conn, chain_id)
            saved = _save(conn, spec.model_copy(update={"id": chain_id}), existing, caller, source)
            return saved, existing is None

        return await self.ctx.db.write(work)

    async def delete(self, chain_id: str, caller: Caller) -> None:
        def work(conn: Connection) -> None:
            if rows.get(conn, chain_id) is None:
                raise NotFound.named("chain", chain_id)
            rows.delete(conn, chain_id)
            audit.record(
                conn, at=utcnow(), actor=caller.name, action="chain.delete", target=chain_id
            )

        await self.ctx.db.write(work)

    async def change(
        self,
        *,
        delete: Iterable[str] = (),
        save: Iterable[ChainSpec] = (),
        caller: Caller,
        source: ChainSource,
        missing_ok: bool = False,
    ) -> list[Chain]:
        """Delete some rules and create or replace others, all in one transaction (a QRS
        bundle): a refusal of one leaves every rule as it was."""
        doomed, saving = list(delete), list(save)

        def work(conn: Connection) -> list[Chain]:
            now = utcnow()
            for chain_id in doomed:
                if rows.get(conn, chain_id) is None:
                    if missing_ok:
                        continue
                    raise NotFound.named("chain", chain_id)
                rows.delete(conn, chain_id)
                audit.record(
                    conn, at=now, actor=caller.name, action="chain.delete", target=chain_id
                )
            saved: list[Chain] = []
            for index, spec in enumerate(saving):
                existing = rows.get(conn, spec.id) if spec.id else None
                try:
                    saved.append(_save(conn, spec, existing, caller, source))
                except InvalidInput as exc:
                    exc.details.setdefault("index", index)
                    raise
            return saved

        return await self.ctx.db.write(work)

    async def sync_from_config(self, specs: Iterable[ChainSpec], caller: Caller) -> None:
        """Make the database hold the config's rules; rules made over the API stay."""
        declared = list(specs)

        def work(conn: Connection) -> None:
            keep = {str(s.id) for s in declared}
            for chain_id in rows.ids_from_source(conn, "config"):
                if chain_id not in keep:
                    rows.delete(conn, chain_id)
            for index, spec in enumerate(declared):
                assert spec.id is not None
                existing = rows.get(conn, spec.id)
                if existing is not None and _spec_of(existing) == spec:
                    continue
                try:
                    _save(conn, spec, existing, caller, "config")
                except InvalidInput as exc:
                    # The server does not start on a config whose rules name no task.
                    raise ConfigError(
                        f"config chains[{index}]: {exc.message}",
                        field=f"chains.{index}.{exc.field}",
                    ) from None

        await self.ctx.db.write(work)

    def start(self) -> None:
        self.timer.start()

    async def stop(self) -> None:
        await self.timer.stop()


def _spec_of(chain: Chain) -> ChainSpec:
    return ChainSpec.model_validate(chain.model_dump(include=set(ChainSpec.model_fields)))


def _save(
    conn: Connection,
    spec: ChainSpec,
    existing: Chain | None,
    caller: Caller,
    source: ChainSource,
) -> Chain:
    chain_id = spec.id or str(uuid.uuid4())
    spec = spec.model_copy(update={"id": chain_id})
    check(conn, spec)
    now = utcnow()
    created: datetime = existing.created_at if existing else now
    chain = Chain.model_validate(
        {
            **spec.model_dump(),
            "source": source,
            "fire_count": existing.fire_count if existing else 0,
            "created_at": created,
            "updated_at": now,
        }
    )
    rows.save(conn, chain, insert=existing is None)
    if existing is not None:
        # The conditions may have changed: a half-met window no longer means anything.
        rows.drop_window(conn, chain_id)
    audit.record(
        conn,
        at=now,
        actor=caller.name,
        action="chain.create" if existing is None else "chain.update",
        target=chain_id,
        details={"source": source},
    )
    return chain


def check(conn: Connection, spec: ChainSpec) -> None:
    """The tasks the rule names exist, and saving it closes no cycle of rules."""
    watched = _tasks(conn, [c.task for c in spec.when], "when.{}.task")
    started = _tasks(conn, spec.start, "start.{}")
    if not spec.enabled or spec.max_depth is not None:
        return
    names: dict[str, str] = {}
    edges: dict[str, set[str]] = {}

    def add(sources: Iterable[Task], targets: Iterable[Task]) -> None:
        targets = list(targets)
        for task in [*sources, *targets]:
            names[task.key] = task.label or task.name
        for source in sources:
            edges.setdefault(source.key, set()).update(t.key for t in targets)

    for other in rows.enabled(conn):
        if other.id == spec.id or other.max_depth is not None:
            continue
        add(
            _tasks(conn, [c.task for c in other.when], "", strict=False),
            _tasks(conn, other.start, "", strict=False),
        )
    add(watched, started)
    cycle = find_cycle(edges, [t.key for t in watched])
    if cycle is not None:
        path = " → ".join(names.get(key, key) for key in cycle)
        raise InvalidInput(
            f"start: these chain rules form a cycle: {path}; set max_depth on a rule of the "
            "cycle to allow it",
            field="start",
            cycle=[names.get(key, key) for key in cycle],
        )


def _tasks(
    conn: Connection, selectors: list[str], field: str, *, strict: bool = True
) -> list[Task]:
    found: list[Task] = []
    for index, text in enumerate(selectors):
        [(resolution, tasks)] = resolve(conn, [parse_selector(text)], SYSTEM)
        if resolution.outcome is not SelectorOutcome.MATCHED and strict:
            where = field.format(index)
            raise InvalidInput(
                f"{where}: {text!r}: {resolution.message or 'no task matches'}", field=where
            )
        found.extend(tasks)
    return found
