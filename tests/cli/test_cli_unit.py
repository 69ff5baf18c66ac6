"""CLI and client checks that need no server."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from taskgate.cli.common import ExitCode, kv_credential
from taskgate.cli.main import app
from taskgate.cli.output import fmt_duration, fmt_time
from taskgate.cli.start import parse_params, start_exit_code
from taskgate.client import TaskgateAPIError, TaskgateClient, TaskgateConnectionError

runner = CliRunner()

COMMANDS = [
    [],
    ["serve"],
    ["start"],
    ["tasks"],
    ["tasks", "list"],
    ["tasks", "show"],
    ["executions"],
    ["executions", "list"],
    ["executions", "show"],
    ["executions", "log"],
    ["executions", "abort"],
    ["keys"],
    ["keys", "create"],
    ["keys", "list"],
    ["keys", "revoke"],
    ["kv"],
    ["kv", "get"],
    ["kv", "set"],
    ["kv", "delete"],
    ["kv", "list"],
]


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("TASKGATE_URL", "TASKGATE_API_KEY", "TASKGATE_CONFIG", "TASKGATE_TOKEN"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# -- --param parsing ------------------------------------------------------------------------


def test_params_are_strings_and_split_on_first_equals() -> None:
    params = parse_params(["a=1", "b=x=y", "c=", " d =v"])
    assert params == {"a": "1", "b": "x=y", "c": "", "d": "v"}


def test_params_json_then_param_overrides() -> None:
    params = parse_params(["n=2"], '{"n": 1, "flag": true, "list": [1]}')
    assert params == {"n": "2", "flag": True, "list": [1]}


def test_params_json_from_file(tmp_path: Any) -> None:
    path = tmp_path / "p.json"
    path.write_text('{"region": "EU"}')
    assert parse_params([], f"@{path}") == {"region": "EU"}


@pytest.mark.parametrize(
    ("pairs", "params_json", "fragment"),
    [
        (["novalue"], None, "NAME=VALUE"),
        (["=v"], None, "NAME=VALUE"),
        ([], "[1, 2]", "JSON object"),
        ([], "{bad", "not valid JSON"),
        ([], "@/nonexistent/file.json", "cannot read"),
    ],
)
def test_params_rejected(pairs: list[str], params_json: str | None, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_params(pairs, params_json)


def test_bad_param_is_usage_error_exit_2(closed_url: str) -> None:
    result = runner.invoke(app, ["start", "x", "--param", "novalue", "--url", closed_url])
    assert result.exit_code == ExitCode.USAGE
    assert "NAME=VALUE" in result.output


# -- exit codes -----------------------------------------------------------------------------


def _answer(*tasks: tuple[str | None, str], outcome: str = "matched") -> dict[str, Any]:
    entries = [
        {"task_id": "t", "task_name": "T", "execution_id": eid, "status": st, "reason": ""}
        for eid, st in tasks
    ]
    return {
        "results": [{"selector": "s", "outcome": outcome, "message": "", "tasks": entries}],
        "executions": [{"id": eid, "status": st} for eid, st in tasks if eid],
        "started": len(entries),
        "timed_out": False,
    }


def test_exit_ok_without_wait_when_accepted() -> None:
    assert start_exit_code(_answer(("e1", "queued"), ("e2", "started"))) is ExitCode.OK


def test_exit_ok_when_all_succeeded() -> None:
    answer = _answer(("e1", "queued"))
    assert start_exit_code(answer, {"e1": "finished_success"}, waited=True) is ExitCode.OK


@pytest.mark.parametrize("status", ["finished_fail", "aborted", "error", "skipped"])
def test_exit_failed_for_bad_end(status: str) -> None:
    answer = _answer(("e1", "queued"), ("e2", "queued"))
    final = {"e1": "finished_success", "e2": status}
    assert start_exit_code(answer, final, waited=True) is ExitCode.FAILED


def test_exit_failed_when_skipped_at_start() -> None:
    assert start_exit_code(_answer(("e1", "skipped"))) is ExitCode.FAILED


@pytest.mark.parametrize("outcome", ["invalid", "not_found", "denied"])
def test_exit_failed_for_bad_selector(outcome: str) -> None:
    assert start_exit_code(_answer(outcome=outcome)) is ExitCode.FAILED


def test_exit_failed_for_disabled_task_and_empty_match() -> None:
    assert start_exit_code(_answer((None, "never_started"))) is ExitCode.FAILED
    assert start_exit_code(_answer()) is ExitCode.FAILED


def test_exit_timeout_when_still_running() -> None:
    answer = _answer(("e1", "queued"), ("e2", "queued"))
    final = {"e1": "finished_success", "e2": "started"}
    assert start_exit_code(answer, final, waited=True) is ExitCode.TIMEOUT


def test_exit_failure_wins_over_timeout() -> None:
    answer = _answer(("e1", "queued"), ("e2", "queued"))
    final = {"e1": "finished_fail", "e2": "started"}
    assert start_exit_code(answer, final, waited=True) is ExitCode.FAILED


# -- help and unreachable server ------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "taskgate")
def test_help(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_help_of_start_documents_exit_codes() -> None:
    result = runner.invoke(app, ["start", "--help"])
    assert "Exit codes" in result.output
    assert "--timeout" in result.output


@pytest.mark.parametrize(
    "command",
    [
        ["tasks", "list"],
        ["tasks", "show", "x"],
        ["start", "label:x"],
        ["executions", "list"],
        ["executions", "show", "x"],
        ["executions", "log", "x"],
        ["executions", "abort", "x"],
        ["keys", "list"],
        ["kv", "get", "ns", "k"],
        ["kv", "set", "ns", "k", "v"],
        ["kv", "delete", "ns"],
        ["kv", "list"],
    ],
)
def test_unreachable_server(command: list[str], closed_url: str) -> None:
    result = runner.invoke(app, [*command, "--url", closed_url])
    assert result.exit_code == 1
    assert f"cannot reach taskgate at {closed_url}" in result.stderr
    assert result.stdout == ""


def test_unreachable_server_from_env(closed_url: str) -> None:
    result = runner.invoke(app, ["tasks", "list"], env={"TASKGATE_URL": closed_url})
    assert result.exit_code == 1
    assert f"cannot reach taskgate at {closed_url}" in result.stderr


def test_serve_bad_config_exits_2(tmp_path: Any) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("server: {port: nope}\n")
    result = runner.invoke(app, ["serve", "--config", str(path)])
    assert result.exit_code == 2
    assert "server.port" in result.stderr


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.startswith("taskgate ")


# -- client against a mock transport --------------------------------------------------------


def _client(handler: Any) -> TaskgateClient:
    return TaskgateClient("http://tg.test", "secret", transport=httpx.MockTransport(handler))


def test_client_sends_bearer_and_parses_json_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer secret"
        body = {"error": "invalid", "message": "params.n: expected int", "field": "params.n"}
        return httpx.Response(422, json=body)

    with _client(handler) as client, pytest.raises(TaskgateAPIError) as info:
        client.start(["label:x"], {"n": "x"})
    assert (info.value.status_code, info.value.error) == (422, "invalid")
    assert info.value.field == "params.n"


def test_client_error_without_json_body() -> None:
    client = _client(lambda _: httpx.Response(502, text="Bad Gateway from proxy"))
    with client, pytest.raises(TaskgateAPIError) as info:
        client.health()
    assert info.value.error == "server_error"
    assert "Bad Gateway" in info.value.message


def test_client_connection_error(closed_url: str) -> None:
    with TaskgateClient(closed_url) as client, pytest.raises(TaskgateConnectionError):
        client.health()


def test_client_start_body_and_idempotency_header() -> None:
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["body"] = json.loads(request.content)
        seen["key"] = request.headers.get("Idempotency-Key")
        return httpx.Response(200, json={"results": [], "executions": [], "started": 0})

    with _client(handler) as client:
        client.start(["tag:a"], {"p": "1"}, wait=5, all_must_exist=True, idempotency_key="k1")
    assert seen["body"] == {
        "selectors": ["tag:a"],
        "params": {"p": "1"},
        "wait": 5,
        "all_must_exist": True,
    }
    assert seen["key"] == "k1"


def test_client_wait_loops_on_timed_out() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.params["timeout"])
        status = "finished_success" if len(calls) == 3 else "started"
        return httpx.Response(200, json={"id": "e", "status": status, "timed_out": len(calls) < 3})

    with _client(handler) as client:
        answer = client.wait_execution("e", timeout=None)
    assert answer["status"] == "finished_success"
    assert calls == ["3600", "3600", "3600"]


def test_client_iter_executions_follows_cursor() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.params.get_list("status") == ["queued", "started"]
        if request.url.params.get("cursor") == "c2":
            return httpx.Response(200, json={"items": [{"id": "3"}], "next_cursor": None})
        return httpx.Response(200, json={"items": [{"id": "1"}, {"id": "2"}], "next_cursor": "c2"})

    with _client(handler) as client:
        ids = [e["id"] for e in client.iter_executions(status=["queued", "started"], limit=2)]
    assert ids == ["1", "2", "3"]


def test_client_iter_executions_asks_for_the_caller_on_every_page() -> None:
    asked: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.params.get("caller"))
        if request.url.params.get("cursor") == "c2":
            return httpx.Response(200, json={"items": [{"id": "2"}], "next_cursor": None})
        return httpx.Response(200, json={"items": [{"id": "1"}], "next_cursor": "c2"})

    with _client(handler) as client:
        ids = [e["id"] for e in client.iter_executions(caller="key:ops", limit=1)]
    assert ids == ["1", "2"] and asked == ["key:ops", "key:ops"]


def test_client_follow_log_until_complete() -> None:
    pieces = [
        {"offset": 0, "next_offset": 3, "data": "ab\n", "complete": False},
        {"offset": 3, "next_offset": 3, "data": "", "complete": False},
        {"offset": 3, "next_offset": 6, "data": "cd\n", "complete": True},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        piece = pieces.pop(0)
        assert request.url.params["offset"] == str(piece["offset"])
        return httpx.Response(200, json=piece)

    with _client(handler) as client:
        assert "".join(client.follow_log("e", poll_interval=0.01)) == "ab\ncd\n"


def test_client_quotes_refs_in_paths() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.raw_path == b"/api/v1/tasks/a%2Fb%20c"
        return httpx.Response(204)

    with _client(handler) as client:
        client.delete_task("a/b c")


def test_client_kv_paths_and_body() -> None:
    seen: list[tuple[str, bytes, bytes]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.method, request.url.raw_path, request.content))
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"value": "v", "items": []})

    with _client(handler) as client:
        client.kv_set("n s", "a/b?c", "v", ttl_ms=500)
        client.kv_get("ns", "..")
        client.kv_delete(".", "k")
        client.kv_delete_namespace("ns")
        assert client.kv_list("ns") == []
    assert seen == [
        ("PUT", b"/api/v1/kv/n%20s/a%2Fb%3Fc", b'{"value":"v","ttl_ms":500}'),
        ("GET", b"/api/v1/kv/ns/%2E%2E", b""),
        ("DELETE", b"/api/v1/kv/%2E/k", b""),
        ("DELETE", b"/api/v1/kv/ns", b""),
        ("GET", b"/api/v1/kv/ns", b""),
    ]


def test_client_kv_value_is_default_when_absent() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/here"):
            return httpx.Response(200, json={"value": "x"})
        if request.url.path.endswith("/broken"):
            return httpx.Response(500, json={"error": "internal", "message": "boom"})
        return httpx.Response(404, json={"error": "not_found", "message": "no", "field": "key"})

    with _client(handler) as client:
        assert client.kv_value("ns", "here") == "x"
        assert client.kv_value("ns", "gone") is None
        assert client.kv_value("ns", "gone", "fallback") == "fallback"
        with pytest.raises(TaskgateAPIError):
            client.kv_value("ns", "broken")


def test_kv_commands_fall_back_to_the_execution_token(monkeypatch: pytest.MonkeyPatch) -> None:
    assert kv_credential(None) is None
    monkeypatch.setenv("TASKGATE_TOKEN", "tgx_token")
    assert kv_credential(None) == "tgx_token"
    assert kv_credential("tg_key") == "tg_key"


# -- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "text"),
    [(None, "-"), (412, "412 ms"), (3200, "3.2 s"), (65_000, "1 m 05 s"), (7_380_000, "2 h 03 m")],
)
def test_fmt_duration(ms: float | None, text: str) -> None:
    assert fmt_duration(ms) == text


def test_fmt_time_local() -> None:
    assert fmt_time(None) == "-"
    assert fmt_time("not a time") == "not a time"
    assert len(fmt_time("2026-11-22T05:00:00Z")) == len("2026-11-22 05:00:00")


def test_run_phases_reads_one_argument_per_phase() -> None:
    from taskgate.cli.phases import parse_phases

    assert parse_phases(["wf1", "wf2, wf3a,wf3b", "tag:x"]) == [
        ["wf1"],
        ["wf2", "wf3a", "wf3b"],
        ["tag:x"],
    ]
    for bad in (["wf1", "a,,b"], ["", "x"], ["x", "y,"], []):
        with pytest.raises(ValueError):
            parse_phases(bad)
