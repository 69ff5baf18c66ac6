"""`taskgate kv ...` against a real server, as a script or a scheduler job runs it."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ServerProcess, StartServer
from tests.integration.test_cli import cli_env, describe
from tests.support import parse_secret, unique


def kv(
    server: ServerProcess, *args: str, api_key: str | None, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = cli_env(server.url, api_key)
    if token is not None:
        env["TASKGATE_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "taskgate", "kv", *args],
        cwd=server.workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, describe(done)
    return done.stdout


def test_kv_commands(start_server: StartServer) -> None:
    server = start_server({"auth": "keys"})
    key = parse_secret(server.cli("keys", "create", "--name", "ops", "--role", "operator"))
    ns = unique("cli")
    value = "two lines\nand a trailing newline\n"

    ok(kv(server, "set", ns, "text", value, api_key=key))
    assert ok(kv(server, "get", ns, "text", api_key=key)) == value
    entry = json.loads(ok(kv(server, "get", ns, "text", "--json", api_key=key)))
    assert (entry["namespace"], entry["key"], entry["value"]) == (ns, "text", value)

    stored = json.loads(
        ok(kv(server, "set", ns, "soon", "x", "--ttl", "600000", "--json", api_key=key))
    )
    assert stored["expires_at"] is not None

    table = ok(kv(server, "list", ns, api_key=key))
    assert "soon" in table and "text" in table and "2 key(s)" in table
    entries = json.loads(ok(kv(server, "list", ns, "--json", api_key=key)))
    assert [e["key"] for e in entries] == ["soon", "text"]
    namespaces = json.loads(ok(kv(server, "list", "--json", api_key=key)))
    assert {"namespace": ns, "keys": 2} in namespaces
    assert ns in ok(kv(server, "list", api_key=key))

    ok(kv(server, "delete", ns, "soon", api_key=key))
    absent = kv(server, "get", ns, "soon", api_key=key)
    assert absent.returncode == 1, describe(absent)
    assert absent.stdout == ""
    assert "soon" in absent.stderr and "not found" in absent.stderr

    ok(kv(server, "delete", ns, api_key=key))
    gone = kv(server, "list", ns, api_key=key)
    assert gone.returncode == 1 and "namespace" in gone.stderr, describe(gone)

    # Refusals exit 1 with the server's message.
    denied = kv(server, "get", ns, "text", api_key=None)
    assert denied.returncode == 1 and "API key" in denied.stderr, describe(denied)
    bad = kv(server, "set", ns, "k", "v", "--ttl", "0", api_key=key)
    assert bad.returncode == 2, describe(bad)


def test_an_api_key_wins_over_the_token(start_server: StartServer) -> None:
    server = start_server({"auth": "keys"})
    key = parse_secret(server.cli("keys", "create", "--name", "ops", "--role", "operator"))
    ok(kv(server, "set", "ns", "k", "v", api_key=key, token="tgx_not_a_token"))
    refused = kv(server, "get", "ns", "k", api_key=None, token="tgx_not_a_token")
    assert refused.returncode == 1 and "token" in refused.stderr, describe(refused)
