"""Beside the peer: taskgate (SQLite, PostgreSQL) and Celery + Flower + Redis, one table.

    .venv/bin/python bench/peers/celery_flower.py [--rounds 3] [--seconds 5] [--count 200]
        [--database-url postgresql://postgres@127.0.0.1:5432/test] [--slots 8]

The peer is the stack a Python shop would pick instead of taskgate: Celery 5 with a Redis
broker and result backend, and Flower 2's REST API as its HTTP front
(`POST /api/task/async-apply/<task>`). It runs in its own virtual environment, created on
first use under ~/.cache/taskgate-bench/celery-venv (`--peer-venv`; pip from PyPI), with its
own `redis-server` on a free loopback port (never the shared one on 6379).

Every system is started once, then driven in rounds; within a round the systems take turns,
the order rotating from round to round, so that the machine's load falls on all of them alike.
Per round and system:

- *start -> process running*, `--count` sequential starts (httpx, one at a time, each waited
  for): the program is the C stamp program of trigger_latency.py (it reads CLOCK_REALTIME first
  thing and writes it down). Celery's task spawns it the same way (`subprocess.run`), and a
  second Celery task reports `time.time_ns()` at its start without spawning anything (the
  figure issue 19 quotes). Celery's end is read with Flower's `GET /api/task/result/<id>`.
- *starts accepted/s, accept only*: wrk -t1 -c16 for `--seconds` with a Lua script that POSTs
  one JSON start. taskgate: a task with overlap `skip` whose one long execution keeps running,
  so each start is stored `skipped` (throughput.py's skip mode). Celery: the task is sent to a
  queue no worker consumes (the message is in Redis, which is what Flower's answer means).
- *starts/s when each runs /bin/true*, and */bin/true completed/s*: the same wrk load on a task
  that runs `/bin/true` (taskgate overlap `allow`, `--slots` slots; Celery `--slots` prefork
  processes, `subprocess.run(["/bin/true"])`); the completion rate is the accepted starts ÷
  (the last end - the moment wrk started), read from the executions list (taskgate) and from
  the results' `date_done` in Redis (Celery). Results are flushed between rounds.
- *server CPU per accepted start*: CPU time of the server during the accept phase (taskgate
  process; Celery: worker and its children, Flower, Redis) ÷ accepted starts.
- *idle memory*: after start-up, before any load: RSS of the taskgate process; PSS and RSS
  summed over Celery's worker (and pool processes), Flower and Redis.

Without wrk (`apt-get install wrk`), the Python client of throughput.py (`fire`, 16 keep-alive
connections, a fixed count of `--fallback-starts`) is used for both systems, and the output
says so. The figures are medians over the rounds (min-max beside them); the ratio column is
SQLite ÷ Celery (for latency, CPU and memory lower is better, so a ratio below 1 favours
taskgate; for rates above 1 does). Nothing here is a test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import (
    Server,
    Table,
    account,
    free_port,
    machine_line,
    stamp_program,
    task,
    wait_drained,
)
from scaleout import REDIS_SERVER, CpuMeter, CpuReader, RedisServer, of_tree
from throughput import fire
from trigger_latency import sequential_starts

PEER_VENV = Path.home() / ".cache" / "taskgate-bench" / "celery-venv"
PEER_REQUIREMENTS = ["celery[redis]>=5.4,<6", "flower>=2.0,<3"]
ACCEPT_QUEUE = "no-worker"  # the accept-only load goes here: no worker consumes it

PEER_TASKS = """
import json, os, subprocess, time
from celery import Celery

app = Celery("peer", broker=os.environ["PEER_REDIS"], backend=os.environ["PEER_REDIS"])
app.conf.update(
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=4,
    result_expires=None,
    task_default_queue="celery",
)
STAMP = json.loads(os.environ["PEER_STAMP"])  # argv of trigger_latency's stamp program


@app.task(name="peer.true")
def true():
    subprocess.run(["/bin/true"], check=True)


