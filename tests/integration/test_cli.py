"""The `taskgate` command line against a real server, as a cron line or Task Scheduler runs it.

Every command runs as a subprocess (`python -m taskgate ...`) with `TASKGATE_URL` (and
`TASKGATE_API_KEY` where keys are on) in its environment; what it did is checked through the
API. Exit codes: 0 success, 1 failure, 2 bad command line, 3 `--wait --timeout` ran out.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ServerProcess, StartServer
from tests.support import (
    PRELUDE,
    QUICK_CODE,
    QUICK_ID,
    STANDARD_TASKS,
    abort,
    create_task,
    get_execution,
    list_executions,
    ok_json,
    parse_secret,
    py_task,
    read_log,
    start_one,
    unique,
    wait_execution,
    wait_status,
    wait_until,
)

CLI_TIMEOUT = 90.0
UUID_RE = re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b")

# Prints a line, waits (at most a minute) until dir/release exists, prints another, succeeds.
GATED_LOG_CODE = (
    PRELUDE
    + """\
print('before gate', flush=True)
deadline = time.monotonic() + 60
while not os.path.exists(os.path.join(D, 'release')) and time.monotonic() < deadline:
    time.sleep(0.02)
print('after gate', flush=True)
"""
)


# --- running the CLI -----------------------------------------------------------------------


def cli_env(url: str | None, api_key: str | None = None) -> dict[str, str]:
    """The environment of a scheduler job: no TASKGATE_* of ours, only what the test sets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "250"  # wide enough that ids and secrets are never wrapped
    env.pop("FORCE_COLOR", None)
    if url is not None:
        env["TASKGATE_URL"] = url
    if api_key is not None:
        env["TASKGATE_API_KEY"] = api_key
    return env


