"""Which admin key a command on the server's machine picks up, and which server it goes to."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from taskgate.cli.localkey import local_admin_key, same_server
from taskgate.datadir import write_admin_key


@pytest.mark.parametrize(
    ("url", "own", "same"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080", True),
        ("http://localhost:8080/", "http://127.0.0.1:8080", True),
        ("http://[::1]:8080", "http://127.0.0.1:8080", True),
        ("http://127.0.0.1:8081", "http://127.0.0.1:8080", False),
        ("https://127.0.0.1:8080", "http://127.0.0.1:8080", False),
        ("http://jobs.example.com:8080", "http://127.0.0.1:8080", False),
        ("https://jobs.example.com", "https://jobs.example.com:443", True),
        ("http://127.0.0.1:99999", "http://127.0.0.1:8080", False),
    ],
)
def test_same_server(url: str, own: str, same: bool) -> None:
    assert same_server(url, own) is same


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("TASKGATE_CONFIG", "TASKGATE_URL", "TASKGATE_TOKEN", "TASKGATE_DATA_DIR"):
        monkeypatch.delenv(variable, raising=False)
    path = tmp_path / "taskgate.yaml"
    path.write_text(yaml.safe_dump({"server": {"port": 8099}, "data_dir": "data"}))
    write_admin_key(tmp_path / "data", "tg_abcdef01_secret")
    return path


def test_the_key_of_the_config_goes_to_its_server_only(
    config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert local_admin_key("http://127.0.0.1:8099", config) == "tg_abcdef01_secret"
    assert local_admin_key("http://127.0.0.1:8080", config) is None
    assert local_admin_key("http://elsewhere.example:8099", config) is None
    monkeypatch.setenv("TASKGATE_CONFIG", str(config))
    monkeypatch.setenv("TASKGATE_URL", "http://localhost:8099")
    assert local_admin_key(None, None) == "tg_abcdef01_secret"
    # Inside a run the token is the credential, never the server's admin key.
    monkeypatch.setenv("TASKGATE_TOKEN", "tgx_x")
    assert local_admin_key(None, None) is None


def test_no_file_no_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TASKGATE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    assert local_admin_key("http://127.0.0.1:8080", None) is None
    broken = tmp_path / "broken.yaml"
    broken.write_text("server: [")
    assert local_admin_key("http://127.0.0.1:8080", broken) is None
