"""uvicorn's TLS options for a listener, checked before anything listens: a file that is
missing or does not load stops the start with a config error naming the setting (exit 2),
not with uvicorn's traceback."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from taskgate.domain.errors import ConfigError


def uvicorn_tls(
    where: str,
    certfile: tuple[str, Path],
    keyfile: tuple[str, Path],
    client_ca: tuple[str, Path | None],
) -> dict[str, Any]:
    """Each file as (its setting's name, its path); `where` is the section (`server.tls`)."""
    for name, path in (certfile, keyfile, client_ca):
        if path is not None and not path.is_file():
            raise ConfigError(f"{where}.{name}: no such file: {path}", field=f"{where}.{name}")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(certfile[1], keyfile[1])
    except (ssl.SSLError, OSError) as exc:
        raise ConfigError(
            f"{where}: the certificate {certfile[1]} and key {keyfile[1]} do not load: {exc}",
            field=f"{where}.{certfile[0]}",
        ) from exc
    options: dict[str, Any] = {"ssl_certfile": str(certfile[1]), "ssl_keyfile": str(keyfile[1])}
    if client_ca[1] is not None:
        try:
            context.load_verify_locations(client_ca[1])
        except (ssl.SSLError, OSError) as exc:
            raise ConfigError(
                f"{where}.{client_ca[0]}: {client_ca[1]} does not load: {exc}",
                field=f"{where}.{client_ca[0]}",
            ) from exc
        options |= {"ssl_ca_certs": str(client_ca[1]), "ssl_cert_reqs": ssl.CERT_REQUIRED}
    return options
