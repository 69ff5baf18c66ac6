"""Throughput: starts accepted per second, trivial executions completed per second, nothing lost.

    .venv/bin/python bench/throughput.py [--starts 10000] [--clients 16] [--slots 16]
                                         [--mode skip|run] [--exec-starts 3000]

Phase A (accept): `--clients` concurrent HTTP clients (httpx, asyncio) send `--starts`
`POST /api/v1/start` requests with one `id:` selector between them; a start counts as accepted
when it is answered 200 (the execution is on disk). The rate is accepted starts / the time from
the first request to the last answer. Then the benchmark waits until no execution is active and
reads every execution of the task back through the paginated list: every accepted execution id
must be there and in a terminal status, and no other execution may exist.

  --mode run  (default) the task is `/bin/true` with overlap allow: accepted executions run
              while the clients keep starting more, as they would in production.
  --mode skip the task has overlap skip, max_running 1, and one long execution of it is kept
              running: every start is stored as an execution in `skipped` (terminal) in the same
              transaction, so the figure is the accept path alone, without the executor.

Phase B (execute): on the same server, `--exec-starts` starts of a second `/bin/true` task
(overlap allow) from the same clients; the rate is executions / (latest finished_at - the time
the first start was sent).

With `--profile FILE`, py-spy records the server during phase A (FILE) and phase B (FILE.b).

The load comes from a lean HTTP/1.1 client on asyncio streams (uvloop when installed; httpx's
async client was slower than the server here). Also printed: the client's own ceiling
(`GET /healthz` with the same clients; a start cannot be accepted faster than that) and the
server's RSS and CPU time after each phase.
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
    Profiler,
    RawConnection,
    Server,
    Summary,
    Table,
    account,
    machine_line,
    mib,
    parser,
    run_loop,
    task,
    verdict,
    wait_drained,
)

TARGET_ACCEPT = 1000.0
TARGET_EXEC = 400.0


@dataclass
class FireResult:
    sent: int = 0
    accepted: list[str] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)  # "HTTP 503" / exception name -> count
    first_sent: float = 0.0  # time.time()
    last_answer: float = 0.0
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def rate(self) -> float:
        return len(self.accepted) / self.seconds if self.seconds > 0 else 0.0


async def _fire(
    url: str,
    n: int,
    clients: int,
    *,
    method: str = "POST",
    path: str = "/api/v1/start",
    body: dict[str, Any] | None = None,
    max_seconds: float = 600.0,
) -> FireResult:
    result = FireResult()
    next_index = 0
    parsed = httpx.URL(url)
    host, port = parsed.host, parsed.port or 80
    payload = json.dumps(body).encode() if body is not None else None
    is_start = path == "/api/v1/start"
    began = time.monotonic()

    async def worker(conn: RawConnection) -> None:
        nonlocal next_index
        while next_index < n:
            if time.monotonic() - began > max_seconds:
                result.stopped_early = True
                return
            next_index += 1
            result.sent += 1
            t0 = time.perf_counter()
            try:
                status, data = await conn.request(method, path, payload)
            except (HttpError, OSError) as exc:
                key = type(exc).__name__
                result.refused[key] = result.refused.get(key, 0) + 1
                continue
            result.latencies_ms.append((time.perf_counter() - t0) * 1000)
            if status != 200:
                key = f"HTTP {status}"
                result.refused[key] = result.refused.get(key, 0) + 1
                continue
            if is_start:
                result.accepted.extend(e["id"] for e in json.loads(data)["executions"])
            else:
                result.accepted.append("")

    conns = [RawConnection(host, port) for _ in range(clients)]
    try:
        # Open the connections before the clock starts.
        await asyncio.gather(*(c.request("GET", "/healthz") for c in conns))
        result.first_sent = time.time()
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in conns))
        result.seconds = time.perf_counter() - t0
        result.last_answer = time.time()
    finally:
        await asyncio.gather(*(c.close() for c in conns))
    return result


def fire(url: str, n: int, clients: int, **kwargs: Any) -> FireResult:
    """Send `n` requests from `clients` concurrent connections (default: starts)."""
    return run_loop(_fire(url, n, clients, **kwargs))


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--starts", type=int, default=10000, help="Phase A starts (default 10000).")
    p.add_argument("--clients", type=int, default=16, help="Concurrent clients (default 16).")
    p.add_argument("--slots", type=int, default=16, help="Executor slots (default 16).")
    p.add_argument("--mode", choices=["run", "skip"], default="skip", help="Phase A task kind.")
    p.add_argument("--exec-starts", type=int, default=3000, help="Phase B starts (0: skip it).")
    p.add_argument(
        "--max-seconds", type=float, default=1800.0, help="Longest a phase may send starts."
    )
    p.add_argument(
        "--drain-seconds", type=float, default=900.0, help="Longest wait for executions to end."
    )
    p.add_argument(
        "--no-cluster-events",
        action="store_true",
        help="PostgreSQL: run without the event relay to other servers (cluster.events off).",
    )
    p.add_argument(
        "--max-queued",
        type=int,
        default=None,
        help="Set executor.max_queued (the queue bound; its check is on the accept path).",
    )
    args = p.parse_args()
    extra: dict[str, Any] = {}
    if args.no_cluster_events:
        extra["cluster"] = {"events": False}
    if args.max_queued:
        extra["executor"] = {"max_queued": args.max_queued}

    true = "/bin/true"
    accept_task = task("bench-accept", [true], overlap="allow", timeout=60)
    if args.mode == "skip":
        accept_task = task(
            "bench-accept",
            ["/bin/sleep", "3600"],
            overlap="skip",
            max_running=1,
            timeout=3600,
        )
    exec_task = task("bench-exec", [true], overlap="allow", timeout=60)
    tables: list[Table] = []
    with Server(
        [accept_task, exec_task],
        slots=args.slots,
        database_url=args.database_url,
        keep=args.keep,
        loop=args.loop,
        extra_config=extra or None,
    ) as server:
        print(f"server pid {server.pid} on {server.url}; {server.database_label}", flush=True)
        rss_idle = server.rss_bytes()
        ceiling = fire(server.url, 2000, args.clients, method="GET", path="/healthz")
        blocker: str | None = None
        with httpx.Client(base_url=server.url, timeout=60) as client:
            if args.mode == "skip":
                resp = client.post("/api/v1/start", json={"selectors": [accept_task["id"]]})
                blocker = resp.json()["executions"][0]["id"]
                _wait_status(client, blocker, "started")

            cpu0 = server.cpu_seconds()
            print(f"phase A: {args.starts} starts from {args.clients} clients ...", flush=True)
            with Profiler(server.pid, args.profile):
                a = fire(
                    server.url,
                    args.starts,
                    args.clients,
                    body={"selectors": [f"id:{accept_task['id']}"]},
                    max_seconds=args.max_seconds,
                )
            cpu_a = server.cpu_seconds() - cpu0
            rss_a = server.rss_bytes()
            if blocker:
                client.post(f"/api/v1/executions/{blocker}/abort")
            print(f"phase A: {a.rate:.0f}/s accepted; waiting for executions to end", flush=True)
            drained = wait_drained(client, accept_task["id"], args.drain_seconds)
            counts = account(client, accept_task["id"], a.accepted + ([blocker] if blocker else []))

            b: FireResult | None = None
            counts_b: dict[str, Any] | None = None
            drained_b: float | None = None
            cpu_b = 0.0
            if args.exec_starts > 0:
                print(f"phase B: {args.exec_starts} executions of {true} ...", flush=True)
                cpu0 = server.cpu_seconds()
                with Profiler(server.pid, args.profile and args.profile + ".b"):
                    b = fire(
                        server.url,
                        args.exec_starts,
                        args.clients,
                        body={"selectors": [f"id:{exec_task['id']}"]},
                        max_seconds=args.max_seconds,
                    )
                    drained_b = wait_drained(client, exec_task["id"], args.drain_seconds)
                cpu_b = server.cpu_seconds() - cpu0
                counts_b = account(client, exec_task["id"], b.accepted)
            time.sleep(2)
            rss_after = server.rss_bytes()
            problems = server.log_problems()

    # -- phase A table ---------------------------------------------------------------------
    lat = Summary.of(a.latencies_ms)
    t = Table(
        f"Throughput A - starts accepted ({args.mode} mode, {args.clients} clients, "
        f"{server.database_label})",
        ["measure", "value", "target", "verdict"],
    )
    t.add("starts sent", a.sent, "", "")
    t.add("starts accepted (HTTP 200)", len(a.accepted), "", "")
    t.add("refused / failed", sum(a.refused.values()), "0", verdict(not a.refused))
    t.add("accept phase (s)", a.seconds, "", "")
    t.add("accepted starts/s", a.rate, f">= {TARGET_ACCEPT:,.0f}", verdict(a.rate >= TARGET_ACCEPT))
    t.add("start answer median (ms)", lat.median, "", "")
    t.add("start answer p99 (ms)", lat.p99, "", "")
    t.add("start answer max (ms)", lat.max, "", "")
    t.add("client ceiling, GET /healthz/s", ceiling.rate, "", "")
    t.add("server CPU during phase (s)", cpu_a, "", "")
    t.add(
        "server CPU per accepted start (ms)",
        cpu_a / max(1, len(a.accepted)) * 1000,
        "",
        "",
    )
    lost = counts["missing"] + counts["non_terminal"] + counts["extra"]
    t.add("executions listed via API", counts["listed"], str(counts["expected"]), "")
    t.add("accepted but missing", counts["missing"], "0", verdict(counts["missing"] == 0))
    t.add("listed but never accepted", counts["extra"], "0", verdict(counts["extra"] == 0))
    t.add("not terminal at the end", counts["non_terminal"], "0", verdict(lost == 0))
    if drained is None:
        t.notes.append(f"executions still active after {args.drain_seconds:g}s of waiting")
    elif args.mode == "run" and counts["last_finished"]:
        done = counts["last_finished"] - a.first_sent
        t.add("executions completed/s (A, first start -> last end)", len(a.accepted) / done, "", "")
    t.notes.append(f"statuses: {counts['statuses']}; read back in {counts['pages']} pages")
    if a.refused:
        t.notes.append(f"refused: {a.refused}")
    if a.stopped_early:
        t.notes.append("stopped early: time limit reached")
    if drained is not None:
        t.notes.append(f"all executions of phase A ended {drained:.1f} s after the last answer")
    tables.append(t)

    # -- phase B table ---------------------------------------------------------------------
    if b is not None and counts_b is not None:
        tb = Table(
            f"Throughput B - trivial executions completed ({true}, slots {args.slots}, "
            f"{server.database_label})",
            ["measure", "value", "target", "verdict"],
        )
        rate_b = 0.0
        if counts_b["last_finished"]:
            span = counts_b["last_finished"] - b.first_sent
            rate_b = len(b.accepted) / span
            tb.add("first start -> last execution finished (s)", span, "", "")
        tb.add("starts accepted", len(b.accepted), str(args.exec_starts), "")
        tb.add("starts/s during phase B", b.rate, "", "")
        tb.add("executions completed/s", rate_b, f">= {TARGET_EXEC:,.0f}", verdict(rate_b >= 400))
        tb.add(
            "finished_success",
            counts_b["statuses"].get("finished_success", 0),
            str(len(b.accepted)),
            verdict(counts_b["statuses"].get("finished_success", 0) == len(b.accepted)),
        )
        tb.add("accepted but missing", counts_b["missing"], "0", verdict(counts_b["missing"] == 0))
        tb.add("server CPU during phase (s)", cpu_b, "", "")
        tb.add("server CPU per execution (ms)", cpu_b / max(1, len(b.accepted)) * 1000, "", "")
        if drained_b is None:
            tb.notes.append(f"executions still active after {args.drain_seconds:g}s")
        tb.notes.append(f"statuses: {counts_b['statuses']}")
        if b.refused:
            tb.notes.append(f"refused: {b.refused}")
        tables.append(tb)

    tm = Table("Server memory (RSS)", ["when", "RSS"])
    tm.add("after start-up, idle", mib(rss_idle))
    tm.add("right after phase A", mib(rss_a))
    tm.add("after all phases, idle 2 s", mib(rss_after))
    tm.notes.append(machine_line())
    for line in problems[:5]:
        tm.notes.append(f"server log: {line[:200]}")
    if len(problems) > 5:
        tm.notes.append(f"server log: ... {len(problems) - 5} more warning/error lines")
    tables.append(tm)
    for table in tables:
        table.print()


def _wait_status(client: httpx.Client, execution_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if client.get(f"/api/v1/executions/{execution_id}").json()["status"] == status:
            return
        time.sleep(0.05)
    raise RuntimeError(f"execution {execution_id} did not reach {status}")


if __name__ == "__main__":
    main()
