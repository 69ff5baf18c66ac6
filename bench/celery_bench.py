"""The Celery executor beside the local one and beside Celery + Flower, in one run, one table.

    .venv/bin/python bench/celery_bench.py [--database-url postgresql://postgres@127.0.0.1:5432/test]
        [--count 200] [--warmup 20] [--seconds 5] [--concurrency 8] [--rounds 1] [--no-peer]
        [--profile FILE]

Systems (each taskgate one on a fresh PostgreSQL database of `--database-url`, default the
local test server):
- *taskgate, Celery*: API node 1 (executor.kind: celery), one `taskgate worker`
  (`--concurrency` runs at once) and a redis-server of the bench's own as broker; API node 2,
  on the same database, joins for phase 3.
- *taskgate, local*: one server, local executor, `--concurrency` slots.
- *Celery + Flower*: bench/peers/celery_flower.py's stack (its venv, its Redis, a prefork
  worker with `--concurrency` processes), measured by that script's own round.

Phases, system after system:
1. start -> process running: `--count` sequential starts of the stamp program (the loop of
   trigger_latency.py), each waited for; p50 and p99.
2. /bin/true completed: `wrk -t1 -c16` sends starts of /bin/true (overlap allow) for
   `--seconds`; completed/s = executions / (the last end - the start of the burst). CPU ms per
   execution of each part over the burst and the drain: API node, worker, broker, database.
   With `--rounds N`, N rounds of Celery then local; the table gives each figure's median and
   the median of the rounds' Celery / local ratios, and lists every round's.
3. starts accepted (taskgate, Celery): throughput.py's skip mode (a task with overlap skip
   whose one long run keeps going on the worker: each start is stored `skipped`, the accept
   path alone) by `wrk -t1 -c16` on node 1, then by one `wrk -t1 -c8` on each of nodes 1 and 2
   at once. CPU ms per start of each node and of the database.
4. Celery + Flower: the peer script's round (latency, accept, /bin/true).

CPU is read from /proc: a process's own time (not its children's: the programs it runs), the
Celery pool with its parent, and for the database the PostgreSQL backends connected to the
system's database (the server's shared processes, WAL writer and checkpointer, work for every
database there and are left out). The projection for N worker machines is CPU arithmetic from
these per-execution costs, named with what bounds it. The 1-minute load average is read before
and after each phase and printed beside its figures.
"""

from __future__ import annotations

import argparse
import math
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from common import (
    ACTIVE,
    Profiler,
    Server,
    Summary,
    Table,
    account,
    fmt,
    machine_line,
    parser,
    stamp_program,
    task,
    verdict,
)

# The peer script is run by path too; from here it is imported by its own name.
sys.path.insert(0, str(Path(__file__).resolve().parent / "peers"))

from celery_flower import (
    PEER_VENV,
    WRK_SCRIPT,
    Burst,
    Figures,
    burst,
    peer_python,
    peer_round,
    running_peer,
)

from scaleout import (
    CpuMeter,
    CpuReader,
    RedisServer,
    Worker,
    api_node,
    of_postgres,
    of_process,
)
from trigger_latency import sequential_starts

TARGET_P50_MS = 10.0
TARGET_P99_MS = 30.0
TARGET_RATIO = 0.70
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
PARTS = ("API node", "worker", "broker", "database")
WORKER_MACHINES = (1, 2, 4, 8, 16)


# --- what a phase measured ----------------------------------------------------------------------


@dataclass
class Phase:
    """Figures of one phase on one system, and the 1-minute load before -> after it."""

    values: dict[str, float] = field(default_factory=dict)
    load: str = ""
    notes: list[str] = field(default_factory=list)


def load_one() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


@contextmanager
def phase(name: str) -> Iterator[Phase]:
    print(f"{time.strftime('%H:%M:%S')} {name} ...", flush=True)
    got = Phase()
    before = load_one()
    yield got
    got.load = f"{before:.1f}->{load_one():.1f}"


def medians(rounds: list[Phase]) -> Phase:
    """One phase of several rounds: the median of each figure, every round's load and notes."""
    merged = Phase(load=", ".join(got.load for got in rounds))
    for key in dict.fromkeys(k for got in rounds for k in got.values):
        merged.values[key] = statistics.median(
            got.values[key] for got in rounds if key in got.values
        )
    merged.notes = [note for got in rounds for note in got.notes]
    return merged


