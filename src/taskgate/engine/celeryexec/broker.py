"""The one Celery application both sides build: the same name, the same task, the same
delivery guarantees."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.utils.uuid import uuid

from taskgate.engine.celeryexec.redisclient import transport_for

# The only message taskgate sends: "run this execution" (its id; the rest is in PostgreSQL).
RUN_TASK = "taskgate.run"


def celery_app(broker_url: str, *, default_queue: str) -> Any:
    app = Celery("taskgate", broker=broker_url, set_as_current=False)
    app.conf.update(
        broker_transport=transport_for(broker_url),
        # Acknowledged when the run has ended, and given back when the worker process dies:
        # a message is never lost with a worker. A duplicate is harmless: the claim drops it.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message per free slot: what waits stays in the broker, where another worker
        # can take it, and where GET /api/v1/queues counts it.
        worker_prefetch_multiplier=1,
        # After a reconnect Celery lowers the prefetch count and raises it again from each
        # ack's callback, which the thread pool runs in the run's own thread: that thread and
        # the consumer's then both send basic.qos on the one AMQP connection, take each other's
        # replies, and wait for good; the worker takes no message again. The full count at
        # once costs nothing here: a message beyond the pool's threads waits for one.
        worker_enable_prefetch_count_reduction=False,
        # A run goes on when the broker connection drops (Celery 6 means to flip this
        # default): the threads pool cannot stop a thread, the run's process is ours to end,
        # and the copy the broker gives back is dropped by the claim.
        worker_cancel_long_running_tasks_on_connection_loss=False,
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


class RunMessages:
    """Sends RUN_TASK messages exactly as `app.send_task` makes them, for less CPU: what is the
    same in every message (the route of each queue, the headers Celery's protocol wants) is
    made once, and only the ids and the argument change. `send_task` does it all again for
    each message, and it cost about as much CPU as publishing the message."""

    def __init__(self, app: Any) -> None:
        self._amqp = app.amqp
        self._router = app.amqp.router
        self._reply_to = app.thread_oid
        self._routes: dict[str, dict[str, Any]] = {}
        template = app.amqp.create_task_message(
            "", RUN_TASK, [""], None, reply_to=self._reply_to, ignore_result=None
        )
        self._kind = type(template)
        self._headers: dict[str, Any] = template.headers
        self._embed: dict[str, Any] = template.body[2]
        assert template.sent_event is None  # task_send_sent_event is off (celery_app)

    def send(self, producer: Any, execution_id: str, queue: str) -> None:
        """Publish, on `producer`, the message that runs `execution_id` from `queue`."""
        route = self._routes.get(queue)
        if route is None:
            route = self._routes[queue] = self._router.route({"queue": queue}, RUN_TASK)
        task_id = uuid()
        args = [execution_id]
        headers = {**self._headers, "id": task_id, "root_id": task_id, "argsrepr": repr(args)}
        properties = {"correlation_id": task_id, "reply_to": self._reply_to}
        message = self._kind(headers, properties, (args, {}, self._embed), None)
        self._amqp.send_task_message(producer, RUN_TASK, message, **route)