@app.task(name="peer.stamp")
def stamp():
    path = f"/dev/shm/peer-stamp-{os.getpid()}"
    subprocess.run(STAMP, env={**os.environ, "TASKGATE_RESULT_FILE": path}, check=True)
    with open(path) as f:
        return json.loads(f.read())["started_ns"]


@app.task(name="peer.now")
def now():
    return time.time_ns()
"""

# Run with the peer's interpreter: waits until `expected` results are in, answers the count of
# successes and the latest date_done (POSIX seconds), then deletes the results.
PEER_COLLECT = """
import json, sys, time
from datetime import datetime, timezone
import redis
r = redis.Redis.from_url(sys.argv[1])
expected, limit = int(sys.argv[2]), float(sys.argv[3])
began = time.monotonic()
seen, still_since = -1, time.monotonic()
# Done when at least `expected` results are in, the queue is empty and no result has come for
# a second (wrk's last requests may have been sent but not counted).
while True:
    keys = list(r.scan_iter("celery-task-meta-*", count=1000))
    if len(keys) != seen:
        seen, still_since = len(keys), time.monotonic()
    elif len(keys) >= expected and not r.llen("celery") and time.monotonic() - still_since > 1:
        break
    if time.monotonic() - began >= limit:
        break
    time.sleep(0.2)
done, last = 0, None
for i in range(0, len(keys), 1000):
    for raw in r.mget(keys[i:i + 1000]):
        meta = json.loads(raw)
        if meta.get("status") == "SUCCESS":
            done += 1
            at = datetime.fromisoformat(meta["date_done"])
            if at.tzinfo is None:
                at = at.replace(tzinfo=timezone.utc)
            last = max(last or 0.0, at.timestamp())
r.flushdb()
print(json.dumps({"results": len(keys), "success": done, "last_done": last}))
"""

WRK_SCRIPT = """
-- wrk -t1 -c16 -d5s -s post.lua URL -- PATH JSON: POSTs one JSON body, counts the answers.
local req
init = function(args)
  req = wrk.format("POST", args[1], {["Content-Type"] = "application/json"}, args[2])
end
request = function() return req end
done = function(summary, latency, requests)
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "status_errors": %d, "other_errors": %d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


# --- the peer's environment and processes -------------------------------------------------


def peer_python(venv: Path) -> Path:
    """The peer's interpreter, the environment created and filled on first use."""
    python = venv / "bin" / "python"
    if not (venv / "bin" / "celery").exists():
        print(f"creating the peer's environment in {venv} (celery, flower) ...", flush=True)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *PEER_REQUIREMENTS], check=True)
    return python


