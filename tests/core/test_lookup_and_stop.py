"""Rules every door may ask the core for: names that ignore case, and stopping a task."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskgate.core.services import Services
from taskgate.domain.errors import NotFound
from taskgate.domain.selectors import Selector, SelectorKind
from taskgate.domain.status import Status
from tests.conftest import Backend
from tests.core_support import CALLER, make_task, request, run_with_services


def test_a_name_selector_may_ignore_case(backend: Backend, tmp_path: Path) -> None:
    async def check(services: Services) -> None:
        street = await make_task(services, "street", name="Straße")
        await make_task(services, "load", name="Nightly Load")
        folded = Selector(SelectorKind.NAME, "STRASSE", ignore_case=True)
        assert [t.key for t in await services.tasks.find(folded)] == [street]
        exact = Selector(SelectorKind.NAME, "nightly load")
        assert await services.tasks.find(exact) == []
        either = Selector(SelectorKind.NAME, "nightly load", ignore_case=True)
        (preview,) = await services.starts.preview([either], CALLER)
        assert [t.task_name for t in preview.tasks] == ["Nightly Load"]

    run_with_services(backend, tmp_path, check)


def test_stopping_tasks_aborts_every_unfinished_run_of_each(
    backend: Backend, tmp_path: Path
) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "stopped", concurrency={"max_running": 5, "overlap": "allow"})
        await make_task(services, "other")
        for selector in ("label:stopped", "label:stopped", "label:other"):
            await services.starts.start(request(selector))
        with pytest.raises(NotFound):
            await services.executions.abort_tasks(["stopped", "no-such-task"], CALLER)
        assert len(await services.executions.unfinished()) == 3  # nothing aborted yet

        aborted = await services.executions.abort_tasks(["stopped"], CALLER)
        assert [e.status for e in aborted] == [Status.ABORTED, Status.ABORTED]
        assert [e.task_name for e in await services.executions.unfinished()] == ["other"]
        assert await services.executions.abort_tasks(["stopped"], CALLER) == []

    run_with_services(backend, tmp_path, check)
