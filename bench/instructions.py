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

What the server does by the clock (the log writer's tick, the dispatcher's idle look, lease
renewal) is counted per second of wall time, and under callgrind a load takes minutes, longer
on a busy machine; so the idle server is counted too (`--idle-seconds`), and each load is
also given net of that idle rate times its duration.

    .venv/bin/python bench/instructions.py [--count 200] [--warmup 20]

For an A/B comparison, run it twice with `PYTHONPATH` pointing at each tree's `src`, and
compare the figures net of idle (the raw ones grew by half on a machine at load 15).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from common import Server, Table, machine_line, parser, task

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
    unknown = set(loads) - {"trigger", "accept", "burst"}
    if unknown:
        raise SystemExit(f"unknown load(s): {', '.join(sorted(unknown))}")

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
            idle_rate = 0.0
            if args.idle_seconds > 0:
                # What the server does by the clock (the log writer's tick, the dispatcher's
                # idle look, lease renewal, housekeeping) is counted per second of wall time;
                # under callgrind on a busy machine a load takes minutes, so that share grows
                # with the machine's load. The idle rate, subtracted, takes it out.
                time.sleep(2)
                _callgrind(server.pid, "-z")
                time.sleep(args.idle_seconds)
                idle_rate = _dump(server.pid, dumps) / args.idle_seconds
    table = Table(
        f"Instructions per start under callgrind ({server.database_label})",
        ["load", "starts", "seconds", "per start", "idle share", "per start, net of idle"],
    )
    for load, count, total, seconds in counted:
        idle = idle_rate * seconds
        table.add(
            load,
            count,
            f"{seconds:.0f}",
            f"{total / count:,.0f}",
            f"{idle / total:.0%}" if total else "",
            f"{(total - idle) / count:,.0f}",
        )
    table.notes.append(f"idle server: {idle_rate / 1e6:,.2f} M instructions per second")
    print(table.render())
    print(machine_line())


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