def database_of(server: Server) -> str:
    assert server.database_url
    return make_url(server.database_url).database or ""


# --- phase 1: start -> process running ----------------------------------------------------------


# trigger_latency.py's split of the p50, by the server's own timestamps (medians).
SPLIT = (
    ("stored", "  1. sent -> created_at p50 (ms)"),
    ("dispatch", "  2. created_at -> attempt started_at (claimed) p50 (ms)"),
    ("spawn", "  3. claimed -> process running p50 (ms)"),
)


def latency(server: Server, stamp_id: str, args: argparse.Namespace, name: str) -> Phase:
    with phase(f"{name}: start -> process running") as got:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            run = sequential_starts(client, stamp_id, args.count, args.warmup, args.max_seconds)
        s = Summary.of(run.running_ms)
        got.values = {"p50": s.median, "p99": s.p99, "n": len(run.running_ms)}
        for key, _label in SPLIT:
            spread = getattr(run, f"{key}_ms")
            if spread:
                got.values[key] = statistics.median(spread)
        got.notes.extend(run.failures[:3])
    return got


# --- phase 2: /bin/true completed through the executor ------------------------------------------


def completed(
    server: Server,
    task_id: str,
    parts: dict[str, CpuReader],
    args: argparse.Namespace,
    wrk: Path | None,
    name: str,
    profiles: dict[str, int] | None = None,
) -> Phase:
    """Starts for `--seconds`, then the drain; completed/s and CPU ms per execution by part.

    The task's list still holds the earlier rounds' runs: only what this round added counts."""
    with phase(f"{name}: /bin/true completed") as got:
        with ExitStack() as stack, httpx.Client(base_url=server.url, timeout=60) as client:
            earlier = account(client, task_id, [])
            for label, pid in (profiles or {}).items():
                stack.enter_context(Profiler(pid, f"{args.profile}.{label}"))
            with CpuMeter(parts) as meter:
                sent = burst(
                    server.url, "/api/v1/start", {"selectors": [f"id:{task_id}"]}, args, wrk
                )
                if drained(client, task_id, args.drain_seconds) is None:
                    got.notes.append(f"{name}: runs still active after {args.drain_seconds:g} s")
            counts = account(client, task_id, [])
        ok = counts["statuses"].get("finished_success", 0) - earlier["statuses"].get(
            "finished_success", 0
        )
        listed = counts["listed"] - earlier["listed"]
        if counts["last_finished"]:
            got.values["done"] = ok / (counts["last_finished"] - sent.began)
        got.values["sent"] = sent.rate
        got.values["runs"] = ok
        got.values.update(meter.per(ok))
        if ok != listed or sent.refused:
            got.notes.append(
                f"{name}: {counts['statuses']} of {counts['listed']} listed (this round {listed}); "
                f"{sent.refused} starts refused"
            )
    return got


def drained(client: httpx.Client, task_id: str, limit_seconds: float) -> float | None:
    """`common.wait_drained`, asking once a second: its five questions a second would be
    counted in the API node's CPU per execution."""
    began = time.monotonic()
    while time.monotonic() - began < limit_seconds:
        answer = client.get(
            "/api/v1/executions", params={"task": task_id, "status": list(ACTIVE), "limit": 1}
        )
        answer.raise_for_status()
        if not answer.json()["items"]:
            return time.monotonic() - began
        time.sleep(1.0)
    return None


# --- phase 3: starts accepted by 1 and by 2 API nodes -------------------------------------------


def started_blocker(client: httpx.Client, skip_id: str) -> str:
    """The one long run of the skip task, started and running (on the worker)."""
    answer = client.post("/api/v1/start", json={"selectors": [f"id:{skip_id}"]})
    answer.raise_for_status()
    execution_id: str = answer.json()["executions"][0]["id"]
    deadline = time.monotonic() + 60
    while client.get(f"/api/v1/executions/{execution_id}").json()["status"] != "started":
        if time.monotonic() > deadline:
            raise RuntimeError("the skip task's long run did not start on the worker")
        time.sleep(0.05)
    return execution_id


