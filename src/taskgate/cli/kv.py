"""`taskgate kv get|set|delete|list`: the key-value store, from a shell or from a running task.

Without --api-key / TASKGATE_API_KEY these commands send TASKGATE_TOKEN, which taskgate gives
every command it runs: a task reads its parameters with `taskgate kv get NS KEY`.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from taskgate.cli.common import ApiKeyOpt, JsonOpt, UrlOpt, connect, kv_credential
from taskgate.cli.output import fmt_time, out, print_json, table

app = typer.Typer(
    help="Read and write the key-value store (also with a running task's TASKGATE_TOKEN).",
    no_args_is_help=True,
)

NamespaceArg = Annotated[str, typer.Argument(help="Namespace.", show_default=False)]
KeyArg = Annotated[str, typer.Argument(help="Key.", show_default=False)]
# Long values would make a table unreadable; --json shows them whole.
SHOWN_CHARS = 80


@app.command("get")
def get(
    namespace: NamespaceArg,
    key: KeyArg,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print a key's value, as stored (exit code 1, message on stderr, when it is absent)."""
    with connect(url, kv_credential(api_key)) as client:
        entry = client.kv_get(namespace, key)
    if as_json:
        print_json(entry)
        return
    value: str = entry["value"]
    # Exactly the value for a script's $(...); a newline only to keep a terminal prompt apart.
    sys.stdout.write(value + ("\n" if sys.stdout.isatty() else ""))
    sys.stdout.flush()


@app.command("set")
def set_value(
    namespace: NamespaceArg,
    key: KeyArg,
    value: Annotated[str, typer.Argument(help="Value (a string).", show_default=False)],
    ttl: Annotated[
        int | None,
        typer.Option(
            "--ttl", min=1, help="Expire after this many milliseconds.", show_default=False
        ),
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Store a value (replacing any; its time to live starts again)."""
    with connect(url, kv_credential(api_key)) as client:
        entry = client.kv_set(namespace, key, value, ttl_ms=ttl)
    if as_json:
        print_json(entry)
        return
    expires = entry.get("expires_at")
    until = f" until {fmt_time(expires)}" if expires else ""
    out().print(f"stored {namespace} / {key}{until}", markup=False)


@app.command("delete")
def delete(
    namespace: NamespaceArg,
    key: Annotated[
        str | None,
        typer.Argument(help="Key; without it the whole namespace.", show_default=False),
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Delete a key, or a whole namespace with its keys."""
    with connect(url, kv_credential(api_key)) as client:
        if key is None:
            client.kv_delete_namespace(namespace)
        else:
            client.kv_delete(namespace, key)
    what = f"namespace {namespace}" if key is None else f"{namespace} / {key}"
    out().print(f"deleted {what}", markup=False)


@app.command("list")
def list_(
    namespace: Annotated[
        str | None,
        typer.Argument(help="Namespace; without it, list the namespaces.", show_default=False),
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the namespaces, or the keys of one namespace with their values."""
    with connect(url, kv_credential(api_key)) as client:
        if namespace is None:
            namespaces = client.kv_namespaces()
        else:
            entries = client.kv_list(namespace)
    if namespace is None:
        if as_json:
            print_json(namespaces)
            return
        out().print(table(["namespace", "keys"], [[n["namespace"], n["keys"]] for n in namespaces]))
        out().print(f"{len(namespaces)} namespace(s)", style="dim")
        return
    if as_json:
        print_json(entries)
        return
    rows = [
        [e["key"], _short(e["value"]), fmt_time(e.get("expires_at")), fmt_time(e.get("updated_at"))]
        for e in entries
    ]
    out().print(table(["key", "value", "expires", "updated"], rows, title=namespace))
    out().print(f"{len(entries)} key(s)", style="dim")


def _short(value: str) -> str:
    return value if len(value) <= SHOWN_CHARS else value[: SHOWN_CHARS - 1] + "…"
