"""A client of one Qlik Sense site's Repository Service (QRS).

Every request carries what QRS wants: a fresh Xrfkey (query parameter and `X-Qlik-Xrfkey`
header, the same 16 letters and digits), the `X-Qlik-User` to act as, and the client
certificate exported from the QMC. Failures worth trying again (no connection, timeouts, 5xx)
are raised as `Transient`; every other answer is returned as it came.
"""

from __future__ import annotations

import secrets
import ssl
import string
from typing import TYPE_CHECKING, Any

from taskgate.domain.errors import ConfigError
from taskgate.qlik.settings import QlikSettings, QlikSiteSettings

if TYPE_CHECKING:
    import httpx

XRFKEY_ALPHABET = string.ascii_letters + string.digits
# A 503 means the request was not processed: safe to send again even when it starts a task.
NOT_PROCESSED = frozenset({503})


class Transient(Exception):
    """The site could not be reached or failed to answer; trying again may work.

    `sent` is False when the request certainly did not reach the QRS (no connection, or 503):
    only then may a request that starts something be sent again.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.sent = sent


def new_xrfkey() -> str:
    return "".join(secrets.choice(XRFKEY_ALPHABET) for _ in range(16))


def qrs_path(site: QlikSiteSettings, path: str) -> str:
    """`task/x/start` -> `/qrs/task/x/start`, under the virtual proxy prefix if there is one."""
    prefix = f"/{site.virtual_proxy}" if site.virtual_proxy else ""
    return f"{prefix}/qrs/{path.lstrip('/')}"


def qrs_headers(site: QlikSiteSettings, xrfkey: str) -> dict[str, str]:
    return {
        "X-Qlik-Xrfkey": xrfkey,
        "X-Qlik-User": f"UserDirectory={site.user_directory}; UserId={site.user_id}",
        "Accept": "application/json",
    }


def tls_context(site: QlikSiteSettings, where: str) -> ssl.SSLContext:
    """The TLS settings of a site; a ConfigError naming the field when a file is unusable."""
    if site.verify:
        try:
            context = ssl.create_default_context(cafile=str(site.ca) if site.ca else None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"{where}.ca: cannot use {site.ca}: {exc}", field=f"{where}.ca"
            ) from exc
    else:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if site.client_cert is not None:
        key = str(site.client_key) if site.client_key else None
        try:
            context.load_cert_chain(str(site.client_cert), key)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"{where}.client_cert: cannot use {site.client_cert} / {site.client_key}: {exc}",
                field=f"{where}.client_cert",
            ) from exc
    return context


class QrsClient:
    def __init__(
        self,
        site: QlikSiteSettings,
        context: ssl.SSLContext,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        import httpx  # on first use: ~4.5 MiB that a server without Qlik calls does not need

        self.site = site
        self._http = httpx.AsyncClient(
            base_url=f"https://{_url_host(site.host)}:{site.port}",
            verify=context,
            timeout=httpx.Timeout(
                site.request_timeout_seconds, connect=site.connect_timeout_seconds
            ),
            transport=transport,
        )

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """One QRS request; raises Transient when it is worth trying again."""
        import httpx  # loaded by `__init__` already; named here for its error classes

        xrfkey = new_xrfkey()
        try:
            response = await self._http.request(
                method,
                qrs_path(self.site, path),
                params={**(params or {}), "Xrfkey": xrfkey},
                headers=qrs_headers(self.site, xrfkey),
                json=json,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise Transient(f"cannot connect: {_describe(exc)}", sent=False) from exc
        except httpx.TimeoutException as exc:
            raise Transient(
                f"no answer within {self.site.request_timeout_seconds:g}s", sent=True
            ) from exc
        except httpx.TransportError as exc:
            raise Transient(f"connection failed: {_describe(exc)}", sent=True) from exc
        if response.status_code >= 500:
            raise Transient(
                f"HTTP {response.status_code}: {response.text[:200]}",
                sent=response.status_code not in NOT_PROCESSED,
            )
        return response

    async def aclose(self) -> None:
        await self._http.aclose()


class QlikSites:
    """The configured sites, each with one client (and its connection pool), made when needed."""

    def __init__(
        self, settings: QlikSettings, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.transport = transport
        # Fail at start-up, naming the field, when a certificate or key cannot be used.
        self._contexts = {
            site.name: tls_context(site, f"qlik.sites.{index}")
            for index, site in enumerate(settings.sites)
        }
        self._clients: dict[str, QrsClient] = {}

    def site(self, name: str) -> QlikSiteSettings | None:
        return self.settings.site(name)

    def client(self, name: str) -> QrsClient:
        client = self._clients.get(name)
        if client is None:
            site = self.settings.site(name)
            if site is None:
                raise KeyError(name)
            client = self._clients[name] = QrsClient(site, self._contexts[name], self.transport)
        return client

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _describe(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
