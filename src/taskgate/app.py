"""Assembly: builds the parts from the settings, wires them, and serves them."""

from __future__ import annotations

import gc
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from taskgate import datadir
from taskgate.config import Settings
from taskgate.core.authfailures import FailedAuthentications
from taskgate.core.checks.watch import CheckWatch
from taskgate.core.housekeeping import housekeeping, kv_sweeper
from taskgate.core.memory import memory_trimmer
from taskgate.core.retention import Retention
from taskgate.core.services import Services
from taskgate.core.starts.bound import QueueBound
from taskgate.domain.chains import ChainSpec
from taskgate.domain.configids import CONFIG_NAMESPACE, config_schedule_id
from taskgate.domain.errors import ConfigError
from taskgate.domain.executions import Caller
from taskgate.domain.tasks import TaskSpec
from taskgate.domain.webhooks import DeliveryRetryPolicy, WebhookSpec
from taskgate.doors.api.app import create_api
from taskgate.doors.api.errors import refusal_body as api_refusal
from taskgate.doors.doorkeys import DoorKeys
from taskgate.doors.hostnames import HostNames
from taskgate.doors.originguard import OriginGuard, Refusal
from taskgate.doors.proxies import forwarded_headers
from taskgate.doors.qliksync import QlikSync
from taskgate.doors.tls import uvicorn_tls
from taskgate.doors.web.install import install_web
from taskgate.doors.webhooks.sender import WebhookSender
from taskgate.engine.local import ExecutorLimits, LocalExecutor
from taskgate.engine.runfiles import run_files_remover
from taskgate.exposure import door_lines
from taskgate.extras import extra_needed
from taskgate.runparts import run_parts
from taskgate.schedules.loop import SchedulerLoop
from taskgate.schedules.spec import ScheduleSpec

if TYPE_CHECKING:
    from taskgate.core.cluster import EventRelay
    from taskgate.doors.mqtt.door import MqttDoor
    from taskgate.doors.qrs.listener import TlsListener
    from taskgate.engine.celeryexec.publisher import CeleryPublisher

log = logging.getLogger("taskgate")
CONFIG_CALLER = Caller("config", scope="config")


def config_task_specs(settings: Settings) -> list[TaskSpec]:
    return [
        spec
        if spec.id
        else spec.model_copy(update={"id": uuid.uuid5(CONFIG_NAMESPACE, spec.label or spec.name)})
        for spec in (task.task_spec() for task in settings.tasks)
    ]


def config_schedule_specs(settings: Settings) -> list[tuple[str, ScheduleSpec]]:
    """(task id, schedule) for every schedule declared inside a config task, with stable ids."""
    declared: list[tuple[str, ScheduleSpec]] = []
    for task, spec in zip(settings.tasks, config_task_specs(settings), strict=True):
        task_id = str(spec.id)
        for index, schedule in enumerate(task.schedules):
            schedule_id = schedule.id or config_schedule_id(task_id, schedule.name, index)
            fields = schedule.model_dump(exclude={"id", "task"})
            declared.append(
                (
                    task_id,
                    ScheduleSpec.model_validate({**fields, "id": schedule_id, "task": task_id}),
                )
            )
    return declared


def config_webhook_specs(settings: Settings) -> list[WebhookSpec]:
    """The config's webhooks, each with a stable id (derived from its name or URL)."""
    return [
        spec
        if spec.id
        else spec.model_copy(
            update={"id": str(uuid.uuid5(CONFIG_NAMESPACE, f"webhook:{spec.name or spec.url}"))}
        )
        for spec in settings.webhooks
    ]


def config_chain_specs(settings: Settings) -> list[ChainSpec]:
    """The config's chain rules, each with a stable id (from its name, else its place)."""
    return [
        spec
        if spec.id
        else spec.model_copy(
            update={"id": str(uuid.uuid5(CONFIG_NAMESPACE, f"chain:{spec.name or index}"))}
        )
        for index, spec in enumerate(settings.chains)
    ]


def webhook_policy(settings: Settings) -> DeliveryRetryPolicy:
    delivery = settings.webhook_delivery
    return DeliveryRetryPolicy(
        delivery.first_retry_seconds, delivery.longest_retry_seconds, delivery.max_attempts
    )


def guard(app: Starlette, settings: Settings, refusal: Refusal, doors: dict[str, Refusal]) -> None:
    """What every listener's app gets: CORS only when the config names origins, and outermost
    the check that a request is meant for this server and not sent by another site's page."""
    origins = settings.server.cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware, allow_origins=origins, allow_methods=["*"], allow_headers=["*"]
        )
    app.add_middleware(
        OriginGuard,
        names=HostNames(settings.host_names, origins),
        refusal=refusal,
        door_refusals=doors,
    )


def celery_publisher(services: Services, settings: Settings) -> CeleryPublisher:
    """The Celery executor's API side; Celery is imported only when the config asks for it."""
    with extra_needed("celery", "celery", field="executor.kind", what="the Celery executor"):
        from taskgate.engine.celeryexec.broker import celery_app
        from taskgate.engine.celeryexec.publisher import CeleryInspector, CeleryPublisher
        from taskgate.workerapp import publishing_of

    celery = settings.executor.celery
    app = celery_app(celery.broker_url, default_queue=celery.queue(None))
    setup = publishing_of(settings, sweep=True)
    services.queues.inspector = CeleryInspector(app, setup)
    return CeleryPublisher(services.ctx, app, setup)


