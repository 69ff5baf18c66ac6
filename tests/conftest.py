"""Test harness: database backends and real server processes.

`backend` runs a test once on SQLite and once on PostgreSQL. `start_server(...)` writes a
config file and starts `python -m taskgate serve` as a subprocess on a free loopback port,
with its own fresh database. A missing PostgreSQL skips locally and fails when
`TASKGATE_REQUIRE_SERVICES=1` (CI).
"""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn, Protocol

import httpx
import psutil
import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

import taskgate.engine.actions  # noqa: F401  (registers the action kinds that tasks validate against)
from tests.ports import free_port as free_port  # tests import it from here
from tests.support import STANDARD_TASKS

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
# Starts on a new port when the one handed out was taken before the server bound it.
PORT_ATTEMPTS = 5
ADDRESS_IN_USE = "address already in use"
STARTING = "===== starting server"


def services_required() -> bool:
    return os.environ.get("TASKGATE_REQUIRE_SERVICES", "") not in ("", "0")


def missing_service(message: str) -> NoReturn:
    """A service or program the test needs is not there: it is skipped, or failed where the
    services are required."""
    if services_required():
        pytest.fail(message)
    pytest.skip(message)


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


# --- backends ------------------------------------------------------------------------------


def _pg_execute(url: str, *statements: str) -> None:
    with psycopg.connect(url, connect_timeout=10, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


def _drop_statement(name: str) -> str:
    return f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'


class Backend:
    """Where a server under test keeps its data; `new_database()` gives each server its own."""

    def __init__(self, name: str, pg_url: str | None = None) -> None:
        self.name = name
        self.pg_url = pg_url
        self._created: list[str] = []
        self._dropper: ThreadPoolExecutor | None = None
        self._dropping: list[Future[None]] = []

    def new_database(self, workdir: Path) -> str | None:
        """The `database_url` for a new server (None: SQLite in its data_dir)."""
        if self.pg_url is None:
            return None
        name = f"taskgate_t_{secrets.token_hex(6)}"
        _pg_execute(self.pg_url, f'CREATE DATABASE "{name}"')
        self._created.append(name)
        url: str = make_url(self.pg_url).set(database=name).render_as_string(hide_password=False)
        return url

    def release(self, database_url: str) -> None:
        """Nothing uses this database any more: drop it now, in the background.

        A DROP DATABASE waits for a checkpoint (a second or more on a busy machine). Dropped
        as their servers stop, while the tests go on, the databases no longer pile up into a
        minute of drops at the end of each worker's session.
        """
        name = make_url(database_url).database
        if self.pg_url is None or name not in self._created:
            return
        self._created.remove(name)
        if self._dropper is None:
            self._dropper = ThreadPoolExecutor(max_workers=2, thread_name_prefix="drop-database")
        self._dropping.append(self._dropper.submit(_pg_execute, self.pg_url, _drop_statement(name)))

    def drop_databases(self) -> None:
        """Drops the databases made in this process (each xdist worker drops its own)."""
        if self._dropper is not None:
            self._dropper.shutdown(wait=True)
            self._dropper = None
            dropping, self._dropping = self._dropping, []
            for drop in dropping:
                drop.result()  # a drop that failed fails the session's teardown
        if self.pg_url is None or not self._created:
            return
        url = self.pg_url
        statements = [_drop_statement(name) for name in self._created]
        self._created.clear()
        # Each DROP DATABASE waits for a checkpoint; drops that wait at the same time share
        # one, so they run on several connections at once (a quarter of the time one by one).
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda statement: _pg_execute(url, statement), statements))


_pg_problem: dict[str, str | None] = {}


def _pg_unreachable(url: str) -> str | None:
    """Why PostgreSQL at `url` cannot be used, or None; asked once per session."""
    if url not in _pg_problem:
        try:
            _pg_execute(url, "SELECT 1")
        except (OSError, psycopg.Error) as exc:
            _pg_problem[url] = f"{type(exc).__name__}: {exc}"
        else:
            _pg_problem[url] = None
    return _pg_problem[url]