def wait_http(url: str, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {seconds:g} s")


@dataclass
class Peer:
    """Celery worker + Flower + Redis, started in a temporary folder, stopped at the end."""

    python: Path
    stamp: list[str]
    slots: int
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="taskgate-peer-")))
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    redis_url: str = ""
    url: str = ""

    def start(self) -> None:
        flower_port = free_port()
        self.url = f"http://127.0.0.1:{flower_port}"
        redis = RedisServer(self.dir).start()
        assert redis.proc is not None
        self.processes["redis"] = redis.proc
        self.redis_url = redis.url
        (self.dir / "peer_tasks.py").write_text(PEER_TASKS)
        env = {
            **os.environ,
            "PEER_REDIS": self.redis_url,
            "PEER_STAMP": json.dumps(self.stamp),
            "PYTHONPATH": str(self.dir),
            # Flower 2 serves its API without authentication only when told so.
            "FLOWER_UNAUTHENTICATED_API": "true",
        }
        celery = str(self.python.parent / "celery")
        self._spawn(
            "worker",
            [
                celery,
                "-A",
                "peer_tasks",
                "worker",
                "--pool",
                "prefork",
                "--concurrency",
                str(self.slots),
                "--loglevel",
                "WARNING",
                "-Q",
                "celery",
            ],
            env,
        )
        self._spawn(
            "flower",
            [
                celery,
                "-A",
                "peer_tasks",
                "flower",
                "--address=127.0.0.1",
                f"--port={flower_port}",
                "--logging=warning",
            ],
            env,
        )
        wait_http(f"{self.url}/healthcheck")
        self._wait_worker()

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = (self.dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            argv, cwd=self.dir, env=env, stdout=log, stderr=subprocess.STDOUT
        )

    def _wait_worker(self) -> None:
        """The worker is ready when a task sent through Flower comes back."""
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while time.monotonic() < deadline:
                started = client.post("/api/task/async-apply/peer.now", json={})
                if started.status_code == 200:
                    task_id = started.json()["task-id"]
                    got = client.get(f"/api/task/result/{task_id}", params={"timeout": 10})
                    if got.status_code == 200 and got.json().get("state") == "SUCCESS":
                        return
                time.sleep(0.5)
        raise RuntimeError(f"the Celery worker did not answer; see {self.dir}")

    def parts(self) -> dict[str, CpuReader]:
        """The stack's CPU readers, part by part: the worker with its pool, Flower, Redis."""
        return {name: of_tree(proc.pid) for name, proc in self.processes.items()}

    def pids(self) -> list[int]:
        """Every process of the stack (the worker's pool processes included)."""
        pids: list[int] = []
        for proc in self.processes.values():
            try:
                ps = psutil.Process(proc.pid)
                pids.append(ps.pid)
                pids.extend(child.pid for child in ps.children(recursive=True))
            except psutil.NoSuchProcess:
                pass
        return pids

    def cpu_seconds(self) -> float:
        return sum(sum(read().values()) for read in self.parts().values())

    def memory(self) -> dict[str, int]:
        rss = pss = 0
        for pid in self.pids():
            try:
                info = psutil.Process(pid).memory_full_info()
            except psutil.NoSuchProcess:
                continue
            rss += int(info.rss)
            pss += int(getattr(info, "pss", 0))
        return {"rss": rss, "pss": pss}

    def collect(self, expected: int, limit: float) -> dict[str, Any]:
        done = subprocess.run(
            [str(self.python), "-c", PEER_COLLECT, self.redis_url, str(expected), str(limit)],
            capture_output=True,
            text=True,
            timeout=limit + 120,
            check=True,
        )
        result: dict[str, Any] = json.loads(done.stdout)
        return result

    def stop(self, keep: bool) -> None:
        for name in ("flower", "worker", "redis"):
            proc = self.processes.get(name)
            if proc is None or proc.poll() is not None:
                continue
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if keep:
            print(f"peer folder kept: {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def running_peer(python: Path, stamp: list[str], slots: int, keep: bool) -> Iterator[Peer]:
    peer = Peer(python, stamp, slots)
    try:
        peer.start()
        yield peer
    finally:
        peer.stop(keep)


# --- the load ------------------------------------------------------------------------------


@dataclass
class Burst:
    accepted: int
    seconds: float
    refused: int
    began: float  # time.time() when the load started
    client: str

    @property
    def rate(self) -> float:
        return self.accepted / self.seconds if self.seconds > 0 else 0.0


def burst(
    url: str,
    path: str,
    body: dict[str, Any],
    args: Any,
    wrk_lua: Path | None,
    connections: int = 16,
) -> Burst:
    """POST `body` to `path` from `connections` connections: wrk for `--seconds`, else the
    Python client (a share of `--fallback-starts`)."""
    began = time.time()
    if wrk_lua is not None:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{args.seconds}s",
                "-s",
                str(wrk_lua),
                url,
                "--",
                path,
                json.dumps(body),
            ],
            capture_output=True,
            text=True,
            timeout=args.seconds + 60,
            check=True,
        )
        counts = json.loads(done.stdout.strip().splitlines()[-1])
        refused = counts["status_errors"] + counts["other_errors"]
        return Burst(
            counts["requests"] - counts["status_errors"],
            counts["duration_us"] / 1e6,
            refused,
            began,
            f"wrk -t1 -c{connections}",
        )
    starts = args.fallback_starts * connections // 16
    result = fire(url, starts, connections, path=path, body=body)
    return Burst(
        len(result.accepted),
        result.seconds,
        sum(result.refused.values()),
        result.first_sent,
        f"python (throughput.fire), {connections} connections",
    )


