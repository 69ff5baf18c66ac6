"""Several starts in one transaction: the same rules as one start, one commit for all."""

import asyncio
from pathlib import Path

from sqlalchemy import event

from taskgate.core.services import Services
from taskgate.core.starts.request import PendingStart, StartRequest, StartResult
from taskgate.domain.errors import Conflict, InvalidInput
from taskgate.domain.kv import KvWrite
from taskgate.domain.selectors import MAX_SELECTORS, parse_selector
from tests.conftest import Backend
from tests.core_support import CALLER, make_task, request, run_with_services


def test_each_request_gets_its_own_answer(backend: Backend, tmp_path: Path) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "plain")
        await make_task(services, "needs", params=[{"name": "n", "type": "int", "required": True}])
        answers = await services.starts.start_many(
            [
                request("label:plain", "k1"),
                request("label:needs"),  # the required parameter is missing
                request("label:plain", "k1"),  # same key in the same batch: a replay
                request("label:nothing"),
                request("label:plain", "k2", kv_items=[KvWrite("ns", "a", "1")]),
                request("label:needs", params={"n": "x"}, kv_items=[KvWrite("ns", "b", "2")]),
            ]
        )
        first, refused, replay, missing, with_kv, refused_kv = answers
        assert isinstance(first, StartResult) and first.started == 1
        assert isinstance(refused, InvalidInput)
        assert isinstance(replay, StartResult)
        assert replay.executions[0].id == first.executions[0].id
        assert isinstance(missing, StartResult) and missing.started == 0
        assert isinstance(with_kv, StartResult) and with_kv.started == 1
        assert isinstance(refused_kv, InvalidInput)
        # The refused request's key-value item was rolled back with it, the other kept.
        assert await services.kv.find("ns", "a") is not None
        assert await services.kv.find("ns", "b") is None
        # A later batch replays stored keys, and a key reused for another request conflicts.
        again = await services.starts.start_many(
            [request("label:plain", "k1"), request("label:needs", "k2")]
        )
        assert isinstance(again[0], StartResult)
        assert again[0].executions[0].id == first.executions[0].id
        assert isinstance(again[1], Conflict)

    run_with_services(backend, tmp_path, check)


def test_skip_policy_counts_the_starts_of_the_same_batch(backend: Backend, tmp_path: Path) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "single", concurrency={"max_running": 1, "overlap": "skip"})
        answers = await services.starts.start_many([request("label:single") for _ in range(3)])
        statuses = [a.executions[0].status.value for a in answers if isinstance(a, StartResult)]
        assert statuses == ["queued", "skipped", "skipped"]

    run_with_services(backend, tmp_path, check)


def test_concurrent_starts_share_commits_and_keep_their_own_answers(
    backend: Backend, tmp_path: Path
) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "plain")
        await make_task(services, "needs", params=[{"name": "n", "type": "int", "required": True}])
        commits = 0

        def count(_conn: object) -> None:
            nonlocal commits
            commits += 1

        event.listen(services.starts.ctx.db.engine, "commit", count)
        answers = await asyncio.gather(
            *(services.starts.start(request("label:plain")) for _ in range(20)),
            services.starts.start(request("label:needs")),
            services.starts.start(request("label:plain", "same")),
            services.starts.start(request("label:plain", "same")),
            return_exceptions=True,
        )
        *plain, refused, keyed, replayed = answers
        assert all(isinstance(a, StartResult) and a.started == 1 for a in plain)
        assert len({a.executions[0].id for a in plain if isinstance(a, StartResult)}) == 20
        assert isinstance(refused, InvalidInput) and refused.field == "params.n"
        assert isinstance(keyed, StartResult) and isinstance(replayed, StartResult)
        assert replayed.executions == keyed.executions
        assert commits < 10, "starts that arrive together are committed together"
        listed = await services.executions.recent(limit=100)
        assert len(listed) == 21

    run_with_services(backend, tmp_path, check)


def test_a_start_names_at_most_the_selector_limit(backend: Backend, tmp_path: Path) -> None:
    async def check(services: Services) -> None:
        await make_task(services, "many")
        at_limit = StartRequest(
            selectors=[parse_selector("label:many")] * MAX_SELECTORS, origin="test", caller=CALLER
        )
        assert (await services.starts.start(at_limit)).started == MAX_SELECTORS
        over = StartRequest(
            selectors=[*at_limit.selectors, parse_selector("label:many")],
            origin="test",
            caller=CALLER,
        )
        answers = await services.starts.start_many([over, request("label:many")])
        assert isinstance(answers[0], InvalidInput)
        assert answers[0].field == "selectors"
        assert isinstance(answers[1], StartResult) and answers[1].started == 1

    run_with_services(backend, tmp_path, check)


def test_a_batch_answers_a_key_an_earlier_commit_stored(backend: Backend, tmp_path: Path) -> None:
    # A batch looks its keys up before it writes: a key an earlier commit stored is a replay
    # in the batch's own answer. `start_many` would hide a missing lookup behind its
    # one-by-one fallback; `start_many_in` (the scheduler's, inside its own transaction) has
    # none: without the lookup the key's insert fails the caller's whole transaction.
    async def check(services: Services) -> None:
        await make_task(services, "plain")
        first = await services.starts.start(request("label:plain", "earlier"))
        assert first.started == 1
        starts = services.starts
        answers = await services.ctx.db.write(
            lambda conn: starts.start_many_in(
                conn, [request("label:plain", "earlier"), request("label:plain", "new")]
            )
        )
        again, fresh = answers
        assert isinstance(again, PendingStart) and again.replayed
        assert again.result.executions == first.executions
        assert isinstance(fresh, PendingStart) and not fresh.replayed
        assert fresh.result.started == 1
        assert len(await services.executions.recent(limit=100)) == 2

    run_with_services(backend, tmp_path, check)
