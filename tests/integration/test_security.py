"""Security: what a browser page, a local process or a stranger on the network can and cannot
make the server do, on every door (docs/security.md)."""

from __future__ import annotations

import os
import pwd
import re
import ssl
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.conftest import Backend, ServerFactory, ServerProcess, StartServer, free_port
from tests.qrs.conftest import QrsClient, xrfkey
from tests.support import (
    QUICK_ID,
    STANDARD_TASKS,
    list_executions,
    parse_secret,
    py_task,
    read_log,
    start_one,
    unique,
    wait_execution,
    wait_until,
)
from tests.tls_support import Pki, make_pki

ROOT = Path(__file__).resolve().parents[2]
EVIL_HOST = "rebind.attacker.example"
EVIL_ORIGIN = "http://evil.example"


# --- one server with every door, on both backends ------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"), "qlik-client")


@pytest.fixture(scope="module")
def doors(_module_servers: ServerFactory, pki: Pki) -> ServerProcess:
    """Open (`auth: none`, loopback): the state in which a browser is the one danger left."""
    listen = {
        "host": "127.0.0.1",
        "port": free_port(),
        "cert": str(pki.server_cert),
        "key": str(pki.server_key),
        "client_ca": str(pki.ca),
    }
    return _module_servers(
        {"butler": {"enabled": True}, "qrs": {"enabled": True, "listen": listen}},
        tasks=STANDARD_TASKS,
    )


