"""The one Celery application both sides build: the same name, the same task, the same
delivery guarantees."""

from __future__ import annotations

from typing import Any

from celery import Celery

# The only message taskgate sends: "run this execution" (its id; the rest is in PostgreSQL).
RUN_TASK = "taskgate.run"


def celery_app(broker_url: str, *, default_queue: str) -> Any:
    app = Celery("taskgate", broker=broker_url, set_as_current=False)
    app.conf.update(
        # Acknowledged when the run has ended, and given back when the worker process dies:
        # a message is never lost with a worker. A duplicate is harmless: the claim drops it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message per free slot: what waits stays in the broker, where another worker
        # can take it, and where GET /api/v1/queues counts it.
        worker_prefetch_multiplier=1,
        task_default_queue=default_queue,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        broker_connection_retry_on_startup=True,
        # Sends fail fast when the broker is gone: the publisher retries them itself.
        broker_transport_options={"max_retries": 1, "interval_start": 0, "interval_step": 0.2},
        task_publish_retry=False,
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app
