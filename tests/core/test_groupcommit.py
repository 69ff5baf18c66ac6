"""Requests that arrive together share one commit; each caller gets its own answer."""

import asyncio

import pytest

from taskgate.core.groupcommit import GroupCommit


class Recorder:
    """A commit that records its batches; `hold` keeps a batch open until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.hold: asyncio.Event | None = None
        self.began = asyncio.Event()

    async def commit(self, items: list[int]) -> list[int | Exception]:
        self.batches.append(items)
        self.began.set()
        if self.hold is not None:
            await self.hold.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


def test_callers_of_one_loop_turn_share_a_batch_and_get_their_own_answers() -> None:
    async def main() -> None:
        recorder = Recorder()
        group: GroupCommit[int, int] = GroupCommit(recorder.commit, batch_max=100)
        answers = await asyncio.gather(*(group.submit(i) for i in range(6)), return_exceptions=True)
        assert recorder.batches == [[0, 1, 2, 3, 4, 5]]
        assert answers[0::2] == [0, 20, 40]
        assert [str(a) for a in answers[1::2]] == ["odd 1", "odd 3", "odd 5"]

    asyncio.run(main())


def test_what_arrives_during_a_commit_goes_into_the_next_batch() -> None:
    async def main() -> None:
        recorder = Recorder()
        recorder.hold = asyncio.Event()
        group: GroupCommit[int, int] = GroupCommit(recorder.commit, batch_max=3)
        first = asyncio.ensure_future(group.submit(0))
        await recorder.began.wait()
        later = [asyncio.ensure_future(group.submit(i)) for i in (2, 4, 6, 8)]
        await asyncio.sleep(0)
        assert recorder.batches == [[0]]
        recorder.hold.set()
        assert await first == 0
        assert await asyncio.gather(*later) == [20, 40, 60, 80]
        # batch_max splits what waited.
        assert recorder.batches == [[0], [2, 4, 6], [8]]

    asyncio.run(main())


def test_a_failed_commit_is_every_callers_error_and_the_next_batch_still_runs() -> None:
    async def main() -> None:
        calls: list[list[int]] = []

        async def commit(items: list[int]) -> list[int | Exception]:
            calls.append(items)
            if len(calls) == 1:
                raise RuntimeError("database is down")
            return list(items)

        group: GroupCommit[int, int] = GroupCommit(commit, batch_max=10)
        failed = await asyncio.gather(group.submit(1), group.submit(2), return_exceptions=True)
        assert [str(e) for e in failed] == ["database is down"] * 2
        assert await group.submit(3) == 3

    asyncio.run(main())


def test_a_caller_that_stops_waiting_does_not_disturb_the_others() -> None:
    async def main() -> None:
        recorder = Recorder()
        recorder.hold = asyncio.Event()
        group: GroupCommit[int, int] = GroupCommit(recorder.commit, batch_max=10)
        impatient = asyncio.ensure_future(group.submit(2))
        patient = asyncio.ensure_future(group.submit(4))
        await recorder.began.wait()
        impatient.cancel()
        recorder.hold.set()
        assert await patient == 40
        with pytest.raises(asyncio.CancelledError):
            await impatient

    asyncio.run(main())
