"""Servers with the demo config's tasks and Butler door, the way Butler's examples assume."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ServerFactory, ServerProcess

ROOT = Path(__file__).resolve().parents[2]
DEMO = yaml.safe_load((ROOT / "examples" / "demo.yaml").read_text())


def demo_tasks() -> list[dict[str, Any]]:
    """The demo tasks, with their script path made absolute (servers run in a temp dir, and
    a config task's command runs in its config's folder: the script is in examples/)."""
    tasks: list[dict[str, Any]] = copy.deepcopy(DEMO["tasks"])
    for task in tasks:
        argv = task["action"]["argv"]
        argv[1] = str(ROOT / "examples" / argv[1])
    return tasks


def demo_butler(**overrides: Any) -> dict[str, Any]:
    butler: dict[str, Any] = copy.deepcopy(DEMO["butler"])
    butler.update(overrides)
    return butler


def filter_on() -> dict[str, Any]:
    butler = demo_butler()
    butler["start_task_filter"]["enable"] = True
    return butler


@pytest.fixture(scope="module")
def butler_server(_module_servers: ServerFactory) -> ServerProcess:
    """The demo config as shipped: Butler door on, start filter off."""
    return _module_servers({"butler": demo_butler()}, tasks=demo_tasks())


@pytest.fixture(scope="module")
def filtered_server(_module_servers: ServerFactory) -> ServerProcess:
    """The demo config with the start filter switched on."""
    return _module_servers({"butler": filter_on()}, tasks=demo_tasks())
