"""Shared pieces of the benchmarks: a server in a subprocess, statistics and plain tables.

The benchmarks are run by hand (`.venv/bin/python bench/NAME.py`); they are not tests. Each one
starts its own `taskgate serve` on a free loopback port with a config written to a temporary
folder (SQLite there by default, or a fresh PostgreSQL database with `--database-url`), talks to
it over HTTP only, and stops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import httpx
import psutil
import psycopg
import yaml
from sqlalchemy.engine import make_url

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
TERMINAL = frozenset({"aborted", "finished_success", "finished_fail", "skipped", "error"})
ACTIVE = ("triggered", "queued", "started", "abort_initiated", "aborting", "retry")

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


# --- the server under test -------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def task(
    name: str,
    argv: list[str],
    *,
    task_id: str | None = None,
    overlap: str = "allow",
    max_running: int = 1,
    **extra: Any,
) -> dict[str, Any]:
    """A config task with a command action (ids are fixed so the benchmarks can select by id)."""
    return {
        "id": task_id or str(uuid.uuid5(uuid.NAMESPACE_URL, f"taskgate-bench/{name}")),
        "name": name,
        "label": name,
        "concurrency": {"overlap": overlap, "max_running": max_running},
        "action": {"kind": "command", "argv": argv},
        **extra,
    }


def demo_tasks() -> list[dict[str, Any]]:
    """The tasks of examples/demo.yaml (paths made absolute), for an idle server like the demo."""
    raw = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    tasks: list[dict[str, Any]] = raw.get("tasks", [])
    for spec in tasks:
        argv = spec.get("action", {}).get("argv")
        if argv and len(argv) > 1 and not Path(argv[1]).is_absolute():
            argv[1] = str(ROOT / argv[1])
    return tasks


# What-if (`--loop`): the same server with uvicorn told which event loop to use, whatever
# `taskgate serve` passes (a partial's keywords would lose to the call's own `loop=`), so it
# works on trees before and after `server.event_loop`.
LOOP_LAUNCHER = (
    "import runpy, sys, uvicorn; "
    "loop = sys.argv.pop(1); run = uvicorn.run; "
    "uvicorn.run = lambda *a, **k: run(*a, **{**k, 'loop': loop}); "
    "runpy.run_module('taskgate', run_name='__main__', alter_sys=True)"
)


class Server:
    """`python -m taskgate serve` on a free port, with its own temp folder and database."""

    def __init__(
        self,
        tasks: list[dict[str, Any]],
        *,
        slots: int = 8,
        database_url: str | None = None,
        keep: bool = False,
        extra_config: dict[str, Any] | None = None,
        loop: str | None = None,
        wrapper: Sequence[str] = (),
        ready_timeout: float = READY_TIMEOUT,
    ) -> None:
        self.tasks = tasks
        self.loop = loop
        # A command the server runs under (valgrind for bench/instructions.py).
        self.wrapper = list(wrapper)
        self.ready_timeout = ready_timeout
        self.slots = slots
        self.admin_database_url = database_url
        self.keep = keep
        self.extra_config = extra_config or {}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="taskgate-bench-"))
        self.log_path = self.dir / "server.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.database_url: str | None = None
        self._pg_name: str | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def __enter__(self) -> Server:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop(failed=exc is not None)

    def start(self) -> None:
        if self.admin_database_url:
            self.database_url = create_database(self.admin_database_url)
            self._pg_name = make_url(self.database_url).database
        config: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": self.port},
            "data_dir": str(self.dir / "data"),
            "node_name": "bench",
            # Open mode on loopback: the scripts measure the start path, not key checks, and
            # must run against the code before the closed-by-default change for A/B runs.
            "auth": "none",
            "executor": {"slots": self.slots, "log_max_bytes": 65536, "kill_grace_seconds": 2},
            "tasks": self.tasks,
            **self.extra_config,
        }
        # An `executor` in extra_config adds to these settings rather than replacing them.
        config["executor"] = {
            "slots": self.slots,
            "log_max_bytes": 65536,
            "kill_grace_seconds": 2,
            **self.extra_config.get("executor", {}),
        }
        if self.database_url:
            config["database_url"] = self.database_url
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self._launch()

    @property
    def config_path(self) -> Path:
        return self.dir / "config.yaml"

    def restart(self) -> None:
        """Stop the process and start it again on the same config, data folder and database."""
        self._terminate()
        self._launch()

    def _launch(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
        command = [sys.executable, "-m", "taskgate", "serve", "--config", str(self.config_path)]
        if self.loop:
            command[1:3] = ["-c", LOOP_LAUNCHER, self.loop]
        command = self.wrapper + command
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop(failed=True)
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        with httpx.Client(base_url=self.url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process is not None and self.process.poll() is not None:
                    raise RuntimeError(f"server exited with {self.process.returncode}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        raise RuntimeError(f"server not ready after {self.ready_timeout:g}s")

    def _terminate(self) -> None:
        proc = self.process
        if proc is not None and stop_process(proc, STOP_TIMEOUT, signal.SIGINT):
            print(f"server {proc.pid} did not stop in {STOP_TIMEOUT:g}s; killed it")
        self.process = None

    def stop(self, *, failed: bool = False) -> None:
        """Stop the server (SIGINT, then SIGKILL); on trouble keep its folder and show its log."""
        proc = self.process
        keep_dir = self.keep
        if proc is not None and proc.poll() is not None:
            print(f"the server (pid {proc.pid}) had exited by itself, code {proc.returncode}")
            failed = True
        if failed:
            keep_dir = True
            print(f"server log (last lines of {self.log_path}):\n{self.log_tail(40)}")
        self._terminate()
        if self._pg_name and self.admin_database_url and not self.keep:
            drop_database(self.admin_database_url, self._pg_name)
            self._pg_name = None
        if keep_dir:
            print(f"kept {self.dir}")
        elif self.dir.exists():
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- looking at it -----------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def database_label(self) -> str:
        if self.database_url:
            label = "postgresql " + (make_url(self.database_url).database or "")
        else:
            label = "sqlite (WAL, temp dir)"
        return label + (f", what-if loop={self.loop}" if self.loop else "")

    def rss_bytes(self) -> int:
        """RSS of the server process alone (its running commands are not counted: a child
        between vfork and exec would show the server's own pages)."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def memory(self) -> dict[str, int]:
        """rss, uss and pss of the server process alone (bytes)."""
        info = psutil.Process(self.pid).memory_full_info()
        return {"rss": int(info.rss), "uss": int(info.uss), "pss": int(getattr(info, "pss", 0))}

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.pid).cpu_times()
        return float(times.user + times.system)

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def log_problems(self) -> list[str]:
        """Lines of the server log at WARNING or above, other than the expected start notes."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return []
        expected = ("no API key exists", "auth: none")
        return [
            line
            for line in text.splitlines()
            if ("ERROR" in line or "WARNING" in line or "Traceback" in line)
            and not any(e in line for e in expected)
        ]


# --- PostgreSQL: a fresh database per run ------------------------------------------------


def _pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _pg_admin(admin_url: str, sql: str) -> None:
    """Run one statement outside a transaction (CREATE/DROP DATABASE)."""
    with psycopg.connect(_pg_dsn(admin_url), autocommit=True) as conn:
        conn.execute(sql.encode())


def create_database(admin_url: str) -> str:
    """Create `taskgate_bench_<hex>` on the server of `admin_url`; return its URL."""
    name = f"taskgate_bench_{uuid.uuid4().hex[:12]}"
    _pg_admin(admin_url, f'CREATE DATABASE "{name}"')
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    _pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def stop_process(
    proc: subprocess.Popen[bytes], seconds: float, sig: signal.Signals = signal.SIGTERM
) -> bool:
    """Send a running `proc` `sig` and wait for it; after `seconds`, SIGKILL. True if killed."""
    if proc.poll() is not None:
        return False
    proc.send_signal(sig)
    try:
        proc.wait(seconds)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        return True
    return False


# --- command line ------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--database-url",
        default=None,
        help="PostgreSQL server to use, e.g. postgresql://postgres@127.0.0.1:5432/test; a fresh "
        "database is created on it for the run and dropped afterwards (default: SQLite).",
    )
    p.add_argument(
        "--keep", action="store_true", help="Keep the temp folder (config, server log, database)."
    )
    p.add_argument(
        "--loop",
        type=_event_loop,
        choices=["asyncio", "uvloop"],
        default=None,
        help="What-if: make uvicorn use this event loop (default: as `taskgate serve` does, "
        "i.e. asyncio). Labelled in the output; not the shipped configuration. uvloop is not a "
        "dependency of taskgate: .venv/bin/pip install uvloop (the dev extras include it).",
    )
    p.add_argument(
        "--profile",
        metavar="FILE",
        default=None,
        help="Record the server with py-spy (raw format) while measuring, and print a summary.",
    )
    return p


def add_rounds(
    p: argparse.ArgumentParser, *, noun: str, count: int, warmup: int, max_seconds: float = 150.0
) -> None:
    """`--count`, `--warmup` and `--max-seconds` of a benchmark that repeats one measured
    `noun` ("starts", "rounds") after some that warm up."""
    p.add_argument("--count", type=int, default=count, help=f"Measured {noun} (default {count}).")
    p.add_argument(
        "--warmup",
        type=int,
        default=warmup,
        help=f"{noun.capitalize()} before measuring (default {warmup}).",
    )
    p.add_argument(
        "--max-seconds", type=float, default=max_seconds, help="Stop measuring after this."
    )


def _event_loop(name: str) -> str:
    """`--loop`: uvloop must be importable by the server (it runs on this interpreter)."""
    if name == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise argparse.ArgumentTypeError(
            "uvloop is not installed; it is not a dependency of taskgate: "
            ".venv/bin/pip install uvloop"
        )
    return name


# --- the trivial program ------------------------------------------------------------------

STAMP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Writes {"started_ns": <CLOCK_REALTIME in ns>} to $TASKGATE_RESULT_FILE (or argv[1]). */
int main(int argc, char **argv) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    const char *path = argc > 1 ? argv[1] : getenv("TASKGATE_RESULT_FILE");
    if (!path) return 2;
    FILE *f = fopen(path, "w");
    if (!f) return 3;
    fprintf(f, "{\"started_ns\": %lld}\n", (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec);
    return fclose(f) == 0 ? 0 : 4;
}
"""

