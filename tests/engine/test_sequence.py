"""The `sequence` action against a local JSON API: Jaseci's examples (§8) and each fixed
defect of §9, one test each (docs/jaseci.md lists them)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from taskgate.domain.sequences import SequenceAction
from taskgate.domain.status import EndReason, Status
from tests.sequence_support import ApiServer, run_sequence, serve_api


@pytest.fixture
def api() -> Iterator[ApiServer]:
    yield from serve_api()


def test_the_reference_example_logs_in_loops_filters_and_saves(
    api: ApiServer, tmp_path: Path
) -> None:
    body = {
        "persistence": {"base": api.base},
        "requests": [
            {
                "method": "POST",
                "api": "{{#.base}}/login",
                "body": {"user": "u", "pass": "p"},
                "save_to": "login",
            },
            {
                "method": "GET",
                "api": "{{#.base}}/items",
                "header": {"Authorization": "token {{#.login.token}}"},
                "__def_loop__": {
                    "by": "$.data",
                    "filter": [{"by": "$.state", "condition": {"eq": "open"}}],
                    "requests": [{"method": "GET", "api": "{{@.href}}", "save_to": "item_{{!}}"}],
                },
            },
        ],
    }
    outcome, log = run_sequence(body, tmp_path)
    assert outcome.status is Status.FINISHED_SUCCESS, outcome.message
    result = outcome.result
    assert result["login"] == {"token": "t-1"}
    assert result["item_0"] == {"id": 1, "name": "item 1"}
    assert result["item_2"] == {"id": 3, "name": "item 3"}
    assert "item_1" not in result  # closed: filtered out; `!` is the unfiltered index
    assert api.seen[0]["body"] == {"user": "u", "pass": "p"}
    assert api.seen[1]["headers"]["authorization"] == "token t-1"
    # one log line per step: method, URL, status, time, bytes
    lines = [line for line in log.splitlines() if " -> 200 in " in line]
    assert len(lines) == 4
    assert lines[0].startswith(f"POST {api.base}/login -> 200 in ") and lines[0].endswith(" bytes")


FILTER = [
    {
        "or": [
            {
                "and": [
                    {"by": "$.email", "condition": {"regex": "user@"}},
                    {"by": "$.age", "condition": {"gte": 18, "lt": 65}},
                ]
            },
            {"by": "$.role", "condition": {"eq": "admin"}},
        ]
    }
]


def test_the_reference_filter_keeps_adult_users_and_admins(api: ApiServer, tmp_path: Path) -> None:
    body = {
        "requests": [
            {
                "method": "GET",
                "api": f"{api.base}/users",
                "__def_loop__": {
                    "by": "$.data",
                    "filter": FILTER,
                    "requests": [
                        {
                            "method": "GET",
                            "api": f"{api.base}/echo/{{{{@.role}}}}",
                            "save_to": "u_{{!}}",
                        }
                    ],
                },
            }
        ]
    }
    outcome, _ = run_sequence(body, tmp_path)
    assert outcome.status is Status.FINISHED_SUCCESS, outcome.message
    assert sorted(k for k in outcome.result if k.startswith("u_")) == ["u_0", "u_1"]


def test_the_scheduled_sequence_test_shape_with_http_steps(api: ApiServer, tmp_path: Path) -> None:
    """Jaseci's test_add_scheduled_sequence with its JAC calls made HTTP calls: the loop, the
    or/and filter, save_to with `{{!}}`, save_req_to/save_to with `{{@.jid}}` (a jid holds
    `:` and `-`, sanitized to `_`), an unreachable step without ignore_error stopping it."""
    body = {
        "persistence": {"keep": "me"},
        "requests": [
            {"method": "GET", "api": f"{api.base}/users", "ignore_error": True},
            {
                "method": "GET",
                "api": f"{api.base}/users",
                "__def_loop__": {
                    "by": "$.data",
                    "filter": [
                        {
                            "or": [
                                {"by": "$.email", "condition": {"eq": "user@jaseci.com"}},
                                {"and": [{"by": "$.role", "condition": {"eq": "nobody"}}]},
                            ]
                        }
                    ],
                    "requests": [
                        {
                            "method": "POST",
                            "api": f"{api.base}/echo/object_get",
                            "body": {"obj": "{{$.jid}}"},
                            "save_to": "object_get_{{!}}",
                        },
                        {
                            "method": "POST",
                            "api": f"{api.base}/echo/walker_run",
                            "body": {"nd": "{{@.jid}}", "age": "{{@.age}}"},
                            "save_to": "response_{{@.jid}}",
                            "save_req_to": "req_{{@.jid}}",
                        },
                    ],
                },
                "save_to": "testing_nested",
                "save_req_to": "req_testing_nested",
            },
            {"method": "GET", "api": f"{api.base}/status/502"},
            {"method": "GET", "api": f"{api.base}/users", "save_to": "all_users"},
        ],
    }
    outcome, _ = run_sequence(body, tmp_path)
    result = outcome.result
    assert outcome.status is Status.FINISHED_FAIL
    assert "requests.2" in outcome.message and "502" in outcome.message
    assert result["keep"] == "me"
    assert result["object_get_0"]["body"] == {"obj": "urn:uuid:aaa-1"}
    assert result["req_urn_uuid_aaa_1"]["body"] == {"nd": "urn:uuid:aaa-1", "age": 30}
    assert result["response_urn_uuid_aaa_1"]["path"] == "/echo/walker_run"
    assert result["testing_nested"]["data"][0]["email"] == "user@jaseci.com"
    assert "req_testing_nested" in result
    assert "all_users" not in result  # the failed step stopped the sequence


# -- §9: templating -----------------------------------------------------------------------------


def _echo(api: ApiServer, body: Any, persistence: dict[str, Any], tmp_path: Path) -> Any:
    outcome, _ = run_sequence(
        {
            "persistence": persistence,
            "requests": [
                {"method": "POST", "api": f"{api.base}/echo", "body": body, "save_to": "out"}
            ],
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_SUCCESS, outcome.message
    return outcome.result["out"]["body"]


def test_a_whole_value_placeholder_keeps_its_json_type(api: ApiServer, tmp_path: Path) -> None:
    sent = _echo(
        api,
        {"n": "{{#.n}}", "o": "{{#.o}}", "z": "{{#.z}}", "b": "{{#.b}}"},
        {"n": 5, "o": {"a": [1]}, "z": None, "b": True},
        tmp_path,
    )
    assert sent == {"n": 5, "o": {"a": [1]}, "z": None, "b": True}


def test_a_placeholder_inside_text_is_rendered_as_text(api: ApiServer, tmp_path: Path) -> None:
    # Jaseci: TypeError for every one of these (replace() argument 2 must be str)
    sent = _echo(
        api, {"t": "a={{#.n}} z={{#.z}} o={{#.o}}"}, {"n": 5, "z": None, "o": {"k": 1}}, tmp_path
    )
    assert sent == {"t": 'a=5 z=null o={"k":1}'}


def test_templates_work_in_lists_and_keys(api: ApiServer, tmp_path: Path) -> None:
    sent = _echo(api, {"ids": ["{{#.x}}", "x{{#.x}}"], "k_{{#.x}}": 1}, {"x": 7}, tmp_path)
    assert sent == {"ids": [7, "x7"], "k_7": 1}


def test_paths_hold_dashes_colons_brackets_and_negative_indexes(
    api: ApiServer, tmp_path: Path
) -> None:
    sent = _echo(
        api,
        {
            "a": "{{#.x-y}}",
            "b": "{{#.urn:id}}",
            "c": "{{#.l[1]}}",
            "d": "{{#.l[-1]}}",
            "e": "{{#.l.0}}",
        },
        {"x-y": 1, "urn:id": 2, "l": [10, 20, 30]},
        tmp_path,
    )
    assert sent == {"a": 1, "b": 2, "c": 20, "d": 30, "e": 10}


def test_a_missing_value_is_an_error_naming_the_path_unless_defaulted(
    api: ApiServer, tmp_path: Path
) -> None:
    sent = _echo(api, {"p": "{{#.page ?? 1}}", "l": "{{#.l[9] ?? null}}"}, {"l": [1]}, tmp_path)
    assert sent == {"p": 1, "l": None}
    outcome, _ = run_sequence(
        {"requests": [{"method": "GET", "api": f"{api.base}/echo?x={{{{#.nope.deep}}}}"}]},
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_FAIL
    assert "#.nope.deep" in outcome.message
    assert len(api.seen) == 1  # the first sequence's request only: nothing sent


def test_save_to_is_templated_against_its_own_response(api: ApiServer, tmp_path: Path) -> None:
    outcome, _ = run_sequence(
        {
            "requests": [
                {"method": "GET", "api": f"{api.base}/items/1", "save_to": "first"},
                {"method": "GET", "api": f"{api.base}/items/2", "save_to": "item_{{$.id}}"},
            ]
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_SUCCESS, outcome.message
    assert outcome.result["item_2"] == {"id": 2, "name": "item 2"}  # Jaseci: item_1


# -- §9: HTTP --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "purge"])
def test_any_method_is_sent(api: ApiServer, tmp_path: Path, method: str) -> None:
    outcome, _ = run_sequence(
        {
            "requests": [
                {"method": method, "api": f"{api.base}/echo", "body": {"a": 1}, "save_to": "r"}
            ]
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_SUCCESS, outcome.message
    assert outcome.result["r"]["method"] == method.upper()


def test_json_flavoured_content_types_are_json_and_others_text(
    api: ApiServer, tmp_path: Path
) -> None:
    outcome, _ = run_sequence(
        {
            "requests": [
                {"method": "GET", "api": f"{api.base}/problem", "save_to": "problem"},
                {"method": "GET", "api": f"{api.base}/text", "save_to": "text"},
                {"method": "GET", "api": f"{api.base}/raw", "save_to": "raw"},
            ]
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_SUCCESS, outcome.message
    assert outcome.result["problem"] == {"title": "ok"}
    assert outcome.result["text"] == "hello"
    assert outcome.result["raw"] == "raw bytes"  # Jaseci: TypeError without a Content-Type


def test_a_request_timeout_fails_the_step(api: ApiServer, tmp_path: Path) -> None:
    outcome, _ = run_sequence(
        {
            "requests": [
                {"method": "GET", "api": f"{api.base}/slow", "timeout": 0.2, "save_to": "s"}
            ]
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_FAIL
    assert "no answer within 0.2s" in outcome.message
    assert outcome.result["s"] == {"worker_error": "no answer within 0.2s"}


def test_the_sequence_timeout_ends_the_run(api: ApiServer, tmp_path: Path) -> None:
    outcome, _ = run_sequence(
        {"timeout": 0.3, "requests": [{"method": "GET", "api": f"{api.base}/slow"}]}, tmp_path
    )
    assert outcome.status is Status.ERROR
    assert "timed out" in outcome.message
    assert outcome.reason is EndReason.TIMEOUT


def test_a_busy_server_is_retried_with_backoff(api: ApiServer, tmp_path: Path) -> None:
    outcome, log = run_sequence(
        {
            "requests": [
                {
                    "method": "GET",
                    "api": f"{api.base}/flaky/a/2",
                    "retries": {"count": 3, "delay": 0.01},
                    "save_to": "r",
                }
            ]
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_SUCCESS, outcome.message
    assert outcome.result["r"] == {"tries": 3}
    assert log.count("try ") == 2


# -- §9: errors --------------------------------------------------------------------------------


def test_a_failed_step_fails_the_run_and_keeps_what_was_saved(
    api: ApiServer, tmp_path: Path
) -> None:
    outcome, _ = run_sequence(
        {
            "requests": [
                {"method": "GET", "api": f"{api.base}/items/1", "save_to": "one"},
                {"method": "GET", "api": f"{api.base}/status/404", "save_to": "bad"},
                {"method": "GET", "api": f"{api.base}/items/2", "save_to": "two"},
            ]
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_FAIL  # Jaseci: SUCCESS
    assert outcome.result["one"] == {"id": 1, "name": "item 1"}
    assert outcome.result["bad"] == {"status": 404, "message": "Not Found"}
    assert "two" not in outcome.result


def test_ignore_error_goes_on_and_break_stops_the_list(api: ApiServer, tmp_path: Path) -> None:
    outcome, _ = run_sequence(
        {
            "requests": [
                {
                    "method": "GET",
                    "api": f"{api.base}/status/500",
                    "ignore_error": True,
                    "save_to": "e",
                },
                {
                    "method": "GET",
                    "api": f"{api.base}/items/1",
                    "break": [{"by": "$.id", "condition": {"eq": 1}}],
                },
                {"method": "GET", "api": f"{api.base}/items/2", "save_to": "never"},
            ]
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_SUCCESS, outcome.message
    assert outcome.result["e"] == {"status": 500, "message": "Internal Server Error"}
    assert "never" not in outcome.result


def test_a_nested_failure_fails_its_parent_step(api: ApiServer, tmp_path: Path) -> None:
    outcome, _ = run_sequence(
        {
            "requests": [
                {
                    "method": "GET",
                    "api": f"{api.base}/items",
                    "save_to": "parent",
                    "__def_loop__": {
                        "by": "$.data",
                        "requests": [{"method": "GET", "api": f"{api.base}/status/500"}],
                    },
                }
            ]
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_FAIL
    assert outcome.result["parent"] == {"status": 500, "message": "Internal Server Error"}
    assert len(api.seen) == 2  # the list, then the first item only


def test_a_by_that_is_not_a_list_fails_instead_of_looping_over_characters(
    api: ApiServer, tmp_path: Path
) -> None:
    outcome, _ = run_sequence(
        {
            "requests": [
                {
                    "method": "GET",
                    "api": f"{api.base}/text",
                    "__def_loop__": {"by": "$", "requests": [{"method": "GET", "api": "{{@}}"}]},
                }
            ]
        },
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_FAIL
    assert "not a list" in outcome.message


# -- validation at save --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "where"),
    [
        ({"method": "GET", "api": "x", "colour": 1}, "colour"),
        ({"method": "G T", "api": "x"}, "method"),
        ({"method": "JAC", "api": "x"}, "method"),
        ({"method": "GET", "api": "{{%.x}}"}, "api"),
        (
            {"method": "GET", "api": "x", "break": [{"by": "$.a", "condition": {"like": 1}}]},
            "break",
        ),
        (
            {
                "method": "GET",
                "api": "x",
                "__def_loop__": {"by": "$.[", "requests": [{"method": "GET", "api": "y"}]},
            },
            "__def_loop__.by",
        ),
        (
            {
                "method": "GET",
                "api": "x",
                "__def_loop__": {
                    "by": "$.a",
                    "filter": [{"when": 1}],
                    "requests": [{"method": "GET", "api": "y"}],
                },
            },
            "__def_loop__.filter",
        ),
    ],
)
def test_bad_sequences_are_refused_naming_the_place(request_: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SequenceAction.model_validate({"kind": "sequence", "requests": [request_]})
    locs = [".".join(str(p) for p in error["loc"]) for error in caught.value.errors()]
    assert any(loc.startswith(f"requests.0.{where}") for loc in locs), locs


@pytest.mark.parametrize("host", ["169.254.169.254", "example.com"])
def test_a_redirect_is_checked_like_any_request(api: ApiServer, tmp_path: Path, host: str) -> None:
    outcome, _ = run_sequence(
        {"requests": [{"method": "GET", "api": f"{api.base}/redirect/{host}", "save_to": "r"}]},
        tmp_path,
    )
    assert outcome.status is Status.FINISHED_FAIL
    assert "refused" in outcome.result["r"]["worker_error"]
    assert len(api.seen) == 1  # the redirect itself only