def run_cli(
    server: ServerProcess,
    *args: str,
    api_key: str | None = None,
    timeout: float = CLI_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """`python -m taskgate ARGS` with TASKGATE_URL pointing at `server`."""
    return subprocess.run(
        [sys.executable, "-m", "taskgate", *args],
        cwd=server.workdir,
        env=cli_env(server.url, api_key),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def describe(done: subprocess.CompletedProcess[str]) -> str:
    args = " ".join(str(a) for a in done.args[3:])
    return (
        f"taskgate {args} -> exit {done.returncode}\n"
        f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
    )


def expect(done: subprocess.CompletedProcess[str], code: int) -> subprocess.CompletedProcess[str]:
    assert done.returncode == code, describe(done)
    return done


def execution_ids(text: str) -> list[str]:
    """The UUIDs in CLI output, in order, without repeats."""
    return list(dict.fromkeys(UUID_RE.findall(text)))


def one_execution_id(text: str, exclude: tuple[str, ...] = ()) -> str:
    ids = [i for i in execution_ids(text) if i not in exclude]
    assert len(ids) == 1, f"wanted one execution id in:\n{text}"
    return ids[0]


def loads(done: subprocess.CompletedProcess[str]) -> Any:
    try:
        return json.loads(done.stdout)
    except json.JSONDecodeError as exc:
        raise AssertionError(f"--json output is not JSON ({exc})\n{describe(done)}") from exc


def own_task(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    """A quick task with a label of its own (for counting its executions)."""
    label = unique("cli")
    task = py_task(f"CLI {label}", QUICK_CODE, label=label, **fields)
    return create_task(client, task)


# --- start ---------------------------------------------------------------------------------


def test_start_wait_success_exits_0(server: ServerProcess, client: httpx.Client) -> None:
    done = expect(run_cli(server, "start", "label:quick", "--wait", "--timeout", "60"), 0)
    assert "finished_success" in done.stdout, describe(done)
    assert "Final status" in done.stdout, describe(done)
    execution_id = one_execution_id(done.stdout)
    execution = get_execution(client, execution_id)
    assert execution["status"] == "finished_success", execution
    assert execution["task_id"] == QUICK_ID, execution


def test_start_wait_failure_exits_1(server: ServerProcess, client: httpx.Client) -> None:
    done = expect(run_cli(server, "start", "label:fail", "--wait"), 1)
    assert "finished_fail" in done.stdout, describe(done)
    execution = get_execution(client, one_execution_id(done.stdout))
    assert execution["status"] == "finished_fail", execution
    assert execution["exit_code"] == 3, execution


def test_start_selector_matching_nothing_exits_1(server: ServerProcess) -> None:
    done = expect(run_cli(server, "start", "label:nope"), 1)
    assert "not_found" in done.stdout, describe(done)
    assert execution_ids(done.stdout) == [], describe(done)
    # --wait changes nothing about that.
    done = expect(run_cli(server, "start", "label:nope", "--wait", "--timeout", "30"), 1)
    assert execution_ids(done.stdout) == [], describe(done)


def test_start_wait_timeout_exits_3(server: ServerProcess, client: httpx.Client) -> None:
    done = run_cli(server, "start", "label:slow", "--wait", "--timeout", "1")
    ids = execution_ids(done.stdout)
    try:
        expect(done, 3)
        assert len(ids) == 1, describe(done)
        assert "timed out" in done.stderr, describe(done)
        # The execution goes on on the server: the CLI aborted nothing.
        assert get_execution(client, ids[0])["status"] not in (
            "aborted",
            "abort_initiated",
            "aborting",
        )
    finally:
        for execution_id in ids:
            abort(client, execution_id)
    assert wait_execution(client, ids[0])["status"] == "aborted"


def test_start_without_wait_prints_an_execution_id(
    server: ServerProcess, client: httpx.Client
) -> None:
    done = expect(run_cli(server, "start", "label:quick"), 0)
    execution_id = one_execution_id(done.stdout)
    execution = get_execution(client, execution_id)
    assert execution["task_id"] == QUICK_ID, execution
    assert execution["origin"] in ("api", "cli"), execution
    assert wait_execution(client, execution_id)["status"] == "finished_success"


def test_param_reaches_the_command(server: ServerProcess, client: httpx.Client) -> None:
    done = expect(
        run_cli(
            server, "start", "label:quick", "--param", "region=US", "--wait", "--timeout", "60"
        ),
        0,
    )
    execution = get_execution(client, one_execution_id(done.stdout))
    assert execution["params"]["region"] == "US", execution
    assert execution["result"]["params"]["region"] == "US", execution
    assert execution["result"]["env"]["TASKGATE_PARAM_REGION"] == "US", execution
    assert '"region": "US"' in read_log(client, execution["id"])


def test_param_value_keeps_further_equals_signs(
    server: ServerProcess, client: httpx.Client
) -> None:
    done = expect(
        run_cli(server, "start", "label:quick", "-p", "region=a=b", "--wait", "--timeout", "60"), 0
    )
    execution = get_execution(client, one_execution_id(done.stdout))
    assert execution["result"]["params"]["region"] == "a=b", execution


@pytest.mark.parametrize(
    "bad",
    [
        ["--param", "region"],
        ["--param", "=US"],
        ["--params-json", "[1, 2]"],
        ["--params-json", "{not json"],
    ],
    ids=["no-equals", "no-name", "json-not-object", "json-invalid"],
)
def test_bad_params_exit_2_and_start_nothing(
    server: ServerProcess, client: httpx.Client, bad: list[str]
) -> None:
    task = own_task(client)
    done = expect(run_cli(server, "start", f"label:{task['label']}", *bad), 2)
    assert "param" in done.stderr, describe(done)
    assert list_executions(client, task=task["id"]) == []


def test_idempotency_key_starts_once(server: ServerProcess, client: httpx.Client) -> None:
    task = own_task(client)
    key = unique("idem")
    first = expect(run_cli(server, "start", f"label:{task['label']}", "--idempotency-key", key), 0)
    second = expect(run_cli(server, "start", f"label:{task['label']}", "--idempotency-key", key), 0)
    execution_id = one_execution_id(first.stdout)
    assert one_execution_id(second.stdout) == execution_id, describe(second)
    executions = list_executions(client, task=task["id"])
    assert [e["id"] for e in executions] == [execution_id], executions
    assert wait_execution(client, execution_id)["status"] == "finished_success"


def test_start_disabled_task_exits_1(server: ServerProcess) -> None:
    done = expect(run_cli(server, "start", "label:off", "--wait", "--timeout", "30"), 1)
    assert "disabled" in done.stdout, describe(done)
    assert execution_ids(done.stdout) == [], describe(done)


def test_unreachable_server_exits_1(tmp_path: Path) -> None:
    # A bound port nobody listens on: connections are refused.
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "taskgate", "start", "label:quick", "--wait"],
            cwd=tmp_path,
            env=cli_env(f"http://127.0.0.1:{port}"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT,
            check=False,
        )
    expect(done, 1)
    assert "cannot reach taskgate" in done.stderr, describe(done)


# --- tasks ---------------------------------------------------------------------------------


def test_tasks_list_shows_the_standard_tasks(server: ServerProcess) -> None:
    done = expect(run_cli(server, "tasks", "list"), 0)
    for task in STANDARD_TASKS:
        assert task["label"] in done.stdout, describe(done)
        assert task["name"] in done.stdout, describe(done)
    assert QUICK_ID in done.stdout, describe(done)

    tagged = expect(run_cli(server, "tasks", "list", "--tag", "alpha"), 0)
    assert "sel-a" in tagged.stdout and "sel-b" in tagged.stdout, describe(tagged)
    assert "sel-c" not in tagged.stdout, describe(tagged)


def test_tasks_show(server: ServerProcess) -> None:
    for ref in ("quick", QUICK_ID):
        done = expect(run_cli(server, "tasks", "show", ref), 0)
        for text in ("Quick task", QUICK_ID, "region", "EU", "command"):
            assert text in done.stdout, describe(done)


def test_tasks_show_unknown_exits_1(server: ServerProcess) -> None:
    done = expect(run_cli(server, "tasks", "show", unique("nosuch")), 1)
    assert "error:" in done.stderr, describe(done)
    assert done.stdout.strip() == "", describe(done)


# --- executions ----------------------------------------------------------------------------


def test_executions_list_by_task(server: ServerProcess, client: httpx.Client) -> None:
    quick = wait_execution(client, start_one(client, "label:quick"))["id"]
    failed = wait_execution(client, start_one(client, "label:fail"))["id"]
    done = expect(run_cli(server, "executions", "list", "--task", "quick"), 0)
    assert quick in done.stdout, describe(done)
    assert failed not in done.stdout, describe(done)

    listed = loads(expect(run_cli(server, "executions", "list", "--task", "quick", "--json"), 0))
    assert isinstance(listed, list), listed
    assert quick in [e["id"] for e in listed]
    assert {e["task_id"] for e in listed} == {QUICK_ID}

    failures = loads(
        expect(
            run_cli(server, "executions", "list", "--status", "finished_fail", "--json"),
            0,
        )
    )
    assert failed in [e["id"] for e in failures]
    assert {e["status"] for e in failures} == {"finished_fail"}


def test_executions_show_with_attempts(server: ServerProcess, client: httpx.Client) -> None:
    execution = wait_execution(client, start_one(client, "label:quick", {"region": "NO"}))
    [attempt] = execution["attempts"]
    done = expect(run_cli(server, "executions", "show", execution["id"]), 0)
    for text in (execution["id"], "Quick task", "finished_success", "Attempts", "NO"):
        assert text in done.stdout, describe(done)
    assert str(attempt["pid"]) in done.stdout, describe(done)

    shown = loads(expect(run_cli(server, "executions", "show", execution["id"], "--json"), 0))
    assert shown["id"] == execution["id"]
    assert [a["number"] for a in shown["attempts"]] == [1]


def test_executions_show_unknown_exits_1(server: ServerProcess) -> None:
    done = expect(run_cli(server, "executions", "show", "00000000-0000-4000-8000-000000000000"), 1)
    assert "error:" in done.stderr, describe(done)


def test_executions_log_prints_the_log(server: ServerProcess, client: httpx.Client) -> None:
    execution_id = wait_execution(client, start_one(client, "label:chatty", {"lines": 300}))["id"]
    expected = read_log(client, execution_id)
    assert "line 0299" in expected
    done = expect(run_cli(server, "executions", "log", execution_id), 0)
    assert done.stdout == expected

    pieces = [
        json.loads(line)
        for line in expect(
            run_cli(server, "executions", "log", execution_id, "--json"), 0
        ).stdout.splitlines()
    ]
    assert pieces[-1]["complete"] is True, pieces
    assert "".join(p["data"] for p in pieces) == expected


def test_executions_log_follow_ends_with_the_execution(
    server: ServerProcess, client: httpx.Client, tmp_path: Path
) -> None:
    task = create_task(
        client,
        py_task(
            f"CLI gated {unique()}",
            GATED_LOG_CODE,
            label=unique("gated"),
            params=[{"name": "dir", "type": "string", "required": True}],
        ),
    )
    execution_id = start_one(client, f"id:{task['id']}", {"dir": str(tmp_path)})
    out_path = tmp_path / "follow.out"
    err_path = tmp_path / "follow.err"
    try:
        wait_until(
            lambda: "before gate" in read_log_so_far(client, execution_id),
            what="the gated task logged its first line",
        )
        with out_path.open("w") as out, err_path.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "taskgate", "executions", "log", execution_id, "--follow"],
                cwd=server.workdir,
                env=cli_env(server.url),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )
        try:
            # The follower has printed what exists so far and is still going.
            wait_until(
                lambda: "before gate" in out_path.read_text(), what="follow printed the start"
            )
            assert proc.poll() is None, err_path.read_text()
            assert get_execution(client, execution_id)["status"] not in (
                "finished_success",
                "finished_fail",
                "error",
                "aborted",
            )
            (tmp_path / "release").write_text("go")
            code = proc.wait(timeout=CLI_TIMEOUT)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    finally:
        (tmp_path / "release").write_text("go")
    execution = wait_execution(client, execution_id)
    assert execution["status"] == "finished_success", execution
    text = out_path.read_text()
    assert code == 0, f"exit {code}\n{text}\n{err_path.read_text()}"
    assert text == read_log(client, execution_id)
    assert "before gate" in text and "after gate" in text


