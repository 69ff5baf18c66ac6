"""Shared pieces of the integration tests: standard test tasks and small HTTP helpers.

The test tasks run short Python programs (`sys.executable -c ...`). They read their
parameters from the JSON file named by `TASKGATE_PARAMS_FILE`, so a test can hand a task a
scratch directory (`dir`) to leave evidence in: counters, pid files, gates, markers.
"""

from __future__ import annotations

import re
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import httpx

T = TypeVar("T")

TERMINAL = frozenset({"aborted", "finished_success", "finished_fail", "skipped", "error"})

# Every test program starts with this: `P` holds the parameters, `result()` sets the result.
PRELUDE = """\
import json, os, sys, time
_pf = os.environ.get('TASKGATE_PARAMS_FILE')
P = json.load(open(_pf)) if _pf else {}
D = P.get('dir')
def result(obj):
    path = os.environ.get('TASKGATE_RESULT_FILE')
    if path:
        with open(path, 'w') as f:
            json.dump(obj, f)
def write(path, text):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(text)
    os.replace(tmp, path)
def append(path, line):
    with open(path, 'a') as f:
        f.write(line + '\\n')
EID = os.environ.get('TASKGATE_EXECUTION_ID', '?')
"""

# Prints every TASKGATE_* variable and the parameters, and returns them as its result.
QUICK_CODE = (
    PRELUDE
    + """\
env = {k: v for k, v in os.environ.items() if k.startswith('TASKGATE_')}
for k in sorted(env):
    print(f'env {k}={env[k]}')
print('params ' + json.dumps(P, sort_keys=True))
result({'params': P, 'env': env, 'argv': sys.argv[1:]})
print('quick done')
"""
)

FAIL_CODE = """\
import sys
print('about to fail', flush=True)
sys.exit(3)
"""

# Runs until it is stopped; with `dir`, writes its pid to dir/slow.<execution id>.pid first.
SLOW_CODE = (
    PRELUDE
    + """\
if D:
    write(os.path.join(D, 'slow.' + EID + '.pid'), str(os.getpid()))
print('slow started', flush=True)
for _ in range(36000):
    time.sleep(0.1)
"""
)

# Fails the first `fail_times` runs, then succeeds; counts runs in dir/count.
FLAKY_CODE = (
    PRELUDE
    + """\
path = os.path.join(D, 'count')
n = int(open(path).read()) + 1 if os.path.exists(path) else 1
write(path, str(n))
print(f'run {n}', flush=True)
sys.exit(1 if n <= int(P.get('fail_times', 0)) else 0)
"""
)

# Records its run (a line in dir/runs), then waits until dir/release exists (at most a
# minute); while it waits it holds a marker dir/running.<execution id> and notes in
# dir/overlap any other run's marker it sees. With `barrier` = n it instead leaves
# dir/arrived.<execution id> and waits until n runs have arrived: all n can only succeed if
# they were alive at the same time.
GATE_CODE = (
    PRELUDE
    + """\
import glob
append(os.path.join(D, 'runs'), EID)
write(os.path.join(D, 'pid.' + EID), str(os.getpid()))
barrier = int(P.get('barrier', 0))
deadline = time.monotonic() + 60
ok = False
if barrier:
    write(os.path.join(D, 'arrived.' + EID), str(os.getpid()))
    while time.monotonic() < deadline:
        if len(glob.glob(os.path.join(D, 'arrived.*'))) >= barrier:
            ok = True
            break
        time.sleep(0.02)
else:
    mine = os.path.join(D, 'running.' + EID)
    write(mine, str(os.getpid()))
    while time.monotonic() < deadline:
        if [p for p in glob.glob(os.path.join(D, 'running.*')) if p != mine]:
            append(os.path.join(D, 'overlap'), EID)
        if os.path.exists(os.path.join(D, 'release')):
            ok = True
            break
        time.sleep(0.02)
    os.remove(mine)
print('gate passed' if ok else 'gate timed out', flush=True)
sys.exit(0 if ok else 9)
"""
)

