"""The `qlik` action: start a task on a Qlik Sense site and follow it to its end.

1. `POST /qrs/task/{id}/start/synchronous` gives the execution session id (an empty GUID: the
   task did not start).
2. `GET /qrs/executionsession/{sid}` is polled with backoff until it answers 404 (the run has
   ended); every new `details[]` message is copied into our log as it appears.
3. `GET /qrs/executionresult/full?filter=executionID eq {sid}&orderby=startTime desc` gives the
   outcome: one result per remote attempt, the newest first.
4. The script log of the newest result is appended when the site has one.

No connection, timeouts and 5xx answers are tried again (and the connection remade) with
backoff for up to `unreachable_limit_seconds` in a row. Our abort or our timeout sends
`POST /qrs/task/{id}/stop` and follows the remote run until it ends, for `stop_wait_seconds`.
If this process stops while following, the remote run goes on; only our execution ends.

Here: the follow-until-done loop and what the execution keeps; the QRS calls themselves, and
their retries while the site is unreachable, are in qlik_calls.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field

from taskgate.domain.actions import ActionSpec
from taskgate.domain.errors import InvalidInput
from taskgate.domain.qrsenums import EXECUTION_RESULT_DETAIL_TYPE
from taskgate.domain.status import EndReason, Status
from taskgate.engine.actions.contract import ActionContext, ActionOutcome, ActionRunner, Resources
from taskgate.engine.actions.qlik_calls import RunFailed, SiteCalls
from taskgate.engine.actions.registry import register
from taskgate.engine.logcollector import LogCollector
from taskgate.qlik.client import QlikSites, QrsClient, Transient
from taskgate.qlik.settings import QlikSettings, QlikSiteSettings
from taskgate.qlik.status import outcome_of, remote_name

SCRIPT_LOG_MAX_CHARS = 512 * 1024

Interrupt = Literal["done", "abort", "timeout"]


class QlikAction(ActionSpec):
    """Start a task on a Qlik Sense site through its Repository Service, and follow it."""

    kind: Literal["qlik"] = "qlik"
    site: str = Field(..., min_length=1, description="Name of a site under `qlik.sites`.")
    task_id: uuid.UUID = Field(..., description="The task's id on the site (a GUID).")
    # Informational, filled by sync: which app the remote task reloads.
    app_id: str | None = None
    app_name: str | None = None


@dataclass(frozen=True)
class QlikOutcome:
    status: Status
    message: str
    result: dict[str, Any] | None


@dataclass
class _Seen:
    """What has been copied into the log already, so each message appears once."""

    details: set[tuple[str, str]] = field(default_factory=set)
    result_ids: list[str] = field(default_factory=list)
    last_error: str = ""


async def run_qlik(
    action: QlikAction,
    sites: QlikSites | None,
    *,
    timeout: float | None,
    abort: asyncio.Event,
    log: LogCollector,
) -> QlikOutcome:
    """Run `action` to its end and say how it ended; never raises for a failing remote run."""
    site = sites.site(action.site) if sites is not None else None
    if sites is None or site is None:
        message = f"no Qlik Sense site named {action.site!r} is configured (qlik.sites)"
        log.write(f"[taskgate] {message}\n")
        return QlikOutcome(Status.ERROR, message, None)
    return await _RemoteRun(sites.client(action.site), site, action, log).run(timeout, abort)


class _RemoteRun:
    def __init__(
        self, client: QrsClient, site: QlikSiteSettings, action: QlikAction, log: LogCollector
    ) -> None:
        self.site = site
        self.task_id = str(action.task_id)
        self.calls = SiteCalls(client, site, self.task_id, log)
        self.log = log
        self.seen = _Seen()
        self.session_id: str | None = None
        self.remote_status: int | None = None

    # -- the run -----------------------------------------------------------------------------
    async def run(self, timeout: float | None, abort: asyncio.Event) -> QlikOutcome:
        if abort.is_set():
            return QlikOutcome(Status.ABORTED, "aborted before start", None)
        deadline = None if timeout is None else time.monotonic() + timeout
        starting = asyncio.ensure_future(self.calls.start())
        try:
            interrupt = await _first(starting, abort, deadline)
            if interrupt != "done":
                starting.cancel()
                return self._interrupted_while_starting(interrupt, timeout)
            self.session_id = starting.result()
        except RunFailed as exc:
            return self._error(str(exc))
        finally:
            starting.cancel()
        following = asyncio.ensure_future(self._follow(self.session_id))
        try:
            interrupt = await _first(following, abort, deadline)
            if interrupt != "done":
                return await self._stop_and_follow(following, interrupt, timeout)
            return await self._ended(following.result(), stopped=None, timeout=timeout)
        except RunFailed as exc:
            return self._error(str(exc))
        finally:
            following.cancel()

    def _interrupted_while_starting(self, why: Interrupt, timeout: float | None) -> QlikOutcome:
        # The start request may have reached the site, but without its session id there is
        # nothing to stop or follow.
        note = f"while starting the task on site {self.site.name}"
        self.log.write(f"[taskgate] {why} {note}; a remote run, if it began, is not followed\n")
        if why == "abort":
            return QlikOutcome(Status.ABORTED, f"aborted {note}", self._result())
        return QlikOutcome(
            Status.ERROR, f"timed out after {timeout:g}s {note}", self._result(stopped="timeout")
        )

    async def _follow(self, session_id: str) -> list[dict[str, Any]]:
        """Poll the session until the site says it has ended; its results, newest first."""
        unchanged = 0  # polls since the run last showed something new
        while True:
            session = await self.calls.session(session_id)
            if session is None:
                break
            current = session.get("executionResult")
            changed = self._copy(current) if isinstance(current, dict) else False
            unchanged = 0 if changed else unchanged + 1
            await asyncio.sleep(self.calls.poll_delay(unchanged + 1))
        results = await self.calls.results(session_id)
        for result in reversed(results):
            self._copy(result)
        return results

    async def _stop_and_follow(
        self, following: asyncio.Future[list[dict[str, Any]]], why: Interrupt, timeout: float | None
    ) -> QlikOutcome:
        cause = "abort asked" if why == "abort" else f"timed out after {timeout:g}s"
        self.log.write(f"[taskgate] {cause}: stopping the run on site {self.site.name}\n")
        wait = self.site.stop_wait_seconds
        deadline = time.monotonic() + wait  # for the stop and the rest of the run together
        try:
            await asyncio.wait_for(self.calls.stop(wait), wait)
        except TimeoutError:
            self.log.write("[taskgate] the stop request did not get through\n")
        except RunFailed as exc:
            self.log.write(f"[taskgate] {exc}\n")
        status = Status.ABORTED if why == "abort" else Status.ERROR
        try:
            remaining = max(0.0, deadline - time.monotonic())
            results = await asyncio.wait_for(asyncio.shield(following), remaining)
        except RunFailed as exc:
            self.log.write(f"[taskgate] {exc}\n")
            return QlikOutcome(status, f"{cause}; {exc}", self._result(stopped=why))
        except TimeoutError:
            note = (
                f"{cause}; the run on site {self.site.name} had not ended {wait:g}s after the stop"
            )
            self.log.write(f"[taskgate] {note}\n")
            return QlikOutcome(status, note, self._result(stopped=why))
        return await self._ended(results, stopped=why, timeout=timeout)

    async def _ended(
        self, results: list[dict[str, Any]], *, stopped: Interrupt | None, timeout: float | None
    ) -> QlikOutcome:
        newest = results[0]
        code = newest.get("status")
        self.remote_status = code if isinstance(code, int) else None
        name = remote_name(self.remote_status)
        await self._script_log(newest)
        self.log.write(f"[taskgate] run ended on site {self.site.name}: {name}\n")
        status = outcome_of(self.remote_status)
        message = f"{name} on site {self.site.name}"
        if status is not Status.FINISHED_SUCCESS and self.seen.last_error:
            message += f": {self.seen.last_error}"
        if stopped == "timeout":
            return QlikOutcome(
                Status.ERROR,
                f"timed out after {timeout:g}s; the run on site {self.site.name} was stopped "
                f"({name})",
                self._result(stopped=stopped),
            )
        if stopped == "abort" and (status is Status.ERROR or self.remote_status == 6):
            status = Status.ABORTED
            message = f"aborted; the run on site {self.site.name} was stopped ({name})"
        return QlikOutcome(status, message, self._result(stopped=stopped))

    async def _script_log(self, result: dict[str, Any]) -> None:
        result_id = result.get("id")
        if not result_id or result.get("scriptLogAvailable") is False:
            self.log.write("[taskgate] no script log for this run\n")
            return
        try:
            text = await self.calls.script_log(str(result_id))
        except (Transient, RunFailed, ValueError) as exc:
            self.log.write(f"[taskgate] script log not available: {exc}\n")
            return
        if text is None:
            return
        self.log.write(f"[taskgate] script log ({len(text)} characters):\n")
        kept = text[:SCRIPT_LOG_MAX_CHARS].replace("\r\n", "\n")
        self.log.write(kept if kept.endswith("\n") else kept + "\n")
        if len(text) > SCRIPT_LOG_MAX_CHARS:
            self.log.write(f"[taskgate] script log cut at {SCRIPT_LOG_MAX_CHARS} characters\n")

    # -- copying the remote's messages --------------------------------------------------------
    def _copy(self, result: dict[str, Any]) -> bool:
        """Log the result's details not seen yet; True when there was something new."""
        result_id = str(result.get("id") or "")
        changed = False
        if result_id and result_id not in self.seen.result_ids:
            self.seen.result_ids.append(result_id)
            if len(self.seen.result_ids) > 1:
                self.log.write(
                    f"[taskgate] remote attempt {len(self.seen.result_ids)} "
                    f"(execution result {result_id})\n"
                )
            changed = True
        if isinstance(result.get("status"), int):
            self.remote_status = result["status"]
        details = result.get("details")
        if not isinstance(details, list):
            return changed
        for detail in sorted(
            (d for d in details if isinstance(d, dict)),
            key=lambda d: str(d.get("detailCreatedDate") or ""),
        ):
            at = str(detail.get("detailCreatedDate") or "")
            message = str(detail.get("message") or "")
            key = (result_id, str(detail.get("id") or f"{at} {message}"))
            if key in self.seen.details:
                continue
            self.seen.details.add(key)
            kind = EXECUTION_RESULT_DETAIL_TYPE.name_of(detail.get("detailsType", 2))
            if kind == "Error":
                self.seen.last_error = message
            prefix = f"{kind.lower()}: " if kind in ("Error", "Warning") else ""
            self.log.write(f"[{self.site.name} {at}] {prefix}{message}\n")
            changed = True
        return changed

    # -- what the execution keeps --------------------------------------------------------------
    def _result(self, stopped: Interrupt | None = None) -> dict[str, Any]:
        return {
            "site": self.site.name,
            "task_id": self.task_id,
            "session_id": self.session_id,
            "result_ids": list(self.seen.result_ids),
            "remote_status": self.remote_status,
            "remote_status_name": remote_name(self.remote_status),
            "stopped": stopped,
        }

    def _error(self, message: str) -> QlikOutcome:
        self.log.write(f"[taskgate] {message}\n")
        return QlikOutcome(Status.ERROR, message, self._result())


