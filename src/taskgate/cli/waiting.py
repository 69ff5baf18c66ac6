"""Waiting for executions to end, and showing their progress.

One thread follows the server's live event stream (`/api/v1/events`) and reads an execution
again when it ends. Against a server without the stream, a few worker threads each hold one
`/executions/{id}/wait` long-poll open at a time instead. The main thread only renders.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from rich.console import Console, RenderableType
from rich.text import Text

from taskgate.cli.live import LiveDisplay
from taskgate.cli.output import status_text, table
from taskgate.client import TaskgateAPIError, TaskgateClient, is_terminal

Execution = dict[str, Any]
# Up to this many executions are named in the stream's filter; more: filtered here.
MAX_FILTERED = 50


class Watcher:
    """Follows executions until each has ended or `timeout` seconds (None: no limit) passed."""

    def __init__(
        self,
        client: TaskgateClient,
        executions: list[Execution],
        timeout: float | None,
        *,
        slice_seconds: float = 3.0,
        workers: int = 8,
    ) -> None:
        self._client = client
        self._deadline = None if timeout is None else time.monotonic() + timeout
        self._slice = slice_seconds
        self._workers = workers
        self._lock = threading.Lock()
        self._latest: dict[str, Execution] = {e["id"]: dict(e) for e in executions}
        self._queue: queue.Queue[str] = queue.Queue()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._error: BaseException | None = None

    def snapshot(self) -> dict[str, Execution]:
        with self._lock:
            return dict(self._latest)

    def _pending(self) -> list[str]:
        with self._lock:
            return [i for i, e in self._latest.items() if not is_terminal(e.get("status"))]

    def refresh(self) -> None:
        """Read every execution that has not ended once more (after the time ran out)."""
        for execution_id in self._pending():
            answer = self._client.get_execution(execution_id)
            with self._lock:
                self._latest[execution_id] = answer

    def _left(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def run(self, on_change: Callable[[dict[str, Execution]], None]) -> bool:
        """Block until all ended (True) or the time is up (False); worker errors re-raise."""
        threading.Thread(target=self._follow_stream, daemon=True).start()
        try:
            while True:
                if self._error is not None:
                    raise self._error
                if not self._pending():
                    return True
                left = self._left()
                if left is not None and left <= 0:
                    return False
                self._changed.wait(0.5 if left is None else min(0.5, left))
                if self._changed.is_set():
                    self._changed.clear()
                    on_change(self.snapshot())
        finally:
            self._stop.set()

    def _follow_stream(self) -> None:
        ids = sorted(self._pending())
        try:
            for event in self._client.events(execution=ids if len(ids) <= MAX_FILTERED else ()):
                if self._stop.is_set():
                    return
                if event.type == "connected":
                    # Subscribed: read what changed before, then follow the events.
                    for execution_id in self._pending():
                        self._update(self._client.get_execution(execution_id))
                elif event.type == "execution" and event.data.get("execution_id") in self._latest:
                    self._on_event(event.data)
        except TaskgateAPIError as exc:
            if exc.status_code == 404 and not self._stop.is_set():
                self._poll_instead()  # a server from before the stream
                return
            self._fail(exc)
        except Exception as exc:
            self._fail(exc)

    def _on_event(self, data: dict[str, Any]) -> None:
        execution_id = data["execution_id"]
        if is_terminal(data.get("status")):
            # The execution's own record has its totals (duration over all attempts, result).
            self._update(self._client.get_execution(execution_id))
            return
        with self._lock:
            merged = {**self._latest[execution_id], "status": data.get("status")}
        self._update(merged)

    def _update(self, execution: Execution) -> None:
        with self._lock:
            self._latest[execution["id"]] = execution
        self._changed.set()

    def _fail(self, exc: Exception) -> None:
        if not self._stop.is_set():
            self._error = exc
            self._changed.set()

    def _poll_instead(self) -> None:
        pending = self._pending()
        for execution_id in pending:
            self._queue.put(execution_id)
        for _ in range(min(self._workers, len(pending))):
            threading.Thread(target=self._work, daemon=True).start()

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                execution_id = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            left = self._left()
            if left is not None and left <= 0:
                return
            wait = self._slice if left is None else min(self._slice, left)
            try:
                answer = self._client.wait_execution(execution_id, timeout=wait)
            except Exception as exc:
                self._fail(exc)
                return
            with self._lock:
                self._latest[execution_id] = answer
            self._changed.set()
            if not is_terminal(answer.get("status")):
                self._queue.put(execution_id)


class ProgressDisplay(LiveDisplay[dict[str, Execution]]):
    """A live spinner and status table on a terminal; one line per status change otherwise."""

    def __init__(self, console: Console, executions: list[Execution]) -> None:
        latest = {e["id"]: dict(e) for e in executions}
        super().__init__(console, latest, {i: e.get("status") for i, e in latest.items()})

    def changes(self, latest: dict[str, Execution]) -> Iterable[tuple[str, Any, Text]]:
        for execution_id, execution in latest.items():
            label = Text(f"{execution.get('task_name')} ")
            label.append(f"{execution_id}: ", style="dim")
            yield execution_id, execution.get("status"), label

    def headline(self, latest: dict[str, Execution], elapsed: int) -> str:
        running = sum(1 for e in latest.values() if not is_terminal(e.get("status")))
        return f"waiting for {running} of {len(latest)} execution(s), {elapsed} s"

    def body(self, latest: dict[str, Execution]) -> RenderableType:
        rows = [[e.get("task_name"), i, status_text(e.get("status"))] for i, e in latest.items()]
        return table(["task", "execution id", "status"], rows)
