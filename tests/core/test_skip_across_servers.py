"""A `skip` task started on two servers at once, on PostgreSQL: the second start waits for
the first one's transaction and is skipped, instead of both counting none and both running."""

import asyncio
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from taskgate.core.services import Services
from taskgate.core.starts.request import PendingStart
from taskgate.domain.status import Status
from tests.conftest import Backend, postgres_backend
from tests.core_support import make_task, request, run_with_services
from tests.support import wait_until


@pytest.fixture
def pg(_backends: dict[str, Backend]) -> Backend:
    return postgres_backend(_backends)


_WAITING_FOR_ADVISORY_LOCK = sa.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)


def test_a_skip_task_started_by_two_transactions_at_once_runs_once(
    pg: Backend, tmp_path: Path
) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "single", concurrency={"max_running": 1, "overlap": "skip"})
        engine = services.ctx.db.engine
        second: list[PendingStart] = []

        def start_on_the_other_server() -> None:
            with engine.begin() as conn:
                second.append(services.starts.start_in(conn, request("label:single")))

        with engine.connect() as first_conn, engine.connect() as watcher:
            with first_conn.begin():
                first = services.starts.start_in(first_conn, request("label:single"))
                other = threading.Thread(target=start_on_the_other_server)
                other.start()
                # Either it waits for this transaction, or (the bug) it counted none and ended.
                wait_until(
                    lambda: second or watcher.execute(_WAITING_FOR_ADVISORY_LOCK).scalar(),
                    what="the second start waits or ends",
                )
            await asyncio.to_thread(other.join)
        assert first.result.executions[0].status is not Status.SKIPPED
        (answer,) = second
        assert answer.result.executions[0].status is Status.SKIPPED

    run_with_services(pg, tmp_path, check)
