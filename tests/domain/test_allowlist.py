"""The task allow-list rule: what an entry may be, and which tasks a list lets in."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from taskgate.domain.allowlist import allow_entry, allows
from taskgate.domain.errors import InvalidInput
from taskgate.domain.tasks import Task

TASK_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a00c3"


def task(**fields: Any) -> Task:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return Task.model_validate(
        {
            "id": TASK_ID,
            "name": "Nightly load",
            "action": {"kind": "command", "argv": ["true"]},
            "created_at": now,
            "updated_at": now,
            **fields,
        }
    )


def test_entries_are_stored_in_one_form() -> None:
    assert allow_entry(f" {TASK_ID.upper()} ") == TASK_ID
    assert allow_entry("nightly") == "nightly"
    assert allow_entry("tag:night") == "tag:night"
    assert allow_entry("property:group=g1") == "property:group=g1"


@pytest.mark.parametrize("entry", ["", "tag:", "property:group", "property:=g1", "label:x"])
def test_malformed_entries_are_refused(entry: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        allow_entry(entry)
    assert refused.value.field == "allowed_tasks"


def test_no_list_lets_every_task_in() -> None:
    assert allows(None, task())


def test_a_task_is_let_in_by_id_label_tag_or_property() -> None:
    nightly = task(label="nightly", tags=["night"], properties={"group": ["g1", "g2"]})
    assert allows(frozenset({TASK_ID}), nightly)
    assert allows(frozenset({"nightly"}), nightly)
    assert allows(frozenset({"tag:night"}), nightly)
    assert allows(frozenset({"property:group=g2"}), nightly)


def test_a_task_named_by_no_entry_is_kept_out() -> None:
    nightly = task(label="nightly", tags=["night"], properties={"group": ["g1"]})
    assert not allows(frozenset(), nightly)
    assert not allows(frozenset({"Nightly load", "tag:day", "property:group=g3"}), nightly)
    # An entry is never read as another kind: a label is not a tag.
    assert not allows(frozenset({"night"}), nightly)
    assert not allows(frozenset({"tag:nightly"}), nightly)
