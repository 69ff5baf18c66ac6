"""`taskgate run-phases`, and how a workflow's phases are drawn (also by `executions show`)."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console, RenderableType
from rich.text import Text
from rich.tree import Tree

from taskgate.cli.common import (
    ApiKeyOpt,
    ExitCode,
    JsonOpt,
    ParamOpt,
    ParamsJsonOpt,
    UrlOpt,
    connect,
    fail,
)
from taskgate.cli.live import LiveDisplay
from taskgate.cli.output import (
    err,
    fmt_duration,
    out,
    print_json,
    print_warning,
    status_text,
    table,
)
from taskgate.cli.start import parse_params
from taskgate.domain.status import Status, is_terminal

if TYPE_CHECKING:
    from taskgate.client import TaskgateClient

Execution = dict[str, Any]
MEMBER_COLUMNS = ["phase", "member", "task", "status", "duration", "execution id", "note"]

RUN_PHASES_HELP = "\n\n".join(
    [
        "Run phases of tasks as one workflow execution: the tasks of a phase start together, "
        "the next phase starts when every one of them has ended. One argument per phase, its "
        "members separated by commas: taskgate run-phases wf1 wf2,wf3a,wf3b wf4 --wait",
        "Members are selectors (id:, label:, name:, tag:, property:NAME=VALUE, or bare text). "
        "Parameters go to the members whose tasks declare them.",
        "Exit codes:",
        "0 - every member ended in finished_success (without --wait: the workflow was started).",
        "1 - a member failed, was aborted or could not start (later phases are skipped unless "
        "--continue-on-failure), or the server refused the request or could not be reached.",
        "2 - bad command line or bad phases: an empty member, a selector that names no task, "
        "bad --param.",
        "3 - --timeout passed before the workflow ended (it goes on on the server).",
    ]
)


def parse_phases(arguments: list[str]) -> list[list[str]]:
    """`wf1` `wf2,wf3a` ... → [["wf1"], ["wf2", "wf3a"]]; ValueError naming an empty member."""
    phases: list[list[str]] = []
    for number, argument in enumerate(arguments, start=1):
        members = [m.strip() for m in argument.split(",")]
        if not argument.strip() or any(not m for m in members):
            raise ValueError(f"phase {number} ({argument!r}): empty member")
        phases.append(members)
    if not phases:
        raise ValueError("name at least one phase")
    return phases


def run_phases(
    phases: Annotated[
        list[str],
        typer.Argument(
            help="One argument per phase; its members comma-separated selectors.",
            metavar="PHASE",
            show_default=False,
        ),
    ],
    param: ParamOpt = None,
    params_json: ParamsJsonOpt = None,
    max_parallel: Annotated[
        int | None,
        typer.Option("--max-parallel", min=1, help="At most N members of a phase at once."),
    ] = None,
    continue_on_failure: Annotated[
        bool,
        typer.Option(
            "--continue-on-failure",
            help="Run every phase even after a member failed (the workflow still fails).",
        ),
    ] = False,
    abort_siblings: Annotated[
        bool,
        typer.Option(
            "--abort-siblings", help="When a member fails, abort the others of its phase."
        ),
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Wait until the workflow has ended.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", min=0, help="Give up waiting after S seconds (implies --wait)."),
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run phases of tasks as one workflow execution, and with --wait follow it to the end."""
    try:
        members = parse_phases(phases)
        params = parse_params(param or [], params_json)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="PHASE / --param") from exc
    body: list[Any] = [
        {"members": m, "max_parallel": max_parallel} if max_parallel else m for m in members
    ]
    wait = wait or timeout is not None
    from taskgate.client import TaskgateAPIError  # on use: httpx is not for `taskgate serve`

    with connect(url, api_key) as client:
        try:
            answer = client.run_phases(
                body,
                params,
                on_failure="continue" if continue_on_failure else "stop",
                abort_siblings=abort_siblings,
                origin="cli",
            )
        except TaskgateAPIError as exc:
            if exc.status_code == 422:
                fail(exc.message, ExitCode.USAGE, exc.field)
            raise
        execution_id = str(answer["id"])
        if not as_json:
            err().print(Text(f"workflow {execution_id} started", style="dim"), soft_wrap=True)
        final = answer
        timed_out = False
        if wait:
            final, timed_out = _follow(client, execution_id, timeout)
    if as_json:
        print_json({**final, "timed_out": timed_out})
    elif wait:
        out().print(member_table(final, title=f"Workflow {execution_id}"))
        line = Text(f"{final.get('task_name')}: ")
        line.append_text(status_text(final.get("status")))
        if final.get("message"):
            line.append(f" - {final['message']}")
        out().print(line, soft_wrap=True)
    else:
        out().print(execution_id)
    if timed_out:
        print_warning(
            f"timed out after {timeout or 0:g} s: the workflow has not ended "
            "(it goes on on the server)"
        )
        raise typer.Exit(int(ExitCode.TIMEOUT))
    if wait and final.get("status") != Status.FINISHED_SUCCESS.value:
        raise typer.Exit(int(ExitCode.FAILED))
    raise typer.Exit(int(ExitCode.OK))


