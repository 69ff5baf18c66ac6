"""HTTPS on the main port (server.tls): the API over TLS checked against the server's CA, the
host-name and cross-site checks unchanged, the CLI with --ca-file, client certificates with
server.tls.client_ca, and a certificate that does not load stopping the start (exit 2)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from taskgate.client.tls import ssl_context
from tests.conftest import Backend, ServerProcess, StartServer
from tests.support import STANDARD_TASKS, ok_json, start_one, wait_execution
from tests.tls_support import Pki, make_pki


@pytest.fixture(scope="module")
def backend(_backends: dict[str, Backend]) -> Backend:
    # TLS sits in front of everything and touches no database: SQLite only.
    return _backends.setdefault("sqlite", Backend("sqlite"))


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return make_pki(tmp_path / "pki")


PUBLIC_HOST = "taskgate.test"


def tls_server(
    start_server: StartServer, pki: Pki, *, public_url: bool = False, **tls: str
) -> ServerProcess:
    server = start_server(
        {
            "auth": "keys",
            "server": {
                "tls": {"certfile": str(pki.server_cert), "keyfile": str(pki.server_key), **tls}
            },
        },
        tasks=STANDARD_TASKS,
        # The server's commands inherit it: `taskgate kv` inside a run trusts the server too.
        env={"TASKGATE_CA_FILE": str(pki.ca)},
        start=False,
    )
    if public_url:
        # The name a proxy or DNS gives the server; its port is known only now.
        server.config["server"]["public_url"] = f"https://{PUBLIC_HOST}:{server.port}"
        server.config_path.write_text(yaml.safe_dump(server.config, sort_keys=False))
    server.http_options = {"verify": ssl_context(str(pki.ca))}
    if "client_ca" in tls:
        server.http_options["verify"] = ssl_context(
            str(pki.ca), str(pki.client_cert), str(pki.client_key)
        )
    server.start()
    assert server.url.startswith("https://")
    return server


def admin_headers(server: ServerProcess) -> dict[str, str]:
    key = (server.workdir / "data" / "admin.key").read_text().strip()
    return {"Authorization": f"Bearer {key}"}


def cli(server: ServerProcess, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("TASKGATE_")}
    return subprocess.run(
        [sys.executable, "-m", "taskgate", *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def test_api_cli_and_runs_over_https(start_server: StartServer, pki: Pki) -> None:
    server = tls_server(start_server, pki)
    headers = admin_headers(server)
    client = server.client(headers=headers)
    assert ok_json(client.get("/healthz")) == {"status": "ok"}
    assert len(ok_json(client.get("/api/v1/tasks"))["items"]) == len(STANDARD_TASKS)

    # A run is told the https URL, and trusts it through the inherited CA file.
    execution_id = start_one(client, "label:quick")
    run = wait_execution(client, execution_id)
    assert run["status"] == "finished_success", run
    assert run["result"]["env"]["TASKGATE_URL"] == server.url

    # Without the CA the certificate is refused; plain HTTP gets no answer.
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{server.url}/healthz", timeout=10)
    with pytest.raises(httpx.TransportError):
        httpx.get(f"http://127.0.0.1:{server.port}/healthz", timeout=10)

    # The CLI with --ca-file, or TASKGATE_CA_FILE; the admin key of the local server's config.
    key_env = {"TASKGATE_API_KEY": headers["Authorization"].split()[1], "TASKGATE_URL": server.url}
    listed = cli(server, "--ca-file", str(pki.ca), "tasks", "list", "--json", env=key_env)
    assert listed.returncode == 0, listed.stderr
    assert "quick" in listed.stdout
    refused = cli(server, "tasks", "list", env=key_env)
    assert refused.returncode == 1
    assert "certificate" in refused.stderr.lower(), refused.stderr
    own_env = {
        "TASKGATE_URL": server.url,
        "TASKGATE_CONFIG": str(server.config_path),
        "TASKGATE_CA_FILE": str(pki.ca),
    }
    own = cli(server, "tasks", "list", "--json", env=own_env)
    assert own.returncode == 0, own.stderr
    assert "quick" in own.stdout


def test_host_and_origin_checks_hold_over_https(start_server: StartServer, pki: Pki) -> None:
    server = tls_server(start_server, pki, public_url=True)
    client = server.client(headers=admin_headers(server))
    assert client.get("/api/v1/tasks", headers={"Host": "evil.example"}).status_code == 421
    public = f"{PUBLIC_HOST}:{server.port}"
    assert client.get("/api/v1/tasks", headers={"Host": public}).status_code == 200
    body = {"selectors": ["label:quick"]}
    for origin in ("https://evil.example", f"http://127.0.0.1.evil.example:{server.port}"):
        answer = client.post("/api/v1/start", json=body, headers={"Origin": origin})
        assert answer.status_code == 403, (origin, answer.text)
    for origin in (f"https://127.0.0.1:{server.port}", f"https://{public}"):
        same_site = client.post("/api/v1/start", json=body, headers={"Origin": origin})
        assert same_site.status_code == 200, (origin, same_site.text)
    # Runs are told the public URL.
    run = wait_execution(client, same_site.json()["executions"][0]["id"])
    assert run["result"]["env"]["TASKGATE_URL"] == f"https://{public}"


def test_client_certificates_with_client_ca(start_server: StartServer, pki: Pki) -> None:
    server = tls_server(start_server, pki, client_ca=str(pki.ca))
    assert ok_json(server.client().get("/healthz")) == {"status": "ok"}
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/healthz", verify=ssl_context(str(pki.ca)), timeout=10)
    env = {
        "TASKGATE_URL": server.url,
        "TASKGATE_CA_FILE": str(pki.ca),
        "TASKGATE_CLIENT_CERT": str(pki.client_cert),
        "TASKGATE_CLIENT_KEY": str(pki.client_key),
        "TASKGATE_API_KEY": admin_headers(server)["Authorization"].split()[1],
    }
    listed = cli(server, "tasks", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr


@pytest.mark.parametrize("broken", ["missing", "mismatched"])
def test_a_certificate_that_does_not_load_stops_the_start(
    start_server: StartServer, pki: Pki, broken: str
) -> None:
    keyfile = str(pki.server_key if broken == "mismatched" else pki.server_key.with_name("no.pem"))
    certfile = str(pki.client_cert if broken == "mismatched" else pki.server_cert)
    server = start_server(
        {"server": {"tls": {"certfile": certfile, "keyfile": keyfile}}}, start=False
    )
    assert server.start_or_exit() == 2
    assert "server.tls" in server.log_text()