# Ignores SIGTERM and starts a child that ignores it too; writes "<pid> <child pid>" to dir/pids.
STUBBORN_CODE = (
    PRELUDE
    + """\
import signal, subprocess
signal.signal(signal.SIGTERM, signal.SIG_IGN)
child = subprocess.Popen([sys.executable, '-c',
    'import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(3600)'])
write(os.path.join(D, 'pids'), f'{os.getpid()} {child.pid}')
print('stubborn running', flush=True)
time.sleep(3600)
"""
)

# Prints `lines` numbered lines.
CHATTY_CODE = (
    PRELUDE
    + """\
for i in range(int(P.get('lines', 100))):
    print(f'line {i:04d} ' + 'x' * (i % 17))
"""
)


def py_action(code: str) -> dict[str, Any]:
    return {"kind": "command", "argv": [sys.executable, "-c", code]}


def py_task(name: str, code: str, **fields: Any) -> dict[str, Any]:
    """A task dict running `code` with this interpreter; `fields` are further task fields."""
    task: dict[str, Any] = {"name": name, "action": py_action(code)}
    task.update(fields)
    return task


DIR_PARAM = {"name": "dir", "type": "string", "required": False, "default": None}
ALLOW = {"max_running": 100, "overlap": "allow"}

QUICK_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a0001"
SEL_A_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a00a1"
SEL_B_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a00b2"
SEL_C_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a00c3"
OFF_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a00ff"

# The tasks of the standard `server` fixture.
STANDARD_TASKS: list[dict[str, Any]] = [
    py_task(
        "Quick task",
        QUICK_CODE,
        id=QUICK_ID,
        label="quick",
        tags=["std"],
        concurrency=ALLOW,
        params=[
            {"name": "region", "type": "string", "default": "EU"},
            DIR_PARAM,
        ],
    ),
    py_task("Failing task", FAIL_CODE, label="fail", tags=["std"], concurrency=ALLOW),
    py_task(
        "Slow task",
        SLOW_CODE,
        label="slow",
        tags=["std"],
        concurrency=ALLOW,
        params=[DIR_PARAM],
    ),
    py_task(
        "Typed params task",
        QUICK_CODE,
        label="typed",
        concurrency=ALLOW,
        params=[
            {"name": "count", "type": "int", "required": True},
            {"name": "ratio", "type": "float", "default": 0.5},
            {"name": "flag", "type": "bool", "default": False},
            {"name": "meta", "type": "json", "default": None},
            {"name": "title", "type": "string", "default": "untitled"},
        ],
    ),
    py_task(
        "Chatty task",
        CHATTY_CODE,
        label="chatty",
        concurrency=ALLOW,
        params=[{"name": "lines", "type": "int", "default": 100}],
    ),
    # Selector targets: tags alpha/beta, property group.
    py_task(
        "Selector task A",
        QUICK_CODE,
        id=SEL_A_ID,
        label="sel-a",
        tags=["alpha"],
        properties={"group": ["g1"]},
        concurrency=ALLOW,
    ),
    py_task(
        "Selector task B",
        QUICK_CODE,
        id=SEL_B_ID,
        label="sel-b",
        tags=["alpha"],
        properties={"group": ["g1", "g2"]},
        concurrency=ALLOW,
    ),
    py_task(
        "Selector task C",
        QUICK_CODE,
        id=SEL_C_ID,
        label="sel-c",
        tags=["beta"],
        properties={"group": ["g2"]},
        concurrency=ALLOW,
    ),
    py_task(
        "Disabled task",
        QUICK_CODE,
        id=OFF_ID,
        label="off",
        tags=["gamma"],
        enabled=False,
    ),
]


def unique(prefix: str = "t") -> str:
    """A label-safe name nobody else uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_until(
    predicate: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.05, what: str = ""
) -> T:
    """Poll `predicate` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {what or predicate}")
        time.sleep(interval)


def ok_json(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that must have `status`; a clear failure otherwise."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}, "
        f"wanted {status}: {response.text[:2000]}"
    )
    return response.json()


