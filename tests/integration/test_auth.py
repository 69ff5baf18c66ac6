"""API keys: who may do what on the native API (`auth: keys`)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ServerProcess, StartServer
from tests.support import (
    QUICK_CODE,
    QUICK_ID,
    STANDARD_TASKS,
    error_json,
    list_executions,
    ok_json,
    parse_secret,
    py_task,
    unique,
    wait_until,
)


@pytest.fixture
def keyed(start_server: StartServer) -> ServerProcess:
    return start_server({"auth": "keys"}, tasks=STANDARD_TASKS)


def make_key(server: ServerProcess, role: str, *extra: str) -> str:
    output = server.cli("keys", "create", "--name", unique(role), "--role", role, *extra)
    return parse_secret(output)


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def new_task() -> dict[str, Any]:
    label = unique("auth")
    return py_task(f"Auth {label}", QUICK_CODE, label=label)


START = {"selectors": ["label:quick"], "wait": 30}


def admin_key_file(server: ServerProcess) -> Path:
    return Path(server.config["data_dir"]) / "admin.key"


def test_closed_from_the_first_start(keyed: ServerProcess) -> None:
    """No key made yet is no longer an open API: the first start makes an admin key, writes
    it to <data_dir>/admin.key for the server's user alone and says where (not what) it is."""
    key_file = admin_key_file(keyed)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    secret = key_file.read_text().strip()
    assert secret.startswith("tg_")
    log = keyed.log_text()
    assert str(key_file) in log and secret not in log, log
    with keyed.client() as client:
        error_json(client.get("/api/v1/tasks"), 401, "unauthorized")
        error_json(client.post("/api/v1/start", json=START), 401, "unauthorized")
        ok_json(client.get("/api/v1/tasks", headers=bearer(secret)))
        keys = ok_json(client.get("/api/v1/keys", headers=bearer(secret)))["items"]
        assert [(k["name"], k["role"], k["expires_at"]) for k in keys] == [("admin", "admin", None)]


def test_revoking_every_key_never_opens_the_server_again(keyed: ServerProcess) -> None:
    secret = admin_key_file(keyed).read_text().strip()
    keyed.cli("keys", "revoke", secret.split("_")[1])
    keyed.restart()
    with keyed.client() as client:
        error_json(client.get("/api/v1/tasks"), 401, "unauthorized")
        error_json(client.get("/api/v1/tasks", headers=bearer(secret)), 401, "unauthorized")
    # No second admin key behind the operator's back: the file and the key list stay.
    assert admin_key_file(keyed).read_text().strip() == secret
    listed = keyed.cli("keys", "list", "--json")
    [key] = json.JSONDecoder().raw_decode(listed[listed.index("[") :])[0]
    assert key["name"] == "admin" and key["revoked_at"], key
    assert "no usable API key" in keyed.log_text()
    # The way back in is on the machine itself, with the database.
    fresh = make_key(keyed, "admin")
    with keyed.client(headers=bearer(fresh)) as client:
        ok_json(client.get("/api/v1/tasks"))


def test_the_cli_on_the_servers_machine_finds_its_admin_key(keyed: ServerProcess) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    env.update({"TASKGATE_URL": keyed.url, "TASKGATE_CONFIG": str(keyed.config_path)})

    def tasks_list(**extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "taskgate", "tasks", "list", "--json"],
            cwd=keyed.workdir,
            env={**env, **extra},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    listed = tasks_list()
    assert listed.returncode == 0, listed.stderr
    assert "quick" in listed.stdout
    # A key given wins; inside a run the token is the only credential.
    assert tasks_list(TASKGATE_API_KEY="tg_00000000_wrong").returncode == 1
    assert tasks_list(TASKGATE_TOKEN="tgx_not_a_token").returncode == 1


def test_keys_required_once_one_exists(keyed: ServerProcess) -> None:
    admin = make_key(keyed, "admin")
    with keyed.client() as client:
        error_json(client.get("/api/v1/tasks"), 401, "unauthorized")
        error_json(client.post("/api/v1/start", json=START), 401, "unauthorized")
        error_json(
            client.get("/api/v1/tasks", headers=bearer("tg_not_a_real_key")), 401, "unauthorized"
        )
        error_json(client.get("/api/v1/tasks", headers=bearer(admin + "x")), 401, "unauthorized")
        error_json(
            client.get("/api/v1/tasks", headers={"Authorization": f"Basic {admin}"}),
            401,
            "unauthorized",
        )
        ok_json(client.get("/api/v1/tasks", headers=bearer(admin)))
        # Health stays open.
        assert ok_json(client.get("/healthz")) == {"status": "ok"}
        assert ok_json(client.get("/readyz")) == {"status": "ready"}