@dataclass
class Figures:
    """One system's figures, a list per row (one value per round)."""

    rows: dict[str, list[float]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, row: str, value: float | None) -> None:
        if value is not None:
            self.rows.setdefault(row, []).append(value)


ROWS = [
    ("p50", "start -> process running, p50 (ms, sequential)"),
    ("p99", "same, p99 (ms)"),
    ("accept", "starts accepted/s (accept only)"),
    ("run", "starts/s when each runs /bin/true"),
    ("done", "/bin/true executions completed/s"),
    ("cpu", "server CPU per accepted start (ms)"),
    ("idle", "idle memory after start-up, MiB PSS (RSS)"),
]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


# --- one round per system --------------------------------------------------------------------


def taskgate_round(
    server: Server, ids: dict[str, str], rnd: int, args: Any, wrk: Path | None, fig: Figures
) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        lat = sequential_starts(client, ids["stamp"], args.count, args.warmup, 120.0)
        fig.add("p50", percentile(lat.running_ms, 50) if lat.running_ms else None)
        fig.add("p99", percentile(lat.running_ms, 99) if lat.running_ms else None)
        fig.notes.extend(lat.failures[:3])
        cpu0 = server.cpu_seconds()
        accept = burst(server.url, "/api/v1/start", {"selectors": [f"id:{ids['skip']}"]}, args, wrk)
        cpu = server.cpu_seconds() - cpu0
        fig.add("accept", accept.rate)
        fig.add("cpu", cpu / max(1, accept.accepted) * 1000)
        run_task = ids[f"run-{rnd}"]
        run = burst(server.url, "/api/v1/start", {"selectors": [f"id:{run_task}"]}, args, wrk)
        fig.add("run", run.rate)
        if wait_drained(client, run_task, args.drain_seconds) is None:
            fig.notes.append(f"round {rnd + 1}: /bin/true runs still active after the wait")
        counts = account(client, run_task, [])
        if counts["last_finished"]:
            fig.add("done", counts["listed"] / (counts["last_finished"] - run.began))
        if accept.refused or run.refused:
            fig.notes.append(f"round {rnd + 1}: refused {accept.refused} / {run.refused}")


def result_of(client: httpx.Client, task_id: str, limit: float = 30.0) -> dict[str, Any]:
    """Flower's answer for a task's result, asked again while it still says PENDING (its
    `timeout` wait does not always hold the answer back until the result is in)."""
    deadline = time.monotonic() + limit
    while True:
        got: dict[str, Any] = client.get(
            f"/api/task/result/{task_id}", params={"timeout": limit}
        ).json()
        if got.get("state") not in ("PENDING", "STARTED") or time.monotonic() > deadline:
            return got
        time.sleep(0.001)


