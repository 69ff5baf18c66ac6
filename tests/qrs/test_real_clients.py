"""Real QRS clients from PyPI, unchanged, against the door: qsAPI on the plain port,
qrs-api-client's start-and-wait (`app_reload`) on the HTTPS port with a client certificate."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import qsAPI
from qrs_api_client.auth import AuthManager
from qrs_api_client.client import QRSClient

from tests.conftest import ServerProcess, StartServer, free_port
from tests.qrs.conftest import EXTRA_TASKS, RETRY_ID, tls_listen
from tests.support import OFF_ID, QUICK_ID, SEL_A_ID, SEL_B_ID, STANDARD_TASKS

EMPTY_GUID = "00000000-0000-0000-0000-000000000000"


def test_qsapi(qrs_server: ServerProcess) -> None:
    qrs = qsAPI.QRS(schema="http", proxy=f"127.0.0.1:{qrs_server.port}")
    started = qrs.TaskStartSynchronous(QUICK_ID)
    assert started.status_code == 201
    assert started.json()["value"] != EMPTY_GUID
    assert qrs.TaskStartSynchronous(OFF_ID).json()["value"] == EMPTY_GUID
    assert qrs.count("reloadtask", "tags.name eq 'alpha'") == 2
    tagged = qrs.TaskGet(pFilter="tags.name eq 'alpha'")
    assert {t["id"] for t in tagged} == {SEL_A_ID, SEL_B_ID}
    assert qrs.TaskStartByName("Selector task A").status_code == 204
    assert qrs.TaskStartMany([SEL_A_ID, SEL_B_ID]).status_code == 204
    enums = qrs.getEnum()
    assert any("ExecutionResult.Status" in e["usages"] for e in enums.values())


@pytest.fixture
def tls_server(start_server: StartServer, pki: dict[str, Path]) -> tuple[ServerProcess, int]:
    port = free_port()
    listen = tls_listen(pki, port)
    server = start_server(
        {"qrs": {"enabled": True, "listen": listen}}, tasks=STANDARD_TASKS + EXTRA_TASKS
    )
    return server, port


def test_qrs_api_client_start_and_wait(
    tls_server: tuple[ServerProcess, int],
    pki: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # requests prefers these to a session's own CA setting; a client on a Qlik server has none.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    _, port = tls_server
    auth = AuthManager(str(pki["client"]), str(pki["client_key"]), str(pki["ca"]))
    client = QRSClient("127.0.0.1", port, "certificate", auth, verify_ssl=True)
    done = client.app_reload(uuid.UUID(QUICK_ID), poll_interval=0.1)
    assert done is not None
    assert done["success"] is True
    failed = client.app_reload(uuid.UUID(RETRY_ID), poll_interval=0.1)
    assert failed is not None
    assert failed["success"] is False
    assert client.get_enum("ExecutionResult.Status")[7] == "7: FinishedSuccess"
