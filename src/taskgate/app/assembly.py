"""The server's app: builds the parts from the settings, wires them, and starts and stops
them in order."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from taskgate import datadir
from taskgate.app.configspecs import (
    config_chain_specs,
    config_schedule_specs,
    config_task_specs,
    config_webhook_specs,
    webhook_policy,
)
from taskgate.app.mounting import celery_publisher, guard, mount_doors
from taskgate.config import Settings
from taskgate.core.authfailures import FailedAuthentications
from taskgate.core.checks.watch import CheckWatch
from taskgate.core.housekeeping import housekeeping, kv_sweeper
from taskgate.core.memory import memory_trimmer
from taskgate.core.retention import Retention
from taskgate.core.services import Services
from taskgate.core.starts.bound import QueueBound
from taskgate.domain.errors import ConfigError
from taskgate.domain.executions import Caller
from taskgate.doors.api.app import create_api
from taskgate.doors.api.errors import refusal_body as api_refusal
from taskgate.doors.qliksync import QlikSync
from taskgate.doors.web.install import install_web
from taskgate.doors.webhooks.sender import WebhookSender
from taskgate.engine.local import ExecutorLimits, LocalExecutor
from taskgate.engine.runfiles import run_files_remover
from taskgate.exposure import door_lines
from taskgate.extras import extra_needed
from taskgate.runparts import run_parts
from taskgate.schedules.loop import SchedulerLoop

if TYPE_CHECKING:
    from taskgate.core.cluster import EventRelay
    from taskgate.doors.mqtt.door import MqttDoor
    from taskgate.engine.celeryexec.publisher import CeleryPublisher

log = logging.getLogger("taskgate")
CONFIG_CALLER = Caller("config", scope="config")


def create_app(settings: Settings, *, on_ready: Callable[[], None] | None = None) -> FastAPI:
    settings.check_exposure()
    settings.check_executor()
    datadir.prepare(settings.data_dir)
    built = run_parts(settings)
    db, ctx, qlik_sites = built.db, built.ctx, built.qlik_sites
    sequence_tasks, resources, actions = built.sequence_tasks, built.resources, built.actions
    services = Services.build(
        ctx,
        auth_none=settings.auth == "none",
        kv_limits=settings.kv.limits(),
        webhook_policy=webhook_policy(settings),
        check_action=actions.check,
        auth_failures=FailedAuthentications(
            settings.server.failed_auth_burst, settings.server.failed_auth_window_seconds
        ),
        queue_bound=QueueBound(settings.executor.max_queued, settings.executor.retry_after_seconds),
    )
    sequence_tasks.register(services.starts, services.executions)
    resources.provide(services.workflows)  # the workflow action's runner asks for it
    executor: LocalExecutor | CeleryPublisher
    if settings.executor.kind == "celery":
        executor = celery_publisher(services, settings)
    else:
        executor = LocalExecutor(
            ctx,
            ExecutorLimits(
                slots=settings.executor.slots,
                log_max_bytes=settings.executor.log_max_bytes,
                kill_grace_seconds=settings.executor.kill_grace_seconds,
                lease_seconds=settings.executor.lease_seconds,
            ),
            settings.data_dir,
            settings.url,
            services.tokens,
            actions,
        )
    ctx.executor = executor
    relay: EventRelay | None = None
    if not db.is_sqlite and settings.cluster.events:
        # Imported here: psycopg is there only with PostgreSQL (the postgres extra).
        from taskgate.core.cluster import relay_for

        relay = relay_for(ctx, recheck_seconds=settings.cluster.recheck_seconds)
        services.connections["cluster_events"] = relay.state
    retention = Retention(
        db,
        settings.retention.policy(settings.scheduler.history_days),
        run_files_remover(settings.data_dir),
    )
    cleanup = housekeeping(ctx, retention, settings.retention.every_seconds)
    check_watch = CheckWatch(ctx)
    webhook_sender = WebhookSender(
        services.webhooks,
        ctx.bus,
        settings.webhook_delivery.timeout_seconds,
        shared=not db.is_sqlite,
    )
    kv_sweep = kv_sweeper(services.kv, settings.kv.sweep_seconds)
    memory_trim = memory_trimmer()
    doors, door_refusals, qrs_listener = mount_doors(settings, services)
    scheduler = SchedulerLoop(
        services.schedules, recheck_seconds=settings.scheduler.recheck_seconds
    )

    qlik_sync = QlikSync(qlik_sites, services.tasks) if qlik_sites is not None else None
    if qlik_sync is not None and qlik_sync.syncs:
        services.readiness["qlik"] = qlik_sync.readiness

    mqtt: MqttDoor | None = None
    if settings.mqtt.enabled:
        # Imported only when MQTT is configured: paho costs ~0.9 MiB of idle memory otherwise.
        with extra_needed("paho", "mqtt", field="mqtt.enabled", what="the MQTT door"):
            from taskgate.doors.mqtt.door import MqttDoor

        mqtt = MqttDoor(services, settings.mqtt, settings.node_name)
        mqtt.register(services)

    def keep_admin_key(secret: str) -> str:
        return str(datadir.write_admin_key(settings.data_dir, secret))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        # Each part is stopped by the stack, in the reverse order of starting: a part that
        # fails to start unwinds the ones started before it, and no part outlives the server.
        async with AsyncExitStack() as parts:
            parts.push_async_callback(db.close)
            parts.enter_context(db.owned())
            db.checkpoint_in_background()
            for problem in datadir.too_open(settings.data_dir, db.file):
                log.warning("%s", problem)
            async with db.starting_alone():
                await db.migrate()
                await services.tokens.load()
                await services.access.check_startup(settings.url, keep_admin_key)
                await services.tasks.sync_from_config(config_task_specs(settings), CONFIG_CALLER)
                await services.schedules.sync_from_config(
                    config_schedule_specs(settings), CONFIG_CALLER
                )
                await services.webhooks.sync_from_config(
                    config_webhook_specs(settings), CONFIG_CALLER
                )
                await services.chains.sync_from_config(config_chain_specs(settings), CONFIG_CALLER)
            if relay is not None:
                # Before anything publishes, and stopped after it: the last events go out too.
                await relay.start()
                parts.push_async_callback(relay.stop)
            await webhook_sender.start()
            parts.push_async_callback(webhook_sender.stop)
            if qlik_sites is not None:
                parts.push_async_callback(qlik_sites.aclose)
            parts.push_async_callback(actions.aclose)
            await executor.start()
            parts.push_async_callback(executor.stop)
            check_watch.start()
            parts.push_async_callback(check_watch.stop)
            services.chains.start()
            parts.push_async_callback(services.chains.stop)
            if qlik_sync is not None:
                qlik_sync.start()
                parts.push_async_callback(qlik_sync.stop)
            for periodic in (kv_sweep, cleanup, memory_trim):
                periodic.start()
                parts.push_async_callback(periodic.stop)
            if mqtt is not None:
                await mqtt.start()
                parts.push_async_callback(mqtt.stop)
            if settings.scheduler.enabled:
                scheduler.start()
                parts.push_async_callback(scheduler.stop)
            if qrs_listener is not None:
                await qrs_listener.start()
                parts.push_async_callback(qrs_listener.stop)
            for line in door_lines(settings):
                log.info("%s", line)
            log.info(
                "taskgate ready on %s (node %s, database %s)",
                settings.url,
                settings.node_name,
                db.url.split("@")[-1],
            )
            if on_ready is not None:
                on_ready()
            yield

    app = create_api(
        services,
        max_body_bytes=settings.server.max_body_bytes,
        lifespan=_reporting_config_errors(lifespan),
        doors=doors,
        api_docs=settings.server.api_docs,
    )
    install_web(
        app,
        services,
        api_docs=settings.server.api_docs,
        dashboard=settings.dashboard.enabled,
        session_hours=settings.dashboard.session_hours,
    )
    guard(app, settings, api_refusal, door_refusals)
    return app


def _reporting_config_errors(
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]],
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """A ConfigError while starting (a chain rule naming no task, the SQLite file of another
    server) is kept on the app, for `serve` to say in one line and exit 2, as for errors found
    when the file is read."""

    @asynccontextmanager
    async def reporting(app: FastAPI) -> AsyncIterator[None]:
        started = False
        try:
            async with lifespan(app):
                started = True
                yield
        except ConfigError as exc:
            if not started:
                app.state.startup_config_error = exc
            raise

    return reporting
