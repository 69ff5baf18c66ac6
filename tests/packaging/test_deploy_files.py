"""The deployment files check out as far as this machine can check them: no image registry and
no Windows here, so nothing is built or run as a service. They parse, every path they name
exists, the entrypoint is the console script the wheel installs, and the configuration they
give the server (file plus environment) loads."""

from __future__ import annotations

import configparser
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from taskgate.cli.main import app
from taskgate.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
UNIT = ROOT / "contrib" / "systemd" / "taskgate.service"
WORKER_UNIT = ROOT / "contrib" / "systemd" / "taskgate-worker.service"


def console_scripts() -> dict[str, str]:
    scripts: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "scripts"
    ]
    return scripts


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    found = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in final_stage():
        if word == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


def load_with_env(monkeypatch: pytest.MonkeyPatch, config: Path, env: dict[str, str]) -> Any:
    for name in [n for n in os.environ if n.startswith("TASKGATE_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return load_settings(config)


def test_dockerfile_slim_unprivileged_healthy_and_runs_the_console_script() -> None:
    instructions = dockerfile_instructions()
    assert all(rest.split()[0] == "python:3.11-slim" for w, rest in instructions if w == "FROM")
    stage = dict(final_stage())
    assert stage["USER"] not in ("root", "0")
    assert "/healthz" in stage["HEALTHCHECK"]
    assert json.loads(stage["ENTRYPOINT"]) == ["taskgate"]
    assert "taskgate" in console_scripts()
    assert console_scripts()["taskgate"] == "taskgate.cli.main:app"
    command = json.loads(stage["CMD"])
    assert command[0] in {c.name for c in app.registered_commands}
    volumes = json.loads(stage["VOLUME"])
    env = docker_env()
    assert env["TASKGATE_DATA_DIR"] in volumes
    assert str(Path(env["TASKGATE_CONFIG"]).parent) in volumes


def test_every_file_the_dockerfile_copies_exists() -> None:
    for word, rest in dockerfile_instructions():
        if word == "COPY" and not rest.startswith("--from"):
            *sources, _target = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), source


def test_the_image_config_loads_with_the_image_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    copied = next(
        rest.split()[0]
        for word, rest in dockerfile_instructions()
        if word == "COPY" and rest.split()[-1] == docker_env()["TASKGATE_CONFIG"]
    )
    settings = load_with_env(monkeypatch, ROOT / copied, docker_env())
    assert settings.data_dir == Path("/var/lib/taskgate")
    assert settings.server.host == "0.0.0.0"
    assert settings.auth == "keys"


def test_compose_file(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"taskgate", "postgres", "mosquitto"} <= set(services)
    taskgate = services["taskgate"]
    assert (ROOT / taskgate["build"] / "Dockerfile").is_file()
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).exists(), source
            else:
                assert source in compose["volumes"], source
    config_mount = next(v for v in taskgate["volumes"] if v.split(":")[1].endswith(".yaml"))
    environment = {**docker_env(), **taskgate["environment"]}
    settings = load_with_env(monkeypatch, ROOT / config_mount.split(":")[0], environment)
    assert settings.db_url.startswith("postgresql://")
    assert "@postgres:5432/" in settings.db_url
    assert settings.mqtt.enabled and settings.mqtt.host == "mosquitto"
    assert "postgres" in taskgate["depends_on"]


def test_cluster_compose_file(monkeypatch: pytest.MonkeyPatch) -> None:
    compose = yaml.safe_load((ROOT / "compose.cluster.yaml").read_text())
    services = compose["services"]
    assert {"api1", "api2", "worker1", "worker2", "postgres", "redis"} <= set(services)
    assert services["api1"]["build"]["args"]["EXTRAS"].split(",") >= ["postgres", "mqtt"]
    assert "celery" in services["api1"]["build"]["args"]["EXTRAS"]
    for name in ("worker1", "worker2"):
        assert services[name]["command"][0] == "worker"
    api = services["api1"]
    config_mount = next(v for v in api["volumes"] if v.split(":")[1].endswith(".yaml"))
    environment = {**docker_env(), **api["environment"]}
    settings = load_with_env(monkeypatch, ROOT / config_mount.split(":")[0], environment)
    settings.check_executor()
    assert settings.executor.kind == "celery"
    assert settings.executor.celery.broker_url == "redis://redis:6379/0"
    assert "@postgres:5432/" in settings.db_url


def test_systemd_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(UNIT)
    service = unit["Service"]
    assert service["User"] not in ("root", "0")
    program, *arguments = shlex.split(service["ExecStart"])
    assert Path(program).name in console_scripts()
    assert arguments == ["serve"]
    assert service["StateDirectory"] == "taskgate"
    assert "TASKGATE_DATA_DIR=/var/lib/taskgate" in UNIT.read_text()
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def test_systemd_worker_unit() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(WORKER_UNIT)
    service = unit["Service"]
    assert service["User"] not in ("root", "0")
    program, *arguments = shlex.split(service["ExecStart"])
    assert Path(program).name in console_scripts()
    assert arguments[0] == "worker"
    # The options it passes are the command's own.
    from typer.main import get_command

    # The commands other than serve are loaded when asked for (cli/main.py LazyCommands).
    worker = get_command(app).get_command(None, "worker")  # type: ignore[attr-defined]
    known = {opt for param in worker.params for opt in param.opts}
    assert {a for a in arguments if a.startswith("--")} <= known
    assert service["Restart"] == "always"
    assert "TASKGATE_CONFIG=/etc/taskgate/taskgate.yaml" in WORKER_UNIT.read_text()
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
@pytest.mark.parametrize("path", [UNIT, WORKER_UNIT], ids=lambda p: p.name)
def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path, path: Path) -> None:
    # The unit names /opt/taskgate/venv; verify wants a program that exists: this venv's.
    installed = Path(sys.executable).parent / "taskgate"
    assert installed.exists()
    text = path.read_text().replace("/opt/taskgate/venv/bin/taskgate", str(installed))
    copy = tmp_path / path.name
    copy.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert path.name not in done.stderr, done.stderr


@pytest.mark.parametrize("doc", ["docs/operations.md", "docs/windows.md", "docs/deploy.md"])
def test_every_path_the_docs_name_exists(doc: str) -> None:
    text = (ROOT / doc).read_text()
    # Repository paths in the text, and relative links (relative to the doc's folder).
    named = {
        ROOT / p for p in re.findall(r"\b((?:contrib|scripts|examples|docs)/[\w./-]*\w)", text)
    }
    named |= {
        (ROOT / doc).parent / link
        for link in re.findall(r"\]\(([^)#\s]+)", text)
        if not link.startswith(("http:", "https:", "mailto:"))
    }
    assert named
    for path in named:
        assert path.exists(), f"{doc} names {path.relative_to(ROOT.parent)}, which does not exist"