STAMP_PY = (
    "import os, time; t = time.time_ns(); "
    "open(os.environ['TASKGATE_RESULT_FILE'], 'w').write('{\"started_ns\": %d}' % t)"
)


@dataclass
class StampProgram:
    argv: list[str]
    kind: str  # "C (static)", "C (dynamic)" or "python3 -c"
    note: str = ""


def stamp_program(workdir: Path) -> StampProgram:
    """The fastest honest program that records its own start time: C if a compiler exists."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc:
        src = workdir / "stamp.c"
        exe = workdir / "stamp"
        src.write_text(STAMP_C)
        for flags, kind in ((["-static"], "C (static)"), ([], "C (dynamic)")):
            done = subprocess.run(
                [cc, "-O2", *flags, "-o", str(exe), str(src)],
                capture_output=True,
                timeout=60,
                check=False,
            )
            if done.returncode == 0:
                return StampProgram([str(exe)], kind)
    python = shutil.which("python3") or sys.executable
    return StampProgram(
        [python, "-c", STAMP_PY],
        "python3 -c",
        "no C compiler: the figures include the Python interpreter's start-up (~10-20 ms)",
    )


# --- statistics and tables ---------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear between the closest ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    pos = (len(ordered) - 1) * q / 100
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (pos - low))


@dataclass
class Summary:
    count: int
    median: float
    p90: float
    p99: float
    max: float
    min: float
    mean: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            nan = math.nan
            return cls(0, nan, nan, nan, nan, nan, nan)
        return cls(
            len(values),
            statistics.median(values),
            percentile(values, 90),
            percentile(values, 99),
            max(values),
            min(values),
            statistics.fmean(values),
        )


def spread_table(
    title: str,
    rows: Iterable[tuple[str, Sequence[float]]],
    measure: str = "measure (ms)",
) -> Table:
    """A table of how values spread, a row a measure: median, p90, p99, max and min."""
    table = Table(title, [measure, "median", "p90", "p99", "max", "min"])
    for label, values in rows:
        s = Summary.of(values)
        table.add(label, s.median, s.p90, s.p99, s.max, s.min)
    return table


def fmt(value: float | int | None, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "-"
    return f"{value:,.{digits}f}"


def mib(n_bytes: float) -> str:
    return f"{n_bytes / (1024 * 1024):.1f} MiB"


def verdict(ok: bool | None) -> str:
    return "-" if ok is None else ("met" if ok else "MISSED")


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([_cell(c) for c in cells])

    def render(self) -> str:
        widths = [len(h) for h in self.headers]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(cells: Iterable[str]) -> str:
            out = []
            for i, cell in enumerate(cells):
                out.append(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]))
            return "| " + " | ".join(out) + " |"

        sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
        parts = [f"\n{self.title}", line(self.headers), sep, *(line(r) for r in self.rows)]
        parts.extend(f"  {note}" for note in self.notes)
        return "\n".join(parts)

    def print(self) -> None:
        print(self.render(), flush=True)


def _cell(value: object) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, int | float):
        return fmt(value)
    return str(value)


def code_version() -> str:
    """`git describe --always --dirty` of the checkout, or "?"."""
    try:
        done = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except OSError:
        return "?"
    return done.stdout.strip() or "?"


def machine_line() -> str:
    load = os.getloadavg()
    return (
        f"{time.strftime('%Y-%m-%d %H:%M')} | {platform.node()} | {os.cpu_count()} cpu | "
        f"python {platform.python_version()} | load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} | "
        f"code {code_version()}"
    )


# --- talking to the API -------------------------------------------------------------------


def iso_seconds(text: str) -> float:
    """An ISO 8601 time from the API as POSIX seconds."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def account(
    client: httpx.Client, task_ref: str, expected: Iterable[str], *, page: int = 1000
) -> dict[str, Any]:
    """Read every execution of a task through the paginated list; compare with `expected` ids.

    Answers counts: listed, expected, missing (accepted but not listed), extra (listed but
    never accepted), non_terminal, statuses (status -> count), and the earliest created_at and
    latest finished_at (POSIX seconds, server clock).
    """
    want = set(expected)
    seen: dict[str, str] = {}
    created: list[float] = []
    finished: list[float] = []
    cursor: str | None = None
    pages = 0
    max_pages = len(want) // page + 1000  # bounded even if the cursor misbehaves
    while pages < max_pages:
        params: dict[str, Any] = {"task": task_ref, "limit": page}
        if cursor:
            params["cursor"] = cursor
        resp = client.get("/api/v1/executions", params=params, timeout=120)
        resp.raise_for_status()
        body = resp.json()
        for item in body["items"]:
            seen[item["id"]] = item["status"]
            created.append(iso_seconds(item["created_at"]))
            if item.get("finished_at"):
                finished.append(iso_seconds(item["finished_at"]))
        pages += 1
        cursor = body.get("next_cursor")
        if not cursor:
            break
    statuses: dict[str, int] = {}
    for status in seen.values():
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "first_created": min(created) if created else None,
        "last_finished": max(finished) if finished else None,
        "listed": len(seen),
        "expected": len(want),
        "missing": len(want - seen.keys()),
        "extra": len(seen.keys() - want),
        "non_terminal": sum(1 for s in seen.values() if s not in TERMINAL),
        "statuses": statuses,
        "pages": pages,
    }