def peer_round(peer: Peer, rnd: int, args: Any, wrk: Path | None, fig: Figures) -> None:
    with httpx.Client(base_url=peer.url, timeout=60) as client:
        for name, row in (("peer.stamp", ""), ("peer.now", "py-")):
            running: list[float] = []
            for i in range(args.warmup + args.count):
                t0 = time.time_ns()
                started = client.post(f"/api/task/async-apply/{name}", json={})
                if started.status_code != 200:
                    fig.notes.append(f"{name}: HTTP {started.status_code}")
                    break
                got = result_of(client, started.json()["task-id"])
                if got.get("state") != "SUCCESS":
                    fig.notes.append(f"{name}: {got.get('state')}")
                    continue
                if i >= args.warmup:
                    running.append((int(got["result"]) - t0) / 1e6)
            if running:
                fig.add(f"{row}p50", percentile(running, 50))
                fig.add(f"{row}p99", percentile(running, 99))
        peer.collect(0, 0)  # the latency runs' results out of the way
        cpu0 = peer.cpu_seconds()
        accept = burst(
            peer.url, "/api/task/async-apply/peer.now", {"queue": ACCEPT_QUEUE}, args, wrk
        )
        cpu = peer.cpu_seconds() - cpu0
        fig.add("accept", accept.rate)
        fig.add("cpu", cpu / max(1, accept.accepted) * 1000)
        with CpuMeter(peer.parts()) as meter:
            run = burst(peer.url, "/api/task/async-apply/peer.true", {}, args, wrk)
            got = peer.collect(run.accepted, args.drain_seconds)
        fig.add("run", run.rate)
        # CPU ms per /bin/true run, part by part (rows bench/celery_bench.py reads).
        for part, ms in meter.per(got["success"]).items():
            fig.add(f"run-cpu-{part}", ms)
        if got["last_done"]:
            fig.add("done", got["success"] / (got["last_done"] - run.began))
        if got["success"] != run.accepted:
            fig.notes.append(
                f"round {rnd + 1}: {got['success']} runs succeeded, {run.accepted} accepted "
                "(wrk counts only the answers it read before its end)"
            )
        # The accept-only messages were never consumed: drop them with the results.
        peer.collect(0, 0)


# --- the table ---------------------------------------------------------------------------------


def cell(values: list[float] | None, digits: int = 1) -> str:
    if not values:
        return ""
    med = statistics.median(values)
    spec = f",.{digits}f"
    if len(values) == 1 or min(values) == max(values):
        return format(med, spec)
    return f"{format(med, spec)} ({format(min(values), spec)}-{format(max(values), spec)})"


def ratio(a: list[float] | None, b: list[float] | None) -> str:
    """The median of the rounds' own ratios (each round's figures were taken minutes apart,
    under the same load), with their range."""
    if not a or not b:
        return ""
    per_round = [x / y for x, y in zip(a, b, strict=False) if y]
    return cell(per_round, 2) if per_round else ""


def render(systems: dict[str, Figures], args: Any, client: str) -> Table:
    sqlite = systems.get("sqlite")
    pg = systems.get("pg")
    peer = systems["celery"]
    t = Table(
        f"taskgate beside Celery + Flower ({args.rounds} alternating rounds; median (min-max))",
        ["figure", "taskgate SQLite", "taskgate PostgreSQL", "Celery + Flower", "SQLite / Celery"],
    )
    for key, label in ROWS:
        digits = 2 if key in ("p50", "p99", "cpu") else (1 if key == "idle" else 0)
        s = sqlite.rows.get(key) if sqlite else None
        p = pg.rows.get(key) if pg else None
        c = peer.rows.get(key)
        cells = [cell(s, digits), cell(p, digits) if pg else "not run", cell(c, digits)]
        ratios = ratio(s, c)
        if key == "idle":
            for i, fig in enumerate((sqlite, pg, peer)):
                if fig is not None and fig.rows.get("idle-rss"):
                    cells[i] += f" ({cell(fig.rows['idle-rss'], digits)})"
        no_spawn = peer.rows.get(f"py-{key}")
        if key in ("p50", "p99") and no_spawn:
            cells[2] += f"; {cell(no_spawn, digits)} Python function, no spawn"
            ratios += f"; {ratio(s, no_spawn)} to no spawn"
        t.add(label, *cells, ratios)
    burst_size = f"{args.seconds} s" if client.startswith("wrk") else f"{args.fallback_starts}"
    t.notes.append(
        f"load: {client}, {burst_size} per burst; latency: {args.count} "
        f"sequential starts per round after {args.warmup} warm-up (httpx)"
    )
    t.notes.append(
        f"taskgate: {args.slots} slots, the server process; Celery: "
        f"prefork --concurrency {args.slots}, Redis broker + result backend, Flower's "
        "REST API; CPU and memory summed over worker (with its pool), Flower, Redis"
    )
    for name, fig in systems.items():
        for note in dict.fromkeys(fig.notes):
            t.notes.append(f"{name}: {note[:200]}")
    t.notes.append(machine_line())
    return t


