"""`taskgate schedules list|show|next|history|pause|resume`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from taskgate.cli.common import ApiKeyOpt, JsonOpt, UrlOpt, connect
from taskgate.cli.executions import parse_instant
from taskgate.cli.output import details, fmt_time, fmt_value, out, print_json, table

app = typer.Typer(help="Read, preview, pause and resume schedules.", no_args_is_help=True)

IdArg = Annotated[str, typer.Argument(help="Schedule id.")]


def when(schedule: dict[str, Any]) -> str:
    """What fires it, in one line: `cron 0 3 * * *`, `every 5 minutes`, `sunset +30 min`."""
    kind = schedule.get("kind")
    if kind == "cron":
        return f"cron {schedule.get('cron')}"
    if kind == "interval":
        return f"every {schedule.get('every')} {schedule.get('unit')}"
    if kind == "solar":
        offset = schedule.get("offset_minutes") or 0
        shift = f" {offset:+g} min" if offset else ""
        where = f"{schedule.get('latitude')}, {schedule.get('longitude')}"
        return f"{schedule.get('event')}{shift} at {where}"
    if kind == "clocked":
        return f"once at {fmt_time(schedule.get('at'))}"
    return str(kind)


@app.command("list")
def list_schedules(
    task: Annotated[
        str | None, typer.Option("--task", help="Only this task's (id or label).")
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List schedules, with their next fire time (local time)."""
    with connect(url, api_key) as client:
        schedules = client.list_schedules(task=task)
    if as_json:
        print_json(schedules)
        return
    rows = [
        [
            s.get("id"),
            s.get("name"),
            s.get("task_name") or s.get("task"),
            when(s),
            s.get("timezone"),
            s.get("state"),
            fmt_time(s.get("next_fire_at")),
            s.get("fire_count"),
        ]
        for s in schedules
    ]
    columns = ["id", "name", "task", "when", "zone", "state", "next", "runs"]
    out().print(table(columns, rows))
    out().print(f"{len(schedules)} schedule(s)", style="dim")


@app.command("show")
def show_schedule(
    schedule_id: IdArg, url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Show one schedule and its latest fire history."""
    with connect(url, api_key) as client:
        schedule = client.get_schedule(schedule_id)
        recent = client.schedule_history(schedule_id, limit=10)
    if as_json:
        print_json({**schedule, "history": recent})
        return
    fields = [
        ("id", schedule.get("id")),
        ("name", schedule.get("name")),
        ("task", f"{schedule.get('task_name')} ({schedule.get('task')})"),
        ("when", when(schedule)),
        ("time zone", schedule.get("timezone")),
        ("state", schedule.get("state")),
        ("next fire", fmt_time(schedule.get("next_fire_at"))),
        ("last slot", fmt_time(schedule.get("last_slot"))),
        ("runs", schedule.get("fire_count")),
        ("start", fmt_time(schedule.get("start_at"))),
        ("end", fmt_time(schedule.get("end_at"))),
        ("jitter", f"{schedule['jitter_seconds']:g} s" if schedule.get("jitter_seconds") else None),
        (
            "misfire",
            f"{schedule.get('misfire')} (grace {schedule.get('misfire_grace_seconds'):g} s)",
        ),
        ("params", schedule.get("params") or None),
        ("source", schedule.get("source")),
    ]
    console = out()
    console.print(details(fields, title=schedule.get("name")))
    if recent:
        console.print(history_table(recent, title="Recent history"))


def history_table(entries: list[dict[str, Any]], title: str | None = None) -> Any:
    rows = [
        [
            fmt_time(e.get("slot")),
            e.get("outcome"),
            e.get("slots"),
            e.get("execution_id"),
            f"{e.get('late_ms')} ms",
            e.get("node"),
            e.get("message"),
        ]
        for e in entries
    ]
    columns = ["slot", "outcome", "slots", "execution id", "late", "node", "message"]
    return table(columns, rows, title=title)


@app.command("history")
def show_history(
    schedule_id: IdArg,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000, help="At most this many.")] = 50,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fired, caught-up and skipped slots, newest first."""
    with connect(url, api_key) as client:
        entries = client.schedule_history(schedule_id, limit=limit)
    if as_json:
        print_json(entries)
        return
    out().print(history_table(entries))


@app.command("next")
def next_fires(
    schedule_id: IdArg,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=1000)] = 10,
    after: Annotated[
        str | None,
        typer.Option("--after", help="From this instant (ISO; local time without a zone)."),
    ] = None,
    url: UrlOpt = None,
    api_key: ApiKeyOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Preview the next fire times in the schedule's zone (try --after before a DST change)."""
    with connect(url, api_key) as client:
        fires = client.next_fires(schedule_id, count=count, after=parse_instant(after))
    if as_json:
        print_json(fires)
        return
    rows = [[f.get("local"), f.get("at"), fmt_value(f.get("note"))] for f in fires]
    out().print(table(["local time", "UTC", "note"], rows))
    if len(fires) < count:
        out().print(f"{len(fires)} fire time(s): the schedule ends there", style="dim")


@app.command("pause")
def pause(
    schedule_id: IdArg, url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Pause a schedule: it fires nothing until resumed."""
    with connect(url, api_key) as client:
        schedule = client.pause_schedule(schedule_id)
    _done(schedule, as_json)


@app.command("resume")
def resume(
    schedule_id: IdArg, url: UrlOpt = None, api_key: ApiKeyOpt = None, as_json: JsonOpt = False
) -> None:
    """Resume a schedule from now (slots during the pause are not made up)."""
    with connect(url, api_key) as client:
        schedule = client.resume_schedule(schedule_id)
    _done(schedule, as_json)


def _done(schedule: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print_json(schedule)
        return
    out().print(
        f"{schedule.get('name')}: {schedule.get('state')}; "
        f"next fire {fmt_time(schedule.get('next_fire_at'))}"
    )
