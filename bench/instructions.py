"""Instructions per start: the server's CPU work counted by callgrind, little blurred by load.

Wall-clock figures on a shared two-core machine move by 2x with the load of its neighbours;
instruction counts hardly move. This runs `taskgate serve` under `valgrind --tool=callgrind` and
counts the instructions the server executes for `--count` starts, after `--warmup` starts that
are not counted (callgrind's counters are zeroed between the two with `callgrind_control`).
The client runs natively; the commands the server starts run natively too (callgrind does not
follow them), so the figures are the server's own work.

Loads (`--loads`), matching the wall-clock benchmarks:
- `trigger`: one start at a time, each waited for (`trigger_latency.py`): request, commit,
  claim, spawn of `/bin/true`, end, wait answer;
- `accept`: starts of a task whose one long run keeps every further start `skipped` at birth
  (`throughput.py --mode skip`): the accept path alone;
- `burst` (not by default): `--count` starts of `/bin/true` sent from 16 threads at once, then
  waited for (`throughput.py`'s phase B, with the server's 4 slots busy): claims by the
  dispatcher, spawns, ends.
- `worker` (not by default; PostgreSQL, `--database-url`): the Celery executor's worker
  counted instead of the server. An API node (native, `executor.kind: celery`) with a
  redis-server of its own as broker, and `taskgate worker --concurrency 8` under callgrind;
  the burst load sent to the API node: per run, the worker's claim, spawn and end, and Celery's
  own work for the message (issue 18's ratio is bound by this process).

What the server does by the clock (the log writer's tick, the dispatcher's idle look, lease
renewal) is counted per second of wall time, and under callgrind a load takes minutes, longer
on a busy machine; so the idle server is counted too (`--idle-seconds`), and each load is
also given net of that idle rate times its duration.

    .venv/bin/python bench/instructions.py [--count 200] [--warmup 20]

For an A/B comparison, run it twice with `PYTHONPATH` pointing at each tree's `src`, and
compare the figures net of idle (the raw ones grew by half on a machine at load 15).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

import httpx

from common import Server, Table, machine_line, parser, task
from scaleout import RedisServer, Worker

# Python under callgrind runs some 50x slower: starting the server takes minutes (tens of
# minutes on a busy machine).
READY_UNDER_VALGRIND = 2400.0
TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.MULTILINE)


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--count", type=int, default=200, help="Counted starts per load (200).")
    p.add_argument("--warmup", type=int, default=20, help="Uncounted starts first (20).")
    p.add_argument(
        "--loads",
        default="trigger,accept",
        help="Which loads, comma-separated: trigger, accept, burst (default trigger,accept).",
    )
    p.add_argument(
        "--idle-seconds",
        type=float,
        default=60.0,
        help="How long the idle server is counted, for its rate per second (60; 0: not).",
    )
    args = p.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (Debian package valgrind)")
    loads = [name.strip() for name in args.loads.split(",") if name.strip()]
    unknown = set(loads) - {"trigger", "accept", "burst", "worker"}
    if unknown:
        raise SystemExit(f"unknown load(s): {', '.join(sorted(unknown))}")
    if "worker" in loads:
        if len(loads) > 1:
            raise SystemExit("the worker load counts another process: run it on its own")
        if not args.database_url:
            raise SystemExit("the worker load needs PostgreSQL: --database-url")
        _count_worker(args)
        return

    trigger = task("bench-true", ["/bin/true"], overlap="allow", timeout=60)
    holder = task("bench-hold", ["sleep", "600"], overlap="skip")
    out = Path("callgrind.out")  # relative to the server's own temp folder (its cwd)
    wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-line=no"]
    with Server(
        [trigger, holder],
        slots=4,
        database_url=args.database_url,
        keep=args.keep,
        wrapper=wrapper,
        ready_timeout=READY_UNDER_VALGRIND,
    ) as server:
        print(f"server pid {server.pid} under callgrind; {server.database_label}")
        dumps = server.dir / out.name
        counted: list[tuple[str, int, int, float]] = []
        with httpx.Client(base_url=server.url, timeout=300) as client:
            for load in loads:
                count = args.count * 5 if load == "accept" else args.count
                spec = holder if load == "accept" else trigger
                go = {"trigger": _trigger, "accept": _accept, "burst": _burst}[load]
                if load == "accept":
                    client.post("/api/v1/start", json={"selectors": [f"id:{holder['id']}"]})
                go(client, spec, args.warmup)
                _callgrind(server.pid, "-z")
                began = time.monotonic()
                go(client, spec, count)
                seconds = time.monotonic() - began
                counted.append((load, count, _dump(server.pid, dumps), seconds))
                print(f"  {load}: {count} starts in {seconds:.0f} s under callgrind", flush=True)
            # What the server does by the clock (the log writer's tick, the dispatcher's idle
            # look, lease renewal, housekeeping) is counted per second of wall time; under
            # callgrind on a busy machine a load takes minutes, so that share grows with the
            # machine's load. The idle rate, subtracted, takes it out.
            idle_rate = _idle_rate(server.pid, dumps, args.idle_seconds)
    table = Table(
        f"Instructions per start under callgrind ({server.database_label})",
        ["load", "starts", "seconds", "per start", "idle share", "per start, net of idle"],
    )
    for load, count, total, seconds in counted:
        _add_row(table, load, count, total, seconds, idle_rate)
    table.notes.append(f"idle server: {idle_rate / 1e6:,.2f} M instructions per second")
    print(table.render())
    print(machine_line())


def _count_worker(args: argparse.Namespace) -> None:
    """Instructions per `/bin/true` run of `taskgate worker`, the API node running natively."""
    true = task("bench-true", ["/bin/true"], overlap="allow", timeout=60)
    out = Path("callgrind.out")  # relative to the worker's own folder (its cwd)
    wrapper = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-line=no"]
    with tempfile.TemporaryDirectory(prefix="taskgate-instructions-") as tmp, ExitStack() as stack:
        redis = RedisServer(Path(tmp)).start()
        stack.callback(redis.stop)
        celery = {"kind": "celery", "celery": {"broker_url": redis.url, "queue_prefix": "bench."}}
        node = stack.enter_context(
            Server(
                [true],
                slots=8,
                database_url=args.database_url,
                keep=args.keep,
                extra_config={"executor": celery},
            )
        )
        worker = Worker(node, "bench-worker", 8, wrapper=wrapper).start(READY_UNDER_VALGRIND)
        stack.callback(worker.stop)
        print(f"worker pid {worker.pid} under callgrind; {node.database_label}", flush=True)
        dumps = worker.dir / out.name
        with httpx.Client(base_url=node.url, timeout=600) as client:
            _burst(client, true, args.warmup)
            _callgrind(worker.pid, "-z")
            began = time.monotonic()
            _burst(client, true, args.count)
            seconds = time.monotonic() - began
            total = _dump(worker.pid, dumps)
            print(f"  worker: {args.count} runs in {seconds:.0f} s under callgrind", flush=True)
            idle_rate = _idle_rate(worker.pid, dumps, args.idle_seconds)
    table = Table(
        f"Instructions per run of the Celery worker under callgrind ({node.database_label})",
        ["load", "runs", "seconds", "per run", "idle share", "per run, net of idle"],
    )
    _add_row(table, "worker (burst)", args.count, total, seconds, idle_rate)
    table.notes.append(f"idle worker: {idle_rate / 1e6:,.2f} M instructions per second")
    print(table.render())
    print(machine_line())


def _idle_rate(pid: int, dumps: Path, seconds: float) -> float:
    """Instructions per second of the process left idle for `seconds` (0: not counted)."""
    if seconds <= 0:
        return 0.0
    time.sleep(2)
    _callgrind(pid, "-z")
    time.sleep(seconds)
    return _dump(pid, dumps) / seconds


def _add_row(
    table: Table, load: str, count: int, total: int, seconds: float, idle_rate: float
) -> None:
    idle = idle_rate * seconds
    table.add(
        load,
        count,
        f"{seconds:.0f}",
        f"{total / count:,.0f}",
        f"{idle / total:.0%}" if total else "",
        f"{(total - idle) / count:,.0f}",
    )


def _trigger(client: httpx.Client, spec: dict[str, object], count: int) -> None:
    for _ in range(count):
        started = client.post("/api/v1/start", json={"selectors": [f"id:{spec['id']}"]})
        started.raise_for_status()
        execution = started.json()["executions"][0]["id"]
        client.get(f"/api/v1/executions/{execution}/wait", params={"timeout": 120})


def _burst(client: httpx.Client, spec: dict[str, object], count: int) -> None:
    """`count` starts from 16 threads at once (as throughput.py's phase B), then wait for all:
    the claims by the dispatcher when every slot is busy, and the ends."""
    body = {"selectors": [f"id:{spec['id']}"]}
    ids: list[str] = []

    def one(_: int) -> None:
        started = client.post("/api/v1/start", json=body)
        started.raise_for_status()
        ids.append(started.json()["executions"][0]["id"])

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(count)))
    for execution in ids:
        client.get(f"/api/v1/executions/{execution}/wait", params={"timeout": 300})


def _accept(client: httpx.Client, spec: dict[str, object], count: int) -> None:
    for _ in range(count):
        client.post("/api/v1/start", json={"selectors": [f"id:{spec['id']}"]}).raise_for_status()


def _callgrind(pid: int, option: str) -> None:
    subprocess.run(["callgrind_control", option, str(pid)], check=True, capture_output=True)


def _dump(pid: int, base: Path) -> int:
    """Dump the counters since the last zeroing; return the instructions in that dump."""
    before = set(base.parent.glob(base.name + "*"))
    _callgrind(pid, "-d")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in set(base.parent.glob(base.name + "*")) - before:
            match = TOTALS.search(path.read_text(errors="replace"))
            if match:
                return int(match.group(1))
        time.sleep(0.2)
    raise RuntimeError("callgrind wrote no dump")


if __name__ == "__main__":
    main()
