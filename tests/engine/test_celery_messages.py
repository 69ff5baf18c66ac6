"""The message an API node sends for an execution is the one Celery's `send_task` makes: a
Celery worker (any version that reads protocol 2) takes it as it would take send_task's.
Both are sent to the shared Redis, or RabbitMQ, and read back from the queue."""

from __future__ import annotations

import json
import secrets
from typing import Any

import pytest

from taskgate.engine.celeryexec.broker import RUN_TASK, RunMessages, celery_app
from tests.celery_support import rabbitmq_url, redis_url

# Differ from one message to the next whoever builds it; AMQP repeats the headers among the
# properties (application_headers): they are compared as headers.
PER_MESSAGE = {
    "id",
    "root_id",
    "argsrepr",
    "correlation_id",
    "delivery_tag",
    "delivery_info",
    "application_headers",
}


def _read_all(app: Any, queue: str, count: int) -> list[dict[str, Any]]:
    got = []
    with app.connection_for_read() as conn, conn.SimpleQueue(queue, no_ack=True) as simple:
        for _ in range(count):
            message = simple.get(timeout=10)
            got.append(
                {
                    "headers": message.headers,
                    "properties": message.properties,
                    "delivery_info": message.delivery_info,
                    "content_type": message.content_type,
                    "body": json.loads(message.body),
                }
            )
    return got


def _same_parts(message: dict[str, Any]) -> dict[str, Any]:
    def keep(part: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in part.items() if k not in PER_MESSAGE}

    return {
        "headers": keep(message["headers"]),
        "properties": keep(message["properties"]),
        "delivery_info": keep(message["delivery_info"]),
        "content_type": message["content_type"],
    }


@pytest.mark.parametrize("broker", ["redis", "rabbitmq"])
def test_a_run_message_is_the_message_send_task_makes(broker: str) -> None:
    queue = f"t{secrets.token_hex(4)}.default"
    app = celery_app(redis_url() if broker == "redis" else rabbitmq_url(), default_queue=queue)
    messages = RunMessages(app)
    with app.producer_or_acquire() as producer:
        app.send_task(RUN_TASK, args=["execution-a"], queue=queue, producer=producer)
        messages.send(producer, "execution-b", queue)
    theirs, ours = _read_all(app, queue, 2)

    assert _same_parts(ours) == _same_parts(theirs)
    assert ours["body"] == [["execution-b"], {}, theirs["body"][2]]
    assert theirs["body"][0] == ["execution-a"]
    assert (ours["headers"]["argsrepr"], theirs["headers"]["argsrepr"]) == (
        "['execution-b']",
        "['execution-a']",
    )
    assert ours["headers"]["id"] == ours["headers"]["root_id"]
    assert ours["properties"]["correlation_id"] == ours["headers"]["id"]
    assert ours["headers"]["id"] != theirs["headers"]["id"]
