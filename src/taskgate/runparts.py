"""What a server (app/assembly.py) and a Celery worker (workerapp.py) build alike before their own
parts: the database, the core's context, and the action catalog with the resources its
runners ask for."""

from __future__ import annotations

from dataclasses import dataclass

from taskgate.config import Settings
from taskgate.core.context import CoreContext
from taskgate.core.events import EventBus
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.actions.contract import Resources
from taskgate.engine.kvsource import run_values_source
from taskgate.engine.sequence_resume import SequenceTasks
from taskgate.qlik.client import QlikSites
from taskgate.store.db import Database


@dataclass(frozen=True)
class RunParts:
    db: Database
    ctx: CoreContext
    qlik_sites: QlikSites | None
    sequence_tasks: SequenceTasks
    resources: Resources
    actions: ActionCatalog


def run_parts(settings: Settings) -> RunParts:
    db = Database(settings.db_url)
    ctx = CoreContext(
        db=db, bus=EventBus(), node=settings.node_name, idempotency_hours=settings.idempotency_hours
    )
    qlik_sites = QlikSites(settings.qlik) if settings.qlik.sites else None
    sequence_tasks = SequenceTasks(ctx)
    resources = Resources(
        settings.qlik,
        settings.egress.rule(),
        run_values_source(db),
        sequence_tasks.contract(),
        *([qlik_sites] if qlik_sites else []),
    )
    return RunParts(db, ctx, qlik_sites, sequence_tasks, resources, ActionCatalog(resources))
