"""Chain latency: A ended -> B (started by a chain rule on A's success) running, next to the
same backend's plain start -> running, measured in the same run.

The config has two tasks running the stamp program of `trigger_latency.py` (it writes its own
CLOCK_REALTIME reading, first thing in `main`, as the execution's result) and one chain rule
"when A succeeds, start B". Each round, one at a time:

- plain: the client notes `time.time_ns()`, sends `POST /api/v1/start` for B and waits for the
  end: the figure is B's clock reading minus that moment (exactly `trigger_latency.py`'s);
- chain: the client starts A and waits for its end, reads the rule's newest firing for the
  chained B and waits for it: the figure is B's clock reading minus A's `finished_at` (the
  server's timestamp of A's end, taken just before the transaction that writes the end and,
  with it, B's start).

    .venv/bin/python bench/chain_latency.py [--count 300] [--warmup 10]

The numbered rows split the chain figure with the server's timestamps: 1. A's end -> B's
`created_at` (the end hook, inside the end's transaction), 2. -> B's attempt `started_at`
(commit, dispatcher wake-up, claim), 3. -> the program's clock reading (spawn and exec).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from common import (
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

# The targets: p50 within 2 ms of the same backend's plain start -> running; p99.
TARGET_P50_GAP_MS = 2.0
TARGET_P99_MS = 20.0
RULE_ID = "bench-a-then-b"


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    add_rounds(p, noun="rounds", count=300, warmup=10)
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="taskgate-stamp-") as tmp:
        program = stamp_program(Path(tmp))
        a = task("bench-chain-a", program.argv, overlap="allow", timeout=30)
        b = task("bench-chain-b", program.argv, overlap="allow", timeout=30)
        rule = {"id": RULE_ID, "when": [{"task": f"id:{a['id']}"}], "start": f"id:{b['id']}"}
        with Server(
            [a, b],
            slots=4,
            database_url=args.database_url,
            keep=args.keep,
            loop=args.loop,
            # Open mode (loopback only): the benchmark measures the chain, not the key check.
            extra_config={"auth": "none", "chains": [rule]},
        ) as server:
            print(f"server pid {server.pid} on {server.url}; {server.database_label}")
            print(f"program: {program.kind} {program.argv[0]} {program.note}")
            run(server, a["id"], b["id"], program.kind, program.note, args)


def _wait(client: httpx.Client, execution_id: str) -> dict[str, Any]:
    waited = client.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30})
    execution: dict[str, Any] = waited.json()
    return execution


def _chained(client: httpx.Client, trigger: str) -> str | None:
    """The execution the rule started for `trigger` (its newest firing)."""
    for _ in range(200):
        firings = client.get(f"/api/v1/chains/{RULE_ID}/firings", params={"limit": 1}).json()
        items = firings.get("items") or []
        if items and items[0]["triggered_by"] == [trigger] and items[0]["execution_ids"]:
            return str(items[0]["execution_ids"][0])
        time.sleep(0.005)
    return None


def run(
    server: Server, a_id: str, b_id: str, kind: str, note: str, args: argparse.Namespace
) -> None:
    count: int = args.count
    plain_ms: list[float] = []
    chain_ms: list[float] = []
    hook_ms: list[float] = []
    claim_ms: list[float] = []
    spawn_ms: list[float] = []
    failures: list[str] = []
    began = time.monotonic()
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(args.warmup + count):
            if time.monotonic() - began > args.max_seconds:
                failures.append(f"stopped after {args.max_seconds:g}s at round {i}")
                break
            # plain start -> running (B itself)
            t0 = time.time_ns()
            resp = client.post("/api/v1/start", json={"selectors": [f"id:{b_id}"]})
            if resp.status_code != 200:
                failures.append(f"plain {i}: {resp.status_code} {resp.text[:200]}")
                continue
            plain = _wait(client, resp.json()["executions"][0]["id"])
            # A ended -> chained B running
            resp = client.post("/api/v1/start", json={"selectors": [f"id:{a_id}"]})
            if resp.status_code != 200:
                failures.append(f"chain {i}: {resp.status_code} {resp.text[:200]}")
                continue
            trigger = resp.json()["executions"][0]["id"]
            ended = _wait(client, trigger)
            chained_id = _chained(client, trigger)
            if ended.get("status") != "finished_success" or chained_id is None:
                failures.append(f"chain {i}: A {ended.get('status')}, chained {chained_id}")
                continue
            chained = _wait(client, chained_id)
            results = (plain.get("result") or {}, chained.get("result") or {})
            if any("started_ns" not in r for r in results):
                failures.append(f"round {i}: {plain.get('message')!r} {chained.get('message')!r}")
                continue
            if i < args.warmup:
                continue
            plain_ms.append((results[0]["started_ns"] - t0) / 1e6)
            a_end = iso_seconds(ended["finished_at"])
            running = results[1]["started_ns"] / 1e9
            chain_ms.append((running - a_end) * 1000)
            created = iso_seconds(chained["created_at"])
            attempts = chained.get("attempts") or []
            if attempts:
                claimed = iso_seconds(attempts[0]["started_at"])
                hook_ms.append((created - a_end) * 1000)
                claim_ms.append((claimed - created) * 1000)
                spawn_ms.append((running - claimed) * 1000)
    elapsed = time.monotonic() - began

    table = spread_table(
        f"Chain latency - {len(chain_ms)} rounds ({server.database_label}, program {kind})",
        [
            ("plain start -> process running", plain_ms),
            ("A ended -> chained B running", chain_ms),
            ("  1. A finished_at -> B created_at", hook_ms),
            ("  2. B created_at -> attempt started_at", claim_ms),
            ("  3. attempt started_at -> running", spawn_ms),
        ],
    )
    plain_s, chain_s = Summary.of(plain_ms), Summary.of(chain_ms)
    gap = chain_s.median - plain_s.median
    table.notes.append(
        f"target: p50 within {TARGET_P50_GAP_MS:g} ms of plain start -> running "
        f"(gap {gap:+.2f} ms: {verdict(gap <= TARGET_P50_GAP_MS)}), "
        f"p99 <= {TARGET_P99_MS:g} ms ({verdict(chain_s.p99 <= TARGET_P99_MS)})"
    )
    table.notes.append(f"{elapsed:.1f} s wall")
    if note:
        table.notes.append(note)
    table.notes.append(machine_line())
    for failure in failures[:10]:
        table.notes.append(f"problem: {failure}")
    for line in server.log_problems()[:5]:
        table.notes.append(f"server log: {line[:200]}")
    table.print()


if __name__ == "__main__":
    main()
