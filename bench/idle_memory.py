"""Idle memory: RSS of the server with a demo-like config, idle, and again after load.

    .venv/bin/python bench/idle_memory.py [--rounds 2] [--starts 1500] [--settle 3]
    .venv/bin/python bench/idle_memory.py --rounds 4 --starts 25000   # issue 19: 100,000 runs

The server gets the five tasks of examples/demo.yaml (slots 8, like the demo)
plus one `/bin/true` task per round for the load. RSS is the median of 5 readings 0.5 s apart, taken
`--settle` seconds after start-up (nothing running), then after each round of `--starts` starts
of the `/bin/true` task from 16 clients once every execution has ended (a growing figure from
round to round would point at a leak), and last after a restart of the server on the same
database (no schema migration to run, as in daily use). USS (memory only this process holds)
and PSS are shown next to RSS.

A second table shows where the start-up memory comes from: the RSS of a fresh interpreter
after importing, one after another, the big libraries and then the server's own modules.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

import httpx

from common import (
    Server,
    Table,
    account,
    demo_tasks,
    machine_line,
    mib,
    parser,
    task,
    verdict,
    wait_drained,
)
from throughput import fire

# The target is 80 MB (80 x 10^6 bytes), i.e. 76.3 MiB; the tables show MiB.
TARGET_IDLE_BYTES = 80 * 1000 * 1000
MIB = 1024 * 1024
TARGET_IDLE_MIB = TARGET_IDLE_BYTES / MIB
# Issue 19's targets: <= 60 MiB after start-up, and flat within 5 MiB after 100,000 runs
# (--rounds 4 --starts 25000).
TARGET19_MIB = 60.0
FLAT_MIB = 5.0

IMPORT_STEPS = [
    ("python interpreter", ""),
    ("+ pydantic, yaml", "import pydantic, yaml"),
    ("+ sqlalchemy, sqlite3", "import sqlalchemy, sqlite3"),
    ("+ alembic", "import alembic.command"),
    ("+ fastapi, starlette", "import fastapi"),
    ("+ uvicorn, httptools", "import uvicorn, httptools"),
    ("+ psutil", "import psutil"),
    ("+ typer, rich", "import typer, rich"),
    ("+ taskgate.app (whole server)", "import taskgate.app, taskgate.cli.main"),
    ("(+ psycopg: PostgreSQL only)", "import psycopg"),
    ("(+ httpx: at the first HTTP call)", "import httpx"),
]

IMPORT_PROBE = """
import json, sys
def rss():
    for line in open('/proc/self/status'):
        if line.startswith('VmRSS:'):
            return int(line.split()[1]) * 1024
    return 0
out = []
for label, code in json.loads(sys.argv[1]):
    try:
        exec(code)
    except ImportError as exc:
        label += f" (not installed: {exc.name})"
    out.append((label, rss()))
