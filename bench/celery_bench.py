"""The Celery executor: trigger -> process running through a worker, and /bin/true executions
completed through one worker beside the local executor, on the same PostgreSQL.

    .venv/bin/python bench/celery_bench.py [--database-url postgresql://postgres@127.0.0.1:5432/test]
        [--count 300] [--executions 1000] [--concurrency 8] [--clients 8]

A redis-server of the benchmark's own runs on a free port (never the shared one): the broker.

Part 1 (latency): one API node (executor.kind: celery) and one `taskgate worker`; `--count`
sequential starts of a stamp program (it writes its own CLOCK_REALTIME reading as its result),
each waited for before the next: start sent -> the program running, p50 and p99.

Part 2 (throughput): `--executions` starts of /bin/true (overlap allow) from `--clients`
threads, as fast as the API takes them; the rate is executions / (the latest finished_at - the
first start sent). Run through the Celery executor (one worker, `--concurrency` runs at once)
and through the local executor (`executor.slots` = the same number), each on a fresh database.
CPU seconds per execution of each process: the API node, the worker, redis-server, and the
PostgreSQL server's processes (the whole cluster, shared with whatever else runs on it).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from common import (
    Server,
    Summary,
    Table,
    free_port,
    iso_seconds,
    machine_line,
    parser,
    stamp_program,
    task,
    verdict,
)

TARGET_P50_MS = 10.0
TARGET_P99_MS = 30.0
TARGET_RATIO = 0.70
DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"


class Redis:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if any(
                c.laddr.port == self.port for c in psutil.Process(self.proc.pid).net_connections()
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class Worker:
    def __init__(self, server: Server, concurrency: int) -> None:
        config = yaml.safe_load(server.config_path.read_text())
        config["data_dir"] = str(server.dir / "worker-data")
        config["node_name"] = "bench-worker"
        path = server.dir / "worker.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = server.dir / "worker.log"
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "taskgate",
                    "worker",
                    "--config",
                    str(path),
                    "--concurrency",
                    str(concurrency),
                    "--hostname",
                    f"bench@{free_port()}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 60
        while " ready." not in self.log_path.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    def cpu_seconds(self) -> float:
        return _cpu(self.proc.pid)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(60)


def _cpu(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def postgres_cpu() -> float:
    total = 0.0
    for proc in psutil.process_iter(["name", "cpu_times"]):
        name = proc.info["name"] or ""
        times = proc.info["cpu_times"]
        if times is not None and name.startswith("postgres"):
            total += times.user + times.system
    return total


def celery_config(redis: Redis) -> dict[str, Any]:
    return {
        "executor": {
            "kind": "celery",
            "lease_seconds": 30,
            "celery": {"broker_url": redis.url, "queue_prefix": "bench."},
        }
    }


def latency(server: Server, task_id: str, count: int, warmup: int) -> tuple[list[float], list[str]]:
    body = {"selectors": [f"id:{task_id}"]}
    running: list[float] = []
    problems: list[str] = []
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for i in range(warmup + count):
            t0 = time.time_ns()
            answer = client.post("/api/v1/start", json=body)
            if answer.status_code != 200:
                problems.append(f"start {i}: {answer.status_code}")
                continue
            execution_id = answer.json()["executions"][0]["id"]
            execution = client.get(
                f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30}
            ).json()
            result = execution.get("result") or {}
            if execution.get("status") != "finished_success" or "started_ns" not in result:
                problems.append(f"start {i}: {execution.get('status')} {execution.get('message')}")
                continue
            if i >= warmup:
                running.append((result["started_ns"] - t0) / 1e6)
    return running, problems


def throughput(
    server: Server, task_id: str, executions: int, clients: int
) -> tuple[float, int, list[str]]:
    """Executions per second from the first start sent to the last end, and how many ended."""
    body = {"selectors": [f"id:{task_id}"]}
    share = [executions // clients + (1 if i < executions % clients else 0) for i in range(clients)]

    def send(n: int) -> list[str]:
        ids = []
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for _ in range(n):
                answer = client.post("/api/v1/start", json=body)
                answer.raise_for_status()
                ids.append(answer.json()["executions"][0]["id"])
        return ids

    first = time.time()
    with ThreadPoolExecutor(clients) as pool:
        ids = [eid for batch in pool.map(send, share) for eid in batch]
    problems: list[str] = []
    last = first
    ended = 0
    with httpx.Client(base_url=server.url, timeout=60) as client:
        for execution_id in ids:
            execution = client.get(
                f"/api/v1/executions/{execution_id}/wait", params={"timeout": 120}
            ).json()
            if execution.get("status") != "finished_success":
                problems.append(f"{execution_id}: {execution.get('status')}")
                continue
            ended += 1
            last = max(last, iso_seconds(execution["finished_at"]))
    return ended / (last - first), ended, problems


def main() -> None:
    p = parser(__doc__.splitlines()[0] if __doc__ else "")
    p.add_argument("--count", type=int, default=300, help="Measured sequential starts.")
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--executions", type=int, default=1000, help="/bin/true executions per run.")
    p.add_argument("--concurrency", type=int, default=8, help="Worker concurrency = local slots.")
    p.add_argument("--clients", type=int, default=8)
    args = p.parse_args()
    database_url = args.database_url or DEFAULT_PG
    with tempfile.TemporaryDirectory(prefix="taskgate-celery-bench-") as tmp:
        workdir = Path(tmp)
        program = stamp_program(workdir)
        stamp = task("bench-stamp", program.argv, overlap="allow", timeout=30)
        true = task("bench-true", ["/bin/true"], overlap="allow", timeout=30)
        redis = Redis(workdir)
        try:
            run(args, database_url, redis, stamp, true, program.kind)
        finally:
            redis.stop()


def run(
    args: argparse.Namespace,
    database_url: str,
    redis: Redis,
    stamp: dict[str, Any],
    true: dict[str, Any],
    kind: str,
) -> None:
    load_before = machine_line()
    with Server(
        [stamp, true], database_url=database_url, keep=args.keep, extra_config=celery_config(redis)
    ) as server:
        worker = Worker(server, args.concurrency)
        try:
            running, problems = latency(server, stamp["id"], args.count, args.warmup)
            cpu = (server.cpu_seconds(), worker.cpu_seconds(), _cpu(redis.proc.pid), postgres_cpu())
            rate_celery, ended_celery, problems_b = throughput(
                server, true["id"], args.executions, args.clients
            )
            used = (
                server.cpu_seconds() - cpu[0],
                worker.cpu_seconds() - cpu[1],
                _cpu(redis.proc.pid) - cpu[2],
                postgres_cpu() - cpu[3],
            )
        finally:
            worker.stop()
    with Server([true], slots=args.concurrency, database_url=database_url, keep=args.keep) as local:
        pg_before, node_before = postgres_cpu(), local.cpu_seconds()
        rate_local, ended_local, problems_c = throughput(
            local, true["id"], args.executions, args.clients
        )
        local_used = (local.cpu_seconds() - node_before, postgres_cpu() - pg_before)

    table = Table(
        f"Celery executor - trigger -> process running ({len(running)} sequential starts, "
        f"program {kind}, PostgreSQL, private redis-server)",
        ["measure (ms)", "median", "p90", "p99", "max", "min"],
    )
    s = Summary.of(running)
    table.add("start -> process running", s.median, s.p90, s.p99, s.max, s.min)
    table.notes.append(
        f"target: p50 <= {TARGET_P50_MS:g} ms ({verdict(s.median <= TARGET_P50_MS)}), "
        f"p99 <= {TARGET_P99_MS:g} ms ({verdict(s.p99 <= TARGET_P99_MS)})"
    )
    table.notes.append(f"before: {load_before}")
    table.notes.append(f"after:  {machine_line()}")
    for problem in (problems + problems_b + problems_c)[:10]:
        table.notes.append(f"problem: {problem}")
    table.print()

    ratio = rate_celery / rate_local if rate_local else float("nan")
    per = 1000 / max(1, ended_celery)
    second = Table(
        f"/bin/true executions completed ({args.executions}, {args.clients} clients, "
        f"{args.concurrency} at once)",
        [
            "executor",
            "executions/s",
            "ended",
            "API node CPU ms/exec",
            "worker",
            "redis",
            "postgres (all)",
        ],
    )
    second.add(
        "celery, 1 worker",
        rate_celery,
        ended_celery,
        used[0] * per,
        used[1] * per,
        used[2] * per,
        used[3] * per,
    )
    local_per = 1000 / max(1, ended_local)
    second.add(
        "local",
        rate_local,
        ended_local,
        local_used[0] * local_per,
        "-",
        "-",
        local_used[1] * local_per,
    )
    second.notes.append(
        f"celery / local = {ratio:.2f}; target >= {TARGET_RATIO:.0%} "
        f"({verdict(ratio >= TARGET_RATIO)})"
    )
    second.notes.append(machine_line())
    second.print()


if __name__ == "__main__":
    main()