async def _first(
    work: asyncio.Future[Any], abort: asyncio.Event, deadline: float | None
) -> Interrupt:
    """Wait for `work`, an abort or the deadline, whichever comes first."""
    if work.done():
        return "done"
    waiter = asyncio.ensure_future(abort.wait())
    try:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        done, _ = await asyncio.wait(
            {work, waiter}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        waiter.cancel()
    if work in done:
        return "done"
    return "abort" if abort.is_set() else "timeout"


class QlikRunner(ActionRunner[QlikAction]):
    """Runs `qlik` actions on the sites this server is configured with."""

    def __init__(self, resources: Resources) -> None:
        self.settings = resources.get(QlikSettings) or QlikSettings()
        self.sites = resources.get(QlikSites)

    def check(self, spec: QlikAction) -> None:
        if self.settings.site(spec.site) is None:
            known = ", ".join(sorted(self.settings.names)) or "none"
            raise InvalidInput(
                f"no Qlik Sense site named {spec.site!r} is configured (qlik.sites: {known})",
                field="action.site",
            )

    async def run(self, spec: QlikAction, ctx: ActionContext) -> ActionOutcome:
        remote = await run_qlik(spec, self.sites, timeout=ctx.timeout, abort=ctx.abort, log=ctx.log)
        stopped = (remote.result or {}).get("stopped")
        reason = EndReason.TIMEOUT if stopped == "timeout" else None
        return ActionOutcome(remote.status, None, remote.message, remote.result, reason=reason)


register("qlik", QlikAction, QlikRunner)
