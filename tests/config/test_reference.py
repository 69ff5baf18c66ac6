"""docs/configuration.md's settings part is the one the settings models give today, and the
environment variables it names are the ones the settings read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from taskgate.config import Settings
from taskgate.config.reference import BEGIN, END, render, replace_generated, sections

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "configuration.md"


def test_the_settings_reference_is_up_to_date() -> None:
    document = DOC.read_text()
    assert BEGIN in document and END in document
    assert replace_generated(document) == document, (
        "docs/configuration.md is out of date: run .venv/bin/python scripts/gen_config_docs.py"
    )


def test_the_script_checks_the_file() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_config_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_section_and_setting_is_listed() -> None:
    text = render()
    for heading in ("server", "server.tls", "retention.executions", "mqtt.tls", "qlik.sites[]"):
        assert f"\n### {heading}\n" in text
    listed = {section.path for section in sections()}
    assert {"top level", "executor", "kv", "butler", "qrs", "scheduler", "webhooks[]"} <= listed
    assert "| `certfile` | path | **required** |" in text
    assert "`TASKGATE_HOST` `TASKGATE_SERVER__HOST`" in text  # the short name first


@pytest.mark.parametrize(
    ("variable", "value", "path", "expected"),
    [
        ("TASKGATE_RETENTION__EXECUTIONS__MAX_COUNT", "5", ("retention", "executions"), 5),
        ("TASKGATE_SERVER__TLS__CLIENT_CA", "ca.pem", ("server", "tls"), None),
        ("TASKGATE_EXECUTOR__SLOTS", "3", ("executor",), 3),
    ],
)
def test_the_variables_it_names_are_read(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str,
    path: tuple[str, ...],
    expected: object,
) -> None:
    assert f"`{variable}`" in render()
    monkeypatch.setenv(variable, value)
    if variable == "TASKGATE_SERVER__TLS__CLIENT_CA":
        # A section that is null by default: its other required fields come from the file.
        settings = Settings(server={"tls": {"certfile": "c.pem", "keyfile": "k.pem"}})
        assert settings.server.tls is not None
        assert str(settings.server.tls.client_ca) == "ca.pem"
        return
    settings = Settings()
    section: object = settings
    for name in path:
        section = getattr(section, name)
    field = variable.rsplit("__", 1)[1].lower()
    assert getattr(section, field) == expected