print(json.dumps(out))
"""


def sample(server: Server, count: int = 5, pause: float = 0.5) -> dict[str, float]:
    readings = []
    for i in range(count):
        if i:
            time.sleep(pause)
        readings.append(server.memory())
    return {key: statistics.median(r[key] for r in readings) for key in ("rss", "uss", "pss")}


def record(
    rows: list[tuple[str, dict[str, float], str]], label: str, mem: dict[str, float], note: str
) -> None:
    """Keep a reading for the table, and print it now: a long run stopped early keeps them."""
    rows.append((label, mem, note))
    print(f"{label}: RSS {mib(mem['rss'])}, USS {mib(mem['uss'])} {note}".rstrip(), flush=True)


def import_profile() -> list[tuple[str, int]]:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, json.dumps(IMPORT_STEPS)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        return [("import probe failed", 0)]
    return [(label, int(rss)) for label, rss in json.loads(done.stdout)]


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--rounds", type=int, default=2, help="Load rounds (default 2).")
    p.add_argument("--starts", type=int, default=1500, help="Starts per round (default 1500).")
    p.add_argument("--clients", type=int, default=16, help="Concurrent clients (default 16).")
    p.add_argument("--settle", type=float, default=3.0, help="Seconds idle before reading.")
    p.add_argument(
        "--drain-seconds", type=float, default=600.0, help="Longest wait for a round to end."
    )
    args = p.parse_args()

    # One load task per round, so that each round's executions are read back on their own
    # (100,000 executions in 4 rounds would otherwise be listed again and again).
    load_tasks = [
        task(f"bench-true-{n}", ["/bin/true"], overlap="allow", timeout=60)
        for n in range(1, args.rounds + 1)
    ]
    tasks = [*demo_tasks(), *load_tasks]
    rows: list[tuple[str, dict[str, float], str]] = []
    with Server(
        tasks,
        slots=8,
        database_url=args.database_url,
        keep=args.keep,
        loop=args.loop,
    ) as server:
        print(f"server pid {server.pid} on {server.url}; {server.database_label}", flush=True)
        time.sleep(args.settle)
        record(rows, "idle after start-up", sample(server), "")
        total = 0
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for n, load_task in enumerate(load_tasks, start=1):
                print(f"round {n}: {args.starts} starts ...", flush=True)
                result = fire(
                    server.url,
                    args.starts,
                    args.clients,
                    body={"selectors": [f"id:{load_task['id']}"]},
                )
                total += len(result.accepted)
                drained = wait_drained(client, load_task["id"], args.drain_seconds)
                note = "" if drained is not None else "executions still active"
                ended = account(client, load_task["id"], result.accepted)
                if ended["statuses"].get("finished_success", 0) != len(result.accepted):
                    note = f"not all finished_success: {ended['statuses']}"
                time.sleep(args.settle)
                record(rows, f"idle after round {n} ({total:,} executions)", sample(server), note)
        print("restarting on the same database ...", flush=True)
        server.restart()
        time.sleep(args.settle)
        record(rows, "idle after a restart on that database", sample(server), "")
        problems = server.log_problems()

    t = Table(
        f"Idle memory - demo-like config ({len(tasks)} tasks, {server.database_label})",
        ["when", "RSS", "USS", "PSS", "RSS target", "verdict"],
    )
    for label, mem, note in rows:
        ok = mem["rss"] <= TARGET_IDLE_BYTES
        t.add(
            label + (f" [{note}]" if note else ""),
            mib(mem["rss"]),
            mib(mem["uss"]),
            mib(mem["pss"]),
            f"<= {TARGET_IDLE_MIB:.1f} MiB",
            verdict(ok),
        )
    for index, what in ((0, "first start-up"), (-1, "restart")):
        idle = rows[index][1]["rss"] / MIB
        t.notes.append(
            f"idle RSS after {what} is {idle / TARGET_IDLE_MIB:.2f}x the target "
            f"({idle - TARGET_IDLE_MIB:+.1f} MiB)"
        )
    first, last_round = rows[0][1]["rss"] / MIB, rows[-2][1]["rss"] / MIB
    if len(rows) > 2:
        growth = last_round - first
        flat = verdict(abs(growth) <= FLAT_MIB)
        t.notes.append(
            f"after {total:,} executions the idle RSS is {growth:+.1f} MiB from start-up; "
            f"issue 19: flat within +-{FLAT_MIB:g} MiB after 100,000 ({flat})"
        )
    t.notes.append(
        f"issue 19: idle RSS <= {TARGET19_MIB:g} MiB after start-up: {first:.1f} MiB "
        f"({verdict(first <= TARGET19_MIB)})"
    )
    t.notes.append("target 80 MB = 76.3 MiB; 1 MiB = 2^20 bytes; RSS of the server process alone")
    t.notes.append(machine_line())
    for line in problems[:5]:
        t.notes.append(f"server log: {line[:200]}")

    ti = Table(
        "Where start-up memory comes from (fresh interpreter, cumulative imports)",
        ["after", "RSS", "step"],
    )
    previous = 0
    for label, rss in import_profile():
        ti.add(label, mib(rss), f"+{(rss - previous) / MIB:.1f}" if previous else "")
        previous = rss
    t.print()
    ti.print()


if __name__ == "__main__":
    main()
