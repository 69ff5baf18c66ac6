"""Which namespaces an execution's token may use."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from taskgate.domain.errors import Forbidden
from taskgate.domain.kv import check_scope, token_scope
from taskgate.domain.tasks import TaskSpec


def test_the_scope_of_a_token() -> None:
    assert token_scope(["a", "b", "a"]) == frozenset({"a", "b"})
    assert token_scope([]) == frozenset()
    assert token_scope(["a", "*"]) is None


def test_a_narrowed_caller_uses_its_namespaces_only() -> None:
    check_scope(None, "anything")
    check_scope(frozenset({"mine"}), "mine")
    with pytest.raises(Forbidden) as refused:
        check_scope(frozenset({"mine"}), "yours")
    assert refused.value.field == "namespace"
    with pytest.raises(Forbidden):
        check_scope(frozenset(), "mine")


def test_a_task_names_its_namespaces() -> None:
    action = {"kind": "command", "argv": ["true"]}
    spec = TaskSpec.model_validate(
        {"name": "t", "action": action, "kv_namespaces": ["a", "a", "*"]}
    )
    assert spec.kv_namespaces == ["a", "*"]
    assert TaskSpec.model_validate({"name": "t", "action": action}).kv_namespaces == []
    with pytest.raises(ValidationError, match="kv_namespaces"):
        TaskSpec.model_validate({"name": "t", "action": action, "kv_namespaces": [""]})
