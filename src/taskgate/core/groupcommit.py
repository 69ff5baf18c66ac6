"""Requests that arrive together are committed together.

A commit costs about as much for one start as for twenty: the transaction, the claim, the
task lookups and the inserts are shared. Callers `submit` and wait for their own answer;
whatever was submitted while the previous batch was being committed (or in the same turn
of the event loop) goes into the next batch. A caller alone waits one loop turn longer
than it would have, which is microseconds.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

In = TypeVar("In")
Out = TypeVar("Out")


class GroupCommit(Generic[In, Out]):
    """`commit` takes a batch and gives one answer per item, in order. An exception it raises
    is every item's answer; an answer that is an exception is raised to its own caller."""

    def __init__(
        self, commit: Callable[[list[In]], Awaitable[list[Out | Exception]]], *, batch_max: int
    ) -> None:
        self._commit = commit
        self._batch_max = batch_max
        self._waiting: list[tuple[In, asyncio.Future[Out]]] = []
        self._drainer: asyncio.Task[None] | None = None

    async def submit(self, item: In) -> Out:
        future: asyncio.Future[Out] = asyncio.get_running_loop().create_future()
        self._waiting.append((item, future))
        if self._drainer is None:
            # Scheduled, not run: the callers already woken in this loop turn join the batch.
            self._drainer = asyncio.create_task(self._drain(), name="taskgate-group-commit")
        return await future

    async def _drain(self) -> None:
        try:
            while self._waiting:
                batch = self._waiting[: self._batch_max]
                del self._waiting[: self._batch_max]
                await self._answer(batch)
        except asyncio.CancelledError:
            for _, future in self._waiting:
                future.cancel()
            self._waiting.clear()
            raise
        finally:
            self._drainer = None

    async def _answer(self, batch: list[tuple[In, asyncio.Future[Out]]]) -> None:
        try:
            answers = await self._commit([item for item, _ in batch])
        except asyncio.CancelledError:
            for _, future in batch:
                future.cancel()
            raise
        except Exception as exc:
            answers = [exc] * len(batch)
        for (_, future), answer in zip(batch, answers, strict=True):
            if future.done():
                continue  # its caller gave up waiting; the commit stands
            if isinstance(answer, Exception):
                future.set_exception(answer)
            else:
                future.set_result(answer)
