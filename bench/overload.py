"""Overload: how long an accepted start waits to run, without and with a queue bound.

    .venv/bin/python bench/overload.py [--seconds 10] [--clients 16] [--slots 8]
                                       [--max-queued 50,200] [--command /bin/true]

Each round starts its own server (the task runs `--command` with overlap allow) and sends
`POST /api/v1/start` from `--clients` connections as fast as the server answers, for
`--seconds`: more than the executor can run, so a queue builds. A client that is refused
(429) goes on at once (the worst case for the server: no client honours Retry-After), or with
`--honour-retry-after` waits as told.

For every accepted start the client notes the moment of its answer; after the load stops and
the queue drained, each execution's `started_at` (the server's clock: same machine) gives the
time from answer to running. Printed per round: starts accepted and refused, accepted/s, that
delay (median, p99, max), how long the queue took to drain after the load stopped, and the
server's CPU from the first start to the drained queue per accepted start (accepting, refusing
and running it). Round 1 has no bound; each further round sets
`executor.max_queued` to one of `--max-queued` (e.g. `50,200`).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from common import (
    HttpError,
    RawConnection,
    Server,
    Summary,
    Table,
    iso_seconds,
    machine_line,
    parser,
    run_loop,
    task,
    wait_drained,
)


@dataclass
class Load:
    answered_at: dict[str, float] = field(default_factory=dict)  # execution id -> time.time()
    refused: int = 0
    failed: int = 0
    seconds: float = 0.0


async def _load(
    url: str, body: dict[str, Any], clients: int, seconds: float, *, honour: bool
) -> Load:
    parsed = httpx.URL(url)
    payload = json.dumps(body).encode()
    load = Load()
    conns = [RawConnection(parsed.host, parsed.port or 80) for _ in range(clients)]
    await asyncio.gather(*(c.request("GET", "/healthz") for c in conns))
    began = time.perf_counter()

    async def worker(conn: RawConnection) -> None:
        while time.perf_counter() - began < seconds:
            try:
                status, data = await conn.request("POST", "/api/v1/start", payload)
            except (HttpError, OSError):
                load.failed += 1
                continue
            if status == 429:
                load.refused += 1
                if honour:
                    wait = json.loads(data)["details"]["retry_after"]
                    await asyncio.sleep(
                        min(wait, max(0.0, seconds - (time.perf_counter() - began)))
                    )
            elif status == 200:
                now = time.time()
                for execution in json.loads(data)["executions"]:
                    load.answered_at[execution["id"]] = now
            else:
                load.failed += 1

    try:
        await asyncio.gather(*(worker(c) for c in conns))
        load.seconds = time.perf_counter() - began
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return load


def started_times(client: httpx.Client, task_id: str) -> dict[str, float]:
    """Every execution's first attempt start (POSIX seconds, the server's clock)."""
    found: dict[str, float] = {}
    cursor: str | None = None
    for _ in range(10_000):
        params: dict[str, Any] = {"task": task_id, "limit": 1000}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/api/v1/executions", params=params, timeout=120).json()
        for item in body["items"]:
            if item.get("started_at"):
                found[item["id"]] = iso_seconds(item["started_at"])
        cursor = body.get("next_cursor")
        if not cursor:
            break
    return found


def round_(args: Any, max_queued: int | None) -> list[object]:
    work = task("bench-overload", [args.command], overlap="allow", timeout=60)
    executor: dict[str, Any] = {"retry_after_seconds": 1}
    if max_queued is not None:
        executor["max_queued"] = max_queued
    with Server(
        [work],
        slots=args.slots,
        database_url=args.database_url,
        keep=args.keep,
        extra_config={"executor": executor},
    ) as server:
        label = f"max_queued {max_queued}" if max_queued is not None else "no bound"
        print(f"{label}: {args.seconds:.0f} s of starts from {args.clients} clients", flush=True)
        cpu0 = server.cpu_seconds()
        body = {"selectors": [work["id"]]}
        load = run_loop(
            _load(server.url, body, args.clients, args.seconds, honour=args.honour_retry_after)
        )
        stopped = time.monotonic()
        with httpx.Client(base_url=server.url, timeout=60) as client:
            drained = wait_drained(client, work["id"], args.drain_seconds)
            drain = time.monotonic() - stopped if drained is not None else None
            # Load and drain: every accepted start's run is in it, with or without a bound.
            cpu = server.cpu_seconds() - cpu0
            started = started_times(client, work["id"])
    delays = [(started[i] - at) * 1000 for i, at in load.answered_at.items() if i in started]
    never = len(load.answered_at) - len(delays)
    lat = Summary.of(delays)
    accepted = len(load.answered_at)
    return [
        label,
        accepted,
        load.refused,
        load.failed + never,
        accepted / load.seconds if load.seconds else 0.0,
        lat.median,
        lat.p99,
        lat.max,
        drain,
        cpu / max(1, accepted) * 1000,
    ]


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--seconds", type=float, default=10.0, help="Load per round (default 10).")
    p.add_argument("--clients", type=int, default=16, help="Concurrent clients (default 16).")
    p.add_argument("--slots", type=int, default=8, help="Executor slots (default 8).")
    p.add_argument(
        "--max-queued",
        default="200",
        help="The bounds of the rounds after the unbounded one, comma-separated (default 200).",
    )
    p.add_argument("--command", default="/bin/true", help="What each run runs.")
    p.add_argument(
        "--honour-retry-after",
        action="store_true",
        help="A refused client waits Retry-After before its next start (default: at once).",
    )
    p.add_argument("--drain-seconds", type=float, default=900.0, help="Longest drain wait.")
    args = p.parse_args()
    honour = ", clients honour Retry-After" if args.honour_retry_after else ""
    table = Table(
        f"Overload: {args.clients} clients for {args.seconds:.0f} s, {args.slots} slots, "
        f"{args.command}{honour}",
        [
            "round",
            "accepted",
            "refused 429",
            "failed/lost",
            "accepted/s",
            "answer->running p50 (ms)",
            "p99 (ms)",
            "max (ms)",
            "drain after load (s)",
            "server CPU/accepted, load+drain (ms)",
        ],
    )
    bounds = [int(b) for b in str(args.max_queued).split(",") if b.strip()]
    for bound in [None, *bounds]:
        table.add(*round_(args, bound))
    table.print()
    print(f"  {machine_line()}")


if __name__ == "__main__":
    main()
