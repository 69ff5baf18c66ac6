"""`taskgate tasks list|show|checks`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from taskgate.cli.common import ApiKeyOpt, JsonOpt, UrlOpt, connect
from taskgate.cli.output import details, fmt_time, fmt_value, out, print_json, table

app = typer.Typer(help="Read task definitions.", no_args_is_help=True)


@app.command("list")
def list_tasks(
    tag: Annotated[str | None, typer.Option("--tag", help="Only tasks with this tag.")] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List tasks."""
    with connect(url, api_key) as client:
        tasks = client.list_tasks(tag=tag)
    if as_json:
        print_json(tasks)
        return
    rows = [
        [
            t.get("id"),
            t.get("label"),
            t.get("name"),
            t.get("tags"),
            (t.get("action") or {}).get("kind"),
            t.get("enabled"),
        ]
        for t in tasks
    ]
    out().print(table(["id", "label", "name", "tags", "action", "enabled"], rows))
    out().print(f"{len(tasks)} task(s)", style="dim")


@app.command("show")
def show_task(
    ref: Annotated[str, typer.Argument(help="Task id or label.")],
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one task, with its parameters and action."""
    with connect(url, api_key) as client:
        task = client.get_task(ref)
    if as_json:
        print_json(task)
        return
    console = out()
    console.print(details(_task_fields(task), title=task.get("name")))
    params = task.get("params") or []
    if params:
        rows = [
            [
                p.get("name"),
                p.get("type"),
                p.get("required"),
                p.get("default"),
                p.get("description"),
            ]
            for p in params
        ]
        console.print(
            table(["name", "type", "required", "default", "description"], rows, title="Parameters")
        )
    action = dict(task.get("action") or {})
    console.print(details(sorted(action.items()), title="Action"))


@app.command("checks")
def task_checks(
    ref: Annotated[str, typer.Argument(help="Task id or label.")],
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a task's checks, the duration band learned from its runs, and its deadline."""
    with connect(url, api_key) as client:
        view = client.task_checks(ref)
    if as_json:
        print_json(view)
        return
    console = out()
    checks = view.get("checks") or {}
    rows = [(name, fmt_value(value)) for name, value in checks.items() if value not in (None, [])]
    console.print(details(rows or [("checks", "none")], title=view.get("task_name")))
    learned = view.get("expected_duration")
    if learned is not None:
        console.print(details(_learned_fields(learned), title="Expected duration (learned)"))
    deadline = view.get("deadline")
    if deadline is not None:
        fields = [
            ("next due", fmt_time(deadline.get("next_due"))),
            ("last due", fmt_time(deadline.get("last_due"))),
            ("last outcome", deadline.get("last_outcome")),
            ("", deadline.get("last_message") or None),
        ]
        console.print(details(fields, title="Deadline"))


def _learned_fields(learned: dict[str, Any]) -> list[tuple[str, Any]]:
    runs = f"{learned['runs']} successful run(s)"
    if learned.get("learning"):
        return [("runs", f"{runs}; learning until {learned['min_runs']}")]
    return [
        ("runs", runs),
        ("band", f"{learned['low_seconds']} s to {learned['high_seconds']} s"),
        ("median", f"{learned['median_seconds']} s"),
        ("MAD", f"{learned['mad_seconds']} s"),
    ]


def _task_fields(task: dict[str, Any]) -> list[tuple[str, Any]]:
    retries = task.get("retries") or {}
    concurrency = task.get("concurrency") or {}
    return [
        ("id", task.get("id")),
        ("name", task.get("name")),
        ("label", task.get("label")),
        ("description", task.get("description")),
        ("enabled", task.get("enabled")),
        ("tags", task.get("tags")),
        ("properties", task.get("properties") or None),
        ("timeout", f"{task['timeout']} s" if task.get("timeout") else None),
        ("retries", _retries(retries)),
        ("concurrency", ", ".join(f"{k} {fmt_value(v)}" for k, v in concurrency.items())),
        ("source", task.get("source")),
        ("created", fmt_time(task.get("created_at"))),
        ("updated", fmt_time(task.get("updated_at"))),
    ]


def _retries(retries: dict[str, Any]) -> str | None:
    if not retries.get("count"):
        return None
    return (
        f"{retries['count']} (delay {retries.get('delay')} s, backoff {retries.get('backoff')}, "
        f"max {retries.get('max_delay')} s)"
    )
