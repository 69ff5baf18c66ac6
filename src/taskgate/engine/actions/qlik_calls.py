"""The QRS calls of one remote run: start the task, read its execution session and results,
stop it, fetch its script log. Each call is tried again (the connection remade) while the
site is unreachable, for up to `unreachable_limit_seconds` in a row; what the site answers
is checked here, and RunFailed says why the run cannot be followed further."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from taskgate.domain.backoff import backoff_delay
from taskgate.domain.qrsenums import EMPTY_GUID
from taskgate.engine.logcollector import LogCollector
from taskgate.qlik.client import QrsClient, Transient
from taskgate.qlik.settings import QlikSiteSettings

if TYPE_CHECKING:
    import httpx

RESULT_TRIES = 5  # the session is gone but its results are not there yet: ask a few times


class RunFailed(Exception):
    """The remote run cannot be started or followed any further; the message says why."""


class SiteCalls:
    """The calls about one task on one site, logged to the run's log."""

    def __init__(
        self, client: QrsClient, site: QlikSiteSettings, task_id: str, log: LogCollector
    ) -> None:
        self.client = client
        self.site = site
        self.task_id = task_id
        self.log = log
        self._down_since: float | None = None
        self._last_problem = ""

    def poll_delay(self, retry: int) -> float:
        return backoff_delay(
            retry, first=self.site.poll_min_seconds, longest=self.site.poll_max_seconds
        )

    async def start(self) -> str:
        """Start the task; its execution session id."""
        self.log.write(f"[taskgate] starting task {self.task_id} on site {self.site.name}\n")
        response = await self.call(
            "start the task", "POST", f"task/{self.task_id}/start/synchronous", resend=False
        )
        if response.status_code == 404:
            raise RunFailed(f"no such task on site {self.site.name}: {self.task_id}")
        if response.status_code not in (200, 201):
            raise RunFailed(
                f"site {self.site.name} refused to start task {self.task_id}: "
                f"HTTP {response.status_code} {response.text[:300]}"
            )
        session_id = str(json_object(response, "the start").get("value") or "")
        if not session_id or session_id == EMPTY_GUID:
            raise RunFailed(
                f"task {self.task_id} did not start on site {self.site.name} (empty session id: "
                "the task is disabled, no scheduler could take it, or its app is unavailable)"
            )
        self.log.write(f"[taskgate] started: execution session {session_id}\n")
        return session_id

    async def session(self, session_id: str) -> dict[str, Any] | None:
        """The execution session as the site shows it now; None once it has ended (404)."""
        response = await self.call("poll the run", "GET", f"executionsession/{session_id}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise RunFailed(
                f"site {self.site.name} answered HTTP {response.status_code} for execution "
                f"session {session_id}: {response.text[:300]}"
            )
        return json_object(response, "the execution session")

    async def results(self, session_id: str) -> list[dict[str, Any]]:
        """The ended session's results, one per remote attempt, the newest first."""
        params = {"filter": f"executionID eq {session_id}", "orderby": "startTime desc"}
        for _ in range(RESULT_TRIES):
            response = await self.call(
                "read the result", "GET", "executionresult/full", params=params
            )
            if response.status_code != 200:
                raise RunFailed(
                    f"site {self.site.name} answered HTTP {response.status_code} for the "
                    f"results of execution session {session_id}: {response.text[:300]}"
                )
            try:
                results = response.json()
            except ValueError as exc:
                raise RunFailed(f"the results: site {self.site.name} answered no JSON") from exc
            if isinstance(results, list) and results:
                return [r for r in results if isinstance(r, dict)]
            await asyncio.sleep(self.site.poll_min_seconds)
        raise RunFailed(f"site {self.site.name} has no execution result for session {session_id}")

    async def stop(self, limit: float) -> None:
        """Ask the site to stop the task, trying for up to `limit` seconds."""
        response = await self.call(
            "stop the task", "POST", f"task/{self.task_id}/stop", limit=limit
        )
        if response.status_code >= 400:
            raise RunFailed(
                f"site {self.site.name} refused the stop: HTTP {response.status_code} "
                f"{response.text[:300]}"
            )
        self.log.write(f"[taskgate] stop accepted by site {self.site.name}\n")

    async def script_log(self, result_id: str) -> str | None:
        """The script log of one result; None (and a line in the log) when there is none."""
        response = await self.client.call(
            "GET",
            f"reloadtask/{self.task_id}/scriptlogfile",
            params={"executionResultId": result_id},
        )
        if response.status_code != 200:
            self.log.write(
                f"[taskgate] no script log on site {self.site.name} "
                f"(HTTP {response.status_code} for the reference)\n"
            )
            return None
        reference = json_object(response, "the script log reference").get("value")
        if not reference:
            self.log.write(f"[taskgate] no script log on site {self.site.name}\n")
            return None
        response = await self.client.call("GET", f"download/reloadtask/{reference}/scriptlog.txt")
        if response.status_code != 200:
            self.log.write(
                f"[taskgate] no script log on site {self.site.name} "
                f"(HTTP {response.status_code} for the download)\n"
            )
            return None
        return response.text

    async def call(
        self,
        what: str,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        resend: bool = True,
        limit: float | None = None,
    ) -> httpx.Response:
        """One request, tried again while the site is unreachable, for up to the limit in a row.

        With `resend=False` a request is repeated only when it certainly did not arrive.
        """
        limit = self.site.unreachable_limit_seconds if limit is None else limit
        failures = 0
        while True:
            try:
                response = await self.client.call(method, path, params=params)
            except Transient as exc:
                now = time.monotonic()
                if self._down_since is None:
                    self._down_since = now
                problem = f"cannot {what} on site {self.site.name}: {exc}"
                if problem != self._last_problem:
                    self._last_problem = problem
                    self.log.write(f"[taskgate] {problem}; trying again\n")
                if exc.sent and not resend:
                    raise RunFailed(f"{problem} (not sent again: it may have arrived)") from exc
                if now - self._down_since >= limit:
                    raise RunFailed(
                        f"site {self.site.name} unreachable for more than {limit:g}s: {exc}"
                    ) from exc
                failures += 1
                await asyncio.sleep(self.poll_delay(failures))
                continue
            if self._down_since is not None:
                away = time.monotonic() - self._down_since
                self.log.write(
                    f"[taskgate] site {self.site.name} answers again after {away:.0f}s\n"
                )
                self._down_since = None
                self._last_problem = ""
            return response


def json_object(response: httpx.Response, what: str) -> dict[str, Any]:
    """The answer's JSON object; RunFailed naming `what` when it is none."""
    try:
        body = response.json()
    except ValueError as exc:
        raise RunFailed(f"{what}: the site answered something that is not JSON") from exc
    if not isinstance(body, dict):
        raise RunFailed(f"{what}: the site answered {type(body).__name__}, not an object")
    return body
