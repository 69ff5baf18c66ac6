"""Scheduler: how close to their slot 10,000 schedules start their runs, and idle cost.

The server starts with `--schedules` (default 10,000) schedules declared in its config, on one
task whose program (a tiny C program, or `python3 -c`) records its own start time. Of them,
2 x `--active` (default 300) fire during the run, in two phases of `--seconds` (default 40):

1. spread: `--active` interval schedules, every 10 s, their phases 10 s / `--active` apart
   (one schedule per slot, as schedules with jitter or different times are);
2. clustered: `--active` cron schedules `S-59/10 * * * * *`, S = 0..9, so `--active` / 10 of
   them share each whole-second slot (as many `0 * * * *` lines do at the top of the hour).

The other schedules are daily, at times at least two hours away, in five time zones: they sit
in the table and must cost nothing. Last, with every active schedule paused, the server's CPU
is measured for `--idle-seconds` (default 30).

    .venv/bin/python bench/scheduler.py [--database-url postgresql://...]

Rows, each against the run's slot (its nominal fire time): `fired` is the scheduler's own
record of when it took the slot (history `late_ms`); `execution created` is the execution's
`created_at` in the start transaction (the run is accepted: the figure the targets are for);
`attempt started` is when the executor claimed it; `process running` the program's own clock.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from common import (
    Server,
    Summary,
    iso_seconds,
    machine_line,
    parser,
    spread_table,
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
    anchor = now.replace(microsecond=0) + timedelta(seconds=2)
    for i in range(active):
        declared.append(
            {
                "name": f"spread-{i}",
                "kind": "interval",
                "every": 10,
                "start_at": (anchor + timedelta(seconds=10 * i / active)).isoformat(),
                "misfire": "all",
                "enabled": False,
            }
        )
        declared.append(
            {
                "name": f"clustered-{i}",
                "cron": f"{i % 10}-59/10 * * * * *",
                "misfire": "all",
                "enabled": False,
            }
        )
    for i in range(total - 2 * active):
        zone = ZONES[i % len(ZONES)]
        # A daily time at least two hours from now in that zone.
        local = (now + timedelta(hours=2 + i % 20)).astimezone(ZoneInfo(zone))
        declared.append(
            {"name": f"daily-{i}", "cron": f"{i % 60} {local.hour} * * *", "timezone": zone}
        )
    return declared


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--schedules", type=int, default=10_000, help="Schedules (default 10000).")
    p.add_argument("--active", type=int, default=300, help="Firing per phase (default 300).")
    p.add_argument("--seconds", type=float, default=40.0, help="Each phase (default 40 s).")
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


@dataclass
class Lateness:
    fired: list[float] = field(default_factory=list)
    created: list[float] = field(default_factory=list)
    started: list[float] = field(default_factory=list)
    running: list[float] = field(default_factory=list)
    slots: int = 0
    problems: list[str] = field(default_factory=list)


def run(server: Server, kind: str, note: str, args: argparse.Namespace) -> None:
    results: dict[str, Lateness] = {}
    with httpx.Client(base_url=server.url, timeout=60) as client:
        every = _all_schedules(client)
        for phase in ("spread", "clustered"):
            group = [s for s in every if s["name"].startswith(f"{phase}-")]
            for schedule in group:
                client.post(f"/api/v1/schedules/{schedule['id']}/resume").raise_for_status()
            measure_from = datetime.now(UTC) + timedelta(seconds=3)  # let the phase settle
            time.sleep(3 + args.seconds)
            for schedule in group:
                client.post(f"/api/v1/schedules/{schedule['id']}/pause").raise_for_status()
            results[phase] = collect(client, group, measure_from)

        time.sleep(2)
        cpu_before = server.cpu_seconds()
        idle_began = time.monotonic()
        time.sleep(args.idle_seconds)
        idle_cpu = server.cpu_seconds() - cpu_before
        idle_wall = time.monotonic() - idle_began

    table = spread_table(
        f"Scheduler - {args.schedules:,} schedules; {args.active} firing every 10 s, one per "
        f"slot (spread) or {args.active // 10} per slot (clustered), {args.seconds:g} s each "
        f"({server.database_label}, program {kind})",
        [
            (f"{phase}: {label}", values)
            for phase, found in results.items()
            for label, values in (
                ("fired (scheduler took the slot)", found.fired),
                ("execution created (accepted)", found.created),
                ("attempt started (executor)", found.started),
                ("process running", found.running),
            )
        ],
        measure="lateness vs slot (ms)",
    )
    for phase, found in results.items():
        s = Summary.of(found.created)
        table.notes.append(
            f"{phase} ({found.slots:,} slots): execution created p50 <= {TARGET_P50_MS:g} ms "
            f"{verdict(s.median <= TARGET_P50_MS)}, p99 <= {TARGET_P99_MS:g} ms "
            f"{verdict(s.p99 <= TARGET_P99_MS)}"
        )
    idle_pct = idle_cpu / idle_wall * 100
    table.notes.append(
        f"idle server, {args.schedules:,} schedules (none due for hours): {idle_pct:.2f} % of a "
        f"core over {idle_wall:.0f} s (target <= {TARGET_IDLE_CPU:g} %: "
        f"{verdict(idle_pct <= TARGET_IDLE_CPU)})"
    )
    if note:
        table.notes.append(note)
    table.notes.append(machine_line())
    problems = [p for found in results.values() for p in found.problems]
    for problem in problems[:10]:
        table.notes.append(f"problem: {problem}")
    if len(problems) > 10:
        table.notes.append(f"... {len(problems) - 10} more problems")
    for line in server.log_problems()[:5]:
        table.notes.append(f"server log: {line[:200]}")
    table.print()


def collect(client: httpx.Client, group: list[dict[str, Any]], measure_from: datetime) -> Lateness:
    found = Lateness()
    for schedule in group:
        entries = client.get(
            f"/api/v1/schedules/{schedule['id']}/history", params={"limit": 1000}
        ).json()["items"]
        for entry in entries:
            slot = iso_seconds(entry["slot"])
            if slot < measure_from.timestamp():
                continue
            found.slots += 1
            if entry["outcome"] != "fired" or not entry["execution_id"]:
                found.problems.append(f"{schedule['name']} {entry['slot']}: {entry['outcome']}")
                continue
            found.fired.append(float(entry["late_ms"]))
            execution = client.get(
                f"/api/v1/executions/{entry['execution_id']}/wait", params={"timeout": 30}
            ).json()
            found.created.append((iso_seconds(execution["created_at"]) - slot) * 1000)
            attempts = execution.get("attempts") or []
            if attempts:
                found.started.append((iso_seconds(attempts[0]["started_at"]) - slot) * 1000)
            result = execution.get("result") or {}
            if "started_ns" in result:
                found.running.append((result["started_ns"] / 1e9 - slot) * 1000)
            elif execution.get("status") != "finished_success":
                found.problems.append(f"{execution['id']}: {execution.get('status')}")
    return found


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
