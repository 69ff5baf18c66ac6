"""Instructions per start: the server's CPU work, counted by callgrind, immune to a busy machine.

Wall-clock figures on a shared two-core machine move by 2x with the load of its neighbours;
instruction counts do not. This runs `taskgate serve` under `valgrind --tool=callgrind` and
counts the instructions the server executes for `--count` starts, after `--warmup` starts that
are not counted (callgrind's counters are zeroed between the two with `callgrind_control`).
The client runs natively; the commands the server starts run natively too (callgrind does not
follow them), so the figures are the server's own work.

Two loads, matching the wall-clock benchmarks:
- `trigger`: one start at a time, each waited for (`trigger_latency.py`): request, commit,
  claim, spawn of `/bin/true`, end, wait answer;
- `accept`: starts of a task whose one long run keeps every further start `skipped` at birth
  (`throughput.py --mode skip`): the accept path alone.

    .venv/bin/python bench/instructions.py [--count 200] [--warmup 20]

For an A/B comparison, run it twice with `PYTHONPATH` pointing at each tree's `src`: the
figures are deterministic to within a fraction of a per cent.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
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
    args = p.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise SystemExit("needs valgrind (Debian package valgrind)")

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
        with httpx.Client(base_url=server.url, timeout=300) as client:
            table = Table(
                f"Instructions per start under callgrind ({server.database_label})",
                ["load", "starts", "instructions per start", "total (M)"],
            )
            for load, count in (("trigger", args.count), ("accept", args.count * 5)):
                go = _trigger if load == "trigger" else _accept
                if load == "accept":
                    client.post("/api/v1/start", json={"selectors": [f"id:{holder['id']}"]})
                go(client, trigger if load == "trigger" else holder, args.warmup)
                _callgrind(server.pid, "-z")
                go(client, trigger if load == "trigger" else holder, count)
                total = _dump(server.pid, dumps)
                table.add(load, count, f"{total / count:,.0f}", f"{total / 1e6:,.1f}")
    print(table.render())
    print(machine_line())


def _trigger(client: httpx.Client, spec: dict[str, object], count: int) -> None:
    for _ in range(count):
        started = client.post("/api/v1/start", json={"selectors": [f"id:{spec['id']}"]})
        started.raise_for_status()
        execution = started.json()["executions"][0]["id"]
        client.get(f"/api/v1/executions/{execution}/wait", params={"timeout": 120})


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
