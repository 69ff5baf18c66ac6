"""A remote reload task (QRS full form) becomes a local `qlik` task."""

from __future__ import annotations

import uuid

import pytest

from taskgate.doors.qliksync import task_spec
from taskgate.engine.actions.qlik import QlikAction

REMOTE = {
    "id": "6CA1D6A3-8B27-4D0B-9A0F-0C1E2D3F4A5B",
    "name": "Reload of Sales",
    "enabled": False,
    "taskType": 0,
    "app": {"id": "0f1e2d3c-0000-4000-8000-000000000001", "name": "Sales"},
    "tags": [{"id": "t1", "name": "nightly"}, {"id": "t2", "name": "finance"}],
    "customProperties": [
        {"value": "g1", "definition": {"name": "taskGroup"}},
        {"value": "g2", "definition": {"name": "taskGroup"}},
        {"value": "prod", "definition": {"name": "env"}},
    ],
}


def test_fields_are_copied() -> None:
    spec = task_spec("prod", REMOTE)
    assert spec.id == uuid.UUID("6ca1d6a3-8b27-4d0b-9a0f-0c1e2d3f4a5b")
    assert spec.name == "Reload of Sales"
    assert spec.enabled is False
    assert spec.tags == ["nightly", "finance"]
    assert spec.properties == {"taskGroup": ["g1", "g2"], "env": ["prod"]}
    assert spec.action == QlikAction(
        site="prod",
        task_id=spec.id,
        app_id="0f1e2d3c-0000-4000-8000-000000000001",
        app_name="Sales",
    )


def test_a_task_without_app_tags_or_properties() -> None:
    spec = task_spec("prod", {"id": str(uuid.uuid4()), "name": "External program"})
    assert (spec.tags, spec.properties, spec.enabled) == ([], {}, True)
    assert isinstance(spec.action, QlikAction)
    assert spec.action.app_id is None


def test_a_task_without_a_guid_is_unusable() -> None:
    with pytest.raises(ValueError):
        task_spec("prod", {"id": "nope", "name": "x"})