def mount_doors(
    settings: Settings, services: Services
) -> tuple[dict[str, ASGIApp], dict[str, Refusal], TlsListener | None]:
    """The compatible doors that are switched on, by prefix, with their refusals and the QRS
    door's own TLS listener. A door that is off is never imported (idle memory: each costs
    0.4-1.5 MiB; tests/test_lean_imports.py)."""
    doors: dict[str, ASGIApp] = {}
    refusals: dict[str, Refusal] = {}
    if settings.butler.enabled:
        from taskgate.doors.butler.app import PREFIX as BUTLER_PREFIX
        from taskgate.doors.butler.app import create_butler_app
        from taskgate.doors.butler.wire import refusal_body as butler_refusal

        doors[BUTLER_PREFIX] = create_butler_app(
            services, settings.butler, settings.server.max_body_bytes
        )
        refusals[BUTLER_PREFIX] = butler_refusal
    if settings.jaseci.enabled:
        from taskgate.doors.jaseci.app import PREFIX as JASECI_PREFIX
        from taskgate.doors.jaseci.app import PUBLIC_PREFIX as JASECI_PUBLIC_PREFIX
        from taskgate.doors.jaseci.app import create_jaseci_app
        from taskgate.doors.jaseci.app import refusal_body as jaseci_refusal

        doors[JASECI_PREFIX] = create_jaseci_app(
            services, settings.jaseci, settings.server.max_body_bytes
        )
        doors[JASECI_PUBLIC_PREFIX] = create_jaseci_app(
            services, settings.jaseci, settings.server.max_body_bytes, public=True
        )
        refusals[JASECI_PREFIX] = refusals[JASECI_PUBLIC_PREFIX] = jaseci_refusal
    qrs_listener = None
    if settings.qrs.enabled:
        from taskgate.doors.qrs.app import PREFIX as QRS_PREFIX
        from taskgate.doors.qrs.app import create_qrs_app
        from taskgate.doors.qrs.listener import TlsListener
        from taskgate.doors.qrs.wire import refusal_body as qrs_refusal

        doors[QRS_PREFIX] = create_qrs_app(
            services,
            allow_from=settings.qrs.allow_from,
            keys=DoorKeys(
                services.access,
                "qrs",
                require_api_key=settings.qrs.require_api_key,
                open_to=settings.qrs.open_to,
            ),
            max_body_bytes=settings.server.max_body_bytes,
            result_history=settings.qrs.result_history,
        )
        refusals[QRS_PREFIX] = qrs_refusal
        if settings.qrs.listen is not None:
            # Its own app, mounted at /qrs as on Qlik Sense's port 4242; the TLS handshake has
            # checked the client, so every peer that completes it is let in.
            tls_app = Starlette()
            tls_app.mount(
                QRS_PREFIX,
                create_qrs_app(
                    services,
                    allow_from=None,
                    keys=None,
                    max_body_bytes=settings.server.max_body_bytes,
                    result_history=settings.qrs.result_history,
                ),
            )
            guard(tls_app, settings, qrs_refusal, {})
            qrs_listener = TlsListener(
                tls_app, settings.qrs.listen, settings.server.trusted_proxies
            )
    return doors, refusals, qrs_listener


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


class _AfterConfigError(logging.Filter):
    """Drops uvicorn's traceback and "startup failed" lines once a ConfigError is kept."""

    def __init__(self, app: FastAPI) -> None:
        super().__init__()
        self.app = app

    def filter(self, record: logging.LogRecord) -> bool:
        kept = getattr(self.app.state, "startup_config_error", None)
        return kept is None or record.levelno < logging.ERROR


# Collections of the youngest generation (default: every 700 new container objects, which one
# start makes several times over) and how many of them go before an older one is collected.
GC_THRESHOLDS = (20_000, 20, 10)


def tune_gc_for_serving() -> None:
    """Once the server is up: what it built to start (modules, models, the app) is kept out of
    every later collection (`gc.freeze`), and the youngest generation is collected less often.
    Under load the default settings spent about 0.14 ms of CPU per run collecting, most of it
    walking the long-lived objects again in full collections.

    Only the young generations are collected before the freeze: a full collection here cost
    0.09-0.35 s of CPU per start and found nothing to free (start-up's garbage is collected
    as it goes), while the young ones, where the last steps' garbage would be, cost < 1 ms."""
    gc.collect(1)
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def serve(settings: Settings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    tls = settings.server.tls
    https = (
        uvicorn_tls(
            "server.tls",
            ("certfile", tls.certfile),
            ("keyfile", tls.keyfile),
            ("client_ca", tls.client_ca),
        )
        if tls is not None
        else {}
    )
    app = create_app(settings, on_ready=tune_gc_for_serving)
    logging.getLogger("uvicorn.error").addFilter(_AfterConfigError(app))
    try:
        _run_uvicorn(app, settings, https)
    except SystemExit:
        kept = getattr(app.state, "startup_config_error", None)
        if isinstance(kept, ConfigError):
            raise kept from None
        raise


def _run_uvicorn(app: FastAPI, settings: Settings, https: dict[str, Any]) -> None:
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        # uvloop spawns processes with fork(), which copies the server's page tables: several
        # milliseconds per start. asyncio's spawn uses vfork.
        loop="asyncio",
        # taskgate serves no WebSockets; "auto" would import the websockets package (idle memory).
        ws="none",
        **forwarded_headers(settings.server.trusted_proxies),
        **https,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=10,
    )
