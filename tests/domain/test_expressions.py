"""The expression language: paths, conditions and templates over JSON values."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from taskgate.domain.expressions import (
    MISSING,
    ExpressionError,
    MissingValue,
    parse_condition,
    parse_path,
    parse_template,
    render_deep,
    resolve,
)
from taskgate.domain.expressions.templates import check_deep

DATA: dict[str, Any] = {
    "a": 5,
    "lst": [{"k": "v0"}, {"k": "v1"}],
    "idx": "1",
    "data": [10, 20],
    "n": None,
    "Content-Type": "application/json",
    "urn:uuid:1": "colon",
    "x": {"0": "zero", "a.b": "dotted"},
    "flag": True,
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("a", 5),
        ("lst.1.k", "v1"),
        ("lst[1].k", "v1"),
        ("lst[-1].k", "v1"),
        ("lst.-2.k", "v0"),
        ("lst.(idx).k", "v1"),
        ("Content-Type", "application/json"),
        ("urn:uuid:1", "colon"),
        ("x.0", "zero"),
        ('x["a.b"]', "dotted"),
        ('["a"]', 5),
        ("n", None),
        ("", DATA),
    ],
)
def test_a_path_finds_its_value(path: str, value: Any) -> None:
    assert resolve(parse_path(path), DATA) == value


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("data.5", "data.5: index 5 is out of range (2 items)"),
        ("lst.9.k", "lst.9.k: at lst.9: index 9 is out of range (2 items)"),
        ("a.b", "a.b: a number has no key b"),
        ("lst.k", "lst.k: a list has no key 'k'"),
        ("nope", "nope: no key 'nope'"),
        ("lst.(nope).k", "lst.(nope).k: (nope) finds nothing: no key 'nope'"),
        ("lst.(a).k", "lst.(a).k: at lst[5]: index 5 is out of range (2 items)"),
        ("lst.(flag)", "lst.(flag): (flag) is a boolean, not a key or an index"),
    ],
)
def test_a_path_that_finds_nothing_says_why(path: str, why: str) -> None:
    assert resolve(parse_path(path), DATA) is MISSING
    with pytest.raises(MissingValue) as caught:
        parse_path(path).lookup(DATA)
    assert str(caught.value) == why


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("a..b", "expected a key at character 3"),
        ("a[x]", "expected a number or a quoted key in '[...]' at character 3"),
        ("a.(b", "expected ')' at character 5"),
        ("a b", "expected '.' or '[' at character 2"),
        ('a["b"', "expected ']' at character 6"),
        ("a.()", "empty indirection"),
    ],
)
def test_a_bad_path_names_the_character(path: str, message: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_path(path)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("condition", "ok", "reason"),
    [
        ({"path": "a", "op": ">=", "value": 5}, True, "a is 5, expected ≥ 5"),
        ({"path": "a", "op": "gt", "value": 5}, False, "a is 5, expected > 5"),
        ({"path": "n", "op": "eq", "value": None}, True, "n is null, expected = null"),
        ({"path": "a", "op": "eq", "value": 5.0}, True, "a is 5, expected = 5.0"),
        ({"path": "flag", "op": "eq", "value": 1}, False, "flag is true, expected = 1"),
        ({"path": "idx", "op": "eq", "value": 1}, False, "idx is '1', expected = 1"),
        (
            {"path": "idx", "op": "<", "value": 3},
            False,
            "idx is '1' (a string), not comparable with 3",
        ),
        ({"path": "missing", "op": "ne", "value": 1}, False, "missing is not there"),
        ({"path": "missing", "op": "missing"}, True, "missing is not there"),
        ({"path": "a", "op": "exists"}, True, "a is there"),
        (
            {"path": "data", "op": "contains", "value": 20},
            True,
            "data is [10, 20], expected contains 20",
        ),
        ({"path": "a", "op": "in", "value": [1, 5]}, True, "a is 5, expected in [1, 5]"),
        ({"path": "a", "op": "not_in", "value": [1, 5]}, False, "a is 5, expected not in [1, 5]"),
        (
            {"path": "Content-Type", "op": "matches", "value": "json$"},
            True,
            "Content-Type is 'application/json', expected to match 'json$'",
        ),
        ({"path": "a", "op": "matches", "value": "5"}, False, "a is a number, not text to match"),
        (
            {"all": [{"path": "a", "op": ">", "value": 1}, {"path": "a", "op": "<", "value": 3}]},
            False,
            "a is 5, expected < 3",
        ),
        (
            {
                "any": [
                    {"path": "a", "op": "<", "value": 1},
                    {"path": "n", "op": "eq", "value": None},
                ]
            },
            True,
            "n is null, expected = null",
        ),
        ({"not": {"path": "a", "op": "eq", "value": 5}}, False, "not (a is 5, expected = 5)"),
        ([{"path": "a", "op": "eq", "value": 5}], True, "all hold"),
    ],
)
def test_conditions(condition: Any, ok: bool, reason: str) -> None:
    verdict = parse_condition(condition).evaluate(DATA)
    assert (verdict.ok, verdict.reason) == (ok, reason)


@pytest.mark.parametrize(
    ("condition", "where"),
    [
        ({"path": "a", "op": "~", "value": 1}, "checks.0.op"),
        ({"path": "a..b", "op": "eq", "value": 1}, "checks.0.path"),
        ({"path": "a", "op": "matches", "value": "("}, "checks.0.value"),
        ({"path": "a", "op": "in", "value": 3}, "checks.0.value"),
        ({"path": "a", "op": "eq", "value": 1, "on": "x"}, "checks.0"),
        ({"all": []}, "checks.0.all"),
        ({"any": [{"path": "a", "op": "?"}]}, "checks.0.any.0.op"),
        ("a > 1", "checks.0"),
    ],
)
def test_a_bad_condition_names_its_place(condition: Any, where: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse_condition(condition, where="checks.0")
    assert caught.value.where == where


def test_a_whole_placeholder_keeps_its_type_and_embedded_ones_are_text() -> None:
    scope = {"limit": 10, "user": {"id": 7, "tags": ["a"]}, "none": None, "ok": True}
    assert parse_template("{{limit}}").render(scope) == 10
    assert parse_template("{{ user }}").render(scope) == {"id": 7, "tags": ["a"]}
    assert (
        parse_template("n={{limit}} u={{user}} x={{none}} {{ok}}").render(scope)
        == 'n=10 u={"id":7,"tags":["a"]} x=null true'
    )
    assert parse_template("plain").render(scope) == "plain"
    assert parse_template("").render(scope) == ""


def test_defaults_and_missing_values() -> None:
    assert parse_template("{{ page ?? 1 }}").render({}) == 1
    assert parse_template('name: {{ who ?? "anonymous" }}').render({}) == "name: anonymous"
    with pytest.raises(MissingValue, match="who: no key 'who'"):
        parse_template("{{who}}").render({})
    with pytest.raises(ExpressionError, match="the default after \\?\\? must be a JSON value"):
        parse_template("{{ who ?? anonymous }}")


def test_templates_reach_inside_lists_and_keys() -> None:
    scope = {"id": 3, "name": "k"}
    assert render_deep({"ids": ["{{id}}", "x{{id}}"], "{{name}}": {"n": "{{id}}"}}, scope) == {
        "ids": [3, "x3"],
        "k": {"n": 3},
    }
    with pytest.raises(MissingValue, match=r"in body.items.1"):
        render_deep({"body": {"items": [1, "{{nope}}"]}}, scope)


def test_templates_are_checked_when_saved() -> None:
    check_deep({"a": ["{{ ok.path }}", {"b": "x{{y}}"}]})
    with pytest.raises(ExpressionError) as caught:
        check_deep({"a": ["fine", {"b": "x{{y..z}}"}]}, where="requests.0")
    assert caught.value.where == "requests.0.a.1.b"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=30), data=JSON)
def test_any_text_is_a_path_or_a_clear_error_and_never_breaks_a_lookup(
    text: str, data: Any
) -> None:
    try:
        path = parse_path(text)
    except ExpressionError:
        return
    resolve(path, data)  # a value or MISSING, never an exception


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=40), data=JSON)
def test_any_text_is_a_template_or_a_clear_error(text: str, data: Any) -> None:
    try:
        template = parse_template(text)
    except ExpressionError:
        return
    with contextlib.suppress(MissingValue):  # a clear error naming the path, or a value
        template.render({"d": data})
