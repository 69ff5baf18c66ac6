"""Persists running executions' output in batches: one transaction for all of them per tick."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from taskgate.engine.logcollector import LogCollector
from taskgate.store import executions as rows
from taskgate.store.db import Database

log = logging.getLogger(__name__)
FLUSH_SECONDS = 0.2


@dataclass
class _Stream:
    collector: LogCollector
    next_offset: int


class LogWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._streams: dict[str, _Stream] = {}
        self._task: asyncio.Task[None] | None = None
        self._unsaved: list[dict[str, Any]] = []

    def open(self, execution_id: str, collector: LogCollector, base_offset: int) -> None:
        self._streams[execution_id] = _Stream(collector, base_offset)

    def close(self, execution_id: str) -> tuple[list[dict[str, Any]], int]:
        """Stop tracking; returns the chunks still to persist and the final log size."""
        stream = self._streams.pop(execution_id)
        stream.collector.close()
        chunks = self._take(execution_id, stream)
        return chunks, stream.next_offset

    def close_later(self, execution_id: str) -> None:
        """Stop tracking; what is left is saved by the next flush."""
        chunks, _ = self.close(execution_id)
        self._unsaved.extend(chunks)

    def _take(self, execution_id: str, stream: _Stream) -> list[dict[str, Any]]:
        data = stream.collector.take()
        if not data:
            return []
        chunk = {"execution_id": execution_id, "offset": stream.next_offset, "data": data}
        stream.next_offset += len(data)
        return [chunk]

    async def flush(self) -> None:
        chunks = self._unsaved + [
            c for eid, s in list(self._streams.items()) for c in self._take(eid, s)
        ]
        self._unsaved = []
        if not chunks:
            return
        try:
            await self.db.write(lambda conn: rows.append_logs(conn, chunks))
        except Exception:
            self._unsaved = chunks
            raise

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="taskgate-logwriter")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:
                log.exception("could not persist execution logs; will try again")
