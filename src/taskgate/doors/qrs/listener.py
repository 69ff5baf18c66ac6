"""The QRS door's own HTTPS port with mutual TLS, served beside the main port in-process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator, Sequence

import uvicorn
from starlette.types import ASGIApp

from taskgate.config.doors import QrsListenSettings
from taskgate.domain.errors import ConfigError
from taskgate.doors.proxies import forwarded_headers
from taskgate.doors.tls import uvicorn_tls

log = logging.getLogger(__name__)


class _EmbeddedServer(uvicorn.Server):
    # The main server owns the process's signals; this one stops when told to.
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class TlsListener:
    def __init__(
        self, app: ASGIApp, settings: QrsListenSettings, trusted_proxies: Sequence[str] = ()
    ) -> None:
        self.settings = settings
        tls = uvicorn_tls(
            "qrs.listen",
            ("cert", settings.cert),
            ("key", settings.key),
            ("client_ca", settings.client_ca),
        )
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            **tls,
            **forwarded_headers(trusted_proxies),
            lifespan="off",
            ws="none",  # no WebSockets here either; "auto" would import the websockets package
            log_level="warning",
            access_log=False,
        )
        self.server = _EmbeddedServer(config)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._serve(), name="qrs-tls-listener")
        while not self.server.started:
            if self._task.done():
                raise ConfigError(
                    f"qrs.listen: cannot serve on {self.settings.host}:{self.settings.port}"
                    " (port in use, or a certificate or key that does not load; see the log)",
                    field="qrs.listen",
                )
            await asyncio.sleep(0.01)  # uvicorn offers no startup event to wait on

    async def _serve(self) -> None:
        try:
            await self.server.serve()
        except (SystemExit, Exception):
            # uvicorn exits the process when it cannot bind; here that is a startup error.
            log.exception("the QRS HTTPS listener stopped")

    async def stop(self) -> None:
        if self._task is None:
            return
        self.server.should_exit = True
        with contextlib.suppress(Exception):
            await self._task