def main() -> None:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--rounds", type=int, default=3, help="Alternating rounds (default 3).")
    p.add_argument("--seconds", type=int, default=5, help="Length of each wrk burst (default 5).")
    p.add_argument("--count", type=int, default=200, help="Sequential starts per latency row.")
    p.add_argument("--warmup", type=int, default=10, help="Starts before measuring latency.")
    p.add_argument("--slots", type=int, default=8, help="taskgate slots = Celery processes.")
    p.add_argument(
        "--fallback-starts",
        type=int,
        default=3000,
        help="Starts per burst when wrk is missing (default 3000).",
    )
    p.add_argument(
        "--drain-seconds",
        type=float,
        default=300.0,
        help="Longest wait for a burst's /bin/true runs to end.",
    )
    p.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server for the taskgate PostgreSQL column (default: not run).",
    )
    p.add_argument(
        "--peer-venv",
        type=Path,
        default=PEER_VENV,
        help=f"The peer's virtual environment (default {PEER_VENV}).",
    )
    p.add_argument("--keep", action="store_true", help="Keep the temporary folders.")
    args = p.parse_args()

    python = peer_python(args.peer_venv)
    if not Path(REDIS_SERVER).exists():
        sys.exit(f"{REDIS_SERVER} is missing (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="taskgate-peer-bench-") as tmp:
        wrk_lua: Path | None = None
        if shutil.which("wrk"):
            wrk_lua = Path(tmp) / "post.lua"
            wrk_lua.write_text(WRK_SCRIPT)
        else:
            print("wrk not found: using the Python client for both systems", flush=True)
        client = "wrk -t1 -c16" if wrk_lua else "python (throughput.fire), 16 connections"
        program = stamp_program(Path(tmp))
        tasks = [
            task("bench-stamp", program.argv, overlap="allow", timeout=30),
            task("bench-skip", ["/bin/sleep", "3600"], overlap="skip", max_running=1, timeout=3600),
            *(
                task(f"bench-run-{r}", ["/bin/true"], overlap="allow", timeout=60)
                for r in range(args.rounds)
            ),
        ]
        ids = {t["name"].removeprefix("bench-"): t["id"] for t in tasks}
        systems: dict[str, Figures] = {"sqlite": Figures()}
        if args.database_url:
            systems["pg"] = Figures()
        systems["celery"] = Figures()
        with ExitStack() as stack:
            servers: dict[str, Server] = {}
            for name in systems:
                if name == "celery":
                    continue
                url = args.database_url if name == "pg" else None
                server = stack.enter_context(
                    Server(tasks, slots=args.slots, database_url=url, keep=args.keep)
                )
                time.sleep(3)
                mem = server.memory()
                systems[name].add("idle", mem["pss"] / 2**20)
                systems[name].add("idle-rss", mem["rss"] / 2**20)
                with httpx.Client(base_url=server.url, timeout=30) as c:
                    c.post("/api/v1/start", json={"selectors": [f"id:{ids['skip']}"]})
                servers[name] = server
            peer = stack.enter_context(running_peer(python, program.argv, args.slots, args.keep))
            peer.collect(0, 0)  # the readiness probe's result
            time.sleep(3)
            mem = peer.memory()
            systems["celery"].add("idle", mem["pss"] / 2**20)
            systems["celery"].add("idle-rss", mem["rss"] / 2**20)
            order = list(systems)
            for rnd in range(args.rounds):
                turn = order[rnd % len(order) :] + order[: rnd % len(order)]
                for name in turn:
                    print(f"round {rnd + 1}/{args.rounds}: {name} ...", flush=True)
                    if name == "celery":
                        peer_round(peer, rnd, args, wrk_lua, systems[name])
                    else:
                        taskgate_round(servers[name], ids, rnd, args, wrk_lua, systems[name])
        render(systems, args, client).print()


if __name__ == "__main__":
    main()
