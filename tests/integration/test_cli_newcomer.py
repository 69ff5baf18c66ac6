"""The command line as a newcomer meets it (issue 20): keys through the server, `log --follow`
exit codes, origin `cli`, short configuration errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ServerProcess, StartServer
from tests.integration.test_cli import cli_env, describe, expect, keyed, run_cli  # noqa: F401
from tests.support import (
    STANDARD_TASKS,
    get_execution,
    list_executions,
    parse_secret,
    read_log,
    start_one,
    unique,
    wait_execution,
)


def cli_in(
    cwd: Path, *args: str, url: str | None = None, config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`taskgate ARGS` from a folder of its own, with only the TASKGATE_* variables given."""
    env = cli_env(url)
    if config is not None:
        env["TASKGATE_CONFIG"] = str(config)
    return subprocess.run(
        [sys.executable, "-m", "taskgate", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_keys_go_to_the_server(start_server: StartServer, tmp_path: Path) -> None:
    server = start_server({"auth": "keys"}, tasks=STANDARD_TASKS)
    name = unique("erp")
    # With the server named, its own admin.key found through TASKGATE_CONFIG, from any folder.
    created = expect(
        cli_in(
            tmp_path,
            *("keys", "create", "--name", name, "--role", "operator", "--json"),
            url=server.url,
            config=server.config_path,
        ),
        0,
    )
    assert json.loads(created.stdout)["name"] == name
    listed = expect(
        cli_in(tmp_path, "keys", "list", "--json", url=server.url, config=server.config_path), 0
    )
    assert name in {k["name"] for k in json.loads(listed.stdout)}, describe(listed)
    assert "local mode" not in listed.stderr
    # The server's folder as the current one: `keys list` with no URL and no --config asks
    # the default server; it never opens ./data (the server's own database, here) directly.
    done = cli_in(server.workdir, "keys", "list")
    assert "local mode" not in done.stderr and "0 key(s)" not in done.stdout, describe(done)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cli_in(elsewhere, "keys", "list")
    assert list(elsewhere.iterdir()) == []


def test_keys_with_an_explicit_config_work_on_the_database(
    keyed: ServerProcess,  # noqa: F811 (fixture)
) -> None:
    # Recovery: on the server's machine, no key needed, the database of that config.
    output = keyed.cli("keys", "create", "--name", unique("rescue"), "--role", "admin")
    assert "local mode: database" in output
    secret = parse_secret(output)
    listed = expect(run_cli(keyed, "keys", "list", api_key=secret), 0)
    assert "rescue" in listed.stdout


def test_expires_days_zero_is_refused_once_before_anything_is_sent(tmp_path: Path) -> None:
    # No server anywhere near: the rule is checked before a connection is tried.
    done = cli_in(
        tmp_path,
        *("keys", "create", "--name", "x", "--role", "viewer", "--expires-days", "0"),
        url="http://127.0.0.1:9",
    )
    assert done.returncode == 2, describe(done)
    assert "expires_days" in done.stderr and "cannot reach" not in done.stderr, describe(done)
    assert done.stderr.count("error:") == 1, describe(done)


def test_log_follow_exits_like_start_wait(server: ServerProcess) -> None:
    with server.client() as client:
        failed = start_one(client, "label:fail")
        succeeded = start_one(client, "label:quick")
        for execution_id in (failed, succeeded):
            wait_execution(client, execution_id)
        logs = {i: read_log(client, i) for i in (failed, succeeded)}
    done = expect(run_cli(server, "executions", "log", failed, "--follow"), 1)
    # stdout is the log, byte for byte; the verdict is one line on stderr.
    assert done.stdout == logs[failed], describe(done)
    assert f"execution {failed} ended: finished_fail" in done.stderr, describe(done)
    done = expect(run_cli(server, "executions", "log", succeeded, "--follow"), 0)
    assert done.stdout == logs[succeeded]
    assert f"execution {succeeded} ended: finished_success" in done.stderr, describe(done)
    # Without --follow: the log so far, and nothing said about the end.
    done = expect(run_cli(server, "executions", "log", failed), 0)
    assert done.stdout == logs[failed] and "ended" not in done.stderr, describe(done)


def test_cli_starts_are_recorded_as_cli(server: ServerProcess) -> None:
    done = expect(run_cli(server, "start", "label:quick", "--wait", "--timeout", "60", "--json"), 0)
    [execution] = json.loads(done.stdout)["executions"]
    phases = expect(run_cli(server, "run-phases", "quick", "--wait", "--json"), 0)
    workflow = json.loads(phases.stdout)
    with server.client() as client:
        assert get_execution(client, execution["id"])["origin"] == "cli"
        assert get_execution(client, workflow["id"])["origin"] == "cli"
        listed = list_executions(client, origin="cli")
        assert {execution["id"], workflow["id"]} <= {e["id"] for e in listed}
        # Only the CLI's own origin may be claimed through the native API.
        refused = client.post(
            "/api/v1/start", json={"selectors": ["label:quick"], "origin": "butler"}
        )
        assert refused.status_code == 422 and "origin" in refused.text, refused.text
        plain = client.post("/api/v1/start", json={"selectors": ["label:quick"]}).json()
        assert get_execution(client, plain["executions"][0]["id"])["origin"] == "api"
