"""The client's starts: tasks by selectors or by reference, ad-hoc phases, and a preview."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from taskgate.client.transport import JSON, Transport, check_wait, seconds, seg


class StartCalls(Transport):
    def start(
        self,
        selectors: Sequence[str],
        params: dict[str, Any] | None = None,
        wait: float = 0,
        all_must_exist: bool = False,
        idempotency_key: str | None = None,
        checks: dict[str, Any] | None = None,
        origin: str | None = None,
    ) -> JSON:
        """`POST /api/v1/start`: the start result (per selector, plus the executions).

        `wait` (0-3600 s) makes the server answer only once every execution has ended or the
        time passed (`timed_out`). To wait longer, use `wait_execution` on each execution.
        `checks`: checks for these runs instead of each task's (docs/checks.md). `origin`:
        `cli` when the start is made for the taskgate command line (default `api`).
        """
        check_wait(wait)
        body: dict[str, Any] = {
            "selectors": list(selectors),
            "params": params or {},
            "wait": seconds(wait),
            "all_must_exist": all_must_exist,
        }
        if checks is not None:
            body["checks"] = checks
        if origin is not None:
            body["origin"] = origin
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: JSON = self._request("POST", "/api/v1/start", json=body, headers=headers, wait=wait)
        return result

    def start_task(self, ref: str, params: dict[str, Any] | None = None, wait: float = 0) -> JSON:
        """`POST /api/v1/tasks/{ref}/start`: start one task by id or label."""
        check_wait(wait)
        body = {"params": params or {}, "wait": seconds(wait)}
        result: JSON = self._request(
            "POST", f"/api/v1/tasks/{seg(ref)}/start", json=body, wait=wait
        )
        return result

    def run_phases(
        self,
        phases: Sequence[Sequence[str] | Mapping[str, Any]],
        params: dict[str, Any] | None = None,
        wait: float = 0,
        *,
        on_failure: str = "stop",
        abort_siblings: bool = False,
        origin: str | None = None,
    ) -> JSON:
        """`POST /api/v1/workflows/run`: run phases of tasks as one workflow execution.

        Each phase is a list of selectors started together (or a phase object such as
        `{"members": [...], "max_parallel": 2}`); the next phase starts when every member of
        this one has ended. Answers the workflow's execution with its `phases` and `children`;
        with `wait` (0-3600 s), once it has ended or the time passed (`timed_out`).
        """
        check_wait(wait)
        body = {
            "phases": [p if isinstance(p, Mapping) else list(p) for p in phases],
            "params": params or {},
            "wait": seconds(wait),
            "on_failure": on_failure,
            "abort_siblings": abort_siblings,
        }
        if origin is not None:
            body["origin"] = origin
        result: JSON = self._request("POST", "/api/v1/workflows/run", json=body, wait=wait)
        return result

    def preview(self, selectors: Sequence[str]) -> JSON:
        """Which tasks the selectors name; starts nothing."""
        result: JSON = self._request("POST", "/api/v1/preview", json={"selectors": list(selectors)})
        return result