def error_json(response: httpx.Response, status: int, error: str) -> dict[str, Any]:
    """Checks an error answer: HTTP status, JSON body with `error` and a message."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> {response.status_code}, "
        f"wanted {status}: {response.text[:2000]}"
    )
    assert response.headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    assert isinstance(body, dict), body
    assert body.get("error") == error, body
    assert isinstance(body.get("message"), str), body
    assert body["message"], body
    return body


def create_task(client: httpx.Client, task: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = ok_json(client.post("/api/v1/tasks", json=task), 201)
    return result


def start(
    client: httpx.Client,
    selectors: list[str],
    params: dict[str, Any] | None = None,
    *,
    wait: float = 0,
    headers: dict[str, str] | None = None,
    **options: Any,
) -> dict[str, Any]:
    """POST /api/v1/start; must answer 200."""
    body: dict[str, Any] = {"selectors": selectors, "wait": wait, **options}
    if params is not None:
        body["params"] = params
    result: dict[str, Any] = ok_json(client.post("/api/v1/start", json=body, headers=headers))
    return result


def start_one(
    client: httpx.Client, selector: str, params: dict[str, Any] | None = None, **kw: Any
) -> str:
    """Starts one task and returns the id of its one execution."""
    answer = start(client, [selector], params, **kw)
    assert len(answer["executions"]) == 1, answer
    execution_id: str = answer["executions"][0]["id"]
    return execution_id


def get_execution(client: httpx.Client, execution_id: str) -> dict[str, Any]:
    result: dict[str, Any] = ok_json(client.get(f"/api/v1/executions/{execution_id}"))
    return result


def wait_execution(client: httpx.Client, execution_id: str, timeout: float = 60) -> dict[str, Any]:
    """Waits through the server's /wait endpoint until the execution has ended."""
    execution: dict[str, Any] = ok_json(
        client.get(
            f"/api/v1/executions/{execution_id}/wait",
            params={"timeout": timeout},
            timeout=timeout + 30,
        )
    )
    assert execution["timed_out"] is False, execution
    assert execution["status"] in TERMINAL, execution
    return execution


def wait_status(
    client: httpx.Client, execution_id: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    """Polls until the execution has `status` (for states no /wait waits for, e.g. started)."""

    def check() -> dict[str, Any] | None:
        execution = get_execution(client, execution_id)
        if execution["status"] == status:
            return execution
        assert execution["status"] not in TERMINAL, execution
        return None

    return wait_until(check, timeout, what=f"execution {execution_id} {status}")


def read_log(client: httpx.Client, execution_id: str, limit: int | None = None) -> str:
    """The whole log of an ended execution, read by tailing."""
    data = []
    offset = 0
    for _ in range(100_000):
        params: dict[str, Any] = {"offset": offset}
        if limit is not None:
            params["limit"] = limit
        page = ok_json(client.get(f"/api/v1/executions/{execution_id}/log", params=params))
        assert page["offset"] == offset, page
        data.append(page["data"])
        assert page["next_offset"] == offset + len(page["data"]), page
        offset = page["next_offset"]
        if page["complete"]:
            return "".join(data)
        if not page["data"]:
            time.sleep(0.05)
    raise AssertionError("log never complete")


def list_executions(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    """All executions matching the filters, following the cursor."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(10_000):
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        page = ok_json(client.get("/api/v1/executions", params=query))
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            return items
    raise AssertionError("cursor never ends")


def abort(client: httpx.Client, execution_id: str) -> dict[str, Any]:
    result: dict[str, Any] = ok_json(client.post(f"/api/v1/executions/{execution_id}/abort"))
    return result


SECRET_RE = re.compile(r"\btg_[A-Za-z0-9_\-]+")


def parse_secret(output: str) -> str:
    """The API key secret (`tg_...`) printed by `taskgate keys create`."""
    match = SECRET_RE.search(output)
    assert match, f"no tg_ secret in output:\n{output}"
    return match.group(0)
