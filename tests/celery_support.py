"""Celery executor tests: brokers (the shared Redis and RabbitMQ, or a private redis-server),
taskgate worker processes, and a look into the shared PostgreSQL database.

A missing broker skips locally and fails under TASKGATE_REQUIRE_SERVICES=1 (CI), as
PostgreSQL and MQTT do in tests/conftest.py and tests/mqtt_support.py.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from tests.conftest import ServerProcess, _child_env, free_port, missing_service
from tests.mqtt_support import port_open

REDIS = os.environ.get("TASKGATE_TEST_REDIS", "127.0.0.1:6379")
RABBITMQ = os.environ.get("TASKGATE_TEST_RABBITMQ", "guest:guest@127.0.0.1:5672")
READY_TIMEOUT = 30.0
READY_LINE = " ready."


def _require(host_port: str, what: str) -> None:
    host, _, port = host_port.rpartition(":")
    if not port_open(host, int(port)):
        missing_service(f"{what} unreachable at {host_port}")


def redis_url() -> str:
    """The shared Redis, on a database of its own picked at random (1-15): parallel tests
    also use queue prefixes of their own, so they never share a queue."""
    _require(REDIS, "Redis")
    return f"redis://{REDIS}/{secrets.randbelow(15) + 1}"


def rabbitmq_url() -> str:
    _require(RABBITMQ.rpartition("@")[2], "RabbitMQ")
    return f"amqp://{RABBITMQ}//"


def celery_config(broker_url: str, database_url: str, **celery: Any) -> dict[str, Any]:
    """A server's (and its workers') config: the Celery executor on a fresh queue prefix."""
    return {
        "database_url": database_url,
        "executor": {
            "kind": "celery",
            "celery": {
                "broker_url": broker_url,
                "queue_prefix": f"t{secrets.token_hex(4)}.",
                **celery,
            },
        },
    }


def wait_until(
    what: str,
    check: Callable[[], bool],
    timeout: float = 60.0,
    state: Callable[[], object] | None = None,
) -> None:
    """Poll `check` until it holds; on a timeout, fail saying what `state` shows then."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            seen = f"; at the end: {state()}" if state is not None else ""
            pytest.fail(f"timed out after {timeout}s waiting for {what}{seen}", pytrace=False)
        time.sleep(0.1)


class WorkerProcess:
    """One `taskgate worker` subprocess on a server's config file."""

    def __init__(
        self, server: ServerProcess, name: str, queues: str = "", concurrency: int = 4
    ) -> None:
        self.workdir = server.workdir.parent / f"worker-{name}"
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = dict(server.config)
        config["data_dir"] = str(self.workdir / "data")
        config["node_name"] = name
        self.config_path = self.workdir / "taskgate.yaml"
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.log_path = self.workdir / "worker.log"
        self.hostname = f"{name}@{secrets.token_hex(3)}"
        self.args = ["--concurrency", str(concurrency), "--hostname", self.hostname]
        if queues:
            self.args += ["--queues", queues]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "taskgate",
                    "worker",
                    "--config",
                    str(self.config_path),
                    *self.args,
                ],
                cwd=self.workdir,
                env=_child_env(None),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = self.proc
        wait_until(
            f"worker {self.hostname} ready\n{self.log_text()}",
            lambda: READY_LINE in self.log_text() or proc.poll() is not None,
            READY_TIMEOUT,
        )
        assert proc.poll() is None, f"worker exited\n{self.log_text()}"
        return self

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the worker process only (its runs' processes die with it: watchdog)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        return self.proc.returncode


class Workers:
    """The workers a test started; all stopped at its end."""

    def __init__(self) -> None:
        self.started: list[WorkerProcess] = []

    def __call__(
        self, server: ServerProcess, name: str, queues: str = "", concurrency: int = 4
    ) -> WorkerProcess:
        worker = WorkerProcess(server, name, queues, concurrency).start()
        self.started.append(worker)
        return worker

    def close(self) -> None:
        for worker in reversed(self.started):
            worker.stop()


class PrivateRedis:
    """A redis-server of the test's own on a free port, keeping nothing on disk: a restart
    loses every message, as a broker without persistence does."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            missing_service("redis-server not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
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
        )
        wait_until("redis-server", lambda: port_open("127.0.0.1", self.port), 10)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


class PrivateRabbitMQ:
    """A RabbitMQ node of the test's own (its own node name, ports, data and Erlang cookie);
    restarted on the same data, as a service restart would."""

    def __init__(self, workdir: Path) -> None:
        binary = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if not os.path.exists(binary):
            missing_service("rabbitmq-server not installed")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.dist_port = free_port()
        self.name = f"tg{self.port}@localhost"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}//"

    def start(self) -> None:
        env = {
            **os.environ,
            "HOME": str(self.workdir),
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.workdir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.workdir / "log"),
            "RABBITMQ_CONFIG_FILE": str(self.workdir / "none"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.workdir / "plugins"),
        }
        with (self.workdir / "rabbitmq.out").open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        wait_until("RabbitMQ node", lambda: port_open("127.0.0.1", self.port), 120)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        wait_until("RabbitMQ port closed", lambda: not port_open("127.0.0.1", self.port), 30)


def pg_rows(database_url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return list(conn.execute(query.encode(), params))


def statuses(database_url: str) -> dict[str, int]:
    return dict(pg_rows(database_url, "SELECT status, count(*) FROM executions GROUP BY 1"))


def attempts_per_execution(database_url: str) -> dict[str, int]:
    rows = pg_rows(database_url, "SELECT execution_id, count(*) FROM attempts GROUP BY 1")
    return {str(r[0]): int(r[1]) for r in rows}
