"""A piece of an action's work that an abort may overtake (an HTTP request on its way)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def unless_aborted(work: Awaitable[T], abort: asyncio.Event) -> asyncio.Future[T] | None:
    """Wait for `work` or `abort`, whichever comes first: `work`'s ended future (its answer or
    its exception still to be read from it), or None when the abort came first (`work` is then
    cancelled)."""
    call = asyncio.ensure_future(work)
    aborted = asyncio.ensure_future(abort.wait())
    try:
        await asyncio.wait({call, aborted}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        aborted.cancel()
    if not call.done():
        call.cancel()
        return None
    return call