def accepted(
    nodes: list[Server],
    skip_id: str,
    parts: dict[str, CpuReader],
    args: argparse.Namespace,
    wrk: Path | None,
) -> Phase:
    """wrk -t1 against each node at once, 16 connections shared out between them."""
    name = f"taskgate, Celery: starts accepted by {len(nodes)} API node(s)"
    body = {"selectors": [f"id:{skip_id}"]}
    connections = 16 // len(nodes)
    with phase(name) as got:
        with CpuMeter(parts) as meter, ThreadPoolExecutor(len(nodes)) as pool:
            bursts: list[Burst] = list(
                pool.map(
                    lambda node: burst(node.url, "/api/v1/start", body, args, wrk, connections),
                    nodes,
                )
            )
        count = sum(b.accepted for b in bursts)
        got.values["accept"] = sum(b.rate for b in bursts)
        got.values["accepted"] = count
        got.values.update(meter.per(count))
        refused = sum(b.refused for b in bursts)
        if refused:
            got.notes.append(f"{len(nodes)} node(s): {refused} starts refused")
    return got


# --- the projection ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ceiling:
    """Executions per second one part carries at most, from its CPU per execution."""

    part: str
    per_unit: float  # executions/s of one unit (a worker machine, an API node, ...)
    units: str

    def of(self, n: float) -> float:
        return n * self.per_unit


def ceilings(ms: dict[str, float], args: argparse.Namespace, *, peer: bool) -> list[Ceiling]:
    """What each part carries, from CPU ms per execution. A taskgate process runs its work on
    one core (one event loop, and the GIL for its threads); Celery's prefork pool uses every
    core it is given; Redis and Flower run on one thread each."""

    def rate(part: str, cores: float) -> float:
        cost = ms.get(part, math.nan)
        return cores * 1000 / cost if cost and cost > 0 else math.inf

    worker_cores = args.worker_cores
    found = [
        Ceiling(
            "worker", rate("worker", worker_cores), f"per worker machine ({worker_cores} cores)"
        )
    ]
    if peer:
        found += [
            Ceiling("Flower", rate("API node", 1), "per Flower process (one thread)"),
            Ceiling("Redis", rate("broker", 1), "(one thread; broker and result backend)"),
        ]
    else:
        found += [
            Ceiling("API node", rate("API node", 1), "per API node (one core)"),
            Ceiling("PostgreSQL", rate("database", args.db_cores), f"({args.db_cores} cores)"),
            Ceiling("Redis", rate("broker", 1), "(one thread)"),
        ]
    return found


def projection(limits: list[Ceiling], machines: int, api_nodes: int) -> tuple[float, str]:
    """Executions/s with `machines` worker machines and `api_nodes` API nodes, and its bound."""
    scaled = []
    for c in limits:
        if c.part == "worker":
            scaled.append((c.of(machines), c.part))
        elif c.part == "API node":
            scaled.append((c.of(api_nodes), f"{api_nodes} API node(s)"))
        else:
            scaled.append((c.per_unit, c.part))
    return min(scaled)


# --- the table -----------------------------------------------------------------------------------


def ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return "-"
    return f"{a / b:.2f}"


def value(got: Phase | None, key: str) -> float | None:
    return None if got is None else got.values.get(key)


def cell(got: Phase | None, key: str, digits: int = 2) -> str:
    if got is None or key not in got.values:
        return "-"
    return fmt(got.values[key], digits)


def peer_cell(fig: Figures | None, key: str, digits: int = 2) -> str:
    if fig is None or not fig.rows.get(key):
        return "-"
    return fmt(statistics.median(fig.rows[key]), digits)


def peer_latency(fig: Figures | None, key: str) -> str:
    """The peer's stamp program figure, and beside it its Python function (no spawn)."""
    spawned, bare = peer_cell(fig, key), peer_cell(fig, f"py-{key}")
    return spawned if bare == "-" else f"{spawned}; {bare} no spawn"


def peer_ms(fig: Figures | None) -> dict[str, float]:
    """The peer's CPU ms per /bin/true run in our parts' names."""
    if fig is None:
        return {}
    names = {"API node": "flower", "worker": "worker", "broker": "redis"}
    return {
        part: statistics.median(fig.rows[f"run-cpu-{name}"])
        for part, name in names.items()
        if fig.rows.get(f"run-cpu-{name}")
    }


