"""`taskgate start`: start tasks by selector, optionally wait for them to end."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from taskgate.cli.common import (
    ApiKeyOpt,
    ExitCode,
    JsonOpt,
    ParamOpt,
    ParamsJsonOpt,
    UrlOpt,
    connect,
)
from taskgate.cli.output import (
    err,
    fmt_duration,
    out,
    outcome_text,
    print_json,
    print_warning,
    status_text,
    table,
)
from taskgate.domain.started import SkippedStart, start_succeeded
from taskgate.domain.status import Status, is_terminal

if TYPE_CHECKING:
    from taskgate.client import TaskgateClient


def parse_params(pairs: Sequence[str], params_json: str | None = None) -> dict[str, Any]:
    """`--params-json` (a JSON object, or `@FILE` holding one), then each `--param NAME=VALUE`.

    `--param` values stay strings; the server converts them to the declared types.
    Raises ValueError with a message for the user.
    """
    params: dict[str, Any] = {}
    if params_json:
        text = params_json
        if text.startswith("@"):
            try:
                text = Path(text[1:]).read_text(encoding="utf-8")
            except OSError as exc:
                raise ValueError(f"--params-json: cannot read {text[1:]}: {exc}") from exc
        try:
            loaded = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--params-json is not valid JSON: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ValueError("--params-json must be a JSON object")
        params.update(loaded)
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ValueError(f"--param {pair!r}: expected NAME=VALUE")
        params[name] = value
    return params


def start_exit_code(
    answer: Mapping[str, Any],
    final: Mapping[str, str | None] | None = None,
    *,
    waited: bool = False,
) -> ExitCode:
    """The exit code of `taskgate start` for a start answer.

    `final` maps execution id to the last status seen (overriding the answer's). FAILED when a
    selector was not matched or matched no task, a task got no execution (disabled), or an
    execution ended otherwise than finished_success; else TIMEOUT when `waited` and one has not
    ended; else OK.
    """
    final = final or {}
    statuses: dict[str, str | None] = {}
    failed = False
    for result in answer.get("results", []):
        tasks = result.get("tasks") or []
        if result.get("outcome") != "matched" or not tasks:
            failed = True
        for task in tasks:
            execution_id, status = task.get("execution_id"), task.get("status")
            if not start_succeeded(
                execution_id, status, skipped=SkippedStart.COUNTS_AS_NOT_STARTED
            ):
                failed = True
            if execution_id:
                statuses[execution_id] = status
    for execution in answer.get("executions", []):
        statuses[execution["id"]] = execution.get("status")
    statuses.update(final)  # the last status seen wins
    pending = False
    for status in statuses.values():
        if not is_terminal(status):
            pending = True
        elif status != Status.FINISHED_SUCCESS:
            failed = True
    if failed:
        return ExitCode.FAILED
    if waited and pending:
        return ExitCode.TIMEOUT
    return ExitCode.OK


START_HELP = "\n\n".join(
    [
        "Start tasks, and with --wait follow them to the end.",
        "Exit codes:",
        "0 - everything requested was started (with --wait: every execution ended in "
        "finished_success).",
        "1 - a selector was invalid, not_found or denied or matched no task, a task is disabled, "
        "an execution ended in finished_fail, aborted, error or skipped, or the server refused "
        "the request or could not be reached.",
        "2 - bad command line (unknown option, --param without '=', --params-json not a JSON "
        "object).",
        "3 - --timeout passed before every execution ended (they go on on the server).",
    ]
)


def start(
    selectors: Annotated[
        list[str],
        typer.Argument(
            help="Tasks to start: id:UUID, label:L, name:N, tag:T, property:NAME=VALUE, "
            "or bare text (an id, else a label, else a name).",
            metavar="SELECTOR",
            show_default=False,
        ),
    ],
    param: ParamOpt = None,
    params_json: ParamsJsonOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Wait until every execution has ended.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="Give up waiting after S seconds (implies --wait)."),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option("--idempotency-key", help="Repeating a start with this key starts nothing."),
    ] = None,
    all_must_exist: Annotated[
        bool,
        typer.Option(
            "--all-must-exist", help="Start nothing when a selector is invalid or not found."
        ),
    ] = False,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start tasks, and with --wait follow them to the end."""
    try:
        params = parse_params(param or [], params_json)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--param' / '--params-json'") from exc
    wait = wait or timeout is not None
    with connect(url, api_key) as client:
        answer = client.start(
            selectors,
            params,
            all_must_exist=all_must_exist,
            idempotency_key=idempotency_key,
            origin="cli",
        )
        if not as_json:
            out().print(table(START_COLUMNS, start_rows(answer)))
        final: dict[str, dict[str, Any]] = {e["id"]: e for e in answer.get("executions", [])}
        if wait and final:
            final = _wait(client, list(final.values()), timeout)
    code = start_exit_code(answer, {i: e.get("status") for i, e in final.items()}, waited=wait)
    running = sum(1 for e in final.values() if not is_terminal(e.get("status"))) if wait else 0
    if as_json:
        print_json({**answer, "executions": list(final.values()), "timed_out": running > 0})
    elif wait and final:
        _print_final(final)
    if running:
        print_warning(
            f"timed out after {timeout or 0:g} s: {running} execution(s) not ended yet "
            "(they go on on the server)"
        )
    raise typer.Exit(int(code))


START_COLUMNS = ["selector", "outcome", "task", "execution id", "status", "note"]


def start_rows(answer: Mapping[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for result in answer.get("results", []):
        selector, outcome = result.get("selector"), outcome_text(result.get("outcome", "-"))
        tasks = result.get("tasks") or []
        if not tasks:
            rows.append([selector, outcome, None, None, None, result.get("message")])
        for task in tasks:
            note = task.get("reason") or result.get("message")
            rows.append(
                [
                    selector,
                    outcome,
                    task.get("task_name"),
                    task.get("execution_id"),
                    status_text(task.get("status")),
                    note,
                ]
            )
    return rows


def _wait(
    client: TaskgateClient, executions: list[dict[str, Any]], timeout: float | None
) -> dict[str, dict[str, Any]]:
    # Imported here: it loads the client (httpx) and rich.live, which `taskgate serve` skips.
    from taskgate.cli.waiting import ProgressDisplay, Watcher

    watcher = Watcher(client, executions, timeout)
    with ProgressDisplay(err(), executions) as display:
        ended = watcher.run(display.update)
    if not ended:
        watcher.refresh()
    return watcher.snapshot()


def _print_final(final: Mapping[str, Mapping[str, Any]]) -> None:
    rows = [
        [
            e.get("task_name"),
            i,
            status_text(e.get("status")),
            fmt_duration(e.get("duration_ms")),
            e.get("exit_code"),
            e.get("message"),
        ]
        for i, e in final.items()
    ]
    columns = ["task", "execution id", "status", "duration", "exit", "message"]
    out().print(table(columns, rows, title="Final status"))
