"""Rendering helpers: consoles, JSON, times, durations, statuses and tables."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

STATUS_STYLE = {
    "finished_success": "green",
    "finished_fail": "red",
    "error": "bold red",
    "aborted": "yellow",
    "skipped": "yellow",
    "never_started": "dim",
    "abort_initiated": "yellow",
    "aborting": "yellow",
    "started": "cyan",
    "retry": "magenta",
    "queued": "blue",
    "triggered": "blue",
}
OUTCOME_STYLE = {"matched": "green", "invalid": "red", "not_found": "red", "denied": "red"}


def _console(stream: Any, stderr: bool = False) -> Console:
    # Tables in a pipe or a scheduler's log should not be squeezed into 80 columns.
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, width=160 if wide else None, highlight=False)


def out() -> Console:
    """A console on the current stdout (looked up at each call, so tests can capture it)."""
    return _console(sys.stdout)


def err() -> Console:
    return _console(sys.stderr, stderr=True)


def print_error(message: str, field: str | None = None) -> None:
    text = Text(f"error: {message}", style="red")
    if field and field not in message:
        text.append(f" (field: {field})", style="red")
    err().print(text, soft_wrap=True)


def print_warning(message: str) -> None:
    err().print(Text(message, style="yellow"), soft_wrap=True)


def print_note(message: str) -> None:
    err().print(Text(message, style="dim"), soft_wrap=True)


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def print_json_line(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def fmt_time(value: str | None) -> str:
    """An ISO instant from the server, shown in local time."""
    if not value:
        return "-"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        moment = moment.astimezone()
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{int(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} m {sec:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} m"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def fmt_value(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple, dict)) and not value:
        return "-"
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return ", ".join(value) or "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def status_text(status: str | None) -> Text:
    status = status or "-"
    return Text(status, style=STATUS_STYLE.get(status, ""))


def outcome_text(outcome: str) -> Text:
    return Text(outcome, style=OUTCOME_STYLE.get(outcome, ""))


def cell(value: Any) -> RenderableType:
    """Server data as a table cell: never interpreted as Rich markup."""
    return value if isinstance(value, Text) else Text(fmt_value(value))


def table(columns: Sequence[str], rows: Iterable[Sequence[Any]], title: str | None = None) -> Table:
    result = Table(title=title, title_justify="left", header_style="bold")
    for name in columns:
        result.add_column(name, no_wrap=name in {"id", "execution id", "task id", "prefix"})
    for row in rows:
        result.add_row(*(cell(v) for v in row))
    return result


def details(pairs: Iterable[tuple[str, Any]], title: str | None = None) -> Table:
    """A two-column "field: value" table for one object."""
    result = Table(title=title, title_justify="left", show_header=False, box=None)
    result.add_column(style="bold")
    result.add_column()
    for name, value in pairs:
        result.add_row(name, cell(value))
    return result


def execution_rows(executions: Iterable[dict[str, Any]]) -> list[list[Any]]:
    return [
        [
            e.get("id"),
            e.get("task_name") or e.get("task_id"),
            status_text(e.get("status")),
            e.get("origin"),
            fmt_time(e.get("created_at")),
            fmt_duration(e.get("duration_ms")),
            e.get("exit_code"),
            e.get("message"),
        ]
        for e in executions
    ]


EXECUTION_COLUMNS = ["id", "task", "status", "origin", "created", "duration", "exit", "message"]
