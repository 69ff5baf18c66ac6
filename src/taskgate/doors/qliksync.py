"""Sync from Qlik Sense: a site's reload tasks become local `qlik` tasks, kept fresh.

For each site with `sync.enabled`, at start and every `interval_seconds`:
`GET /qrs/reloadtask/full` (with the site's filter) is turned into task specs under the
remote ids, and `TaskService.sync_from_outside` writes them (source `qlik`) and deletes the
site's earlier tasks that are gone. A site that cannot be reached keeps its last known tasks.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from taskgate.core.background import Periodic
from taskgate.core.clock import utcnow
from taskgate.core.tasks import TaskService
from taskgate.domain.executions import Caller
from taskgate.domain.tasks import Task, TaskSpec
from taskgate.engine.actions.qlik import QlikAction
from taskgate.qlik.client import QlikSites, Transient
from taskgate.qlik.settings import QlikSiteSettings

log = logging.getLogger(__name__)


class SyncFailed(Exception):
    pass


def task_spec(site: str, remote: dict[str, Any]) -> TaskSpec:
    """The local task for one remote reload task (QRS ReloadTask, full form)."""
    task_id = uuid.UUID(str(remote.get("id")))
    app: dict[str, Any] = remote.get("app") or {}
    properties: dict[str, list[str]] = {}
    for value in remote.get("customProperties") or []:
        definition = value.get("definition") or {}
        if definition.get("name") and value.get("value") is not None:
            properties.setdefault(str(definition["name"]), []).append(str(value["value"]))
    app_name = str(app["name"]) if app.get("name") else None
    return TaskSpec(
        id=task_id,
        name=str(remote.get("name") or f"Qlik Sense task {task_id}")[:200],
        description=f"Synced from Qlik Sense site {site}"
        + (f"; reloads app {app_name}" if app_name else ""),
        tags=[str(tag["name"]) for tag in remote.get("tags") or [] if tag.get("name")],
        properties=properties,
        enabled=bool(remote.get("enabled", True)),
        action=QlikAction(
            site=site,
            task_id=task_id,
            app_id=str(app["id"]) if app.get("id") else None,
            app_name=app_name,
        ),
    )


@dataclass
class SyncState:
    """The last sync of one site, for /readyz and the log."""

    at: str = ""
    ok: bool = False
    detail: str = "not synced yet"


class SiteSync:
    def __init__(self, sites: QlikSites, site: QlikSiteSettings, tasks: TaskService) -> None:
        self.sites = sites
        self.site = site
        self.tasks = tasks
        self.caller = Caller(f"qlik-sync:{site.name}", scope="config")
        self.state = SyncState()
        self._logged_ok = False
        self.periodic = Periodic(
            f"qlik sync {site.name}", site.sync.interval_seconds, self.run_once, at_start=True
        )

    async def run_once(self) -> None:
        try:
            remote = await self._fetch()
        except SyncFailed as exc:
            self._record(False, f"sync failed: {exc}; keeping the last known tasks")
            log.warning("qlik sync of site %s: %s", self.site.name, self.state.detail)
            return
        specs: list[TaskSpec] = []
        bad = 0
        for item in remote:
            try:
                specs.append(task_spec(self.site.name, item))
            except (ValueError, ValidationError, TypeError, AttributeError) as exc:
                bad += 1
                log.warning(
                    "qlik sync of site %s: task %r left out: %s",
                    self.site.name,
                    item.get("id") if isinstance(item, dict) else item,
                    exc,
                )
        report = await self.tasks.sync_from_outside("qlik", specs, self.caller, self.owns)
        detail = (
            f"synced {len(specs)} tasks ({report.created} new, {report.updated} changed, "
            f"{report.deleted} deleted)"
        )
        if bad:
            detail += f"; {bad} unusable left out"
        if report.skipped:
            detail += f"; {len(report.skipped)} skipped (their ids belong to other tasks)"
            log.warning(
                "qlik sync of site %s: ids held by tasks of another source, not synced: %s",
                self.site.name,
                ", ".join(report.skipped),
            )
        self._record(True, detail)
        if report.created or report.updated or report.deleted or not self._logged_ok:
            log.info("qlik sync of site %s: %s", self.site.name, detail)
        self._logged_ok = True

    def owns(self, task: Task) -> bool:
        """Whether `task` was synced from this site."""
        action = task.action
        return (
            task.source == "qlik"
            and isinstance(action, QlikAction)
            and action.site == self.site.name
        )

    def edit_lock(self, task: Task) -> str | None:
        """A task synced from this site is changed on the site: the next sync would undo an
        edit made here."""
        if not self.owns(task):
            return None
        return (
            f"task {task.key} is synced from Qlik Sense site {self.site.name!r}: "
            "change it on the site (the next sync brings it here)"
        )

    def _record(self, ok: bool, detail: str) -> None:
        if not ok:
            self._logged_ok = False
        self.state = SyncState(utcnow().isoformat(timespec="seconds"), ok, detail)

    async def _fetch(self) -> list[dict[str, Any]]:
        params = {"filter": self.site.sync.filter} if self.site.sync.filter else None
        try:
            response = await self.sites.client(self.site.name).call(
                "GET", "reloadtask/full", params=params
            )
        except Transient as exc:
            raise SyncFailed(str(exc)) from exc
        if response.status_code != 200:
            raise SyncFailed(f"HTTP {response.status_code}: {response.text[:300]}")
        try:
            body = response.json()
        except ValueError as exc:
            raise SyncFailed("the answer is not JSON") from exc
        if not isinstance(body, list):
            raise SyncFailed(f"expected a list of reload tasks, got {type(body).__name__}")
        return [item for item in body if isinstance(item, dict)]


class QlikSync:
    """The syncs of every site that asks for one."""

    def __init__(self, sites: QlikSites, tasks: TaskService) -> None:
        self.syncs = [
            SiteSync(sites, site, tasks) for site in sites.settings.sites if site.sync.enabled
        ]
        tasks.edit_locks.extend(sync.edit_lock for sync in self.syncs)

    def start(self) -> None:
        for sync in self.syncs:
            sync.periodic.start()

    async def stop(self) -> None:
        for sync in self.syncs:
            await sync.periodic.stop()

    def readiness(self) -> tuple[bool, str]:
        """Always ready (a site that is away must not take this server out of service)."""
        return True, "; ".join(
            f"{s.site.name}: {s.state.detail}" + (f" at {s.state.at}" if s.state.at else "")
            for s in self.syncs
        )