def _follow(
    client: TaskgateClient, execution_id: str, timeout: float | None
) -> tuple[Execution, bool]:
    """Read the workflow until it ended (False) or `timeout` passed (True): one long poll on
    its end, then its tree, about once a second; a live table on a terminal."""
    deadline = None if timeout is None else time.monotonic() + timeout
    display = _Display(err())
    with display:
        while True:
            tree: Execution = client.get_execution(execution_id)
            display.update(tree)
            if is_terminal(tree.get("status")):
                return tree, False
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return tree, True
            client.wait_execution(execution_id, timeout=1.0 if left is None else min(1.0, left))


class _Display(LiveDisplay[Execution]):
    """A live table on a terminal; one line per member status change otherwise."""

    def __init__(self, console: Console) -> None:
        super().__init__(console, {})

    def changes(self, tree: Execution) -> Iterable[tuple[str, Any, Text]]:
        for phase, member, child in _members(tree):
            key = f"{phase.get('number')}/{member.get('key')}/{member.get('task_id')}"
            status = _member_status(member, child) or "-"
            yield key, status, Text(f"phase {phase.get('number')} {member.get('key')} ")

    def headline(self, tree: Execution, elapsed: int) -> str:
        phases = tree.get("phases") or []
        running = [p["number"] for p in phases if p.get("status") == "running"]
        where = f"phase {running[0]} of {len(phases)}" if running else tree.get("status")
        return f"workflow {where}, {elapsed} s"

    def body(self, tree: Execution) -> RenderableType:
        return member_table(tree)


def _members(tree: Mapping[str, Any]) -> list[tuple[Execution, Execution, Execution | None]]:
    """Each phase's members, with each one's execution (None: it has none)."""
    children = _children(tree)
    return [
        (phase, member, children.get(member.get("execution_id") or ""))
        for phase in tree.get("phases") or []
        for member in phase.get("members") or []
    ]


def _children(tree: Mapping[str, Any]) -> dict[str, Execution]:
    return {c["id"]: c for c in tree.get("children") or []}


def _member_status(member: Mapping[str, Any], child: Mapping[str, Any] | None) -> Any:
    """Its execution's status, or the member's own (not started, skipped, waiting)."""
    return (child or {}).get("status") or member.get("status")


def _member_note(member: Mapping[str, Any], child: Mapping[str, Any] | None) -> Any:
    return member.get("message") or (child or {}).get("message")


def _duration(execution: Mapping[str, Any] | None) -> str:
    if not execution:
        return "-"
    if execution.get("duration_ms") is not None:
        return fmt_duration(execution["duration_ms"])
    started = execution.get("started_at")
    if started and not is_terminal(execution.get("status")):
        since = datetime.now(UTC) - datetime.fromisoformat(started)
        return fmt_duration(since.total_seconds() * 1000)
    return "-"


def member_table(tree: Mapping[str, Any], title: str | None = None) -> RenderableType:
    """One row per member, and one for each phase that has none (pending or skipped)."""
    children = _children(tree)
    rows: list[list[Any]] = []
    for phase in tree.get("phases") or []:
        number, members = phase.get("number"), phase.get("members") or []
        if not members:
            status = status_text(phase.get("status"))
            rows.append([number, "-", "-", status, "-", None, phase.get("reason")])
        for member in members:
            child = children.get(member.get("execution_id") or "")
            status = status_text(_member_status(member, child))
            note = _member_note(member, child)
            execution_id = member.get("execution_id")
            key, task = member.get("key"), member.get("task_name")
            rows.append([number, key, task, status, _duration(child), execution_id, note])
    return table(MEMBER_COLUMNS, rows, title=title)


def phase_tree(execution: Mapping[str, Any], depth: int = 0) -> Tree:
    """The phases of a workflow's execution and their members, nested workflows inside."""
    root = Tree(Text("Phases", style="bold")) if depth == 0 else Tree("")
    _grow(root, execution, depth)
    return root


def _grow(node: Tree, execution: Mapping[str, Any], depth: int) -> None:
    children = _children(execution)
    for phase in execution.get("phases") or []:
        label = Text(f"phase {phase.get('number')}")
        if phase.get("name"):
            label.append(f" ({phase['name']})")
        label.append(" ")
        label.append_text(status_text(phase.get("status")))
        if phase.get("reason"):
            label.append(f": {phase['reason']}", style="dim")
        branch = node.add(label)
        for member in phase.get("members") or []:
            child = children.get(member.get("execution_id") or "")
            status = _member_status(member, child)
            line = Text(f"{member.get('key')}")
            if member.get("task_name") and member.get("task_name") != member.get("key"):
                line.append(f" ({member['task_name']})")
            line.append(" ")
            line.append_text(status_text(status))
            line.append(f" {_duration(child)}", style="dim")
            if member.get("execution_id"):
                line.append(f" {member['execution_id']}", style="dim")
            note = _member_note(member, child)
            if note and status != Status.FINISHED_SUCCESS.value:
                line.append(f" - {note}")
            leaf = branch.add(line)
            if child is not None and child.get("phases") is not None and depth < 16:
                _grow(leaf, child, depth + 1)
