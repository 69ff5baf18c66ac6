"""Assembly of `taskgate worker`: the core a run's end needs (end hooks: chain rules, workflow
phases; execution tokens), the worker executor on its own event loop thread, and the Celery
worker that feeds it. Imported only by `taskgate worker`: it imports Celery.

What a server does once per cluster with the events it makes, a worker does with its own:
it records their webhook deliveries (the API nodes send them) and, when MQTT is configured,
publishes their state events (docs/deploy.md, "Which part acts on another node's events").
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from taskgate import datadir
from taskgate.config import Settings
from taskgate.core.cluster import relay_for
from taskgate.core.services import Services
from taskgate.doors.webhooks.sender import WebhookSender
from taskgate.engine.celeryexec.broker import celery_app
from taskgate.engine.celeryexec.publisher import CeleryPublisher, Publishing
from taskgate.engine.celeryexec.worker import LoopThread, WorkerExecutor, register_run_task
from taskgate.engine.local import ExecutorLimits
from taskgate.runparts import run_parts

if TYPE_CHECKING:
    from taskgate.doors.mqtt.door import MqttDoor

log = logging.getLogger("taskgate.worker")
STOP_SECONDS = 30.0
EX_FAILURE = 1
RESTARTS = 5
RESTART_WINDOW = 60.0


@dataclass(frozen=True)
class WorkerOptions:
    routes: list[str]
    concurrency: int
    hostname: str


def publishing_of(settings: Settings, *, sweep: bool) -> Publishing:
    celery = settings.executor.celery
    return Publishing(
        queue=celery.queue,
        unclaimed_seconds=celery.unclaimed_seconds,
        lease_sweep_seconds=settings.executor.lease_seconds / 3,
        sweep=sweep,
        inspect_timeout=celery.inspect_timeout_seconds,
    )


def run_worker(settings: Settings, options: WorkerOptions) -> int:
    """Serve until stopped (SIGTERM / SIGINT: finish what runs, take nothing new); the exit
    code."""
    settings.check_executor()
    datadir.prepare(settings.data_dir)
    celery = settings.executor.celery
    app = celery_app(celery.broker_url, default_queue=celery.queue(None))
    loop = LoopThread()
    loop.start()
    built = run_parts(settings)
    db, ctx, qlik_sites = built.db, built.ctx, built.qlik_sites
    sequence_tasks, resources, actions = built.sequence_tasks, built.resources, built.actions
    # The core's services: a run's end fires their hooks (chain rules, the next phase of a
    # workflow) in its own transaction, exactly as on a server.
    services = Services.build(ctx, auth_none=False, check_action=actions.check)
    sequence_tasks.register(services.starts, services.executions)
    resources.provide(services.workflows)
    executor = WorkerExecutor(
        ctx,
        ExecutorLimits(
            slots=options.concurrency,
            log_max_bytes=settings.executor.log_max_bytes,
            kill_grace_seconds=settings.executor.kill_grace_seconds,
            lease_seconds=settings.executor.lease_seconds,
        ),
        settings.data_dir,
        settings.url,
        services.tokens,
        actions,
    )
    # What a run starts here (workflow members, chained runs) is published like any start.
    publisher = CeleryPublisher(ctx, app, publishing_of(settings, sweep=False))
    publisher.runs_here = executor.abort_local
    ctx.executor = publisher
    # The worker's events reach the API nodes' waiters and streams, and their aborts reach it
    # at once (docs/deploy.md, Several nodes).
    events = settings.cluster.events
    relay = relay_for(ctx, recheck_seconds=settings.cluster.recheck_seconds) if events else None
    webhooks = WebhookSender(
        services.webhooks, ctx.bus, settings.webhook_delivery.timeout_seconds, shared=True
    )
    mqtt = worker_mqtt(services, settings, options.hostname) if settings.mqtt.enabled else None

    async def start() -> None:
        await services.tokens.load()
        await services.webhooks.load()
        # Before anything publishes, and stopped after it: the last events go out too.
        if relay is not None:
            await relay.start()
        await webhooks.start(send=False)
        if mqtt is not None:
            await mqtt.start()
        await publisher.start()
        await executor.start()

    async def stop() -> None:
        await executor.stop()
        await webhooks.stop()
        if mqtt is not None:
            await mqtt.stop()
        if relay is not None:
            await relay.stop()
        await publisher.stop()
        await actions.aclose()
        if qlik_sites is not None:
            await qlik_sites.aclose()
        await db.close()

    loop.call(start())
    register_run_task(app, loop, executor)
    queues = [celery.queue(route) for route in options.routes]
    log.info(
        "taskgate worker %s: queues %s, concurrency %d, database %s",
        options.hostname,
        ", ".join(queues),
        options.concurrency,
        db.url.split("@")[-1],
    )
    try:
        exitcode = _serve_celery(app, options, queues)
    finally:
        # Runs still held after Celery's warm shutdown are ended (or retried) as on a server
        # that stops; bounded, so a broker or database that is away cannot hold the exit.
        loop.call(asyncio.wait_for(stop(), STOP_SECONDS))
        loop.stop()
    # Non-zero when Celery kept failing: a supervisor starts the process again.
    return exitcode


def worker_mqtt(services: Services, settings: Settings, hostname: str) -> MqttDoor:
    """The MQTT door of a worker: it publishes the state events of the worker's runs and
    takes no starts (the API nodes do), under a client id of its own (its Celery hostname,
    unique among workers that share a config file)."""
    from taskgate.doors.mqtt.door import MqttDoor  # paho: only when MQTT is configured

    mqtt = settings.mqtt
    own = mqtt.model_copy(
        update={
            "client_id": f"taskgate-worker-{hostname}",
            "start": mqtt.start.model_copy(update={"enabled": False}),
        }
    )
    return MqttDoor(services, own, settings.node_name)


def _serve_celery(app: Any, options: WorkerOptions, queues: list[str]) -> int:
    """Run Celery's worker; start it again when it stops on an error of its own.

    kombu's Redis transport can fail for good when the broker goes away while messages are
    unacknowledged ("Unrecoverable error" while restoring them); the runs on the event loop
    are not affected, so a new Celery worker in the same process takes over. Stopped on
    purpose (SIGTERM, --drain), or failing RESTARTS times within RESTART_WINDOW seconds, it
    returns Celery's exit code."""
    failures: list[float] = []
    while True:
        worker = app.Worker(
            hostname=options.hostname,
            queues=queues,
            concurrency=options.concurrency,
            pool="threads",
            loglevel="INFO",
            without_mingle=True,
            without_gossip=True,
            optimization="fair",
        )
        worker.start()
        exitcode = int(worker.exitcode or 0)
        if exitcode != EX_FAILURE or _shutdown_asked():
            return exitcode
        now = time.monotonic()
        failures = [t for t in failures if now - t < RESTART_WINDOW] + [now]
        if len(failures) > RESTARTS:
            return exitcode
        log.warning("Celery's worker stopped on an error; starting it again")
        time.sleep(1.0)


def drain_worker(settings: Settings, hostname: str) -> bool:
    from taskgate.engine.celeryexec.inspect import drain

    celery = settings.executor.celery
    return drain(celery_app(celery.broker_url, default_queue=celery.queue(None)), hostname)


def _shutdown_asked() -> bool:
    from celery.worker import state

    return state.should_stop not in (None, False) or state.should_terminate not in (None, False)
