"""`taskgate executions list|show|log|abort`."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from taskgate.cli.common import ApiKeyOpt, ExitCode, JsonOpt, UrlOpt, connect
from taskgate.cli.output import (
    EXECUTION_COLUMNS,
    details,
    err,
    execution_rows,
    fmt_duration,
    fmt_time,
    out,
    print_json,
    print_json_line,
    status_text,
    table,
)
from taskgate.domain.status import Status, is_terminal

if TYPE_CHECKING:
    from taskgate.client import TaskgateClient

app = typer.Typer(
    help="Inspect, follow and abort executions (runs of tasks).", no_args_is_help=True
)

IdArg = Annotated[str, typer.Argument(help="Execution id.")]
PAGE = 100


def parse_instant(value: str | None) -> str | None:
    """An ISO date or date-time; one without a zone is local time. Sent with its offset."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO date or date-time: {value!r}") from exc
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.isoformat()


@app.command("list")
def list_executions(
    task: Annotated[str | None, typer.Option("--task", help="Task id or label.")] = None,
    status: Annotated[
        list[Status] | None, typer.Option("--status", help="Only this status (repeatable).")
    ] = None,
    origin: Annotated[
        str | None, typer.Option("--origin", help="api, butler, qrs, mqtt, schedule, cli, ...")
    ] = None,
    caller: Annotated[
        str | None,
        typer.Option("--caller", help="Started by: key:NAME, chain:ID, ... (as `show` prints)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Created at or after (ISO; local time without a zone)."),
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Created before (ISO; local time without a zone).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many.")] = 50,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List executions, newest first."""
    since_iso, until_iso = parse_instant(since), parse_instant(until)
    with connect(url, api_key) as client:
        found = client.iter_executions(
            task=task,
            status=[s.value for s in status or []],
            origin=origin,
            since=since_iso,
            until=until_iso,
            limit=min(limit, PAGE),
            caller=caller,
        )
        executions = list(itertools.islice(found, limit))
    if as_json:
        print_json(executions)
        return
    out().print(table(EXECUTION_COLUMNS, execution_rows(executions)))
    out().print(f"{len(executions)} execution(s)", style="dim")


@app.command("show")
def show_execution(
    id: IdArg, url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one execution with its attempts."""
    with connect(url, api_key) as client:
        execution = client.get_execution(id)
    if as_json:
        print_json(execution)
        return
    console = out()
    console.print(details(_execution_fields(execution), title=f"Execution {execution.get('id')}"))
    attempts = execution.get("attempts") or []
    if attempts:
        rows = [
            [
                a.get("number"),
                status_text(a.get("status")),
                a.get("node"),
                a.get("pid"),
                fmt_time(a.get("started_at")),
                fmt_time(a.get("finished_at")),
                a.get("exit_code"),
                a.get("message"),
            ]
            for a in attempts
        ]
        columns = ["#", "status", "node", "pid", "started", "finished", "exit", "message"]
        console.print(table(columns, rows, title="Attempts"))
    if execution.get("phases") is not None:
        from taskgate.cli.phases import phase_tree

        console.print(phase_tree(execution))


def _execution_fields(e: dict[str, Any]) -> list[tuple[str, Any]]:
    log = f"{e.get('log_size', 0)} characters"
    if e.get("log_dropped"):
        log += f" ({e['log_dropped']} dropped)"
    chained: list[tuple[str, Any]] = []
    if e.get("chain_id"):
        # Started by a chain rule: which one, and the ends that fired it.
        chained = [
            ("chain", e["chain_id"]),
            ("triggered by", ", ".join(e.get("triggered_by") or [])),
        ]
    return [
        ("task", f"{e.get('task_name')} ({e.get('task_id')})"),
        ("status", status_text(e.get("status"))),
        *(
            [("workflow", f"{e['parent_id']} (phase {e.get('phase')})")]
            if e.get("parent_id")
            else []
        ),
        ("message", e.get("message")),
        *([("waiting", e["queue_note"])] if e.get("queue_note") else []),
        *([("ended because", _why(e))] if e.get("end_reason") else []),
        ("origin", e.get("origin")),
        ("caller", e.get("caller")),
        *chained,
        ("params", e.get("params") or None),
        ("created", fmt_time(e.get("created_at"))),
        ("started", fmt_time(e.get("started_at"))),
        ("finished", fmt_time(e.get("finished_at"))),
        ("duration", fmt_duration(e.get("duration_ms"))),
        ("attempts", e.get("attempt_count")),
        ("exit code", e.get("exit_code")),
        ("node", e.get("node")),
        ("log", log),
        ("result", e.get("result")),
    ]


def _why(e: dict[str, Any]) -> str:
    reason = str(e["end_reason"])
    return f"{reason} (by {e['aborted_by']})" if e.get("aborted_by") else reason


@app.command("log")
def show_log(
    id: IdArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the execution ends.")
    ] = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the log of an execution, raw, to stdout.

    With --json, every piece the server answered is printed as one JSON object per line. With
    --follow, once the execution has ended, a closing line with its status goes to stderr, and
    the exit code is `start --wait`'s: 0 when it finished with success, 1 otherwise.
    """
    with connect(url, api_key) as client:
        for piece in log_pieces(client, id, follow=follow):
            if as_json:
                print_json_line(piece)
            elif piece.get("data"):
                sys.stdout.write(piece["data"])
                sys.stdout.flush()
        if not follow:
            return
        ended = client.get_execution(id)
    # stdout stays the log, byte for byte: the verdict goes to stderr.
    status = str(ended.get("status"))
    line = Text(f"execution {ended.get('id')} ended: ")
    line.append_text(status_text(status))
    if ended.get("message"):
        line.append(f" ({ended['message']})")
    err().print(line, soft_wrap=True)
    if status != Status.FINISHED_SUCCESS.value:
        raise typer.Exit(ExitCode.FAILED)


def log_pieces(
    client: TaskgateClient, id: str, *, follow: bool, poll_interval: float = 0.5
) -> Iterator[dict[str, Any]]:
    """The log answers from offset 0 on: until it is complete (follow) or all read so far."""
    offset = 0
    while True:
        piece = client.read_log(id, offset=offset)
        yield piece
        data = piece.get("data") or ""
        offset = int(piece.get("next_offset", offset + len(data)))
        if piece.get("complete"):
            return
        if not data:
            if not follow:
                return
            time.sleep(poll_interval)


@app.command("abort")
def abort(
    id: IdArg, url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Ask a running or queued execution to stop."""
    with connect(url, api_key) as client:
        execution = client.abort_execution(id)
    if as_json:
        print_json(execution)
        return
    status = execution.get("status")
    text = Text("execution already ended: " if is_terminal(status) else "abort requested: ")
    text.append(f"{execution.get('id')} ({execution.get('task_name')}) ")
    text.append_text(status_text(status))
    out().print(text, soft_wrap=True)


@app.command("follow")
def follow(
    id: IdArg,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print each status change of an execution as it happens, until it ends.

    Follows the server's live event stream. Exits 0 when the execution finished with success,
    1 when it ended otherwise.
    """
    with connect(url, api_key) as client:
        final = follow_execution(client, id, as_json=as_json)
    if final != Status.FINISHED_SUCCESS.value:
        raise typer.Exit(ExitCode.FAILED)


def follow_execution(client: TaskgateClient, id: str, *, as_json: bool) -> str:
    """Show the status changes of one execution until it ends; its last status."""
    for event in client.events(execution=[id]):
        if event.type == "connected":
            # Subscribed: what happened before is in the execution itself.
            current = client.get_execution(id)
            _show_change(current, as_json=as_json)
            if is_terminal(current.get("status")):
                return str(current["status"])
        elif event.type == "execution":
            _show_change(event.data, as_json=as_json)
            if is_terminal(event.data.get("status")):
                return str(event.data["status"])
    raise AssertionError("the event stream does not end")


def _show_change(change: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        print_json_line(change)
        return
    line = Text(f"{change.get('execution_id') or change.get('id')} ")
    line.append_text(status_text(change.get("status")))
    attempt = change.get("attempt") or change.get("attempt_count")
    if attempt:
        line.append(f" (attempt {attempt})")
    if change.get("message"):
        line.append(f" {change['message']}")
    out().print(line)
