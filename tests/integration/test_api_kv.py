"""The key-value store through the native API (`/api/v1/kv`), and the execution tokens that let
a running command use it (`TASKGATE_TOKEN`)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, StartServer
from tests.support import (
    ALLOW,
    DIR_PARAM,
    PRELUDE,
    error_json,
    ok_json,
    parse_secret,
    py_task,
    start_one,
    unique,
    wait_execution,
    wait_status,
    wait_until,
)

# Reads `input` of namespace `ns` with the CLI (the token is its only credential), writes
# `output` back, and tries a key that is not there; the exit codes and stderr go to the log.
KV_CLI_CODE = (
    PRELUDE
    + """\
import subprocess
def kv(*args):
    done = subprocess.run([sys.executable, '-m', 'taskgate', 'kv', *args],
                          capture_output=True, text=True, timeout=60)
    print(f'kv {args[0]} exit={done.returncode} stderr={done.stderr.strip()!r}', flush=True)
    return done
assert 'TASKGATE_API_KEY' not in os.environ
got = kv('get', P['ns'], 'input')
if got.returncode:
    sys.exit(4)
print('read ' + repr(got.stdout), flush=True)
absent = kv('get', P['ns'], 'absent')
print(f'absent stdout={absent.stdout!r}', flush=True)
if absent.returncode != 1 or 'absent' not in absent.stderr:
    sys.exit(5)
put = kv('set', P['ns'], 'output', got.stdout.upper() + '!', '--ttl', '3600000')
sys.exit(6 if put.returncode else 0)
"""
)

# Leaves its TASKGATE_TOKEN in dir/token, then waits (at most a minute) until dir/release exists.
TOKEN_CODE = (
    PRELUDE
    + """\
write(os.path.join(D, 'token'), os.environ['TASKGATE_TOKEN'])
deadline = time.monotonic() + 60
while not os.path.exists(os.path.join(D, 'release')) and time.monotonic() < deadline:
    time.sleep(0.02)
