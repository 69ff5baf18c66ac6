"""The action registry: a kind is one module that registers its spec and its runner."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from taskgate.domain.actions import ActionSpec, kind_names, register_spec
from taskgate.domain.errors import InvalidInput
from taskgate.domain.tasks import TaskSpec
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.actions.contract import Resources
from taskgate.engine.actions.qlik import QlikAction
from taskgate.qlik.settings import QlikSettings

# A kind of its own, in a module of its own: what adding `workflow` or `sequence` looks like.
PLUGIN = """
from typing import Literal

from taskgate.domain.actions import ActionSpec
from taskgate.domain.status import Status
from taskgate.engine.actions.contract import ActionOutcome, ActionRunner
from taskgate.engine.actions.registry import register


class EchoAction(ActionSpec):
    kind: Literal["echo"] = "echo"
    text: str


class EchoRunner(ActionRunner[EchoAction]):
    def __init__(self, resources):
        pass

    async def run(self, spec, ctx):
        ctx.log.write(spec.text)
        return ActionOutcome(Status.FINISHED_SUCCESS, message=spec.text, result={"echo": spec.text})


register("echo", EchoAction, EchoRunner)
"""

MAIN = """
import asyncio, json, tempfile
from pathlib import Path

import echo_kind  # registers before any task is read
import taskgate.engine.actions
from taskgate.domain.tasks import Task
from taskgate.engine.actions import ActionCatalog
from taskgate.engine.actions.contract import ActionContext, RunFiles
from taskgate.engine.logcollector import LogCollector

task = Task.model_validate({
    "id": "00000000-0000-4000-8000-000000000001", "name": "e",
    "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z",
    "action": {"kind": "echo", "text": "hello"},
})
log = LogCollector(1024)
ctx = ActionContext(
    execution_id="x", task=task, attempt=1, params={}, log=log,
    files=RunFiles.of(Path(tempfile.mkdtemp()), "x"), abort=asyncio.Event(), timeout=None,
    public_url="http://127.0.0.1:1", issue_token=lambda: "t", kill_grace=1.0,
)
outcome = asyncio.run(ActionCatalog().run(task.action, ctx))
print(json.dumps({"status": outcome.status.value, "result": outcome.result,
                  "dump": task.model_dump(mode="json")["action"]}))
"""


def test_a_new_kind_is_one_module(tmp_path: Path) -> None:
    (tmp_path / "echo_kind.py").write_text(textwrap.dedent(PLUGIN))
    done = subprocess.run(
        [sys.executable, "-c", MAIN],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        '{"status": "finished_success", "result": {"echo": "hello"}, '
        '"dump": {"kind": "echo", "text": "hello"}}'
    )


def test_the_built_in_kinds_are_registered() -> None:
    assert {"command", "http", "qlik"} <= set(kind_names())


def test_an_unknown_kind_names_the_kinds_there_are() -> None:
    with pytest.raises(ValidationError) as caught:
        TaskSpec.model_validate({"name": "x", "action": {"kind": "ftp"}})
    [error] = caught.value.errors()
    assert error["loc"] == ("action",)
    assert "'command', 'http', 'qlik'" in error["msg"]


def test_a_kind_added_after_tasks_were_read_is_refused() -> None:
    TaskSpec.model_validate({"name": "x", "action": {"kind": "command", "argv": ["true"]}})

    class Late(ActionSpec):
        kind: str = "late"

    with pytest.raises(RuntimeError, match="after tasks were validated"):
        register_spec("late", Late)


def test_a_kind_name_is_taken_once() -> None:
    class Other(ActionSpec):
        kind: str = "command"

    with pytest.raises(ValueError, match="registered twice"):
        register_spec("command", Other)


def test_the_catalog_asks_the_kind_whether_a_spec_can_run_here() -> None:
    action = QlikAction.model_validate(
        {"site": "prod", "task_id": "6ca1d6a3-8b27-4d0b-9a0f-0c1e2d3f4a5b"}
    )
    configured = QlikSettings.model_validate({"sites": [{"name": "prod", "host": "qs"}]})
    ActionCatalog(Resources(configured)).check(action)
    with pytest.raises(InvalidInput) as caught:
        ActionCatalog(Resources()).check(action)
    assert caught.value.field == "action.site"
    assert "no Qlik Sense site named 'prod' is configured (qlik.sites: none)" in str(caught.value)


def test_resources_are_found_by_type() -> None:
    settings = QlikSettings()
    resources = Resources(settings)
    assert resources.get(QlikSettings) is settings
    assert resources.get(asyncio.Event) is None
