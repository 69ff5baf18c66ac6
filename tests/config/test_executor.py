"""executor.kind: celery and its settings."""

from __future__ import annotations

import pytest

from taskgate.config import Settings
from taskgate.domain.errors import ConfigError


def test_local_is_the_default_and_needs_nothing() -> None:
    settings = Settings.model_validate({})
    assert settings.executor.kind == "local"
    settings.check_executor()


def test_celery_refuses_sqlite_naming_the_field() -> None:
    settings = Settings.model_validate({"executor": {"kind": "celery"}})
    with pytest.raises(ConfigError) as caught:
        settings.check_executor()
    assert caught.value.field == "database_url"
    assert "PostgreSQL" in caught.value.message


def test_celery_on_postgresql_is_accepted() -> None:
    settings = Settings.model_validate(
        {"executor": {"kind": "celery"}, "database_url": "postgresql://u@db/taskgate"}
    )
    settings.check_executor()


def test_routes_map_to_prefixed_queues() -> None:
    celery = Settings.model_validate(
        {"executor": {"celery": {"routes": {"sap": "sap-host-1"}, "queue_prefix": "tg."}}}
    ).executor.celery
    assert celery.queue(None) == "tg.default"
    assert celery.queue("sap") == "tg.sap-host-1"
    assert celery.queue("other") == "tg.other"


def test_a_bad_route_name_is_refused() -> None:
    with pytest.raises(ValueError, match="default_route"):
        Settings.model_validate({"executor": {"celery": {"default_route": "no spaces"}}})
