"""The QRS door's guards and conventions: Xrfkey, X-Qlik-User, about, enums, errors."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import ServerProcess, StartServer
from tests.qrs.conftest import QrsClient, xrfkey
from tests.support import QUICK_ID, get_execution

XSRF = "XSRF prevention check failed. Possible XSRF discovered."


@pytest.mark.parametrize(
    ("params", "headers"),
    [
        ({}, {}),
        ({"Xrfkey": "abcdefghijklmnop"}, {}),
        ({}, {"X-Qlik-Xrfkey": "abcdefghijklmnop"}),
        ({"Xrfkey": "abcdefghijklmnop"}, {"X-Qlik-Xrfkey": "abcdefghijklmnoq"}),
        ({"Xrfkey": "abcdefghijklmno"}, {"X-Qlik-Xrfkey": "abcdefghijklmno"}),
        ({"Xrfkey": "abcdefghijklmno!"}, {"X-Qlik-Xrfkey": "abcdefghijklmno!"}),
        ({"Xrfkey": "ABCDEFGHIJKLMNOP"}, {"X-Qlik-Xrfkey": "abcdefghijklmnop"}),
    ],
    ids=["none", "query-only", "header-only", "mismatch", "short", "symbol", "case"],
)
def test_xrfkey_missing_or_wrong_is_refused_as_qrs_does(
    qrs_server: ServerProcess, params: dict[str, str], headers: dict[str, str]
) -> None:
    with httpx.Client(base_url=qrs_server.url) as http:
        response = http.get("/qrs/about", params=params, headers=headers)
    assert response.status_code == 403
    assert response.text == XSRF


def test_xrfkey_parameter_name_in_any_case(qrs_server: ServerProcess) -> None:
    key = xrfkey()
    with httpx.Client(base_url=qrs_server.url) as http:
        for name in ("xrfkey", "Xrfkey", "XRFKEY"):
            response = http.get("/qrs/about", params={name: key}, headers={"x-qlik-xrfkey": key})
            assert response.status_code == 200, name


def test_about_answers_a_build_version_qsapi_accepts(qrs: QrsClient) -> None:
    about = qrs.json("/about")
    major = int(about["buildVersion"].split(".")[0])
    assert major >= 3
    assert about["schemaPath"] == "About"


def test_enums_are_found_by_usage_with_lower_case_keys(qrs: QrsClient) -> None:
    enums = qrs.json("/about/api/enums")
    status = [e for e in enums.values() if "ExecutionResult.Status" in e["usages"]]
    assert len(status) == 1
    values = status[0]["values"]
    assert "7: FinishedSuccess" in values
    assert "8: FinishedFail" in values
    assert "0: NeverStarted" in values
    assert enums["TaskTypeEnum"]["values"][0] == "0: Reload"


def test_x_qlik_user_is_recorded_as_the_caller(qrs_server: ServerProcess) -> None:
    with httpx.Client(base_url=qrs_server.url, timeout=30) as http:
        qrs = QrsClient(http, user="UserDirectory= Acme ;UserID=jdoe")
        response = qrs.post(f"/task/{QUICK_ID}/start/synchronous")
        assert response.status_code == 201
        session = response.json()["value"]
        execution = get_execution(http, session)
    assert execution["caller"] == "qrs:Acme\\jdoe"
    assert execution["origin"] == "qrs"


def test_without_x_qlik_user_the_caller_is_the_address(qrs_server: ServerProcess) -> None:
    with httpx.Client(base_url=qrs_server.url, timeout=30) as http:
        qrs = QrsClient(http, user="")
        session = qrs.post(f"/task/{QUICK_ID}/start/synchronous").json()["value"]
        execution = get_execution(http, session)
    assert execution["caller"] == "qrs@127.0.0.1"


def test_unknown_path_and_method(qrs: QrsClient) -> None:
    missing = qrs.get("/nosuchthing")
    assert missing.status_code == 404
    assert "message" in missing.json()
    wrong = qrs.request("DELETE", "/about")
    assert wrong.status_code == 405
    assert "DELETE" in wrong.json()["message"]


@pytest.mark.parametrize(
    "text",
    ["name eq", "name eq 'open", "(name eq 'x'", "name like 'x'", "name eq 'x' and"],
)
def test_a_malformed_filter_is_400_with_qrs_message(qrs: QrsClient, text: str) -> None:
    for path in ("/reloadtask/full", "/executionresult", "/executionsession/full"):
        response = qrs.get(path, params={"filter": text})
        assert response.status_code == 400, (path, response.text)
        body = response.json()
        assert body["message"].startswith("Cannot parse the expression: ")
        assert body["field"] == "filter"


def test_a_malformed_orderby_is_400(qrs: QrsClient) -> None:
    response = qrs.get("/reloadtask/full", params={"orderby": "name sideways"})
    assert response.status_code == 400
    assert response.json()["field"] == "orderby"


def test_a_body_over_the_limit_is_413_in_the_door_format(qrs: QrsClient) -> None:
    response = qrs.post("/task/start/many", content=b"[" + b" " * (2 * 1024 * 1024) + b"]")
    assert response.status_code == 413
    assert response.json()["field"] == "body"


def test_only_allowed_addresses_reach_the_plain_port(start_server: StartServer) -> None:
    server = start_server({"qrs": {"enabled": True, "allow_from": ["10.0.0.0/8"]}})
    with httpx.Client(base_url=server.url) as http:
        response = QrsClient(http).get("/about")
    assert response.status_code == 403
    assert "127.0.0.1" in response.json()["message"]


def test_the_door_is_off_unless_enabled(start_server: StartServer) -> None:
    server = start_server()
    with httpx.Client(base_url=server.url) as http:
        assert QrsClient(http).get("/about").status_code == 404