def read_log_so_far(client: httpx.Client, execution_id: str) -> str:
    page = ok_json(client.get(f"/api/v1/executions/{execution_id}/log"))
    data: str = page["data"]
    return data


def test_executions_abort(server: ServerProcess, client: httpx.Client) -> None:
    execution_id = start_one(client, "label:slow")
    try:
        wait_status(client, execution_id, "started")
        done = expect(run_cli(server, "executions", "abort", execution_id), 0)
        assert "abort requested" in done.stdout, describe(done)
        assert execution_id in done.stdout, describe(done)
    finally:
        abort(client, execution_id)
    assert wait_execution(client, execution_id)["status"] == "aborted"

    again = expect(run_cli(server, "executions", "abort", execution_id), 0)
    assert "already ended" in again.stdout, describe(again)
    assert "aborted" in again.stdout, describe(again)


# --- --json --------------------------------------------------------------------------------


def test_json_outputs_parse(server: ServerProcess, client: httpx.Client) -> None:
    answer = loads(
        expect(run_cli(server, "start", "label:quick", "--wait", "--timeout", "60", "--json"), 0)
    )
    assert answer["timed_out"] is False, answer
    assert answer["started"] == 1, answer
    [execution] = answer["executions"]
    assert execution["status"] == "finished_success", answer
    assert answer["results"][0]["outcome"] == "matched", answer

    started = loads(expect(run_cli(server, "start", "label:quick", "--json"), 0))
    [pending] = started["executions"]
    assert get_execution(client, pending["id"])["task_id"] == QUICK_ID
    wait_execution(client, pending["id"])

    missing = loads(expect(run_cli(server, "start", "label:nope", "--json"), 1))
    assert missing["results"][0]["outcome"] == "not_found", missing

    tasks = loads(expect(run_cli(server, "tasks", "list", "--json"), 0))
    assert {t["label"] for t in STANDARD_TASKS} <= {t["label"] for t in tasks}

    task = loads(expect(run_cli(server, "tasks", "show", "quick", "--json"), 0))
    assert task["id"] == QUICK_ID, task

    slow = start_one(client, "label:slow")
    try:
        aborted = loads(expect(run_cli(server, "executions", "abort", slow, "--json"), 0))
        assert aborted["id"] == slow, aborted
    finally:
        abort(client, slow)
    assert wait_execution(client, slow)["status"] == "aborted"