"""
)

NS_PARAM = {"name": "ns", "type": "string", "required": True}
# Each names the namespaces its runs' tokens may use (kv_namespaces).
KV_TASKS = [
    py_task(
        "KV by CLI",
        KV_CLI_CODE,
        label="kv-cli",
        concurrency=ALLOW,
        params=[NS_PARAM],
        kv_namespaces=["job"],
    ),
    py_task(
        "Token holder",
        TOKEN_CODE,
        label="token",
        concurrency=ALLOW,
        params=[DIR_PARAM],
        kv_namespaces=["shared"],
    ),
]


def kv_url(namespace: str, key: str | None = None) -> str:
    return f"/api/v1/kv/{namespace}" + ("" if key is None else f"/{key}")


def put(
    client: httpx.Client,
    namespace: str,
    key: str,
    value: str,
    ttl_ms: int | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    body = {"value": value, "ttl_ms": ttl_ms}
    result: dict[str, Any] = ok_json(client.put(kv_url(namespace, key), json=body, headers=headers))
    return result


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def make_key(server: ServerProcess, role: str) -> str:
    return parse_secret(server.cli("keys", "create", "--name", unique(role), "--role", role))


# --- the store -----------------------------------------------------------------------------


def test_crud(client: httpx.Client) -> None:
    ns = unique("ns")
    entry = put(client, ns, "region", "EU")
    assert entry["namespace"] == ns
    assert (entry["key"], entry["value"], entry["expires_at"]) == ("region", "EU", None)
    put(client, ns, "path/with/slashes", "x y")
    put(client, ns, "region", "US")  # replaces

    got = ok_json(client.get(kv_url(ns, "region")))
    assert got["value"] == "US"
    assert datetime.fromisoformat(got["updated_at"]) >= datetime.fromisoformat(entry["updated_at"])
    assert ok_json(client.get(kv_url(ns, "path/with/slashes")))["value"] == "x y"
    assert ok_json(client.get(kv_url(ns, "path%2Fwith%2Fslashes")))["value"] == "x y"

    listing = ok_json(client.get(kv_url(ns)))
    assert listing["namespace"] == ns
    assert [(e["key"], e["value"]) for e in listing["items"]] == [
        ("path/with/slashes", "x y"),
        ("region", "US"),
    ]
    fields = {"namespace", "key", "value", "expires_at", "updated_at", "secret"}
    assert set(listing["items"][0]) == fields
    namespaces = ok_json(client.get("/api/v1/kv"))["items"]
    assert {"namespace": ns, "keys": 2} in namespaces

    assert client.delete(kv_url(ns, "region")).status_code == 204
    assert error_json(client.get(kv_url(ns, "region")), 404, "not_found")["field"] == "key"
    assert error_json(client.delete(kv_url(ns, "region")), 404, "not_found")["field"] == "key"

    assert client.delete(kv_url(ns)).status_code == 204
    assert error_json(client.get(kv_url(ns)), 404, "not_found")["field"] == "namespace"
    assert error_json(client.get(kv_url(ns, "x")), 404, "not_found")["field"] == "namespace"
    assert error_json(client.delete(kv_url(ns)), 404, "not_found")["field"] == "namespace"
    assert ns not in {n["namespace"] for n in ok_json(client.get("/api/v1/kv"))["items"]}


def test_ttl_expiry(client: httpx.Client) -> None:
    ns = unique("ttl")
    short = put(client, ns, "short", "soon gone", ttl_ms=300)
    expires = datetime.fromisoformat(short["expires_at"])
    assert expires - datetime.fromisoformat(short["updated_at"]) == timedelta(milliseconds=300)
    put(client, ns, "forever", "stays")
    put(client, ns, "zero", "stays too", ttl_ms=0)

    def gone() -> bool:
        return client.get(kv_url(ns, "short")).status_code == 404

    wait_until(gone, timeout=30, what="the 300 ms key expires")
    error_json(client.get(kv_url(ns, "short")), 404, "not_found")
    keys = [e["key"] for e in ok_json(client.get(kv_url(ns)))["items"]]
    assert keys == ["forever", "zero"]
    assert {"namespace": ns, "keys": 2} in ok_json(client.get("/api/v1/kv"))["items"]
    # An expired key is absent for a delete too, and writing it again brings it back.
    error_json(client.delete(kv_url(ns, "short")), 404, "not_found")
    assert put(client, ns, "short", "again")["expires_at"] is None


def test_bad_input_names_the_field(client: httpx.Client) -> None:
    ns = unique("bad")
    cases: list[tuple[str, str, Any, str]] = [
        (ns, "k", {"value": 5}, "body.value"),
        (ns, "k", {"value": "v", "ttl_ms": -1}, "body.ttl_ms"),
        (ns, "k", {"value": "v", "ttl_ms": "soon"}, "body.ttl_ms"),
        (ns, "k", {"value": "v", "ttl": 5}, "body.ttl"),
        (ns, "k", {}, "body.value"),
        (ns, "k", {"value": "v", "ttl_ms": 10**15}, "ttl_ms"),
        (ns, "k", {"value": "v", "ttl_ms": 10**30}, "ttl_ms"),
        (ns, "", {"value": "v"}, "key"),
        (ns, "k" * 513, {"value": "v"}, "key"),
        ("n" * 201, "k", {"value": "v"}, "namespace"),
    ]
    for namespace, key, body, field in cases:
        answer = error_json(client.put(kv_url(namespace, key), json=body), 422, "invalid")
        assert answer["field"] == field, (body, answer)
    error_json(
        client.put(kv_url(ns, "k"), content=b"{nope", headers={"Content-Type": "application/json"}),
        400,
        "bad_request",
    )
    error_json(client.put(kv_url(ns, "k")), 400, "bad_request")
    error_json(client.get(kv_url(ns, "")), 422, "invalid")
    error_json(client.get(kv_url("n" * 201)), 422, "invalid")
    # Nothing of that was stored.
    assert ns not in {n["namespace"] for n in ok_json(client.get("/api/v1/kv"))["items"]}


def test_limits(start_server: StartServer) -> None:
    server = start_server(
        {"kv": {"max_value_bytes": 16, "max_keys_per_namespace": 2, "max_namespaces": 2}}
    )
    with server.client() as client:
        put(client, "ns", "a", "x" * 16)
        answer = error_json(client.put(kv_url("ns", "b"), json={"value": "é" * 9}), 422, "invalid")
        assert answer["field"] == "value"
        assert "16" in answer["message"]
        put(client, "ns", "b", "2")
        answer = error_json(client.put(kv_url("ns", "c"), json={"value": "3"}), 422, "invalid")
        assert answer["field"] == "key"
        put(client, "ns", "b", "replaced: no new")
        put(client, "other", "a", "1")
        answer = error_json(client.put(kv_url("third", "a"), json={"value": "1"}), 422, "invalid")
        assert answer["field"] == "namespace"
        assert [n["namespace"] for n in ok_json(client.get("/api/v1/kv"))["items"]] == [
            "ns",
            "other",
        ]


def test_values_survive_a_restart(start_server: StartServer) -> None:
    server = start_server()
    with server.client() as client:
        put(client, "params", "permanent", "p")
        put(client, "params", "hour", "h", ttl_ms=3_600_000)
        before = ok_json(client.get(kv_url("params")))["items"]
    server.restart()
    with server.client() as client:
        assert ok_json(client.get(kv_url("params")))["items"] == before
        assert ok_json(client.get(kv_url("params", "hour")))["value"] == "h"


def test_roles(start_server: StartServer) -> None:
    server = start_server({"auth": "keys"})
    viewer, operator = make_key(server, "viewer"), make_key(server, "operator")
    with server.client() as client:
        error_json(client.get("/api/v1/kv"), 401, "unauthorized")
        error_json(client.put(kv_url("ns", "k"), json={"value": "v"}), 401, "unauthorized")
        put(client, "ns", "k", "v", headers=bearer(operator))
        ok_json(client.get("/api/v1/kv", headers=bearer(viewer)))
        ok_json(client.get(kv_url("ns"), headers=bearer(viewer)))
        assert ok_json(client.get(kv_url("ns", "k"), headers=bearer(viewer)))["value"] == "v"
        for request in (
            client.build_request("PUT", kv_url("ns", "k"), json={"value": "w"}),
            client.build_request("DELETE", kv_url("ns", "k")),
            client.build_request("DELETE", kv_url("ns")),
        ):
            request.headers.update(bearer(viewer))
            error_json(client.send(request), 403, "forbidden")
        assert ok_json(client.get(kv_url("ns", "k"), headers=bearer(viewer)))["value"] == "v"
        assert client.delete(kv_url("ns", "k"), headers=bearer(operator)).status_code == 204
        assert client.delete(kv_url("ns"), headers=bearer(operator)).status_code == 204


# --- execution tokens ----------------------------------------------------------------------

MODES = ["open", "keys"]


def kv_server(start_server: StartServer, mode: str) -> tuple[ServerProcess, dict[str, str]]:
    """A server with the token tasks, and the headers of an operator (none when open)."""
    server = start_server({"auth": "none" if mode == "open" else "keys"}, tasks=KV_TASKS)
    if mode == "open":
        return server, {}
    return server, bearer(make_key(server, "operator"))


@pytest.mark.parametrize("mode", MODES)
def test_a_command_reads_and_writes_the_store_with_its_token(
    start_server: StartServer, mode: str
) -> None:
    server, auth = kv_server(start_server, mode)
    ns = "job"  # the namespace the task names in kv_namespaces
    with server.client(headers=auth) as client:
        put(client, ns, "input", "hello from before the start")
        execution_id = start_one(client, "label:kv-cli", {"ns": ns})
        execution = wait_execution(client, execution_id)
        log = ok_json(client.get(f"/api/v1/executions/{execution_id}/log"))["data"]
        assert execution["status"] == "finished_success", log
        assert "read 'hello from before the start'" in log
        assert "kv get exit=1" in log and "absent stdout=''" in log
        output = ok_json(client.get(kv_url(ns, "output")))
        assert output["value"] == "HELLO FROM BEFORE THE START!"
        assert output["expires_at"] is not None


def hold_token(client: httpx.Client, work: Path) -> tuple[str, str]:
    """Starts the token holder; its execution id and token, once it runs."""
    execution_id = start_one(client, "label:token", {"dir": str(work)})
    wait_status(client, execution_id, "started")
    token_file = work / "token"
    token: str = wait_until(
        lambda: token_file.read_text() if token_file.exists() else None, what="token"
    )
    return execution_id, token


@pytest.mark.parametrize("mode", MODES)
def test_a_token_works_on_the_store_only_and_only_while_its_execution_runs(
    start_server: StartServer, mode: str, tmp_path: Path
) -> None:
    server, auth = kv_server(start_server, mode)
    with server.client(headers=auth) as client, server.client() as bare:
        put(client, "shared", "k", "v")
        execution_id, token = hold_token(client, tmp_path)
        assert token.startswith(f"tgx_{execution_id}_")
        mine = bearer(token)

        # The store: read and write.
        assert ok_json(bare.get(kv_url("shared", "k"), headers=mine))["value"] == "v"
        put(bare, "shared", "from-token", "w", headers=mine)
        ok_json(bare.get("/api/v1/kv", headers=mine))
        ok_json(bare.get(kv_url("shared"), headers=mine))
        assert bare.delete(kv_url("shared", "from-token"), headers=mine).status_code == 204

        # Anything else: refused, in both modes.
        for method, path in (
            ("GET", "/api/v1/tasks"),
            ("GET", f"/api/v1/executions/{execution_id}"),
            ("POST", f"/api/v1/executions/{execution_id}/abort"),
            ("GET", "/api/v1/keys"),
        ):
            error_json(bare.request(method, path, headers=mine), 403, "forbidden")
        start = bare.post("/api/v1/start", json={"selectors": ["label:token"]}, headers=mine)
        error_json(start, 403, "forbidden")

        # Tampered tokens.
        prefix, eid, epoch, signature = token.split("_", 3)
        flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
        for forged in (
            f"{prefix}_{eid}_{epoch}_{flipped}",
            f"{prefix}_{eid}_{int(epoch) + 86400}_{signature}",
            f"{prefix}_{'0' * 8}{eid[8:]}_{epoch}_{signature}",
            f"{prefix}_garbage",
            "tgx_",
        ):
            error_json(bare.get(kv_url("shared", "k"), headers=bearer(forged)), 401, "unauthorized")
        if mode == "keys":
            error_json(bare.get(kv_url("shared", "k")), 401, "unauthorized")

        # Once the execution has ended, its token is void.
        (tmp_path / "release").write_text("go")
        assert wait_execution(client, execution_id)["status"] == "finished_success"
        refused = error_json(bare.get(kv_url("shared", "k"), headers=mine), 401, "unauthorized")
        assert "ended" in refused["message"]
        error_json(
            bare.put(kv_url("shared", "k"), json={"value": "late"}, headers=mine),
            401,
            "unauthorized",
        )
        assert ok_json(client.get(kv_url("shared", "k")))["value"] == "v"


# Several servers share a database on PostgreSQL only: one server owns an SQLite file.
@pytest.mark.parametrize("backend", ["postgres"], indirect=True)
def test_every_server_on_one_database_accepts_the_token(
    start_server: StartServer, tmp_path: Path
) -> None:
    """The signing secret is kept in the database, so a second server process on the same
    database accepts a token the first one issued, and stops accepting it when it ends."""
    first = start_server(tasks=KV_TASKS)
    database_url = first.config.get("database_url") or (
        f"sqlite:///{Path(first.config['data_dir']) / 'taskgate.db'}"
    )
    second = start_server({"database_url": database_url, "node_name": "node-2"}, tasks=KV_TASKS)
    with first.client() as one, second.client() as two:
        put(one, "shared", "k", "v")
        execution_id, token = hold_token(one, tmp_path)
        assert ok_json(two.get(kv_url("shared", "k"), headers=bearer(token)))["value"] == "v"
        (tmp_path / "release").write_text("go")
        wait_execution(one, execution_id)
        error_json(two.get(kv_url("shared", "k"), headers=bearer(token)), 401, "unauthorized")
    # The secret outlives restarts too: the old token is refused because its execution ended,
    # not because its signature no longer matches.
    first.restart()
    with first.client() as one:
        refused = error_json(
            one.get(kv_url("shared", "k"), headers=bearer(token)), 401, "unauthorized"
        )
        assert "ended" in refused["message"]


def test_a_token_is_refused_after_a_restart_because_its_run_ended(
    start_server: StartServer, tmp_path: Path
) -> None:
    """The signing secret outlives a restart (it is kept in the database): an old token is
    refused because its execution ended, not because its signature no longer matches."""
    server = start_server(tasks=KV_TASKS)
    with server.client() as client:
        put(client, "shared", "k", "v")
        execution_id, token = hold_token(client, tmp_path)
        (tmp_path / "release").write_text("go")
        wait_execution(client, execution_id)
    server.restart()
    with server.client() as client:
        refused = error_json(
            client.get(kv_url("shared", "k"), headers=bearer(token)), 401, "unauthorized"
        )
        assert "ended" in refused["message"]
