"""`taskgate keys create|list|revoke`: through the API, or locally on the database.

Like every other command, they talk to the server (`--url` / `TASKGATE_URL`, default
http://127.0.0.1:8080) with an admin key. Only an explicit `--config` on the command line and
no server URL works directly on that config's database: the way back in for an operator on the
server's machine when every key was revoked or has expired. (`TASKGATE_CONFIG` alone only
tells where the server's `admin.key` is, as for every command: a stray variable must not turn
`keys list` into a look at some other database.)
"""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.text import Text

from taskgate.cli.common import ApiKeyOpt, ExitCode, JsonOpt, UrlOpt, connect, fail
from taskgate.cli.output import details, fmt_time, out, print_json, print_note, table
from taskgate.domain.apikeys import Role, check_expires_days
from taskgate.domain.errors import ConfigError, TaskgateError

if TYPE_CHECKING:
    from taskgate.client import TaskgateClient
    from taskgate.store.db import Database

T = TypeVar("T")

app = typer.Typer(
    help="Manage API keys through the server (--url / TASKGATE_URL) with an admin key; "
    "with --config and no server URL, directly on that config's database (recovery).",
    no_args_is_help=True,
)

# No environment variable: only a `--config` typed on the command line means local mode.
LocalConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Work directly on this config's database instead of through a server (for "
        "recovery on the server's machine, when no admin key works).",
        show_default=False,
    ),
]


def _answer(
    config: Path | None,
    url: str | None,
    api_key: str | None,
    remote: Callable[[TaskgateClient], T],
    local: Callable[[Database], Awaitable[T]],
) -> T:
    """`remote` through the server; with `--config` and no server URL, `local` on that
    config's database instead."""
    if config is None or url is not None:
        with connect(url, api_key, config) as client:
            return remote(client)
    return run_local(config, local)


KEY_COLUMNS = [
    "id",
    "name",
    "prefix",
    "role",
    "tasks",
    "created",
    "expires",
    "last used",
    "revoked",
]


def local_actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except (OSError, KeyError):
        return "cli:unknown"


def run_local(config: Path, op: Callable[[Database], Awaitable[T]]) -> T:
    """Run `op` on the (migrated) database of the config; config errors exit 2."""
    from sqlalchemy.engine import make_url

    from taskgate.cli.db import on_database
    from taskgate.config import load_settings

    try:
        settings = load_settings(config)
    except ConfigError as exc:
        fail(exc.message, ExitCode.USAGE)
    shown = make_url(settings.db_url).render_as_string(hide_password=True)
    print_note(f"local mode: database {shown}")
    return on_database(settings, op)


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key.")],
    role: Annotated[Role, typer.Option("--role", case_sensitive=False, help="What it may do.")],
    expires_days: Annotated[
        float | None, typer.Option("--expires-days", help="Expires after D days.")
    ] = None,
    allow_task: Annotated[
        list[str] | None,
        typer.Option("--allow-task", help="Only this task id or label (repeatable)."),
    ] = None,
    config: LocalConfigOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print its secret (shown this once only)."""
    try:
        # The server's own rule, said here before anything is sent or opened.
        check_expires_days(expires_days)
    except TaskgateError as exc:
        fail(exc.message, ExitCode.USAGE, field=exc.field)
    allowed = list(allow_task) if allow_task else None

    async def local(db: Database) -> dict[str, Any]:
        from taskgate.core import apikeys

        info, secret = await apikeys.create_key(
            db,
            name=name,
            role=role,
            expires_days=expires_days,
            allowed_tasks=allowed,
            actor=local_actor(),
        )
        return {**info.to_dict(), "secret": secret}

    key = _answer(
        config,
        url,
        api_key,
        lambda client: client.create_key(name, role.value, expires_days, allowed),
        local,
    )
    if as_json:
        print_json(key)
        return
    console = out()
    fields = {k: v for k, v in key.items() if k != "secret"}
    console.print(details(_key_fields(fields), title="API key created"))
    console.print()
    console.print(Text("secret: ", style="bold").append(str(key.get("secret")), style="bold green"))
    console.print(
        Text("Store this secret now: it will not be shown again.", style="bold yellow"),
        soft_wrap=True,
    )


@app.command("list")
def list_keys(
    config: LocalConfigOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List API keys (never their secrets)."""

    async def local(db: Database) -> list[dict[str, Any]]:
        from taskgate.core import apikeys

        return [info.to_dict() for info in await apikeys.list_keys(db)]

    keys = _answer(config, url, api_key, lambda client: client.list_keys(), local)
    if as_json:
        print_json(keys)
        return
    out().print(table(KEY_COLUMNS, [_key_row(k) for k in keys]))
    out().print(f"{len(keys)} key(s)", style="dim")


@app.command("revoke")
def revoke(
    ref: Annotated[str, typer.Argument(help="Key id or prefix.")],
    config: LocalConfigOpt = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a key: it stops working at once."""

    async def local(db: Database) -> dict[str, Any]:
        from taskgate.core import apikeys

        return (await apikeys.revoke_key(db, ref, actor=local_actor())).to_dict()

    key = _answer(config, url, api_key, lambda client: client.revoke_key(ref), local)
    if as_json:
        print_json(key)
        return
    out().print(details(_key_fields(key), title="API key revoked"))


def _key_row(key: dict[str, Any]) -> list[Any]:
    return [
        key.get("id"),
        key.get("name"),
        key.get("prefix"),
        key.get("role"),
        key.get("allowed_tasks") or "all",
        fmt_time(key.get("created_at")),
        fmt_time(key.get("expires_at")) if key.get("expires_at") else "never",
        fmt_time(key.get("last_used_at")),
        fmt_time(key.get("revoked_at")),
    ]


def _key_fields(key: dict[str, Any]) -> list[tuple[str, Any]]:
    return list(zip(KEY_COLUMNS, _key_row(key), strict=True))