def test_json_start_timeout(server: ServerProcess, client: httpx.Client) -> None:
    done = run_cli(server, "start", "label:slow", "--timeout", "1", "--json")
    answer = loads(done)
    ids = [e["id"] for e in answer["executions"]]
    try:
        expect(done, 3)
        assert answer["timed_out"] is True, answer
    finally:
        for execution_id in ids:
            abort(client, execution_id)
    for execution_id in ids:
        assert wait_execution(client, execution_id)["status"] == "aborted"


# --- API keys ------------------------------------------------------------------------------


@pytest.fixture
def keyed(start_server: StartServer) -> ServerProcess:
    return start_server({"auth": "keys"}, tasks=STANDARD_TASKS)


def test_cli_with_api_keys(keyed: ServerProcess) -> None:
    admin_name = unique("admin")
    admin = parse_secret(keyed.cli("keys", "create", "--name", admin_name, "--role", "admin"))

    # Without a key (or with a wrong one) the server refuses: exit 1, a message on stderr.
    for key in (None, "tg_not_a_real_key"):
        done = expect(run_cli(keyed, "tasks", "list", api_key=key), 1)
        assert "error:" in done.stderr and "API key" in done.stderr, describe(done)
        assert done.stdout.strip() == "", describe(done)
    refused = expect(run_cli(keyed, "start", "label:quick", "--wait", "--timeout", "30"), 1)
    assert "API key" in refused.stderr, describe(refused)

    # With the key in the environment the CLI works; --api-key wins over the environment.
    listed = expect(run_cli(keyed, "tasks", "list", api_key=admin), 0)
    assert "quick" in listed.stdout, describe(listed)
    expect(run_cli(keyed, "tasks", "list", "--api-key", admin, api_key="tg_not_a_real_key"), 0)
    keys = expect(run_cli(keyed, "keys", "list", api_key=admin), 0)
    assert admin_name in keys.stdout, describe(keys)
    assert admin not in keys.stdout, "keys list shows a secret"

    # An operator key made through the API starts tasks until it is revoked.
    op_name = unique("ops")
    created = loads(
        expect(
            run_cli(
                keyed,
                "keys",
                "create",
                "--name",
                op_name,
                "--role",
                "operator",
                "--json",
                api_key=admin,
            ),
            0,
        )
    )
    operator = created["secret"]
    started = expect(
        run_cli(keyed, "start", "label:quick", "--wait", "--timeout", "60", api_key=operator), 0
    )
    assert "finished_success" in started.stdout, describe(started)
    # An operator may not manage keys.
    expect(run_cli(keyed, "keys", "list", api_key=operator), 1)

    revoked = expect(run_cli(keyed, "keys", "revoke", created["id"], api_key=admin), 0)
    assert op_name in revoked.stdout, describe(revoked)
    done = expect(run_cli(keyed, "tasks", "list", api_key=operator), 1)
    assert "revoked" in done.stderr, describe(done)
    done = expect(run_cli(keyed, "start", "label:quick", api_key=operator), 1)
    assert "revoked" in done.stderr, describe(done)

    # Revoking by prefix works too, and the admin key stops working at once.
    [admin_key] = [
        k
        for k in loads(run_cli(keyed, "keys", "list", "--json", api_key=admin))
        if k["name"] == admin_name
    ]
    expect(run_cli(keyed, "keys", "revoke", admin_key["prefix"], api_key=admin), 0)
    done = expect(run_cli(keyed, "keys", "list", api_key=admin), 1)
    assert "revoked" in done.stderr, describe(done)
    with keyed.client() as http:
        answer = http.get("/api/v1/tasks", headers={"Authorization": f"Bearer {admin}"})
        assert answer.status_code == 401, answer.text
