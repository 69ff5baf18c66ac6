"""Scheduler: how close to their slot 10,000 schedules start their runs, and idle cost.

The server starts with `--schedules` (default 10,000) cron schedules declared in its config,
on one task whose program (a tiny C program, or `python3 -c`) records its own start time:
- `--active` of them (default 300) fire during the measurement: `S-59/10 * * * * *`, with S
  spread over 0..9, so each second `--active`/10 of them share a slot (cron slots cluster on
  whole seconds in real life too);
- the others are daily, at times at least two hours away, in a handful of time zones: they
  sit in the table and must cost nothing.

For `--seconds` (default 60) the active ones fire. Then the script pauses them and measures
the server's CPU for `--idle-seconds` (default 30) with every remaining schedule far away.

    .venv/bin/python bench/scheduler.py [--database-url postgresql://...]

Rows, each against the run's slot (the nominal fire time): `fired` is the scheduler's own
record of when it took the slot (history `late_ms`); `execution created` is the execution's
`created_at` (the start transaction; the run is on disk); `attempt started` is when the
executor claimed it; `process running` is the program's own clock reading.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from common import (
    Server,
    Summary,
    Table,
    iso_seconds,
    machine_line,
    parser,
    stamp_program,
    task,
    verdict,
)

TARGET_P50_MS = 10.0
TARGET_P99_MS = 50.0
TARGET_IDLE_CPU = 2.0  # % of one core
ZONES = ["UTC", "Europe/Riga", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]


def schedules(active: int, total: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    declared: list[dict[str, Any]] = []
    for i in range(active):
        declared.append(
            {"name": f"active-{i}", "cron": f"{i % 10}-59/10 * * * * *", "misfire": "all"}
        )
    for i in range(total - active):
        zone = ZONES[i % len(ZONES)]
        # A daily time at least two hours from now in that zone.
        local = (now + timedelta(hours=2 + i % 20)).astimezone(ZoneInfo(zone))
        declared.append(
            {
                "name": f"daily-{i}",
                "cron": f"{i % 60} {local.hour} * * *",
                "timezone": zone,
            }
        )
    return declared


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--schedules", type=int, default=10_000, help="Schedules (default 10000).")
    p.add_argument("--active", type=int, default=300, help="Of those, firing (default 300).")
    p.add_argument("--seconds", type=float, default=60.0, help="Firing phase (default 60 s).")
    p.add_argument("--idle-seconds", type=float, default=30.0, help="Idle phase (default 30 s).")
    p.add_argument("--slots", type=int, default=16, help="Executor slots (default 16).")
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="taskgate-stamp-") as tmp:
        program = stamp_program(Path(tmp))
        spec = task("bench-sched", program.argv, overlap="allow", timeout=30)
        spec["schedules"] = schedules(args.active, args.schedules)
        began = time.monotonic()
        with Server(
            [spec],
            slots=args.slots,
            database_url=args.database_url,
            keep=args.keep,
            loop=args.loop,
        ) as server:
            print(
                f"server pid {server.pid} on {server.url}; {server.database_label}; "
                f"{args.schedules} schedules loaded in {time.monotonic() - began:.1f} s"
            )
            run(server, program.kind, program.note, args)


def run(server: Server, kind: str, note: str, args: argparse.Namespace) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        active = [s for s in _all_schedules(client) if s["name"].startswith("active-")]
        measure_from = datetime.now(UTC) + timedelta(seconds=3)  # let start-up settle
        time.sleep(3 + args.seconds)
        for schedule in active:
            client.post(f"/api/v1/schedules/{schedule['id']}/pause").raise_for_status()

        # Idle: every remaining schedule is hours away.
        time.sleep(2)
        cpu_before = server.cpu_seconds()
        idle_began = time.monotonic()
        time.sleep(args.idle_seconds)
        idle_cpu = server.cpu_seconds() - cpu_before
        idle_wall = time.monotonic() - idle_began

        fired_ms: list[float] = []
        created_ms: list[float] = []
        started_ms: list[float] = []
        running_ms: list[float] = []
        problems: list[str] = []
        slots_seen = 0
        for schedule in active:
            entries = client.get(
                f"/api/v1/schedules/{schedule['id']}/history", params={"limit": 1000}
            ).json()["items"]
            for entry in entries:
                slot = iso_seconds(entry["slot"])
                if slot < measure_from.timestamp():
                    continue
                slots_seen += 1
                if entry["outcome"] != "fired" or not entry["execution_id"]:
                    problems.append(f"{schedule['name']} {entry['slot']}: {entry['outcome']}")
                    continue
                fired_ms.append(float(entry["late_ms"]))
                execution = client.get(
                    f"/api/v1/executions/{entry['execution_id']}/wait", params={"timeout": 30}
                ).json()
                created_ms.append((iso_seconds(execution["created_at"]) - slot) * 1000)
                attempts = execution.get("attempts") or []
                if attempts:
                    started_ms.append((iso_seconds(attempts[0]["started_at"]) - slot) * 1000)
                result = execution.get("result") or {}
                if "started_ns" in result:
                    running_ms.append((result["started_ns"] / 1e9 - slot) * 1000)
                elif execution.get("status") != "finished_success":
                    problems.append(f"{execution['id']}: {execution.get('status')}")

    table = Table(
        f"Scheduler - {args.schedules:,} schedules, {args.active} firing every 10 s "
        f"({args.active // 10} per slot), {slots_seen:,} slots in {args.seconds:g} s "
        f"({server.database_label}, program {kind})",
        ["lateness vs slot (ms)", "median", "p90", "p99", "max", "min"],
    )
    for label, values in (
        ("fired (scheduler took the slot)", fired_ms),
        ("execution created (on disk)", created_ms),
        ("attempt started (executor)", started_ms),
        ("process running", running_ms),
    ):
        s = Summary.of(values)
        table.add(label, s.median, s.p90, s.p99, s.max, s.min)
    s = Summary.of(created_ms)
    idle_pct = idle_cpu / idle_wall * 100
    table.notes.append(
        f"target (execution created): p50 <= {TARGET_P50_MS:g} ms "
        f"({verdict(s.median <= TARGET_P50_MS)}), p99 <= {TARGET_P99_MS:g} ms "
        f"({verdict(s.p99 <= TARGET_P99_MS)})"
    )
    table.notes.append(
        f"idle server with {args.schedules - args.active:,} schedules hours away: "
        f"{idle_pct:.2f} % of a core over {idle_wall:.0f} s (target <= {TARGET_IDLE_CPU:g} %: "
        f"{verdict(idle_pct <= TARGET_IDLE_CPU)})"
    )
    if note:
        table.notes.append(note)
    table.notes.append(machine_line())
    for problem in problems[:10]:
        table.notes.append(f"problem: {problem}")
    if len(problems) > 10:
        table.notes.append(f"... {len(problems) - 10} more problems")
    for line in server.log_problems()[:5]:
        table.notes.append(f"server log: {line[:200]}")
    table.print()


def _all_schedules(client: httpx.Client) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        page = client.get("/api/v1/schedules", params={"limit": 1000, "offset": len(items)})
        batch = page.json()["items"]
        items.extend(batch)
        if not batch:
            return items


if __name__ == "__main__":
    main()