@pytest.fixture
def tls(doors: ServerProcess, pki: Pki) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(pki.ca))
    context.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    port = doors.config["qrs"]["listen"]["port"]
    with httpx.Client(base_url=f"https://127.0.0.1:{port}", verify=context, timeout=30) as http:
        yield http


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def qrs_params_headers(extra: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    key = xrfkey()
    return {"Xrfkey": key}, {"X-Qlik-Xrfkey": key, **extra}


# Each door's state-changing request a browser could send, and how its refusals look.
# (door, method, path, body)
STATE_CHANGING = [
    (
        "api",
        "POST",
        "/api/v1/tasks",
        {"name": "planted", "action": {"kind": "command", "argv": ["true"]}},
    ),
    ("api", "POST", f"/api/v1/tasks/{QUICK_ID}/start", {}),
    ("butler", "POST", f"/v4/reloadtask/{QUICK_ID}/start", None),
    ("butler", "PUT", f"/v4/reloadtask/{QUICK_ID}/start", None),
    ("qrs", "POST", f"/qrs/task/{QUICK_ID}/start", None),
]


def send(
    http: httpx.Client, door: str, method: str, path: str, body: Any, headers: dict[str, str]
) -> httpx.Response:
    params: dict[str, str] = {}
    if door == "qrs":
        params, headers = qrs_params_headers(headers)
    return http.request(
        method, path, params=params, headers=headers, **({"json": body} if body else {})
    )


def refused_in_door_format(response: httpx.Response, door: str, status: int, header: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    if door == "api":
        assert body["field"] == header and body["error"] in ("misdirected", "forbidden"), body
    elif door == "butler":
        assert body["statusCode"] == status and header in body["message"], body
    else:
        assert body["field"] == header and body["message"], body


# --- 1. Host and Origin ------------------------------------------------------------------


@pytest.mark.parametrize(("door", "method", "path", "body"), STATE_CHANGING)
def test_a_foreign_host_name_reaches_no_door(
    doors: ServerProcess, door: str, method: str, path: str, body: Any
) -> None:
    """DNS rebinding: a page whose name resolves to 127.0.0.1 sends its own name as Host."""
    with doors.client() as http:
        before = len(list_executions(http))
        for host in (EVIL_HOST, f"{EVIL_HOST}:{doors.port}", "127.0.0.1.evil.example"):
            answer = send(http, door, method, path, body, {"Host": host})
            refused_in_door_format(answer, door, 421, "Host")
        # Reads too: the rebound page must not read the answers either.
        for read in ("/api/v1/tasks", "/v4/butlerping", "/qrs/about", "/metrics", "/docs"):
            answer = send(
                http,
                "qrs" if read.startswith("/qrs") else "api",
                "GET",
                read,
                None,
                {"Host": EVIL_HOST},
            )
            assert answer.status_code == 421, (read, answer.text)
        assert len(list_executions(http)) == before
        tasks = http.get("/api/v1/tasks").json()["items"]
        assert "planted" not in {t["name"] for t in tasks}


@pytest.mark.parametrize(("door", "method", "path", "body"), STATE_CHANGING)
def test_another_sites_page_changes_nothing(
    doors: ServerProcess, door: str, method: str, path: str, body: Any
) -> None:
    """A page of another site posts to 127.0.0.1: the browser says so in Origin or
    Sec-Fetch-Site, and sends a bodiless POST without asking first."""
    with doors.client() as http:
        before = len(list_executions(http))
        for headers, header in (
            ({"Origin": EVIL_ORIGIN}, "Origin"),
            ({"Origin": "null"}, "Origin"),
            ({"Origin": f"http://127.0.0.1.evil.example:{doors.port}"}, "Origin"),
            ({"Sec-Fetch-Site": "cross-site"}, "Sec-Fetch-Site"),
        ):
            answer = send(http, door, method, path, body, headers)
            refused_in_door_format(answer, door, 403, header)
        assert len(list_executions(http)) == before


def test_own_pages_and_programs_pass(doors: ServerProcess) -> None:
    with doors.client() as http:
        for headers in (
            {},  # curl, scripts, Qlik's REST connector: no Origin at all
            {"Origin": f"http://127.0.0.1:{doors.port}"},
            {"Origin": f"http://localhost:{doors.port}", "Sec-Fetch-Site": "same-origin"},
            {"Host": f"localhost:{doors.port}", "Sec-Fetch-Site": "none"},
            {"Host": f"[::1]:{doors.port}"},
        ):
            answer = http.put(f"/v4/reloadtask/{QUICK_ID}/start", headers=headers)
            assert answer.status_code == 200, (headers, answer.text)
        # Reading with another site's Origin is a read: it gets no CORS header to show it.
        read = http.get("/api/v1/tasks", headers={"Origin": EVIL_ORIGIN})
        assert read.status_code == 200
        assert "access-control-allow-origin" not in read.headers
        preflight = http.options(
            "/api/v1/tasks",
            headers={"Origin": EVIL_ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in preflight.headers


def test_the_qrs_tls_listener_checks_names_too(doors: ServerProcess, tls: httpx.Client) -> None:
    qrs = QrsClient(tls)
    assert qrs.get("/about").status_code == 200
    misdirected = qrs.get("/about", headers={"Host": EVIL_HOST})
    refused_in_door_format(misdirected, "qrs", 421, "Host")
    cross = qrs.post(f"/task/{QUICK_ID}/start", headers={"Origin": EVIL_ORIGIN})
    refused_in_door_format(cross, "qrs", 403, "Origin")


def test_cors_only_for_the_origins_configured(start_server: StartServer) -> None:
    portal = "https://portal.example"
    server = start_server(
        {"server": {"cors_origins": [portal], "hostnames": ["jobs.example"]}},
        tasks=STANDARD_TASKS,
    )
    with server.client() as http:
        preflight = http.options(
            "/api/v1/tasks",
            headers={"Origin": portal, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == portal
        started = http.post(
            f"/api/v1/tasks/{QUICK_ID}/start",
            json={},
            headers={"Origin": portal, "Sec-Fetch-Site": "cross-site", "Host": "jobs.example"},
        )
        assert started.status_code == 200, started.text
        assert started.headers["access-control-allow-origin"] == portal
        other = http.post(
            f"/api/v1/tasks/{QUICK_ID}/start", json={}, headers={"Origin": EVIL_ORIGIN}
        )
        refused_in_door_format(other, "api", 403, "Origin")


# --- 2. The compatibility doors take API keys ------------------------------------------------


def admin_key(server: ServerProcess) -> str:
    """The secret the server's first start wrote to its data folder."""
    return (Path(server.config["data_dir"]) / "admin.key").read_text().strip()


def make_key(server: ServerProcess, role: str, *extra: str) -> str:
    output = server.cli("keys", "create", "--name", unique(role), "--role", role, *extra)
    return parse_secret(output)


def qrs_request(
    http: httpx.Client, method: str, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    params, with_key = qrs_params_headers(headers or {})
    return http.request(method, f"/qrs{path}", params=params, headers=with_key)


def butler_refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json()["statusCode"] == status, response.text


def qrs_refused(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.json()["message"], response.text


@pytest.fixture(scope="module")
def keyed_doors(_module_servers: ServerFactory) -> ServerProcess:
    """`auth: keys`, and both compatibility doors with their defaults."""
    return _module_servers(
        {"auth": "keys", "butler": {"enabled": True}, "qrs": {"enabled": True}},
        tasks=STANDARD_TASKS,
    )


def test_compatibility_doors_need_a_key_by_default(keyed_doors: ServerProcess) -> None:
    admin, viewer = make_key(keyed_doors, "admin"), make_key(keyed_doors, "viewer")
    start = f"/v4/reloadtask/{QUICK_ID}/start"
    with keyed_doors.client() as http, keyed_doors.client(headers=bearer(admin)) as api:
        for method, path in (
            ("PUT", start),
            ("POST", start),
            ("GET", "/v4/keyvaluesnamespaces"),
            ("POST", "/v4/keyvalues/ns"),
            ("GET", "/v4/schedules"),
            ("PUT", "/v4/schedules/startall"),
        ):
            butler_refused(http.request(method, path), 401)
        for method, path in (
            ("GET", "/about"),
            ("POST", f"/task/{QUICK_ID}/start"),
            ("GET", "/executionresult/full"),
        ):
            qrs_refused(qrs_request(http, method, path), 401)
        # None of that started anything.
        assert list_executions(api, task=QUICK_ID) == []

        # A viewer reads, an operator (or admin) also starts, on both doors.
        assert http.get("/v4/keyvaluesnamespaces", headers={"X-API-Key": viewer}).status_code == 200
        butler_refused(http.put(start, headers={"X-API-Key": viewer}), 403)
        assert http.put(start, headers={"X-API-Key": admin}).status_code == 200
        assert http.put(start, params={"apikey": admin}).status_code == 200
        assert http.put(start, headers=bearer(admin)).status_code == 200
        assert qrs_request(http, "GET", "/about", {"X-API-Key": viewer}).status_code == 200
        qrs_refused(qrs_request(http, "POST", f"/task/{QUICK_ID}/start", bearer(viewer)), 403)
        started = qrs_request(http, "POST", f"/task/{QUICK_ID}/start", bearer(admin))
        assert started.status_code == 204, started.text
        callers = {e["caller"] for e in list_executions(api, task=QUICK_ID)}
        assert all(caller.startswith("key:admin") for caller in callers), callers
    log = keyed_doors.log_text()
    assert "Butler door" in log and "each with an API key (X-API-Key header" in log, log
    assert "QRS door" in log and "each with an API key (X-API-Key or Authorization" in log, log


def test_open_to_lets_named_networks_in_without_a_key(start_server: StartServer) -> None:
    loopback = ["127.0.0.0/8", "::1/128"]
    server = start_server(
        {
            "auth": "keys",
            "butler": {"enabled": True, "open_to": loopback},
            "qrs": {"enabled": True, "open_to": loopback},
        },
        tasks=STANDARD_TASKS,
    )
    with server.client() as http:
        answer = http.put(f"/v4/reloadtask/{QUICK_ID}/start")
        assert answer.status_code == 200, answer.text
        assert qrs_request(http, "POST", f"/task/{QUICK_ID}/start").status_code == 204
        # A key that is sent is checked, even from an open network.
        wrong = {"X-API-Key": "tg_00000000_wrong"}
        butler_refused(http.put(f"/v4/reloadtask/{QUICK_ID}/start", headers=wrong), 401)
        qrs_refused(qrs_request(http, "GET", "/about", wrong), 401)
    assert "without a key from 127.0.0.0/8, ::1/128 (open_to)" in server.log_text()


def test_the_demo_config_opens_its_doors_to_loopback_on_purpose() -> None:
    demo = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())
    for door in ("butler", "qrs"):
        assert demo[door]["open_to"] == ["127.0.0.0/8", "::1/128"]
        assert demo[door].get("require_api_key", True) is True


# --- 3. Forwarded headers --------------------------------------------------------------------


def test_forwarded_headers_from_an_untrusted_peer_change_nothing(
    start_server: StartServer,
) -> None:
    """A local process posing as 10.1.2.3 with X-Forwarded-For: uvicorn believes 127.0.0.1 by
    default (and whatever FORWARDED_ALLOW_IPS says); taskgate believes no peer unless told."""
    server = start_server(
        {"butler": {"enabled": True, "allow_from": ["10.0.0.0/8"]}},
        tasks=STANDARD_TASKS,
        env={"FORWARDED_ALLOW_IPS": "*"},
    )
    with server.client() as http:
        posing = http.put(
            f"/v4/reloadtask/{QUICK_ID}/start", headers={"X-Forwarded-For": "10.1.2.3"}
        )
        butler_refused(posing, 403)
        assert "127.0.0.1" in posing.json()["message"]
        assert list_executions(http, task=QUICK_ID) == []
        # The native API's executions and audit name the real peer too.
        http.post(
            f"/api/v1/tasks/{QUICK_ID}/start", json={}, headers={"X-Forwarded-For": "10.1.2.3"}
        )
        audit = http.get("/api/v1/audit").json()["items"]
        assert "10.1.2.3" not in str(audit)


def test_forwarded_headers_do_not_reset_the_butler_rate_limit(start_server: StartServer) -> None:
    server = start_server({"butler": {"enabled": True, "rate_limit_per_minute": 2}})
    with server.client() as http:
        answers = [
            http.get("/v4/butlerping", headers={"X-Forwarded-For": f"10.0.0.{n}"}).status_code
            for n in range(3)
        ]
    assert answers == [200, 200, 429]


def test_a_named_proxy_is_believed(start_server: StartServer) -> None:
    # Behind a proxy the server must not be open (auth: none refuses trusted_proxies).
    lan = ["10.0.0.0/8"]
    server = start_server(
        {
            "auth": "keys",
            "server": {"trusted_proxies": ["127.0.0.1/32", "::1"]},
            "butler": {"enabled": True, "allow_from": lan, "open_to": lan},
        },
        tasks=STANDARD_TASKS,
        env={"FORWARDED_ALLOW_IPS": ""},
    )
    with server.client() as http, server.client(headers=bearer(admin_key(server))) as api:
        forwarded = http.put(
            f"/v4/reloadtask/{QUICK_ID}/start", headers={"X-Forwarded-For": "10.1.2.3"}
        )
        assert forwarded.status_code == 200, forwarded.text
        [execution] = list_executions(api, task=QUICK_ID)
        assert execution["caller"] == "butler@10.1.2.3"
        butler_refused(http.put(f"/v4/reloadtask/{QUICK_ID}/start"), 403)


def test_open_mode_behind_a_proxy_is_refused(start_server: StartServer) -> None:
    server = start_server({"server": {"trusted_proxies": ["127.0.0.1"]}}, start=False)
    assert server.start_or_exit() == 2
    assert "auth: none refuses server.trusted_proxies" in server.log_text()


# --- 5. Files for the server's user alone, and commands as another user ------------------

MODES_CODE = """\
import json, os, stat
print('params ' + oct(stat.S_IMODE(os.stat(os.environ['TASKGATE_PARAMS_FILE']).st_mode)))
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_folder_is_for_the_servers_user_alone(
    start_server: StartServer, backend: Backend
) -> None:
    server = start_server({"auth": "keys"}, tasks=[py_task("Modes", MODES_CODE, label="modes")])
    data = Path(server.config["data_dir"])
    assert mode(data) == 0o700
    assert mode(data / "runs") == 0o700
    assert mode(data / "admin.key") == 0o600
    if backend.name == "sqlite":
        for name in ("taskgate.db", "taskgate.db-wal", "taskgate.db-shm"):
            assert mode(data / name) == 0o600, name
    with server.client(headers=bearer(admin_key(server))) as http:
        execution_id = start_one(http, "label:modes")
        assert wait_execution(http, execution_id)["status"] == "finished_success"
        assert "params 0o600" in read_log(http, execution_id)
    assert "open to other users" not in server.log_text()


def test_a_start_names_what_other_users_may_read(
    start_server: StartServer, backend: Backend
) -> None:
    server = start_server({"auth": "keys"})
    server.stop()
    data = Path(server.config["data_dir"])
    data.chmod(0o755)
    (data / "admin.key").chmod(0o644)
    widened = [data, data / "admin.key"]
    if backend.name == "sqlite":
        (data / "taskgate.db").chmod(0o644)
        widened.append(data / "taskgate.db")
    server.start()
    log = server.log_text()
    for path in widened:
        assert f"{path} is 0" in log and "chmod 0" in log, (path, log)


RUN_AS_CODE = """\
import json, os, sys
P = json.load(open(os.environ['TASKGATE_PARAMS_FILE']))
print('uid', os.getuid(), 'home', os.environ.get('HOME'), 'region', P['region'])
for name in ('taskgate.db', 'admin.key'):
    try:
        open(os.path.join(P['data'], name)).read()
        print('read', name)
    except OSError as exc:
        print('denied', name, type(exc).__name__)
result = os.environ['TASKGATE_RESULT_FILE']
if P['steal']:
    os.symlink(os.path.join(P['data'], 'admin.key'), result)
else:
    with open(result, 'w') as f:
        json.dump({'uid': os.getuid()}, f)
"""

SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.mark.skipif(os.geteuid() != 0, reason="run_as needs the tests to run as root")
@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="nobody needs a python it may run")
def test_run_as_starts_the_command_as_that_user(start_server: StartServer) -> None:
    nobody = pwd.getpwnam("nobody")
    action: dict[str, Any] = {
        "kind": "command",
        "argv": [str(SYSTEM_PYTHON), "-c", RUN_AS_CODE],
        "cwd": "/",
        "run_as": "nobody",
    }
    task: dict[str, Any] = {
        "name": "As nobody",
        "label": "as-nobody",
        "params": [
            {"name": "region", "type": "string"},
            {"name": "data", "type": "string"},
            {"name": "steal", "type": "bool", "default": False},
        ],
        "action": action,
    }
    server = start_server(tasks=[task])
    data = server.config["data_dir"]
    with server.client() as http:
        execution_id = start_one(http, "label:as-nobody", {"region": "US", "data": data})
        execution = wait_execution(http, execution_id)
        log = read_log(http, execution_id)
        assert execution["status"] == "finished_success", log
        assert f"uid {nobody.pw_uid} home {nobody.pw_dir} region US" in log
        assert "denied taskgate.db" in log and "denied admin.key" in log, log
        assert execution["result"] == {"uid": nobody.pw_uid}
        # A result file that is a link to one of the server's files is not read.
        stolen = start_one(http, "label:as-nobody", {"region": "US", "data": data, "steal": True})
        execution = wait_execution(http, stolen)
        assert execution["result"] is None
        assert "result file ignored" in execution["message"]
        # An unknown user is refused where the task is made, naming the field.
        bad = {**task, "label": "as-ghost", "action": {**action, "run_as": "no-such-user"}}
        refused = http.post("/api/v1/tasks", json=bad)
        assert refused.status_code == 422, refused.text
        assert refused.json()["field"] == "action.run_as"
    assert not list(Path(tempfile.gettempdir()).glob("taskgate-run-*"))


# --- 6. Failed authentications: logged, counted, slowed down -------------------------------


def from_address(server: ServerProcess, address: str) -> httpx.Client:
    """A client whose requests come from another loopback address: another source."""
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=server.url, transport=transport, timeout=30)


def metric(text: str, name: str, door: str) -> float:
    for line in text.splitlines():
        if line.startswith(f'{name}{{door="{door}"}} '):
            return float(line.split()[-1])
    return 0.0


def test_failed_keys_are_logged_counted_and_slowed_down(start_server: StartServer) -> None:
    server = start_server(
        {
            "auth": "keys",
            "server": {"failed_auth_burst": 4, "failed_auth_window_seconds": 600},
            "butler": {"enabled": True},
            "qrs": {"enabled": True},
        }
    )
    admin = admin_key(server)
    wrong = "tg_0badc0de_this-part-is-secret"
    doors = {"api": "127.0.0.2", "butler": "127.0.0.3", "qrs": "127.0.0.4"}

    def call(http: httpx.Client, door: str, key: str | None) -> httpx.Response:
        if door == "api":
            return http.get("/api/v1/tasks", headers=bearer(key) if key else {})
        headers = {"X-API-Key": key} if key else {}
        if door == "butler":
            return http.get("/v4/keyvaluesnamespaces", headers=headers)
        return qrs_request(http, "GET", "/about", headers)

    for door, address in doors.items():
        with from_address(server, address) as http:
            answers = [call(http, door, wrong).status_code for _ in range(5)]
            assert answers == [401, 401, 401, 401, 429], (door, answers)
            slowed = call(http, door, admin)  # even a good key waits: nothing is read
            assert slowed.status_code == 429, slowed.text
            assert 1 <= int(slowed.headers["retry-after"]) <= 150
            assert str(slowed.headers["retry-after"]) in slowed.text
            # No credential is no failed authentication: the answer stays 401.
            if door == "api":
                assert call(http, door, None).status_code == 401
    with server.client(headers=bearer(admin)) as http:
        ok = http.get("/api/v1/tasks")  # another source is not slowed down
        assert ok.status_code == 200, ok.text
        metrics = http.get("/metrics").text
    for door in doors:
        assert metric(metrics, "taskgate_auth_failures_total", door) == 4, metrics
        assert metric(metrics, "taskgate_auth_throttled_total", door) == 2, metrics
    log = server.log_text()
    assert "this-part-is-secret" not in log and admin not in log
    for door, address in doors.items():
        line = f"failed authentication on {door} from {address} with tg_0badc0de: unknown API key"
        assert line in log, log


# --- Every route of every door, with every kind of bad credential --------------------------


def butler_routes() -> list[tuple[str, str]]:
    from taskgate.config.doors import ButlerEndpoints
    from taskgate.doors.butler.app import routes

    return [
        (method, f"/v4{route.path.replace(':segment', '')}")
        for route in routes(ButlerEndpoints())
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


def qrs_routes() -> list[tuple[str, str]]:
    from taskgate.doors.qrs.app import routes

    return [
        (method, route.path)
        for route in routes()
        for method in sorted(route.methods or ())
        if method != "HEAD"
    ]


def with_ids(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0b7b1c50-6a47-4d63-9a55-6f0b6c1a0001", path)


PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


def test_every_route_of_every_door_refuses_bad_credentials(start_server: StartServer) -> None:
    server = start_server(
        {
            "auth": "keys",
            "server": {"failed_auth_burst": 100_000},
            "butler": {"enabled": True},
            "qrs": {"enabled": True},
        },
        tasks=STANDARD_TASKS,
    )
    admin = admin_key(server)
    revoked = make_key(server, "operator")
    server.cli("keys", "revoke", revoked.split("_")[1])
    # 1e-8 days is under a millisecond: expired before the CLI has even exited.
    expired = make_key(server, "admin", "--expires-days", "0.00000001")
    with server.client() as http:
        spec = http.get("/openapi.json").json()
        native = [
            (method.upper(), path)
            for path, operations in spec["paths"].items()
            for method in operations
            if (method.upper(), path) not in PUBLIC
        ]
        assert len(native) > 35, native
        credentials: dict[str, dict[str, str]] = {
            "none": {},
            "wrong": {"Authorization": "Bearer tg_00000000_wrong"},
            "revoked": bearer(revoked),
            "expired": bearer(expired),
            "other scheme": {"Authorization": f"Basic {admin}"},
            "forged token": bearer(f"tgx_{QUICK_ID}_9999999999_{'A' * 43}"),
        }
        for method, path in native:
            for kind, headers in credentials.items():
                answer = http.request(method, with_ids(path), headers=headers)
                assert answer.status_code == 401, (kind, method, path, answer.text)
                assert answer.json()["error"] == "unauthorized"
        door_keys = {
            "none": {},
            "wrong": {"X-API-Key": "tg_00000000_wrong"},
            "revoked": {"X-API-Key": revoked},
            "expired": {"X-API-Key": expired},
        }
        for method, path in butler_routes():
            for kind, headers in door_keys.items():
                answer = http.request(method, with_ids(path), headers=headers)
                assert answer.status_code == 401, (kind, method, path, answer.text)
                assert answer.json()["statusCode"] == 401
        for method, path in qrs_routes():
            for kind, headers in door_keys.items():
                answer = qrs_request(http, method, with_ids(path), headers)
                assert answer.status_code == 401, (kind, method, path, answer.text)
        # The good key opens them all (a sample of each).
        assert http.get("/api/v1/tasks", headers=bearer(admin)).status_code == 200
        assert http.get("/v4/butlerping", headers={"X-API-Key": admin}).status_code == 200
        assert qrs_request(http, "GET", "/about", {"X-API-Key": admin}).status_code == 200
    with server.client(headers=bearer(admin)) as api:
        assert list_executions(api) == []


# --- 7. An execution's token reaches its own namespaces only -------------------------------

HOLDER_CODE = """\
import json, os, time
P = json.load(open(os.environ['TASKGATE_PARAMS_FILE']))
with open(os.path.join(P['dir'], 'token.tmp'), 'w') as f:
    f.write(os.environ['TASKGATE_TOKEN'])
os.replace(os.path.join(P['dir'], 'token.tmp'), os.path.join(P['dir'], 'token'))
deadline = time.monotonic() + 60
while not os.path.exists(os.path.join(P['dir'], 'release')) and time.monotonic() < deadline:
    time.sleep(0.02)
"""
HOLDER_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a7001"
ANY_NS_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a7002"


def holder(task_id: str, label: str, namespaces: list[str], folder: Path) -> dict[str, Any]:
    return py_task(
        f"Holder {label}",
        HOLDER_CODE,
        id=task_id,
        label=label,
        params=[{"name": "dir", "type": "string", "default": str(folder)}],
        kv_namespaces=namespaces,
    )


def test_a_token_reaches_only_its_own_namespaces(start_server: StartServer, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    server = start_server(
        {"butler": {"enabled": True}},
        tasks=[holder(HOLDER_ID, "holder", ["shared"], one), holder(ANY_NS_ID, "any", ["*"], two)],
    )
    with server.client() as http:
        for ns in ("shared", "other-job", "mine"):
            http.put(f"/api/v1/kv/{ns}/k", json={"value": ns}).raise_for_status()

        def token_of(task_id: str, folder: Path, kv: list[dict[str, Any]]) -> dict[str, str]:
            folder.mkdir()
            started = http.put(f"/v4/reloadtask/{task_id}/start", json=kv)
            assert started.status_code == 200, started.text
            token_file = folder / "token"
            token: str = wait_until(
                lambda: token_file.read_text() if token_file.exists() else None, what="token"
            )
            return bearer(token)

        # Butler's way of handing a run its parameters: the start writes them to the store.
        item = {"type": "keyvaluestore", "payload": {"namespace": "mine", "key": "k", "value": "m"}}
        token = token_of(HOLDER_ID, one, [item])
        # What its start wrote, and what its task names: read and write.
        assert http.get("/api/v1/kv/mine/k", headers=token).json()["value"] == "m"
        assert http.get("/api/v1/kv/shared/k", headers=token).json()["value"] == "shared"
        wrote = http.put("/api/v1/kv/shared/x", json={"value": "1"}, headers=token)
        assert wrote.status_code == 200, wrote.text
        # Another job's parameters: neither read, listed, written nor deleted.
        for method, path in (
            ("GET", "/api/v1/kv/other-job/k"),
            ("GET", "/api/v1/kv/other-job"),
            ("PUT", "/api/v1/kv/other-job/k"),
            ("DELETE", "/api/v1/kv/other-job/k"),
            ("DELETE", "/api/v1/kv/other-job"),
        ):
            body = {"value": "x"} if method == "PUT" else None
            refused = http.request(method, path, headers=token, json=body)
            assert refused.status_code == 403, (method, path, refused.text)
            assert refused.json()["field"] == "namespace"
        listed = {n["namespace"] for n in http.get("/api/v1/kv", headers=token).json()["items"]}
        assert listed == {"mine", "shared"}
        assert http.get("/api/v1/kv/other-job/k").json()["value"] == "other-job"
        # A task that names '*' reaches every namespace.
        every = token_of(ANY_NS_ID, two, [])
        assert http.get("/api/v1/kv/other-job/k", headers=every).json()["value"] == "other-job"
        for folder in (one, two):
            (folder / "release").write_text("go")


# --- 8. Smaller things ---------------------------------------------------------------------


def test_the_api_description_can_be_switched_off(start_server: StartServer) -> None:
    server = start_server({"server": {"api_docs": False}})
    with server.client() as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            answer = http.get(path)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"] == "not_found"
        assert http.get("/api/v1/tasks").status_code == 200


def test_the_api_description_is_there_by_default(doors: ServerProcess) -> None:
    with doors.client() as http:
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert http.get(path).status_code == 200, path


def test_a_forged_token_is_401_on_every_route_and_a_good_one_403_outside_the_store(
    start_server: StartServer, tmp_path: Path
) -> None:
    folder = tmp_path / "run"
    folder.mkdir()
    server = start_server(tasks=[holder(HOLDER_ID, "holder", [], folder)])
    forged = bearer(f"tgx_{QUICK_ID}_9999999999_{'A' * 43}")
    with server.client() as http:
        for path in ("/api/v1/tasks", "/api/v1/keys", "/api/v1/kv"):
            answer = http.get(path, headers=forged)
            assert answer.status_code == 401, (path, answer.text)
        http.post(f"/api/v1/tasks/{HOLDER_ID}/start", json={}).raise_for_status()
        token_file = folder / "token"
        token: str = wait_until(
            lambda: token_file.read_text() if token_file.exists() else None, what="token"
        )
        assert http.get("/api/v1/tasks", headers=bearer(token)).status_code == 403
        assert http.get("/api/v1/kv", headers=bearer(token)).status_code == 200
        (folder / "release").write_text("go")