def wait_drained(client: httpx.Client, task_ref: str, limit_seconds: float) -> float | None:
    """Poll until no execution of the task is active; seconds waited, or None on time-out."""
    began = time.monotonic()
    while time.monotonic() - began < limit_seconds:
        resp = client.get(
            "/api/v1/executions",
            params={"task": task_ref, "status": list(ACTIVE), "limit": 1},
            timeout=60,
        )
        resp.raise_for_status()
        if not resp.json()["items"]:
            return time.monotonic() - began
        time.sleep(0.2)
    return None


# --- optional profiling of the server (py-spy) ---------------------------------------------


class Profiler:
    """`py-spy record` attached to the server for a phase (when `--profile FILE` is given).

    py-spy is not a dependency of the project: `.venv/bin/pip install py-spy`. The output is
    py-spy's "raw" format (collapsed stacks, one per line with a count), which `summarize_profile`
    reads and which flamegraph tools accept.
    """

    def __init__(self, pid: int, output: str | None, rate: int = 250) -> None:
        self.pid = pid
        self.output = output
        self.rate = rate
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Profiler:
        if not self.output:
            return self
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        if not Path(exe).exists():
            print("py-spy not found (.venv/bin/pip install py-spy); not profiling")
            return self
        self.process = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--format",
                "raw",
                "--output",
                self.output,
                "--nonblocking",
                "--gil",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        time.sleep(0.5)  # let it attach
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc = self.process
        if proc is None:
            return
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        print(f"profile written to {self.output}")
        for line in summarize_profile(str(self.output)):
            print(line)


