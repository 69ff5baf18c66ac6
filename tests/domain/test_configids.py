"""Config-declared things keep their ids: these values are stored in databases already."""

from __future__ import annotations

import uuid

from taskgate.domain.configids import CONFIG_NAMESPACE, config_schedule_id

TASK_ID = "0b7b1c50-6a47-4d63-9a55-6f0b6c1a0001"


def test_a_config_schedule_id_comes_from_its_name_else_its_position() -> None:
    assert config_schedule_id(TASK_ID, "nightly", 0) == "83fbb30d-a254-571a-bf24-95e4c30e05da"
    assert config_schedule_id(TASK_ID, "", 2) == "ff55240a-a44a-5bd3-ab19-6ba30015841b"


def test_config_tasks_and_webhooks_derive_from_one_namespace() -> None:
    assert str(uuid.uuid5(CONFIG_NAMESPACE, "nightly")) == "88fa82af-5376-5d97-8e59-124b1f9a983b"
