"""What every command shares: the connection options, exit codes and error handling."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from enum import IntEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

if TYPE_CHECKING:
    from taskgate.client import TaskgateClient


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # a task failed, a selector named nothing, the server said no or was unreachable
    USAGE = 2  # the command line itself is wrong (also Typer's own usage errors)
    TIMEOUT = 3  # `start --wait --timeout` ran out before every execution ended


UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="TASKGATE_URL",
        help="Server URL (default http://127.0.0.1:8080).",
        show_default=False,
    ),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="TASKGATE_API_KEY",
        help="API key, sent as 'Authorization: Bearer'.",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the server's JSON instead of tables.")]
ParamOpt = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", help="A parameter NAME=VALUE (repeatable; sent as text)."),
]
ParamsJsonOpt = Annotated[
    str | None,
    typer.Option("--params-json", help="Parameters as a JSON object, or @FILE holding one."),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar="TASKGATE_CONFIG",
        help="Config file (YAML); built-in defaults without one.",
        show_default=False,
    ),
]


def kv_credential(api_key: str | None) -> str | None:
    """The API key if one is given, else the token of the execution this command runs in."""
    return api_key or os.environ.get("TASKGATE_TOKEN") or None


def fail(message: str, code: ExitCode = ExitCode.FAILED, field: str | None = None) -> NoReturn:
    from taskgate.cli.output import print_error  # Rich, only when there is something to say

    print_error(message, field)
    raise typer.Exit(int(code))


@contextmanager
def connect(
    url: str | None, api_key: str | None, config: Path | None = None
) -> Iterator[TaskgateClient]:
    """A client for one command; server errors become a red message and exit code 1. With no
    key given, the admin key of the server on this machine (cli/localkey.py), if it is the
    one this command talks to."""
    # Imported here: `taskgate serve` loads every command, and httpx costs it ~4.5 MiB at idle.
    from taskgate.cli.localkey import local_admin_key
    from taskgate.client import TaskgateAPIError, TaskgateClient, TaskgateConnectionError

    client = TaskgateClient(url, api_key or local_admin_key(url, config))
    try:
        with client:
            yield client
    except TaskgateAPIError as exc:
        fail(exc.message, field=exc.field)
    except TaskgateConnectionError as exc:
        fail(f"cannot reach taskgate at {exc.url} ({exc.reason})")