@pytest.fixture(scope="session")
def _backends() -> Iterator[dict[str, Backend]]:
    """This process's backends (each xdist worker has its own), made on first use; at the end
    of the session, the PostgreSQL databases made through them are dropped."""
    made: dict[str, Backend] = {}
    yield made
    for backend in made.values():
        backend.drop_databases()


# Module scope: pytest finalizes a parametrized fixture whenever the next test wants the other
# parameter. Run in one process, the tests come sqlite first, then postgres: one switch. On
# an xdist worker that steals work (--dist worksteal) they can switch back, and a session-
# scoped backend dropped all the worker's databases at each switch, inside the next test's
# setup. Here a switch finalizes only the module's servers, as any module change does.
@pytest.fixture(scope="module", params=["sqlite", "postgres"], ids=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, _backends: dict[str, Backend]) -> Backend:
    name: str = request.param
    if name == "postgres":
        return postgres_backend(_backends)
    return _backends.setdefault(name, Backend(name))


def postgres_backend(backends: dict[str, Backend]) -> Backend:
    """The PostgreSQL backend at TASKGATE_TEST_PG_URL; the test is skipped when the server is
    unreachable (failed where the services are required)."""
    url = os.environ.get("TASKGATE_TEST_PG_URL", DEFAULT_PG_URL)
    problem = _pg_unreachable(url)
    if problem is not None:
        missing_service(f"PostgreSQL unreachable at {url}: {problem}")
    return backends.setdefault("postgres", Backend("postgres", url))


# --- server processes ----------------------------------------------------------------------

_live_servers: list[ServerProcess] = []


def _child_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "250"  # rich must not wrap a secret
    if extra:
        env.update(extra)
    return env


