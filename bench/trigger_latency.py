"""Trigger latency: REST start -> the command's process is running, as the process measures it.

For each of `--count` starts, one at a time: the client notes `time.time_ns()` just before it
sends `POST /api/v1/start` (one `id:` selector); the task's program (a tiny C program compiled
here, or `python3 -c` without a compiler) reads CLOCK_REALTIME first thing in `main` and writes
it to TASKGATE_RESULT_FILE, which becomes the execution's `result`; the client then waits for
the end with `GET /api/v1/executions/{id}/wait` before the next start.

    .venv/bin/python bench/trigger_latency.py [--count 1000] [--warmup 20]

Rows: `start -> process running` is the target figure; `POST /start answered` is the round trip
of the start request (the execution is on disk); `start -> /wait answered` the whole cycle. The
three numbered rows split the target figure with the server's own timestamps (same clock):
1. request sent -> the execution's `created_at` (HTTP, routing, validation; taken just before the
start transaction), 2. -> the attempt's `started_at` (commit, answer, dispatcher wake-up, claim
transaction), 3. -> the program's own clock reading (run folder, params file, spawn, exec).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from common import (
    Profiler,
    Server,
    Summary,
    add_rounds,
    iso_seconds,
    machine_line,
    parser,
    spread_table,
    stamp_program,
    task,
    verdict,
)

TARGET_P50_MS = 3.0
TARGET_P99_MS = 15.0


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    add_rounds(p, noun="starts", count=1000, warmup=20)
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="taskgate-stamp-") as tmp:
        program = stamp_program(Path(tmp))
        spec = task("bench-stamp", program.argv, overlap="allow", timeout=30)
        with Server(
            [spec], slots=4, database_url=args.database_url, keep=args.keep, loop=args.loop
        ) as server:
            print(f"server pid {server.pid} on {server.url}; {server.database_label}")
            print(f"program: {program.kind} {program.argv[0]} {program.note}")
            run(server, spec["id"], program.kind, program.note, args)


@dataclass
class LatencyRun:
    """What `sequential_starts` measured, in ms per measured start (warm-up left out)."""

    running_ms: list[float] = field(default_factory=list)
    ack_ms: list[float] = field(default_factory=list)
    cycle_ms: list[float] = field(default_factory=list)
    stored_ms: list[float] = field(default_factory=list)
    dispatch_ms: list[float] = field(default_factory=list)
    spawn_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


def sequential_starts(
    client: httpx.Client, task_id: str, count: int, warmup: int, max_seconds: float
) -> LatencyRun:
    """`warmup + count` starts of a stamp task, one at a time, each waited for to its end."""
    body = {"selectors": [f"id:{task_id}"]}
    m = LatencyRun()
    began = time.monotonic()
    for i in range(warmup + count):
        if time.monotonic() - began > max_seconds:
            m.failures.append(f"stopped after {max_seconds:g}s with {len(m.running_ms)} measured")
            break
        t0 = time.time_ns()
        resp = client.post("/api/v1/start", json=body)
        t_ack = time.time_ns()
        if resp.status_code != 200:
            m.failures.append(f"start {i}: {resp.status_code} {resp.text[:200]}")
            continue
        execution_id = resp.json()["executions"][0]["id"]
        waited = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30})
        t_end = time.time_ns()
        execution = waited.json()
        result = execution.get("result") or {}
        if execution.get("status") != "finished_success" or "started_ns" not in result:
            m.failures.append(f"start {i}: {execution.get('status')} {execution.get('message')!r}")
            continue
        if i < warmup:
            continue
        m.running_ms.append((result["started_ns"] - t0) / 1e6)
        m.ack_ms.append((t_ack - t0) / 1e6)
        m.cycle_ms.append((t_end - t0) / 1e6)
        attempts = execution.get("attempts") or []
        if attempts and attempts[0].get("started_at"):
            created = iso_seconds(execution["created_at"])
            claimed = iso_seconds(attempts[0]["started_at"])
            m.stored_ms.append((created - t0 / 1e9) * 1000)
            m.dispatch_ms.append((claimed - created) * 1000)
            m.spawn_ms.append((result["started_ns"] / 1e9 - claimed) * 1000)
    m.seconds = time.monotonic() - began
    return m


def run(server: Server, task_id: str, kind: str, note: str, args: argparse.Namespace) -> None:
    warmup: int = args.warmup
    cpu_before = server.cpu_seconds()
    profile: str | None = args.profile
    with httpx.Client(base_url=server.url, timeout=30) as client, Profiler(server.pid, profile):
        m = sequential_starts(client, task_id, args.count, warmup, args.max_seconds)
    elapsed = m.seconds
    cpu = server.cpu_seconds() - cpu_before
    running_ms, ack_ms, cycle_ms = m.running_ms, m.ack_ms, m.cycle_ms
    stored_ms, dispatch_ms, spawn_ms, failures = m.stored_ms, m.dispatch_ms, m.spawn_ms, m.failures

    table = spread_table(
        f"Trigger latency - {len(running_ms)} sequential starts ({server.database_label}, "
        f"program {kind})",
        [
            ("start -> process running", running_ms),
            ("POST /start answered", ack_ms),
            ("start -> /wait answered", cycle_ms),
            ("  1. sent -> created_at", stored_ms),
            ("  2. created_at -> attempt started_at", dispatch_ms),
            ("  3. attempt started_at -> running", spawn_ms),
        ],
    )
    s = Summary.of(running_ms)
    table.notes.append(
        f"target: p50 <= {TARGET_P50_MS:g} ms ({verdict(s.median <= TARGET_P50_MS)}), "
        f"p99 <= {TARGET_P99_MS:g} ms ({verdict(s.p99 <= TARGET_P99_MS)}); "
        f"p50 is {s.median / TARGET_P50_MS:.1f}x the target, p99 {s.p99 / TARGET_P99_MS:.1f}x"
    )
    table.notes.append(
        f"{elapsed:.1f} s wall, {len(running_ms) / elapsed:.0f} cycles/s, "
        f"server CPU {cpu:.1f} s ({cpu / max(1, len(running_ms) + warmup) * 1000:.2f} ms/cycle)"
    )
    if note:
        table.notes.append(note)
    table.notes.append(machine_line())
    for failure in failures[:10]:
        table.notes.append(f"problem: {failure}")
    if len(failures) > 10:
        table.notes.append(f"... {len(failures) - 10} more problems")
    for line in server.log_problems()[:5]:
        table.notes.append(f"server log: {line[:200]}")
    table.print()


if __name__ == "__main__":
    main()
