"""Butler's key-value endpoints: fields, status codes, messages, TTL, persistence."""

from __future__ import annotations

from typing import Any

import httpx

from tests.butler.conftest import demo_butler
from tests.conftest import ServerProcess, StartServer
from tests.support import unique, wait_until


def fastify_error(response: httpx.Response, status: int, message: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert body["statusCode"] == status
    assert body["message"] == message
    return body


def post(server: ServerProcess, ns: str, body: Any) -> httpx.Response:
    return httpx.post(f"{server.url}/v4/keyvalues/{ns}", json=body)


def get(server: ServerProcess, ns: str, key: str) -> httpx.Response:
    return httpx.get(f"{server.url}/v4/keyvalues/{ns}", params={"key": key})


def test_write_read_list_and_delete(butler_server: ServerProcess) -> None:
    ns = unique("ns")
    created = post(butler_server, ns, {"key": "k1", "value": "v1"})
    assert created.status_code == 201
    assert created.headers["content-type"] == "application/json; charset=utf-8"
    assert created.text == f'{{"namespace":"{ns}","key":"k1","value":"v1","ttl":0}}'
    post(butler_server, ns, {"key": "k2", "value": "v2", "ttl": 60000}).raise_for_status()

    assert get(butler_server, ns, "k1").json() == {"namespace": ns, "key": "k1", "value": "v1"}
    exists = httpx.get(f"{butler_server.url}/v4/keyvalues/{ns}/keyexists", params={"key": "k2"})
    assert exists.json() == {
        "keyExists": True,
        "keyValue": {"namespace": ns, "key": "k2", "value": "v2"},
    }
    absent = httpx.get(f"{butler_server.url}/v4/keyvalues/{ns}/keyexists", params={"key": "no"})
    assert absent.json() == {"keyExists": False, "keyValue": {}}

    keylist = httpx.get(f"{butler_server.url}/v4/keylist/{ns}")
    assert keylist.headers["content-type"] == "text/plain; charset=utf-8"
    assert keylist.text == f'{{"namespace":"{ns}","keys":[{{"key":"k1"}},{{"key":"k2"}}]}}'
    assert ns in httpx.get(f"{butler_server.url}/v4/keyvaluesnamespaces").json()

    deleted = httpx.delete(f"{butler_server.url}/v4/keyvalues/{ns}/k1")
    assert deleted.status_code == 204 and deleted.content == b""
    fastify_error(get(butler_server, ns, "k1"), 400, f"Key 'k1' not found in namespace: {ns}")

    assert httpx.delete(f"{butler_server.url}/v4/keyvalues/{ns}").status_code == 204
    fastify_error(get(butler_server, ns, "k2"), 400, f"Namespace not found: {ns}")
    assert ns not in httpx.get(f"{butler_server.url}/v4/keyvaluesnamespaces").json()


def test_namespaces_are_listed_in_creation_order(butler_server: ServerProcess) -> None:
    first, second = unique("first"), unique("second")
    post(butler_server, first, {"key": "k", "value": "v"}).raise_for_status()
    post(butler_server, second, {"key": "k", "value": "v"}).raise_for_status()
    names = httpx.get(f"{butler_server.url}/v4/keyvaluesnamespaces").json()
    assert names.index(first) < names.index(second)


def test_values_and_ttls_are_coerced_as_butler_does(butler_server: ServerProcess) -> None:
    ns = unique("ns")
    answer = post(butler_server, ns, {"key": "n", "value": 5, "ttl": "60000"})
    assert answer.status_code == 201
    assert answer.json() == {"namespace": ns, "key": "n", "value": "5", "ttl": 60000}
    assert get(butler_server, ns, "n").json()["value"] == "5"


def test_a_post_without_value_stores_nothing_but_creates_the_namespace(
    butler_server: ServerProcess,
) -> None:
    ns = unique("ns")
    answer = post(butler_server, ns, {"key": "k"})
    assert answer.status_code == 201
    assert answer.json() == {"namespace": ns, "key": "k", "ttl": 0}
    assert ns in httpx.get(f"{butler_server.url}/v4/keyvaluesnamespaces").json()
    fastify_error(get(butler_server, ns, "k"), 400, f"Key 'k' not found in namespace: {ns}")


def test_expired_keys_are_absent_and_a_rewrite_resets_the_ttl(
    butler_server: ServerProcess,
) -> None:
    ns = unique("ns")
    post(butler_server, ns, {"key": "short", "value": "a", "ttl": 300}).raise_for_status()
    post(butler_server, ns, {"key": "kept", "value": "b", "ttl": 300}).raise_for_status()
    # Written again without a ttl, a key becomes permanent.
    post(butler_server, ns, {"key": "kept", "value": "c"}).raise_for_status()

    wait_until(
        lambda: get(butler_server, ns, "short").status_code == 400,
        timeout=15,
        what="the short-lived key expires",
    )
    exists = httpx.get(f"{butler_server.url}/v4/keyvalues/{ns}/keyexists", params={"key": "short"})
    assert exists.json() == {"keyExists": False, "keyValue": {}}
    assert httpx.get(f"{butler_server.url}/v4/keylist/{ns}").json()["keys"] == [{"key": "kept"}]
    assert get(butler_server, ns, "kept").json()["value"] == "c"
    # The namespace outlives its keys.
    assert httpx.delete(f"{butler_server.url}/v4/keyvalues/{ns}/kept").status_code == 204
    assert ns in httpx.get(f"{butler_server.url}/v4/keyvaluesnamespaces").json()


def test_values_survive_a_restart(start_server: StartServer) -> None:
    server = start_server({"butler": demo_butler()})
    post(server, "params", {"key": "region", "value": "EU"}).raise_for_status()
    server.restart()
    assert get(server, "params", "region").json()["value"] == "EU"


def test_bad_requests_are_answered_as_butler_answers(butler_server: ServerProcess) -> None:
    url = butler_server.url
    ns = unique("ns")
    missing_key = httpx.get(f"{url}/v4/keyvalues/{ns}")
    body = fastify_error(missing_key, 400, "querystring must have required property 'key'")
    assert body["code"] == "FST_ERR_VALIDATION"
    fastify_error(get(butler_server, ns, "k"), 400, f"Namespace not found: {ns}")
    fastify_error(httpx.delete(f"{url}/v4/keyvalues/{ns}"), 400, f"Namespace not found: {ns}")
    fastify_error(httpx.get(f"{url}/v4/keylist/{ns}"), 400, f"Namespace not found: {ns}")
    fastify_error(post(butler_server, ns, {"value": "v"}), 400, "Required parameter is missing")
    fastify_error(
        post(butler_server, ns, {"key": "", "value": "v"}), 400, "Required parameter is missing"
    )
    no_body = httpx.post(f"{url}/v4/keyvalues/{ns}")
    assert fastify_error(no_body, 400, "body must be object")["code"] == "FST_ERR_VALIDATION"
    fastify_error(post(butler_server, ns, ["k"]), 400, "body must be object")
    fastify_error(
        post(butler_server, ns, {"key": "k", "value": "v", "ttl": "soon"}),
        400,
        "body/ttl must be number",
    )
    fastify_error(
        post(butler_server, ns, {"key": "k", "value": {"a": 1}}), 400, "body/value must be string"
    )
    bad_json = httpx.post(
        f"{url}/v4/keyvalues/{ns}", content=b"{nope", headers={"Content-Type": "application/json"}
    )
    assert (
        fastify_error(
            bad_json, 400, "Body is not valid JSON but content-type is set to 'application/json'"
        )["code"]
        == "FST_ERR_CTP_INVALID_JSON_BODY"
    )


def test_size_limits_answer_with_a_clear_error(start_server: StartServer) -> None:
    server = start_server(
        {
            "butler": demo_butler(),
            "kv": {"max_value_bytes": 1000, "max_keys_per_namespace": 2},
        }
    )
    ns = unique("ns")
    too_big = post(server, ns, {"key": "k", "value": "x" * 1001})
    assert too_big.status_code == 400
    assert "1001 bytes" in too_big.json()["message"]
    post(server, ns, {"key": "a", "value": "1"}).raise_for_status()
    post(server, ns, {"key": "b", "value": "2"}).raise_for_status()
    post(server, ns, {"key": "a", "value": "replaced"}).raise_for_status()  # not a new key
    third = post(server, ns, {"key": "c", "value": "3"})
    assert third.status_code == 400
    assert "2 keys" in third.json()["message"]
    huge = httpx.post(
        f"{server.url}/v4/keyvalues/{ns}",
        content=b'{"key": "k", "value": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers={"Content-Type": "application/json"},
    )
    body = fastify_error(huge, 413, "Request body is too large")
    assert body["code"] == "FST_ERR_CTP_BODY_TOO_LARGE"
