"""Dashboard: page latency with many executions stored, and what open tabs cost the starts.

    .venv/bin/python bench/dashboard_bench.py [--executions 100000] [--requests 200]
                                              [--tabs 50] [--starts 2000] [--clients 8]

Part 1 (pages): the server starts once (schema, tasks), one real run of a `/bin/true` task is
made, and the server stops; `--executions` copies of that run (new ids, creation times spread
over the last 30 days, mixed statuses) are then written straight through the store
(taskgate.store.executions.insert), and the server starts again. Logged in to the dashboard
(open mode), one client asks, one request at a time, `--requests` times each:
  - the executions list, first page (`/ui/executions`), and a page filtered by task and status;
  - the executions list one cursor page deep (the `Older` link);
  - an execution's page (`/ui/executions/<id>`, a random stored id each time).
Targets: p50 <= 20 ms, p99 <= 100 ms. Beside the wall-clock times, the server's CPU time per
request (ms; /proc of the server process), which a loaded machine distorts less.
`--tabs 0` skips part 2.

Part 2 (tabs): start throughput in skip mode (as bench/throughput.py --mode skip: one long run
holds the task's only slot, so every start is stored `skipped` and published) with
`--clients` connections sending `--starts` starts, first with no dashboard tab open, then with
`--tabs` overview tabs open (the overview's stream, `/ui/events?coalesce=1`: at most one
message a second), then with `--tabs` streams of every event (`/ui/events`, the worst case: no
page of the dashboard asks for that; the execution page follows one execution), then without
again. The tabs are read by a separate process. Target: overview tabs cost at most 10 % of
the rate.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from common import RawConnection, Server, Summary, Table, fmt, machine_line, parser, run_loop, task
from taskgate.store import executions as execution_rows
from taskgate.store.tables import executions

TRUE_TASK = "dash-true"
HOLD_TASK = "dash-hold"
STATUSES = ("finished_success",) * 8 + ("finished_fail", "aborted")
TARGET_P50_MS = 20.0
TARGET_P99_MS = 100.0
TARGET_TABS_COST = 0.10
BATCH = 5000


def database_url(server: Server) -> str:
    if server.database_url:
        return server.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    return f"sqlite:///{server.dir / 'data' / 'taskgate.db'}"


def seed(server: Server, count: int) -> list[str]:
    """`count` copies of the one stored run, written through the store; their ids."""
    engine = sa.create_engine(database_url(server))
    now = datetime.now(UTC)
    ids: list[str] = []
    with engine.begin() as conn:
        template = dict(conn.execute(sa.select(executions).limit(1)).one()._mapping)
        for start in range(0, count, BATCH):
            batch = []
            for i in range(start, min(start + BATCH, count)):
                created = now - timedelta(seconds=30 * 86400 * i / count)
                row = {
                    **template,
                    "id": str(uuid.uuid4()),
                    "status": STATUSES[i % len(STATUSES)],
                    "created_at": created,
                    "started_at": created,
                    "finished_at": created + timedelta(milliseconds=5 + i % 500),
                }
                batch.append(row)
                ids.append(row["id"])
            execution_rows.insert(conn, batch)
    engine.dispose()
    return ids


def log_in(http: httpx.Client) -> None:
    form = http.get("/ui/login").text
    token = form.split('name="login_token" value="', 1)[1].split('"', 1)[0]
    answer = http.post("/ui/login", data={"login_token": token})
    assert answer.status_code == 303, answer.text


def timed(server: Server, http: httpx.Client, paths: list[str]) -> tuple[Summary, float]:
    """The requests' wall-clock times; the server's CPU time per request (ms), which a loaded
    machine distorts less than the wall clock."""
    took = []
    cpu = server.cpu_seconds()
    for path in paths:
        began = time.perf_counter()
        answer = http.get(path)
        took.append((time.perf_counter() - began) * 1000)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
    return Summary.of(took), (server.cpu_seconds() - cpu) / len(paths) * 1000


def pages(server: Server, ids: list[str], requests: int) -> list[tuple[str, Summary, float]]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        log_in(http)
        first = http.get("/ui/executions").text
        cursor = first.split("cursor=", 1)[1].split('"', 1)[0].replace("&amp;", "&")
        timed(server, http, ["/ui/executions"] * 5)  # warm-up
        pick = random.Random(17)
        rows = [
            ("executions list, first page", ["/ui/executions"]),
            ("for comparison: API list, 50 items", ["/api/v1/executions?limit=50"]),
            (
                "list filtered by task and status",
                [f"/ui/executions?task={TRUE_TASK}&status=finished_fail"],
            ),
            ("list filtered by two statuses", ["/ui/executions?status=error&status=aborted"]),
            ("list filtered by caller", ["/ui/executions?caller=anonymous"]),
            ("list filtered by a caller with no runs", ["/ui/executions?caller=key:nobody"]),
            ("list, next cursor page", [f"/ui/executions?cursor={cursor}"]),
        ]
        measured = [(name, *timed(server, http, paths * requests)) for name, paths in rows]
        execution_pages = [f"/ui/executions/{pick.choice(ids)}" for _ in range(requests)]
        return [*measured, ("execution page", *timed(server, http, execution_pages))]


async def start_rate(server: Server, starts: int, clients: int) -> float:
    body = json.dumps({"params": {}}).encode()
    path = f"/api/v1/tasks/{HOLD_TASK}/start"
    left = starts

    async def client() -> None:
        nonlocal left
        connection = RawConnection("127.0.0.1", server.port)
        await connection.open()
        try:
            while left > 0:
                left -= 1
                status, data = await connection.request("POST", path, body)
                assert status == 200, data[:300]
        finally:
            await connection.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return starts / (time.perf_counter() - began)


async def read_tabs(url: str, path: str, tabs: int, ready: Any, stop: Any, counts: Any) -> None:
    with httpx.Client(base_url=url) as login_client:
        log_in(login_client)
        cookies = login_client.cookies
    received = 0
    opened = 0
    limits = httpx.Limits(max_connections=tabs + 1)
    async with httpx.AsyncClient(
        base_url=url, cookies=cookies, timeout=None, limits=limits
    ) as http:

        async def tab() -> None:
            nonlocal received, opened
            async with http.stream("GET", path) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("event: connected"):
                        opened += 1
                        if opened == tabs:
                            ready.set()
                    elif line.startswith("event: execution"):
                        received += 1

        readers = [asyncio.create_task(tab()) for _ in range(tabs)]
        await asyncio.to_thread(stop.wait)
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    counts.put(received)


def tab_process(url: str, path: str, tabs: int, ready: Any, stop: Any, counts: Any) -> None:
    asyncio.run(read_tabs(url, path, tabs, ready, stop, counts))


def with_tabs(server: Server, path: str, tabs: int, run: Any) -> tuple[float, int]:
    """`run()`'s result while `tabs` streams of `path` are open and read by another process;
    the messages the tabs got."""
    context = multiprocessing.get_context("spawn")
    ready, stop, counts = context.Event(), context.Event(), context.Queue()
    reader = context.Process(target=tab_process, args=(server.url, path, tabs, ready, stop, counts))
    reader.start()
    try:
        if not ready.wait(120):
            raise RuntimeError("the tabs did not connect")
        rate: float = run_loop(run())
        stop.set()
        received: int = counts.get(timeout=60)
    finally:
        stop.set()
        reader.join(30)
    return rate, received


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--executions", type=int, default=100_000, help="0: skip the pages part")
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--tabs", type=int, default=50)
    p.add_argument("--starts", type=int, default=2000)
    p.add_argument("--clients", type=int, default=8)
    args = p.parse_args()
    tasks = [
        task(TRUE_TASK, ["/bin/true"]),
        task(HOLD_TASK, ["sleep", "600"], overlap="skip", max_running=1),
    ]
    print(machine_line())
    with Server(tasks, database_url=args.database_url, keep=args.keep) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            http.post(f"/api/v1/tasks/{TRUE_TASK}/start", json={"wait": 30}).raise_for_status()
        if args.executions > 0:
            server._terminate()
            began = time.perf_counter()
            ids = seed(server, args.executions)
            seeded = time.perf_counter() - began
            server.restart()
            print(f"{server.database_label}: {len(ids):,} executions written in {seeded:.1f} s")
            table = Table(
                f"Dashboard pages, {len(ids):,} executions stored",
                ["page", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms", "CPU ms", "target"],
            )
            for name, summary, cpu_ms in pages(server, ids, args.requests):
                ok = summary.median <= TARGET_P50_MS and summary.p99 <= TARGET_P99_MS
                table.add(
                    name,
                    summary.count,
                    fmt(summary.median),
                    fmt(summary.p90),
                    fmt(summary.p99),
                    fmt(summary.max),
                    fmt(cpu_ms),
                    "met" if ok else "missed",
                )
            table.print()
            print(machine_line())
        if args.tabs <= 0:
            return

        with httpx.Client(base_url=server.url, timeout=30) as http:
            http.post(f"/api/v1/tasks/{HOLD_TASK}/start").raise_for_status()

        def rate() -> Any:
            return start_rate(server, args.starts, args.clients)

        before = run_loop(rate())
        overview, nudges = with_tabs(server, "/ui/events?coalesce=1", args.tabs, rate)
        every, received = with_tabs(server, "/ui/events", args.tabs, rate)
        after = run_loop(rate())
        baseline = (before + after) / 2
        tabs = Table(
            "Start throughput (skip mode) and open event-stream tabs",
            ["tabs open", "starts/s", "cost", "messages read by the tabs", "target"],
        )
        tabs.add("none", fmt(before, 0), "", "", "")
        for label, value, messages, target in (
            (f"{args.tabs} overview tabs", overview, nudges, TARGET_TABS_COST),
            (f"{args.tabs} streams of every event", every, received, None),
        ):
            cost = 1 - value / baseline
            verdict = "" if target is None else ("met" if cost <= target else "missed")
            tabs.add(label, fmt(value, 0), f"{cost * 100:.1f} %", f"{messages:,}", verdict)
        tabs.add("none, again", fmt(after, 0), "", "", "")
        tabs.print()


if __name__ == "__main__":
    main()
