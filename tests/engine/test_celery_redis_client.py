"""On a plain redis:// broker, taskgate's Celery app uses kombu's Redis transport with one
redis-py client per connection pool; every other broker URL keeps kombu's own transport
(rediss:// keeps the TLS defaults kombu gives it by name)."""

from __future__ import annotations

import pytest

from taskgate.engine.celeryexec.broker import celery_app
from taskgate.engine.celeryexec.redisclient import Transport, transport_for
from tests.celery_support import redis_url


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:guest@127.0.0.1:5672//",
        "rediss://127.0.0.1:6380/0",
        "sentinel://127.0.0.1:26379",
        "redis://127.0.0.1:6379/0;redis://127.0.0.1:6380/0",
    ],
)
def test_other_brokers_keep_kombus_transport(url: str) -> None:
    assert transport_for(url) is None


def test_one_client_per_pool_and_a_new_one_after_a_reconnect() -> None:
    app = celery_app(redis_url(), default_queue="unused")
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, Transport)
        channel = conn.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping()
        channel._disconnect_pools()  # what kombu does when the connection is lost
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.ping()