class ServerProcess:
    """One `taskgate serve` subprocess with its config file, port, data dir and log file."""

    def __init__(
        self, workdir: Path, config: dict[str, Any], env: dict[str, str] | None = None
    ) -> None:
        self.workdir = workdir
        self.config = config
        self.config_path = workdir / "taskgate.yaml"
        self.log_path = workdir / "server.log"
        self.port: int = config["server"]["port"]
        # A server with server.tls is reached over HTTPS; set `http_options` (httpx's verify,
        # cert) before start() for its readiness probe and clients.
        self.scheme = "https" if config["server"].get("tls") else "http"
        self.http_options: dict[str, Any] = {}
        self.url = f"{self.scheme}://127.0.0.1:{self.port}"
        self.extra_env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self._clients: list[httpx.Client] = []
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    # lifecycle

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, *, new_port_if_taken: bool = False) -> ServerProcess:
        """Starts the server and waits until it is ready; fails the test if it is not.

        With `new_port_if_taken`, a server that cannot bind its port because something took
        it after `free_port()` handed it out starts again on another one.
        """
        code = self.start_or_exit()
        for _ in range(PORT_ATTEMPTS - 1):
            if code is None or not new_port_if_taken or not self._port_was_taken():
                break
            self._move_to(free_port())
            code = self.start_or_exit()
        if code is not None:
            pytest.fail(
                f"server exited with {code} during start-up\n--- server log ---\n{self.log_text()}",
                pytrace=False,
            )
        return self

    def _port_was_taken(self) -> bool:
        last_start = self.log_text().rpartition(STARTING)[2]
        return ADDRESS_IN_USE in last_start and f"{self.port})" in last_start

    def _move_to(self, port: int) -> None:
        self.config["server"]["port"] = self.port = port
        self.url = f"{self.scheme}://127.0.0.1:{port}"
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))

    def _listens(self) -> bool:
        """This process (not something else on its port) accepts connections on the port."""
        assert self.proc is not None
        try:
            sockets = psutil.Process(self.proc.pid).net_connections(kind="tcp4")
        except psutil.Error:
            return False
        return any(s.status == psutil.CONN_LISTEN and s.laddr.port == self.port for s in sockets)

    def start_or_exit(self) -> int | None:
        """Starts the server: None once it is ready, or its exit code if it exits first."""
        assert not self.running, "server already running"
        require_server_lane("a taskgate server")
        with self.log_path.open("ab") as log:
            log.write(f"\n{STARTING} on {self.url} =====\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "taskgate", "serve", "--config", str(self.config_path)],
                cwd=self.workdir,
                env=_child_env(self.extra_env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if self not in _live_servers:
            _live_servers.append(self)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        last = "no answer"
        with httpx.Client(base_url=self.url, timeout=2, **self.http_options) as probe:
            while time.monotonic() < deadline:
                code = self.proc.poll()
                if code is not None:
                    return code
                try:
                    response = probe.get("/readyz")
                except httpx.HTTPError as exc:
                    last = repr(exc)
                else:
                    # A 200 from a server that is not ours (it held the port first) does not
                    # count: ours then exits with "address already in use".
                    if response.status_code == 200 and self._listens():
                        return None
                    last = f"{response.status_code} {response.text[:200]}"
                time.sleep(0.05)
        self.kill()
        pytest.fail(
            f"server not ready within {STARTUP_TIMEOUT}s (last: {last})\n"
            f"--- server log ---\n{self.log_text()}",
            pytrace=False,
        )

    def _descendants(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.Error:
            return []

    def _kill_group(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, sig)

    @staticmethod
    def _kill_processes(processes: list[psutil.Process]) -> None:
        for process in processes:
            with contextlib.suppress(psutil.Error):
                process.kill()
        psutil.wait_procs(processes, timeout=5)

    def stop(self) -> int | None:
        """SIGTERM, and wait for the server to exit (SIGKILL if it does not); its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            children = self._descendants()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._kill_group(signal.SIGKILL)
                self.proc.wait(10)
            # Whatever it left behind must not outlive the test.
            self._kill_group(signal.SIGKILL)
            self._kill_processes(children)
        self._close_clients()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL the server, its process group and every process it started (crash)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            children = self._descendants()
            self._kill_group(signal.SIGKILL)
            self._kill_processes(children)
            self.proc.wait(10)
        self._close_clients()

    def restart(self) -> ServerProcess:
        """Starts again on the same config, port and database (stops it first if running)."""
        if self.running:
            self.stop()
        return self.start()

    # access

    def client(self, **kwargs: Any) -> httpx.Client:
        """A client of this server; closed when the server stops (or use it in `with`)."""
        kwargs.setdefault("timeout", 30)
        client = httpx.Client(base_url=self.url, **{**self.http_options, **kwargs})
        self._clients.append(client)
        return client

    def _close_clients(self) -> None:
        for client in self._clients:
            client.close()
        self._clients.clear()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def cli(self, *args: str, check: bool = True, timeout: float = 60) -> str:
        """Runs `python -m taskgate <args> --config <this config>`; its output (stdout+stderr)."""
        done = subprocess.run(
            [sys.executable, "-m", "taskgate", *args, "--config", str(self.config_path)],
            cwd=self.workdir,
            env=_child_env(self.extra_env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = done.stdout + done.stderr
        if check:
            assert done.returncode == 0, f"taskgate {' '.join(args)} -> {done.returncode}\n{output}"
        return output

    def close(self) -> None:
        self.stop()
        with contextlib.suppress(ValueError):
            _live_servers.remove(self)


class StartServer(Protocol):
    def __call__(
        self,
        config: dict[str, Any] | None = None,
        *,
        tasks: list[dict[str, Any]] | None = None,
        env: dict[str, str] | None = None,
        start: bool = True,
    ) -> ServerProcess: ...


class ServerFactory:
    """Makes servers for one backend under one directory, and stops them all at the end."""

    def __init__(self, backend: Backend, root: Path) -> None:
        self.backend = backend
        self.root = root
        self.servers: list[ServerProcess] = []
        self.databases: list[str] = []

    def __call__(
        self,
        config: dict[str, Any] | None = None,
        *,
        tasks: list[dict[str, Any]] | None = None,
        env: dict[str, str] | None = None,
        start: bool = True,
    ) -> ServerProcess:
        workdir = self.root / f"server{len(self.servers)}"
        workdir.mkdir(parents=True)
        defaults: dict[str, Any] = {
            "server": {"host": "127.0.0.1", "port": free_port()},
            "data_dir": str(workdir / "data"),
            "node_name": "test-node",
            "auth": "none",
            # A dead server's runs are taken over within about 3 s (2 s lease + one sweep).
            "executor": {"slots": 8, "kill_grace_seconds": 2.0, "lease_seconds": 2.0},
        }
        database_url = self.backend.new_database(workdir)
        if database_url is not None:
            defaults["database_url"] = database_url
            self.databases.append(database_url)
        merged = deep_merge(defaults, config or {})
        if tasks is not None:
            merged["tasks"] = copy.deepcopy(tasks)
        server = ServerProcess(workdir, merged, env)
        self.servers.append(server)
        if start:
            # The port is ours to change unless the test chose it.
            server.start(new_port_if_taken="port" not in (config or {}).get("server", {}))
        return server

    def close(self) -> None:
        # Newest first, as an ExitStack would: a later server is often a client of an earlier
        # one (the qlik tests' local instance keeps TLS connections to the remote's QRS port
        # open, and the remote waits for those to close before it exits).
        for server in reversed(self.servers):
            server.close()
        # Servers share databases only with servers of the same factory: all have stopped.
        for database_url in self.databases:
            self.backend.release(database_url)


@pytest.fixture
def start_server(backend: Backend, tmp_path: Path) -> Iterator[StartServer]:
    """`start_server(config=None, *, tasks=None, env=None, start=True) -> ServerProcess`."""
    factory = ServerFactory(backend, tmp_path / "servers")
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def _module_servers(
    backend: Backend, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerFactory]:
    factory = ServerFactory(backend, tmp_path_factory.mktemp(f"servers-{backend.name}"))
    yield factory
    factory.close()


@pytest.fixture(scope="module")
def server(_module_servers: ServerFactory) -> ServerProcess:
    """A server with the standard test tasks, shared by the tests of one module and backend.

    Tests using it must not depend on what other tests did: they create their own tasks
    (unique labels) where counts matter, and leave nothing running.
    """
    return _module_servers(tasks=STANDARD_TASKS)


@pytest.fixture
def client(server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


# --- reporting -----------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for server in _live_servers:
            text = server.log_text()
            lines = text.splitlines()[-300:]
            report.sections.append((f"server log {server.url}", "\n".join(lines)))
    return report


# --- lanes ---------------------------------------------------------------------------------
# A test that starts `taskgate serve` is marked `server` by the fixtures it uses; the quick
# lane (`scripts/test --quick`, `-m "not server"`) leaves these out. Nobody has to remember
# the marker: a new test lands in its lane by itself, and a server started by a test without
# the marker (one that builds a ServerProcess by hand) fails that test in every lane.

SERVER_FIXTURES = frozenset({"start_server", "_module_servers"})
_current: list[pytest.Item] = []


def require_server_lane(what: str) -> None:
    """Fails the running test unless it is marked `server` (call before starting `what`)."""
    if _current and _current[-1].get_closest_marker("server") is None:
        pytest.fail(
            f"{_current[-1].nodeid} starts {what} but is not marked `server`: take servers "
            "from the start_server or server fixtures (or mark the test `server`), so that "
            "the quick lane leaves it out",
            pytrace=False,
        )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    _current.append(item)
    try:
        return (yield)
    finally:
        _current.remove(item)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("backend") == "postgres":
            item.add_marker(pytest.mark.postgres)
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.server)
