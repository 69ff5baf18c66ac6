"""The compatible doors that are switched on, the Celery executor's API side, and the guard
every listener's app gets."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from taskgate.config import Settings
from taskgate.core.services import Services
from taskgate.doors.doorkeys import DoorKeys
from taskgate.doors.hostnames import HostNames
from taskgate.doors.originguard import OriginGuard, Refusal
from taskgate.extras import extra_needed

if TYPE_CHECKING:
    from taskgate.doors.qrs.listener import TlsListener
    from taskgate.engine.celeryexec.publisher import CeleryPublisher


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
