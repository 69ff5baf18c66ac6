"""Every dashboard page answers for a logged-in admin, loads nothing from outside the server,
and changes are refused without the session's CSRF token or the role they need."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import ServerProcess, StartServer
from tests.support import STANDARD_TASKS
from tests.web.pagecheck import leaves_server, page_urls, unlabelled_controls
from tests.web.support import admin_key, keyed_server, login, make_key


@pytest.fixture
def keyed(start_server: StartServer) -> ServerProcess:
    return keyed_server(start_server, tasks=STANDARD_TASKS)


def api(server: ServerProcess) -> httpx.Client:
    return server.client(headers={"Authorization": f"Bearer {admin_key(server)}"})


def test_every_page_answers_and_names_only_this_server(keyed: ServerProcess) -> None:
    with api(keyed) as rest:
        started = rest.post("/api/v1/tasks/quick/start", json={"wait": 30}).json()
        execution_id = started["executions"][0]["id"]
        schedule = rest.post(
            "/api/v1/schedules",
            json={
                "task": "quick",
                "name": "nightly",
                "cron": "0 2 * * *",
                "timezone": "Europe/Berlin",
            },
        ).json()
        hook = rest.post(
            "/api/v1/webhooks",
            json={"name": "nowhere", "url": "http://127.0.0.1:9/hook", "secret": "s" * 20},
        ).json()
        rest.put("/api/v1/kv/web-ns/greeting", json={"value": "hello", "ttl_ms": 600000})
    with keyed.client() as http:
        login(http, admin_key(keyed))
        pages = [
            "/",
            "/ui/tasks",
            "/ui/tasks?q=quick&enabled=yes&kind=command",
            "/ui/tasks/quick",
            "/ui/executions",
            "/ui/executions?status=finished_success&origin=api&since=2020-01-01T00:00",
            "/ui/executions?caller=key:admin&status=finished_success&status=finished_fail",
            f"/ui/executions/{execution_id}",
            f"/ui/executions/{execution_id}/events",
            "/ui/schedules",
            f"/ui/schedules/{schedule['id']}",
            "/ui/kv",
            "/ui/kv/web-ns",
            "/ui/keys",
            "/ui/audit",
            f"/ui/webhooks?webhook={hook['id']}",
        ]
        for path in pages:
            answer = http.get(path)
            assert answer.status_code == 200, (path, answer.text[:500])
            assert [u for u in page_urls(answer.text) if leaves_server(u)] == [], path
            assert unlabelled_controls(answer.text) == [], path
        log = http.get(f"/ui/executions/{execution_id}/log").json()
        assert log["complete"] and "quick done" in log["data"]
        bad = http.get("/ui/executions?since=yesterday")
        assert bad.status_code == 422 and "since" in bad.text
        assert http.get("/ui/tasks/no-such-task").status_code == 404


def test_starting_from_the_form_takes_typed_parameters(keyed: ServerProcess) -> None:
    with keyed.client() as http:
        csrf = login(http, admin_key(keyed))
        preview = http.post(
            "/ui/tasks/typed/preview", data={"csrf_token": csrf, "param.count": "x"}
        )
        assert preview.status_code == 200 and "params.count" in preview.text
        preview = http.post(
            "/ui/tasks/typed/preview", data={"csrf_token": csrf, "param.count": "3"}
        )
        assert "Would start" in preview.text and "&#34;count&#34;: 3" in preview.text
        answer = http.post("/ui/tasks/typed/start", data={"csrf_token": csrf, "param.count": "3"})
        assert answer.status_code == 303
        execution_id = answer.headers["location"].rsplit("/", 1)[-1]
    with api(keyed) as rest:
        done = rest.get(f"/api/v1/executions/{execution_id}/wait", params={"timeout": 30}).json()
        assert done["status"] == "finished_success" and done["origin"] == "ui"
        assert done["params"]["count"] == 3 and done["params"]["title"] == "untitled"


def test_a_viewer_sees_no_buttons_and_its_posts_are_refused(keyed: ServerProcess) -> None:
    with api(keyed) as rest:
        started = rest.post("/api/v1/tasks/quick/start", json={"wait": 30}).json()
        execution_id = started["executions"][0]["id"]
    with keyed.client() as http:
        csrf = login(http, make_key(keyed, "viewer"))
        task_page = http.get("/ui/tasks/quick").text
        assert "/start" not in task_page and "Start</button>" not in task_page
        page = http.get(f"/ui/executions/{execution_id}").text
        assert "Run again" not in page and "Abort" not in page
        assert "API keys" not in http.get("/").text
        for path in ("/ui/tasks/quick/start", f"/ui/executions/{execution_id}/rerun"):
            refused = http.post(path, data={"csrf_token": csrf})
            assert refused.status_code == 403 and "needs operator" in refused.text, path


def test_a_post_without_the_csrf_token_is_refused(keyed: ServerProcess) -> None:
    with keyed.client() as http:
        login(http, admin_key(keyed))
        refused = http.post("/ui/tasks/quick/start", data={"param.region": "US"})
        assert refused.status_code == 403 and "CSRF" in refused.text
        wrong = http.post("/ui/tasks/quick/start", headers={"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403
    with api(keyed) as rest:
        listing = rest.get("/api/v1/executions", params={"origin": "ui"}).json()
        assert listing["items"] == []


def test_the_event_stream_of_the_pages_needs_a_session(keyed: ServerProcess) -> None:
    with keyed.client() as http:
        assert http.get("/ui/events").status_code == 303
        login(http, admin_key(keyed))
        for path in ("/ui/events", "/ui/events?coalesce=1"):
            with http.stream("GET", path) as stream:
                assert stream.status_code == 200
                # The first thing each stream says (before any event can come).
                assert "event: connected" in next(stream.iter_lines())


def test_the_forms_of_the_other_pages_change_through_the_core(keyed: ServerProcess) -> None:
    with api(keyed) as rest:
        schedule = rest.post(
            "/api/v1/schedules",
            json={
                "task": "quick",
                "name": "often",
                "kind": "interval",
                "every": 1,
                "unit": "hours",
            },
        ).json()
    with keyed.client() as http:
        csrf = login(http, admin_key(keyed))
        fires = http.post(
            "/ui/schedules/preview",
            data={
                "csrf_token": csrf,
                "kind": "cron",
                "cron": "30 6 * * *",
                "timezone": "Asia/Tokyo",
            },
        )
        assert fires.status_code == 200 and "06:30" in fires.text
        wrong = http.post("/ui/schedules/preview", data={"csrf_token": csrf, "cron": "nope"})
        assert "problem" in wrong.text
        paused = http.post(f"/ui/schedules/{schedule['id']}/pause", data={"csrf_token": csrf})
        assert paused.status_code == 303
        assert "Resume" in http.get(f"/ui/schedules/{schedule['id']}").text
        saved = http.post(
            "/ui/kv",
            data={"csrf_token": csrf, "namespace": "ns1", "key": "a/b", "value": "v", "ttl": "60"},
        )
        assert saved.status_code == 303 and "a/b" in http.get("/ui/kv/ns1").text
        gone = http.post(
            "/ui/kv/delete", data={"csrf_token": csrf, "namespace": "ns1", "key": "a/b"}
        )
        assert gone.status_code == 303 and "a/b" not in http.get("/ui/kv/ns1").text
        made = http.post(
            "/ui/keys",
            data={"csrf_token": csrf, "name": "ci", "role": "operator", "allowed_tasks": "quick"},
        )
        secret = hidden_secret(made.text)
        assert "ci" in made.text and secret.startswith("tg_")
        assert secret not in http.get("/ui/keys").text  # shown once only
        with keyed.client(headers={"Authorization": f"Bearer {secret}"}) as as_ci:
            assert as_ci.get("/api/v1/tasks").status_code == 200
        bad = http.post("/ui/keys", data={"csrf_token": csrf, "name": "x", "role": "boss"})
        assert bad.status_code == 422 and "role" in bad.text
    with api(keyed) as rest:
        actions = [r["action"] for r in rest.get("/api/v1/audit").json()["items"]]
        assert "key.create" in actions


def test_a_key_revoked_from_its_page_stops_working(keyed: ServerProcess) -> None:
    secret = make_key(keyed, "operator", name="leaving")
    with api(keyed) as rest:
        keys = rest.get("/api/v1/keys").json()["items"]
        key_id = next(k["id"] for k in keys if k["name"] == "leaving")
    with keyed.client() as http:
        csrf = login(http, admin_key(keyed))
        assert http.post(f"/ui/keys/{key_id}/revoke").status_code == 403
        revoked = http.post(f"/ui/keys/{key_id}/revoke", data={"csrf_token": csrf})
        assert revoked.status_code == 303
    with keyed.client(headers={"Authorization": f"Bearer {secret}"}) as leaving:
        assert leaving.get("/api/v1/tasks").status_code == 401


def test_a_viewer_may_not_see_the_admin_pages(keyed: ServerProcess) -> None:
    with keyed.client() as http:
        csrf = login(http, make_key(keyed, "operator"))
        for path in ("/ui/keys", "/ui/audit", "/ui/webhooks"):
            assert http.get(path).status_code == 403, path
        refused = http.post("/ui/keys", data={"csrf_token": csrf, "name": "x", "role": "admin"})
        assert refused.status_code == 403


def hidden_secret(html: str) -> str:
    found = re.search(r'id="new-secret">([^<]+)<', html)
    assert found, html[:2000]
    return found.group(1).strip()