@dataclass
class Results:
    lat: dict[str, Phase] = field(default_factory=dict)  # "celery" / "local"
    run: dict[str, Phase] = field(default_factory=dict)
    accept: dict[int, Phase] = field(default_factory=dict)  # API nodes -> phase
    peer: Figures | None = None
    peer_load: str = "-"
    stored_skipped: int = 0
    # Phase 2's completed/s of each round: (Celery, local).
    round_ratios: list[tuple[float, float]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def render(r: Results, args: argparse.Namespace) -> Table:
    c, lo = r.run.get("celery"), r.run.get("local")
    t = Table(
        "Celery executor (issue 18): taskgate on Celery and on the local executor, one PostgreSQL; "
        "Celery + Flower beside",
        [
            "figure",
            "taskgate, Celery",
            "taskgate, local",
            "Celery / local",
            "Celery + Flower",
            "load 1 min",
        ],
    )
    for key, label in (("p50", "start -> process running p50 (ms)"), ("p99", "  same, p99 (ms)")):
        cl, ll = r.lat.get("celery"), r.lat.get("local")
        t.add(
            label,
            cell(cl, key),
            cell(ll, key),
            ratio(value(cl, key), value(ll, key)),
            peer_latency(r.peer, key),
            f"{cl.load if cl else '-'} / {ll.load if ll else '-'} / {r.peer_load}",
        )
    for key, label in SPLIT:
        cl, ll = r.lat.get("celery"), r.lat.get("local")
        t.add(label, cell(cl, key), cell(ll, key), ratio(value(cl, key), value(ll, key)), "", "")
    run_load = f"{c.load if c else '-'} / {lo.load if lo else '-'} / {r.peer_load}"
    shares = [a / b for a, b in r.round_ratios if b and not math.isnan(a) and not math.isnan(b)]
    t.add(
        f"/bin/true completed/s ({args.concurrency} at once)"
        + (f", median of {len(shares)} rounds" if len(shares) > 1 else ""),
        cell(c, "done"),
        cell(lo, "done"),
        f"{statistics.median(shares):.2f}" if shares else "-",
        peer_cell(r.peer, "done"),
        run_load,
    )
    pms = peer_ms(r.peer)
    peer_names = {"API node": "Flower", "worker": "worker + pool", "broker": "Redis"}
    for part in PARTS:
        peer_value = fmt(pms[part]) if part in pms else "-"
        if part in peer_names and part in pms:
            peer_value += f" ({peer_names[part]})"
        t.add(
            f"  CPU ms per execution: {part}",
            cell(c, part),
            cell(lo, part) if part in ("API node", "database") else "-",
            ratio(value(c, part), value(lo, part)) if part in ("API node", "database") else "-",
            peer_value,
            "",
        )
    total_c = sum(c.values.get(p, 0.0) for p in PARTS) if c else None
    total_l = sum(lo.values.get(p, 0.0) for p in PARTS) if lo else None
    t.add(
        "  CPU ms per execution: all parts",
        fmt(total_c),
        fmt(total_l),
        ratio(total_c, total_l),
        fmt(sum(pms.values())) if pms else "-",
        "",
    )
    one, two = r.accept.get(1), r.accept.get(2)
    t.add(
        "starts accepted/s, 1 API node (skip: accept path alone)",
        cell(one, "accept", 0),
        "",
        "",
        peer_cell(r.peer, "accept", 0) + " (a queue no worker reads)" if r.peer else "-",
        one.load if one else "-",
    )
    if one:
        t.add("  CPU ms per start: API node", cell(one, "API node 1"), "", "", "", "")
        t.add("  CPU ms per start: database", cell(one, "database"), "", "", "", "")
    t.add(
        "starts accepted/s, 2 API nodes (wrk -c8 on each)",
        cell(two, "accept", 0),
        "",
        ratio(value(two, "accept"), value(one, "accept")) + " of 1 node",
        "",
        two.load if two else "-",
    )
    if two:
        for part in ("API node 1", "API node 2", "database"):
            t.add(f"  CPU ms per start: {part}", cell(two, part), "", "", "", "")
    if r.peer:
        t.add("  CPU ms per start: whole stack (peer)", "", "", "", peer_cell(r.peer, "cpu"), "")

    # Projection: what the parts carry, from their CPU per execution.
    ours = ceilings(c.values, args, peer=False) if c else []
    theirs = ceilings(pms, args, peer=True) if pms else []
    for limit in ours:
        t.add(
            f"ceiling, {limit.part} {limit.units} (exec/s)", fmt(limit.per_unit, 0), "", "", "", ""
        )
    for limit in theirs:
        t.add(
            f"ceiling, peer {limit.part} {limit.units} (exec/s)",
            "",
            "",
            "",
            fmt(limit.per_unit, 0),
            "",
        )
    for n in WORKER_MACHINES:
        our = projection(ours, n, args.api_nodes) if ours else None
        their = projection(theirs, n, 1) if theirs else None
        t.add(
            f"projected exec/s, {n} worker machine(s), {args.api_nodes} API node(s)",
            f"{fmt(our[0], 0)} ({our[1]})" if our else "-",
            "",
            "",
            f"{fmt(their[0], 0)} ({their[1]})" if their else "-",
            "",
        )
    if one and two:
        node = two.values.get("API node 1", math.nan)
        db = two.values.get("database", math.nan)
        t.notes.append(
            f"starts ceiling: {fmt(1000 / node, 0)} starts/s per API node (one core each), "
            f"PostgreSQL {fmt(args.db_cores * 1000 / db, 0)} starts/s on {args.db_cores} cores"
            " (CPU per start with 2 nodes)"
        )

    cl = r.lat.get("celery")
    if cl:
        t.notes.append(
            f"targets: Celery p50 <= {TARGET_P50_MS:g} ms "
            f"({verdict(cl.values['p50'] <= TARGET_P50_MS)}), "
            f"p99 <= {TARGET_P99_MS:g} ms ({verdict(cl.values['p99'] <= TARGET_P99_MS)})"
        )
    if shares:
        share = statistics.median(shares)
        each = ", ".join(f"{a:.0f}/{b:.0f} ({a / b:.2f})" for a, b in r.round_ratios if b)
        t.notes.append(
            f"target: Celery completed/s >= {TARGET_RATIO:.0%} of local: {share:.0%} "
            f"({verdict(share >= TARGET_RATIO)}); Celery/local per round: {each}"
        )
    t.notes.append(
        f"load column: 1-minute load before->after the phase (Celery / local / peer); "
        f"latency {args.count} sequential starts after {args.warmup} warm-up; bursts wrk -t1 "
        f"for {args.seconds} s; skipped executions stored in phase 3: {r.stored_skipped}"
    )
    t.notes.append(
        "CPU: each process's own (children excluded), the peer's pool with its worker; "
        "database = PostgreSQL backends of the system's database; peer: Redis is broker and "
        "result backend, Flower its HTTP front"
    )
    for phases in (r.lat, r.run):
        for got in phases.values():
            t.notes.extend(f"problem: {n}" for n in got.notes)
    for got in r.accept.values():
        t.notes.extend(f"problem: {n}" for n in got.notes)
    t.notes.extend(f"problem: {n}" for n in r.notes)
    if r.peer:
        t.notes.extend(f"peer: {n[:200]}" for n in dict.fromkeys(r.peer.notes))
    t.notes.append(machine_line())
    return t


# --- the run -------------------------------------------------------------------------------------


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--count", type=int, default=200, help="Sequential starts per latency row.")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--max-seconds", type=float, default=300.0, help="Longest latency phase.")
    p.add_argument("--seconds", type=int, default=5, help="Length of each wrk burst.")
    p.add_argument("--concurrency", type=int, default=8, help="Worker concurrency = local slots.")
    p.add_argument("--drain-seconds", type=float, default=300.0)
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="Phase 2 this many times, Celery and local in turn; the table gives the medians "
        "and the median of the rounds' ratios (a noisy machine moves single rounds).",
    )
    p.add_argument("--no-peer", action="store_true", help="Leave Celery + Flower out.")
    p.add_argument("--peer-venv", type=Path, default=PEER_VENV)
    p.add_argument(
        "--worker-cores",
        type=int,
        default=2,
        help="Projection: cores per worker machine (one taskgate worker process per core).",
    )
    p.add_argument("--db-cores", type=int, default=2, help="Projection: PostgreSQL's cores.")
    p.add_argument("--api-nodes", type=int, default=1, help="Projection: API nodes.")
    args = p.parse_args()
    args.fallback_starts = 3000  # burst() without wrk
    args.database_url = args.database_url or DEFAULT_PG
    python = None if args.no_peer else peer_python(args.peer_venv)

    results = Results()
    with tempfile.TemporaryDirectory(prefix="taskgate-celery-bench-") as tmp, ExitStack() as stack:
        workdir = Path(tmp)
        wrk: Path | None = None
        if shutil.which("wrk"):
            wrk = workdir / "post.lua"
            wrk.write_text(WRK_SCRIPT)
        else:
            print("wrk not found: the Python client sends the bursts", flush=True)
        program = stamp_program(workdir)
        stamp = task("bench-stamp", program.argv, overlap="allow", timeout=30)
        true = task("bench-true", ["/bin/true"], overlap="allow", timeout=30)
        skip = task(
            "bench-skip", ["/bin/sleep", "3600"], overlap="skip", max_running=1, timeout=3600
        )
        redis = stack.enter_context(_stopping(RedisServer(workdir).start()))
        celery_config = {
            "executor": {
                "kind": "celery",
                "celery": {"broker_url": redis.url, "queue_prefix": "bench."},
            }
        }
        node = stack.enter_context(
            Server(
                [stamp, true, skip],
                slots=args.concurrency,
                database_url=args.database_url,
                keep=args.keep,
                extra_config=celery_config,
            )
        )
        worker = stack.enter_context(
            _stopping(Worker(node, "bench-worker", args.concurrency).start())
        )
        # Stopped after phase 2: its connections leave room on a shared PostgreSQL for node 2.
        local_stack = stack.enter_context(ExitStack())
        local = local_stack.enter_context(
            Server(
                [stamp, true],
                slots=args.concurrency,
                database_url=args.database_url,
                keep=args.keep,
            )
        )
        print(f"program: {program.kind}; {machine_line()}", flush=True)
        celery_parts = {
            "API node": of_process(node.pid),
            "worker": of_process(worker.pid),
            "broker": of_process(redis.pid),
            "database": of_postgres(database_of(node)),
        }
        local_parts = {
            "API node": of_process(local.pid),
            "database": of_postgres(database_of(local)),
        }

        results.lat["celery"] = latency(node, stamp["id"], args, "taskgate, Celery")
        results.lat["local"] = latency(local, stamp["id"], args, "taskgate, local")
        profiles = {"node": node.pid, "worker": worker.pid} if args.profile else None
        rounds: dict[str, list[Phase]] = {"celery": [], "local": []}
        for _ in range(args.rounds):
            rounds["celery"].append(
                completed(node, true["id"], celery_parts, args, wrk, "taskgate, Celery", profiles)
            )
            rounds["local"].append(
                completed(local, true["id"], local_parts, args, wrk, "taskgate, local")
            )
            profiles = None  # the first round's profile only
        results.run = {name: medians(got) for name, got in rounds.items()}
        results.round_ratios = [
            (c.values.get("done", math.nan), lo.values.get("done", math.nan))
            for c, lo in zip(rounds["celery"], rounds["local"], strict=True)
        ]
        local_stack.close()

        with httpx.Client(base_url=node.url, timeout=60) as client:
            blocker = started_blocker(client, skip["id"])
            parts1 = {"API node 1": celery_parts["API node"], "database": celery_parts["database"]}
            results.accept[1] = accepted([node], skip["id"], parts1, args, wrk)
            try:
                second = stack.enter_context(api_node(node, "bench-node-2"))
            except RuntimeError as exc:  # e.g. PostgreSQL's max_connections, shared here
                results.notes.append(f"the second API node did not start: {exc}")
            else:
                parts2 = {**parts1, "API node 2": of_process(second.pid)}
                results.accept[2] = accepted([node, second], skip["id"], parts2, args, wrk)
            client.post(f"/api/v1/executions/{blocker}/abort").raise_for_status()
            # Ended before the worker stops: its warm shutdown waits for what runs.
            client.get(f"/api/v1/executions/{blocker}/wait", params={"timeout": 30})
            results.stored_skipped = account(client, skip["id"], [])["statuses"].get("skipped", 0)

        if python is not None:
            with (
                phase("Celery + Flower (the peer script's round)") as got,
                running_peer(python, program.argv, args.concurrency, args.keep) as peer,
            ):
                peer.collect(0, 0)  # the readiness probe's result
                figures = Figures()
                peer_round(peer, 0, args, wrk, figures)
            results.peer, results.peer_load = figures, got.load
    render(results, args).print()


@contextmanager
def _stopping(process: Any) -> Iterator[Any]:
    """Stop a RedisServer or Worker when the block ends."""
    try:
        yield process
    finally:
        process.stop()


if __name__ == "__main__":
    main()