def test_roles(keyed: ServerProcess) -> None:
    viewer, operator, admin = (make_key(keyed, role) for role in ("viewer", "operator", "admin"))
    with keyed.client() as client:
        # viewer: reads only
        ok_json(client.get("/api/v1/tasks", headers=bearer(viewer)))
        ok_json(client.get("/api/v1/executions", headers=bearer(viewer)))
        error_json(
            client.post("/api/v1/start", json=START, headers=bearer(viewer)), 403, "forbidden"
        )
        error_json(
            client.post("/api/v1/tasks/quick/start", json={}, headers=bearer(viewer)),
            403,
            "forbidden",
        )
        error_json(
            client.post("/api/v1/tasks", json=new_task(), headers=bearer(viewer)), 403, "forbidden"
        )

        # operator: also starts and aborts, but does not manage tasks or keys
        answer = ok_json(client.post("/api/v1/start", json=START, headers=bearer(operator)))
        execution = answer["executions"][0]
        assert execution["status"] == "finished_success"
        ok_json(
            client.post(f"/api/v1/executions/{execution['id']}/abort", headers=bearer(operator))
        )
        error_json(
            client.post(f"/api/v1/executions/{execution['id']}/abort", headers=bearer(viewer)),
            403,
            "forbidden",
        )
        error_json(
            client.post("/api/v1/tasks", json=new_task(), headers=bearer(operator)),
            403,
            "forbidden",
        )
        error_json(client.delete("/api/v1/tasks/quick", headers=bearer(operator)), 403, "forbidden")
        error_json(client.get("/api/v1/keys", headers=bearer(operator)), 403, "forbidden")

        # admin: everything
        created = ok_json(client.post("/api/v1/tasks", json=new_task(), headers=bearer(admin)), 201)
        assert (
            client.delete(f"/api/v1/tasks/{created['id']}", headers=bearer(admin)).status_code
            == 204
        )
        keys = ok_json(client.get("/api/v1/keys", headers=bearer(admin)))["items"]
        # The first start's admin key, and the three made here.
        assert sorted(k["role"] for k in keys) == ["admin", "admin", "operator", "viewer"]
        assert all("secret" not in k for k in keys)
        ok_json(client.get("/api/v1/audit", headers=bearer(admin)))
        error_json(client.get("/api/v1/audit", headers=bearer(operator)), 403, "forbidden")


def test_execution_caller_names_the_key(keyed: ServerProcess) -> None:
    name = unique("ops")
    secret = parse_secret(keyed.cli("keys", "create", "--name", name, "--role", "operator"))
    with keyed.client() as client:
        answer = ok_json(client.post("/api/v1/start", json=START, headers=bearer(secret)))
        execution = ok_json(
            client.get(
                f"/api/v1/executions/{answer['executions'][0]['id']}", headers=bearer(secret)
            )
        )
        assert name in execution["caller"]


def test_revoked_key_is_401(keyed: ServerProcess) -> None:
    admin = make_key(keyed, "admin")
    victim_name = unique("victim")
    victim = parse_secret(keyed.cli("keys", "create", "--name", victim_name, "--role", "operator"))
    with keyed.client() as client:
        ok_json(client.get("/api/v1/tasks", headers=bearer(victim)))
        keys = ok_json(client.get("/api/v1/keys", headers=bearer(admin)))["items"]
        [key] = [k for k in keys if k["name"] == victim_name]
        revoked = ok_json(client.delete(f"/api/v1/keys/{key['id']}", headers=bearer(admin)))
        assert revoked["revoked_at"]
        error_json(client.get("/api/v1/tasks", headers=bearer(victim)), 401, "unauthorized")
        error_json(
            client.delete(f"/api/v1/keys/{unique('nokey')}", headers=bearer(admin)),
            404,
            "not_found",
        )


def test_key_made_through_the_api(keyed: ServerProcess) -> None:
    admin = make_key(keyed, "admin")
    with keyed.client() as client:
        made = ok_json(
            client.post(
                "/api/v1/keys", json={"name": "viaapi", "role": "viewer"}, headers=bearer(admin)
            ),
            201,
        )
        assert made["secret"].startswith("tg_")
        assert made["role"] == "viewer"
        assert made["secret"].startswith(made["prefix"]) or made["prefix"] in made["secret"]
        ok_json(client.get("/api/v1/tasks", headers=bearer(made["secret"])))
        error_json(
            client.post("/api/v1/start", json=START, headers=bearer(made["secret"])),
            403,
            "forbidden",
        )
        bad = client.post(
            "/api/v1/keys", json={"name": "x", "role": "emperor"}, headers=bearer(admin)
        )
        assert error_json(bad, 422, "invalid")["field"] == "body.role"


