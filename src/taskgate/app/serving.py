"""`taskgate serve`: uvicorn on the app, with what a long-running server tunes once it is up."""

from __future__ import annotations

import gc
import logging
from typing import Any

import uvicorn
from fastapi import FastAPI

from taskgate.app.assembly import create_app
from taskgate.config import Settings
from taskgate.domain.errors import ConfigError
from taskgate.doors.proxies import forwarded_headers
from taskgate.doors.tls import uvicorn_tls


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
