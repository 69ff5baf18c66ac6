"""The `qlik` pieces that need no site: config checks at start-up, the API's site check, and
a site that cannot be reached (runs end as error after the limit; sync keeps going)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from tests.conftest import StartServer, free_port
from tests.support import error_json, ok_json, read_log, start_one, wait_execution, wait_until

REMOTE_ID = "2f0c9e1a-1111-4a5b-8c7d-0000000000aa"


def away_site(**fields: Any) -> dict[str, Any]:
    """A site on a loopback port where nobody listens."""
    return {
        "name": "away",
        "host": "127.0.0.1",
        "port": free_port(),
        "verify": False,
        "poll_min_seconds": 0.05,
        "poll_max_seconds": 0.2,
        "unreachable_limit_seconds": 1,
        **fields,
    }


def qlik_task(site: str = "away", **fields: Any) -> dict[str, Any]:
    return {
        "name": "Remote reload",
        "label": "remote-reload",
        "action": {"kind": "qlik", "site": site, "task_id": REMOTE_ID},
        **fields,
    }


def test_a_config_task_naming_no_site_stops_the_start(start_server: StartServer) -> None:
    server = start_server(
        {"qlik": {"sites": [away_site()]}}, tasks=[qlik_task("nowhere")], start=False
    )
    assert server.start_or_exit() == 2
    assert "tasks.0.action.site: no Qlik Sense site named 'nowhere'" in server.log_text()


def test_a_certificate_that_cannot_be_used_stops_the_start(
    start_server: StartServer, tmp_path: Path
) -> None:
    bad = tmp_path / "client.pem"
    bad.write_text("not a certificate\n")
    server = start_server({"qlik": {"sites": [away_site(client_cert=str(bad))]}}, start=False)
    assert server.start_or_exit() == 2
    assert "qlik.sites.0.client_cert: cannot use" in server.log_text()


def test_the_api_refuses_a_qlik_task_naming_no_site(start_server: StartServer) -> None:
    server = start_server({"qlik": {"sites": [away_site()]}})
    with server.client() as http:
        body = error_json(http.post("/api/v1/tasks", json=qlik_task("nowhere")), 422, "invalid")
        assert body["field"] == "action.site"
        assert "no Qlik Sense site named 'nowhere'" in body["message"]
        assert "qlik.sites: away" in body["message"]
        task_id = str(uuid.uuid4())
        response = http.put(f"/api/v1/tasks/{task_id}", json=qlik_task("nowhere"))
        assert error_json(response, 422, "invalid")["field"] == "action.site"
        created = ok_json(http.post("/api/v1/tasks", json=qlik_task()), 201)
        assert created["action"] == {
            "kind": "qlik",
            "site": "away",
            "task_id": REMOTE_ID,
            "app_id": None,
            "app_name": None,
        }


def test_a_site_that_stays_away(start_server: StartServer) -> None:
    site = away_site(sync={"enabled": True, "interval_seconds": 0.5})
    server = start_server({"qlik": {"sites": [site]}}, tasks=[qlik_task()])
    with server.client() as http:
        execution = wait_execution(http, start_one(http, "remote-reload"))
        assert execution["status"] == "error", execution
        assert execution["message"].startswith("site away unreachable for more than 1s")
        log = read_log(http, execution["id"])
        assert log.count("cannot start the task on site away: cannot connect") == 1, log

        def sync_failed() -> str | None:
            detail: str = ok_json(http.get("/readyz"))["checks"]["qlik"]
            return detail if "sync failed" in detail else None

        detail = wait_until(sync_failed, what="a failed sync in /readyz")
        assert detail.startswith("away: sync failed: cannot connect"), detail
        assert "keeping the last known tasks" in detail
        # the server is still ready, and its own tasks are still there
        assert ok_json(http.get("/api/v1/tasks/remote-reload"))["source"] == "config"