def test_allow_list_denies_other_tasks(keyed: ServerProcess) -> None:
    secret = make_key(keyed, "operator", "--allow-task", QUICK_ID)
    with keyed.client() as client:
        answer = ok_json(
            client.post(
                "/api/v1/start",
                json={"selectors": ["label:quick", "label:fail"]},
                headers=bearer(secret),
            )
        )
        outcomes = [r["outcome"] for r in answer["results"]]
        assert outcomes == ["matched", "denied"], answer
        assert answer["started"] == 1
        # Starting one task by its ref, off the allow-list: forbidden.
        response = client.post("/api/v1/tasks/fail/start", json={}, headers=bearer(secret))
        error_json(response, 403, "forbidden")
    with keyed.client(headers=bearer(make_key(keyed, "admin"))) as admin:
        assert list_executions(admin, task="fail") == []


def test_allow_list_by_tag_and_property(keyed: ServerProcess) -> None:
    secret = make_key(
        keyed, "operator", "--allow-task", "tag:beta", "--allow-task", "property:group=g1"
    )
    with keyed.client() as client:
        answer = ok_json(
            client.post(
                "/api/v1/preview",
                json={"selectors": ["tag:alpha", "label:sel-c", "label:quick"]},
                headers=bearer(secret),
            )
        )
        # sel-a and sel-b carry group=g1, sel-c the tag beta; quick neither.
        assert [r["outcome"] for r in answer["results"]] == ["matched", "matched", "denied"]
        assert [t["task_name"] for t in answer["results"][0]["tasks"]] == [
            "Selector task A",
            "Selector task B",
        ]
        bad = client.post(
            "/api/v1/keys",
            json={"name": "x", "role": "viewer", "allowed_tasks": ["tag:"]},
            headers=bearer(make_key(keyed, "admin")),
        )
        assert error_json(bad, 422, "invalid")["field"] == "allowed_tasks"


def test_a_key_schedules_what_its_allow_list_lets_it_start(keyed: ServerProcess) -> None:
    """One allow-list rule for starting and scheduling: `tag:` and `property:` entries too."""
    # Making schedules needs the admin role; the allow-list narrows it to some tasks.
    secret = make_key(
        keyed, "admin", "--allow-task", "tag:beta", "--allow-task", "property:group=g1"
    )
    schedule = {"cron": "0 3 * * *"}
    with keyed.client(headers=bearer(secret)) as client:
        # sel-c carries the tag beta, sel-a the property group=g1; quick neither.
        for label in ("sel-c", "sel-a"):
            started = ok_json(client.post(f"/api/v1/tasks/{label}/start", json={}))
            assert started["started"] == 1, started
            made = ok_json(client.post("/api/v1/schedules", json={**schedule, "task": label}), 201)
            assert made["task_name"] in ("Selector task A", "Selector task C")
        refused = client.post("/api/v1/schedules", json={**schedule, "task": "quick"})
        assert error_json(refused, 403, "forbidden")["field"] == "task"


def test_expired_key_is_401(keyed: ServerProcess) -> None:
    secret = make_key(keyed, "viewer", "--expires-days", "0.0001")  # about 8.6 s
    with keyed.client() as client:
        ok_json(client.get("/api/v1/tasks", headers=bearer(secret)))

        def rejected() -> bool:
            response = client.get("/api/v1/tasks", headers=bearer(secret))
            if response.status_code == 401:
                assert response.json()["error"] == "unauthorized"
                return True
            assert response.status_code == 200, response.text
            return False

        wait_until(rejected, timeout=40, interval=0.5, what="expired key rejected")


def test_auth_none_ignores_keys(start_server: StartServer) -> None:
    server = start_server({"auth": "none"}, tasks=STANDARD_TASKS)
    make_key(server, "viewer")
    with server.client() as client:
        ok_json(client.get("/api/v1/tasks"))
        ok_json(client.post("/api/v1/start", json=START))


def test_other_than_loopback_is_closed(start_server: StartServer) -> None:
    """On a public address the server starts closed, as on loopback (it used to refuse to
    start without a key)."""
    server = start_server({"auth": "keys", "server": {"host": "0.0.0.0"}}, tasks=STANDARD_TASKS)
    with server.client() as client:
        error_json(client.get("/api/v1/tasks"), 401, "unauthorized")
        assert ok_json(client.get("/healthz")) == {"status": "ok"}
        secret = admin_key_file(server).read_text().strip()
        ok_json(client.get("/api/v1/tasks", headers=bearer(secret)))


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_open_mode_refuses_to_listen_beyond_loopback(start_server: StartServer, host: str) -> None:
    server = start_server({"auth": "none", "server": {"host": host}}, start=False)
    assert server.start_or_exit() == 2
    assert "auth: none refuses to listen on" in server.log_text()
    assert not admin_key_file(server).exists()


def test_empty_bearer_is_401(keyed: ServerProcess) -> None:
    make_key(keyed, "admin")
    with keyed.client() as client:
        for value in ("Bearer", "Bearer x y", "tg_only"):
            response = client.get("/api/v1/tasks", headers={"Authorization": value})
            assert response.status_code in (400, 401), (value, response.text)
            assert response.json()["error"] in ("bad_request", "unauthorized")