def summarize_profile(path: str, top: int = 25) -> list[str]:
    """Inclusive and own sample shares per function in a py-spy raw profile (lines merged)."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return []
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_frame_name(f) for f in stack.split(";")]
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + count
        own[frames[-1]] = own.get(frames[-1], 0) + count
    if not total:
        return []
    out = [f"{total} samples; own time (function itself):"]
    for frame, count in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        out.append(f"  {100 * count / total:5.1f}%  {frame}")
    out.append("inclusive time (function and what it calls):")
    for frame, count in sorted(inclusive.items(), key=lambda kv: -kv[1])[: top * 2]:
        out.append(f"  {100 * count / total:5.1f}%  {frame}")
    return out


def _frame_name(frame: str) -> str:
    """`func (path/file.py:12)` -> `func (path/file.py)`, the path shortened after site-packages."""
    name, _, where = frame.partition(" (")
    where = where.rstrip(")").rsplit(":", 1)[0]
    for marker in ("site-packages/", "lib/python3."):
        if marker in where:
            where = where.split(marker, 1)[1]
    return f"{name} ({where})"


# --- a lean HTTP/1.1 client for load --------------------------------------------------------


class HttpError(Exception):
    """The connection broke or the answer could not be read."""


class RawConnection:
    """One keep-alive HTTP/1.1 connection on asyncio streams, for load generation.

    httpx's async client costs more CPU per request than the server on this machine, so the
    throughput benchmark would measure the client. This one writes a request, reads the status
    line, the headers and a Content-Length body, and nothing else: enough for the JSON API.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        try:
            header_block = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as exc:
            await self.close()
            raise HttpError(f"no answer: {exc!r}") from exc
        lines = header_block.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = None
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding":
                raise HttpError("chunked answers are not supported by this client")
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        try:
            data = await self.reader.readexactly(length or 0)
        except (asyncio.IncompleteReadError, OSError) as exc:
            await self.close()
            raise HttpError(f"short body: {exc!r}") from exc
        if close:
            await self.close()
        return status, data


def run_loop(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run, on uvloop when it is installed (a cheaper load generator)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)
