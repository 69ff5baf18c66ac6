"""The one text rule at the edge: no NUL, no lone surrogate, in any model or the config file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from taskgate.config.loader import load_settings
from taskgate.domain.errors import InvalidInput, TaskgateError
from taskgate.domain.model import Strict
from taskgate.domain.params import validate_params
from taskgate.domain.tasks import ParamSpec, ParamType
from taskgate.domain.text import bad_text_at, error_field, text_problem
from taskgate.doors.mqtt.payloads import parse_start


@pytest.mark.parametrize("text", ["\x00", "a\x00", "\ud800", "x\udfffy"])
def test_nul_and_lone_surrogates_are_refused(text: str) -> None:
    assert text_problem(text) is not None


@pytest.mark.parametrize("text", ["", "plain", "é ü 漢字 🚀", "\u2028", "\ufffd"])
def test_other_text_is_welcome(text: str) -> None:
    assert text_problem(text) is None


def test_the_path_names_the_string_in_a_tree() -> None:
    tree = {"a": [1, {"b": "ok"}, {"c": "x\x00"}]}
    assert bad_text_at(tree, "params") == ("params.a.2.c", text_problem("\x00"))
    assert bad_text_at({"k\x00": 1})[0] == "(key)"  # type: ignore[index]


class Inner(Strict):
    values: dict[str, Any]


class Outer(Strict):
    inner: Inner


def test_a_strict_model_names_the_field_inside_it() -> None:
    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"inner": {"values": {"x": ["\ud800"]}}})
    error = caught.value.errors()[0]
    assert error_field(error["loc"], error["type"], error.get("ctx", {})) == "inner.values.x.0"


def test_a_start_parameter_with_nul_is_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_params([], {"p": "a\x00"})
    assert caught.value.field == "params.p"


def test_an_int_parameter_of_too_many_digits_is_refused() -> None:
    spec = ParamSpec(name="n", type=ParamType.INT)
    with pytest.raises(InvalidInput) as caught:
        validate_params([spec], {"n": "1" * 5000})
    assert caught.value.field == "params.n"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (b"a\x00b", "payload"),
        (b'{"tasks": ["a\\u0000"]}', "tasks.0"),
        (b'{"tasks": ["x"], "params": {"p": "\\ud800"}}', "params.p"),
        (b'{"tasks": ["x"], "p": ' + b"[" * 5000 + b"]" * 5000 + b"}", "payload"),
    ],
)
def test_mqtt_payloads_with_bad_text_are_refused(payload: bytes, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_start(payload)
    assert caught.value.field == field


def test_the_config_file_refuses_a_nul(tmp_path: Path) -> None:
    config = tmp_path / "taskgate.yaml"
    config.write_text(
        'tasks:\n  - name: "bad\\0name"\n    action: {kind: command, argv: ["true"]}\n'
    )
    with pytest.raises((TaskgateError, ValidationError)) as caught:
        load_settings(config)
    assert "NUL" in str(caught.value)
