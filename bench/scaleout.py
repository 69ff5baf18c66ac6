"""The processes of a scale-out setup that benchmarks start beside `common.Server`, and the CPU
time of each part.

- `RedisServer`: a redis-server of the benchmark's own on a free loopback port, keeping
  nothing on disk (never the shared one on 6379).
- `Worker`: one `taskgate worker` process on a server's config (its database, its broker).
- `api_node`: one more `taskgate serve` on a first server's database and config.
- `CpuMeter`: CPU seconds used by each named part over a phase; a part is a process, a
  process with its children (a Celery prefork pool), or the PostgreSQL backends that serve one
  database (their process titles name it; the server's shared processes - WAL writer,
  checkpointer - are left out, they work for every database on the server).

tests/celery_support.py has the tests' own versions of the first two (bench/ never imports
tests/, and the tests do not import bench/).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

import psutil
import yaml

from common import Server, free_port, stop_process

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
READY_LINE = " ready."  # Celery's "<hostname> ready." once the worker consumes

# pid -> CPU seconds (user + system) of the processes a part is made of, read now.
CpuReader = Callable[[], dict[int, float]]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_for(what: str, check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {seconds:g} s")
        time.sleep(0.05)


class RedisServer:
    """A private redis-server: no snapshot, no append-only file."""

    def __init__(self, workdir: Path) -> None:
        if not Path(REDIS_SERVER).exists():
            raise RuntimeError(f"{REDIS_SERVER} is missing (apt-get install redis-server)")
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        wait_for("redis-server listening", lambda: port_open(self.port), 10)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc, 10)


def _config_for(server: Server, **changes: object) -> dict[str, object]:
    config: dict[str, object] = yaml.safe_load(server.config_path.read_text())
    config.update(changes)
    return config


class Worker:
    """`taskgate worker` on the config of `server` (same database, same broker)."""

    def __init__(
        self,
        server: Server,
        name: str,
        concurrency: int,
        queues: str = "",
        wrapper: list[str] | None = None,
    ) -> None:
        # `wrapper`: a command the worker runs under (valgrind, for bench/instructions.py).
        self.wrapper = wrapper or []
        self.dir = server.dir / f"worker-{name}"
        self.dir.mkdir(parents=True, exist_ok=True)
        config = _config_for(server, data_dir=str(self.dir / "data"), node_name=name)
        self.config_path = self.dir / "taskgate.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = self.dir / "worker.log"
        self.args = ["--concurrency", str(concurrency), "--hostname", f"{name}@{free_port()}"]
        if queues:
            self.args += ["--queues", queues]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, seconds: float = 60.0) -> Worker:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
        command = [
            *self.wrapper,
            sys.executable,
            "-m",
            "taskgate",
            "worker",
            "--config",
            str(self.config_path),
        ]
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*command, *self.args],
                cwd=self.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        proc = self.proc
        wait_for(
            f"taskgate worker ready (log: {self.log_path})",
            lambda: READY_LINE in self.log_text() or proc.poll() is not None,
            seconds,
        )
        if proc.poll() is not None:
            raise RuntimeError(f"taskgate worker exited:\n{self.log_text()[-3000:]}")
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGTERM: Celery's warm shutdown (what runs ends first)."""
        if self.proc is not None:
            stop_process(self.proc, 60)


def api_node(first: Server, name: str) -> Server:
    """Another API node on `first`'s database, tasks and settings (not started yet); `first`
    owns the database, so stopping this one drops nothing."""
    assert first.database_url, "a second API node needs the first one's PostgreSQL database"
    return Server(
        first.tasks,
        slots=first.slots,
        keep=first.keep,
        extra_config={**first.extra_config, "database_url": first.database_url, "node_name": name},
    )


# --- CPU per part ------------------------------------------------------------------------------


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def of_process(pid: int) -> CpuReader:
    """The process itself (not the programs it starts: they come and go)."""

    def read() -> dict[int, float]:
        try:
            return {pid: _cpu(psutil.Process(pid))}
        except psutil.NoSuchProcess:
            return {}

    return read


def of_tree(pid: int) -> CpuReader:
    """The process and its descendants alive at the time (a prefork pool)."""

    def read() -> dict[int, float]:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return {}
        found: dict[int, float] = {}
        for proc in procs:
            try:
                found[proc.pid] = _cpu(proc)
            except psutil.NoSuchProcess:
                continue
        return found

    return read


def of_postgres(database: str) -> CpuReader:
    """PostgreSQL's backends connected to `database` (process title
    `postgres: <cluster>: <user> <database> <client> <state>`)."""
    marker = f" {database} "

    def read() -> dict[int, float]:
        found: dict[int, float] = {}
        for proc in psutil.process_iter(["name", "cmdline"]):
            title = " ".join(proc.info["cmdline"] or ())
            if not (proc.info["name"] or "").startswith("postgres") or marker not in title:
                continue
            try:
                found[proc.pid] = _cpu(proc)
            except psutil.NoSuchProcess:
                continue
        return found

    return read


class CpuMeter:
    """CPU seconds each part used between `__enter__` and `__exit__` (`used[name]`).

    A process that appeared meanwhile counts from zero; one that ended meanwhile is lost with
    what it used (the benchmarks' processes live through a phase; PostgreSQL backends of a
    connection pool do too)."""

    def __init__(self, parts: Mapping[str, CpuReader]) -> None:
        self.parts = dict(parts)
        self.before: dict[str, dict[int, float]] = {}
        self.used: dict[str, float] = {}

    def __enter__(self) -> CpuMeter:
        self.before = {name: read() for name, read in self.parts.items()}
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for name, read in self.parts.items():
            before = self.before[name]
            after = read()
            self.used[name] = sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def per(self, count: int) -> dict[str, float]:
        """Milliseconds per operation, part by part."""
        return {name: used * 1000 / max(1, count) for name, used in self.used.items()}


def loadavg() -> str:
    """The 1-, 5- and 15-minute load averages, as /proc/loadavg has them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"
