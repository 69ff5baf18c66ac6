"""An abort that meets the dispatcher's claim of the same execution (PostgreSQL, where the two
run in separate transactions at once)."""

import asyncio
from pathlib import Path

import psycopg
import pytest

from taskgate.domain.status import Status
from taskgate.store.db import Database
from tests.conftest import Backend
from tests.core_support import CALLER, make_task, request, services_on
from tests.support import wait_until


def _waits_for_a_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        waiting = conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        ).fetchone()
    return waiting is not None and waiting[0] > 0


def test_an_abort_during_the_claim_stops_the_run(backend: Backend, tmp_path: Path) -> None:
    """The abort reads the execution while the claim that starts it is not yet committed: it
    must see the run as started (and ask it to stop), not abort it as if it had never
    started, while its attempt goes on running."""
    if backend.name != "postgres":
        pytest.skip("SQLite runs one writing transaction at a time")
    url = backend.new_database(tmp_path)
    assert url is not None
    db = Database(url)

    async def main() -> None:
        await db.migrate()
        try:
            services = services_on(db)
            await make_task(services, "plain")
            # No executor here: the execution stays queued until "the claim" below.
            [answer] = await services.starts.start_many([request("label:plain")])
            assert not isinstance(answer, Exception)
            execution_id = answer.executions[0].id
            with psycopg.connect(url) as claim:  # the dispatcher's claim, not yet committed
                claim.execute(
                    "SELECT id FROM executions WHERE id = %s FOR UPDATE SKIP LOCKED",
                    (execution_id,),
                )
                claim.execute(
                    "UPDATE executions SET status = 'started', attempt_count = 1 WHERE id = %s",
                    (execution_id,),
                )
                aborting = asyncio.ensure_future(services.executions.abort(execution_id, CALLER))
                await asyncio.to_thread(
                    wait_until, lambda: _waits_for_a_lock(url), what="the abort to wait"
                )
                claim.commit()
            execution = await aborting
            assert execution.status is Status.ABORT_INITIATED, execution
        finally:
            await db.close()

    asyncio.run(main())
