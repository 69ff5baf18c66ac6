"""Idle memory: RSS of the server with a demo-like config, idle, and again after load.

    .venv/bin/python bench/idle_memory.py [--rounds 2] [--starts 1500] [--settle 3]
    .venv/bin/python bench/idle_memory.py --rounds 4 --starts 25000   # issue 19: 100,000 runs
    .venv/bin/python bench/idle_memory.py --rounds 20 --starts 5000 --max-minutes 40
    .venv/bin/python bench/idle_memory.py --rounds 2 --trace   # what grows (tracemalloc)

The server gets the five tasks of examples/demo.yaml (slots 8, like the demo)
plus one `/bin/true` task per round for the load. RSS is the median of 5 readings 0.5 s apart, taken
`--settle` seconds after start-up (nothing running), then after each round of `--starts` starts
of the `/bin/true` task from 16 clients once every execution has ended (a growing figure from
round to round would point at a leak), and last after a restart of the server on the same
database (no schema migration to run, as in daily use). USS (memory only this process holds)
and PSS are shown next to RSS. `--max-minutes` starts no round after that time (the rows taken
so far are the result). A third table splits RSS by kind of mapping (/proc/PID/smaps): the C
heap, anonymous mappings (Python's object arenas, large allocations), shared libraries, other
files.

`--trace` runs the server under tracemalloc (bench/memtrace.py) and, at each reading, has it
write a snapshot; at the end it prints what grew most between the first reading and the last
round, by source line. Its RSS figures include the tracing's own cost: read only the growth.

A second table shows where the start-up memory comes from: the RSS of a fresh interpreter
after importing, one after another, the big libraries and then the server's own modules.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import defaultdict
from pathlib import Path

import httpx

from common import (
    READY_TIMEOUT,
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
    ("+ taskgate.app (whole server)", "import taskgate.app.serving, taskgate.cli.main"),
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


MEMTRACE = Path(__file__).resolve().parent / "memtrace.py"
TRACE_FRAMES = 12
SNAPSHOT_TIMEOUT = 300.0


def mapping_kind(path: str) -> str:
    """What a mapping of /proc/PID/smaps holds, by its path."""
    if path == "[heap]":
        return "C heap (brk: malloc's main arena)"
    if not path:
        return "anonymous (Python arenas, large mallocs)"
    if path.startswith("["):
        return "stack and kernel"
    if ".so" in Path(path).name:
        return "shared libraries (.so)"
    if Path(path).name.startswith("python"):
        return "interpreter binary"
    return "other files"


def smaps_kinds(pid: int) -> dict[str, float]:
    """RSS (bytes) of the process by mapping kind, from /proc/PID/smaps."""
    sizes: dict[str, float] = defaultdict(float)
    kind = ""
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            first, _, rest = line.partition(" ")
            if "-" in first and not first.endswith(":"):  # a mapping's header line
                fields = line.split(maxsplit=5)
                kind = mapping_kind(fields[5].strip() if len(fields) > 5 else "")
            elif first == "Rss:":
                sizes[kind] += int(rest.split()[0]) * 1024
    return dict(sizes)


class Tracer:
    """Snapshots of the server's tracemalloc, one per reading (--trace)."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.dir = Path(tempfile.mkdtemp(prefix="taskgate-memtrace-"))
        self.taken: list[tuple[str, Path]] = []

    def wrapper(self) -> list[str]:
        return [sys.executable, str(MEMTRACE), str(self.dir), str(self.frames)]

    def take(self, server: Server, label: str) -> None:
        if not self.frames:
            return
        path = self.dir / f"snapshot-{len(self.taken) + 1}.tracemalloc"
        os.kill(server.pid, signal.SIGUSR1)
        deadline = time.monotonic() + SNAPSHOT_TIMEOUT
        while not path.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"no tracemalloc snapshot from the server in {path}")
            time.sleep(0.2)
        self.taken.append((label, path))

    def report(self, first: int = 0, last: int = -1, top: int = 25) -> None:
        (label_a, path_a), (label_b, path_b) = self.taken[first], self.taken[last]
        ignore = [
            tracemalloc.Filter(False, tracemalloc.__file__),
            tracemalloc.Filter(False, "<frozen importlib._bootstrap*>"),
        ]
        before = tracemalloc.Snapshot.load(str(path_a)).filter_traces(ignore)
        after = tracemalloc.Snapshot.load(str(path_b)).filter_traces(ignore)
        total = sum(s.size for s in after.statistics("filename")) - sum(
            s.size for s in before.statistics("filename")
        )
        print(f"\ntracemalloc: {label_a} -> {label_b}: {total / MIB:+.2f} MiB traced in all")
        for key_type in ("filename", "lineno"):
            print(f"\nlargest growth by {key_type}:")
            for stat in after.compare_to(before, key_type)[:top]:
                frame = stat.traceback[0]
                print(
                    f"  {stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks  "
                    f"{frame.filename}:{frame.lineno if key_type == 'lineno' else ''}"
                )
        print("\nlargest growth by traceback (innermost frame last):")
        for stat in after.compare_to(before, "traceback")[: top // 2]:
            print(f"  {stat.size_diff / 1024:+10.1f} KiB {stat.count_diff:+8d} blocks")
            for line in stat.traceback.format(limit=TRACE_FRAMES)[-12:]:
                print(f"      {line}")
        print(f"(snapshots kept in {self.dir})")


def sample(server: Server, count: int = 5, pause: float = 0.5) -> dict[str, float]:
    readings = []
    for i in range(count):
        if i:
            time.sleep(pause)
        readings.append(server.memory())
    return {key: statistics.median(r[key] for r in readings) for key in ("rss", "uss", "pss")}


Reading = tuple[str, dict[str, float], str, dict[str, float]]


def record(
    rows: list[Reading], server: Server, tracer: Tracer | None, label: str, note: str
) -> None:
    """Take a reading (and a snapshot with --trace) for the tables, and print it now: a long
    run stopped early keeps them."""
    mem = sample(server)
    rows.append((label, mem, note, smaps_kinds(server.pid)))
    if tracer is not None:
        tracer.take(server, label)
    print(
        f"{time.strftime('%H:%M:%S')} {label}: RSS {mib(mem['rss'])}, USS {mib(mem['uss'])}, "
        f"PSS {mib(mem['pss'])}, load {os.getloadavg()[0]:.2f} {note}".rstrip(),
        flush=True,
    )


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
    p.add_argument(
        "--max-minutes",
        type=float,
        default=None,
        help="Start no round after this many minutes (a long run on a loaded machine).",
    )
    p.add_argument(
        "--trace", action="store_true", help="Run the server under tracemalloc: what grew."
    )
    p.add_argument(
        "--trim-probe",
        action="store_true",
        help="After the last round, have the server run gc.collect(), then malloc_trim(0), "
        "reading after each.",
    )
    args = p.parse_args()
    began = time.monotonic()
    tracer = Tracer(TRACE_FRAMES if args.trace else 0) if args.trace or args.trim_probe else None

    # One load task per round, so that each round's executions are read back on their own
    # (100,000 executions in 4 rounds would otherwise be listed again and again).
    load_tasks = [
        task(f"bench-true-{n}", ["/bin/true"], overlap="allow", timeout=60)
        for n in range(1, args.rounds + 1)
    ]
    tasks = [*demo_tasks(), *load_tasks]
    rows: list[Reading] = []
    with Server(
        tasks,
        slots=8,
        database_url=args.database_url,
        keep=args.keep,
        loop=args.loop,
        wrapper=tracer.wrapper() if tracer else (),
        ready_timeout=600.0 if args.trace else READY_TIMEOUT,
    ) as server:
        print(f"server pid {server.pid} on {server.url}; {server.database_label}", flush=True)
        time.sleep(args.settle)
        record(rows, server, tracer, "idle after start-up", "")
        total = 0
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for n, load_task in enumerate(load_tasks, start=1):
                if (
                    args.max_minutes is not None
                    and time.monotonic() - began > args.max_minutes * 60
                ):
                    print(f"--max-minutes {args.max_minutes:g} reached: no round {n}", flush=True)
                    break
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
                label = f"idle after round {n} ({total:,} executions)"
                record(rows, server, tracer, label, note)
        rounds_done = len(rows)
        if args.trim_probe and tracer is not None:
            for sig, what in (
                (signal.SIGUSR2, "gc.collect()"),
                (signal.SIGRTMIN, "malloc_trim(0)"),
            ):
                os.kill(server.pid, sig)
                time.sleep(args.settle)
                record(rows, server, None, f"  ... then {what}", "")
            rows[rounds_done:] = []  # printed, not part of the tables
        print("restarting on the same database ...", flush=True)
        server.restart()
        time.sleep(args.settle)
        record(rows, server, None, "idle after a restart on that database", "")
        problems = server.log_problems()

    t = Table(
        f"Idle memory - demo-like config ({len(tasks)} tasks, {server.database_label})",
        ["when", "RSS", "USS", "PSS", "RSS target", "verdict"],
    )
    for label, mem, note, _ in rows:
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
    first, last_round = rows[0][1]["rss"] / MIB, rows[rounds_done - 1][1]["rss"] / MIB
    if rounds_done > 1:
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
    kinds = sorted({kind for *_, by_kind in rows for kind in by_kind})
    shown = [0, rounds_done - 1, len(rows) - 1] if rounds_done > 1 else [0, len(rows) - 1]
    tk = Table(
        "Where the RSS sits (/proc/PID/smaps, MiB)",
        ["mapping", *(rows[i][0].replace("idle after ", "") for i in shown)],
    )
    for kind in kinds:
        tk.add(kind, *(f"{rows[i][3].get(kind, 0) / MIB:.1f}" for i in shown))
    t.print()
    tk.print()
    ti.print()
    if tracer is not None and len(tracer.taken) > 1:
        tracer.report()


if __name__ == "__main__":
    main()
