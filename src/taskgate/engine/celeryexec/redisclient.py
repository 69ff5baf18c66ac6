"""kombu's Redis transport with one redis-py client per connection pool.

kombu builds a new `redis.Redis` for every publish batch, every unacknowledged message it
records and every ack: two or three per message on a worker. redis-py fills a table of some
150 response callbacks in each, which was 4 % of a worker's CPU (bench/README.md, celery18).
A client takes a connection from its pool for each command and gives it back, so one client
per pool serves every thread; a new pool (kombu makes one after a reconnect) gets a new client.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis


class Channel(redis.Channel):
    _shared_client: Any = None
    _shared_pool: Any = None

    def _create_client(self, asynchronous: bool = False) -> Any:
        if asynchronous:
            return super()._create_client(asynchronous=True)  # type: ignore[no-untyped-call]
        pool = self.pool
        if self._shared_pool is not pool:
            self._shared_client = super()._create_client()  # type: ignore[no-untyped-call]
            self._shared_pool = pool
        return self._shared_client


class Transport(redis.Transport):
    Channel = Channel


def transport_for(broker_url: str) -> type[Any] | None:
    """This transport for a plain `redis://` broker URL; None (kombu's choice) for anything
    else: other brokers, `rediss://` (kombu sets its TLS defaults by that name), sentinels, and
    several URLs (kombu's failover picks the transport by each URL's scheme)."""
    if broker_url.startswith("redis://") and ";" not in broker_url:
        return Transport
    return None
