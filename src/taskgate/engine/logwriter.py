"""Persists running executions' output in batches: one transaction for all of them per tick."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from taskgate.core.background import Periodic
from taskgate.engine.logcollector import LogCollector
from taskgate.store import executions as rows
from taskgate.store.db import Database

FLUSH_SECONDS = 0.2


@dataclass
class _Stream:
    collector: LogCollector
    next_offset: int


class LogWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._streams: dict[str, _Stream] = {}
        self._periodic = Periodic("log writer", FLUSH_SECONDS, self.flush, at_start=False)
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
        self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        await self.flush()
