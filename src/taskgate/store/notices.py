"""PostgreSQL LISTEN/NOTIFY: short texts every server on one database sends the others.

Each server keeps two connections of its own beside the pool: one that only listens, and one
that sends. They are psycopg's asyncio connections, not the pool's: the listener waits on its
socket for as long as the server runs, and a batch of notifications is one round trip from
the event loop, with no thread hop.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable

import psycopg
from sqlalchemy.engine import make_url

from taskgate.domain.backoff import backoff_delay, jittered

log = logging.getLogger(__name__)

CHANNEL = "taskgate_events"
# PostgreSQL refuses a payload of 8000 bytes or more.
MAX_PAYLOAD_BYTES = 7999
# One statement sends a batch, in order; PostgreSQL delivers notifications in the order they
# were sent, and folds identical payloads of one transaction into one (ours never repeat). The
# batch goes as one JSON array of the payloads (each a JSON object): a tenth of the client's
# CPU of a text[] parameter, which psycopg adapts element by element.
_SEND = "SELECT pg_notify(%s, payload::text) FROM json_array_elements(%s::json) AS payload"


def libpq_url(url: str) -> str:
    """The database URL as libpq takes it (SQLAlchemy's names the driver)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def application_name(role: str, instance: str) -> str:
    """How the connection shows in pg_stat_activity (PostgreSQL keeps 63 bytes of it)."""
    return f"taskgate-{role}/{instance}"[:63]


async def _connect(url: str, name: str) -> psycopg.AsyncConnection[tuple[object, ...]]:
    return await psycopg.AsyncConnection.connect(
        url,
        autocommit=True,
        application_name=name,
        # A dead network is noticed within about idle + interval x count seconds, not at
        # the kernel's two hours.
        keepalives=1,
        keepalives_idle=10,
        keepalives_interval=5,
        keepalives_count=3,
    )


class NoticeSender:
    """Sends batches of payloads on its own connection, made again after a failure."""

    def __init__(self, url: str, instance: str) -> None:
        self._url = libpq_url(url)
        self._name = application_name("notify", instance)
        self._conn: psycopg.AsyncConnection[tuple[object, ...]] | None = None

    async def send(self, payloads: list[str]) -> None:
        """Send these payloads, each a JSON object's text, in this order."""
        if self._conn is None or self._conn.closed:
            self._conn = await _connect(self._url, self._name)
        try:
            await self._conn.execute(_SEND, (CHANNEL, f"[{','.join(payloads)}]"))
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()


Connected = Callable[[bool], Awaitable[None]]
Lost = Callable[[str], None]
Deliver = Callable[[str], Awaitable[None]]


class NoticeListener:
    """Listens on its own connection and hands every payload over, in the order PostgreSQL
    delivers them; connects again (with backoff) whenever the connection is lost."""

    def __init__(
        self,
        url: str,
        instance: str,
        *,
        first_wait: float = 0.05,
        longest_wait: float = 2.0,
    ) -> None:
        self._url = libpq_url(url)
        self.name = application_name("listen", instance)
        self.first_wait = first_wait
        self.longest_wait = longest_wait

    async def run(self, connected: Connected, lost: Lost, deliver: Deliver) -> None:
        """Forever: connect, LISTEN, then `connected(again)` (True after a loss: what was sent
        in between is gone), then `deliver` each payload; `lost(why)` when it breaks."""
        again = False
        failures = 0
        while True:
            try:
                async with await _connect(self._url, self.name) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    failures = 0
                    # Listening before catching up: nothing sent from here on can slip between.
                    await connected(again)
                    again = True
                    async for notice in conn.notifies():
                        await deliver(notice.payload)
                lost("the listening connection ended")
            except (psycopg.Error, OSError) as exc:
                lost(f"{type(exc).__name__}: {exc}".strip())
            except Exception as exc:
                # Not the connection's fault (a receiver's bug): log it, and listen on.
                log.exception("event notifications: %s", exc)
                lost(f"{type(exc).__name__}: {exc}".strip())
            failures += 1
            delay = backoff_delay(failures, first=self.first_wait, longest=self.longest_wait)
            await asyncio.sleep(jittered(delay, random.random()))
