"""The Python client has its reference page, and the page names every public method."""

from __future__ import annotations

import inspect
from pathlib import Path

from taskgate.client import TaskgateClient

ROOT = Path(__file__).resolve().parents[2]


def test_docs_client_names_every_public_method() -> None:
    page = (ROOT / "docs" / "client.md").read_text()
    methods = [
        name
        for name, _ in inspect.getmembers(TaskgateClient, inspect.isfunction)
        if not name.startswith("_")
    ]
    assert methods
    missing = [name for name in methods if f"{name}(" not in page and f"`{name}`" not in page]
    assert missing == [], f"docs/client.md does not describe {missing}"


def test_readme_and_cli_docs_point_to_it() -> None:
    assert "docs/client.md" in (ROOT / "README.md").read_text()
    assert "client.md" in (ROOT / "docs" / "cli.md").read_text()
