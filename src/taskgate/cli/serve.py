"""`taskgate serve`: run the server."""

from __future__ import annotations

from typing import Annotated

import typer

from taskgate.cli.common import ConfigOpt, ExitCode, fail
from taskgate.domain.errors import ConfigError


def serve(
    config: ConfigOpt = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Listen on this address (overrides the config).")
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port", min=0, max=65535, help="Listen on this port (overrides the config)."
        ),
    ] = None,
) -> None:
    """Run the taskgate server (API, doors, scheduler and executor) until stopped.

    Exit code 2 when the config cannot be read or is invalid.
    """
    # Imported here, not at the top: the config pulls in the task and action models,
    # SQLAlchemy and pydantic-settings, which the other commands (and `--help`) never need.
    from taskgate.config import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        fail(exc.message, ExitCode.USAGE)
    if host is not None:
        settings.server.host = host
    if port is not None:
        settings.server.port = port

    from taskgate.app.serving import (
        serve as run_server,  # imported late: it pulls in the whole server
    )

    try:
        run_server(settings)
    except ConfigError as exc:  # found while assembling: a certificate that cannot be used
        fail(exc.message, ExitCode.USAGE)
